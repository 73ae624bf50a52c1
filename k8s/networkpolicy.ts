/**
 * The Kubernetes NetworkPolicy (networking.k8s.io/v1) of one provider's pod
 * (`mcp-hangar k8s networkpolicy`). Pure: a loaded config in, a plain object out, validated
 * against the API schema (`kubernetes-models`) before it is returned.
 *
 * The policy is the cluster's second fence around an injected pod: the sidecar decides every
 * destination by name (docs/egress.md); the NetworkPolicy, enforced by the CNI outside the pod,
 * keeps the pod as a whole (sidecar included) to the addresses and ports the config could ever
 * need, so a compromised sidecar or a hole in the pod's nftables rules still cannot reach a port
 * or a range the config never named.
 *
 * What it admits:
 * - egress to the cluster DNS (namespace `kube-system`, pods `k8s-app: kube-dns`, UDP and TCP 53)
 *   when `sidecar.upstream_dns` uses `system`, and to each `<IP>:<port>` resolver listed there;
 * - each `cidr` rule (and each host rule naming an IP literal) as an `ipBlock` of that range on
 *   its port, with no `except`: a cidr rule overrides the always-denied list in the sidecar too.
 *   A range written in IPv4-mapped form (`::ffff:10.0.0.0/104`) is the IPv4 range it maps
 *   (the sidecar unmaps such addresses and dials IPv4);
 * - the host (FQDN) rules, on their ports, to every address the sidecar could dial for a name:
 *   `0.0.0.0/0` and `2000::/3` (the only global unicast IPv6 range, RFC 4291 §2.4) with `except`
 *   of the always-denied ranges (policy/address-class.ts `ALWAYS_DENIED_RANGES`, ranges inside
 *   another left out). A NetworkPolicy cannot name hosts: the sidecar decides the name (and
 *   strips always-denied answers), the NetworkPolicy only narrows the ports and ranges. This is
 *   the gap MCP Hangar (Python)'s Kubernetes operator refuses to deploy over; here the sidecar
 *   closes it;
 * - the aggregator: an in-cluster Service name (`<svc>.<ns>.svc[.<cluster domain>]`) → the pods
 *   of the chart's aggregator (`app.kubernetes.io/name: mcp-hangar`,
 *   `app.kubernetes.io/component: aggregator`) in that namespace (a bare `<svc>`: in the policy's
 *   own namespace, where the pod resolves it); an IP → an ipBlock `/32` or
 *   `/128`; on the URL's port (the scheme's default when it names none). A NetworkPolicy matches
 *   the destination pod's port after the Service is resolved, so the Service must map the URL's
 *   port to the same container port (the chart's does: 8000 → 8000);
 * - a `mode: remote` provider's endpoint when it is an IP (loopback needs no rule);
 * - ingress on the sidecar's MCP port ({@link K8S_PORTS}.ingress, 15006) only from the peers
 *   `providers.<name>.k8s.ingress_from` names; with none, no ingress at all.
 *
 * Every egress rule of the config is TCP: the sidecar carries only TCP (CONNECT, transparent
 * http/TLS, tcp forwards); its only UDP is DNS to its resolvers. A rule with port 0 (any) admits
 * every TCP port, never UDP.
 *
 * The config has no port ranges (a rule names one port, or 0 for any); {@link NetworkPolicyPort}
 * still carries `endPort` for ranges a caller builds.
 */
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { ConfigError, type ConfigIssue } from '../core/errors.js'
import { k8sLabelKey, k8sLabelValue, splitListen, type HangarConfig, type K8sIngressPeer } from '../config/schema.js'
import { ALWAYS_DENIED_RANGES, IPV6_GLOBAL_UNICAST } from '../policy/address-class.js'
import { compileCidr } from '../policy/cidr.js'
import { compilePolicy } from '../policy/egress-policy.js'
import { parseIpLiteral } from '../policy/ip.js'
import type { CidrRange } from '../policy/egress-types.js'
import { K8S_PORTS, PROVIDER_LABEL } from './inject.js'

/** The pod label the policy selects on unless told otherwise: injection sets it on the pod template. */
export { PROVIDER_LABEL }

/** Labels of the chart's aggregator pods. */
export const AGGREGATOR_POD_LABELS = Object.freeze({ 'app.kubernetes.io/name': 'mcp-hangar', 'app.kubernetes.io/component': 'aggregator' })

/** The cluster DNS: namespace kube-system, pods `k8s-app: kube-dns` (CoreDNS keeps the label). */
export const CLUSTER_DNS_PEER = Object.freeze({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
})

