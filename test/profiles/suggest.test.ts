/**
 * `suggestProfile` (profiles/suggest.ts): every rule of the suggestion, the YAML and its evidence
 * comments, determinism, and the "still works" property (profiles/suggest-diff.ts
 * `checkStillWorks`: the real decision functions allow every counted destination, dialled
 * address, tunnel content, connected DNS name and tool) over hand-made and seeded random baselines.
 * Every suggestion is also written to a file and read back with the config loader's `loadProfile`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { getPublicSuffix } from 'tldts'
import { loadProfile } from '../../config/load.js'
import { ERROR_CODES } from '../../core/errors.js'
import { compileHostGlob } from '../../policy/glob.js'
import { SECRET_PATTERN_NAMES } from '../../policy/secret-patterns.js'
import type { Baseline, EgressRecord } from '../../policy/baseline-schema.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import { chooseGlobs, suggestProfile, type SuggestedProfile } from '../../profiles/suggest.js'
import { checkStillWorks } from '../../profiles/suggest-diff.js'
import { digestOf, dnsRecord, egressRecord, makeBaseline, toolRecord } from '../helpers/baseline.js'

// Property runs and restarts take tens of seconds on a loaded 2-core machine; the suite default (120 s) is too close.
t.setTimeout(300_000)

const eg = egressRecord
const dns = dnsRecord
const tool = toolRecord
const DIGEST = digestOf
/** A baseline with one called tool `t` unless `o` says otherwise. */
function baseline(o: Partial<Baseline> = {}): Baseline {
  return makeBaseline({ revision: 10, events: 10, tools: [tool('t')], call_rate: { active_minutes: 1, min: 1, median: 1, p95: 1, max: 1 }, call_minutes: [[29000000, 1]], ...o })
}
type Rule = { host?: string; cidr?: string; port?: number; protocol?: string }
const rules = (s: SuggestedProfile): Rule[] => s.profile.network.egress as Rule[]
const hosts = (s: SuggestedProfile): string[] => rules(s).filter((r) => r.host).map((r) => `${r.host}:${r.port}/${r.protocol}`)

const dir = mkdtempSync(join(tmpdir(), 'hangar-suggest-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
let files = 0

/** The YAML loads with `loadProfile` to the same block, and the suggestion keeps the baseline working. */
function works(t: Test, b: Baseline, s: SuggestedProfile, what = 'the suggestion'): void {
  const file = join(dir, `s${files++}.yaml`)
  writeFileSync(file, s.yaml)
  const loaded = loadProfile(file)
  t.same(capabilitiesSchema.parse(loaded.capabilities), s.profile, `${what}: the YAML loads with loadProfile to the same capabilities`)
  t.same(checkStillWorks(b, s.profile), [], `${what}: still works (every counted destination, address, name and tool is allowed)`)
}

t.test('only what happened counts: blocked and quarantined destinations are a trailing comment, never a rule', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'api.example.com', actions: { allowed: 3 }, count: 3 }),
      eg({ host: 'alerted.example.com', actions: { alerted: 2, blocked: 1 }, count: 3 }),
      eg({ host: 'evil.example.net', protocol: 'tunnel', via: { connect: 4 }, actions: { blocked: 4 }, count: 4 }),
      eg({ ip: '203.0.113.9', port: 22, protocol: 'tunnel', via: { connect: 1 }, actions: { quarantined: 1 }, count: 1 }),
    ],
  })
  const s = suggestProfile(b)
  t.same(hosts(s), ['alerted.example.com:443/https', 'api.example.com:443/https'], 'allowed and alerted destinations only')
  t.notOk(s.yaml.match(/^\s*- .*evil\.example\.net/m), 'no rule for the blocked destination')
  t.match(s.yaml, /# Seen but denied, not included:\n#\s+203\.0\.113\.9:22 tunnel: 1 quarantined, .*\n#\s+evil\.example\.net:443 tunnel: 4 blocked, /, 'listed in the trailing comment with their counts')
  works(t, b, s)
})

t.test('exact host rules keep the observed port and protocol, port always written', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'api.example.com', port: 8443, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 } }),
      eg({ host: 'web.example.com', port: 8080, protocol: 'http', via: { http_proxy: 1 } }),
      eg({ host: 'db.example.com', port: 5432, protocol: 'tcp', via: { tcp_forward: 1 } }),
      eg({ host: 'www.example.org', port: 80, protocol: 'http', via: { transparent_http: 1 } }),
      eg({ host: 'www.example.org', port: 443, protocol: 'https', via: { transparent_tls: 1 } }),
    ],
  })
  const s = suggestProfile(b)
  t.same(rules(s), [
    { host: 'api.example.com', port: 8443, protocol: 'https' },
    { host: 'db.example.com', port: 5432, protocol: 'tcp' },
    { host: 'web.example.com', port: 8080, protocol: 'http' },
    { host: 'www.example.org', port: 80, protocol: 'http' },
    { host: 'www.example.org', port: 443, protocol: 'https' },
  ])
  t.ok(rules(s).every((r) => typeof r.port === 'number'), 'every rule names its port')
  t.match(s.yaml, /- \{ host: db\.example\.com, port: 5432, protocol: tcp \}/, 'written in flow style like the built-ins')
  works(t, b, s)
})

