/**
 * The aggregator implementation of {@link SignalSink} (docs/signals.md §Delivery): every signal is
 * validated, written to the durable spool (signals/spool.ts) and shipped in order to
 * `POST <url>/v1/signals`. Delivery is at-least-once; the aggregator's id dedup makes the store
 * exactly-once.
 *
 * - `emit()` validates (signals/validate.ts; an invalid signal is logged, counted as
 *   `signal_delivery_failures_total{reason="invalid"}` and not shipped) and appends to the spool:
 *   one synchronous write, so a SIGKILL right after the decision loses nothing. It never throws.
 * - Spool write errors (disk full, I/O error): logged once per episode, counted per failed write
 *   (`reason="disk"`), and the signal goes to a bounded memory queue (`memoryQueueMax`, default
 *   10 000; overflow drops the oldest, counted and reported). While that queue is not empty,
 *   new signals queue behind it, so order holds; the loop moves the queue back into the spool as
 *   soon as a write succeeds, and ships straight from memory while the spool stays broken.
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
import { Pool, type Dispatcher } from 'undici'
import type { ShipperMetrics } from '../core/metrics.js'
import type { Logger } from '../core/log.js'
import { buildSignal, type SignalOrigin } from './build.js'
import type { SignalSink } from './sink.js'
import { Spool, type SpoolBatch, type SpoolDrop, type SpoolOptions } from './spool.js'
import { classifyError, classifyResponse, DEFAULT_BACKOFF, type BackoffConfig, type DeliveryOutcome, shipperRetryDelay } from './shipper-policy.js'
import type { EnforcementMode, Signal } from './types.js'
import { validateSignal } from './validate.js'

/** Options of {@link AggregatorShipper}. */
export interface AggregatorShipperOptions {
  /** The aggregator's base URL (`aggregator.url`, http or https, may carry a path prefix); batches go to `<url>/v1/signals`. */
  url: string
  /** Bearer token sent with every batch (one of `aggregator.signal_tokens`); undefined = none (an open aggregator). */
  token?: string
  /** Spool directory (e.g. `<sidecar.data_dir>/spool`); one shipper per directory. */
  spoolDir: string
  /** Spool segment size, bound and fsync interval (signals/spool.ts defaults: 4 MiB, 64 MiB, 1000 ms). */
  spool?: Omit<SpoolOptions, 'log'>
  /** `provider` and `sidecar_id` of the `signals_dropped` signals the shipper emits itself. */
  origin: SignalOrigin
  /** `enforcement_mode` of those signals (the provider's mode). */
  mode: EnforcementMode
  log: Logger
  metrics?: ShipperMetrics
  /** Most signals per POST. Default 1000 (docs/signals.md §Delivery). */
  maxBatchSignals?: number
  /** Most bytes per POST body. Default 1 MiB (the aggregator answers 413 above). */
  maxBatchBytes?: number
  /** A batch leaves at the latest this long after its oldest signal was emitted, ms. Default 1000. */
  lingerMs?: number
  /** Whole-request timeout (connect, send, response body), ms. Default 10 000. */
  requestTimeoutMs?: number
  /** Retry backoff, ms. Default 100 doubling to 30 000, full jitter. */
  backoff?: Partial<BackoffConfig>
  /** Signals kept in memory while the spool cannot be written. Default 10 000. */
  memoryQueueMax?: number
  /** Bound of the final flush in {@link AggregatorShipper.close}, ms. Default 5000. */
  closeTimeoutMs?: number
  /** Uniform random in [0, 1) for the jitter. Default Math.random. */
  random?: () => number
  /** Wall clock, ms. Default Date.now. */
  clock?: () => number
  /** HTTP client (tests, custom TLS). Default: an undici Pool of one connection to the URL's origin, closed by close(). */
  dispatcher?: Dispatcher
}

type ResolvedOptions = AggregatorShipperOptions &
  Required<Pick<AggregatorShipperOptions, 'maxBatchSignals' | 'maxBatchBytes' | 'lingerMs' | 'requestTimeoutMs' | 'memoryQueueMax' | 'closeTimeoutMs' | 'random' | 'clock'>>