/** One NetworkPolicyPort: a TCP/UDP port, a range `port`–`endPort`, or every port of the protocol (no `port`). */
export interface NetworkPolicyPort {
  protocol: 'TCP' | 'UDP'
  port?: number
  endPort?: number
}

/** A NetworkPolicyPeer as this module writes it. */
export interface NetworkPolicyPeer {
  ipBlock?: { cidr: string; except?: string[] }
  namespaceSelector?: { matchLabels: Record<string, string> }
  podSelector?: { matchLabels: Record<string, string> }
}

/** The object {@link networkPolicyFor} returns (plain data; YAML- and JSON-ready). */
export interface NetworkPolicyObject {
  apiVersion: 'networking.k8s.io/v1'
  kind: 'NetworkPolicy'
  metadata: { name: string; namespace?: string; labels: Record<string, string> }
  spec: {
    podSelector: { matchLabels: Record<string, string> }
    policyTypes: ['Ingress', 'Egress']
    ingress: Array<{ from: NetworkPolicyPeer[]; ports: NetworkPolicyPort[] }>
    egress: Array<{ to: NetworkPolicyPeer[]; ports: NetworkPolicyPort[] }>
  }
}

/** Options of {@link networkPolicyFor}. */
export interface NetworkPolicyOptions {
  /** `metadata.namespace` (the provider pod's namespace). Default none (kubectl's current namespace). */
  namespace?: string
  /** Labels selecting the provider's pods. Default `{ "mcp.hangar.io/provider": <provider> }`. */
  podLabels?: Record<string, string>
  /** The aggregator URL the pod's sidecar ships signals to. Default the config's `aggregator.url`. */
  aggregatorUrl?: string
  /** Where the config came from, for errors. Default `<config>`. */
  source?: string
  /** Receives remarks for the operator (no ingress named, alert mode, no aggregator). */
  onNote?: (note: string) => void
}

/** A range `cidr` contains `inner` (same family, at least as long a prefix, network inside). */
function within(inner: string, outer: CidrRange): boolean {
  const [addr, bits] = inner.split('/') as [string, string]
  const ip = parseIpLiteral(addr)
  const outerBits = Number(outer.source.split('/')[1])
  return ip !== null && ip.family === outer.family && Number(bits) >= outerBits && outer.contains(ip)
}

/** The always-denied ranges inside `outer`, without those inside another one: the `except` list. */
function exceptWithin(outer: string): string[] {
  const o = compileCidr(outer)
  const inside = ALWAYS_DENIED_RANGES.map(([c]) => c).filter((c) => c !== outer && within(c, o))
  const compiled = inside.map((c) => compileCidr(c))
  return inside.filter((c, i) => !compiled.some((other, j) => j !== i && inside[j] !== c && within(c, other)))
}

/** `except` of the FQDN peers, computed once: {IPv4, IPv6}. */
let fqdnPeersCache: NetworkPolicyPeer[] | undefined
/** The peers of host-name rules: every global address of both families, always-denied ranges excepted. */
export function fqdnPeers(): NetworkPolicyPeer[] {
  fqdnPeersCache ??= [
    { ipBlock: { cidr: '0.0.0.0/0', except: exceptWithin('0.0.0.0/0') } },
    { ipBlock: { cidr: IPV6_GLOBAL_UNICAST, except: exceptWithin(IPV6_GLOBAL_UNICAST) } },
  ]
  return structuredClone(fqdnPeersCache)
}

/** The canonical CIDR of an ipBlock for a compiled range: IPv4-mapped IPv6 ranges become the IPv4 range they map. */
function blockCidr(range: CidrRange): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)\/(\d+)$/i.exec(range.source)
  if (m && Number(m[2]) >= 96) return `${m[1]}/${Number(m[2]) - 96}`
  return range.source
}

/** A TCP port entry: a number, or every TCP port for 0. */
const tcp = (port: number): NetworkPolicyPort => (port === 0 ? { protocol: 'TCP' } : { protocol: 'TCP', port })

