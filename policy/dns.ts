/**
 * DNS name decisions (docs/egress.md §DNS): pure. Which names the forwarder answers, and how.
 *
 * Precedence: quarantined → deny; `dns_allowed: false` → deny; `use-application-dns.net`
 * (Firefox's DoH canary, answered NXDOMAIN so browsers keep using this resolver) → deny;
 * malformed name → deny; a reverse-lookup name (`in-addr.arpa`, `ip6.arpa`) of an always-denied
 * range that no `cidr` rule names → deny (RFC 6303: such zones are answered locally, never
 * asked upstream); a name matching a host rule's glob (any port/protocol) → allow, unless the
 * part the glob leaves free looks like DNS tunnelling (policy/tunnel.ts); `dns_resolve_any` →
 * allow (same tunnelling check); else deny (`default-deny`). Which record types an allowed
 * name may ask for ({@link dnsTypeAllowed}) and the subdomain budget are applied by the forwarder.
 */
import { ADDRESS_CLASS_TEXT, classifyAddress } from './address-class.js'
import { matchHost } from './glob.js'
import { parseTarget } from './host.js'
import { parseIpLiteral } from './ip.js'
import { tunnelSuspicion } from './tunnel.js'
import type { AddressClass, DenyReason, EgressPolicy, EgressRule, QuarantineState } from './egress-types.js'

export { TUNNEL_LIMITS, tunnelSuspicion } from './tunnel.js'

/** The outcome of a DNS name decision. */
export type DnsDecision =
  | {
      verdict: 'allow'
      rule: string
      reason: string
      /** The normalised name. */
      name: string
      /**
       * True when the sidecar can carry this name's traffic itself (a matching rule is http,
       * https or any → transparent :80/:443; or an exact-host tcp rule → a tcp forward), so
       * steering mode answers with the sidecar's address.
       */
      steerable: boolean
      /** Record types forwarded besides A and AAAA: the union of `dns_types` of the rules matching the name. */
      types?: ReadonlySet<number>
      /**
       * True when a wildcard (or `dns_resolve_any`) admitted the name: it counts against the
       * subdomain budget. False when a rule names it exactly.
       */
      budgeted: boolean
    }
  | { verdict: 'deny'; rule: string; reason: string; code: DenyReason; name: string }

/** The DoH canary domain (Mozilla): resolvers that filter answer it NXDOMAIN. */
export const DOH_CANARY = 'use-application-dns.net'

function steerable(r: EgressRule): boolean {
  if (r.protocol === 'http' || r.protocol === 'https' || r.protocol === 'any') return true
  return r.protocol === 'tcp' && r.host?.kind === 'exact' && r.port !== 0
}

/** Decides a DNS question name. Pure. */
export function decideDnsName(rawName: string, policy: EgressPolicy, state: QuarantineState): DnsDecision {
  const lower = rawName.toLowerCase()
  if (state.quarantined) {
    return { verdict: 'deny', code: 'quarantined', rule: 'quarantine', reason: 'the provider is quarantined; all DNS is denied', name: lower }
  }
  if (!policy.dnsAllowed) return { verdict: 'deny', code: 'dns_not_allowed', rule: 'dns_allowed', reason: 'DNS is not allowed for this provider (network.dns_allowed: false)', name: lower }
  const parsed = parseTarget(rawName)
  if (!parsed.ok) return { verdict: 'deny', code: 'malformed_host', rule: 'default-deny', reason: `malformed name: ${parsed.reason}`, name: lower }
  const name = parsed.target.host
  if (name === DOH_CANARY || name.endsWith('.' + DOH_CANARY)) {
    return { verdict: 'deny', code: 'doh_canary', rule: 'doh-canary', reason: 'DoH canary domain: answered NXDOMAIN so clients keep using this resolver', name }
  }
  const reverse = reverseZoneClass(name, policy)
  if (reverse) {
    return { verdict: 'deny', code: 'always_denied_address', rule: `always-denied:${reverse}`, reason: `${name} is a reverse lookup in ${ADDRESS_CLASS_TEXT[reverse]} space, answered locally (RFC 6303)`, name }
  }
  let match: EgressRule | undefined
  let steer = false
  let exact = false
  let types: Set<number> | undefined
  for (const r of policy.rules) {
    if (!r.host || !matchHost(r.host, name)) continue
    match ??= r
    if (r.host.kind === 'exact' || r.host.base === name) exact = true
    if (steerable(r)) steer = true
    if (r.dnsTypes) for (const t of r.dnsTypes) (types ??= new Set()).add(t)
  }
  if (match) {
    if (!exact) {
      const free = name.slice(0, name.length - match.host!.base.length - 1)
      const why = tunnelSuspicion(free)
      if (why) return { verdict: 'deny', code: 'dns_tunnel_suspected', rule: match.id, reason: `${name} looks like DNS tunnelling: ${why} under ${match.host!.base}`, name }
    }
    return { verdict: 'allow', rule: match.id, reason: `${name} matches ${match.host!.source}`, name, steerable: steer, budgeted: !exact, ...(types && { types }) }
  }
  if (policy.dnsResolveAny) {
    const labels = name.split('.')
    const why = tunnelSuspicion(labels.slice(0, -2).join('.'))
    if (why) return { verdict: 'deny', code: 'dns_tunnel_suspected', rule: 'dns_resolve_any', reason: `${name} looks like DNS tunnelling: ${why}`, name }
    return { verdict: 'allow', rule: 'dns_resolve_any', reason: 'network.dns_resolve_any forwards every name', name, steerable: false, budgeted: true }
  }
  return { verdict: 'deny', code: 'no_matching_rule', rule: 'default-deny', reason: `no egress rule names ${name}`, name }
}

/**
 * True when an allowed name may be asked for record type `qtype`: A and AAAA always (and what
 * their answers carry: the CNAME chain), any other type only when a rule matching the name lists
 * it in `dns_types`.
 */
export function dnsTypeAllowed(d: DnsDecision & { verdict: 'allow' }, qtype: number): boolean {
  return qtype === 1 || qtype === 28 || d.types?.has(qtype) === true
}

/**
 * The class of the address range a reverse-lookup name covers when it is always-denied and no
 * `cidr` rule names it (`10.in-addr.arpa`, `1.0.0.127.in-addr.arpa`, nibbles under `ip6.arpa`);
 * null for other names and for global ranges. A partial name stands for its zero-filled prefix.
 */
function reverseZoneClass(name: string, policy: EgressPolicy): AddressClass | null {
  let text: string
  if (name.endsWith('.in-addr.arpa')) {
    const octets = name.slice(0, -'.in-addr.arpa'.length).split('.').reverse()
    if (octets.length > 4 || !octets.every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255)) return null
    while (octets.length < 4) octets.push('0')
    text = octets.join('.')
  } else if (name.endsWith('.ip6.arpa')) {
    const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.').reverse()
    if (nibbles.length > 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return null
    while (nibbles.length < 32) nibbles.push('0')
    text = nibbles.join('').replace(/(.{4})(?!$)/g, '$1:')
  } else return null
  const addr = parseIpLiteral(text)
  if (!addr) return null
  const cls = classifyAddress(addr)
  if (cls === 'global' || (cls === 'loopback' && policy.loopbackAllowed)) return null
  for (const r of policy.rules) if (r.cidr && r.cidr.contains(addr)) return null
  return cls
}
