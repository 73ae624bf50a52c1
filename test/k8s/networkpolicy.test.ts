// k8s/networkpolicy.ts: every rule kind, both families, the aggregator by Service and by IP,
// ingress, errors with config paths; every output validated against the API schema
// (kubernetes-models) and against the API server's ipBlock rule (each `except` strictly inside its
// `cidr`); the FQDN peers admit exactly the addresses the sidecar calls global; and a fast-check
// property over generated configs: the policy always validates and never admits a port, range or
// peer the config does not name.
import t from 'tap'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { keepingConfigModules, parseConfig } from '../../config/load.js'
import { ConfigError } from '../../core/errors.js'
import { ALWAYS_DENIED_RANGES, classifyAddress } from '../../policy/address-class.js'
import { compileCidr } from '../../policy/cidr.js'
import { parseIpLiteral } from '../../policy/ip.js'
import { K8S_PORTS } from '../../k8s/inject.js'
import { AGGREGATOR_POD_LABELS, CLUSTER_DNS_PEER, fqdnPeers, networkPolicyFor, type NetworkPolicyObject, type NetworkPolicyOptions, type NetworkPolicyPeer, type NetworkPolicyPort } from '../../k8s/networkpolicy.js'
import { thrown } from '../helpers/thrown.js'

type Obj = Record<string, unknown>

const AGG = 'http://mcp-hangar-aggregator.mcp-hangar.svc:8000'

/** A config with one provider `p` (remote on loopback) built from `provider` and `top` over defaults. */
function config(provider: Obj = {}, top: Obj = {}) {
  return parseConfig(stringify({ aggregator: { url: AGG }, ...top, providers: { p: { mode: 'remote', endpoint: 'http://127.0.0.1:8080/mcp', ...provider } } }), 'test.yaml').config
}
const egressOf = (rules: Obj[], extra: Obj = {}) => config({ capabilities: { network: { egress: rules } }, ...extra })

/** The policy, with the notes it gave; validated with kubernetes-models and the ipBlock rule. */
function policy(cfg: ReturnType<typeof config>, opts: NetworkPolicyOptions = {}): { np: NetworkPolicyObject; notes: string[] } {
  const notes: string[] = []
  const np = networkPolicyFor(cfg, 'p', { onNote: (n) => notes.push(n), ...opts })
  new NetworkPolicy(np as unknown as ConstructorParameters<typeof NetworkPolicy>[0]).validate()
  for (const r of [...np.spec.egress.flatMap((e) => e.to), ...np.spec.ingress.flatMap((i) => i.from)]) ipBlockValid(r)
  return { np, notes }
}

/** The API server's ipBlock validation: a canonical CIDR, each `except` a strict subset of it. */
function ipBlockValid(peer: NetworkPolicyPeer): void {
  if (!peer.ipBlock) return
  const outer = compileCidr(peer.ipBlock.cidr)
  if (outer.source !== peer.ipBlock.cidr) throw new Error(`${peer.ipBlock.cidr} is not canonical`)
  for (const e of peer.ipBlock.except ?? []) {
    const [addr, bits] = e.split('/') as [string, string]
    const ip = parseIpLiteral(addr)!
    if (!(ip.family === outer.family && outer.contains(ip) && Number(bits) > Number(peer.ipBlock.cidr.split('/')[1]))) throw new Error(`${e} is not a strict subset of ${peer.ipBlock.cidr}`)
  }
}

/** The egress rules whose peers are exactly one ipBlock of `cidr`. */
const blockRules = (np: NetworkPolicyObject, cidr: string) => np.spec.egress.filter((e) => e.to.length === 1 && e.to[0]!.ipBlock?.cidr === cidr)
const isFqdn = (e: { to: NetworkPolicyPeer[] }) => e.to.some((p) => p.ipBlock?.cidr === '0.0.0.0/0')