/** Signals lost in memory while the spool was broken, reported once the queue has room again. */
interface MemoryDrops {
  count: number
  oldest?: string
  newest?: string
}

interface Waiter {
  onWork: boolean
  resolve: () => void
  timer: NodeJS.Timeout | undefined
}

interface FlushWaiter {
  target: number
  resolve: (ok: boolean) => void
  timer: NodeJS.Timeout
}

/** A batch being shipped: from the spool (acknowledged by cursor) or from the memory queue. */
interface Batch {
  lines: string[]
  signals: Signal[]
  spool: SpoolBatch | undefined
}

const ENVELOPE_BYTES = '{"signals":[]}'.length
const RESPONSE_BODY_MAX = 64 * 1024
const DROP_EXPLANATION: Record<string, string> = {
  spool_full: 'the signal spool was full and its oldest segment was dropped',
  corrupt: 'spooled lines were unreadable',
  torn: 'the last spooled line was torn by a crash or power cut',
  memory_full: 'the spool could not be written and the memory queue overflowed',
}

/** Ships signals to the aggregator through a durable spool (see the top of this file). */
export class AggregatorShipper implements SignalSink {
  readonly #o: ResolvedOptions
  readonly #backoff: BackoffConfig
  readonly #spool: Spool
  readonly #pool: Dispatcher
  readonly #ownPool: boolean
  readonly #origin: string
  readonly #path: string
  readonly #log: Logger
  readonly #m: ShipperMetrics | undefined
  readonly #mem: Signal[] = []
  #memDrops: MemoryDrops | undefined
  #spoolFailing = false
  /** Signals ever put in (spool found on open, emitted, and the shipper's own); settled = in − waiting. */
  #in = 0
  #dueAt: number | undefined
  #limit: number
  #attempt = 0
  #failing: string | undefined
  #waiter: Waiter | undefined
  #flushWaiters: FlushWaiter[] = []
  #inflight: AbortController | undefined
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
    this.#o = {
      maxBatchSignals: 1000, maxBatchBytes: 1024 * 1024, lingerMs: 1000, requestTimeoutMs: 10_000, memoryQueueMax: 10_000, closeTimeoutMs: 5000,
      random: Math.random, clock: Date.now,
      ...stripUndefined(opts),
    } as ResolvedOptions
    for (const k of ['maxBatchSignals', 'maxBatchBytes', 'memoryQueueMax'] as const) {
      if (!Number.isInteger(this.#o[k]) || this.#o[k] < 1) throw new RangeError(`shipper ${k} must be a positive integer, got ${this.#o[k]}`)
    }
    if (this.#o.maxBatchBytes <= ENVELOPE_BYTES) throw new RangeError(`shipper maxBatchBytes must exceed ${ENVELOPE_BYTES}`)
    this.#backoff = { ...DEFAULT_BACKOFF, ...stripUndefined(opts.backoff ?? {}) }
    const url = new URL(opts.url)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`aggregator url must be http or https: ${opts.url}`)
    this.#origin = url.origin
    this.#path = `${url.pathname.replace(/\/+$/, '')}/v1/signals`
    this.#log = opts.log
    this.#m = opts.metrics
    this.#limit = this.#o.maxBatchSignals
    this.#spool = Spool.open(opts.spoolDir, { ...opts.spool, log: opts.log })
    this.#ownPool = !opts.dispatcher
    this.#pool = opts.dispatcher ?? new Pool(this.#origin, {
      connections: 1,
      pipelining: 1,
      connectTimeout: Math.min(this.#o.requestTimeoutMs, 10_000),
      headersTimeout: this.#o.requestTimeoutMs,
      bodyTimeout: this.#o.requestTimeoutMs,
      keepAliveTimeout: 30_000,
    })
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
    return new Promise((resolve) => {
      const w: FlushWaiter = {
        target,
        resolve,
        timer: setTimeout(() => {
          this.#flushWaiters = this.#flushWaiters.filter((x) => x !== w)
          resolve(false)
        }, timeoutMs),
      }
      this.#flushWaiters.push(w)
      this.#wake(true)
    })
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
    this.#wake(false)
    const delivered = await this.flushWithin(this.#o.closeTimeoutMs)
    this.#stopped = true
    this.#inflight?.abort()
    this.#wake(false)
    await this.#loop
    this.#drainMemory()
    if (this.#mem.length > 0) {
      this.#m?.signalsDropped.inc({ reason: 'shutdown' }, this.#mem.length)
      this.#log.error({ dropped: this.#mem.length }, 'signal shipper closed while the spool could not be written: signals in memory lost')
      this.#mem.length = 0
    }
    if (this.#memDrops) this.#log.error({ dropped: this.#memDrops.count }, 'signal shipper closed before reporting memory-queue drops')
    this.#spoolClosed = true
    for (const w of this.#flushWaiters.splice(0)) {
      clearTimeout(w.timer)
      w.resolve(false)
    }
    this.#gauge()
    const left = this.#spool.pending
    await this.#spool.close()
    if (this.#ownPool) await this.#pool.close().catch(() => this.#pool.destroy())
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
    if (this.#mem.length > 0 || this.#spoolFailing) this.#pushMemory(s)
    else {
      let drop: SpoolDrop | undefined
      try {
        drop = this.#spool.append(s)
      } catch (err) {
        this.#diskFailed(err)
        this.#pushMemory(s)
      }
      if (drop) this.#reportDrop(drop.reason, drop.count, drop.oldest_time, drop.newest_time)
    }
    this.#gauge()
    this.#dueAt ??= this.#o.clock() + this.#o.lingerMs
    const w = this.#waiter
    if (w?.onWork && (w.timer === undefined || this.#full())) this.#wake(true)
  }

  #full(): boolean {
    return this.pending >= this.#limit || this.#spool.pendingBytes >= this.#o.maxBatchBytes
  }

  #diskFailed(err: unknown): void {
    this.#m?.signalDeliveryFailures.inc({ reason: 'disk' })
    if (!this.#spoolFailing) {
      this.#log.error({ err, max: this.#o.memoryQueueMax }, 'signal spool write failed: keeping signals in memory until it works again')
    }
    this.#spoolFailing = true
  }

  #pushMemory(s: Signal): void {
    if (this.#mem.length >= this.#o.memoryQueueMax) {
      const lost = this.#mem.shift() as Signal
      this.#m?.signalsDropped.inc({ reason: 'memory_full' })
      if (!this.#memDrops) {
        this.#memDrops = { count: 0 }
        this.#log.error({ max: this.#o.memoryQueueMax }, 'signal memory queue full (spool not writable): dropping the oldest signals')
      }
      this.#memDrops.count++
      this.#memDrops.oldest ??= lost.time
      this.#memDrops.newest = lost.time
    }
    this.#mem.push(s)
  }

  /** Moves the memory queue into the spool, in order, until a write fails. */
  #drainMemory(): void {
    if (this.#spoolClosed) return
    if (this.#mem.length > 0) {
      while (this.#mem.length > 0) {
        let drop: SpoolDrop | undefined
        try {
          drop = this.#spool.append(this.#mem[0] as Signal)
        } catch (err) {
          this.#diskFailed(err)
          return
        }
        this.#mem.shift()
        if (drop) this.#reportDrop(drop.reason, drop.count, drop.oldest_time, drop.newest_time)
      }
      this.#gauge()
    }
    if (this.#spoolFailing) {
      this.#spoolFailing = false
      this.#log.info('signal spool writable again')
    }
    const d = this.#memDrops
    if (d && this.#mem.length < this.#o.memoryQueueMax) {
      this.#memDrops = undefined
      this.#reportDrop('memory_full', d.count, d.oldest, d.newest, false)
    }
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
    if (!this.#flushWaiters.length) return
    const settled = this.#settled()
    this.#flushWaiters = this.#flushWaiters.filter((w) => {
      if (settled < w.target) return true
      clearTimeout(w.timer)
      w.resolve(true)
      return false
    })
  }

  /** Wakes the loop: from a wait for work (`work`), or from any wait including backoff (`!work`). */
  #wake(work: boolean): void {
    const w = this.#waiter
    if (!w || (work && !w.onWork)) return
    this.#waiter = undefined
    if (w.timer) clearTimeout(w.timer)
    w.resolve()
  }

  /** Sleeps `ms` (Infinity: until woken); `onWork`: new signals, flush and close wake it, else only close. */
  #sleep(ms: number, onWork: boolean): Promise<void> {
    return new Promise((resolve) => {
      const w: Waiter = { onWork, resolve, timer: undefined }
      if (Number.isFinite(ms)) w.timer = setTimeout(() => this.#wake(false), ms)
      this.#waiter = w
    })
  }

  /** ms until the next batch is due (0 = now). */
  #dueIn(): number {
    if (this.#closing || this.#flushWaiters.length > 0 || this.#full() || this.#dueAt === undefined) return 0
    return Math.max(0, this.#dueAt - this.#o.clock())
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#step()
      } catch (err) {
        this.#log.error({ err }, 'signal shipper loop error')
        await this.#sleep(shipperRetryDelay(this.#attempt++, this.#backoff, this.#o.random), false)
      }
    }
  }

  async #step(): Promise<void> {
    this.#drainMemory()
    this.#resolveFlushes()
    if (this.pending === 0) {
      this.#dueAt = undefined
      await this.#sleep(Infinity, true)
      return
    }
    const wait = this.#dueIn()
    if (wait > 0) {
      await this.#sleep(wait, true)
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
    const outcome = await this.#post(batch.lines)
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
        await this.#sleep(this.#o.lingerMs, false)
        return undefined
      }
      return { lines: b.lines, signals: b.signals, spool: b }
    }
    const lines: string[] = []
    const signals: Signal[] = []
    let bytes = 0
    for (const s of this.#mem) {
      if (signals.length >= this.#limit) break
      const line = JSON.stringify(s)
      const n = Buffer.byteLength(line) + 1
      if (signals.length > 0 && bytes + n > maxLines) break
      lines.push(line)
      signals.push(s)
      bytes += n
    }
    this.#dueAt = signals.length < this.#mem.length ? this.#o.clock() : undefined
    return { lines, signals, spool: undefined }
  }

  /** One POST of a batch; never throws. */
  async #post(lines: string[]): Promise<DeliveryOutcome> {
    const ac = new AbortController()
    this.#inflight = ac
    const timer = setTimeout(() => ac.abort(), this.#o.requestTimeoutMs)
    try {
      const res = await this.#pool.request({
        origin: this.#origin,
        path: this.#path,
        method: 'POST',
        headers: { ...(this.#o.token !== undefined && { authorization: `Bearer ${this.#o.token}` }), 'content-type': 'application/json' },
        body: `{"signals":[${lines.join(',')}]}`,
        signal: ac.signal,
      })
      const text = await readCapped(res.body, RESPONSE_BODY_MAX)
      const ra = res.headers['retry-after']
      return classifyResponse(res.statusCode, text, lines.length, Array.isArray(ra) ? ra[0] : ra, Date.now())
    } catch (err) {
      const reason = classifyError(err)
      return { kind: 'retry', reason, message: reason === 'timeout' ? `no answer from the aggregator within ${this.#o.requestTimeoutMs} ms` : `aggregator unreachable: ${(err as Error).message}` }
    } finally {
      clearTimeout(timer)
      this.#inflight = undefined
    }
  }

  async #apply(batch: Batch, outcome: DeliveryOutcome): Promise<void> {
    const n = batch.signals.length
    if (outcome.kind === 'ack') {
      if (batch.spool) await this.#spool.ack(batch.spool.end)
      else {
        const sent = new Set(batch.signals)
        while (this.#mem.length > 0 && sent.has(this.#mem[0] as Signal)) this.#mem.shift()
      }
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
    const delay = Math.min(this.#backoff.capMs, Math.max(shipperRetryDelay(this.#attempt++, this.#backoff, this.#o.random), outcome.retryAfterMs ?? 0))
    this.#log.debug({ reason: outcome.reason, delay_ms: delay, attempt: this.#attempt }, 'signal delivery retry scheduled')
    await this.#sleep(delay, false)
  }
}

/** Reads a response body up to `max` bytes (the rest is discarded). */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    if (n < max) parts.push(b.subarray(0, max - n))
    n += b.length
  }
  return Buffer.concat(parts).toString('utf8')
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
