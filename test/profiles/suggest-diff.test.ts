/**
 * `diffProfile` (profiles/suggest-diff.ts): rules allowed but never used, and recorded acts a
 * profile would deny — decided by the real egress, DNS and tool decision functions — plus the
 * "still works" check `profile suggest` runs on its own suggestion.
 */
import t from 'tap'
import { loadProfile } from '../../config/load.js'
import { suggestProfile } from '../../profiles/suggest.js'
import { checkStillWorks, diffProfile, isCounted } from '../../profiles/suggest-diff.js'
import { digestOf, dnsRecord, egressRecord, makeBaseline, toolRecord } from '../helpers/baseline.js'

const eg = egressRecord
const dns = dnsRecord
const tool = toolRecord
const DIGEST = digestOf
const baseline = makeBaseline

t.test('isCounted: allowed or alerted on a real port', async (t) => {
  t.equal(isCounted(eg({ host: 'a.example', actions: { allowed: 1 } })), true)
  t.equal(isCounted(eg({ host: 'a.example', actions: { alerted: 1, blocked: 2 } })), true)
  t.equal(isCounted(eg({ host: 'a.example', actions: { blocked: 2, quarantined: 1 } })), false)
  t.equal(isCounted(eg({ host: 'a.example', port: 0 })), false)
})

t.test('unused: egress rules no counted destination was allowed by, cidr rules no dialled address needed', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'api.example.com', count: 3, actions: { allowed: 3 } }),
      eg({ host: 'db.internal', port: 5432, protocol: 'tcp', via: { tcp_forward: 1 }, addresses: [{ ip: '10.1.2.3', class: 'private' }] }),
      eg({ host: 'never.example.com', actions: { blocked: 5 } }),
    ],
  })
  const d = diffProfile(b, {
    network: {
      egress: [
        { host: 'api.example.com' },
        { host: '*.example.org', port: 8443 },
        { host: 'db.internal', port: 5432, protocol: 'tcp' },
        { cidr: '10.1.2.3/32', port: 5432, protocol: 'tcp' },
        { cidr: '10.9.0.0/16' },
        { host: 'never.example.com' },
      ],
    },
  })
  t.same(d.unused, [
    { rule: 'egress[1]', text: '*.example.org port 8443 https' },
    { rule: 'egress[4]', text: 'cidr 10.9.0.0/16 port any any' },
    { rule: 'egress[5]', text: 'never.example.com port 443 https' },
  ], 'the companion cidr rule counts as used; a rule only blocked attempts matched does not')
  t.same(d.wouldDeny, [])
})

t.test('unused: allow_list entries no called tool matched, expected_tools never listed', async (t) => {
  const b = baseline({ tools: [tool('fetch_txt', { calls: 2 }), tool('fetch_html', { calls: 0 })] })
  const d = diffProfile(b, { tools: { allow_list: ['fetch_*', 'other_*', 'fetch_txt'], expected_tools: ['fetch_txt', 'fetch_html', 'fetch_json'] } })
  t.same(d.unused, [
    { rule: 'tools.allow_list[1]', text: 'other_*' },
    { rule: 'tools.allow_list[2]', text: 'fetch_txt' },
    { rule: 'tools.expected_tools[2]', text: 'fetch_json' },
  ], 'the first matching glob is the one used; a listed-only tool uses no allow entry')
  t.same(diffProfile(b, {}).unused, [], 'an empty allow list and undeclared expected_tools: nothing to be unused')
})

t.test('wouldDeny: destinations, ports, tunnel content and dialled addresses, with the reason and the count', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'other.example.com', count: 4, actions: { allowed: 3, blocked: 1 } }),
      eg({ host: 'api.example.com', port: 8443, protocol: 'tunnel', via: { connect: 2 }, content: { tls: 2 }, actions: { alerted: 2 }, count: 2 }),
      eg({ host: 'web.example.com', port: 443, protocol: 'tunnel', via: { connect: 1 }, content: { http: 1 } }),
      eg({ host: 'db.internal', port: 5432, protocol: 'tcp', via: { tcp_forward: 1 }, addresses: [{ ip: '10.1.2.3', class: 'private' }] }),
      eg({ ip: '203.0.113.5', port: 22, protocol: 'tunnel', via: { connect: 1 } }),
      eg({ host: 'ok.example.com' }),
    ],
  })
  const d = diffProfile(b, {
    network: { egress: [{ host: 'api.example.com' }, { host: 'web.example.com' }, { host: 'db.internal', port: 5432, protocol: 'tcp' }, { host: 'ok.example.com' }] },
  })
  t.same(d.wouldDeny, [
    { what: '203.0.113.5:22 tunnel', reason: '203.0.113.5 is a documentation range and no cidr rule names it', count: 1 },
    { what: 'api.example.com:8443 tunnel/tls', reason: 'port 8443 is not allowed for api.example.com (egress[0] allows port 443)', count: 2 },
    { what: 'db.internal:5432 tcp', reason: 'db.internal was dialled at 10.1.2.3 (a private range), which no cidr rule names: refused after resolution', count: 1 },
    { what: 'other.example.com:443 https', reason: 'no egress rule allows other.example.com', count: 3 },
    { what: 'web.example.com:443 tunnel/http', reason: 'plain HTTP inside a tunnel to web.example.com, but egress[1] allows https only', count: 1 },
  ], 'sorted by destination; only the allowed and alerted attempts are counted')
  t.same(d.unused, [{ rule: 'egress[0]', text: 'api.example.com port 443 https' }], 'a rule that only came near (another port) was not used')
})