t.test('CONNECT tunnels: the protocol follows what they carried', async (t) => {
  const tun = (host: string, port: number, content?: Record<string, number>) => eg({ host, port, protocol: 'tunnel', via: { connect: 1 }, ...(content && { content }) })
  const b = baseline({
    egress: [
      tun('tls.example.com', 443, { tls: 2 }),
      tun('http.example.com', 8080, { http: 1 }),
      tun('other.example.com', 5432, { other: 1 }),
      tun('mixed.example.com', 8443, { tls: 1, http: 1 }),
      tun('mixed-other.example.com', 9000, { tls: 1, other: 1 }),
      tun('none443.example.com', 443),
      tun('none.example.com', 6379),
      tun('none80.example.com', 80),
    ],
  })
  const s = suggestProfile(b)
  const by = Object.fromEntries(rules(s).map((r) => [r.host, `${r.port}/${r.protocol}`]))
  t.same(by, {
    'tls.example.com': '443/https',
    'http.example.com': '8080/http',
    'other.example.com': '5432/tcp',
    'mixed.example.com': '8443/any',
    'mixed-other.example.com': '9000/tcp',
    'none443.example.com': '443/https',
    'none.example.com': '6379/tcp',
    'none80.example.com': '80/any',
  }, 'tls → https, http → http, any other → tcp, tls+http → any, none → https on 443 else tcp (any on a sidecar port)')
  t.match(s.yaml, /# CONNECT tunnels carried both TLS and plain HTTP: any\n\s+- \{ host: mixed\.example\.com/, 'the reason is a comment')
  t.match(s.yaml, /protocol any, not tcp: port 80 is one of the sidecar's own listener ports/, 'why none80 is not a tcp forward')
  works(t, b, s)
})

t.test('a CONNECT destination that also needs another protocol on its port gets one rule that serves both', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'api.example.com', port: 443, protocol: 'https', via: { transparent_tls: 2 } }),
      eg({ host: 'api.example.com', port: 443, protocol: 'tunnel', via: { connect: 1 }, content: { http: 1 } }),
      eg({ host: 'svc.example.com', port: 7000, protocol: 'tcp', via: { tcp_forward: 1 } }),
      eg({ host: 'svc.example.com', port: 7000, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 } }),
    ],
  })
  const s = suggestProfile(b)
  t.same(rules(s), [{ host: 'api.example.com', port: 443, protocol: 'any' }, { host: 'svc.example.com', port: 7000, protocol: 'tcp' }])
  t.match(s.yaml, /need https and http: one any rule \(a tunnel uses the first rule matching its host and port\)/)
  works(t, b, s)
})

t.test('tcp forwards: one host per port; a CONNECT-only tcp need sharing a port becomes any', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'db1.example.com', port: 5432, protocol: 'tcp', via: { tcp_forward: 1 } }),
      eg({ host: 'db2.example.com', port: 5432, protocol: 'tunnel', via: { connect: 1 }, content: { other: 1 } }),
      eg({ host: 'r1.example.com', port: 6379, protocol: 'tunnel', via: { connect: 1 }, content: { other: 1 } }),
      eg({ host: 'r2.example.com', port: 6379, protocol: 'tunnel', via: { connect: 1 }, content: { other: 1 } }),
    ],
  })
  const s = suggestProfile(b)
  t.same(hosts(s), ['db1.example.com:5432/tcp', 'db2.example.com:5432/any', 'r1.example.com:6379/any', 'r2.example.com:6379/any'])
  t.match(s.yaml, /protocol any, not tcp: 2 hosts use port 6379 and a tcp forward listens for one host per port/)
  works(t, b, s)
})