/** Ports of one rule with duplicates removed; a port-less entry (every port) absorbs the numbered ones of its protocol. */
function normalisePorts(ports: NetworkPolicyPort[]): NetworkPolicyPort[] {
  const all = new Set(ports.filter((p) => p.port === undefined).map((p) => p.protocol))
  const seen = new Set<string>()
  const out: NetworkPolicyPort[] = []
  for (const p of ports) {
    if (p.port !== undefined && all.has(p.protocol)) continue
    const key = `${p.protocol}/${p.port ?? '*'}/${p.endPort ?? ''}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(p)
  }
  return out.sort((a, b) => a.protocol.localeCompare(b.protocol) || (a.port ?? 0) - (b.port ?? 0))
}

/** A URL's host (brackets removed) and port (the scheme's default when absent). */
function urlHostPort(url: string): { host: string; port: number } {
  const u = new URL(url)
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80
  return { host: u.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port }
}

/** `<svc>.<ns>.svc` or `<svc>.<ns>.svc.<cluster domain>`: the namespace; else undefined. */
function serviceNamespace(host: string): string | undefined {
  const m = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.[a-z0-9.-]+)?$/.exec(host.replace(/\.$/, ''))
  return m?.[2]
}

/**
 * The peer of an address the sidecar dials directly (resolver, aggregator, endpoint): null for
 * loopback (inside the pod: no rule needed), or why it cannot be expressed. A Service name is
 * expressible only when the labels of the pods behind it are known (`service`).
 */
function addressPeer(host: string, service?: Readonly<Record<string, string>>): NetworkPolicyPeer | null | string {
  const ns = serviceNamespace(host)
  if (ns && service) return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, podSelector: { matchLabels: { ...service } } }
  // a bare Service name resolves in the pod's own namespace: a podSelector alone selects there
  if (service && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(host) && host !== 'localhost') return { podSelector: { matchLabels: { ...service } } }
  if (ns) return `"${host}" is a Service name, but the labels of the pods behind it are unknown; use an IP address, or run it in the provider's pod (loopback)`
  if (host === 'localhost') return null
  const ip = parseIpLiteral(host)
  if (!ip) return `"${host}" is neither an IP address nor an in-cluster Service name (<service>.<namespace>.svc): a NetworkPolicy cannot name an outside host`
  if (within(`${ip.ip}/${ip.family === 4 ? 32 : 128}`, compileCidr(ip.family === 4 ? '127.0.0.0/8' : '::1/128'))) return null
  return { ipBlock: { cidr: `${ip.ip}/${ip.family === 4 ? 32 : 128}` } }
}

/** The ingress peer of one `k8s.ingress_from` entry. */
function ingressPeer(p: K8sIngressPeer): NetworkPolicyPeer {
  if (p.cidr !== undefined) return { ipBlock: { cidr: blockCidr(compileCidr(p.cidr)) } }
  return {
    ...(p.namespace !== undefined && { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } } }),
    ...(p.pod_labels !== undefined && { podSelector: { matchLabels: { ...p.pod_labels } } }),
  }
}

/** A Kubernetes object name from a provider name (lowercase, `_` → `-`). */
function objectName(provider: string): string {
  return `mcp-hangar-${provider.toLowerCase().replace(/_/g, '-')}`
}

/**
 * The NetworkPolicy of `provider`'s pods (see the file comment for what it admits and why).
 * @param config a loaded config (config/load.ts).
 * @param provider the provider's name in `config.providers`.
 * @returns a `networking.k8s.io/v1` NetworkPolicy, policyTypes Ingress and Egress, that the
 *   API schema accepts.
 * @throws ConfigError naming the config path of everything that cannot be expressed (the missing
 *   provider, an aggregator URL or remote endpoint that is an outside host name) or an option that
 *   is not a valid label.
 */
