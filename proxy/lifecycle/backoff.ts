/**
 * Exponential backoff for provider restarts (config `restart_backoff {initial_ms, max_ms}`):
 * the n-th delay (n ≥ 1) is `min(max_ms, initial_ms · 2^(n-1))`, then jittered by ±20 % so that
 * many sidecars restarting at once do not stampede (the "equal jitter" family of AWS's
 * "Exponential Backoff And Jitter"; gRPC's connection backoff uses the same ±20 %).
 * Jitter applies after the cap, so a delay may exceed `max_ms` by up to the jitter fraction.
 * Pure apart from the injectable random source.
 */

/** Shape of the backoff. All durations in milliseconds. */
export interface BackoffOptions {
  /** First delay, ms (> 0). */
  initialMs: number
  /** Cap of the un-jittered delay, ms (≥ initialMs). */
  maxMs: number
  /** Jitter fraction: the delay is multiplied by a factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  jitter?: number
}

/**
 * The `attempt`-th delay in ms (attempt 1 = the first retry), rounded to whole ms.
 * @param random a value in [0, 1): 0 gives the lowest delay (−jitter), 0.5 none, →1 the highest (+jitter)
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: number): number {
  const jitter = opts.jitter ?? 0.2
  const n = Math.max(1, Math.floor(attempt))
  // 2^(n-1) overflows to Infinity for huge n; min() still caps it.
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** (n - 1))
  const factor = 1 + jitter * (2 * random - 1)
  return Math.max(0, Math.round(base * factor))
}

/**
 * A backoff sequence: {@link next} returns the next delay and counts the attempt; {@link reset}
 * starts over (call it after a success).
 */
export class Backoff {
  #attempt = 0
  readonly #random: () => number

  /** @param random source of jitter, [0, 1); default Math.random (tests inject a fixed value). */
  constructor(private readonly opts: BackoffOptions, random: () => number = Math.random) {
    this.#random = random
  }

  /** Failures counted since the last reset (the attempt number of the last delay returned). */
  get attempt(): number {
    return this.#attempt
  }

  /** The next delay in ms; counts one attempt. */
  next(): number {
    this.#attempt++
    return backoffDelay(this.#attempt, this.opts, this.#random())
  }

  /** Starts over: the next delay is the initial one again. */
  reset(): void {
    this.#attempt = 0
  }
}