t.test('the skeleton: selector, policy types, name, namespace, cluster DNS', async (t) => {
  const { np, notes } = policy(egressOf([]), { namespace: 'prod' })
  t.equal(np.apiVersion, 'networking.k8s.io/v1')
  t.equal(np.kind, 'NetworkPolicy')
  t.strictSame(np.metadata, { name: 'mcp-hangar-p', namespace: 'prod', labels: { 'app.kubernetes.io/managed-by': 'mcp-hangar', 'mcp.hangar.io/provider': 'p' } })
  t.strictSame(np.spec.podSelector, { matchLabels: { 'mcp.hangar.io/provider': 'p' } })
  t.strictSame(np.spec.policyTypes, ['Ingress', 'Egress'])
  t.strictSame(np.spec.egress[0], { to: [CLUSTER_DNS_PEER], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }, 'cluster DNS, udp and tcp 53')
  t.notOk(np.spec.egress.some(isFqdn), 'no host rule: no FQDN peers')
  t.equal(np.spec.egress.length, 2, 'DNS and the aggregator, nothing else')
  t.strictSame(np.spec.ingress, [], 'no ingress_from: no ingress at all')
  t.match(notes.join('\n'), /k8s\.ingress_from names no peer: the policy admits no ingress at all/)
  const sel = policy(egressOf([]), { podLabels: { app: 'fetch', tier: 'mcp' } }).np
  t.strictSame(sel.spec.podSelector, { matchLabels: { app: 'fetch', tier: 'mcp' } }, 'the option selects other labels')
  t.notOk('namespace' in sel.metadata, 'no namespace unless given')
  const under = networkPolicyFor(parseConfig(stringify({ providers: { My_Prov: { mode: 'remote', endpoint: 'http://127.0.0.1:1/' } } })).config, 'My_Prov')
  t.equal(under.metadata.name, 'mcp-hangar-my-prov', 'the object name is a DNS name even when the provider name is not')
  t.strictSame(under.spec.podSelector.matchLabels, { 'mcp.hangar.io/provider': 'My_Prov' }, 'the label value keeps the provider name')
})

t.test('cidr rules: an ipBlock each on its port, both families, no except; mapped ranges are IPv4', async (t) => {
  const { np } = policy(egressOf([
    { cidr: '10.20.0.0/16', port: 5432, protocol: 'tcp' },
    { cidr: 'fd00:1::/32', port: 8443, protocol: 'https' },
    { cidr: '192.168.7.0/24' },
    { cidr: '::ffff:172.16.0.0/108', port: 443 },
    { host: '198.51.100.7', port: 8080, protocol: 'http' },
    { host: '2001:db8::7', port: 9000, protocol: 'tcp' },
  ]))
  t.strictSame(blockRules(np, '10.20.0.0/16'), [{ to: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ protocol: 'TCP', port: 5432 }] }])
  t.strictSame(blockRules(np, 'fd00:1::/32'), [{ to: [{ ipBlock: { cidr: 'fd00:1::/32' } }], ports: [{ protocol: 'TCP', port: 8443 }] }], 'IPv6 range, an https rule is TCP')
  t.strictSame(blockRules(np, '192.168.7.0/24'), [{ to: [{ ipBlock: { cidr: '192.168.7.0/24' } }], ports: [{ protocol: 'TCP' }] }], 'a cidr rule without port (protocol any, port 0): every TCP port, never UDP')
  t.strictSame(blockRules(np, '172.16.0.0/12'), [{ to: [{ ipBlock: { cidr: '172.16.0.0/12' } }], ports: [{ protocol: 'TCP', port: 443 }] }], 'the IPv4 range a mapped IPv6 range names')
  t.equal(blockRules(np, '::ffff:172.16.0.0/108').length, 0, 'the mapped form itself is not written (the sidecar never dials it)')
  t.strictSame(blockRules(np, '198.51.100.7/32'), [{ to: [{ ipBlock: { cidr: '198.51.100.7/32' } }], ports: [{ protocol: 'TCP', port: 8080 }] }], 'a host rule naming an IPv4 literal is a /32')
  t.strictSame(blockRules(np, '2001:db8::7/128'), [{ to: [{ ipBlock: { cidr: '2001:db8::7/128' } }], ports: [{ protocol: 'TCP', port: 9000 }] }], 'an IPv6 literal a /128')
  t.notOk(np.spec.egress.some(isFqdn), 'no name rule: no FQDN peers')
  t.notOk(np.spec.egress.some((e) => e.ports.some((p) => p.protocol === 'UDP' && p.port !== 53)), 'UDP only for DNS')
})

