/**
 * The reference a deviation detector compares live behaviour with: a frozen digest of one
 * snapshot of the provider's baseline (`hangar.baseline/v1`), built once per snapshot so every
 * live check is a Set or Map lookup or a number comparison.
 *
 * The figures (docs/deviation.md §Classes):
 * - destinations `host|port` (or `ip|port` for an IP-literal destination), protocol ignored: the
 *   same place reached by CONNECT or by the transparent listener is the same destination;
 * - DNS names as the forwarder normalised them;
 * - tools with whether they were ever called and their argument keys (as the baseline keeps them:
 *   redacted, cut to 80 characters);
 * - the call rate and byte rate thresholds: `max(ceil(basis × rate_factor), learned max)`, where
 *   basis is the learned p95 (or median) of calls/bytes per active minute; a rate the baseline
 *   itself recorded is never an anomaly;
 * - the DNS shape: per registrable domain ({@link registrableDomain}), the most names
 *   first seen in one minute while learning; the live threshold is
 *   `max(dns_shape_min_names, ceil(peak × rate_factor))` never-seen names in one minute;
 * - a daily rhythm: the UTC hours with tool calls, when the kept call minutes span at least 48 h
 *   and at least 6 of the 24 hours never saw a call.
 */
import type { DeviationConfig } from '../../config/deviation-schema.js'
import { MAX_ARGUMENT_KEYS_PER_TOOL, type Baseline, type CallRate } from '../../policy/baseline-schema.js'
import { budgetKey } from '../../policy/tunnel.js'

/** Kept call minutes must span this long before a daily rhythm is inferred, ms (48 h). */
export const RHYTHM_MIN_SPAN_MS = 48 * 3600 * 1000
/** A daily rhythm needs at least this many UTC hours without a call. */
export const RHYTHM_MIN_IDLE_HOURS = 6

/** A learned per-minute rate and the live threshold derived from it. */
export interface RateReference {
  /** The learned figure `rate_factor` multiplied (p95 or median per active minute). */
  basis: number
  /** The learned maximum per minute. */
  max: number
  /** Live minutes above this are anomalies. */
  threshold: number
  active_minutes: number
}

/** A tool as the baseline knows it. */
export interface ToolReference {
  /** True when the baseline saw it called (not only listed). */
  called: boolean
  keys: ReadonlySet<string>
  /** The baseline's key list was full: a new key cannot be told from one not kept. */
  keysFull: boolean
}

/** What one snapshot of the baseline says; see the file comment. */
export interface Reference {
  /** The snapshot's `updated` and `revision`, for signals and logs. */
  updated: string
  revision: number
  events: number
  /** Ports per host or IP literal (nested, so a lookup builds no key string). */
  destinations: ReadonlyMap<string, ReadonlySet<number>>
  /** Distinct (host or IP, port) destinations. */
  destinationCount: number
  dnsNames: ReadonlySet<string>
  tools: ReadonlyMap<string, ToolReference>
  /** Undefined: too few active minutes (`min_active_minutes`) to compare against. */
  callRate?: RateReference
  byteRate?: RateReference
  /** Per registrable domain, the most names first seen in one learned minute. */
  dnsPeak: ReadonlyMap<string, number>
  /** UTC hours (0–23) with calls, when the baseline shows a daily rhythm. */
  activeHours?: ReadonlySet<number>
  /** The baseline's maps were full (`dropped` > 0): "never seen" may mean "not kept". */
  truncated: { destinations: boolean; dns_names: boolean; tools: boolean }
}

/** True when the reference knows the destination (`host`, else `ip`) on `port`. */
export function knowsDestination(ref: Reference, host: string | undefined, ip: string | undefined, port: number): boolean {
  const where = host ?? ip
  return where !== undefined && ref.destinations.get(where)?.has(port) === true
}

/** `host|port` or `ip|port`: a destination's key in signals and cooldowns. */
export function destinationKey(host: string | undefined, ip: string | undefined, port: number): string | undefined {
  const where = host ?? ip
  return where === undefined || where === '' ? undefined : `${where}|${port}`
}

