/**
 * The aggregator implementation of {@link SignalSink}: every signal is validated, written to the
 * durable spool (signals/spool.ts) and shipped in order (signals/shipper-post.ts) to
 * `POST <url>/v1/signals`. Delivery is at-least-once; the aggregator's id dedup makes the store
 * exactly-once.
 *
 * - `emit()` validates (signals/validate.ts; an invalid signal is logged, counted as
 *   `signal_delivery_failures_total{reason="invalid"}` and not shipped) and appends to the spool:
 *   one synchronous write, so a SIGKILL right after the decision loses nothing. It never throws.
 * - Spool write errors (disk full, I/O error; signals/shipper-queue.ts): logged once per episode,
 *   counted per failed write (`reason="disk"`), and the signal goes to a bounded memory queue
 *   (`memoryQueueMax`, default 10 000; overflow drops the oldest, counted and reported). While
 *   that queue is not empty, new signals queue behind it, so order holds; the loop moves the
 *   queue back into the spool as soon as a write succeeds, and ships straight from memory while
 *   the spool stays broken.
 * - One loop ships batches strictly in spool order, one request in flight: a batch goes when it
 *   has `maxBatchSignals` (1000) signals or `maxBatchBytes` (1 MiB, the aggregator's 413 limit)
 *   of them, or `lingerMs` (1 s) after its oldest signal was emitted, or at once on flush/close.
 * - Answers (shipper-policy.ts): 2xx → acknowledged (the aggregator's per-signal `rejected` are
 *   logged and counted, not retried); 413 → halve the batch and retry at once; 401/403 → logged
 *   as a wrong signal token and retried with backoff (an operator may fix the config); 5xx,
 *   408, 429, network errors and timeouts → retried with full-jitter exponential backoff
 *   (100 ms doubling to 30 s, `Retry-After` honoured up to the cap).
 * - Losses are never silent: every drop (spool full, torn or corrupt spool line, memory queue
 *   overflow) counts `signals_dropped_total{reason}` and emits a `signals_dropped` signal.
 */
import type { ShipperMetrics } from '../core/metrics.js'
import type { Logger } from '../core/log.js'
import { buildSignal } from './build.js'
import type { SignalSink } from './sink.js'
import { Spool } from './spool.js'
import type { SpoolBatch } from './spool-types.js'
import { resolveShipperOptions, type AggregatorShipperOptions, type ResolvedShipperOptions } from './shipper-options.js'
import { shipperRetryDelay, type DeliveryOutcome } from './shipper-policy.js'
import { ENVELOPE_BYTES, SignalPoster, signalTarget } from './shipper-post.js'
import { SpoolWithFallback, type MemoryQueue } from './shipper-queue.js'
import { FlushWaiters, LoopSleep } from './shipper-waits.js'
import type { Signal } from './types.js'
import { validateSignal } from './validate.js'

export type { AggregatorShipperOptions } from './shipper-options.js'

/** A batch being shipped: from the spool (acknowledged by cursor) or from the memory queue. */
interface Batch {
  lines: string[]
  signals: Signal[]
  spool: SpoolBatch | undefined
}

const DROP_EXPLANATION: Record<string, string> = {
  spool_full: 'the signal spool was full and its oldest segment was dropped',
  corrupt: 'spooled lines were unreadable',
  torn: 'the last spooled line was torn by a crash or power cut',
  memory_full: 'the spool could not be written and the memory queue overflowed',
}

/** Ships signals to the aggregator through a durable spool (see the top of this file). */
export class AggregatorShipper implements SignalSink {
  readonly #o: ResolvedShipperOptions
  readonly #spool: Spool
  readonly #poster: SignalPoster
  readonly #log: Logger
  readonly #m: ShipperMetrics | undefined
  readonly #store: SpoolWithFallback
  readonly #mem: MemoryQueue
  /** Signals ever put in (spool found on open, emitted, and the shipper's own); settled = in − waiting. */
  #in = 0
  #dueAt: number | undefined
  #limit: number
  #attempt = 0
  #failing: string | undefined
  readonly #sleeper = new LoopSleep()
  readonly #flushWaiters = new FlushWaiters()
  #closing = false
  #stopped = false
  #spoolClosed = false
  #closeDone: Promise<void> | undefined
  #dropDepth = 0
  #closedDropLogged = false
  readonly #loop: Promise<void>

