/**
 * The pod's nftables ruleset builder: its rules and their order for each option set, the option
 * checks (each names the bad option), and the real `nft -c` on every variant (root, as in CI).
 */
import { execFileSync } from 'node:child_process'
import t from 'tap'
import fc from 'fast-check'
import { ConfigError } from '../../core/errors.js'
import { parsePodRulesOptions, podRuleset, SIDECAR_UID, type PodRulesInput } from '../../k8s/init-rules.js'

const base: PodRulesInput = { dnsPort: 15053, httpPort: 15080, tlsPort: 15443, forwardPorts: [5432, 6379], adminPort: 9901 }

/** `nft -c -f -`: the kernel's parser and validator, nothing loaded. */
function nftCheck(ruleset: string): string {
  try {
    execFileSync('nft', ['-c', '-f', '-'], { input: ruleset, stdio: ['pipe', 'pipe', 'pipe'], timeout: 15_000 })
    return 'ok'
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? (e as Error).message)
  }
}

/** The lines of one chain, trimmed. */
function chain(ruleset: string, name: string): string[] {
  const start = ruleset.indexOf(`  chain ${name} {`)
  if (start < 0) return []
  const end = ruleset.indexOf('\n  }', start)
  return ruleset.slice(start, end).split('\n').slice(1).map((l) => l.trim())
}

const VARIANTS: Array<[string, PodRulesInput]> = [
  ['all listeners, two forwards', base],
  ['the container defaults (53, 80, 443, admin 9901)', { dnsPort: 53, httpPort: 80, tlsPort: 443, adminPort: 9901 }],
  ['no transparent http', { ...base, httpPort: null }],
  ['no transparent tls', { ...base, tlsPort: null }],
  ['neither transparent listener, no forwards', { dnsPort: 15053, httpPort: null, tlsPort: null, adminPort: 9901 }],
  ['one forward', { ...base, forwardPorts: [3306] }],
  ['another sidecar uid and more protected ports', { ...base, sidecarUid: 1337, protectedPorts: [9902, 15000] }],
  ['uid 1 as the sidecar', { ...base, sidecarUid: 1 }],
  ['inbound capture and the bypass trap (the injected pod)', { ...base, mcpPort: 8080, ingressPort: 15006, trapPort: 15999 }],
  ['the bypass trap alone', { ...base, trapPort: 15999 }],
]

t.test('every variant passes the real nft -c', async (t) => {
  for (const [name, o] of VARIANTS) t.equal(nftCheck(podRuleset(o)), 'ok', name)
  // The check can fail: a ruleset with a typo is refused.
  t.not(nftCheck(podRuleset(base).replace('redirect to', 'redirekt to')), 'ok', 'control: nft -c refuses a broken ruleset')
})

