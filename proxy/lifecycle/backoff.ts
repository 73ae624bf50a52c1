/**
 * The provider restart backoff's figures (config `restart_backoff {initial_ms, max_ms}`) over the
 * one backoff of core/backoff.ts: the n-th delay (n ≥ 1) is `min(max_ms, initial_ms · 2^(n-1))`,
 * then jittered by ±20 % so that many sidecars restarting at once do not stampede (gRPC's
 * connection backoff uses the same ±20 %). Jitter applies after the cap, so a delay may exceed
 * `max_ms` by up to the jitter fraction.
 */
import { backoffDelay, type BackoffOptions } from '../../core/backoff.js'

/** Shape of the restart backoff. All durations in milliseconds. */
export interface RestartBackoffOptions {
  /** First delay, ms (> 0). */
  initialMs: number
  /** Cap of the un-jittered delay, ms (≥ initialMs). */
  maxMs: number
  /** Jitter fraction: the delay is multiplied by a factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  jitter?: number
}

/** The {@link BackoffOptions} of a provider's restarts (for core/backoff.ts `Backoff`). */
export function restartBackoffOptions(opts: RestartBackoffOptions): BackoffOptions {
  return { initialMs: opts.initialMs, capMs: opts.maxMs, jitter: { kind: 'proportional', fraction: opts.jitter ?? 0.2 } }
}

/**
 * The `attempt`-th restart delay in ms (attempt 1 = the first restart), rounded to whole ms.
 * @param random a value in [0, 1): 0 gives the lowest delay (−jitter), 0.5 none, →1 the highest (+jitter)
 */
export function restartDelay(attempt: number, opts: RestartBackoffOptions, random: number): number {
  return backoffDelay(attempt, restartBackoffOptions(opts), random)
}
