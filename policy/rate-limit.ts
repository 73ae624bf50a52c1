/**
 * The provider's call rate limit (`rate_limit: {rps, burst}`; a call over it is refused with a
 * JSON-RPC error and a `rate_limited` signal): a token bucket. Pure state over an injected clock: no timers, no I/O.
 *
 * The bucket holds at most `burst` tokens and starts full; it refills continuously at `rps` tokens
 * per second. A call takes one token; with less than one token left it is refused and told how long
 * until a token is there (`retry_after_ms`). So `burst` calls pass at once, then one every
 * `1000 / rps` ms (the classic token bucket, as in RFC 2697's committed burst).
 */

/** The `rate_limit` block of a provider: `rps` > 0 tokens per second, `burst` ≥ 1 tokens. */
export interface RateLimitConfig {
  rps: number
  burst: number
}

/** A token bucket over an injected clock (ms). Not shared between providers. */
export class TokenBucket {
  readonly #rps: number
  readonly #burst: number
  readonly #clock: () => number
  #tokens: number
  #last: number

  /**
   * @param config `rps` tokens per second (> 0), `burst` bucket size in tokens (≥ 1).
   * @param clock the current time in ms (monotonic is best; a clock that goes back refills nothing).
   * @throws RangeError when `rps` is not a positive finite number or `burst` is below 1.
   */
  constructor(config: RateLimitConfig, clock: () => number) {
    if (!(config.rps > 0) || !Number.isFinite(config.rps)) throw new RangeError(`rate_limit.rps must be a positive number, got ${config.rps}`)
    if (!(config.burst >= 1) || !Number.isFinite(config.burst)) throw new RangeError(`rate_limit.burst must be at least 1, got ${config.burst}`)
    this.#rps = config.rps
    this.#burst = config.burst
    this.#clock = clock
    this.#tokens = config.burst
    this.#last = clock()
  }

  /**
   * Takes one token. Returns 0 when the call may pass, else the whole ms (≥ 1) until one token
   * will be available; a refused take consumes nothing.
   */
  take(): number {
    this.#refill()
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#rps))
  }

  /** The tokens available now (fractional), for status and tests. */
  available(): number {
    this.#refill()
    return this.#tokens
  }

  #refill(): void {
    const now = this.#clock()
    if (!(now > this.#last)) return // no time passed, or the clock went back: refill nothing
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#rps) / 1000)
    this.#last = now
  }
}