t.test('nat output: the sidecar returns first; DNS to any IPv4 address, then 80, 443 and forwards are redirected; loopback is left alone', async (t) => {
  const nat = chain(podRuleset(base), 'nat_output')
  t.same(nat, [
    'type nat hook output priority -100; policy accept;',
    `meta skuid ${SIDECAR_UID} return`,
    'meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 redirect to :15053',
    'ip daddr 127.0.0.0/8 return',
    'ip6 daddr ::1 return',
    'meta nfproto ipv4 tcp dport 80 redirect to :15080',
    'meta nfproto ipv4 tcp dport 443 redirect to :15443',
    'meta nfproto ipv4 tcp dport { 5432, 6379 } redirect',
  ])
  const none = chain(podRuleset({ ...base, httpPort: null, tlsPort: null, forwardPorts: [] }), 'nat_output')
  t.notOk(none.some((l) => /dport (80|443|\{)/.test(l)), 'without listeners or forwards, 80, 443 and other ports are not redirected (so they are dropped)')
  t.same(chain(podRuleset({ ...base, forwardPorts: [3306] }), 'nat_output').at(-1), 'meta nfproto ipv4 tcp dport 3306 redirect', 'a single forward')
  const trapped = chain(podRuleset({ ...base, trapPort: 15999 }), 'nat_output')
  t.equal(trapped.at(-1), 'meta l4proto { tcp, udp } redirect to :15999', 'with a trap, every other tcp and udp packet (both families) goes to it, after every listener redirect')
  t.ok(trapped.indexOf('ip6 daddr ::1 return') < trapped.length - 1, 'loopback returns before the trap')
  t.notOk(podRuleset(base).includes('redirect to :15999'), 'without a trap nothing is redirected to one')
})

t.test('inbound capture: tcp from outside the pod to the MCP port goes to the ingress; loopback is not captured', async (t) => {
  t.same(chain(podRuleset({ ...base, mcpPort: 8080, ingressPort: 15006 }), 'nat_prerouting'), [
    'type nat hook prerouting priority -100; policy accept;',
    'iifname != "lo" tcp dport 8080 redirect to :15006',
  ])
  t.notOk(podRuleset(base).includes('nat_prerouting'), 'no capture without an MCP port')
  const out = chain(podRuleset({ ...base, mcpPort: 8080, ingressPort: 15006 }), 'output')
  t.equal(out[2], `tcp sport 15006 meta skuid != ${SIDECAR_UID} counter drop`, 'only the sidecar answers from the ingress port, before replies are accepted')
  t.equal(out[3], 'ct direction reply accept')
  t.throws(() => podRuleset({ ...base, mcpPort: 8080 }), /ingressPort: mcpPort and ingressPort go together/)
  t.throws(() => podRuleset({ ...base, ingressPort: 15006 }), /mcpPort: mcpPort and ingressPort go together/)
  t.throws(() => podRuleset({ ...base, mcpPort: 15006, ingressPort: 15006 }), /ingressPort: the sidecar's ingress cannot share/)
  t.throws(() => podRuleset({ ...base, trapPort: 9901 }), /trapPort: port 9901 is a protected sidecar port/)
  t.throws(() => podRuleset({ ...base, mcpPort: 8080, ingressPort: 9901 }), /ingressPort: port 9901 is a protected sidecar port/)
})

t.test('filter output: policy drop; sidecar, replies, protected ports, redirected, loopback, neighbour discovery, then refuse — in that order', async (t) => {
  const out = chain(podRuleset({ ...base, protectedPorts: [9902] }), 'output')
  t.same(out, [
    'type filter hook output priority 0; policy drop;',
    `meta skuid ${SIDECAR_UID} accept`,
    'ct direction reply accept',
    'tcp dport { 9901, 9902 } jump refuse',
    'ct status dnat accept',
    'ip daddr 127.0.0.0/8 accept',
    'ip6 daddr ::1 accept',
    'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept',
    'jump refuse',
  ])
  t.equal(chain(podRuleset(base), 'output')[3], 'tcp dport 9901 jump refuse', 'the admin port alone')
  t.match(podRuleset({ ...base, sidecarUid: 1337 }), /meta skuid 1337 return[\s\S]*meta skuid 1337 accept/, 'the sidecar uid is configurable')
})

t.test('refuse records tcp and udp per family in counted, bounded, expiring sets, and counts the overflow', async (t) => {
  const rs = podRuleset(base)
  for (const [set, type] of [['bypass4', 'ipv4_addr'], ['bypass6', 'ipv6_addr']] as const) {
    t.match(rs, new RegExp(`set ${set} \\{\\s+type ${type} \\. inet_proto \\. inet_service\\s+size 4096\\s+flags dynamic,timeout\\s+timeout 3600s\\s+counter\\s+\\}`), set)
  }
  const refuse = chain(rs, 'refuse')
  t.equal(refuse.length, 7)
  t.match(refuse[0] ?? '', /^meta nfproto ipv4 meta l4proto tcp update @bypass4 \{ ip daddr \. meta l4proto \. th dport \} counter name "dropped" reject with tcp reset$/)
  t.match(refuse[3] ?? '', /^meta nfproto ipv6 meta l4proto udp update @bypass6 \{ ip6 daddr \. meta l4proto \. th dport \} .* reject with icmpx admin-prohibited$/)
  t.match(refuse[4] ?? '', /counter name "overflow" reject with tcp reset/)
  t.equal(refuse[6], 'counter name "dropped" reject with icmpx admin-prohibited', 'anything else (icmp, sctp…) is refused and counted')
  t.match(rs, /^table inet hangar \{ \}\ndelete table inet hangar\ntable inet hangar \{/, 'replaces an earlier table in one transaction')
})

t.test('bad options are refused, each naming the option', async (t) => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['forward on 80 while 80 is redirected', { ...base, forwardPorts: [80] }, /forwardPorts\[0\]: tcp 80 is already redirected to http/],
    ['forward on 443 even with tls off', { ...base, tlsPort: null, forwardPorts: [443] }, /forwardPorts\[0\]: tcp 443 is already redirected to tls/],
    ['forward on 53', { ...base, forwardPorts: [53] }, /forwardPorts\[0\]: tcp 53 is already redirected to dns/],
    ['a forward twice', { ...base, forwardPorts: [5432, 5432] }, /forwardPorts\[1\]: tcp 5432 is already redirected to forwardPorts\[0\]/],
    ['DNS onto the admin port', { ...base, dnsPort: 9901 }, /dnsPort: port 9901 is a protected sidecar port/],
    ['http onto a protected port', { ...base, protectedPorts: [15080] }, /httpPort: port 15080 is a protected/],
    ['a forward on the admin port', { ...base, forwardPorts: [9901] }, /forwardPorts\[0\]: port 9901 is a protected/],
    ['port 0', { ...base, dnsPort: 0 }, /dnsPort:/],
    ['port 65536', { ...base, adminPort: 65536 }, /adminPort:/],
    ['a fractional port', { ...base, tlsPort: 443.5 }, /tlsPort:/],
    ['a negative uid', { ...base, sidecarUid: -1 }, /sidecarUid:/],
    ['uid 0 (root) as the sidecar', { ...base, sidecarUid: 0 }, /sidecarUid: must not be 0: root processes/],
    ['an unknown key', { ...base, dnsPorts: 53 }, /Unrecognized key.*dnsPorts/],
    ['a missing admin port', { dnsPort: 53, httpPort: 80, tlsPort: 443 }, /adminPort:/],
  ]
  for (const [name, input, msg] of bad) {
    t.throws(() => podRuleset(input as PodRulesInput), msg, name)
    let thrown: unknown
    try { parsePodRulesOptions(input, 'providers.x.sidecar') } catch (e) { thrown = e }
    t.ok(thrown instanceof ConfigError && thrown.message.startsWith('invalid configuration in providers.x.sidecar'), `${name}: a ConfigError naming the source`)
  }
})

t.test('property: for any valid options the ruleset passes nft -c, exempts the uid, redirects each forward and protects each port', async (t) => {
  const opts = fc
    .record({
      sidecarUid: fc.integer({ min: 1, max: 2 ** 31 }),
      dnsPort: fc.integer({ min: 1024, max: 20000 }),
      httpPort: fc.option(fc.integer({ min: 20001, max: 30000 })),
      tlsPort: fc.option(fc.integer({ min: 30001, max: 40000 })),
      forwardPorts: fc.uniqueArray(fc.integer({ min: 40001, max: 50000 }), { maxLength: 5 }),
      adminPort: fc.integer({ min: 50001, max: 60000 }),
      protectedPorts: fc.uniqueArray(fc.integer({ min: 60001, max: 65535 }), { maxLength: 3 }),
    })
  let checked = 0
  fc.assert(
    fc.property(opts, (o) => {
      const rs = podRuleset(o)
      if (nftCheck(rs) !== 'ok') return false
      checked++
      const nat = chain(rs, 'nat_output')
      const out = chain(rs, 'output')
      const forwards = o.forwardPorts.length ? nat.at(-1) ?? '' : ''
      return nat[1] === `meta skuid ${o.sidecarUid} return` && out[1] === `meta skuid ${o.sidecarUid} accept` &&
        o.forwardPorts.every((p) => forwards.includes(String(p))) &&
        [o.adminPort, ...o.protectedPorts].every((p) => out[3]!.includes(String(p))) &&
        nat.some((l) => l.endsWith(`redirect to :${o.dnsPort}`)) &&
        (o.httpPort === null) === !nat.some((l) => l.includes('dport 80 '))
    }),
    { numRuns: 25 },
  )
  t.equal(checked, 25, 'every generated ruleset went through nft -c')
})
