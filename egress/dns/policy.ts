/**
 * DNS name decisions (DESIGN.md §4): pure. Which names the forwarder answers, and how.
 *
 * Precedence: quarantined → deny; `dns_allowed: false` → deny; `use-application-dns.net`
 * (Firefox's DoH canary, answered NXDOMAIN so browsers keep using this resolver) → deny;
 * malformed name → deny; a name matching a host rule's glob (any port/protocol) → allow, unless
 * the part the glob leaves free looks like DNS tunnelling; `dns_resolve_any` → allow (same
 * tunnelling check); else deny (`default-deny`).
 */
import { matchHost } from '../glob.js'
import { parseTarget } from '../host.js'
import type { DenyReason, EgressPolicy, EgressRule, EnforcementState } from '../types.js'

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
    }
  | { verdict: 'deny'; rule: string; reason: string; code: DenyReason; name: string }

/** The DoH canary domain (Mozilla): resolvers that filter answer it NXDOMAIN. */
export const DOH_CANARY = 'use-application-dns.net'

/** Limits of the tunnelling heuristic (characters, bits per character). */
export const TUNNEL_LIMITS = {
  /** Free (wildcard-matched) part longer than this is suspect. */
  maxFreeLength: 100,
  /** A single free label this long is suspect whatever its content. */
  maxLabelLength: 52,
  /** More free labels than this is suspect. */
  maxFreeLabels: 6,
  /** A free label at least this long is checked for randomness. */
  randomLabelMinLength: 24,
  /** Shannon entropy (bits/char) at or above which a long label counts as random. */
  randomEntropy: 3.7,
  /** A run of letters and digits (between dots, "-" and "_") this long is checked for encoded data. */
  encodedRunMinLength: 8,
  /** Encoded-looking characters across all free labels at or above which the name is suspect. */
  maxEncodedChars: 40,
} as const

/**
 * Letter↔digit switches in `s`. Encoded data (hex, base32) switches often; words and names
 * (`mycompanyproductionbackups`, `eu-west-1`, `backups2024`) hardly ever.
 */
function classSwitches(s: string): number {
  let n = 0
  for (let i = 1; i < s.length; i++) {
    const a = s.charCodeAt(i - 1) <= 57
    const b = s.charCodeAt(i) <= 57
    if (a !== b) n++
  }
  return n
}

/** A run of `[a-z0-9]` that looks like encoded data: mixes letters and digits, switching at least twice. */
function looksEncoded(run: string): boolean {
  return run.length >= TUNNEL_LIMITS.encodedRunMinLength && classSwitches(run) >= 2
}

/**
 * Returns a sentence when `free` (the labels a glob left free) looks like a DNS tunnel
 * (iodine, dnscat2, DNSExfiltrator encode data as long base32/hex/base64 labels, or as several
 * shorter ones), else null. Heuristic by design: real hosts under a wildcard have short or
 * word-like labels.
 */
export function tunnelSuspicion(free: string): string | null {
  if (free === '') return null
  if (free.length > TUNNEL_LIMITS.maxFreeLength) return `${free.length} characters of subdomain`
  const labels = free.split('.')
  if (labels.length > TUNNEL_LIMITS.maxFreeLabels) return `${labels.length} subdomain labels`
  let encoded = 0
  for (const l of labels) {
    if (l.length >= TUNNEL_LIMITS.maxLabelLength) return `a ${l.length}-character label`
    const runs = l.split(/[-_]/).filter((w) => w.length > 0)
    for (const r of runs) if (looksEncoded(r)) encoded += r.length
    if (l.length >= TUNNEL_LIMITS.randomLabelMinLength) {
      if (/^[0-9a-f]+$/.test(l)) return `a ${l.length}-character hex label`
      const longestWord = Math.max(...runs.map((w) => w.length))
      const h = entropy(l)
      // Random base32/base36 mixes digits in; a long run of letters only is a word-like name.
      if (longestWord >= TUNNEL_LIMITS.randomLabelMinLength && h >= TUNNEL_LIMITS.randomEntropy && classSwitches(l) >= 2) {
        return `a ${l.length}-character random-looking label (entropy ${h.toFixed(2)} bits/char)`
      }
    }
  }
  if (encoded >= TUNNEL_LIMITS.maxEncodedChars) return `${encoded} characters of encoded-looking labels`
  return null
}

function entropy(s: string): number {
  const counts = new Map<number, number>()
  for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1)
  let h = 0
  for (const c of counts.values()) {
    const p = c / s.length
    h -= p * Math.log2(p)
  }
  return h
}

function steerable(r: EgressRule): boolean {
  if (r.protocol === 'http' || r.protocol === 'https' || r.protocol === 'any') return true
  return r.protocol === 'tcp' && r.host?.kind === 'exact' && r.port !== 0
}

/** Decides a DNS question name. Pure. */
export function decideDnsName(rawName: string, policy: EgressPolicy, state: EnforcementState): DnsDecision {
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
  let match: EgressRule | undefined
  let steer = false
  let exact = false
  for (const r of policy.rules) {
    if (!r.host || !matchHost(r.host, name)) continue
    match ??= r
    if (r.host.kind === 'exact' || r.host.base === name) exact = true
    if (steerable(r)) steer = true
  }
  if (match) {
    if (!exact) {
      const free = name.slice(0, name.length - match.host!.base.length - 1)
      const why = tunnelSuspicion(free)
      if (why) return { verdict: 'deny', code: 'dns_tunnel_suspected', rule: match.id, reason: `${name} looks like DNS tunnelling: ${why} under ${match.host!.base}`, name }
    }
    return { verdict: 'allow', rule: match.id, reason: `${name} matches ${match.host!.source}`, name, steerable: steer }
  }
  if (policy.dnsResolveAny) {
    const labels = name.split('.')
    const why = tunnelSuspicion(labels.slice(0, -2).join('.'))
    if (why) return { verdict: 'deny', code: 'dns_tunnel_suspected', rule: 'dns_resolve_any', reason: `${name} looks like DNS tunnelling: ${why}`, name }
    return { verdict: 'allow', rule: 'dns_resolve_any', reason: 'network.dns_resolve_any forwards every name', name, steerable: false }
  }
  return { verdict: 'deny', code: 'no_matching_rule', rule: 'default-deny', reason: `no egress rule names ${name}`, name }
}
