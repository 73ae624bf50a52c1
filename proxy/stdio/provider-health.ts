/**
 * Health checks of a running stdio provider: a `ping` (MCP "Utilities/Ping") every `intervalMs`
 * while it serves. Any response counts as alive, an error response too (the process is there and
 * speaking); no response within `timeoutMs` is a failure. The caller turns the results into
 * lifecycle events (`maxConsecutiveFailures` failures in a row → DEGRADED, one answer → READY).
 */
import { ProviderRpcError } from './provider-errors.js'

/** Options of {@link HealthCheck}. Durations in ms. */
export interface HealthCheckOptions {
  /** Time between the end of one check and the next ping, ms (`health_check_interval_s` × 1000). */
  intervalMs: number
  /** How long a ping may take, ms. */
  timeoutMs: number
  /** Sends one `ping` with this timeout; resolves on a result, rejects otherwise (a ProviderRpcError counts as answered). */
  ping: (timeoutMs: number) => Promise<unknown>
  /** After each check whose process is still the one checked: `consecutive` failures in a row (0 after an answer). */
  onResult: (ok: boolean, consecutive: number, timeoutMs: number) => void
}

/** The ping loop of one provider; {@link start} it for each process, {@link stop} it when the process goes. */
export class HealthCheck {
  readonly #o: HealthCheckOptions
  #timer: NodeJS.Timeout | undefined
  #failures = 0

  constructor(opts: HealthCheckOptions) {
    this.#o = opts
  }

  /**
   * Starts checking a process (failures start at 0).
   * @param current true while the process checked is still the current one and serving; a check
   *   that finds it false ends the loop without a result
   */
  start(current: () => boolean): void {
    this.#failures = 0
    this.#schedule(current)
  }

  /** Cancels the next check (a ping in flight is ignored once `current` turns false). */
  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #schedule(current: () => boolean): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.#check(current), this.#o.intervalMs)
    this.#timer.unref()
  }

  async #check(current: () => boolean): Promise<void> {
    if (!current()) return
    const timeoutMs = this.#o.timeoutMs
    let ok: boolean
    try {
      await this.#o.ping(timeoutMs)
      ok = true
    } catch (err) {
      ok = err instanceof ProviderRpcError // answered, with an error: alive
    }
    if (!current()) return // exited or stopped meanwhile
    this.#failures = ok ? 0 : this.#failures + 1
    this.#o.onResult(ok, this.#failures, timeoutMs)
    this.#schedule(current)
  }
}
