/**
 * Idle stop of a stdio provider: when nothing holds it ({@link IdleTimer.hold}) and the sidecar has
 * not used it for `ttlMs`, it is stopped gracefully (an expected stop: no failure, no restart).
 * Activity is the sidecar's use of the provider, never what the child sends on its own: a chatty
 * server (log notifications, list_changed) must not keep itself alive.
 */
import { performance } from 'node:perf_hooks'

/** Options of {@link IdleTimer}. */
export interface IdleTimerOptions {
  /** Idle time before a stop, ms (`idle_ttl_s` × 1000); 0 = never. */
  ttlMs: number
  /** True while the provider serves (READY or DEGRADED): only then is it idle-stopped. */
  serving: () => boolean
  /** The provider has been idle for `idleMs` (≥ ttlMs) with nothing held: stop it. */
  onIdle: (idleMs: number) => void
}

/** Tracks activity and holds, and fires {@link IdleTimerOptions.onIdle} once the provider is idle. */
export class IdleTimer {
  readonly #o: IdleTimerOptions
  #timer: NodeJS.Timeout | undefined
  #held = 0
  #lastActivity = 0

  constructor(opts: IdleTimerOptions) {
    this.#o = opts
  }

  /** Marks activity now; arms the timer when it may run (a TTL, nothing held, serving). */
  touch(): void {
    this.#lastActivity = performance.now()
    if (this.#o.ttlMs > 0 && this.#held === 0 && !this.#timer && this.#o.serving()) this.#arm(this.#o.ttlMs)
  }

  /** Holds the provider: no idle stop while any hold is out. Returns the release (idempotent; it counts as activity). */
  hold(): () => void {
    this.#held++
    this.clear()
    let released = false
    return () => {
      if (released) return
      released = true
      this.#held--
      this.touch()
    }
  }

  /** Cancels the timer (the process went away); the next {@link touch} arms it again. */
  clear(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), ms)
    this.#timer.unref()
  }

  #fire(): void {
    this.#timer = undefined
    const ttl = this.#o.ttlMs
    if (ttl <= 0 || this.#held > 0 || !this.#o.serving()) return
    const idle = performance.now() - this.#lastActivity
    if (idle < ttl) this.#arm(Math.ceil(ttl - idle))
    else this.#o.onIdle(Math.round(idle))
  }
}
