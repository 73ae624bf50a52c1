/**
 * The provider's concurrency limit (config `max_concurrency`, `queue_timeout_ms`; docs/mcp-ingress.md §Inspection
 * "concurrency limit → JSON-RPC error + signal"): at most `max` tool calls in flight; more wait in
 * a FIFO queue for at most `queue_timeout_ms`, then are refused.
 *
 * Fairness: a released slot goes straight to the oldest waiter (it is never put back for a newer
 * caller to grab). A waiter that times out leaves the queue at once and never receives a slot, so
 * a timeout cannot leak one. {@link Slot.release} is idempotent.
 */

/** One held slot. Release it exactly when the call is over; further releases do nothing. */
export interface Slot {
  release(): void
}

interface Waiter {
  resolve(slot: Slot | undefined): void
  timer: NodeJS.Timeout
}

/** A counting semaphore with a bounded FIFO wait queue. */
export class ConcurrencyLimiter {
  readonly #max: number
  readonly #maxQueue: number
  #active = 0
  // A Set iterates in insertion order (FIFO) and deletes a timed-out waiter in O(1).
  readonly #queue = new Set<Waiter>()

  /**
   * @param max slots (≥ 1): calls in flight at once.
   * @param maxQueue most waiters (≥ 0); one more is refused at once. Default 1000.
   * @throws RangeError when `max` < 1 or `maxQueue` < 0.
   */
  constructor(max: number, maxQueue = 1000) {
    if (!(max >= 1)) throw new RangeError(`max_concurrency must be at least 1, got ${max}`)
    if (!(maxQueue >= 0)) throw new RangeError(`the queue bound must be at least 0, got ${maxQueue}`)
    this.#max = max
    this.#maxQueue = maxQueue
  }

  /** Slots in use. */
  get active(): number {
    return this.#active
  }

  /** Callers waiting for a slot. */
  get queued(): number {
    return this.#queue.size
  }

  /** A slot now, or undefined when all are in use (nothing is queued). */
  tryAcquire(): Slot | undefined {
    // Waiters go first: a free slot with waiters cannot happen (release hands it on), but be strict.
    if (this.#active >= this.#max || this.#queue.size > 0) return undefined
    this.#active++
    return this.#slot()
  }

  /**
   * A slot: synchronously when one is free, else a promise that resolves with a slot in FIFO
   * order, or with `undefined` after `timeoutMs` ms (or at once when the queue is full).
   * @param timeoutMs longest wait in ms (`queue_timeout_ms`).
   */
  acquire(timeoutMs: number): Slot | Promise<Slot | undefined> {
    const now = this.tryAcquire()
    if (now) return now
    if (this.#queue.size >= this.#maxQueue) return Promise.resolve(undefined)
    return new Promise<Slot | undefined>((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          this.#queue.delete(waiter)
          resolve(undefined)
        }, timeoutMs),
      }
      this.#queue.add(waiter)
    })
  }

  #slot(): Slot {
    let held = true
    return {
      release: () => {
        if (!held) return
        held = false
        this.#handOn()
      },
    }
  }

  /** A slot was released: give it to the oldest waiter, else free it. */
  #handOn(): void {
    const next = this.#queue.values().next()
    if (next.done) {
      this.#active--
      return
    }
    const waiter = next.value
    this.#queue.delete(waiter)
    clearTimeout(waiter.timer)
    waiter.resolve(this.#slot())
  }
}