t.test('host rules: their ports, to every global address of both families, always-denied ranges excepted', async (t) => {
  const { np } = policy(egressOf([
    { host: '*.githubusercontent.com' },
    { host: 'api.example.com', port: 8443 },
    { host: '.example.org', protocol: 'http' },
    { host: 'db.example.net', port: 5432, protocol: 'tcp' },
    { host: 'again.example.com' },
  ]))
  const fq = np.spec.egress.filter(isFqdn)
  t.equal(fq.length, 1, 'one rule for every name rule')
  t.strictSame(fq[0]!.to, fqdnPeers())
  t.strictSame(fq[0]!.to.map((p) => p.ipBlock?.cidr), ['0.0.0.0/0', '2000::/3'], 'IPv4 and IPv6')
  t.strictSame(fq[0]!.ports, [80, 443, 5432, 8443].map((port) => ({ protocol: 'TCP', port })), 'exactly the rule ports, once each, TCP')
  const except4 = fq[0]!.to[0]!.ipBlock!.except!
  for (const r of ['10.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4', '240.0.0.0/4', '0.0.0.0/8']) t.ok(except4.includes(r), `${r} excepted`)
  t.notOk(except4.includes('169.254.169.254/32'), 'a range inside another excepted one is left out (169.254.0.0/16 covers the metadata address)')
  const any = policy(egressOf([{ host: 'a.example.com', port: 443 }, { host: 'b.example.com', protocol: 'any' }])).np.spec.egress.filter(isFqdn)
  t.strictSame(any[0]!.ports, [{ protocol: 'TCP' }], 'a port-0 name rule: every TCP port (the numbered ones folded in)')
})

t.test('the FQDN peers admit exactly the addresses the sidecar dials for a name (classifyAddress global)', async (t) => {
  const peers = fqdnPeers().map((p) => ({ outer: compileCidr(p.ipBlock!.cidr), except: (p.ipBlock!.except ?? []).map((e) => compileCidr(e)) }))
  const admitted = (ip: string) => {
    const a = parseIpLiteral(ip)!
    return peers.some((p) => p.outer.contains(a) && !p.except.some((e) => e.contains(a)))
  }
  // every always-denied range: its first address, and one inside
  for (const [cidr, cls] of ALWAYS_DENIED_RANGES) {
    const first = cidr.split('/')[0]!
    t.notOk(admitted(first), `${first} (${cls}) is not admitted`)
  }
  for (const ip of ['169.254.169.254', '100.100.100.200', 'fd00:ec2::254', '::1', '::ffff:0:1', 'fe80::1', '64:ff9b::a00:1', '2002:a00:1::', '2001::1', '5f00::1', '4000::1']) t.notOk(admitted(ip), `${ip} is not admitted`)
  for (const ip of ['1.1.1.1', '8.8.8.8', '93.184.216.34', '2606:4700::1111', '2a00:1450::1']) t.ok(admitted(ip), `control: ${ip} (global) is admitted`)
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'))
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((w) => w.map((x) => x.toString(16)).join(':'))
  fc.assert(fc.property(fc.oneof(v4, v6), (ip) => admitted(ip) === (classifyAddress(parseIpLiteral(ip)!) === 'global')), { numRuns: 20000 })
  fc.assert(fc.property(fc.constantFrom(...ALWAYS_DENIED_RANGES.map(([c]) => c)), fc.nat(), (cidr, n) => {
    const r = compileCidr(cidr)
    const [base, bits] = cidr.split('/') as [string, string]
    if (r.family !== 4) return true
    const host = 32 - Number(bits)
    const off = host === 0 ? 0 : n % 2 ** host
    const int = (base.split('.').reduce((a, o) => a * 256 + Number(o), 0) + off) >>> 0
    const ip = [24, 16, 8, 0].map((s) => (int >>> s) & 255).join('.')
    return !admitted(ip)
  }), { numRuns: 5000 })
})

