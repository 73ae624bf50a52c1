/**
 * The baseline recorder (docs/baseline.md §Recording): one per sidecar, fed by the same decision points that emit
 * signals (egress/signals.ts, the DNS forwarder, proxy/inspect/), but before any sampling — a
 * signal is sampled once per observation window, the baseline counts every event.
 *
 * In-memory aggregation only: maps keyed by destination, name and tool, each holding counters
 * and first/last times. Bounded by {@link BaselineLimits}: once a map is full, events for new keys
 * are counted in `dropped` and the keys already learnt keep counting (first seen wins, so a burst
 * of junk names cannot push out what the provider really needs). Strings are cut to the schema's
 * lengths. No I/O: persistence is profiles/baseline/store.ts; the admin endpoint, heartbeats and
 * `profile suggest` read {@link BaselineRecorder.snapshot}.
 *
 * Cost per event: one Map lookup by a short string key and a few integer writes; the DNS hot
 * path (cached answers) holds a {@link DnsHandle} and does no lookup at all.
 */
import { classifyAddress } from '../../policy/address-class.js'
import { parseIpLiteral } from '../../policy/ip.js'
import type { BaselineObserver, DnsHandle, EgressEvent, EgressKey } from '../../policy/baseline-observer.js'
import type { EgressProtocol } from '../../policy/egress-types.js'
import type { EnforcementMode, SignalAction } from '../../signals/types.js'
import {
  BASELINE_SCHEMA, DEFAULT_BASELINE_LIMITS, MAX_ADDRESSES_PER_DESTINATION, MAX_ANSWER_TYPES, MAX_ARGUMENT_KEYS_PER_TOOL,
  type Baseline, type BaselineLimits, type ByteRate, type CallRate,
} from '../../policy/baseline-schema.js'

export type { DnsHandle, EgressEvent, EgressKey } from '../../policy/baseline-observer.js'

interface Destination {
  host?: string
  ip?: string
  port: number
  protocol: EgressProtocol
  via: Record<string, number>
  actions: Record<string, number>
  content?: Record<string, number>
  errors: number
  addresses: Array<{ ip: string; class: string }>
  count: number
  up: number
  down: number
  first: number
  last: number
}

interface Tool {
  name: string
  listed: number
  calls: number
  errors: number
  refused: number
  keys: string[]
  /** Raw keys already merged (memory only: a secret-looking raw key is never persisted). */
  seenRaw: Set<string>
  digests: string[]
  first: number
  last: number
}

/** Options of {@link BaselineRecorder}. */
export interface BaselineRecorderOptions {
  provider: string
  /** The provider's enforcement mode (written into the baseline). */
  mode: EnforcementMode
  /** Size bounds; missing fields take {@link DEFAULT_BASELINE_LIMITS}. */
  limits?: Partial<BaselineLimits>
  /** ms since epoch. Default `Date.now`. */
  clock?: () => number
  /** A baseline read back from disk: recording continues from it (same provider only). */
  restore?: Baseline
}

const MAX_HOST = 253
const MAX_TOOL_NAME = 256
const MAX_KEY = 80
const MAX_DIGESTS = 8

/**
 * At most `n` characters, as a string of its own: a slice of a huge string would keep the whole
 * original alive in V8 (a sliced string points at its parent), so what the recorder keeps is
 * bounded by the limits, not by the sizes of the requests it saw.
 */
function cut(s: string, n: number): string {
  return s.length > n ? Buffer.from(s.slice(0, n), 'utf16le').toString('utf16le') : s
}

function bump(r: Record<string, number>, key: string, max: number): void {
  const v = r[key]
  if (v !== undefined) r[key] = v + 1
  else if (Object.keys(r).length < max) r[key] = 1
}

/** Nearest-rank percentile of an ascending array (≥ 1 element). */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/** min, median, p95, max of per-minute counts (zeros for none). */
function rateOf(counts: readonly number[]): CallRate {
  const n = counts.length
  if (n === 0) return { active_minutes: 0, min: 0, median: 0, p95: 0, max: 0 }
  const s = [...counts].sort((a, b) => a - b)
  return { active_minutes: n, min: s[0]!, median: percentile(s, 0.5), p95: percentile(s, 0.95), max: s[n - 1]! }
}

/** Aggregates one provider's behaviour; see the file comment. */
export class BaselineRecorder implements BaselineObserver {
  readonly provider: string
  readonly limits: BaselineLimits
  mode: EnforcementMode
  readonly #clock: () => number
  readonly #egress = new Map<string, Destination>()
  readonly #dns = new Map<string, DnsHandle>()
  readonly #tools = new Map<string, Tool>()
  readonly #dropped = { destinations: 0, dns_names: 0, tools: 0 }
  #minutes: number[] = []
  #minuteCounts: number[] = []
  #byteMinutes: number[] = []
  #byteCounts: number[] = []
  #started = 0
  #updated = 0
  #revision = 0
  #events = 0

