/**
 * The lifecycle of one provider process (DESIGN.md §5): `COLD → INITIALIZING → READY ⇄ DEGRADED → DEAD`,
 * as a pure transition table. The provider (proxy/stdio/provider.ts) feeds it events and acts on
 * the state it returns; this file does no I/O and keeps no state.
 *
 * - `COLD`: no process (never started, stopped, or stopped for being idle). The next use starts one.
 * - `INITIALIZING`: the process is spawned and the MCP `initialize` handshake is under way.
 * - `READY`: initialized and answering health checks.
 * - `DEGRADED`: initialized, but `max` health checks in a row failed; it still serves.
 * - `DEAD`: the process failed to start or exited unexpectedly; a restart may be pending.
 *
 * Transitions (anything else is illegal):
 *
 * | from                     | event                          | to                                  |
 * |--------------------------|--------------------------------|-------------------------------------|
 * | COLD, DEAD               | start                          | INITIALIZING                        |
 * | DEAD                     | restart                        | INITIALIZING                        |
 * | INITIALIZING             | initialized                    | READY                               |
 * | INITIALIZING             | start_failed                   | DEAD                                |
 * | READY, DEGRADED          | health_ok                      | READY                               |
 * | READY                    | health_failed(consecutive,max) | DEGRADED if consecutive ≥ max, else READY |
 * | DEGRADED                 | health_failed                  | DEGRADED                            |
 * | INITIALIZING, READY, DEGRADED | exited(expected)          | COLD if expected, else DEAD         |
 * | READY, DEGRADED          | idle_stopped                   | COLD                                |
 * | every state              | stopped                        | COLD                                |
 */

/** The lifecycle states of a provider process (DESIGN.md §5). */
export type LifecycleState = 'COLD' | 'INITIALIZING' | 'READY' | 'DEGRADED' | 'DEAD'

/** Every state, in lifecycle order (for metrics that publish one series per state). */
export const LIFECYCLE_STATES: readonly LifecycleState[] = ['COLD', 'INITIALIZING', 'READY', 'DEGRADED', 'DEAD']

/** What happened to the provider. */
export type LifecycleEvent =
  /** A lazy start (first use, or use after an idle stop, a stop or a failure). */
  | { type: 'start' }
  /** The automatic restart after a crash or a failed start, once the backoff delay has passed. */
  | { type: 'restart' }
  /** The `initialize` result arrived and `notifications/initialized` was sent. */
  | { type: 'initialized' }
  /** The start failed: spawn error, exit during startup, startup timeout, or an error response to `initialize`. */
  | { type: 'start_failed' }
  /** A health check (`ping`) was answered in time. */
  | { type: 'health_ok' }
  /** A health check failed; `consecutive` failures in a row so far, `max` of them degrade the provider. */
  | { type: 'health_failed'; consecutive: number; max: number }
  /** The process exited; `expected` when the sidecar asked it to (stop, idle GC). */
  | { type: 'exited'; expected: boolean }
  /** Nothing held it and nothing happened for `idle_ttl_s`: it is being stopped gracefully. */
  | { type: 'idle_stopped' }
  /** `stop()`: it is being stopped for good (sidecar shutdown, provider removed). */
  | { type: 'stopped' }

export type LifecycleEventType = LifecycleEvent['type']

/** The outcome of {@link transition}: the next state, or why the event is illegal in `from`. */
export type TransitionResult = { ok: true; to: LifecycleState } | { ok: false; reason: string }

/** True in the states where the process is initialized and serves requests (READY, DEGRADED). */
export function isServing(state: LifecycleState): boolean {
  return state === 'READY' || state === 'DEGRADED'
}

/** True in the states where a process exists (INITIALIZING, READY, DEGRADED). */
export function hasProcess(state: LifecycleState): boolean {
  return state === 'INITIALIZING' || isServing(state)
}

function next(from: LifecycleState, e: LifecycleEvent): LifecycleState | undefined {
  switch (e.type) {
    case 'start':
      return from === 'COLD' || from === 'DEAD' ? 'INITIALIZING' : undefined
    case 'restart':
      return from === 'DEAD' ? 'INITIALIZING' : undefined
    case 'initialized':
      return from === 'INITIALIZING' ? 'READY' : undefined
    case 'start_failed':
      return from === 'INITIALIZING' ? 'DEAD' : undefined
    case 'health_ok':
      return isServing(from) ? 'READY' : undefined
    case 'health_failed':
      if (from === 'DEGRADED') return 'DEGRADED'
      if (from === 'READY') return e.consecutive >= e.max ? 'DEGRADED' : 'READY'
      return undefined
    case 'exited':
      return hasProcess(from) ? (e.expected ? 'COLD' : 'DEAD') : undefined
    case 'idle_stopped':
      return isServing(from) ? 'COLD' : undefined
    case 'stopped':
      return 'COLD'
  }
}

/**
 * The state after `event` in state `from` (table in the file comment). Pure. A self-transition
 * (READY + health_ok) is legal and returns `from`.
 */
export function transition(from: LifecycleState, event: LifecycleEvent): TransitionResult {
  const to = next(from, event)
  return to === undefined ? { ok: false, reason: `illegal lifecycle transition: ${event.type} in state ${from}` } : { ok: true, to }
}