t.test('the aggregator: a Service name by its pods, an IP by /32 or /128, loopback not at all', async (t) => {
  const agg = (url: string) => policy(egressOf([]), { aggregatorUrl: url }).np.spec.egress.slice(1)
  t.strictSame(agg('http://mcp-hangar-aggregator.observability.svc:8000'), [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: { matchLabels: { ...AGGREGATOR_POD_LABELS } } }], ports: [{ protocol: 'TCP', port: 8000 }] }])
  t.strictSame(agg('https://agg.hangar.svc.cluster.local')[0]!.to[0]!.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'hangar' } }, 'the cluster domain form')
  t.strictSame(agg('https://agg.hangar.svc.cluster.local')[0]!.ports, [{ protocol: 'TCP', port: 443 }], 'https without a port: 443')
  t.strictSame(agg('http://10.0.4.2:9000'), [{ to: [{ ipBlock: { cidr: '10.0.4.2/32' } }], ports: [{ protocol: 'TCP', port: 9000 }] }], 'IPv4')
  t.strictSame(agg('http://[fd00::42]:8000'), [{ to: [{ ipBlock: { cidr: 'fd00::42/128' } }], ports: [{ protocol: 'TCP', port: 8000 }] }], 'IPv6')
  t.strictSame(agg('http://127.0.0.1:8000'), [], 'loopback: inside the pod, no rule')
  t.strictSame(agg('http://mcp-hangar-aggregator:8000'), [{ to: [{ podSelector: { matchLabels: { ...AGGREGATOR_POD_LABELS } } }], ports: [{ protocol: 'TCP', port: 8000 }] }], "a bare Service name: the aggregator pods of the policy's own namespace")
  t.strictSame(agg('http://localhost:8000'), [], 'localhost: inside the pod, no rule')
  t.strictSame(policy(egressOf([])).np.spec.egress[1]!.to[0]!.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'mcp-hangar' } }, "default: the config's aggregator.url")
  const none = policy(config({}, { aggregator: { listen: '127.0.0.1:8000' } }))
  t.equal(none.np.spec.egress.length, 1, 'no aggregator URL: only DNS')
  t.match(none.notes.join('\n'), /no aggregator URL/)
})

t.test('upstream resolvers and a remote endpoint by IP', async (t) => {
  const { np } = policy(config({ endpoint: 'http://10.1.2.3:3000/mcp', sidecar: { upstream_dns: ['10.96.0.10:53', '[fd00::53]:5353'] } }))
  t.notOk(np.spec.egress.some((e) => e.to.some((p) => p.podSelector?.matchLabels['k8s-app'] === 'kube-dns')), 'no `system`: no cluster DNS')
  t.strictSame(blockRules(np, '10.96.0.10/32')[0]!.ports, [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }])
  t.strictSame(blockRules(np, 'fd00::53/128')[0]!.ports, [{ protocol: 'UDP', port: 5353 }, { protocol: 'TCP', port: 5353 }])
  t.strictSame(blockRules(np, '10.1.2.3/32')[0]!.ports, [{ protocol: 'TCP', port: 3000 }], "the remote provider's endpoint")
})

