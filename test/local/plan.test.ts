/**
 * The pure parts of `mcp-hangar up`: subnet and name planning, both nftables rulesets (checked by
 * the real `nft -c` when root), the proxy environment, the drop-set parser and the signals made
 * from its growth, and the effective config.
 */
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { hangarConfigSchema } from '../../config/schema.js'
import { bypassSignals } from '../../local/bypass-monitor.js'
import { effectiveConfig } from '../../local/effective-config.js'
import { parseBypassSet } from '../../local/netns.js'
import { hostRuleset, namespaceRuleset, pickSubnet, planKey, planNetns, proxyEnv } from '../../local/plan.js'

const canCheck = process.getuid?.() === 0 && (() => { try { execFileSync('nft', ['--version'], { stdio: 'ignore' }); return true } catch { return false } })()

t.test('subnets: aligned /30s in 10.254.0.0/16, never .0.0, taken ones skipped, stable per key', async (t) => {
  const a = pickSubnet('00000000', new Set())
  t.same(a, { network: '10.254.0.4', hostIp: '10.254.0.5', nsIp: '10.254.0.6' }, 'block 0 maps to the first /30 after 10.254.0.0')
  t.same(pickSubnet('00000000', new Set(['10.254.0.4'])).network, '10.254.0.8', 'a taken /30 is skipped')
  const key = planKey('/etc/hangar.yaml', 'fetch')
  t.equal(key, planKey('/etc/hangar.yaml', 'fetch'), 'stable')
  t.not(key, planKey('/etc/hangar.yaml', 'github'), 'distinct per provider')
  for (let i = 0; i < 200; i++) {
    const s = pickSubnet(planKey('/c', `p${i}`), new Set())
    const last = Number(s.network.split('.')[3])
    t.equal(last % 4, 0)
    t.not(s.network, '10.254.0.0')
  }
  const full = new Set<string>()
  for (let b = 1; b <= 16383; b++) full.add(`10.254.${(b * 4) >> 8}.${(b * 4) & 255}`)
  t.throws(() => pickSubnet('12345678', full), /no free \/30/)
})

t.test('names fit IFNAMSIZ; the rulesets admit only the sidecar ports', async (t) => {
  const plan = planNetns({ provider: 'db', key: 'abcdef01', taken: new Set(), tcpPorts: [5432, 5432, 6379] })
  t.ok(plan.vethHost.length <= 15 && plan.vethNs.length <= 15)
  t.same(plan.tcpPorts, [5432, 6379], 'deduplicated, sorted')
  t.equal(plan.steering, plan.hostIp)
  const ns = namespaceRuleset(plan)
  t.match(ns, `ip daddr ${plan.hostIp} udp dport 53 accept`)
  t.match(ns, `ip daddr ${plan.hostIp} tcp dport { 53, 80, 443, 3128, 5432, 6379 } accept`)
  t.match(ns, 'policy drop;')
  t.notMatch(ns, 'dnat', 'no steering chain when steering is the veth address')
  const host = hostRuleset(plan)
  t.match(host, `iifname "${plan.vethHost}" ip daddr ${plan.hostIp} tcp dport { 53, 80, 443, 3128, 5432, 6379 } accept`)
  t.match(host, `iifname "${plan.vethHost}" counter name "dropped" drop`)
  t.match(host, 'hook forward')
  const steered = planNetns({ provider: 'fetch', key: 'abcdef02', taken: new Set(), steering: '11.254.0.1' })
  t.match(namespaceRuleset(steered), `ip daddr 11.254.0.1 dnat ip to ${steered.hostIp}`)
  if (!canCheck) return t.comment('nft -c not run: needs root and nftables')
  for (const text of [ns, host, namespaceRuleset(steered)]) {
    t.doesNotThrow(() => execFileSync('nft', ['-c', '-f', '-'], { input: text, stdio: ['pipe', 'ignore', 'pipe'] }), 'nft -c accepts it')
  }
})

t.test('proxy environment', async (t) => {
  t.match(proxyEnv('10.254.0.5:3128'), { HTTP_PROXY: 'http://10.254.0.5:3128', https_proxy: 'http://10.254.0.5:3128', NODE_USE_ENV_PROXY: '1', NO_PROXY: 'localhost,127.0.0.1,::1' })
})

