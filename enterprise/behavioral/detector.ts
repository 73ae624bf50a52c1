/**
 * The runtime deviation detector of one sidecar (docs/deviation.md): it observes the same egress,
 * DNS and MCP decisions as the baseline recorder and compares them with a SNAPSHOT of the
 * provider's baseline (enterprise/behavioral/reference.ts), never with the live recorder — the
 * recorder learns every event, so a deviation compared with it would vanish as it happens.
 *
 * Maturity: nothing is compared until the baseline holds `min_observations` events and its
 * `started` is `learning_window_ms` old; checked at creation and then by the sweep (every second,
 * off the data path): once the events suffice, when the window ends; while they do not, after a
 * minute, then at doubling intervals up to an hour.
 * The snapshot is taken when the baseline matures and again every `refresh_interval_ms` (what the
 * provider did since, deviations included, becomes part of it); a new detector (sidecar start,
 * quarantine release) takes a fresh one.
 *
 * Per decision, once mature: one Set/Map lookup (destination, name, tool), a few integer writes
 * for the per-minute rates. Cached DNS answers never reach it (the forwarder's hot path feeds the
 * recorder only). A deviation is a `behavior_deviation` violation signal, bounded per class and
 * key by enterprise/behavioral/cooldown.ts. The detector never blocks a decision: in `block`
 * mode it signals (`alerted`) like in `alert`; in `quarantine` mode the classes of
 * `quarantine_on` quarantine the provider (`quarantined`).
 */
import type { DeviationClass, DeviationConfig } from '../../config/deviation-schema.js'
import { DEVIATION_SEVERITY } from '../../config/deviation-schema.js'
import type { DeviationContext, DeviationDetector } from '../../core/ports.js'
import { parseBaseline } from '../../policy/baseline-schema.js'
import type { Registry } from 'prom-client'
import { Cooldowns, type Cooldown } from './cooldown.js'
import { deviationMetrics, type DeviationMetrics } from './metrics.js'
import { buildReference, destinationKey, knowsDestination, registrableDomain, type Reference } from './reference.js'

/** How soon an immature baseline is looked at again, ms; doubled after each look while too few events, up to {@link MATURITY_CHECK_MAX_MS}. */
export const MATURITY_CHECK_MS = 60_000
/** The longest wait between two looks at a baseline with too few events, ms (a snapshot costs time in proportion to the baseline). */
export const MATURITY_CHECK_MAX_MS = 3_600_000
/** How often due roll-ups are signalled (and maturity checked) by the timer, ms. */
export const SWEEP_MS = 1000
/** Registrable domains followed per minute for the DNS shape; more share one bucket. */
export const MAX_SHAPE_DOMAINS = 1024
/** Never-seen names remembered per domain per minute. */
export const MAX_SHAPE_NAMES = 4096
/** Argument keys as the baseline keeps them: cut to this many characters. */
const MAX_KEY = 80

const MINUTE = 60_000

/** Where a signal's `destination` comes from. */
type Dest = { host?: string; ip?: string; port?: number; protocol: 'http' | 'https' | 'tcp' | 'udp' | 'dns' }

/** What one deviation says; see {@link DeviationDetectorImpl}. */
interface Found {
  cls: DeviationClass
  key: string
  reason: string
  baseline: unknown
  observed: unknown
  windowMs: number
  destination?: Dest
  tool?: string
  details?: Record<string, unknown>
}

function destProtocol(protocol: string, port: number): Dest['protocol'] {
  if (protocol === 'http' || protocol === 'https' || protocol === 'tcp') return protocol
  return port === 443 ? 'https' : 'tcp'
}

/** See the file comment. Built by enterprise/behavioral/index.ts `createDeviation().create(ctx)`. */
export class DeviationDetectorImpl implements DeviationDetector {
  readonly #ctx: DeviationContext
  readonly #cfg: DeviationConfig
  readonly #now: () => number
  readonly #off: ReadonlySet<DeviationClass>
  /** `new_destination` disabled (read on every egress decision). */
  readonly #offDestination: boolean
  readonly #cooldowns: Cooldowns
  readonly #metrics: DeviationMetrics | undefined
  readonly #timer: NodeJS.Timeout | undefined
  #ref: Reference | undefined
  #nextCheck = 0
  #checkEvery = MATURITY_CHECK_MS
  #refreshAt = 0
  #closed = false
  #callMin = -1
  #calls = 0
  #callFlagged = -1
  #byteMin = -1
  #bytes = 0
  #byteFlagged = -1
  #shapeMin = -1
  readonly #shape = new Map<string, { names: Set<string>; flagged: boolean }>()

