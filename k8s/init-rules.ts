/**
 * The nftables ruleset of an injected pod's network namespace, which the init container
 * (`mcp-hangar k8s init`) loads before any other container starts. Pure: no I/O; k8s/init.ts
 * applies it.
 *
 * Every container of a pod shares one network namespace, so the rules tell the sidecar from the
 * provider by the socket's owner (`meta skuid`): the sidecar's uid is exempt; every other uid has
 * its DNS, http, https and tcp-forward traffic redirected (REDIRECT, to 127.0.0.1) to the sidecar's
 * listeners, keeps loopback (127.0.0.0/8, ::1) except the sidecar's protected ports, and has
 * everything else, IPv4 and IPv6, recorded in the counted drop sets `bypass4`/`bypass6` and
 * refused at once. The pod's own address is not loopback: a connection to it is refused like any
 * other destination (nothing the pod runs needs it; the sidecar reaches the server over 127.0.0.1).
 *
 * Two kernel behaviours shape the rules: after a `redirect` in the nat output hook, the filter
 * output hook sees the translated destination but still the route (and `oifname`) chosen for the
 * original one, so a loopback test by interface would miss a redirected packet: the
 * default-drop filter accepts `ct status dnat` (a redirected packet) explicitly and tests loopback
 * by address; and a UDP listener bound to 0.0.0.0 behind REDIRECT answers from the pod address,
 * which the resolver (glibc) discards, so the sidecar's DNS listener must be bound to 127.0.0.1,
 * as Istio's is.
 */
import { dropRules, dropSets } from '../sidecar/drop-sets.js'
import { z } from 'zod'
import { ConfigError } from '../core/errors.js'

/** The uid (and gid) the sidecar container runs as: its traffic is exempt. */
export const SIDECAR_UID = 65532

/** The nftables table the init container creates in the pod's namespace (inet family). */
export const POD_TABLE = 'hangar'


const port = z.number().int().min(1).max(65535)

/** The options of {@link podRuleset}; ports are TCP/UDP port numbers 1–65535. */
export const podRulesOptionsSchema = z
  .object({
    /**
     * The sidecar's uid: its sockets are exempt from every rule. Default 65532. Not 0: every
     * process running as root in any container of the pod would be exempt too.
     */
    sidecarUid: z.number().int().min(1, 'must not be 0: root processes in any container of the pod would be exempt').max(4294967294).default(SIDECAR_UID),
    /** The sidecar's DNS listener port on 127.0.0.1 (udp and tcp); DNS to any address lands here. */
    dnsPort: port,
    /** The transparent http listener's port (tcp 80 lands here); null: tcp 80 is dropped. */
    httpPort: port.nullable(),
    /** The transparent TLS listener's port (tcp 443 lands here); null: tcp 443 is dropped. */
    tlsPort: port.nullable(),
    /** tcp forward ports: tcp to this port, any address, lands on the sidecar's forward on the same port. */
    forwardPorts: z.array(port).default([]),
    /** The sidecar's admin port: closed to every other uid, on loopback and any local address. */
    adminPort: port,
    /** More loopback ports closed to every other uid (e.g. a local aggregator link). */
    protectedPorts: z.array(port).default([]),
    /**
     * Inbound capture: tcp connections from outside the pod to this port (the MCP server's) are
     * redirected to `ingressPort`, the sidecar's MCP ingress. null: nothing is captured.
     */
    mcpPort: port.nullable().default(null),
    /** The sidecar's MCP ingress port (with `mcpPort`). */
    ingressPort: port.nullable().default(null),
    /**
     * The sidecar's bypass trap (on 127.0.0.1 and ::1, tcp and udp): every other tcp and udp
     * packet of another uid, IPv4 or IPv6, is redirected there instead of being dropped, so the
     * sidecar, which holds no capability, learns of the attempt. null: such packets are dropped
     * into the counted sets like the rest.
     */
    trapPort: port.nullable().default(null),
  })
  .strict()