  constructor(o: BaselineRecorderOptions) {
    this.provider = o.provider
    this.mode = o.mode
    this.limits = { ...DEFAULT_BASELINE_LIMITS, ...o.limits }
    this.#clock = o.clock ?? Date.now
    if (o.restore && o.restore.provider === o.provider) this.#restore(o.restore)
  }

  /** Grows on every recorded event; equal revisions mean an unchanged baseline. */
  get revision(): number {
    return this.#revision
  }

  #touch(now: number): void {
    if (this.#started === 0) this.#started = now
    this.#updated = now
    this.#revision++
    this.#events++
  }

  // ---- egress --------------------------------------------------------------------------------

  #key(e: EgressKey): string | undefined {
    const where = e.host ?? e.ip
    return where === undefined || where === '' ? undefined : `${where}|${e.port}|${e.protocol}`
  }

  /** One decision on an egress attempt (every tunnel, proxied request or forwarded connection). */
  egress(e: EgressEvent): void {
    const key = this.#key(e)
    if (key === undefined) return
    const now = this.#clock()
    let d = this.#egress.get(key)
    if (d === undefined) {
      if (this.#egress.size >= this.limits.max_destinations) {
        this.#dropped.destinations++
        this.#touch(now)
        return
      }
      d = {
        ...(e.host !== undefined ? { host: cut(e.host, MAX_HOST) } : { ip: cut(e.ip!, 45) }),
        port: e.port, protocol: e.protocol, via: {}, actions: {}, errors: 0, addresses: [], count: 0, up: 0, down: 0, first: now, last: now,
      }
      this.#egress.set(key, d)
    }
    d.count++
    d.last = now
    bump(d.via, e.via, 8)
    bump(d.actions, e.action, 4)
    if (e.failed) d.errors++
    else if (e.ip !== undefined && (e.host !== undefined || d.addresses.length === 0)) this.#address(d, e.ip)
    this.#touch(now)
  }

  #address(d: Destination, ip: string): void {
    if (d.addresses.length >= MAX_ADDRESSES_PER_DESTINATION) return
    for (const a of d.addresses) if (a.ip === ip) return
    const parsed = parseIpLiteral(ip)
    d.addresses.push({ ip, class: parsed ? classifyAddress(parsed) : 'malformed' })
  }

  /** What a CONNECT tunnel carried, from its first bytes (`tls`, `http`, `other`). */
  egressContent(k: EgressKey, kind: 'tls' | 'http' | 'other'): void {
    const key = this.#key(k)
    const d = key === undefined ? undefined : this.#egress.get(key)
    if (!d) return
    bump((d.content ??= {}), kind, 3)
    this.#touch(this.#clock())
  }

  /** Bytes of a closed tunnel or forward: `up` sent by the provider, `down` received. */
  egressBytes(k: EgressKey, up: number, down: number): void {
    const key = this.#key(k)
    const d = key === undefined ? undefined : this.#egress.get(key)
    if (!d) return
    d.up += up
    d.down += down
    const now = this.#clock()
    if (up + down > 0) this.#addMinute(this.#byteMinutes, this.#byteCounts, now, up + down)
    this.#touch(now)
  }

  // ---- DNS -----------------------------------------------------------------------------------

  /**
   * One query for `name` (normalised) of type `qtype` (`A`, `AAAA`, …) with its outcome.
   * @returns the name's handle for {@link dnsHit}, or undefined when the name did not fit
   */
  dnsQuery(name: string, qtype: string, action: SignalAction): DnsHandle | undefined {
    const now = this.#clock()
    const h = this.#dnsHandle(name, now)
    if (h) this.#countQuery(h, qtype, action, now)
    this.#touch(now)
    return h
  }

  /**
   * `n` repeats of an allowed query answered from the cache (the forwarder's hot path, batched
   * once per event-loop turn). `now`: ms since epoch.
   */
  dnsHit(h: DnsHandle, qtype: string, now: number, n = 1): void {
    this.#countQuery(h, qtype, 'allowed', now, n)
    if (this.#started === 0) this.#started = now
    if (now > this.#updated) this.#updated = now
    this.#revision += n
    this.#events += n
  }

  #countQuery(h: DnsHandle, qtype: string, action: string, now: number, n = 1): void {
    h.count += n
    if (now > h.last) h.last = now
    const q = h.qtypes[qtype]
    if (q !== undefined) h.qtypes[qtype] = q + n
    else if (Object.keys(h.qtypes).length < 64) h.qtypes[qtype] = n
    const a = h.actions[action]
    if (a !== undefined) h.actions[action] = a + n
    else h.actions[action] = n
  }

  #dnsHandle(name: string, now: number): DnsHandle | undefined {
    let h = this.#dns.get(name)
    if (h === undefined) {
      if (this.#dns.size >= this.limits.max_dns_names) {
        this.#dropped.dns_names++
        return undefined
      }
      h = { name: cut(name, MAX_HOST), count: 0, qtypes: {}, actions: {}, answers: {}, first: now, last: now }
      this.#dns.set(name, h)
    }
    return h
  }

  /** What an answer for `name` held (see `DnsRecord.answers`); a name never queried is ignored. */
  dnsAnswer(name: string, types: readonly string[]): void {
    const h = this.#dns.get(name)
    if (!h) return
    for (const t of types) bump(h.answers, t, MAX_ANSWER_TYPES)
    this.#touch(this.#clock())
  }

  // ---- tools ---------------------------------------------------------------------------------

  #tool(raw: string, now: number): Tool | undefined {
    // Keyed by the kept (cut) name, as after a restore: one record per name as the baseline shows it.
    const name = cut(raw, MAX_TOOL_NAME)
    let t = this.#tools.get(name)
    if (t === undefined) {
      if (this.#tools.size >= this.limits.max_tools) {
        this.#dropped.tools++
        return undefined
      }
      t = { name, listed: 0, calls: 0, errors: 0, refused: 0, keys: [], seenRaw: new Set(), digests: [], first: now, last: now }
      this.#tools.set(name, t)
    }
    t.last = now
    return t
  }

  /** The provider listed `name` with definition digest `digest` (`sha256:<hex>`, policy/tool-digest.ts). */
  toolListed(name: string, digest: string): void {
    const now = this.#clock()
    const t = this.#tool(name, now)
    if (t) {
      t.listed++
      if (t.digests.at(-1) !== digest && /^sha256:[0-9a-f]{64}$/.test(digest)) {
        t.digests = t.digests.filter((d) => d !== digest)
        t.digests.push(digest)
        if (t.digests.length > MAX_DIGESTS) t.digests.shift()
      }
    }
    this.#touch(now)
  }

  /**
   * A call forwarded to the provider finished.
   * @param failed a JSON-RPC error, `isError: true`, a timeout or no answer
   * @param args the call's `arguments`; only their keys are kept
   * @param redactKey what a raw key becomes in the baseline (the ingress redacts secret-looking keys)
   */
  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void {
    const now = this.#clock()
    const t = this.#tool(name, now)
    if (t) {
      t.calls++
      if (failed) t.errors++
      if (args !== null && typeof args === 'object' && !Array.isArray(args)) {
        for (const k in args) {
          // A long raw key is remembered by its head and length only (never the whole string).
          const seen = k.length <= MAX_KEY ? k : `${cut(k, MAX_KEY)}\u0000${k.length}`
          if (t.seenRaw.has(seen)) continue
          if (t.seenRaw.size >= MAX_ARGUMENT_KEYS_PER_TOOL * 2) break
          t.seenRaw.add(seen)
          const kept = cut(redactKey(k), MAX_KEY)
          if (t.keys.length < MAX_ARGUMENT_KEYS_PER_TOOL && !t.keys.includes(kept)) t.keys.push(kept)
        }
      }
      this.#minute(now)
    }
    this.#touch(now)
  }

  /**
   * A call the sidecar refused (policy, schema, secrets, drift, quarantine, limits). Counted for
   * tools already listed or called only: refused calls to made-up names must not fill the map.
   */
  toolRefused(name: string): void {
    const t = this.#tools.get(cut(name, MAX_TOOL_NAME))
    if (!t) return
    const now = this.#clock()
    t.refused++
    t.last = now
    this.#touch(now)
  }

  #minute(now: number): void {
    this.#addMinute(this.#minutes, this.#minuteCounts, now, 1)
  }

  /** Adds `n` to the one-minute bucket of `now` (parallel arrays, oldest first, at most `rate_minutes`). */
  #addMinute(minutes: number[], counts: number[], now: number, n: number): void {
    const m = Math.floor(now / 60_000)
    const last = minutes.length - 1
    // The clock stepping back counts in the newest minute rather than reorder.
    if (last >= 0 && m <= minutes[last]!) {
      counts[last]! += n
      return
    }
    minutes.push(m)
    counts.push(n)
    if (minutes.length > this.limits.rate_minutes) {
      minutes.shift()
      counts.shift()
    }
  }

  // ---- output --------------------------------------------------------------------------------

  /** Call rate over the kept minutes with at least one call (zeros when there were none). */
  callRate(): CallRate {
    return rateOf(this.#minuteCounts)
  }

  /** Egress bytes per minute over the kept minutes with bytes (zeros when there were none). */
  byteRate(): ByteRate {
    return rateOf(this.#byteCounts)
  }

  /** The whole baseline as a `hangar.baseline/v1` document (a fresh object each call). */
  snapshot(): Baseline {
    const iso = (ms: number) => new Date(ms).toISOString()
    const now = this.#clock()
    return {
      schema: BASELINE_SCHEMA,
      provider: this.provider,
      enforcement_mode: this.mode,
      started: iso(this.#started || now),
      updated: iso(this.#updated || now),
      revision: this.#revision,
      events: this.#events,
      limits: { ...this.limits },
      dropped: { ...this.#dropped },
      egress: [...this.#egress.values()].map((d) => ({
        ...(d.host !== undefined ? { host: d.host } : { ip: d.ip! }),
        port: d.port, protocol: d.protocol, via: { ...d.via }, actions: { ...d.actions },
        ...(d.content && { content: { ...d.content } }),
        errors: d.errors, addresses: d.addresses.map((a) => ({ ...a })), count: d.count, bytes_up: d.up, bytes_down: d.down,
        first_seen: iso(d.first), last_seen: iso(d.last),
      })),
      dns: [...this.#dns.values()].map((h) => ({
        name: h.name, qtypes: { ...h.qtypes }, actions: { ...h.actions }, answers: { ...h.answers }, count: h.count, first_seen: iso(h.first), last_seen: iso(h.last),
      })),
      tools: [...this.#tools.values()].map((t) => ({
        name: t.name, listed: t.listed, calls: t.calls, errors: t.errors, refused: t.refused,
        argument_keys: [...t.keys].sort(), digests: [...t.digests], first_seen: iso(t.first), last_seen: iso(t.last),
      })),
      call_rate: this.callRate(),
      call_minutes: this.#minutes.map((m, i) => [m, this.#minuteCounts[i]!] as [number, number]),
      byte_rate: this.byteRate(),
      byte_minutes: this.#byteMinutes.map((m, i) => [m, this.#byteCounts[i]!] as [number, number]),
    }
  }

  #restore(b: Baseline): void {
    const ms = (s: string) => Date.parse(s)
    this.#started = ms(b.started)
    this.#updated = ms(b.updated)
    this.#revision = b.revision
    this.#events = b.events
    this.#dropped.destinations = b.dropped.destinations
    this.#dropped.dns_names = b.dropped.dns_names
    this.#dropped.tools = b.dropped.tools
    for (const r of b.egress) {
      const key = this.#key(r)
      if (key === undefined) continue
      if (this.#egress.size >= this.limits.max_destinations) {
        this.#dropped.destinations += r.count
        continue
      }
      this.#egress.set(key, {
        ...(r.host !== undefined ? { host: r.host } : { ip: r.ip! }),
        port: r.port, protocol: r.protocol, via: { ...r.via }, actions: { ...r.actions }, ...(r.content && { content: { ...r.content } }),
        errors: r.errors, addresses: r.addresses.map((a) => ({ ...a })), count: r.count, up: r.bytes_up, down: r.bytes_down,
        first: ms(r.first_seen), last: ms(r.last_seen),
      })
    }
    for (const r of b.dns) {
      if (this.#dns.size >= this.limits.max_dns_names) {
        this.#dropped.dns_names += r.count
        continue
      }
      this.#dns.set(r.name, { name: r.name, count: r.count, qtypes: { ...r.qtypes }, actions: { ...r.actions }, answers: { ...r.answers }, first: ms(r.first_seen), last: ms(r.last_seen) })
    }
    for (const r of b.tools) {
      if (this.#tools.size >= this.limits.max_tools) {
        this.#dropped.tools += r.calls + r.listed
        continue
      }
      this.#tools.set(r.name, {
        name: r.name, listed: r.listed, calls: r.calls, errors: r.errors, refused: r.refused, keys: [...r.argument_keys], seenRaw: new Set(),
        digests: [...r.digests], first: ms(r.first_seen), last: ms(r.last_seen),
      })
    }
    const minutes = b.call_minutes.slice(-this.limits.rate_minutes)
    this.#minutes = minutes.map((m) => m[0])
    this.#minuteCounts = minutes.map((m) => m[1])
    const bytes = (b.byte_minutes ?? []).slice(-this.limits.rate_minutes)
    this.#byteMinutes = bytes.map((m) => m[0])
    this.#byteCounts = bytes.map((m) => m[1])
  }
}