  /**
   * @param cfg `sidecar.deviation`, parsed
   * @param timer run the sweep timer (every {@link SWEEP_MS}, unref'd); tests with an injected clock call {@link sweep}
   */
  constructor(ctx: DeviationContext, cfg: DeviationConfig, timer = true) {
    this.#ctx = ctx
    this.#cfg = cfg
    this.#now = ctx.now ?? Date.now
    this.#off = new Set(cfg.disabled)
    this.#offDestination = this.#off.has('new_destination')
    this.#cooldowns = new Cooldowns(cfg.cooldown_ms, cfg.max_signals_per_cooldown)
    this.#metrics = ctx.registry ? deviationMetrics(ctx.registry as Registry) : undefined
    this.#metrics?.mature.set({ provider: ctx.provider }, 0)
    this.#check(this.#now())
    if (timer) {
      this.#timer = setInterval(() => this.sweep(), SWEEP_MS)
      this.#timer.unref()
    }
  }

  /** True once a mature baseline is compared against. */
  get mature(): boolean {
    return this.#ref !== undefined
  }

  /** The snapshot compared against (undefined before maturity). */
  get reference(): Reference | undefined {
    return this.#ref
  }

  // ---- maturity and snapshots --------------------------------------------------------------

  /** Takes a snapshot of the baseline; makes it the reference when mature. Never throws. */
  #check(now: number): void {
    this.#nextCheck = now + this.#checkEvery
    let b
    try {
      b = parseBaseline(this.#ctx.baseline())
    } catch (err) {
      this.#ctx.log.error({ err: (err as Error).message }, 'deviation detection: the baseline cannot be read; nothing is compared')
      return
    }
    const started = Date.parse(b.started)
    const mature = b.events >= this.#cfg.min_observations && now - started >= this.#cfg.learning_window_ms
    if (!mature) {
      if (this.#ref !== undefined) return // a refresh never makes a mature reference immature again
      // Enough events: the window's end is known. Too few: look again later and later.
      if (b.events >= this.#cfg.min_observations) this.#nextCheck = Math.max(this.#nextCheck, started + this.#cfg.learning_window_ms)
      else this.#checkEvery = Math.min(this.#checkEvery * 2, MATURITY_CHECK_MAX_MS)
      return
    }
    const first = this.#ref === undefined
    this.#ref = buildReference(b, this.#cfg)
    this.#refreshAt = this.#cfg.refresh_interval_ms > 0 ? now + this.#cfg.refresh_interval_ms : 0
    this.#metrics?.mature.set({ provider: this.#ctx.provider }, 1)
    this.#ctx.log.info({ revision: b.revision, events: b.events, since: b.started, destinations: b.egress.length, dns_names: b.dns.length, tools: b.tools.length }, first ? 'deviation detection: the baseline is mature and compared against' : 'deviation detection: baseline snapshot refreshed')
  }

  // ---- observations ------------------------------------------------------------------------

  /** @inheritDoc */
  egress(e: { host?: string; ip?: string; port: number; protocol: string; via: string; action: string; failed?: boolean }): void {
    // Known destinations (nearly every decision) return before the clock is read.
    const ref = this.#ref
    if (ref === undefined || this.#offDestination || knowsDestination(ref, e.host, e.ip, e.port)) return
    const key = destinationKey(e.host, e.ip, e.port)
    if (key === undefined) return
    const now = this.#now()
    const where = e.host ?? e.ip
    this.#found(now, {
      cls: 'new_destination', key, reason: `egress to ${where}:${e.port}, a destination the baseline never saw`,
      baseline: 0, observed: 1, windowMs: this.#cfg.cooldown_ms,
      destination: { ...(e.host !== undefined ? { host: e.host } : { ip: e.ip! }), port: e.port, protocol: destProtocol(e.protocol, e.port) },
      details: { known_destinations: ref.destinationCount, via: e.via, decision: e.action, ...(ref.truncated.destinations && { baseline_truncated: true }) },
    })
  }

  /** @inheritDoc */
  egressBytes(k: { host?: string; ip?: string; port: number; protocol: string }, up: number, down: number): void {
    const rate = this.#ref?.byteRate
    if (rate === undefined || this.#off.has('byte_rate')) return
    const now = this.#now()
    const m = Math.floor(now / MINUTE)
    if (m !== this.#byteMin) {
      this.#byteMin = m
      this.#bytes = 0
    }
    this.#bytes += up + down
    if (this.#bytes <= rate.threshold || this.#byteFlagged === m) return
    this.#byteFlagged = m
    const where = k.host ?? k.ip
    this.#found(now, {
      cls: 'byte_rate', key: 'bytes', reason: `${this.#bytes} egress bytes in one minute, above the learned ${this.#cfg.rate_basis} ${rate.basis} × ${this.#cfg.rate_factor} (and the learned maximum ${rate.max})`,
      baseline: rate.basis, observed: this.#bytes, windowMs: MINUTE,
      ...(where !== undefined && { destination: { ...(k.host !== undefined ? { host: k.host } : { ip: k.ip! }), port: k.port, protocol: destProtocol(k.protocol, k.port) } }),
      details: { threshold: rate.threshold, baseline_max: rate.max, basis: this.#cfg.rate_basis, minute: new Date(m * MINUTE).toISOString() },
    })
  }

  /** @inheritDoc */
  dnsQuery(name: string, _qtype: string, action: string): void {
    const ref = this.#ref
    if (ref === undefined || ref.dnsNames.has(name)) return
    const now = this.#now()
    if (!this.#off.has('new_dns_name')) {
      this.#found(now, {
        cls: 'new_dns_name', key: name, reason: `DNS query for ${name}, a name the baseline never saw`,
        baseline: 0, observed: 1, windowMs: this.#cfg.cooldown_ms, destination: { host: name, protocol: 'dns' },
        details: { known_names: ref.dnsNames.size, decision: action, ...(ref.truncated.dns_names && { baseline_truncated: true }) },
      })
    }
    if (!this.#off.has('dns_shape')) this.#dnsShape(ref, name, now)
  }

  /** Never-seen names per registrable domain per minute: the tunnelling signature. */
  #dnsShape(ref: Reference, name: string, now: number): void {
    const m = Math.floor(now / MINUTE)
    if (m !== this.#shapeMin) {
      this.#shapeMin = m
      this.#shape.clear()
    }
    let domain = registrableDomain(name)
    let s = this.#shape.get(domain)
    if (s === undefined) {
      if (this.#shape.size >= MAX_SHAPE_DOMAINS) domain = '*'
      s = this.#shape.get(domain)
      if (s === undefined) this.#shape.set(domain, (s = { names: new Set(), flagged: false }))
    }
    if (s.flagged || s.names.size >= MAX_SHAPE_NAMES) return
    s.names.add(name)
    const peak = ref.dnsPeak.get(domain) ?? 0
    const n = s.names.size
    if (n < this.#cfg.dns_shape_min_names || n <= peak * this.#cfg.rate_factor) return
    s.flagged = true
    this.#found(now, {
      cls: 'dns_shape', key: domain, reason: `${n} never-seen names under ${domain} in one minute (the baseline's peak: ${peak} new names per minute): the DNS tunnelling signature`,
      baseline: peak, observed: n, windowMs: MINUTE, destination: { host: domain, protocol: 'dns' },
      details: { domain, min_names: this.#cfg.dns_shape_min_names, rate_factor: this.#cfg.rate_factor, sample: [...s.names].slice(-5) },
    })
  }

  /** @inheritDoc */
  toolCalled(name: string, _failed: boolean, args: unknown, redactKey: (key: string) => string): void {
    const ref = this.#ref
    if (ref === undefined) return
    const now = this.#now()
    const t = ref.tools.get(name)
    if (t === undefined || !t.called) {
      if (!this.#off.has('new_tool')) {
        this.#found(now, {
          cls: 'new_tool', key: name, tool: name, reason: t ? `call of ${name}, a tool the baseline saw listed but never called` : `call of ${name}, a tool the baseline never saw`,
          baseline: 0, observed: 1, windowMs: this.#cfg.cooldown_ms,
          details: { listed_before: t !== undefined, known_tools: ref.tools.size, ...(ref.truncated.tools && { baseline_truncated: true }) },
        })
      }
    } else if (!t.keysFull && !this.#off.has('new_argument_keys') && args !== null && typeof args === 'object' && !Array.isArray(args)) {
      let fresh: string[] | undefined
      for (const k in args) {
        if (t.keys.has(k)) continue
        const kept = redactKey(k).slice(0, MAX_KEY)
        if (!t.keys.has(kept)) (fresh ??= []).push(kept)
      }
      if (fresh !== undefined) {
        fresh.sort()
        this.#found(now, {
          cls: 'new_argument_keys', key: `${name}|${fresh.join(',')}`, tool: name, reason: `call of ${name} with argument keys the baseline never saw: ${fresh.join(', ')}`,
          baseline: [...t.keys].sort(), observed: fresh, windowMs: this.#cfg.cooldown_ms,
        })
      }
    }
    this.#callRate(ref, now)
    if (ref.activeHours !== undefined && !this.#off.has('off_hours')) {
      const hour = Math.floor(now / 3_600_000) % 24
      if (!ref.activeHours.has(hour)) {
        this.#found(now, {
          cls: 'off_hours', key: `h${hour}`, tool: name, reason: `call of ${name} at ${String(hour).padStart(2, '0')}:00–${String(hour).padStart(2, '0')}:59 UTC, an hour the baseline's daily rhythm has no calls in`,
          baseline: [...ref.activeHours].sort((a, b) => a - b), observed: hour, windowMs: 3_600_000,
        })
      }
    }
  }

  #callRate(ref: Reference, now: number): void {
    const rate = ref.callRate
    if (rate === undefined || this.#off.has('call_rate')) return
    const m = Math.floor(now / MINUTE)
    if (m !== this.#callMin) {
      this.#callMin = m
      this.#calls = 0
    }
    this.#calls++
    if (this.#calls <= rate.threshold || this.#callFlagged === m) return
    this.#callFlagged = m
    this.#found(now, {
      cls: 'call_rate', key: 'calls', reason: `${this.#calls} tool calls in one minute, above the learned ${this.#cfg.rate_basis} ${rate.basis} × ${this.#cfg.rate_factor} (and the learned maximum ${rate.max})`,
      baseline: rate.basis, observed: this.#calls, windowMs: MINUTE,
      details: { threshold: rate.threshold, baseline_max: rate.max, basis: this.#cfg.rate_basis, minute: new Date(m * MINUTE).toISOString() },
    })
  }

  // ---- signals -----------------------------------------------------------------------------

  #quarantines(cls: DeviationClass): boolean {
    return this.#ctx.mode === 'quarantine' && this.#cfg.quarantine_on.includes(cls)
  }

  #found(now: number, f: Found): void {
    this.#metrics?.deviations.inc({ provider: this.#ctx.provider, class: f.cls })
    const quarantine = this.#quarantines(f.cls)
    const hit = this.#cooldowns.hit(f.cls, f.key, now, f.observed, f.baseline)
    if (hit.ended) this.#rollup(hit.ended, now)
    if (hit.outcome === 'signal') {
      const ref = this.#ref!
      this.#ctx.emit({
        kind: 'violation', type: 'behavior_deviation', severity: DEVIATION_SEVERITY[f.cls], action: quarantine ? 'quarantined' : 'alerted',
        enforcement_mode: this.#ctx.mode, reason: f.reason,
        ...(f.destination && { destination: f.destination }), ...(f.tool !== undefined && { tool: f.tool }),
        details: {
          class: f.cls, key: f.key, baseline: f.baseline, observed: f.observed, window_ms: f.windowMs, ...f.details,
          baseline_revision: ref.revision, baseline_updated: ref.updated, cooldown_ms: this.#cfg.cooldown_ms,
        },
      })
    }
    if (quarantine) this.#ctx.quarantine(`behavior deviation (${f.cls}): ${f.reason}`)
  }

  #rollup(c: Cooldown, now: number): void {
    const what = c.key === '*' ? `${c.keys} more keys` : c.key
    this.#ctx.emit({
      kind: 'violation', type: 'behavior_deviation', severity: DEVIATION_SEVERITY[c.cls], action: this.#quarantines(c.cls) ? 'quarantined' : 'alerted',
      enforcement_mode: this.#ctx.mode,
      reason: `${c.suppressed} more ${c.cls} deviations (${what}) within the cooldown, counted instead of signalled`,
      details: {
        class: c.cls, key: c.key, rollup: true, suppressed: c.suppressed, ...(c.key === '*' && { keys: c.keys }),
        baseline: c.baseline, observed: c.observed, window_ms: Math.max(0, Math.min(now, c.until) - c.opened),
        first_seen: new Date(c.opened).toISOString(), last_seen: new Date(c.last).toISOString(),
      },
    })
  }

  /** Signals the roll-ups of the cooldowns that ended, and checks maturity when due. Never throws. */
  sweep(): void {
    const now = this.#now()
    try {
      if (this.#ref === undefined ? now >= this.#nextCheck : this.#refreshAt !== 0 && now >= this.#refreshAt) this.#check(now)
      for (const c of this.#cooldowns.sweep(now)) this.#rollup(c, now)
    } catch (err) {
      this.#ctx.log.error({ err: (err as Error).message }, 'deviation detection: sweep failed')
    }
  }

  /** @inheritDoc */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    const now = this.#now()
    for (const c of this.#cooldowns.sweep(now, true)) this.#rollup(c, now)
  }
}
