/**
 * The counted drop sets every isolation ruleset shares (`up`'s provider namespace and host table,
 * a Kubernetes pod's init rules): `bypass4`/`bypass6` record each refused destination (address,
 * protocol, port, with counters) for the sidecar to report as `egress_bypass_attempt`; `dropped`
 * and `overflow` count packets, the latter those a full set could not record. nftables text only.
 */

/** How long a dropped destination stays in a drop set without new packets, s. */
export const BYPASS_SET_TIMEOUT_S = 3600

/** Most destinations a drop set holds; past it, drops are counted in the `overflow` counter (the monitor then rotates the set). */
export const BYPASS_SET_SIZE = 4096

/** The two drop sets and the counters every table has. */
export function dropSets(): string[] {
  const set = (name: string, addr: string) => [
    `  set ${name} {`,
    `    type ${addr} . inet_proto . inet_service`,
    `    size ${BYPASS_SET_SIZE}`,
    '    flags dynamic,timeout',
    `    timeout ${BYPASS_SET_TIMEOUT_S}s`,
    '    counter',
    '  }',
  ]
  return [...set('bypass4', 'ipv4_addr'), ...set('bypass6', 'ipv6_addr'), '  counter dropped { }', '  counter overflow { }']
}

/**
 * The rules that record a dropped tcp/udp packet in `bypass4`/`bypass6` and end it. When a set is
 * full its `update` fails and the rule does not match (nft_dynset), so the next rules count the
 * packet in `overflow`: nothing goes unreported. `refuse` (the namespace side) makes the attempt
 * fail at once: tcp with a reset (ECONNREFUSED), udp with ICMP administratively prohibited. A
 * reset, not an ICMP error, for tcp: the kernel rate-limits ICMP errors (icmp_ratelimit), so under
 * a burst of connects most SYNs would go unanswered and each connect would wait for its
 * retransmit (1 s and more), and over IPv6 the error reaches a socket without a source address
 * only after that retransmit. Else (the host side) the packet is dropped.
 */
export function dropRules(prefix: string, refuse: boolean): string[] {
  const icmp = refuse ? 'reject with icmpx admin-prohibited' : 'drop'
  const reset = refuse ? 'reject with tcp reset' : 'drop'
  return [
    `    ${prefix}meta nfproto ipv4 meta l4proto tcp update @bypass4 { ip daddr . meta l4proto . th dport } counter name "dropped" ${reset}`,
    `    ${prefix}meta nfproto ipv4 meta l4proto udp update @bypass4 { ip daddr . meta l4proto . th dport } counter name "dropped" ${icmp}`,
    `    ${prefix}meta nfproto ipv6 meta l4proto tcp update @bypass6 { ip6 daddr . meta l4proto . th dport } counter name "dropped" ${reset}`,
    `    ${prefix}meta nfproto ipv6 meta l4proto udp update @bypass6 { ip6 daddr . meta l4proto . th dport } counter name "dropped" ${icmp}`,
    `    ${prefix}meta l4proto tcp counter name "overflow" ${reset}`,
    `    ${prefix}meta l4proto udp counter name "overflow" ${icmp}`,
    `    ${prefix}counter name "dropped" ${icmp}`,
  ]
}
