/**
 * The sidecar's signal rate limit: a {@link SignalSink} in front of the real one (the aggregator
 * shipper or JSON lines) that bounds what a flood of signals from one provider costs the audit
 * trail, without ever skipping a decision (the decision, its enforcement and its metrics happened
 * before `emit`; only the one-signal-per-decision record is folded).
 *
 * A signal passes when both hold, else it is folded into the next roll-up:
 * 1. the provider's token bucket has a token (`ratePerS` refill, `burst` size; the rule of
 *    RFC 2697's committed bucket, one token per signal), and
 * 2. its key, (type, subject), has passed fewer than `perKey` signals in the current window
 *    (`intervalMs`). The subject is the destination (host or IP, port, protocol) for egress and
 *    DNS signals, the tool for tool signals, nothing for the rest. At most
 *    {@link MAX_TRACKED_KEYS} keys are tracked per window; a key beyond them is held to the bucket only.
 *
 * Never folded: {@link UNLIMITED_TYPES} (lifecycle of the sidecar, quarantine switches and the
 * audit trail's own accounting), so the records that say what happened to the others always go.
 *
 * Every `intervalMs`, and on {@link RateLimitedSink.flush} / {@link RateLimitedSink.close}, the
 * folded signals since the last roll-up go out as one `signals_suppressed` signal
 * (signals/suppressed.ts): `total`, counts `by_type`, the `maxEntries` most frequent keys as
 * `entries` with `count`, `first_seen`, `last_seen`, and the long tail as `other {count, keys}`.
 * So a flood costs at most `burst + ratePerS × intervalMs / 1000 + 1` records per window, and
 * the roll-ups account for every folded signal (their totals add up to
 * `signals_suppressed_total`). A roll-up's severity is the highest of the signals it folded (at
 * least `medium`); its `isolation` is theirs (the sidecar marks signals before they get here).
 *
 * Times: `first_seen`/`last_seen` come from a monotonic clock anchored to the wall clock at the
 * start of each window, and a window never starts before the previous one ended, so a wall-clock
 * step backwards cannot produce a `last_seen` before `first_seen` or overlapping windows.
 * Losses: with `stateFile`, the pending roll-up is saved every {@link STATE_SAVE_MS} while it
 * changes, and the next start emits it (`cause: recovered`) under the id it was going to have, so
 * a roll-up emitted just before a crash and recovered after it is one record at the aggregator.
 * A SIGKILL loses at most the folds of the last {@link STATE_SAVE_MS}; a graceful stop loses none.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Counter } from 'prom-client'
import { v7 as uuidv7 } from 'uuid'
import type { Logger } from '../core/log.js'
import { buildSignal, type SignalOrigin } from './build.js'
import type { SignalSink } from './sink.js'
import { MAX_ROLLUP_ENTRIES, MAX_ROLLUP_SUBJECT, MAX_ROLLUP_TYPES, type SuppressedDetails, type SuppressedEntry } from './suppressed.js'
import type { EnforcementMode, Isolation, Severity, Signal } from './types.js'
import { validateSignal } from './validate.js'

/** Types that always pass: sidecar lifecycle, quarantine switches, the audit trail's own accounting. */
export const UNLIMITED_TYPES: ReadonlySet<string> = new Set(['sidecar_started', 'sidecar_stopped', 'host_access_granted', 'quarantine_triggered', 'quarantine_released', 'signals_dropped', 'signals_suppressed'])
/** Keys whose per-window pass count is tracked (memory bound: ≈ 150 bytes each). */
export const MAX_TRACKED_KEYS = 10_000
/** Bytes of `details` a roll-up aims below (the validator's limit is 64 KiB). */
const ROLLUP_DETAILS_BUDGET = 60_000

/** The limits (config `sidecar.signal_limits`, see config/schema.ts for defaults). */
export interface SignalLimits {
  /** Steady signals per second the provider may emit (token refill rate). */
  ratePerS: number
  /** Signals the provider may emit at once (bucket size). */
  burst: number
  /** Signals per (type, subject) per window that pass; the rest are folded. */
  perKey: number
  /** Window and roll-up period, ms. */
  intervalMs: number
  /** Keys listed one by one in a roll-up (1–{@link MAX_ROLLUP_ENTRIES}); the rest are `other`. */
  maxEntries: number
}