export function networkPolicyFor(config: HangarConfig, provider: string, options: NetworkPolicyOptions = {}): NetworkPolicyObject {
  const source = options.source ?? '<config>'
  const note = options.onNote ?? (() => {})
  const p = config.providers[provider]
  if (!p) throw new ConfigError(source, [{ path: `providers.${provider}`, message: `no such provider (have: ${Object.keys(config.providers).join(', ') || 'none'})` }])
  const base = `providers.${provider}`
  const issues: ConfigIssue[] = []
  const egress: NetworkPolicyObject['spec']['egress'] = []

  // DNS: the cluster's for `system`, each listed resolver otherwise.
  const dnsPorts = [{ protocol: 'UDP' as const, port: 53 }, { protocol: 'TCP' as const, port: 53 }]
  if (p.sidecar.upstream_dns.includes('system')) egress.push({ to: [structuredClone(CLUSTER_DNS_PEER) as NetworkPolicyPeer], ports: dnsPorts })
  p.sidecar.upstream_dns.forEach((d, i) => {
    if (d === 'system') return
    const { host, port } = splitListen(d)
    const peer = addressPeer(host)
    if (typeof peer === 'string') issues.push({ path: `${base}.sidecar.upstream_dns[${i}]`, message: peer })
    else if (peer) egress.push({ to: [peer], ports: [{ protocol: 'UDP', port }, { protocol: 'TCP', port }] })
  })

  // The capability rules: cidr rules one by one, host rules together on their ports.
  const rules = compilePolicy(provider, p.capabilities).rules
  const fqdnPorts: NetworkPolicyPort[] = []
  for (const r of rules) {
    if (r.cidr) egress.push({ to: [{ ipBlock: { cidr: blockCidr(r.cidr) } }], ports: [tcp(r.port)] })
    else fqdnPorts.push(tcp(r.port))
  }
  if (fqdnPorts.length) egress.push({ to: fqdnPeers(), ports: normalisePorts(fqdnPorts) })
  if (p.capabilities.enforcement_mode === 'alert')
    note(`${base}: enforcement_mode alert: the sidecar lets unlisted destinations through with a signal; this NetworkPolicy admits only the listed ranges and ports, so those connections fail at the network instead`)

  // The aggregator.
  const aggregatorUrl = options.aggregatorUrl ?? config.aggregator?.url
  const aggregatorPath = options.aggregatorUrl !== undefined ? '--aggregator-url' : 'aggregator.url'
  if (aggregatorUrl === undefined) note('no aggregator URL (aggregator.url or --aggregator-url): the sidecar writes signals to a file; no egress to an aggregator is admitted')
  else {
    let hp: { host: string; port: number } | undefined
    try {
      hp = urlHostPort(aggregatorUrl)
    } catch {
      issues.push({ path: aggregatorPath, message: `"${aggregatorUrl}" is not a URL` })
    }
    if (hp) {
      const peer = addressPeer(hp.host, AGGREGATOR_POD_LABELS)
      if (typeof peer === 'string') issues.push({ path: aggregatorPath, message: peer })
      else if (peer) egress.push({ to: [peer], ports: [tcp(hp.port)] })
    }
  }

  // A remote provider's endpoint (the sidecar's MCP upstream).
  if (p.mode === 'remote' && p.endpoint) {
    const hp = urlHostPort(p.endpoint)
    const peer = addressPeer(hp.host)
    if (typeof peer === 'string') issues.push({ path: `${base}.endpoint`, message: peer })
    else if (peer) egress.push({ to: [peer], ports: [tcp(hp.port)] })
  }

  // Ingress: only the named peers, on the sidecar's MCP port.
  const from = (p.k8s?.ingress_from ?? []).map(ingressPeer)
  const ingress = from.length ? [{ from, ports: [tcp(K8S_PORTS.ingress)] }] : []
  if (!from.length) note(`${base}.k8s.ingress_from names no peer: the policy admits no ingress at all (nothing can call the provider); list the callers there`)

  const podLabels = options.podLabels ?? { [PROVIDER_LABEL]: provider }
  if (!Object.keys(podLabels).length) issues.push({ path: '--pod-selector', message: 'empty labels select every pod of the namespace; name at least one label' })
  for (const [k, v] of Object.entries(podLabels)) {
    const bad = k8sLabelKey.safeParse(k).error?.issues[0]?.message ?? k8sLabelValue.safeParse(v).error?.issues[0]?.message
    if (bad) issues.push({ path: options.podLabels ? `--pod-selector ${k}=${v}` : `providers.${provider} (the pod label ${k}=${v})`, message: bad })
  }
  if (issues.length) throw new ConfigError(source, issues)

  const policy: NetworkPolicyObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: objectName(provider),
      ...(options.namespace !== undefined && { namespace: options.namespace }),
      labels: { 'app.kubernetes.io/managed-by': 'mcp-hangar', [PROVIDER_LABEL]: provider },
    },
    spec: { podSelector: { matchLabels: { ...podLabels } }, policyTypes: ['Ingress', 'Egress'], ingress, egress },
  }
  try {
    new NetworkPolicy(toApi(policy) as ConstructorParameters<typeof NetworkPolicy>[0]).validate()
  } catch (e) {
    throw new ConfigError(source, [{ path: base, message: `the NetworkPolicy does not validate: ${(e as Error).message}` }])
  }
  return toApi(policy) as unknown as NetworkPolicyObject
}

/** Renames the internal `peers` shape to the API's `to`/`from` (already so) and drops empty `except` lists. */
function toApi(policy: NetworkPolicyObject): Record<string, unknown> {
  const clean = (peers: NetworkPolicyPeer[]) => peers.map((pe) => (pe.ipBlock?.except && !pe.ipBlock.except.length ? { ...pe, ipBlock: { cidr: pe.ipBlock.cidr } } : pe))
  return structuredClone({
    ...policy,
    spec: {
      ...policy.spec,
      ingress: policy.spec.ingress.map((r) => ({ ...r, from: clean(r.from) })),
      egress: policy.spec.egress.map((r) => ({ ...r, to: clean(r.to) })),
    },
  }) as unknown as Record<string, unknown>
}