t.test('ingress: only the named peers, on the MCP port 15006', async (t) => {
  const { np, notes } = policy(config({ k8s: { ingress_from: [{ namespace: 'agents' }, { pod_labels: { app: 'gateway' } }, { namespace: 'ops', pod_labels: { 'app.kubernetes.io/name': 'agent' } }, { cidr: '203.0.113.0/24' }, { cidr: '2001:db8:1::/48' }] } }))
  t.equal(K8S_PORTS.ingress, 15006)
  t.strictSame(np.spec.ingress, [{
    from: [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'agents' } } },
      { podSelector: { matchLabels: { app: 'gateway' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ops' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'agent' } } },
      { ipBlock: { cidr: '203.0.113.0/24' } },
      { ipBlock: { cidr: '2001:db8:1::/48' } },
    ],
    ports: [{ protocol: 'TCP', port: 15006 }],
  }])
  t.notMatch(notes.join('\n'), /no ingress/, 'no deny note when peers are named')
})

t.test('errors name the config path; unknown keys are errors', async (t) => {
  const fail = (fn: () => unknown) => {
    const e = thrown(fn)
    t.type(e, ConfigError)
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join('\n')
  }
  t.match(fail(() => networkPolicyFor(egressOf([]), 'nope')), /providers\.nope: no such provider \(have: p\)/)
  t.match(fail(() => networkPolicyFor(egressOf([]), 'p', { aggregatorUrl: 'http://aggregator.example.com:8000' })), /--aggregator-url: "aggregator\.example\.com" is neither an IP address nor an in-cluster Service name/)
  t.match(fail(() => networkPolicyFor(config({}, { aggregator: { url: 'http://agg.example.com/' } }), 'p')), /^aggregator\.url: .*a NetworkPolicy cannot name an outside host/)
  t.match(fail(() => networkPolicyFor(config({ endpoint: 'https://mcp.example.com/mcp' }), 'p')), /providers\.p\.endpoint: "mcp\.example\.com" is neither/)
  t.match(fail(() => networkPolicyFor(config({ endpoint: 'http://mcp.tools.svc:80/mcp' }), 'p')), /providers\.p\.endpoint: "mcp\.tools\.svc" is a Service name, but the labels of the pods behind it are unknown/)
  t.match(fail(() => networkPolicyFor(egressOf([]), 'p', { podLabels: {} })), /--pod-selector: empty labels select every pod/)
  t.match(fail(() => networkPolicyFor(egressOf([]), 'p', { podLabels: { 'bad key!': 'x' } })), /--pod-selector bad key!=x: expected a Kubernetes label key/, 'a label key the API refuses')
  t.match(fail(() => networkPolicyFor(egressOf([]), 'p', { podLabels: { app: 'x y' } })), /--pod-selector app=x y: expected a Kubernetes label value/, 'a label value the API refuses')
  const load = (k8s: unknown) => fail(() => config({ k8s }))
  t.match(load({ ingres_from: [] }), /providers\.p\.k8s.*ingres_from/, 'an unknown key under k8s')
  t.match(load({ ingress_from: [{ namespace: 'a', labels: { x: 'y' } }] }), /providers\.p\.k8s\.ingress_from\[0\].*labels/, 'an unknown key in a peer')
  t.match(load({ ingress_from: [{}] }), /providers\.p\.k8s\.ingress_from\[0\]: name a namespace, pod_labels \(or both\), or a cidr/)
  t.match(load({ ingress_from: [{ namespace: 'Bad_NS' }] }), /providers\.p\.k8s\.ingress_from\[0\]\.namespace: expected a namespace name/)
  t.match(load({ ingress_from: [{ pod_labels: {} }] }), /ingress_from\[0\]\.pod_labels: empty labels select every pod/)
  t.match(load({ ingress_from: [{ pod_labels: { 'app/x/y': 'z' } }] }), /ingress_from\[0\]\.pod_labels.*label key/)
  t.match(load({ ingress_from: [{ pod_labels: { app: '-bad' } }] }), /ingress_from\[0\]\.pod_labels\.app: expected a Kubernetes label value/)
  t.match(load({ ingress_from: [{ cidr: '10.0.0.1/8' }] }), /ingress_from\[0\]\.cidr: .*host bits are set; use "10\.0\.0\.0\/8"/)
  t.match(load({ ingress_from: [{ cidr: '10.0.0.0/8', namespace: 'x' }] }), /ingress_from\[0\]\.cidr: a cidr peer stands alone/)
})