/** What {@link podRuleset} takes (defaults filled by {@link parsePodRulesOptions}). */
export type PodRulesOptions = z.infer<typeof podRulesOptionsSchema>
export type PodRulesInput = z.input<typeof podRulesOptionsSchema>

/**
 * Validates options and fills defaults. Besides the shapes, rejects a tcp port redirected twice
 * (a forward on 53, 80 or 443, or a forward listed twice) and a redirect that would land on a
 * protected port (the admin port must never be reachable through a redirect).
 * @param source names the options in the error (`--flags`, or `providers.NAME.sidecar`)
 * @throws ConfigError naming each bad option
 */
export function parsePodRulesOptions(input: unknown, source = 'k8s init options'): PodRulesOptions {
  const r = podRulesOptionsSchema.safeParse(input)
  if (!r.success) throw new ConfigError(source, r.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })))
  const o = r.data
  const issues: Array<{ path: string; message: string }> = []
  const matched = new Map<number, string>([[53, 'dns (tcp 53)']])
  if (o.httpPort !== null) matched.set(80, 'http (tcp 80)')
  if (o.tlsPort !== null) matched.set(443, 'tls (tcp 443)')
  o.forwardPorts.forEach((p, i) => {
    const prior = matched.get(p) ?? (p === 80 || p === 443 ? `${p === 80 ? 'http' : 'tls'} (tcp ${p})` : undefined)
    if (prior) issues.push({ path: `forwardPorts[${i}]`, message: `tcp ${p} is already redirected to ${prior}` })
    else matched.set(p, `forwardPorts[${i}]`)
  })
  if ((o.mcpPort === null) !== (o.ingressPort === null)) issues.push({ path: o.mcpPort === null ? 'mcpPort' : 'ingressPort', message: 'mcpPort and ingressPort go together (inbound capture needs both)' })
  else if (o.mcpPort !== null && o.mcpPort === o.ingressPort) issues.push({ path: 'ingressPort', message: `the sidecar's ingress cannot share the MCP server's port ${o.mcpPort}: the capture would send the sidecar's own upstream connection back to itself` })
  const closed = new Set([o.adminPort, ...o.protectedPorts])
  const targets: Array<[string, number | null]> = [['dnsPort', o.dnsPort], ['httpPort', o.httpPort], ['tlsPort', o.tlsPort], ...o.forwardPorts.map((p, i): [string, number] => [`forwardPorts[${i}]`, p]), ['ingressPort', o.ingressPort], ['trapPort', o.trapPort]]
  for (const [name, p] of targets) {
    if (p !== null && closed.has(p)) issues.push({ path: name, message: `port ${p} is a protected sidecar port (admin or protectedPorts); a redirect must never land on it` })
  }
  if (issues.length) throw new ConfigError(source, issues)
  return { ...o, forwardPorts: [...new Set(o.forwardPorts)].sort((a, b) => a - b), protectedPorts: [...closed].sort((a, b) => a - b) }
}

/** The `refuse` chain: records a tcp/udp packet's destination in the drop sets and refuses it at once (sidecar/drop-sets.ts). */
function refuseChain(): string[] {
  return ['  chain refuse {', ...dropRules('', true), '  }']
}

const portSet = (ports: readonly number[]) => (ports.length === 1 ? String(ports[0]) : `{ ${ports.join(', ')} }`)