t.test('the drop set: parsed from nft JSON; one signal per destination that grew', async (t) => {
  const json = JSON.stringify({ nftables: [{ metainfo: {} }, { set: { family: 'inet', name: 'bypass4', elem: [
    { elem: { val: { concat: ['198.18.0.9', 'tcp', 80] }, timeout: 3600, expires: 3500, counter: { packets: 3, bytes: 180 } } },
    { elem: { val: { concat: ['8.8.8.8', 'udp', 53] }, counter: { packets: 1, bytes: 60 } } },
    { elem: { val: { concat: ['1.2.3.4', 'icmp', 0] }, counter: { packets: 1, bytes: 60 } } },
  ] } }] })
  const entries = parseBypassSet(json)
  t.same(entries, [
    { ip: '198.18.0.9', protocol: 'tcp', port: 80, packets: 3, bytes: 180 },
    { ip: '8.8.8.8', protocol: 'udp', port: 53, packets: 1, bytes: 60 },
  ])
  t.same(parseBypassSet(JSON.stringify({ nftables: [{ set: { name: 'bypass4' } }] })), [], 'an empty set')
  const first = bypassSignals(new Map(), entries, 'namespace', 'block')
  t.equal(first.signals.length, 2)
  t.match(first.signals[0], { type: 'egress_bypass_attempt', kind: 'violation', action: 'blocked', destination: { ip: '198.18.0.9', port: 80, protocol: 'tcp' }, rule: 'netns-egress-drop', details: { packets: 3, where: 'namespace' } })
  const same = bypassSignals(first.seen, entries, 'namespace', 'block')
  t.equal(same.signals.length, 0, 'no growth, no signal')
  const grown = bypassSignals(first.seen, [{ ...entries[0]!, packets: 5 }], 'host', 'alert')
  t.match(grown.signals, [{ details: { packets: 2, where: 'host' }, rule: 'netns-host-drop', enforcement_mode: 'alert', action: 'blocked' }], 'the kernel blocked it whatever the mode')
  const reset = bypassSignals(grown.seen, [{ ...entries[0]!, packets: 1 }], 'namespace', 'block')
  t.match(reset.signals, [{ details: { packets: 1 } }], 'an element that timed out and came back counts from 0')
})

t.test('effective config: netns and cooperative providers, defaults split, profile dropped', async (t) => {
  const config = hangarConfigSchema.parse({
    providers: {
      a: { command: ['x'], capabilities: {} },
      b: { command: ['y'], listen: '127.0.0.1:9000', sidecar: { data_dir: '/var/b', address: '11.254.0.1' } },
      r: { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' },
    },
  })
  const plan = planNetns({ provider: 'a', key: '00000001', taken: new Set() })
  const eff = effectiveConfig(config, new Map([
    ['a', { plan, adminPort: 4001, defaultListen: '127.0.0.1:8101' }],
    ['b', { adminPort: 4002, proxyPort: 5001, dnsPort: 5002, defaultListen: '127.0.0.1:8102' }],
    ['r', { adminPort: 4003, defaultListen: '127.0.0.1:8103' }],
  ]), '/work') as { aggregator: Record<string, unknown>; providers: Record<string, { listen: string; sidecar: Record<string, unknown> }> }
  t.match(eff.aggregator, { listen: '127.0.0.1:8000', url: 'http://127.0.0.1:8000', data_dir: '/work/data/aggregator' })
  t.match(eff.providers.a, { listen: '127.0.0.1:8101', sidecar: { proxy: `${plan.hostIp}:3128`, dns: `${plan.hostIp}:53`, transparent_tls: `${plan.hostIp}:443`, address: plan.hostIp, admin: '127.0.0.1:4001', data_dir: '/work/data/a' } })
  t.match(eff.providers.b, { listen: '127.0.0.1:9000', sidecar: { proxy: '127.0.0.1:5001', transparent_http: null, address: '127.0.0.1', data_dir: '/var/b' } })
  t.match(eff.providers.r, { sidecar: { admin: '127.0.0.1:4003' } })
  t.notOk('profile' in eff.providers.a!)
  // What up writes loads again.
  t.doesNotThrow(() => hangarConfigSchema.parse(eff))
})