/** Defaults: 50 signals/s, bursts of 500, 10 per (type, subject) per 10 s window, 100 entries. */
export const DEFAULT_SIGNAL_LIMITS: SignalLimits = { ratePerS: 50, burst: 500, perKey: 10, intervalMs: 10_000, maxEntries: 100 }

/** Options of {@link RateLimitedSink}. */
export interface RateLimitedSinkOptions {
  /** Where passing signals and roll-ups go. Closed by {@link RateLimitedSink.close}. */
  inner: SignalSink
  /** `provider` and `sidecar_id` of the roll-ups. */
  origin: SignalOrigin
  /** `enforcement_mode` of a roll-up when it folded nothing else to take it from. */
  mode: EnforcementMode
  limits?: Partial<SignalLimits>
  log: Logger
  /** `signals_suppressed_total{provider,type}`. */
  suppressed?: Counter<'provider' | 'type'>
  /** Wall clock, ms since the epoch (tests). */
  now?: () => number
  /** Monotonic clock, ms (tests). */
  mono?: () => number
  /** False: no timer, roll-ups only on {@link RateLimitedSink.rollUp}, flush and close (tests). */
  timer?: boolean
  /**
   * Where the pending roll-up is saved (every {@link STATE_SAVE_MS} while it changes) so that a
   * killed sidecar's next start emits it (`cause: recovered`, same id). Unset: memory only.
   */
  stateFile?: string
}

/** How often a changed pending roll-up is saved to the state file, ms. */
export const STATE_SAVE_MS = 200

interface Folded {
  entry: SuppressedEntry
  firstMs: number
  lastMs: number
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 }

/** The rate limit in front of a sink (rules at the top of this file). */
export class RateLimitedSink implements SignalSink {
  readonly limits: SignalLimits
  readonly #o: RateLimitedSinkOptions
  readonly #now: () => number
  readonly #mono: () => number
  #tokens: number
  #refilledAt: number
  readonly #passed = new Map<string, number>()
  // The current window's folds.
  #folded = new Map<string, Folded>()
  #byType = new Map<string, number>()
  #other = { count: 0, keys: new Set<string>(), firstMs: 0, lastMs: 0 }
  #total = 0
  #severity: Severity = 'info'
  #mode: EnforcementMode
  #isolation: Isolation | undefined
  #windowWall: number
  #windowMono: number
  #rollups = 0
  #suppressedAll = 0
  #timer: NodeJS.Timeout | undefined
  #saver: NodeJS.Timeout | undefined
  #windowId = uuidv7()
  #dirty = false
  #closed = false

  /** @throws RangeError when a limit is out of range (rate/burst/perKey/interval ≥ 1, maxEntries 1–200). */
  constructor(o: RateLimitedSinkOptions) {
    this.#o = o
    this.limits = { ...DEFAULT_SIGNAL_LIMITS, ...o.limits }
    const l = this.limits
    for (const k of ['ratePerS', 'burst', 'perKey', 'intervalMs'] as const) if (!(Number.isFinite(l[k]) && l[k] >= 1)) throw new RangeError(`signal limit ${k} must be ≥ 1, got ${l[k]}`)
    if (!(Number.isInteger(l.maxEntries) && l.maxEntries >= 1 && l.maxEntries <= MAX_ROLLUP_ENTRIES)) throw new RangeError(`signal limit maxEntries must be 1–${MAX_ROLLUP_ENTRIES}, got ${l.maxEntries}`)
    this.#now = o.now ?? Date.now
    this.#mono = o.mono ?? (() => performance.now())
    this.#tokens = l.burst
    this.#refilledAt = this.#mono()
    this.#mode = o.mode
    this.#windowWall = this.#now()
    this.#windowMono = this.#mono()
    if (o.stateFile) {
      try {
        mkdirSync(dirname(o.stateFile), { recursive: true })
      } catch (err) {
        o.log.error({ err, file: o.stateFile }, 'signal rate limit: cannot create the directory of its state file')
      }
    }
    this.#recover()
    if (o.timer !== false) {
      this.#timer = setInterval(() => this.rollUp('interval'), l.intervalMs)
      this.#timer.unref()
      if (o.stateFile) {
        this.#saver = setInterval(() => this.#saveState(), STATE_SAVE_MS)
        this.#saver.unref()
      }
    }
  }