t.test('control: the schema check catches a broken policy (so validate() above is not vacuous)', async (t) => {
  const np = networkPolicyFor(egressOf([{ host: 'a.example.com' }]), 'p') as unknown as Obj
  const broken = structuredClone(np) as { spec: { egress: Array<{ ports: Array<{ port: unknown }> }> } }
  broken.spec.egress[0]!.ports[0]!.port = { nested: true }
  t.throws(() => new NetworkPolicy(broken as unknown as ConstructorParameters<typeof NetworkPolicy>[0]).validate(), 'a port that is an object is refused')
  t.throws(() => ipBlockValid({ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/8'] } }), 'an except outside its cidr is refused')
  t.throws(() => ipBlockValid({ ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] } }), 'an except equal to its cidr is refused')
})

// ---------------------------------------------------------------- property

const label = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/)
const v4cidr = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.integer({ min: 0, max: 32 })).map(([a, b, c, d, bits]) => {
  const int = bits === 0 ? 0 : (((a << 24) | (b << 16) | (c << 8) | d) & (~0 << (32 - bits))) >>> 0
  return `${[24, 16, 8, 0].map((s) => (int >>> s) & 255).join('.')}/${bits}`
})
const v6cidr = fc.tuple(fc.nat(0xffff), fc.nat(0xffff), fc.constantFrom(16, 32, 48, 64, 128)).map(([a, b, bits]) => {
  const w = [a | 0x2000, b, 0, 0, 0, 0, 0, bits === 128 ? 1 : 0].map((x, i) => (i * 16 >= bits ? 0 : x))
  if (bits === 16) w[1] = 0
  if (bits === 128) w[7] = 1
  return `${w.map((x) => x.toString(16)).join(':')}/${bits}`
})
const port = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constant(0), fc.constantFrom(80, 443, 5432))
const rule = fc.oneof(
  fc.record({ host: fc.tuple(fc.constantFrom('', '*.', '.'), label, fc.constantFrom('example.com', 'example.org')).map(([p, l, d]) => `${p}${l}.${d}`), port, protocol: fc.constantFrom('http', 'https', 'any') }),
  fc.record({ cidr: fc.oneof(v4cidr, v6cidr), port, protocol: fc.constantFrom('http', 'https', 'any', 'tcp') }),
)
const aggregator = fc.oneof(
  fc.tuple(label, label, fc.integer({ min: 1, max: 65535 })).map(([s, n, p]) => `http://${s}.${n}.svc:${p}`),
  fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 65535 })).map(([o, p]) => `http://10.9.8.${o}:${p}`),
  fc.constant(undefined),
)
const peer = fc.oneof(fc.record({ namespace: label }), fc.record({ pod_labels: fc.dictionary(label, label, { minKeys: 1, maxKeys: 3 }) }), fc.record({ namespace: label, pod_labels: fc.dictionary(label, label, { minKeys: 1, maxKeys: 2 }) }), fc.record({ cidr: v4cidr }))
const dns = fc.array(fc.oneof(fc.constant('system'), fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 65535 })).map(([o, p]) => `10.96.0.${o}:${p}`)), { minLength: 1, maxLength: 3 })

