/**
 * The network plan of one provider under `mcp-hangar up` with isolation `netns`: the names of its
 * namespace and links, its /30, the sidecar's listener ports and the nftables rulesets of both sides. Pure: no I/O; local/netns.ts carries it out.
 *
 * The provider's namespace holds one veth end (`nsIp`/30) and `lo`. Its only routes are the /30
 * to the sidecar (`hostIp`), the steering address when it differs from `hostIp` (DNATed to
 * `hostIp` inside the namespace), and a catch-all into `hgnull0`, a link that leads nowhere: a
 * packet routed there never leaves the namespace, but it does pass the nftables output hook, which
 * drops and counts it (without that route a direct connect fails in routing, before nftables could
 * see it, and could not be reported as `egress_bypass_attempt`). No route has a gateway.
 */
import { dropRules, dropSets } from '../sidecar/drop-sets.js'
import { createHash } from 'node:crypto'

/** The sidecar's fixed listener ports on the veth address (the provider's view of them). */
export const NETNS_PORTS = Object.freeze({ dns: 53, proxy: 3128, http: 80, tls: 443 })


/** The nftables table in the provider's namespace. */
export const NS_TABLE = 'hangar'

export { BYPASS_SET_SIZE, BYPASS_SET_TIMEOUT_S } from '../sidecar/drop-sets.js'

export interface NetnsPlan {
  provider: string
  /** `ip netns` name: `hg-<8 hex>`, stable for one config file and provider. */
  netns: string
  /** Host end of the veth (≤ 15 characters, IFNAMSIZ). */
  vethHost: string
  /** Namespace end of the veth. */
  vethNs: string
  /** The sidecar's address on the veth: its listeners bind here. */
  hostIp: string
  /** The provider's address. */
  nsIp: string
  /** The /30's network address (what `pickSubnet` treats as taken). */
  network: string
  /** What DNS steering answers with: `hostIp`, or a configured `sidecar.address` DNATed to it. */
  steering: string
  /** tcp-forward ports the provider may reach on `hostIp` (its `tcp` egress rules). */
  tcpPorts: number[]
  /** The host-side nftables table (inet family), one per provider. */
  hostTable: string
}

/** A stable 8-hex key for one provider of one config file. */
export function planKey(configPath: string, provider: string): string {
  return createHash('sha256').update(`${configPath}\0${provider}`).digest('hex').slice(0, 8)
}

/**
 * Picks the provider's /30 in 10.254.0.0/16: block `hash mod 16383 + 1`, then the next free one.
 * @param taken network addresses (`10.254.x.y`, y a multiple of 4) already in use on the host
 * @throws Error when the pool is exhausted
 */
export function pickSubnet(key: string, taken: ReadonlySet<string>): { hostIp: string; nsIp: string; network: string } {
  const start = Number.parseInt(key, 16) % 16383
  for (let i = 0; i < 16383; i++) {
    const block = ((start + i) % 16383) + 1 // never 10.254.0.0/30
    const base = block * 4
    const network = `10.254.${base >> 8}.${base & 255}`
    if (taken.has(network)) continue
    return { network, hostIp: `10.254.${base >> 8}.${(base & 255) + 1}`, nsIp: `10.254.${base >> 8}.${(base & 255) + 2}` }
  }
  throw new Error('no free /30 left in 10.254.0.0/16')
}

/** The plan of one provider. `steering`: its `sidecar.address` when that is not the default. */
export function planNetns(o: { provider: string; key: string; taken: ReadonlySet<string>; steering?: string; tcpPorts?: number[] }): NetnsPlan {
  const net = pickSubnet(o.key, o.taken)
  return {
    provider: o.provider,
    netns: `hg-${o.key}`,
    vethHost: `hgh${o.key}`,
    vethNs: `hgp${o.key}`,
    hostIp: net.hostIp,
    nsIp: net.nsIp,
    network: net.network,
    steering: o.steering ?? net.hostIp,
    tcpPorts: [...new Set(o.tcpPorts ?? [])].sort((a, b) => a - b),
    hostTable: `hangar_${o.key}`,
  }
}

function tcpPortSet(plan: NetnsPlan): string {
  const ports = [NETNS_PORTS.dns, NETNS_PORTS.http, NETNS_PORTS.tls, NETNS_PORTS.proxy, ...plan.tcpPorts]
  return `{ ${[...new Set(ports)].sort((a, b) => a - b).join(', ')} }`
}

/**
 * The ruleset loaded into the provider's namespace (`nft -f -`): output policy drop; allowed are
 * `lo`, DNS (udp+tcp 53) and the sidecar's tcp ports on `hostIp`; every other tcp/udp packet is
 * added to `bypass4` or `bypass6` (destination, protocol, port, with counters) and refused at once
 * (see `dropRules`), so the provider's connect fails immediately and the sidecar can report it. The sidecar has no IPv6
 * address on the link: no IPv6 packet is accepted. When the steering address differs, a nat
 * output chain DNATs it to `hostIp`.
 */
export function namespaceRuleset(plan: NetnsPlan): string {
  const steer = plan.steering !== plan.hostIp
  return [
    `table inet ${NS_TABLE} {`,
    ...dropSets(),
    ...(steer
      ? [
          '  chain steer {',
          '    type nat hook output priority -100; policy accept;',
          `    ip daddr ${plan.steering} dnat ip to ${plan.hostIp}`,
          '  }',
        ]
      : []),
    '  chain output {',
    '    type filter hook output priority 0; policy drop;',
    '    oif "lo" accept',
    `    ip daddr ${plan.hostIp} udp dport ${NETNS_PORTS.dns} accept`,
    `    ip daddr ${plan.hostIp} tcp dport ${tcpPortSet(plan)} accept`,
    ...dropRules('', true),
    '  }',
    '}',
    '',
  ].join('\n')
}

/**
 * The host-side table for one provider: from its veth, only the sidecar's ports on `hostIp` are
 * admitted (so the provider reaches neither the aggregator nor any other host service, whatever
 * address it tries); nothing from or to the veth is forwarded. Dropped destinations go to
 * `bypass4`/`bypass6` as in the namespace.
 */
export function hostRuleset(plan: NetnsPlan): string {
  const v = `"${plan.vethHost}"`
  return [
    `table inet ${plan.hostTable} {`,
    ...dropSets(),
    '  chain input {',
    '    type filter hook input priority -10; policy accept;',
    `    iifname ${v} ip daddr ${plan.hostIp} udp dport ${NETNS_PORTS.dns} accept`,
    `    iifname ${v} ip daddr ${plan.hostIp} tcp dport ${tcpPortSet(plan)} accept`,
    ...dropRules(`iifname ${v} `, false),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    `    iifname ${v} counter name "dropped" drop`,
    `    oifname ${v} drop`,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** `/etc/netns/<ns>/resolv.conf`: the sidecar's DNS forwarder only. */
export function resolvConf(plan: NetnsPlan): string {
  return `# written by mcp-hangar up: the provider's only resolver is its sidecar\nnameserver ${plan.hostIp}\noptions timeout:2 attempts:2\n`
}

export { proxyEnv } from '../core/proxy-env.js'
