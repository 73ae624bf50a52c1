/**
 * One export sink: follows the aggregator's audit log from its durable cursor and sends each
 * signal that passes its filter, formatted, through its transport, in audit order.
 *
 * Delivery is at-least-once. The cursor (`<dataDir>/export/<sink>.cursor`, JSON `{"seq": N}`) is
 * the audit sequence number of the last signal the receiver acknowledged (or that the filter
 * skipped); it is rewritten atomically (core/atomic-write.ts) after every acknowledged batch, so a
 * crash re-sends at most the batch in flight, and the receiver deduplicates on the signal `id`.
 * A sink without a cursor starts at the beginning of the retained audit history.
 *
 * Failures: a batch the receiver could not take (connection, timeout, 5xx, 429, 401/403) is sent
 * again after a backoff with full jitter (core/backoff.ts), without end: records wait in the audit
 * log, never dropped. A batch refused as invalid (HTTP 4xx) is split in halves until the refused
 * record is alone; that record, like one the receiver refused by item, one the format cannot
 * encode, or one the transport cannot frame, is parked in `<dataDir>/export/<sink>.dead.jsonl`
 * (`{time, sink, seq, id, reason, record}`, fsynced) before the cursor moves past it, and the
 * flow goes on.
 */
import { mkdir, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ExportSinkConfig } from '../../config/export-schema.js'
import { writeFileAtomic } from '../../core/atomic-write.js'
import { Backoff, FULL_JITTER } from '../../core/backoff.js'
import type { Logger } from '../../core/log.js'
import type { ComplianceExportContext, ExportSinkStatus } from '../../core/ports.js'
import type { Signal } from '../../signals/types.js'
import * as formats from './format/index.js'
import type { ExportMetrics } from './metrics.js'
import { RejectedError, TransportError, type ExportRecord, type Transport } from './transport/types.js'

const SEVERITY_RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 }

/** True when the signal passes the sink's filter (every listed condition; an empty filter passes all). */
export function passes(f: ExportSinkConfig['filter'], s: Signal): boolean {
  if (f.kinds && !f.kinds.includes(s.kind)) return false
  if (f.types && !f.types.includes(s.type)) return false
  if (f.min_severity && (SEVERITY_RANK[s.severity] ?? 0) < SEVERITY_RANK[f.min_severity]!) return false
  return true
}

/** RFC 5424 §6.2.1 severity of a signal severity: critical 2, high 3, medium 4, low 5, info 6. */
const SYSLOG_SEVERITY: Record<string, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 }
/** RFC 5424 facility 13, "log audit". */
const FACILITY_LOG_AUDIT = 13
/** SD-ID of the wrapper's structured data: IANA private enterprise number 32473, reserved for documentation (RFC 5612). */
export const WRAP_SD_ID = 'hangar@32473'