t.test('property: any generated config gives a valid policy that admits only what the config names', async (t) => {
  let checked = 0
  keepingConfigModules(() => fc.assert(fc.property(fc.array(rule, { maxLength: 8 }), aggregator, fc.array(peer, { maxLength: 3 }), dns, (rules, agg, from, upstream) => {
    let cfg
    try {
      cfg = parseConfig(stringify({ ...(agg && { aggregator: { url: agg } }), providers: { p: { mode: 'remote', endpoint: 'http://127.0.0.1:8080/', sidecar: { upstream_dns: upstream }, k8s: { ingress_from: from }, capabilities: { network: { egress: rules } } } } }), 'prop').config
    } catch {
      return true // two tcp rules on one port and the like: not a loadable config
    }
    checked++
    const { np } = policy(cfg)
    const caps = cfg.providers.p!.capabilities.network.egress
    const rulePort = (r: (typeof caps)[number]) => r.port ?? ({ https: 443, http: 80, any: 0, tcp: 0 } as const)[r.protocol ?? (r.cidr ? 'any' : 'https')]
    const isIp = (h: string) => parseIpLiteral(h) !== null
    const namePorts = new Set(caps.filter((r) => r.host && !isIp(r.host)).map(rulePort))
    const resolvers = upstream.filter((d) => d !== 'system').map((d) => ({ cidr: `${d.split(':')[0]}/32`, port: Number(d.split(':')[1]) }))
    const aggUrl = agg ? new URL(agg) : undefined
    const justified = (to: NetworkPolicyPeer, p: NetworkPolicyPort): boolean => {
      const n = p.port
      if (p.endPort !== undefined) return false // the config has no ranges
      if (to.podSelector?.matchLabels['k8s-app'] === 'kube-dns') return upstream.includes('system') && n === 53
      if (to.podSelector && aggUrl) return p.protocol === 'TCP' && n === Number(aggUrl.port) && to.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'] === aggUrl.hostname.split('.')[1]
      if (to.ipBlock?.except) return p.protocol === 'TCP' && (n === undefined ? namePorts.has(0) : namePorts.has(n) || namePorts.has(0))
      const cidr = to.ipBlock?.cidr
      if (p.protocol === 'UDP') return resolvers.some((r) => r.cidr === cidr && r.port === n)
      if (resolvers.some((r) => r.cidr === cidr && r.port === n)) return true
      if (aggUrl && `${aggUrl.hostname}/32` === cidr && Number(aggUrl.port) === n) return true
      return caps.some((r) => {
        const c = r.cidr ?? (r.host && isIp(r.host) ? `${r.host}/32` : undefined)
        return c !== undefined && compileCidr(c).source === cidr && (rulePort(r) === 0 ? n === undefined || n > 0 : rulePort(r) === n)
      })
    }
    for (const e of np.spec.egress) {
      if (!e.ports.length) throw new Error('an egress rule without ports admits every port and protocol')
      for (const to of e.to) for (const p of e.ports) if (!justified(to, p)) throw new Error(`not justified by the config: ${JSON.stringify(to)} ${JSON.stringify(p)}`)
    }
    // ...and nothing the config names is missing: every rule's port reaches its peer
    for (const r of caps) {
      const n = rulePort(r)
      const c = r.cidr ?? (r.host && isIp(r.host) ? `${r.host}/32` : undefined)
      const ok = np.spec.egress.some((e) => (c ? e.to.some((p) => p.ipBlock?.cidr === compileCidr(c).source && !p.ipBlock.except) : isFqdn(e)) && e.ports.some((p) => p.port === undefined || p.port === n))
      if (!ok) throw new Error(`rule ${JSON.stringify(r)} is not admitted`)
    }
    const ing = np.spec.ingress
    if (from.length ? ing.length !== 1 || ing[0]!.from.length !== from.length || ing[0]!.ports[0]!.port !== 15006 || ing[0]!.ports.length !== 1 : ing.length !== 0) throw new Error(`ingress ${JSON.stringify(ing)} for ${JSON.stringify(from)}`)
    return true
  }), { numRuns: 300 }))
  t.ok(checked > 200, `most generated configs load (${checked} of 300): the property ran on real policies`)
})