  /** Saves the pending roll-up now (the timer does it every {@link STATE_SAVE_MS}; tests). */
  saveState(): void {
    this.#saveState()
  }

  /** Signals folded since start (all roll-ups emitted and pending). */
  get suppressedTotal(): number {
    return this.#suppressedAll
  }

  /** Roll-ups emitted since start. */
  get rollups(): number {
    return this.#rollups
  }

  /** Passes the signal on, or folds it into the pending roll-up. Never throws. */
  emit(signal: Signal): void {
    if (this.#closed || UNLIMITED_TYPES.has(signal.type)) return this.#o.inner.emit(signal)
    try {
      const key = keyOf(signal)
      const m = this.#mono()
      this.#refill(m)
      const passed = this.#passed.get(key)
      const keyOk = passed === undefined || passed < this.limits.perKey
      if (keyOk && this.#tokens >= 1) {
        this.#tokens -= 1
        if (passed !== undefined) this.#passed.set(key, passed + 1)
        else if (this.#passed.size < MAX_TRACKED_KEYS) this.#passed.set(key, 1)
        return this.#o.inner.emit(signal)
      }
      this.#fold(signal, key, this.#windowWall + Math.max(0, m - this.#windowMono))
    } catch (err) {
      this.#o.log.error({ err }, 'signal rate limit failed; passing the signal on')
      this.#o.inner.emit(signal)
    }
  }

  #refill(m: number): void {
    const dt = m - this.#refilledAt
    if (dt <= 0) return
    this.#tokens = Math.min(this.limits.burst, this.#tokens + (dt * this.limits.ratePerS) / 1000)
    this.#refilledAt = m
  }

  #fold(s: Signal, key: string, atMs: number): void {
    this.#dirty = true
    this.#total++
    this.#suppressedAll++
    this.#o.suppressed?.inc({ provider: this.#o.origin.provider, type: s.type })
    if (SEVERITY_RANK[s.severity] > SEVERITY_RANK[this.#severity]) this.#severity = s.severity
    this.#mode = s.enforcement_mode
    if (s.isolation) this.#isolation = s.isolation
    const typeKey = this.#byType.has(s.type) || this.#byType.size < MAX_ROLLUP_TYPES - 1 ? s.type : 'other'
    this.#byType.set(typeKey, (this.#byType.get(typeKey) ?? 0) + 1)
    const f = this.#folded.get(key)
    if (f) {
      f.entry.count++
      f.lastMs = atMs
      return
    }
    if (this.#folded.size < MAX_TRACKED_KEYS) {
      this.#folded.set(key, { entry: entryOf(s), firstMs: atMs, lastMs: atMs })
      return
    }
    this.#addOther(key, 1, atMs, atMs)
  }

  #addOther(key: string, n: number, firstMs: number, lastMs: number): void {
    const o = this.#other
    if (o.count === 0 || firstMs < o.firstMs) o.firstMs = firstMs
    if (o.count === 0 || lastMs > o.lastMs) o.lastMs = lastMs
    o.count += n
    if (o.keys.size < MAX_TRACKED_KEYS) o.keys.add(key)
  }

  /**
   * Emits the pending roll-up (when anything was folded) and starts a new one. With `cause`
   * `interval` (the timer, every `intervalMs`) it also ends the per-key window; a flush or close
   * does not. `cause` goes into the roll-up.
   */
  rollUp(cause: SuppressedDetails['cause'] = 'flush'): void {
    const endMono = this.#mono()
    const end = this.#windowWall + Math.max(0, endMono - this.#windowMono)
    try {
      if (this.#total > 0) this.#emitRollup(end, cause)
    } catch (err) {
      this.#o.log.error({ err }, 'signal rate limit: roll-up failed')
    }
    // Only the timer ends a per-key window: a flush must not hand every key a fresh allowance.
    if (cause === 'interval') this.#passed.clear()
    this.#folded = new Map()
    this.#byType = new Map()
    this.#other = { count: 0, keys: new Set(), firstMs: 0, lastMs: 0 }
    this.#total = 0
    this.#severity = 'info'
    this.#dirty = false
    this.#windowId = uuidv7()
    // The next window starts no earlier than this one ended, whatever the wall clock says.
    this.#windowWall = Math.max(this.#now(), end)
    this.#windowMono = endMono
  }

  /** The pending roll-up's details and reason sentence, without changing any state. */
  #snapshot(endMs: number, cause: SuppressedDetails['cause']): { details: SuppressedDetails; reason: string } {
    const sorted = [...this.#folded.values()].sort((a, b) => b.entry.count - a.entry.count)
    const listed = sorted.slice(0, this.limits.maxEntries)
    const other = { count: this.#other.count, keys: this.#other.keys.size, firstMs: this.#other.firstMs, lastMs: this.#other.lastMs }
    const toOther = (f: Folded): void => {
      if (other.count === 0 || f.firstMs < other.firstMs) other.firstMs = f.firstMs
      if (other.count === 0 || f.lastMs > other.lastMs) other.lastMs = f.lastMs
      other.count += f.entry.count
      other.keys = Math.min(MAX_TRACKED_KEYS, other.keys + 1)
    }
    for (const f of sorted.slice(this.limits.maxEntries)) toOther(f)
    const iso = (ms: number): string => new Date(ms).toISOString()
    const build = (): SuppressedDetails => ({
      window_start: iso(this.#windowWall),
      window_end: iso(endMs),
      total: this.#total,
      by_type: Object.fromEntries(this.#byType),
      entries: listed.map((f) => ({ ...f.entry, first_seen: iso(f.firstMs), last_seen: iso(f.lastMs) })),
      other: { count: other.count, keys: other.keys, ...(other.count > 0 && { first_seen: iso(other.firstMs), last_seen: iso(other.lastMs) }) },
      rollup_seq: this.#rollups,
      cause,
    })
    let details = build()
    // Long subjects can make many entries too big for one signal: move the tail into `other`.
    while (listed.length > 0 && Buffer.byteLength(JSON.stringify(details)) > ROLLUP_DETAILS_BUDGET) {
      toOther(listed.pop()!)
      details = build()
    }
    const top = listed.slice(0, 3).map((f) => `${f.entry.type} ${subjectText(f.entry)} ×${f.entry.count}`).join(', ')
    const reason = `${this.#total} signals were folded by the signal rate limit between ${details.window_start} and ${details.window_end}${top ? ` (most: ${top})` : ''}; every decision was enforced`
    return { details, reason }
  }

  #rollupSignal(endMs: number, cause: SuppressedDetails['cause']): Signal {
    const { details, reason } = this.#snapshot(endMs, cause)
    const s = buildSignal(this.#o.origin, {
      kind: 'lifecycle', type: 'signals_suppressed', action: 'allowed', enforcement_mode: this.#mode,
      severity: SEVERITY_RANK[this.#severity] < SEVERITY_RANK.medium ? 'medium' : this.#severity,
      reason, details, ...(this.#isolation && { isolation: this.#isolation }),
    }, new Date(Math.max(endMs, this.#now())))
    // The id was chosen when the window opened, so a roll-up recovered after a crash (state file)
    // and the same roll-up emitted just before it are one record at the aggregator (id dedup).
    return { ...s, id: this.#windowId }
  }

  #emitRollup(endMs: number, cause: SuppressedDetails['cause']): void {
    const s = this.#rollupSignal(endMs, cause)
    const details = s.details as SuppressedDetails
    this.#rollups++
    this.#o.log.warn({ provider: this.#o.origin.provider, total: this.#total, by_type: details.by_type, other: details.other.count }, 'signals folded by the signal rate limit')
    this.#o.inner.emit(s)
    this.#dropState()
  }

  /** Writes the pending roll-up to the state file (atomic replace, no fsync: it must survive SIGKILL, not power loss). */
  #saveState(): void {
    if (!this.#o.stateFile || !this.#dirty) return
    this.#dirty = false
    try {
      const endMs = this.#windowWall + Math.max(0, this.#mono() - this.#windowMono)
      const tmp = this.#o.stateFile + '.tmp'
      writeFileSync(tmp, JSON.stringify(this.#rollupSignal(endMs, 'recovered')))
      renameSync(tmp, this.#o.stateFile)
    } catch (err) {
      this.#o.log.error({ err, file: this.#o.stateFile }, 'signal rate limit: could not save the pending roll-up')
    }
  }

  #dropState(): void {
    if (!this.#o.stateFile) return
    try {
      rmSync(this.#o.stateFile, { force: true })
    } catch (err) {
      this.#o.log.error({ err, file: this.#o.stateFile }, 'signal rate limit: could not remove the saved roll-up')
    }
  }

  /** Emits the roll-up a previous run saved and did not emit (it was killed), if any. */
  #recover(): void {
    const file = this.#o.stateFile
    if (!file) return
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return // none saved
    }
    const v = (() => {
      try {
        return validateSignal(JSON.parse(text))
      } catch (err) {
        return { ok: false as const, error: (err as Error).message }
      }
    })()
    if (v.ok && v.signal.type === 'signals_suppressed') {
      this.#o.log.warn({ file, total: (v.signal.details as SuppressedDetails).total }, 'signal rate limit: emitting the roll-up of a run that did not stop cleanly')
      this.#o.inner.emit(v.signal)
    } else this.#o.log.error({ file, error: v.ok ? 'not a signals_suppressed signal' : v.error }, 'signal rate limit: unreadable saved roll-up discarded')
    this.#dropState()
  }

  /** Emits the pending roll-up, then flushes the inner sink. */
  async flush(): Promise<void> {
    this.rollUp('flush')
    await this.#o.inner.flush()
  }

  /** Emits the pending roll-up, stops the timer, closes the inner sink. Later signals pass unlimited. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.rollUp('close')
      this.#closed = true
      if (this.#timer) clearInterval(this.#timer)
      if (this.#saver) clearInterval(this.#saver)
    }
    await this.#o.inner.close()
  }
}

const cut = (s: string): string => (s.length > MAX_ROLLUP_SUBJECT ? s.slice(0, MAX_ROLLUP_SUBJECT) : s)

/** The (type, subject) key the per-key limit and the roll-up entries use (subjects cut to {@link MAX_ROLLUP_SUBJECT} characters). */
export function keyOf(s: Signal): string {
  const d = s.destination
  if (d) return `${s.type}|d|${cut(d.host ?? '')}|${cut(d.ip ?? '')}|${d.port ?? ''}|${d.protocol}`
  if (s.tool !== undefined) return `${s.type}|t|${cut(s.tool)}`
  return `${s.type}|`
}

function entryOf(s: Signal): SuppressedEntry {
  const d = s.destination
  const destination = d && {
    ...(d.host !== undefined && { host: cut(d.host) }),
    ...(d.ip !== undefined && { ip: cut(d.ip) }),
    ...(d.port !== undefined && { port: d.port }),
    protocol: d.protocol,
  }
  return { type: s.type, ...(destination && { destination }), ...(!d && s.tool !== undefined && { tool: cut(s.tool) }), count: 1, first_seen: '', last_seen: '' }
}

function subjectText(e: SuppressedEntry): string {
  const d = e.destination
  if (d) return `${d.host ?? d.ip ?? '?'}${d.port !== undefined ? ':' + d.port : ''}/${d.protocol}`
  return e.tool ?? '-'
}
