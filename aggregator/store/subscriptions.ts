/**
 * Live subscriptions for GET /v1/signals/stream (SSE, resumable with Last-Event-ID = `seq`).
 *
 * A subscription is a cursor over the index, not a queue of pushed signals: a pump delivers every
 * entry with `seq` above the cursor, advancing it one signal at a time, and sleeps when it has
 * caught up; a commit wakes it. So the backlog (from memory) and the live signals come through
 * one path, in `seq` order, with no gap and no duplicate, even when signals are committed while
 * the backlog is being delivered (they are simply further along the same cursor). A callback may
 * return a promise (e.g. to wait for the socket to drain); the pump waits for it. A backlog is
 * delivered in slices, yielding to the event loop between them, so a long one does not stall
 * ingest.
 *
 * Gaps: a cursor below the memory window (a client resuming from long ago, or one slower than
 * the window turns over) skips what memory no longer has; `onGap` is told which sequence numbers
 * were skipped (those signals are in the audit log only). A cursor above the newest sequence
 * number (a store whose data directory was reset) starts at the newest.
 */
import type { Signal } from '../../signals/types.js'
import type { AfterResult } from './index.js'

/** Receives one signal and its `seq` (the SSE event id). May return a promise to hold the next one back. */
export type OnSignal = (signal: Signal, seq: number) => void | Promise<void>

export interface SubscribeOptions {
  /** Sequence numbers `from`..`to` (inclusive) were skipped: no longer in memory. */
  onGap?: (from: number, to: number) => void
  /** `onSignal` threw or rejected: the subscription has ended. Without it, the error is dropped. */
  onError?: (err: unknown) => void
}

/** Where the pump reads from: the index. */
export interface SubscriptionSource {
  readonly lastSeq: number
  after(seq: number, max: number): AfterResult
}

/** Entries fetched per read of the index, and delivered before yielding to the event loop. */
const SLICE = 512

class Subscription {
  cursor: number
  closed = false
  #running = false
  constructor(
    readonly source: SubscriptionSource,
    afterSeq: number,
    readonly onSignal: OnSignal,
    readonly opts: SubscribeOptions,
    readonly remove: (s: Subscription) => void,
  ) {
    this.cursor = Math.min(afterSeq, source.lastSeq)
  }

  wake(): void {
    if (!this.#running && !this.closed) void this.#pump()
  }

  async #pump(): Promise<void> {
    this.#running = true
    try {
      for (;;) {
        const { entries, evictedThrough } = this.source.after(this.cursor, SLICE)
        if (evictedThrough > this.cursor) {
          const from = this.cursor + 1
          this.cursor = evictedThrough
          this.opts.onGap?.(from, evictedThrough)
          continue
        }
        if (entries.length === 0) return // caught up; the next commit wakes us
        for (const e of entries) {
          if (this.closed) return
          this.cursor = e.seq
          const r = this.onSignal(e.signal, e.seq)
          if (r) await r
        }
        if (this.closed) return
        if (entries.length === SLICE) await new Promise<void>((resolve) => setImmediate(resolve))
      }
    } catch (err) {
      this.closed = true
      this.remove(this)
      this.opts.onError?.(err)
    } finally {
      this.#running = false
    }
  }
}

/** The set of live subscriptions of one store. */
export class Subscriptions {
  readonly #source: SubscriptionSource
  readonly #subs = new Set<Subscription>()
  #scheduled = false

  constructor(source: SubscriptionSource) {
    this.#source = source
  }

  /** Open subscriptions. */
  get size(): number {
    return this.#subs.size
  }

  /**
   * Delivers every signal with `seq` above `afterSeq` (0: everything still in memory), then every
   * new one, in order. Delivery starts on a later microtask, never inside this call.
   * @returns unsubscribe: stops delivery (idempotent; a callback already running finishes).
   * @throws RangeError when `afterSeq` is not a whole number ≥ 0.
   */
  subscribe(afterSeq: number, onSignal: OnSignal, opts: SubscribeOptions = {}): () => void {
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError(`afterSeq must be a whole number ≥ 0, got ${afterSeq}`)
    const sub = new Subscription(this.#source, afterSeq, onSignal, opts, (s) => this.#subs.delete(s))
    this.#subs.add(sub)
    queueMicrotask(() => sub.wake())
    return () => {
      sub.closed = true
      this.#subs.delete(sub)
    }
  }

  /**
   * New signals were committed: wakes every idle subscription on a microtask (so delivery never
   * runs inside the committer; several commits in one tick wake them once).
   */
  notify(): void {
    if (this.#scheduled || this.#subs.size === 0) return
    this.#scheduled = true
    queueMicrotask(() => {
      this.#scheduled = false
      for (const s of this.#subs) s.wake()
    })
  }

  /** Ends every subscription (store closing). */
  closeAll(): void {
    for (const s of this.#subs) s.closed = true
    this.#subs.clear()
  }
}