t.test('globs: 2 subdomains stay exact, 3 become one *. rule; the threshold is an option', async (t) => {
  const sub = (names: string[]) => baseline({ egress: names.map((h) => eg({ host: h })) })
  const two = suggestProfile(sub(['a.example.com', 'b.example.com']))
  t.same(hosts(two), ['a.example.com:443/https', 'b.example.com:443/https'], '2 hosts → exact')
  const b3 = sub(['a.example.com', 'b.example.com', 'c.example.com'])
  const three = suggestProfile(b3)
  t.same(hosts(three), ['*.example.com:443/https'], '3 hosts → *.example.com')
  t.match(three.yaml, /# 3 subdomains of example\.com: a\.example\.com \(1\), b\.example\.com \(1\), c\.example\.com \(1\)\n/, 'the glob names its hosts')
  works(t, b3, three)
  t.same(hosts(suggestProfile(sub(['a.example.com', 'b.example.com']), { globThreshold: 2 })), ['*.example.com:443/https'], 'globThreshold 2')
  t.same(hosts(suggestProfile(b3, { globThreshold: 4 })).length, 3, 'globThreshold 4: exact')
  for (const bad of [1, 0, 2.5, -3, Number.NaN]) {
    t.throws(() => suggestProfile(b3, { globThreshold: bad }), { code: ERROR_CODES.USAGE }, `globThreshold ${bad} is refused`)
  }
})

t.test('globs: the deepest common parent; hosts it leaves are grouped again or stay exact; the apex stays exact', async (t) => {
  const sub = (names: string[]) => baseline({ egress: names.map((h) => eg({ host: h })) })
  t.same(hosts(suggestProfile(sub(['a.cdn.x.com', 'b.cdn.x.com', 'c.cdn.x.com']))), ['*.cdn.x.com:443/https'], 'a/b/c.cdn.x.com → *.cdn.x.com')
  t.same(hosts(suggestProfile(sub(['a.cdn.x.com', 'api.x.com', 'www.x.com']))), ['*.x.com:443/https'], 'a.cdn.x.com, api.x.com, www.x.com → *.x.com')
  t.same(hosts(suggestProfile(sub(['a.docs.x.com', 'b.docs.x.com', 'c.docs.x.com', 'web.x.com']))), ['web.x.com:443/https', '*.docs.x.com:443/https'], 'the deeper group, and the rest exact')
  t.same(hosts(suggestProfile(sub(['a.docs.x.com', 'b.docs.x.com', 'c.docs.x.com', 'web.x.com', 'api.x.com', 'www.x.com']))), ['*.x.com:443/https'], 'a later shallower glob absorbs the deeper one')
  const apex = sub(['x.com', 'a.x.com', 'b.x.com', 'c.x.com'])
  const s = suggestProfile(apex)
  t.same(hosts(s), ['x.com:443/https', '*.x.com:443/https'], 'the apex keeps its exact rule next to the glob')
  works(t, apex, s)
  t.same(hosts(suggestProfile(sub(['a.x.com', 'b.x.com', 'c.y.x.com', 'c.z.com']))), ['c.z.com:443/https', '*.x.com:443/https'], 'other domains are not mixed in')
})

t.test('globs: only hosts with the same port and protocol are grouped; tcp rules never', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'a.x.com' }), eg({ host: 'b.x.com' }), eg({ host: 'c.x.com', port: 8443, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 } }),
      eg({ host: 'd.x.com', port: 80, protocol: 'http', via: { transparent_http: 1 } }),
      eg({ host: 'db1.y.com', port: 5001, protocol: 'tcp', via: { tcp_forward: 1 } }),
      eg({ host: 'db2.y.com', port: 5002, protocol: 'tcp', via: { tcp_forward: 1 } }),
      eg({ host: 'db3.y.com', port: 5003, protocol: 'tcp', via: { tcp_forward: 1 } }),
    ],
  })
  const s = suggestProfile(b, { globThreshold: 2 })
  t.same(hosts(s), ['c.x.com:8443/https', 'd.x.com:80/http', 'db1.y.com:5001/tcp', 'db2.y.com:5002/tcp', 'db3.y.com:5003/tcp', '*.x.com:443/https'])
  const tcp = baseline({ egress: ['a', 'b', 'c'].map((h) => eg({ host: `${h}.y.com`, port: 5432, protocol: 'tcp', via: { tcp_forward: 1 } })) })
  t.ok(hosts(suggestProfile(tcp)).every((h) => !h.startsWith('*')), 'a tcp forward needs an exact host: three on one port are not globbed')
})

t.test('public suffixes are never globbed: ICANN (co.uk, com.au), private (github.io), bare TLDs', async (t) => {
  const cases: Array<[string[], string[]]> = [
    [['a.co.uk', 'b.co.uk', 'c.co.uk'], ['a.co.uk', 'b.co.uk', 'c.co.uk']],
    [['a.x.co.uk', 'b.x.co.uk', 'c.x.co.uk'], ['*.x.co.uk']],
    [['a.com.au', 'b.com.au', 'c.com.au'], ['a.com.au', 'b.com.au', 'c.com.au']],
    [['a.github.io', 'b.github.io', 'c.github.io'], ['a.github.io', 'b.github.io', 'c.github.io']],
    [['x.me.github.io', 'y.me.github.io', 'z.me.github.io'], ['*.me.github.io']],
    [['a.s3.amazonaws.com', 'b.s3.amazonaws.com', 'c.s3.amazonaws.com'], ['a.s3.amazonaws.com', 'b.s3.amazonaws.com', 'c.s3.amazonaws.com']],
    [['a.b.test', 'c.b.test', 'd.b.test'], ['*.b.test']],
    [['a.test', 'b.test', 'c.test'], ['a.test', 'b.test', 'c.test']],
    [['a.com', 'b.com', 'c.com'], ['a.com', 'b.com', 'c.com']],
    [['db', 'cache', 'queue'], ['cache', 'db', 'queue']],
  ]
  for (const [names, want] of cases) {
    const s = suggestProfile(baseline({ egress: names.map((h) => eg({ host: h })) }))
    t.same(rules(s).map((r) => r.host), want, `${names.join(', ')} → ${want.join(', ')}`)
    for (const r of rules(s)) {
      if (!r.host?.startsWith('*.')) continue
      const parent = r.host.slice(2)
      t.not(getPublicSuffix(parent, { allowPrivateDomains: true }), parent, `${r.host} is not over a public suffix`)
    }
  }
  const valid = (p: string) => getPublicSuffix(p, { allowPrivateDomains: true }) !== p
  t.same(chooseGlobs('x.co.uk', ['a.x.co.uk', 'b.x.co.uk', 'c.x.co.uk'], 3, (p) => p !== 'x.co.uk' && valid(p)), { globs: [], exact: ['a.x.co.uk', 'b.x.co.uk', 'c.x.co.uk'] }, 'a parent refused by the check stays exact')
})