/**
 * The domain a DNS name's never-seen names are counted under: its registrable domain by the
 * Public Suffix List with private entries, as the policy's subdomain budget counts them
 * (policy/tunnel.ts `budgetKey`): `a.b.github.io` under `b.github.io`, and a name that is itself
 * a domain under a private suffix (`<data>.github.io`) under that suffix, so encoding data into
 * such names is one domain's shape. A name with nothing to vary (a registrable domain under an
 * ICANN suffix, `localhost`, an address) counts as itself.
 */
export function registrableDomain(name: string): string {
  return budgetKey(name)?.domain ?? name
}

function rateReference(r: CallRate | undefined, cfg: DeviationConfig): RateReference | undefined {
  if (!r || r.active_minutes < cfg.min_active_minutes) return undefined
  const basis = cfg.rate_basis === 'median' ? r.median : r.p95
  return { basis, max: r.max, threshold: Math.max(Math.ceil(basis * cfg.rate_factor), r.max), active_minutes: r.active_minutes }
}

/** UTC hours with calls, when the kept call minutes show a daily rhythm; see the file comment. */
export function dailyRhythm(callMinutes: ReadonlyArray<readonly [number, number]>): Set<number> | undefined {
  if (callMinutes.length === 0) return undefined
  const span = (callMinutes.at(-1)![0] - callMinutes[0]![0]) * 60_000
  if (span < RHYTHM_MIN_SPAN_MS) return undefined
  const hours = new Set<number>()
  for (const [m, n] of callMinutes) if (n > 0) hours.add(Math.floor(m / 60) % 24)
  return 24 - hours.size >= RHYTHM_MIN_IDLE_HOURS ? hours : undefined
}

/** Per registrable domain, the most names first seen in one minute of the baseline. */
function dnsPeaks(b: Baseline): Map<string, number> {
  const perMinute = new Map<string, number>()
  for (const d of b.dns) {
    const key = `${registrableDomain(d.name)}|${Math.floor(Date.parse(d.first_seen) / 60_000)}`
    perMinute.set(key, (perMinute.get(key) ?? 0) + 1)
  }
  const peak = new Map<string, number>()
  for (const [key, n] of perMinute) {
    const domain = key.slice(0, key.lastIndexOf('|'))
    if (n > (peak.get(domain) ?? 0)) peak.set(domain, n)
  }
  return peak
}

/**
 * The reference of one baseline snapshot under `cfg`.
 * @param b a parsed `hangar.baseline/v1` document (policy/baseline-schema.ts `parseBaseline`)
 */
export function buildReference(b: Baseline, cfg: DeviationConfig): Reference {
  const destinations = new Map<string, Set<number>>()
  let destinationCount = 0
  for (const e of b.egress) {
    const where = e.host ?? e.ip
    if (where === undefined || where === '') continue
    let ports = destinations.get(where)
    if (ports === undefined) destinations.set(where, (ports = new Set()))
    if (!ports.has(e.port)) destinationCount++
    ports.add(e.port)
  }
  const tools = new Map<string, ToolReference>()
  for (const t of b.tools) tools.set(t.name, { called: t.calls > 0, keys: new Set(t.argument_keys), keysFull: t.argument_keys.length >= MAX_ARGUMENT_KEYS_PER_TOOL })
  const callRate = rateReference(b.call_rate, cfg)
  const byteRate = rateReference(b.byte_rate, cfg)
  const activeHours = dailyRhythm(b.call_minutes)
  return {
    updated: b.updated, revision: b.revision, events: b.events,
    destinations, destinationCount, dnsNames: new Set(b.dns.map((d) => d.name)), tools,
    ...(callRate && { callRate }), ...(byteRate && { byteRate }),
    dnsPeak: dnsPeaks(b),
    ...(activeHours && { activeHours }),
    truncated: { destinations: b.dropped.destinations > 0, dns_names: b.dropped.dns_names > 0, tools: b.dropped.tools > 0 },
  }
}
