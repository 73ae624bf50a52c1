/**
 * The signal shipper's fallback queue (signals/shipper.ts): signals kept in memory, in order, while
 * the spool cannot be written (disk full, I/O error). Bounded: past `max` the oldest is dropped and
 * counted, and the losses are reported once the queue has room again. While it is not empty, new
 * signals queue behind it so that order holds; the shipper moves it back into the spool as soon
 * as a write succeeds, and ships straight from it while the spool stays broken.
 */
import type { Logger } from '../core/log.js'
import type { ShipperMetrics } from '../core/metrics.js'
import type { Spool } from './spool.js'
import type { SpoolDrop } from './spool-types.js'
import type { Signal } from './types.js'

/** Signals lost in memory while the spool was broken, reported once the queue has room again. */
export interface MemoryDrops {
  count: number
  /** `time` of the first and last lost signal. */
  oldest?: string
  newest?: string
}

/** What {@link MemoryQueue.push} had to drop to make room: nothing, the first loss of an episode, or a further one. */
export type PushDrop = undefined | 'first' | 'more'

/** A batch taken from the head of the queue by {@link MemoryQueue.batch}. */
export interface MemoryBatch {
  /** The signals' JSON lines, oldest first. */
  lines: string[]
  signals: Signal[]
  /** True when signals remain behind the batch. */
  more: boolean
}

/** The bounded in-memory fallback queue (see the file comment). */
export class MemoryQueue {
  readonly max: number
  readonly #items: Signal[] = []
  #drops: MemoryDrops | undefined

  /** @param max most signals held (≥ 1); past it the oldest is dropped */
  constructor(max: number) {
    this.max = max
  }

  /** Signals held. */
  get length(): number {
    return this.#items.length
  }

  /** Losses not yet reported (see {@link takeDrops}). */
  get drops(): MemoryDrops | undefined {
    return this.#drops
  }

  /** The oldest signal, or undefined when empty. */
  peek(): Signal | undefined {
    return this.#items[0]
  }

  /** Removes the oldest signal. */
  shift(): void {
    this.#items.shift()
  }

  /** Forgets every signal held (they are lost: the caller counts them). */
  clear(): void {
    this.#items.length = 0
  }

  /** Appends `s`; when full, drops the oldest first and records the loss. */
  push(s: Signal): PushDrop {
    let dropped: PushDrop
    if (this.#items.length >= this.max) {
      const lost = this.#items.shift() as Signal
      dropped = this.#drops ? 'more' : 'first'
      this.#drops ??= { count: 0 }
      this.#drops.count++
      this.#drops.oldest ??= lost.time
      this.#drops.newest = lost.time
    }
    this.#items.push(s)
    return dropped
  }

  /** The losses to report, once the queue has room again (then they are forgotten); else undefined. */
  takeDrops(): MemoryDrops | undefined {
    const d = this.#drops
    if (!d || this.#items.length >= this.max) return undefined
    this.#drops = undefined
    return d
  }

  /**
   * The batch at the head: at most `limit` signals and `maxBytes` of lines plus one separator
   * each (the first signal goes even when longer). The queue is unchanged until {@link removeSent}.
   */
  batch(limit: number, maxBytes: number): MemoryBatch {
    const lines: string[] = []
    const signals: Signal[] = []
    let bytes = 0
    for (const s of this.#items) {
      if (signals.length >= limit) break
      const line = JSON.stringify(s)
      const n = Buffer.byteLength(line) + 1
      if (signals.length > 0 && bytes + n > maxBytes) break
      lines.push(line)
      signals.push(s)
      bytes += n
    }
    return { lines, signals, more: signals.length < this.#items.length }
  }

  /** Removes the acknowledged `signals` from the head (those still there: a drop may have taken some). */
  removeSent(signals: readonly Signal[]): void {
    const sent = new Set(signals)
    while (this.#items.length > 0 && sent.has(this.#items[0] as Signal)) this.#items.shift()
  }
}

/** What {@link SpoolWithFallback} reports to the shipper. */
export interface FallbackHooks {
  /**
   * Signals were lost: the spool dropped its oldest segment (`spool_full`), or the memory queue
   * overflowed (`memory_full`, reported once it has room again; its metric was counted per signal
   * already, so `countMetric` is false).
   */
  onDrop: (reason: string, count: number, oldest: string | undefined, newest: string | undefined, countMetric: boolean) => void
  log: Logger
  metrics?: ShipperMetrics
}

/**
 * The spool with its memory fallback: a signal goes to the spool unless it cannot be written or the
 * memory queue already holds signals (order), in which case it goes to memory; {@link drain} moves
 * memory back into the spool once a write succeeds.
 */
export class SpoolWithFallback {
  readonly spool: Spool
  readonly memory: MemoryQueue
  readonly #h: FallbackHooks
  #failing = false

  /** @param memoryMax most signals kept in memory (≥ 1) */
  constructor(spool: Spool, memoryMax: number, hooks: FallbackHooks) {
    this.spool = spool
    this.memory = new MemoryQueue(memoryMax)
    this.#h = hooks
  }

  /** Signals waiting: in the spool and in memory. */
  get pending(): number {
    return this.spool.pending + this.memory.length
  }

  /** Puts a valid signal behind everything already waiting. Never throws for a spool write error. */
  add(s: Signal): void {
    if (this.memory.length > 0 || this.#failing) {
      this.#pushMemory(s)
      return
    }
    let drop: SpoolDrop | undefined
    try {
      drop = this.spool.append(s)
    } catch (err) {
      this.#diskFailed(err)
      this.#pushMemory(s)
    }
    if (drop) this.#h.onDrop(drop.reason, drop.count, drop.oldest_time, drop.newest_time, true)
  }

  /**
   * Moves the memory queue into the spool, in order, until a write fails; once it is empty, the
   * spool counts as writable again and memory losses are reported.
   * @returns true when signals were moved (the caller updates its gauge)
   */
  drain(): boolean {
    const mem = this.memory
    let moved = false
    if (mem.length > 0) {
      while (mem.length > 0) {
        let drop: SpoolDrop | undefined
        try {
          drop = this.spool.append(mem.peek() as Signal)
        } catch (err) {
          this.#diskFailed(err)
          return false
        }
        mem.shift()
        if (drop) this.#h.onDrop(drop.reason, drop.count, drop.oldest_time, drop.newest_time, true)
      }
      moved = true
    }
    if (this.#failing) {
      this.#failing = false
      this.#h.log.info('signal spool writable again')
    }
    const d = mem.takeDrops()
    if (d) this.#h.onDrop('memory_full', d.count, d.oldest, d.newest, false)
    return moved
  }

  #diskFailed(err: unknown): void {
    this.#h.metrics?.signalDeliveryFailures.inc({ reason: 'disk' })
    if (!this.#failing) this.#h.log.error({ err, max: this.memory.max }, 'signal spool write failed: keeping signals in memory until it works again')
    this.#failing = true
  }

  #pushMemory(s: Signal): void {
    const dropped = this.memory.push(s)
    if (!dropped) return
    this.#h.metrics?.signalsDropped.inc({ reason: 'memory_full' })
    if (dropped === 'first') this.#h.log.error({ max: this.memory.max }, 'signal memory queue full (spool not writable): dropping the oldest signals')
  }
}
