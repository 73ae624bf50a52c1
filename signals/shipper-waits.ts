/**
 * The waits of the signal shipper's loop (signals/shipper.ts): the loop's one sleep (for work, for
 * the linger time, for a backoff) that new signals, a flush or close cut short, and the callers
 * of `flushWithin` waiting for their signals to settle.
 */

interface Waiter {
  onWork: boolean
  resolve: () => void
  timer: NodeJS.Timeout | undefined
}

/** The loop's sleep: at most one at a time. */
export class LoopSleep {
  #waiter: Waiter | undefined

  /** The current sleep: whether work wakes it, and whether it has a deadline; undefined when awake. */
  get current(): { onWork: boolean; timed: boolean } | undefined {
    const w = this.#waiter
    return w && { onWork: w.onWork, timed: w.timer !== undefined }
  }

  /**
   * Sleeps `ms` (Infinity: until woken).
   * @param onWork true: {@link wake}(true) (new signals, a flush) ends it too; false: only {@link wake}(false) (close) or the time
   */
  sleep(ms: number, onWork: boolean): Promise<void> {
    return new Promise((resolve) => {
      const w: Waiter = { onWork, resolve, timer: undefined }
      if (Number.isFinite(ms)) w.timer = setTimeout(() => this.wake(false), ms)
      this.#waiter = w
    })
  }

  /** Ends the sleep: a sleep for work (`work`), or any sleep including a backoff (`!work`). */
  wake(work: boolean): void {
    const w = this.#waiter
    if (!w || (work && !w.onWork)) return
    this.#waiter = undefined
    if (w.timer) clearTimeout(w.timer)
    w.resolve()
  }
}

interface FlushWaiter {
  target: number
  resolve: (ok: boolean) => void
  timer: NodeJS.Timeout
}

/** Callers waiting until a count of signals has settled (delivered, or dropped and reported). */
export class FlushWaiters {
  #waiters: FlushWaiter[] = []

  /** Callers waiting. */
  get size(): number {
    return this.#waiters.length
  }

  /**
   * Waits until {@link settle} reports at least `target` settled signals.
   * @param timeoutMs how long to wait, ms
   * @returns true when settled in time, false after `timeoutMs` or {@link failAll}
   */
  add(target: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const w: FlushWaiter = {
        target,
        resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w)
          resolve(false)
        }, timeoutMs),
      }
      this.#waiters.push(w)
    })
  }

  /** Resolves (true) every caller whose target `settled` has reached. */
  settle(settled: number): void {
    if (!this.#waiters.length) return
    this.#waiters = this.#waiters.filter((w) => {
      if (settled < w.target) return true
      clearTimeout(w.timer)
      w.resolve(true)
      return false
    })
  }

  /** Resolves every caller with false (the shipper closed). */
  failAll(): void {
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer)
      w.resolve(false)
    }
  }
}