t.test('IDN hosts: normalised to punycode, grouped by their registrable domain, shown in Unicode in comments', async (t) => {
  const b = baseline({
    egress: [eg({ host: 'a.xn--mnchen-3ya.de' }), eg({ host: 'b.xn--mnchen-3ya.de' }), eg({ host: 'c.xn--mnchen-3ya.de' }), eg({ host: 'bücher.example' }), eg({ host: 'xn--bcher-kva.example', port: 8443, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 } })],
    dns: [dns('a.xn--mnchen-3ya.de'), dns('xn--bcher-kva.example')],
  })
  const s = suggestProfile(b)
  t.same(hosts(s), ['xn--bcher-kva.example:443/https', 'xn--bcher-kva.example:8443/https', '*.xn--mnchen-3ya.de:443/https'])
  t.match(s.yaml, '3 subdomains of xn--mnchen-3ya.de (münchen.de)')
  t.match(s.yaml, 'xn--bcher-kva.example (bücher.example): ')
  works(t, b, s)
})

t.test('IP literals: cidr /32 and /128 with the observed port and protocol', async (t) => {
  const b = baseline({
    egress: [
      eg({ ip: '93.184.216.34', port: 443, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 }, addresses: [{ ip: '93.184.216.34', class: 'global' }] }),
      eg({ ip: '2606:4700:4700::1111', port: 443, protocol: 'https', via: { transparent_tls: 1 } }),
      eg({ ip: '2001:DB8:0:0::7', port: 8080, protocol: 'tunnel', via: { connect: 1 }, content: { http: 1 } }),
      eg({ ip: '10.20.30.40', port: 5432, protocol: 'tunnel', via: { connect: 1 }, content: { other: 1 } }),
    ],
  })
  const s = suggestProfile(b)
  t.same(rules(s), [
    { cidr: '10.20.30.40/32', port: 5432, protocol: 'tcp' },
    { cidr: '93.184.216.34/32', port: 443, protocol: 'https' },
    { cidr: '2001:db8::7/128', port: 8080, protocol: 'http' },
    { cidr: '2606:4700:4700::1111/128', port: 443, protocol: 'https' },
  ], 'IPv4 then IPv6, by address; IPv6 in canonical form')
  t.equal(s.profile.network.dns_allowed, false, 'no host name and no DNS query: DNS is refused')
  t.match(s.yaml, /# 10\.20\.30\.40: 1 connection via connect, .*tunnels carried other 1\n\s+# CONNECT tunnels carried neither TLS nor HTTP: tcp\n\s+- \{ cidr: 10\.20\.30\.40\/32, port: 5432, protocol: tcp \}/)
  works(t, b, s)
})

t.test('a host dialled at an address outside the public internet also gets a cidr rule for it', async (t) => {
  const b = baseline({
    egress: [
      eg({ host: 'db.internal', port: 5432, protocol: 'tcp', via: { tcp_forward: 2 }, addresses: [{ ip: '10.1.2.3', class: 'private' }] }),
      eg({ host: 'api.corp.example', port: 443, protocol: 'tunnel', via: { connect: 1 }, content: { tls: 1 }, addresses: [{ ip: '93.184.216.34', class: 'global' }, { ip: '100.64.1.1', class: 'cgnat' }, { ip: 'fd00::5', class: 'private' }] }),
      eg({ host: 'bench.example', port: 80, protocol: 'http', via: { transparent_http: 1 }, addresses: [{ ip: '198.18.0.7', class: 'benchmarking' }] }),
    ],
  })
  const s = suggestProfile(b)
  t.same(rules(s), [
    { host: 'api.corp.example', port: 443, protocol: 'https' },
    { host: 'bench.example', port: 80, protocol: 'http' },
    { host: 'db.internal', port: 5432, protocol: 'tcp' },
    { cidr: '10.1.2.3/32', port: 5432, protocol: 'tcp' },
    { cidr: '100.64.1.1/32', port: 443, protocol: 'https' },
    { cidr: '198.18.0.7/32', port: 80, protocol: 'http' },
    { cidr: 'fd00::5/128', port: 443, protocol: 'https' },
  ], 'one cidr per non-global address, same port and protocol; none for the global address')
  t.match(s.yaml, '# db.internal resolved to 10.1.2.3 (private): a host rule alone is refused after resolution')
  t.match(s.yaml, '# api.corp.example resolved to 100.64.1.1 (cgnat): a host rule alone is refused after resolution')
  t.equal(s.profile.network.loopback_allowed, false)
  works(t, b, s)
  const hostOnly = { ...s.profile, network: { ...s.profile.network, egress: s.profile.network.egress.filter((r) => !r.cidr) } }
  t.same(checkStillWorks(b, hostOnly).map((f) => f.what).sort(), ['api.corp.example:443 tunnel/tls', 'bench.example:80 http', 'db.internal:5432 tcp'], 'without them the host rules are refused after resolution')
})