/**
 * The pod's ruleset, for `nft -f -` in the pod's network namespace. It replaces any earlier
 * `inet hangar` table atomically (a restarted init container loads it again).
 *
 * - nat output (priority -100): the sidecar's uid returns untouched; IPv4 udp/tcp 53 to any
 *   address is redirected to `dnsPort`; other traffic to 127.0.0.0/8 and ::1 stays as it is; tcp 80 → `httpPort`,
 *   tcp 443 → `tlsPort`, each forward port → itself. These redirects are IPv4 only (the sidecar's
 *   listeners are on 127.0.0.1). With `trapPort`, every other tcp and udp packet, IPv4 and IPv6
 *   (DNS over IPv6 included), is redirected to the trap (REDIRECT keeps neither the original
 *   address nor port; reading them back, `SO_ORIGINAL_DST` or conntrack, needs code or a
 *   capability the sidecar does not have, so the trap reports the attempt, its protocol and
 *   family); without it they are dropped.
 * - nat prerouting (priority -100, with `mcpPort`): tcp from outside the pod (any interface but
 *   lo) to `mcpPort` is redirected to `ingressPort`, as Istio captures inbound traffic: the
 *   server keeps its port, and nothing reaches it without passing the sidecar's MCP ingress (an
 *   IPv6 connection lands on [::1]:`ingressPort`, where nothing listens, and is refused).
 * - filter output (priority 0, policy drop): the sidecar's uid accepted; with `ingressPort`, any
 *   other socket's tcp from that port dropped (a provider that bound the ingress port while the
 *   sidecar restarted cannot answer captured clients); replies on connections
 *   made from outside accepted (`ct direction reply`: health probes, inbound MCP); tcp to a
 *   protected port (any address) refused and recorded; redirected packets (`ct status dnat`)
 *   accepted; the rest of 127.0.0.0/8 and ::1 accepted; IPv6 neighbour discovery (sent by
 *   the kernel, without a socket uid) accepted; everything else goes to `refuse`.
 * @param input see {@link PodRulesOptions}
 * @throws ConfigError when the options are invalid ({@link parsePodRulesOptions})
 */
export function podRuleset(input: PodRulesInput): string {
  const o = parsePodRulesOptions(input)
  const uid = o.sidecarUid
  const redirects: string[] = []
  if (o.httpPort !== null) redirects.push(`    meta nfproto ipv4 tcp dport 80 redirect to :${o.httpPort}`)
  if (o.tlsPort !== null) redirects.push(`    meta nfproto ipv4 tcp dport 443 redirect to :${o.tlsPort}`)
  if (o.forwardPorts.length) redirects.push(`    meta nfproto ipv4 tcp dport ${portSet(o.forwardPorts)} redirect`)
  // After every redirect to a listener: the rest of tcp and udp, both families, to the trap.
  if (o.trapPort !== null) redirects.push(`    meta l4proto { tcp, udp } redirect to :${o.trapPort}`)
  const inbound = o.mcpPort === null
    ? []
    : [
        '  chain nat_prerouting {',
        '    type nat hook prerouting priority -100; policy accept;',
        `    iifname != "lo" tcp dport ${o.mcpPort} redirect to :${o.ingressPort}`,
        '  }',
      ]
  return [
    // Create-then-delete: loading this twice replaces the table in one transaction.
    `table inet ${POD_TABLE} { }`,
    `delete table inet ${POD_TABLE}`,
    `table inet ${POD_TABLE} {`,
    ...dropSets(),
    ...refuseChain(),
    '  chain nat_output {',
    '    type nat hook output priority -100; policy accept;',
    `    meta skuid ${uid} return`,
    `    meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 redirect to :${o.dnsPort}`,
    '    ip daddr 127.0.0.0/8 return',
    '    ip6 daddr ::1 return',
    ...redirects,
    '  }',
    ...inbound,
    '  chain output {',
    '    type filter hook output priority 0; policy drop;',
    `    meta skuid ${uid} accept`,
    // Only the sidecar answers on the ingress port: a provider that took the port while the
    // sidecar restarted gets the captured connections but cannot send a byte back on them.
    ...(o.ingressPort === null ? [] : [`    tcp sport ${o.ingressPort} meta skuid != ${uid} counter drop`]),
    '    ct direction reply accept',
    `    tcp dport ${portSet(o.protectedPorts)} jump refuse`,
    '    ct status dnat accept',
    '    ip daddr 127.0.0.0/8 accept',
    '    ip6 daddr ::1 accept',
    '    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept',
    '    jump refuse',
    '  }',
    '}',
    '',
  ].join('\n')
}
