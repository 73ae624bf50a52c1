/**
 * When a stdio provider may start again: the restart backoff, the circuit breaker, and what counts
 * as a successful run.
 *
 * - A failure (a failed start, an unexpected exit) is a breaker failure and sets the next backoff
 *   delay; the caller restarts after it unless the breaker opened. An open breaker refuses starts
 *   (with `retryAfterMs`) until it half-opens; the next start is then the probe.
 * - Success: a process that stays up for `stableAfterMs` after READY (or is stopped cleanly
 *   before) is a success for the breaker and resets the backoff; a half-open probe succeeds as
 *   soon as it is READY. So a provider that crashes right after each start still backs off and
 *   opens the breaker instead of restarting at the initial delay forever.
 */
import { performance } from 'node:perf_hooks'
import { Backoff } from '../../core/backoff.js'
import { restartBackoffOptions } from '../lifecycle/backoff.js'
import { CircuitBreaker, type BreakerState } from '../lifecycle/circuit-breaker.js'

/** Options of {@link RestartPolicy}. Durations in ms. */
export interface RestartPolicyOptions {
  /** `restart_backoff {initial_ms, max_ms}`. */
  backoff: { initialMs: number; maxMs: number }
  /** `circuit_breaker {failure_threshold, reset_timeout_s × 1000}`. */
  breaker: { failureThreshold: number; resetTimeoutMs: number }
  /** Uptime after READY that counts as a successful start. Default 30000; 0 = at READY. */
  stableAfterMs?: number
  /** Jitter source for the backoff, [0, 1); default Math.random. */
  random?: () => number
  /** Clock of the circuit breaker, ms; default Date.now. */
  now?: () => number
  /** Every breaker change, with one sentence of cause ("3 failures in a row (last: …)"). */
  onBreakerChange: (from: BreakerState, to: BreakerState, cause: string) => void
}

/** The backoff and circuit breaker of one provider (see the file comment). */
export class RestartPolicy {
  readonly #o: RestartPolicyOptions
  readonly #breaker: CircuitBreaker
  readonly #backoff: Backoff
  #lastFailure = ''
  #notBefore = 0
  #stableTimer: NodeJS.Timeout | undefined
  #breakerTimer: NodeJS.Timeout | undefined
  #cancelWait: (() => void) | undefined

  constructor(opts: RestartPolicyOptions) {
    this.#o = opts
    this.#backoff = new Backoff(restartBackoffOptions({ initialMs: opts.backoff.initialMs, maxMs: opts.backoff.maxMs }), opts.random)
    this.#breaker = new CircuitBreaker({
      failureThreshold: opts.breaker.failureThreshold,
      resetTimeoutMs: opts.breaker.resetTimeoutMs,
      now: opts.now,
      onStateChange: (from, to) => this.#onBreakerChange(from, to),
    })
  }

  /** The breaker's state (reading it may move open → half-open, see circuit-breaker.ts). */
  get breakerState(): BreakerState {
    return this.#breaker.state
  }

  /** The reason of the last failure ('' before any). */
  get lastFailure(): string {
    return this.#lastFailure
  }

  /** Failures counted by the backoff since the last success (the attempt number of the last delay). */
  get attempt(): number {
    return this.#backoff.attempt
  }

  /** Failures in a row counted by the breaker. */
  get failures(): number {
    return this.#breaker.failures
  }

  /** ms until the open breaker half-opens. */
  retryAfterMs(): number {
    return this.#breaker.retryAfterMs()
  }

  /** Why a start is refused now (the breaker is open), with `retryAfterMs`; undefined when a start may be attempted. */
  refusal(): { reason: string; retryAfterMs: number } | undefined {
    if (this.#breaker.canAttempt()) return undefined
    return { reason: `circuit breaker open after ${this.#breaker.failures} failures in a row (last: ${this.#lastFailure})`, retryAfterMs: this.#breaker.retryAfterMs() }
  }

  /** ms a start must still wait for the backoff delay of the last failure (0 = now). */
  waitMs(): number {
    return Math.max(0, this.#notBefore - performance.now())
  }

  /**
   * Accounts for a failure: a breaker failure and the next backoff delay.
   * @returns the delay, ms; the caller restarts after it unless {@link breakerState} is `open`
   */
  failed(reason: string): number {
    this.#lastFailure = reason
    clearTimeout(this.#stableTimer)
    this.#stableTimer = undefined
    this.#breaker.recordFailure()
    const delay = this.#backoff.next()
    this.#notBefore = performance.now() + delay
    return delay
  }

  /** The process is READY: a success now (half-open probe, `stableAfterMs` 0) or after `stableAfterMs`. */
  ready(): void {
    const stable = this.#o.stableAfterMs ?? 30_000
    if (stable === 0 || this.#breaker.state === 'half_open') this.markStable()
    else {
      clearTimeout(this.#stableTimer)
      this.#stableTimer = setTimeout(() => this.markStable(), stable)
      this.#stableTimer.unref()
    }
  }

  /** The running process ended cleanly (an idle stop) before `stableAfterMs`: a success. */
  endedCleanly(): void {
    if (this.#stableTimer) this.markStable()
  }

  /** A successful run: the breaker closes (or stays closed with no failures), the backoff restarts. */
  markStable(): void {
    clearTimeout(this.#stableTimer)
    this.#stableTimer = undefined
    this.#breaker.recordSuccess()
    this.#backoff.reset()
    this.#notBefore = 0
  }

  /**
   * Waits `ms` before a (re)start. The timer is ref'd: a pending restart is work that keeps the
   * process alive.
   * @param stopped the error the wait rejects with when {@link cancel} ends it first
   */
  wait(ms: number, stopped: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#cancelWait = undefined
        resolve()
      }, ms)
      this.#cancelWait = () => {
        clearTimeout(timer)
        this.#cancelWait = undefined
        reject(stopped())
      }
    })
  }

  /** Ends a pending {@link wait} (it rejects) and cancels the timers (the provider stops for good). */
  cancel(): void {
    this.#cancelWait?.()
    clearTimeout(this.#breakerTimer)
    clearTimeout(this.#stableTimer)
  }

  #onBreakerChange(from: BreakerState, to: BreakerState): void {
    const resetMs = this.#o.breaker.resetTimeoutMs
    const cause =
      to === 'open' ? `${this.#breaker.failures} failures in a row (last: ${this.#lastFailure})`
        : to === 'half_open' ? `reset timeout of ${resetMs} ms passed; the next start is a probe`
          : from === 'half_open' ? 'probe start succeeded' : 'start succeeded'
    clearTimeout(this.#breakerTimer)
    if (to === 'open') {
      // Publish the half-open state when it is due (the breaker moves lazily, on read).
      this.#breakerTimer = setTimeout(() => void this.#breaker.state, resetMs + 1)
      this.#breakerTimer.unref()
    }
    this.#o.onBreakerChange(from, to, cause)
  }
}