  /**
   * Opens the spool (recovering it after a crash) and starts the ship loop.
   * @throws RangeError for a URL that is not http(s) or bad numeric options; SpoolError
   *   (`HANGAR_SPOOL_IO`) when the spool directory cannot be opened
   */
  constructor(opts: AggregatorShipperOptions) {
    this.#o = resolveShipperOptions(opts)
    const target = signalTarget(opts.url)
    this.#log = opts.log
    this.#m = opts.metrics
    this.#limit = this.#o.maxBatchSignals
    this.#spool = Spool.open(opts.spoolDir, { ...opts.spool, log: opts.log })
    this.#store = new SpoolWithFallback(this.#spool, this.#o.memoryQueueMax, {
      onDrop: (reason, count, oldest, newest, countMetric) => this.#reportDrop(reason, count, oldest, newest, countMetric),
      log: opts.log,
      ...(opts.metrics && { metrics: opts.metrics }),
    })
    this.#mem = this.#store.memory
    this.#poster = new SignalPoster({ target, token: opts.token, requestTimeoutMs: this.#o.requestTimeoutMs, ...(opts.dispatcher && { dispatcher: opts.dispatcher }) })
    this.#in = this.#spool.pending
    if (this.#spool.pending > 0) this.#dueAt = this.#o.clock()
    for (const d of this.#spool.recovered) this.#reportDrop(d.reason, d.count, d.oldest_time, d.newest_time)
    this.#gauge()
    this.#loop = this.#run()
  }

  /** Signals waiting for delivery (spool and memory queue). */
  get pending(): number {
    return this.#spool.pending + this.#mem.length
  }

  /** Validates and spools one signal (see the top of this file). Never throws, never waits. */
  emit(signal: Signal): void {
    try {
      if (this.#spoolClosed) {
        this.#m?.signalsDropped.inc({ reason: 'closed' })
        if (!this.#closedDropLogged) this.#log.error({ type: signal?.type, id: signal?.id }, 'signal emitted after the shipper closed: dropped')
        this.#closedDropLogged = true
        return
      }
      const v = validateSignal(signal)
      if (!v.ok) {
        this.#m?.signalDeliveryFailures.inc({ reason: 'invalid' })
        this.#log.warn({ type: (signal as { type?: unknown } | null)?.type, id: (signal as { id?: unknown } | null)?.id, error: v.error }, 'invalid signal not shipped')
        return
      }
      this.#enqueue(v.signal)
    } catch (err) {
      this.#log.error({ err }, 'signal shipper: emit failed')
    }
  }

  /**
   * {@link SignalSink.flush}: {@link flushWithin} without its result.
   * @param timeoutMs how long to wait, ms (default 5000)
   */
  async flush(timeoutMs = 5000): Promise<void> {
    await this.flushWithin(timeoutMs)
  }

  /**
   * Waits until every signal emitted before the call has left the spool (acknowledged by the
   * aggregator, or dropped and reported), bypassing the linger time.
   * @param timeoutMs how long to wait, ms (default 5000)
   * @returns true when all were settled, false when the timeout passed first
   */
  flushWithin(timeoutMs = 5000): Promise<boolean> {
    const target = this.#in
    if (this.#settled() >= target) return Promise.resolve(true)
    const p = this.#flushWaiters.add(target, timeoutMs)
    this.#sleeper.wake(true)
    return p
  }

  /**
   * Final flush (at most `closeTimeoutMs`), then stops the loop (aborting a request in flight),
   * moves the memory queue into the spool if it can, fsyncs and closes the spool, and closes
   * the HTTP pool. Whatever was not delivered stays in the spool for the next start.
   */
  close(): Promise<void> {
    this.#closeDone ??= this.#close()
    return this.#closeDone
  }

  async #close(): Promise<void> {
    this.#closing = true
    this.#sleeper.wake(false)
    const delivered = await this.flushWithin(this.#o.closeTimeoutMs)
    this.#stopped = true
    this.#poster.abort()
    this.#sleeper.wake(false)
    await this.#loop
    this.#drainMemory()
    if (this.#mem.length > 0) {
      this.#m?.signalsDropped.inc({ reason: 'shutdown' }, this.#mem.length)
      this.#log.error({ dropped: this.#mem.length }, 'signal shipper closed while the spool could not be written: signals in memory lost')
      this.#mem.clear()
    }
    if (this.#mem.drops) this.#log.error({ dropped: this.#mem.drops.count }, 'signal shipper closed before reporting memory-queue drops')
    this.#spoolClosed = true
    this.#flushWaiters.failAll()
    this.#gauge()
    const left = this.#spool.pending
    await this.#spool.close()
    await this.#poster.close()
    this.#log.info({ delivered, spooled: left }, 'signal shipper closed')
  }

  #settled(): number {
    return this.#in - this.#spool.pending - this.#mem.length
  }

  #gauge(): void {
    this.#m?.signalsSpooled.set(this.#spool.pending + this.#mem.length)
  }

  /** Puts a valid signal behind everything already waiting. */
  #enqueue(s: Signal): void {
    this.#in++
    this.#store.add(s)
    this.#gauge()
    this.#dueAt ??= this.#o.clock() + this.#o.lingerMs
    const w = this.#sleeper.current
    if (w?.onWork && (!w.timed || this.#full())) this.#sleeper.wake(true)
  }

  #full(): boolean {
    return this.pending >= this.#limit || this.#spool.pendingBytes >= this.#o.maxBatchBytes
  }

  /** Moves the memory queue into the spool, in order, until a write fails (signals/shipper-queue.ts). */
  #drainMemory(): void {
    if (this.#spoolClosed) return
    if (this.#store.drain()) this.#gauge()
  }

  /** Counts a loss and emits a `signals_dropped` signal for it (never silently). */
  #reportDrop(reason: string, count: number, oldest?: string, newest?: string, countMetric = true): void {
    if (countMetric) this.#m?.signalsDropped.inc({ reason }, count)
    this.#log.warn({ reason, count, oldest_time: oldest, newest_time: newest }, 'signals dropped')
    if (this.#dropDepth > 2) return // a drop caused by reporting a drop caused by reporting a drop: the metric and log suffice
    this.#dropDepth++
    try {
      this.#enqueue(buildSignal(this.#o.origin, {
        kind: 'lifecycle', type: 'signals_dropped', action: 'allowed', enforcement_mode: this.#o.mode,
        reason: `${count} signal(s) dropped: ${DROP_EXPLANATION[reason] ?? reason}`,
        details: { count, reason, ...(oldest && { oldest_time: oldest }), ...(newest && { newest_time: newest }) },
      }, new Date(this.#o.clock())))
    } finally {
      this.#dropDepth--
    }
  }

  #resolveFlushes(): void {
    this.#flushWaiters.settle(this.#settled())
  }

  /** ms until the next batch is due (0 = now). */
  #dueIn(): number {
    if (this.#closing || this.#flushWaiters.size > 0 || this.#full() || this.#dueAt === undefined) return 0
    return Math.max(0, this.#dueAt - this.#o.clock())
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#step()
      } catch (err) {
        this.#log.error({ err }, 'signal shipper loop error')
        await this.#sleeper.sleep(shipperRetryDelay(this.#attempt++, this.#o.backoff, this.#o.random), false)
      }
    }
  }

  async #step(): Promise<void> {
    this.#drainMemory()
    this.#resolveFlushes()
    if (this.pending === 0) {
      this.#dueAt = undefined
      await this.#sleeper.sleep(Infinity, true)
      return
    }
    const wait = this.#dueIn()
    if (wait > 0) {
      await this.#sleeper.sleep(wait, true)
      return
    }
    const batch = await this.#nextBatch()
    if (batch === undefined) return
    if (batch.signals.length === 0) {
      // Only unparsable lines (already reported): step past them.
      if (batch.spool) await this.#spool.ack(batch.spool.end)
      this.#gauge()
      return
    }
    const outcome = await this.#poster.post(batch.lines)
    if (this.#stopped && outcome.kind !== 'ack') return
    await this.#apply(batch, outcome)
  }

  /** The next batch: from the spool while it holds anything (it is older), else from memory. */
  async #nextBatch(): Promise<Batch | undefined> {
    const maxLines = this.#o.maxBatchBytes - ENVELOPE_BYTES
    if (this.#spool.pending > 0) {
      await this.#spool.sync()
      this.#dueAt = undefined
      const b = this.#spool.readBatch(this.#limit, maxLines)
      if (b.more) this.#dueAt = this.#o.clock()
      if (b.corrupt) this.#reportDrop('corrupt', b.corrupt.count)
      if (b.signals.length === 0 && !b.corrupt && b.end.segment === this.#spool.cursor.segment && b.end.offset === this.#spool.cursor.offset) {
        // Nothing readable although pending says otherwise: never spin.
        this.#log.error({ pending: this.#spool.pending }, 'signal spool: pending signals not readable')
        await this.#sleeper.sleep(this.#o.lingerMs, false)
        return undefined
      }
      return { lines: b.lines, signals: b.signals, spool: b }
    }
    const m = this.#mem.batch(this.#limit, maxLines)
    this.#dueAt = m.more ? this.#o.clock() : undefined
    return { lines: m.lines, signals: m.signals, spool: undefined }
  }

  async #apply(batch: Batch, outcome: DeliveryOutcome): Promise<void> {
    const n = batch.signals.length
    if (outcome.kind === 'ack') {
      if (batch.spool) await this.#spool.ack(batch.spool.end)
      else this.#mem.removeSent(batch.signals)
      this.#m?.signalsShipped.inc(n - outcome.rejected.length)
      if (outcome.rejected.length) this.#m?.signalDeliveryFailures.inc({ reason: 'rejected' }, outcome.rejected.length)
      for (const r of outcome.rejected) {
        const s = batch.signals[r.index]
        this.#log.warn({ index: r.index, id: s?.id, type: s?.type, error: r.error }, 'aggregator rejected a signal (not retried)')
      }
      if (!outcome.wellFormed) this.#log.warn({ status: '2xx' }, 'aggregator acknowledged a batch with an unexpected body')
      if (this.#failing) this.#log.info({ attempts: this.#attempt }, 'signals delivered again')
      this.#failing = undefined
      this.#attempt = 0
      this.#limit = Math.min(this.#o.maxBatchSignals, this.#limit * 2)
      this.#gauge()
      this.#resolveFlushes()
      return
    }
    this.#m?.signalDeliveryFailures.inc({ reason: outcome.reason })
    if (outcome.kind === 'split') {
      this.#limit = Math.max(1, Math.floor(n / 2))
      this.#log.warn({ signals: n, next: this.#limit }, `${outcome.message}; retrying in smaller batches`)
      return
    }
    if (this.#failing !== outcome.reason) {
      const level = outcome.reason === 'auth' || outcome.reason === 'bad_request' || outcome.reason === 'too_large' ? 'error' : 'warn'
      this.#log[level]({ reason: outcome.reason, pending: this.pending }, `signal delivery failed, retrying with backoff: ${outcome.message}`)
      this.#failing = outcome.reason
    }
    const delay = Math.min(this.#o.backoff.capMs, Math.max(shipperRetryDelay(this.#attempt++, this.#o.backoff, this.#o.random), outcome.retryAfterMs ?? 0))
    this.#log.debug({ reason: outcome.reason, delay_ms: delay, attempt: this.#attempt }, 'signal delivery retry scheduled')
    await this.#sleeper.sleep(delay, false)
  }
}
