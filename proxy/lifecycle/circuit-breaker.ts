/**
 * A circuit breaker over provider starts (config `circuit_breaker {failure_threshold,
 * reset_timeout_s}`; docs/mcp-ingress.md §Provider lifecycle), the classic three-state breaker (Nygard, "Release It!"):
 *
 * - `closed`: attempts pass; `failureThreshold` failures in a row open it; a success resets the count.
 * - `open`: attempts are refused (callers fail fast with {@link CircuitBreaker.retryAfterMs});
 *   after `resetTimeoutMs` it is half-open.
 * - `half_open`: exactly one attempt (the probe) is admitted; its success closes the breaker,
 *   its failure opens it again for another `resetTimeoutMs`.
 *
 * Pure apart from the injectable clock: the open → half-open move happens lazily, when the state
 * is read after the reset timeout (read {@link CircuitBreaker.state} from a timer to publish it).
 */

/** The breaker's states. */
export type BreakerState = 'closed' | 'open' | 'half_open'

/** The value of the `circuit_breaker_state` gauge (docs/metrics.md): 0 closed, 1 open, 2 half-open. */
export const BREAKER_GAUGE: Readonly<Record<BreakerState, number>> = { closed: 0, open: 1, half_open: 2 }

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (≥ 1). */
  failureThreshold: number
  /** How long it stays open before admitting one probe, ms. */
  resetTimeoutMs: number
  /** Clock in ms (monotonic or wall; only differences are used). Default `Date.now`. */
  now?: () => number
  /** Called on every state change, after the change. */
  onStateChange?: (from: BreakerState, to: BreakerState) => void
}

/** A closed/open/half-open circuit breaker (see the file comment). */
export class CircuitBreaker {
  #state: BreakerState = 'closed'
  #failures = 0
  #openedAt = 0
  #probeInFlight = false
  readonly #now: () => number

  constructor(private readonly opts: CircuitBreakerOptions) {
    this.#now = opts.now ?? Date.now
  }

  /** The current state; moves open → half-open first when the reset timeout has passed. */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.opts.resetTimeoutMs) {
      this.#probeInFlight = false
      this.#set('half_open')
    }
    return this.#state
  }

  /** Failures in a row since the last success (while closed), or that opened it. */
  get failures(): number {
    return this.#failures
  }

  /**
   * May an attempt be made now? Closed: yes. Open: no. Half-open: yes for exactly one caller
   * (the probe), no for the others until that probe's outcome is recorded.
   */
  canAttempt(): boolean {
    const s = this.state
    if (s === 'closed') return true
    if (s === 'open' || this.#probeInFlight) return false
    this.#probeInFlight = true
    return true
  }

  /** An attempt succeeded: the failure count resets; a half-open (or open) breaker closes. */
  recordSuccess(): void {
    this.#failures = 0
    this.#probeInFlight = false
    if (this.#state !== 'closed') this.#set('closed')
  }

  /**
   * An attempt failed: closed → counts it and opens at `failureThreshold`; half-open (the probe
   * failed) → open again, for a fresh `resetTimeoutMs`.
   */
  recordFailure(): void {
    const s = this.state
    this.#failures++
    this.#probeInFlight = false
    if (s === 'half_open' || (s === 'closed' && this.#failures >= this.opts.failureThreshold)) {
      this.#openedAt = this.#now()
      this.#set('open')
    }
  }

  /**
   * Ms until an attempt may be admitted: 0 when one would be now (closed, or half-open with no
   * probe out); while open, the rest of the reset timeout; while a half-open probe is out, the
   * reset timeout (the longest the probe's failure would keep it shut).
   */
  retryAfterMs(): number {
    const s = this.state
    if (s === 'closed') return 0
    if (s === 'open') return Math.max(0, this.#openedAt + this.opts.resetTimeoutMs - this.#now())
    return this.#probeInFlight ? this.opts.resetTimeoutMs : 0
  }

  #set(to: BreakerState): void {
    const from = this.#state
    if (from === to) return
    this.#state = to
    this.opts.onStateChange?.(from, to)
  }
}