t.test('wouldDeny: DNS names decideDnsName denies, called tools decideTool denies, undeclared and drifted tools', async (t) => {
  const b = baseline({
    egress: [eg({ host: 'api.example.com' })],
    dns: [dns('api.example.com'), dns('telemetry.example.net', { count: 3, actions: { alerted: 3 } }), dns('blocked.example.org', { actions: { blocked: 2 } })],
    tools: [
      tool('read', { calls: 4 }),
      tool('write', { calls: 2 }),
      tool('new_tool', { listed: 5, calls: 0 }),
      tool('pinned', { listed: 2, calls: 0, digests: [DIGEST('1'), DIGEST('2')] }),
    ],
  })
  const d = diffProfile(b, {
    network: { egress: [{ host: 'api.example.com' }] },
    tools: { allow_list: ['read', 'pinned'], deny_list: ['write'], expected_tools: ['read', 'write', 'pinned'], pins: { pinned: DIGEST('1') } },
  })
  t.same(d.wouldDeny, [
    { what: 'dns telemetry.example.net', reason: 'no egress rule names telemetry.example.net', count: 3 },
    { what: 'tool write', reason: 'tool "write" matches deny glob "write" (tools.deny_list[0])', count: 2 },
    { what: 'tool new_tool (listed)', reason: 'tool "new_tool" is not in tools.expected_tools: undeclared_tool, hidden until approved', count: 5 },
    { what: 'tool pinned (listed)', reason: `tool "pinned" was last listed with definition ${DIGEST('2').slice(0, 19)}…, not its pin ${DIGEST('1').slice(0, 19)}… in tools.pins: schema drift`, count: 2 },
  ], 'the blocked DNS name is not there: it never worked')
  t.same(diffProfile(b, { network: { dns_allowed: false, egress: [{ host: 'api.example.com' }] } }).wouldDeny.filter((w) => w.what.startsWith('dns')).map((w) => w.reason), [
    'DNS is not allowed for this provider (network.dns_allowed: false)',
    'DNS is not allowed for this provider (network.dns_allowed: false)',
  ], 'dns_allowed: false denies every name that was answered')
})

t.test('a suggestion diffed against its own baseline: nothing unused, only names never connected to would be denied', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'a.example.com' }), eg({ host: 'b.example.com' }), eg({ host: 'c.example.com' }),
      eg({ host: 'db.internal', port: 5432, protocol: 'tunnel', via: { connect: 1 }, content: { other: 1 }, addresses: [{ ip: '10.1.2.3', class: 'private' }] }),
      eg({ ip: '2606:4700:4700::1111', port: 853, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 } }),
    ],
    dns: [dns('a.example.com'), dns('metrics.example.net')],
    tools: [tool('read', { calls: 3 }), tool('write', { calls: 0 })],
  })
  const s = suggestProfile(b)
  const d = diffProfile(b, s.profile)
  t.same(d.unused, [])
  t.same(d.wouldDeny, [{ what: 'dns metrics.example.net', reason: 'no egress rule names metrics.example.net', count: 1 }])
  t.same(checkStillWorks(b, s.profile), [], 'and the still-works check leaves that name out')
})

t.test('a built-in profile against a baseline (the profile loader output is accepted as written)', async (t) => {
  const b = baseline({
    egress: [eg({ host: 'en.wikipedia.org' }), eg({ host: 'docs.python.org' })],
    tools: [tool('fetch_markdown', { calls: 2 }), tool('fetch_youtube_transcript', { calls: 1 })],
  })
  const d = diffProfile(b, loadProfile('fetch').capabilities)
  t.same(d.wouldDeny.map((w) => w.what), ['docs.python.org:443 https', 'tool fetch_youtube_transcript'])
  t.ok(d.unused.some((u) => u.rule === 'egress[0]' && u.text === 'example.com port 443 https'), 'rules of the profile nothing used')
  t.notOk(d.unused.some((u) => u.text === '.wikipedia.org port 443 https'), 'the rule en.wikipedia.org used is not unused')
})