t.test('loopback: loopback_allowed only when a host was dialled at a loopback address', async (t) => {
  const b = baseline({ egress: [eg({ host: 'svc.localtest.me', port: 8080, protocol: 'http', via: { http_proxy: 1 }, addresses: [{ ip: '127.0.0.1', class: 'loopback' }] })] })
  const s = suggestProfile(b)
  t.equal(s.profile.network.loopback_allowed, true)
  t.same(rules(s), [{ host: 'svc.localtest.me', port: 8080, protocol: 'http' }], 'no cidr rule for it: loopback_allowed covers it')
  t.match(s.yaml, /# svc\.localtest\.me resolved to 127\.0\.0\.1 \(loopback\): loopback is always denied otherwise\n\s+loopback_allowed: true/)
  t.match(s.notes, [/loopback_allowed: true because svc\.localtest\.me resolved to 127\.0\.0\.1/])
  works(t, b, s)
  const ip = baseline({ egress: [eg({ ip: '127.0.0.1', port: 9000, protocol: 'tunnel', via: { connect: 1 }, content: { http: 1 }, addresses: [{ ip: '127.0.0.1', class: 'loopback' }] })] })
  const s2 = suggestProfile(ip)
  t.equal(s2.profile.network.loopback_allowed, false, 'an IP-literal loopback destination is covered by its cidr rule')
  t.same(rules(s2), [{ cidr: '127.0.0.1/32', port: 9000, protocol: 'http' }])
  works(t, ip, s2)
})

t.test('DNS: allowed with host names or queries; names queried but never connected to are comments and notes', async (t) => {
  const b = baseline({
    egress: [eg({ host: 'api.example.com' })],
    dns: [dns('api.example.com', { count: 4, actions: { alerted: 4 } }), dns('telemetry.example.net', { count: 2, actions: { allowed: 2 } }), dns('blocked.example.org', { actions: { blocked: 1 } })],
  })
  const s = suggestProfile(b)
  t.equal(s.profile.network.dns_allowed, true)
  t.same(hosts(s), ['api.example.com:443/https'], 'a name never connected to adds no rule')
  t.match(s.yaml, /# DNS names queried, never connected to \(not included: block mode denies them, NXDOMAIN by default\):\n#\s+telemetry\.example\.net: 2 queries \(no egress rule names telemetry\.example\.net\)/)
  t.match(s.yaml, /# DNS names seen but denied, not included:\n#\s+blocked\.example\.org: 1 query denied/)
  t.match(s.notes, [/1 DNS name was queried but never connected to: block mode denies it \(dns_denied; answered NXDOMAIN by default\): telemetry\.example\.net$/])
  works(t, b, s)
  t.equal(suggestProfile(baseline({ dns: [dns('only.example.com')] })).profile.network.dns_allowed, true, 'a DNS record alone allows DNS')
  t.equal(suggestProfile(baseline({})).profile.network.dns_allowed, false, 'nothing: DNS refused')
})

t.test('a host a glob would break gets its own rule (the DNS tunnelling heuristic under a wildcard)', async (t) => {
  const hex = 'a3f9c2e1b7d4a3f9c2e1b7d4a3f9c2e1.x.com'
  const b = baseline({
    egress: [eg({ host: hex }), eg({ host: 'api.x.com' }), eg({ host: 'www.x.com' }), eg({ host: 'cdn.x.com' })],
    dns: [dns(hex), dns('api.x.com')],
  })
  const s = suggestProfile(b)
  t.same(hosts(s), [`${hex}:443/https`, '*.x.com:443/https'], 'the hex-named host is taken out of the glob')
  t.same(s.notes, [], 'nothing left broken')
  works(t, b, s)
})

t.test('tools: expected_tools lists every listed tool, allow_list every called one, pins single definitions', async (t) => {
  const b = baseline({
    tools: [
      tool('search', { listed: 3, calls: 5, errors: 1, argument_keys: ['limit', 'query'], digests: [DIGEST('1')] }),
      tool('delete_all', { listed: 3, calls: 0, digests: [DIGEST('2')] }),
      tool('drifty', { listed: 3, calls: 2, digests: [DIGEST('3'), DIGEST('4'), DIGEST('5')] }),
      tool('hidden', { listed: 0, calls: 1, digests: [] }),
      tool('star*tool', { listed: 1, calls: 1, digests: [DIGEST('6')] }),
      tool('what?', { listed: 1, calls: 1, digests: [DIGEST('7')] }),
      tool('env${HOME}', { listed: 1, calls: 1, digests: [DIGEST('8')] }),
    ],
  })
  const s = suggestProfile(b)
  const tl = s.profile.tools
  t.same(tl.expected_tools, ['delete_all', 'drifty', 'env${HOME}', 'search', 'star*tool', 'what?'], 'every listed tool, sorted')
  t.same(tl.allow_list, ['drifty', 'env${HOME}', 'hidden', 'search'], 'called tools only; glob characters left out')
  t.same(tl.deny_list, [])
  t.same(tl.pins, { delete_all: DIGEST('2'), 'env${HOME}': DIGEST('8'), search: DIGEST('1'), 'star*tool': DIGEST('6'), 'what?': DIGEST('7') }, 'drifted tool not pinned')
  t.equal(tl.schema_drift_alert, true)
  t.match(s.yaml, /# listed 3×, never called, .*; never called: not in allow_list\n\s+- delete_all/)
  t.match(s.yaml, /# listed 3×, called 5× \(1 failed, 0 refused\), .*, arguments: limit, query\n\s+- search/)
  t.match(s.yaml, /# listed 3×, called 2× .*; 3 definitions seen: not pinned\n\s+- drifty/)
  t.match(s.yaml, /# not pinned \(definitions changed while recording, drift\): drifty \(3 definitions\)\n\s+pins:/)
  t.match(s.yaml, 'env$${HOME}', '${ is written as the loader\'s literal $${')
  t.match(s.notes.join('\n'), /tool "star\*tool" was called but its name holds a glob character/)
  t.match(s.notes.join('\n'), /tool "what\?" was called but its name holds a glob character/)
  t.match(s.notes.join('\n'), /tool "hidden" was called but never listed/)
  t.match(s.notes.join('\n'), /not pinned, their definitions changed while recording: drifty/)
  t.notOk(s.notes.some((n) => n.startsWith('still denied')), 'a tool left out on purpose is not reported again')
  works(t, { ...b, tools: b.tools.filter((x) => !/[*?]/.test(x.name)) }, s, 'without the glob-named tools')
})

t.test('tools: none called → every tool denied (an empty allow_list would allow all)', async (t) => {
  const b = baseline({ tools: [tool('a', { calls: 0 }), tool('b', { calls: 0 })] })
  const s = suggestProfile(b)
  t.same(s.profile.tools.allow_list, [])
  t.same(s.profile.tools.deny_list, ['*'])
  t.same(s.profile.tools.expected_tools, ['a', 'b'])
  t.match(s.yaml, /# no tool was called while recording: every tool is denied \(an empty allow_list would allow all\)\n\s+deny_list:/)
  works(t, b, s)
  const none = suggestProfile(baseline({ tools: [] }))
  t.same(none.profile.tools.expected_tools, [])
  t.match(none.notes.join('\n'), 'no tool was listed or called while recording')
})

t.test('block mode, every secret pattern, default payload limit', async (t) => {
  const s = suggestProfile(baseline({}))
  t.equal(s.profile.enforcement_mode, 'block')
  t.same(s.profile.arguments, { secret_patterns: [...SECRET_PATTERN_NAMES], max_payload_bytes: 262144 })
})

t.test('YAML: a header with the baseline, and every rule with its evidence', async (t) => {
  const b = baseline({
    provider: 'fetch', events: 1234, revision: 1240, enforcement_mode: 'alert',
    egress: [eg({ host: 'docs.example.com', port: 80, protocol: 'http', via: { transparent_http: 14 }, actions: { allowed: 12, alerted: 2 }, count: 14, bytes_up: 3277, bytes_down: 122880, addresses: [{ ip: '93.184.216.34', class: 'global' }] })],
    call_rate: { active_minutes: 12, min: 1, median: 2, p95: 5, max: 9 },
  })
  const s = suggestProfile(b)
  t.match(s.yaml, /^# Suggested by `mcp-hangar profile suggest` from the baseline of provider "fetch"\.\n# Baseline: 2026-11-22T10:00:01Z … 10:04:55Z, 1234 events \(revision 1240\), recorded in alert mode\.\n# Dropped: none/)
  t.match(s.yaml, '# Call rate: calls/minute over 12 active minutes: min 1, median 2, p95 5, max 9 (a hint for a rate limit; this profile sets none).')
  t.match(s.yaml, '# docs.example.com: 14 requests via transparent_http, 2026-11-22T10:00:01Z … 10:04:55Z, 3.2 KiB up / 120 KiB down, 12 allowed, 2 alerted, dialled 93.184.216.34\n      - { host: docs.example.com, port: 80, protocol: http }')
  t.match(s.yaml, /^description: suggested from the baseline of fetch, /m)
  t.same(s.notes, [])
  const lines = s.yaml.split('\n')
  lines.forEach((l, i) => {
    if (/^\s+- \{ (host|cidr):/.test(l)) t.match(lines[i - 1], /^\s+# /, `rule on line ${i + 1} has a comment`)
  })
})

t.test('YAML header: an incomplete baseline and a block-mode recording are called out', async (t) => {
  const s = suggestProfile(baseline({ enforcement_mode: 'block', dropped: { destinations: 3, dns_names: 0, tools: 1 } }))
  t.match(s.yaml, '# WARNING: the baseline is incomplete: 3 destination, 0 DNS name and 1 tool events did not fit its limits.')
  t.match(s.yaml, '# Recorded in block mode: what the profile of that time denied never happened and is not here.')
  t.match(s.notes[0], /^the baseline is incomplete: 3 destination, 0 DNS name and 1 tool events/)
})

t.test('records that cannot be a rule are skipped with a note', async (t) => {
  const b = baseline({ egress: [eg({ host: 'bad_host!.example' }), eg({ host: 'zero.example.com', port: 0 }), eg({ host: 'ok.example.com' })] })
  const s = suggestProfile(b)
  t.same(hosts(s), ['ok.example.com:443/https'])
  t.match(s.notes.join('\n'), /bad_host!\.example:443: .*not allowed in a host name; not included/)
  t.match(s.notes.join('\n'), 'zero.example.com:0: port 0 is not a destination port; not included')
})

t.test('deterministic: the same baseline in any order gives the same YAML', async (t) => {
  const b = randomBaseline(mulberry32(7))
  const a = suggestProfile(b)
  for (let i = 0; i < 5; i++) {
    const r = mulberry32(100 + i)
    const shuffled = { ...b, egress: shuffle(b.egress, r), dns: shuffle(b.dns, r), tools: shuffle(b.tools, r) }
    t.equal(suggestProfile(shuffled).yaml, a.yaml, `shuffle ${i}`)
  }
})

t.test('the e2e workload (test/e2e/baseline-learn.test.ts): three subdomains, a tunnel port, an opaque protocol, an IP literal', async (t) => {
  const SITE = [{ ip: '198.18.79.10', class: 'benchmarking' }]
  const al = { actions: { alerted: 1 } }
  const b = baseline({
    provider: 'fetch',
    egress: [
      ...['a', 'b', 'c'].map((h) => eg({ host: `${h}.docs.learn.test`, port: 80, protocol: 'http', via: { transparent_http: 1 }, addresses: SITE, ...al })),
      eg({ host: 'api.learn.test', port: 8080, protocol: 'tunnel', via: { connect: 1 }, content: { http: 1 }, addresses: SITE, ...al }),
      eg({ host: 'db.learn.test', port: 5432, protocol: 'tunnel', via: { connect: 1 }, content: { other: 1 }, addresses: SITE, ...al }),
      eg({ ip: '198.18.79.20', port: 80, protocol: 'tunnel', via: { connect: 1 }, content: { http: 1 }, addresses: [{ ip: '198.18.79.20', class: 'benchmarking' }], ...al }),
      eg({ host: 'web.learn.test', port: 80, protocol: 'http', via: { http_proxy: 1 }, addresses: SITE, ...al }),
    ],
    dns: ['a', 'b', 'c'].map((h) => dns(`${h}.docs.learn.test`, { actions: { alerted: 1 } })),
    tools: [tool('fetch_txt', { listed: 2, calls: 3 }), tool('fetch_html', { listed: 2, calls: 0, digests: [DIGEST('b')] })],
  })
  const s = suggestProfile(b)
  t.same(rules(s), [
    { host: 'api.learn.test', port: 8080, protocol: 'http' },
    { host: 'db.learn.test', port: 5432, protocol: 'tcp' },
    { host: 'web.learn.test', port: 80, protocol: 'http' },
    { host: '*.docs.learn.test', port: 80, protocol: 'http' },
    { cidr: '198.18.79.10/32', port: 80, protocol: 'http' },
    { cidr: '198.18.79.10/32', port: 5432, protocol: 'tcp' },
    { cidr: '198.18.79.10/32', port: 8080, protocol: 'http' },
    { cidr: '198.18.79.20/32', port: 80, protocol: 'http' },
  ])
  t.same(s.profile.tools.allow_list, ['fetch_txt'])
  t.same(s.profile.tools.expected_tools, ['fetch_html', 'fetch_txt'])
  t.match(s.yaml, /# .*\d+ .*(request|connection|attempt)/i)
  t.same(s.notes, [])
  works(t, b, s)
})

// ---- property: random baselines -----------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!
}
function shuffle<T>(xs: readonly T[], r: () => number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

const DOMAINS = ['example.com', 'x.co.uk', 'me.github.io', 'b.test', 'xn--mnchen-3ya.de', 'corp.internal', 'learn.test', 'github.io', 'co.uk', 'com']
const LABELS = ['a', 'b', 'c', 'api', 'www', 'cdn', 'a.cdn', 'b.cdn', 'c.cdn', 'eu.api', 'us.api', 'a3f9c2e1b7d4a3f9c2e1b7d4a3f9c2e1', '']
const PORTS = [80, 443, 443, 8080, 8443, 5432, 22, 6379]
const ADDRESSES = [
  ['93.184.216.34', 'global'], ['140.82.112.3', 'global'], ['10.1.2.3', 'private'], ['192.168.7.7', 'private'], ['100.64.1.1', 'cgnat'],
  ['198.18.0.7', 'benchmarking'], ['127.0.0.1', 'loopback'], ['2606:4700:4700::1111', 'global'], ['fd00::5', 'private'], ['169.254.169.254', 'metadata'],
] as const
const CONTENTS: Array<Record<string, number> | undefined> = [undefined, { tls: 2 }, { http: 1 }, { other: 1 }, { tls: 1, http: 1 }, { tls: 1, other: 2 }, {}]
const ACTIONS: Array<Record<string, number>> = [{ allowed: 2 }, { alerted: 1 }, { allowed: 1, blocked: 1 }, { blocked: 3 }, { quarantined: 1 }]

function randomBaseline(r: () => number): Baseline {
  const egress = new Map<string, EgressRecord>()
  const names = new Set<string>()
  const n = 1 + Math.floor(r() * 25)
  const domains = shuffle(DOMAINS, r).slice(0, 1 + Math.floor(r() * 3))
  for (let i = 0; i < n; i++) {
    const ipOnly = r() < 0.15
    const label = pick(r, LABELS)
    const domain = pick(r, domains)
    const host = label ? `${label}.${domain}` : domain
    const protocol = pick(r, ['http', 'https', 'https', 'https', 'tunnel', 'tunnel', 'tcp'] as const)
    const port = protocol === 'http' ? pick(r, [80, 8080]) : protocol === 'https' ? 443 : pick(r, PORTS)
    const via: Record<string, number> = { [{ http: 'transparent_http', https: 'transparent_tls', tunnel: 'connect', tcp: 'tcp_forward' }[protocol]]: 1 }
    const addresses = shuffle(ADDRESSES, r).slice(0, Math.floor(r() * 3)).map(([ip, cls]) => ({ ip, class: cls }))
    const content = protocol === 'tunnel' ? pick(r, CONTENTS) : undefined
    const where = ipOnly ? { ip: addresses[0]?.ip ?? '93.184.216.34' } : { host }
    const rec = eg({ ...where, port, protocol, via, actions: pick(r, ACTIONS), ...(content && { content }), addresses: ipOnly ? [] : addresses, count: 1 + Math.floor(r() * 9) })
    egress.set(`${where.ip ?? where.host}|${port}|${protocol}`, rec)
    if (!ipOnly && protocol !== 'tunnel' && r() < 0.8) names.add(host)
  }
  for (let i = 0; i < 3; i++) if (r() < 0.3) names.add(`${pick(r, ['telemetry', 'updates'])}.${pick(r, DOMAINS)}`)
  const tools = ['read', 'write', 'search', 'list*', 'delete'].filter(() => r() < 0.6).map((name) => {
    const calls = r() < 0.6 ? 1 + Math.floor(r() * 5) : 0
    return tool(name, { listed: r() < 0.9 ? 2 : 0, calls, digests: r() < 0.2 ? [DIGEST('c'), DIGEST('d')] : [DIGEST('e')] })
  })
  return baseline({
    egress: [...egress.values()],
    dns: [...names].map((name) => dns(name, { actions: pick(r, ACTIONS) })),
    tools,
  })
}

t.test('property: random baselines give loadable profiles that still work, never glob a public suffix, same output twice', async (t) => {
  const N = 150
  let globs = 0
  let passed = 0
  let cidrs = 0
  for (let seed = 1; seed <= N; seed++) {
    const b = randomBaseline(mulberry32(seed))
    const s = suggestProfile(b)
    const file = join(dir, `prop-${seed}.yaml`)
    writeFileSync(file, s.yaml)
    const loaded = capabilitiesSchema.parse(loadProfile(file).capabilities)
    const ok = JSON.stringify(loaded) === JSON.stringify(s.profile)
    const testable = { ...b, tools: b.tools.filter((x) => !x.name.includes('*')) }
    const broken = checkStillWorks(testable, s.profile)
    const bad = rules(s).filter((x) => x.host?.startsWith('*.') && (getPublicSuffix(x.host.slice(2), { allowPrivateDomains: true }) === x.host.slice(2) || compileHostGlob(x.host).source !== x.host))
    const again = suggestProfile(b).yaml === s.yaml
    globs += rules(s).filter((x) => x.host?.startsWith('*.')).length
    cidrs += rules(s).filter((x) => x.cidr).length
    if (!ok || broken.length || bad.length || !again) {
      t.fail(`seed ${seed}`, { loadsTheSame: ok, broken, badGlobs: bad, deterministic: again })
      break
    }
    passed++
  }
  t.equal(passed, N, `${N} random baselines: each loads with loadProfile, still works, globs no public suffix, is deterministic`)
  t.ok(globs > 20 && cidrs > 50, `the generator exercises globs (${globs}) and cidr rules (${cidrs})`)
})