/** RFC 5424 §6.3.3 PARAM-VALUE escaping: `"`, `\` and `]` take a backslash. */
function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`)
}

/** RFC 5424 header field: printable US-ASCII only, at most `max` characters, `-` when empty. */
function headerField(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max)
  return s === '' ? '-' : s
}

/**
 * A minimal RFC 5424 message carrying `body` (a cef, leef or jsonl record) as its MSG: PRI from
 * facility 13 (log audit) and the signal's severity, TIMESTAMP the signal's time, APP-NAME
 * `mcp-hangar`, MSGID the signal type, and one SD-ELEMENT `[hangar@32473 id=… provider=… kind=…
 * severity=…]` so a receiver can deduplicate by id without parsing MSG. Used when the format
 * module has no `toSyslog` of its own.
 */
export function wrapSyslog(signal: Signal, body: string, hostname: string): string {
  const pri = FACILITY_LOG_AUDIT * 8 + (SYSLOG_SEVERITY[signal.severity] ?? 6)
  const sd = `[${WRAP_SD_ID} id="${sdValue(signal.id)}" provider="${sdValue(signal.provider)}" kind="${sdValue(signal.kind)}" severity="${sdValue(signal.severity)}"]`
  return `<${pri}>1 ${signal.time} ${headerField(hostname, 255)} mcp-hangar - ${headerField(signal.type, 32)} ${sd} ${body}`
}

type ToSyslog = (signal: Signal, body: string | null, o: formats.FormatOptions) => string

/**
 * The function that turns a signal into the record this sink sends.
 * @throws Error naming `aggregator.export.sinks.<name>.format` when the format is not available.
 */
export function recordMaker(name: string, cfg: ExportSinkConfig, hostname: string): (s: Signal) => string {
  const f = formats.FORMATTERS[cfg.format]
  if (!f) throw new Error(`aggregator.export.sinks.${name}.format: format "${cfg.format}" is not available in this build (available: ${Object.keys(formats.FORMATTERS).join(', ')})`)
  const o: formats.FormatOptions = { hostname }
  if (cfg.transport.type !== 'syslog' || cfg.format === 'syslog') return (s) => f(s, o)
  const toSyslog = (formats as unknown as { toSyslog?: ToSyslog }).toSyslog
  return toSyslog ? (s) => toSyslog(s, f(s, o), o) : (s) => wrapSyslog(s, f(s, o), hostname)
}

/** Reads a cursor file: the sequence number, 0 when there is none. @throws Error naming the file when it is unreadable or malformed. */
export async function readCursor(path: string): Promise<number> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw new Error(`${path}: ${(err as Error).message}`)
  }
  let seq: unknown
  try {
    seq = (JSON.parse(text) as { seq?: unknown }).seq
  } catch { /* reported below */ }
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new Error(`${path}: not a cursor file (expected {"seq": <whole number>})`)
  return seq
}

export interface SinkOptions {
  name: string
  config: ExportSinkConfig
  dataDir: string
  hostname: string
  transport: Transport
  metrics: ExportMetrics
  log: Logger
  /** Jitter source, [0, 1) (tests). */
  random?: () => number
}

interface Queued {
  seq: number
  signal: Signal
}

/** One sink. {@link start} once, {@link stop} once. */
export class ExportSink {
  readonly name: string
  readonly cursorFile: string
  readonly deadFile: string
  readonly #o: SinkOptions
  readonly #make: (s: Signal) => string
  readonly #backoff: Backoff
  #ctx: ComplianceExportContext | undefined
  #cursor = 0
  #queue: Queued[] = []
  #wake: (() => void) | undefined
  #drained: (() => void) | undefined
  #sleep: { timer: NodeJS.Timeout; done: () => void } | undefined
  #unsubscribe: (() => void) | undefined
  #loop: Promise<void> | undefined
  #stopping = false
  #state: ExportSinkStatus['state'] = 'stopped'
  #sent = 0
  #failed = 0
  #dead = 0
  #lastError: string | undefined
  #lastSuccess: string | undefined

  /** @throws Error naming the config path when the format is not available. */
  constructor(o: SinkOptions) {
    this.#o = o
    this.name = o.name
    this.cursorFile = join(o.dataDir, 'export', `${o.name}.cursor`)
    this.deadFile = join(o.dataDir, 'export', `${o.name}.dead.jsonl`)
    this.#make = recordMaker(o.name, o.config, o.hostname)
    this.#backoff = new Backoff({ initialMs: o.config.retry.initial_ms, capMs: o.config.retry.max_ms, jitter: FULL_JITTER }, o.random)
  }

  /** Most signals held in memory ahead of the sender before the audit feed is held back. */
  get #highWater(): number {
    return Math.max(1000, 4 * this.#o.config.batch_max)
  }

  /**
   * Reads the cursor and follows the audit log from it.
   * @throws Error naming the cursor file when it is unreadable (fix or delete it: deleting re-sends the retained history).
   */
  async start(ctx: ComplianceExportContext): Promise<void> {
    this.#ctx = ctx
    await mkdir(join(this.#o.dataDir, 'export'), { recursive: true })
    this.#cursor = await readCursor(this.cursorFile)
    const last = ctx.lastSeq()
    if (this.#cursor > last) {
      this.#o.log.warn({ sink: this.name, cursor: this.#cursor, last_seq: last }, 'export sink: cursor is past the end of the audit log (data dir reset?); following from its end')
      this.#cursor = last
    }
    this.#state = 'running'
    this.#unsubscribe = ctx.subscribe(this.#cursor, (seq, signal) => this.#enqueue(seq, signal as Signal))
    this.#loop = this.#run().catch((err: Error) => {
      this.#state = 'stopped'
      this.#lastError = err.message
      this.#o.log.error({ sink: this.name, err: err.message, stack: err.stack }, 'export sink stopped by an unexpected error; restart the aggregator to resume from its cursor')
    })
  }

  #enqueue(seq: number, signal: Signal): void | Promise<void> {
    this.#queue.push({ seq, signal })
    this.#wake?.()
    if (this.#queue.length < this.#highWater) return
    return new Promise<void>((resolve) => { this.#drained = resolve })
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      if (this.#queue.length === 0) {
        this.#updateLag()
        await new Promise<void>((resolve) => { this.#wake = resolve })
        this.#wake = undefined
        continue
      }
      const take = this.#queue.splice(0, Math.min(this.#queue.length, this.#o.config.batch_max * 4))
      let maxSeq = this.#cursor
      const batch: ExportRecord[] = []
      const signals: Signal[] = []
      const dead: { rec: ExportRecord; reason: string }[] = []
      let used = 0
      for (const q of take) {
        if (batch.length >= this.#o.config.batch_max) break
        used++
        maxSeq = q.seq
        if (!passes(this.#o.config.filter, q.signal)) continue
        let text: string
        try {
          text = this.#make(q.signal)
        } catch (err) {
          dead.push({ rec: { seq: q.seq, id: q.signal.id, text: JSON.stringify(q.signal) }, reason: `format ${this.#o.config.format}: ${(err as Error).message}` })
          continue
        }
        batch.push({ seq: q.seq, id: q.signal.id, text })
        signals.push(q.signal)
      }
      this.#queue.unshift(...take.slice(used))
      if (this.#queue.length < this.#highWater / 2 && this.#drained) {
        const d = this.#drained
        this.#drained = undefined
        d()
      }
      const ok = batch.length === 0 || (await this.#deliver(batch, dead))
      if (!ok) {
        // stopping mid-retry: nothing acknowledged; the records are still after the cursor
        return
      }
      if (!(await this.#commit(dead, maxSeq))) return
    }
  }

  /**
   * Writes the dead letters, then the cursor; a failure of either (disk full, permissions) is
   * logged and retried with the backoff until it succeeds or the sink stops (the batch is then
   * sent again after a restart: at-least-once). False when stopped first.
   */
  async #commit(dead: { rec: ExportRecord; reason: string }[], maxSeq: number): Promise<boolean> {
    let lettered = dead.length === 0
    for (;;) {
      try {
        if (!lettered) {
          await this.#deadLetter(dead)
          lettered = true
        }
        await this.#saveCursor(maxSeq)
        this.#backoff.reset()
        return true
      } catch (err) {
        this.#failure('state', (err as Error).message)
        this.#state = 'retrying'
        this.#o.log.error({ sink: this.name, err: (err as Error).message, file: lettered ? this.cursorFile : this.deadFile }, 'export sink: cannot write its state; retrying')
        if (!(await this.#pause())) return false
      }
    }
  }

  /** Waits the next backoff delay; a stop cuts it short. False when stopping. */
  async #pause(): Promise<boolean> {
    const ms = this.#backoff.next()
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.#sleep = undefined; resolve() }, ms)
      this.#sleep = { timer, done: resolve }
    })
    return !this.#stopping
  }

  /** Sends until the receiver took the batch (or refused parts of it for good). False when stopped first. */
  async #deliver(batch: ExportRecord[], dead: { rec: ExportRecord; reason: string }[]): Promise<boolean> {
    for (;;) {
      if (this.#stopping) return false
      try {
        const r = await this.#o.transport.send(batch)
        for (const x of r.rejected) dead.push({ rec: batch[x.index]!, reason: x.reason })
        const n = batch.length - r.rejected.length
        this.#sent += n
        this.#o.metrics.sent.inc({ sink: this.name }, n)
        this.#backoff.reset()
        this.#state = 'running'
        this.#lastError = undefined
        this.#lastSuccess = new Date().toISOString()
        return true
      } catch (err) {
        if (err instanceof RejectedError) {
          this.#failure('rejected', err.message)
          if (batch.length === 1) {
            dead.push({ rec: batch[0]!, reason: err.message })
            return true
          }
          const mid = Math.ceil(batch.length / 2)
          if (!(await this.#deliver(batch.slice(0, mid), dead))) return false
          return this.#deliver(batch.slice(mid), dead)
        }
        const reason = err instanceof TransportError ? err.reason : 'error'
        this.#failure(reason, (err as Error).message)
        this.#state = 'retrying'
        const ms = this.#backoff.next()
        if (this.#backoff.attempt === 1 || this.#backoff.attempt % 10 === 0)
          this.#o.log.warn({ sink: this.name, reason, err: (err as Error).message, attempt: this.#backoff.attempt, retry_in_ms: ms }, 'export sink: send failed; retrying')
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => { this.#sleep = undefined; resolve() }, ms)
          this.#sleep = { timer, done: resolve }
        })
      }
    }
  }

  #failure(reason: string, message: string): void {
    this.#failed++
    this.#lastError = message
    this.#o.metrics.failed.inc({ sink: this.name, reason })
  }

  async #deadLetter(dead: { rec: ExportRecord; reason: string }[]): Promise<void> {
    const time = new Date().toISOString()
    const lines = dead.map((d) => JSON.stringify({ time, sink: this.name, seq: d.rec.seq, id: d.rec.id, reason: d.reason, record: d.rec.text }) + '\n').join('')
    const fh = await open(this.deadFile, 'a', 0o640)
    try {
      await fh.write(lines)
      await fh.datasync()
    } finally {
      await fh.close()
    }
    this.#dead += dead.length
    this.#o.metrics.deadLettered.inc({ sink: this.name }, dead.length)
    for (const d of dead) this.#o.log.error({ sink: this.name, seq: d.rec.seq, id: d.rec.id, reason: d.reason, file: this.deadFile }, 'export sink: record refused by the receiver; dead-lettered')
  }

  async #saveCursor(seq: number): Promise<void> {
    if (seq <= this.#cursor) return
    await writeFileAtomic(this.cursorFile, JSON.stringify({ seq }) + '\n')
    this.#cursor = seq
    this.#updateLag()
  }

  #updateLag(): void {
    this.#o.metrics.lag.set({ sink: this.name }, this.lag)
  }

  /** Audit sequence numbers after the cursor. */
  get lag(): number {
    return Math.max(0, (this.#ctx?.lastSeq() ?? this.#cursor) - this.#cursor)
  }

  /** The cursor: last acknowledged (or filtered-out) audit sequence number. */
  get cursor(): number {
    return this.#cursor
  }

  /**
   * Formats and sends one signal outside the audit feed (`mcp-hangar export test`); the cursor
   * does not move.
   * @throws Error naming the sink when the receiver did not take it.
   */
  async sendSample(signal: Signal): Promise<void> {
    const rec: ExportRecord = { seq: 0, id: signal.id, text: this.#make(signal) }
    try {
      const r = await this.#o.transport.send([rec])
      if (r.rejected.length) throw new Error(r.rejected[0]!.reason)
    } catch (err) {
      throw new Error(`export sink "${this.name}": the receiver did not take the sample: ${(err as Error).message}`)
    }
  }

  status(): ExportSinkStatus {
    const c = this.#o.config
    return {
      name: this.name, format: c.format, transport: this.#o.transport.name, state: this.#state, cursor: this.#cursor, lag: this.lag,
      sent: this.#sent, failed: this.#failed, dead_lettered: this.#dead,
      ...(this.#lastError !== undefined && { last_error: this.#lastError }), ...(this.#lastSuccess !== undefined && { last_success: this.#lastSuccess }),
    }
  }

  /** Stops after the batch in flight (a backoff wait is cut short), saves the cursor, closes the transport. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#unsubscribe?.()
    this.#wake?.()
    this.#drained?.()
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer)
      this.#sleep.done()
    }
    await this.#loop
    await this.#o.transport.close()
    this.#state = 'stopped'
  }
}

