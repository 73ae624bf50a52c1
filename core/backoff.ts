/**
 * The one exponential backoff of the project, with the jitter shapes of AWS's "Exponential
 * Backoff And Jitter" (Marc Brooker, AWS Architecture Blog, 2015). Each caller keeps its own
 * figures (first delay, cap, jitter shape); the arithmetic lives here only.
 *
 * The un-jittered delay of attempt n (n ≥ 1, the first retry) is `min(capMs, initialMs · 2^(n-1))`.
 * The jitter then spreads it:
 *  - `none`: the delay itself (a supervisor restarting a local process);
 *  - `full`: uniform in [0, d) ("full jitter", the least contention: many clients retrying the
 *    same server; the signal shipper);
 *  - `equal`: uniform in [d/2, d) ("equal jitter": never less than half the delay);
 *  - `proportional`: d · [1 − f, 1 + f] (gRPC's connection backoff uses f = 0.2), applied after
 *    the cap, so a delay may exceed `capMs` by up to the fraction.
 * Pure apart from the injectable random source.
 */

/** How the delay is spread (see the file comment). */
export type Jitter =
  | { readonly kind: 'none' }
  | { readonly kind: 'full' }
  | { readonly kind: 'equal' }
  | { readonly kind: 'proportional'; readonly fraction: number }

/** Shape of a backoff. All durations in milliseconds. */
export interface BackoffOptions {
  /** First delay (attempt 1), ms (> 0). */
  readonly initialMs: number
  /** Cap of the un-jittered delay, ms (≥ initialMs). */
  readonly capMs: number
  /** How the delay is spread. */
  readonly jitter: Jitter
}

/** The jitter-free shape, shared. */
export const NO_JITTER: Jitter = Object.freeze({ kind: 'none' as const })
/** Full jitter, shared. */
export const FULL_JITTER: Jitter = Object.freeze({ kind: 'full' as const })
/** Equal jitter, shared. */
export const EQUAL_JITTER: Jitter = Object.freeze({ kind: 'equal' as const })

/**
 * The delay before retry `attempt`, in whole ms.
 * @param attempt 1 for the first retry, 2, …; below 1 counts as 1, fractions are floored
 * @param random a value in [0, 1) (clamped into it): 0 gives the lowest delay of the jitter range
 * @returns `none`, `proportional`: rounded to the nearest ms; `full`, `equal`: floored (so
 *   `full` stays below the delay)
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: number): number {
  const n = Math.max(1, Math.floor(attempt))
  // 2^1023 is the largest finite power; min() caps it (and 0 · 2^k stays 0, never NaN).
  const d = Math.min(opts.capMs, opts.initialMs * 2 ** Math.min(n - 1, 1023))
  const r = Math.min(Math.max(random, 0), 1)
  const j = opts.jitter
  switch (j.kind) {
    case 'none':
      return Math.max(0, Math.round(d))
    case 'full':
      return Math.floor(r * d)
    case 'equal':
      // Two whole halves, so the top of the range stays below d whatever the float rounding.
      return Math.floor(d / 2) + Math.floor(r * Math.ceil(d / 2))
    case 'proportional':
      return Math.max(0, Math.round(d * (1 + j.fraction * (2 * r - 1))))
  }
}

/**
 * A backoff sequence: {@link next} returns the next delay and counts the attempt; {@link reset}
 * starts over (call it after a success).
 */
export class Backoff {
  #attempt = 0
  readonly #opts: BackoffOptions
  readonly #random: () => number

  /** @param random source of jitter, [0, 1); default Math.random (tests inject a fixed value). */
  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    this.#opts = opts
    this.#random = random
  }

  /** Failures counted since the last reset (the attempt number of the last delay returned). */
  get attempt(): number {
    return this.#attempt
  }

  /** The next delay in ms; counts one attempt. */
  next(): number {
    this.#attempt++
    return backoffDelay(this.#attempt, this.#opts, this.#random())
  }

  /** Starts over: the next delay is the initial one again. */
  reset(): void {
    this.#attempt = 0
  }
}
