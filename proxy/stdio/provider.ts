/**
 * A stdio provider: one MCP server process with one lifecycle
 * (`COLD → INITIALIZING → READY ⇄ DEGRADED → DEAD`, proxy/lifecycle/state.ts).
 *
 * - Lazy start: no process until the first {@link StdioProvider.ensureStarted}. A start launches the
 *   process (provider-launch.ts), sends `initialize` (MCP "Lifecycle/Initialization"), waits
 *   for its result within `startupTimeoutMs`, then sends `notifications/initialized`.
 * - Health (provider-health.ts): while READY/DEGRADED, a `ping` every `healthCheckIntervalMs`;
 *   `maxConsecutiveFailures` unanswered in a row → DEGRADED (it still serves); one answer → READY.
 * - Failures (a failed start, an unexpected exit) → DEAD, a failure for the circuit breaker, and
 *   an automatic restart after the backoff delay unless the breaker is open (provider-restart.ts);
 *   an open breaker refuses starts at once (with `retryAfterMs`) until it half-opens, when the
 *   next {@link StdioProvider.ensureStarted} is the probe.
 * - Idle GC (provider-idle.ts): when nothing is held ({@link StdioProvider.hold}) and the sidecar
 *   has not used it for `idleTtlMs`, it stops gracefully → COLD (expected: no failure, no restart).
 * - {@link StdioProvider.stop}: graceful shutdown per MCP "Lifecycle/Shutdown" (stdio): close
 *   stdin, wait, SIGTERM, wait, SIGKILL. Final: it never starts again.
 *
 * Messages: {@link StdioProvider.send} writes any message; requests the provider makes itself
 * ({@link StdioProvider.request}: `initialize`, `ping`, …) use string ids `hangar:<n>` and their
 * responses are consumed (provider-rpc.ts); every other message from the child is emitted as `message`.
 */
import { EventEmitter } from 'node:events'
import { silentLogger, type Logger } from '../../core/log.js'
import { BREAKER_GAUGE, type BreakerState } from '../lifecycle/circuit-breaker.js'
import { isServing, LIFECYCLE_STATES, transition, type LifecycleEvent, type LifecycleState } from '../lifecycle/state.js'
import type { JsonRpcMessage } from '../types.js'
import type { ChildExit, ProviderChild } from './child.js'
import { ProviderUnavailableError, startFailureReason } from './provider-errors.js'
import { HealthCheck } from './provider-health.js'
import { IdleTimer } from './provider-idle.js'
import { launchChild, shutdownChild } from './provider-launch.js'
import { RestartPolicy } from './provider-restart.js'
import { ID_PREFIX, isReservedRequest, ProviderRequests } from './provider-rpc.js'
import type { ProviderExit, StdioLaunch, StdioProviderEvents, StdioProviderOptions } from './provider-types.js'

/** One stdio MCP provider process and its lifecycle (see the file comment). */
export class StdioProvider extends EventEmitter<StdioProviderEvents> {
  readonly name: string
  readonly #opts: StdioProviderOptions
  readonly #log: Logger
  readonly #restart: RestartPolicy
  readonly #requests: ProviderRequests
  readonly #health: HealthCheck
  readonly #idle: IdleTimer
  #launchCfg: StdioLaunch
  #state: LifecycleState = 'COLD'
  #child: ProviderChild | undefined
  /** Identifies the current child; bumped when a child is detached (stop, idle, failed start). */
  #epoch = 0
  #initializeResult: Record<string, unknown> | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #stopped: Promise<void> | undefined

  constructor(opts: StdioProviderOptions) {
    super()
    if (opts.command.length === 0) throw new TypeError(`provider "${opts.provider}": empty command`)
    this.name = opts.provider
    this.#opts = opts
    this.#log = (opts.log ?? silentLogger()).child({ provider: opts.provider })
    this.#launchCfg = { command: opts.command, env: opts.env, cwd: opts.cwd, wrap: opts.wrap, ...(opts.brokerSocket !== undefined && { brokerSocket: opts.brokerSocket }) }
    this.#restart = new RestartPolicy({ backoff: opts.backoff, breaker: opts.breaker, stableAfterMs: opts.stableAfterMs, random: opts.random, now: opts.now, onBreakerChange: (from, to, cause) => this.#onBreakerChange(from, to, cause) })
    this.#requests = new ProviderRequests(opts.provider)
    this.#health = new HealthCheck({
      intervalMs: opts.healthCheckIntervalMs,
      timeoutMs: opts.healthCheckTimeoutMs ?? Math.min(opts.healthCheckIntervalMs, opts.requestTimeoutMs),
      ping: (timeoutMs) => this.#requests.call(this.#child, 'ping', undefined, timeoutMs, true),
      onResult: (ok, consecutive, timeoutMs) => this.#onHealth(ok, consecutive, timeoutMs),
    })
    this.#idle = new IdleTimer({ ttlMs: opts.idleTtlMs, serving: () => isServing(this.#state), onIdle: (idleMs) => this.#idleStop(idleMs) })
    this.#publishState()
    opts.metrics?.circuitBreakerState.set({ provider: this.name }, BREAKER_GAUGE.closed)
  }

  /** The lifecycle state. */
  get state(): LifecycleState {
    return this.#state
  }

  /** The current process id (INITIALIZING, READY, DEGRADED), else undefined. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** The circuit breaker's state (reading it may move open → half-open, see circuit-breaker.ts). */
  get breakerState(): BreakerState {
    return this.#restart.breakerState
  }

  /** The child's `initialize` result as received (raw), from the last successful start. */
  get initializeResult(): Record<string, unknown> | undefined {
    return this.#initializeResult
  }

  /** The last stderr lines of the current process (≤ 20). */
  get stderrTail(): readonly string[] {
    return this.#child?.stderrTail ?? []
  }

  /**
   * Makes sure the process is READY or DEGRADED. COLD/DEAD → spawn and `initialize`; concurrent
   * callers share one start; during a restart backoff it waits for the delay, then starts.
   * Counts as activity for the idle timer.
   * @throws ProviderUnavailableError at once when stopped or the circuit breaker is open (with
   *   `retryAfterMs`), or when the start fails (spawn error such as ENOENT, exit during startup,
   *   no `initialize` result within `startupTimeoutMs`, an error response to `initialize`)
   */
  ensureStarted(): Promise<void> {
    if (this.#stopped) return Promise.reject(new ProviderUnavailableError(this.name, 'stopped'))
    if (isServing(this.#state)) {
      this.touch()
      return Promise.resolve()
    }
    if (this.#starting) return this.#starting
    const refused = this.#restart.refusal()
    if (refused) return Promise.reject(new ProviderUnavailableError(this.name, refused.reason, refused.retryAfterMs))
    return this.#launch('start', this.#restart.waitMs())
  }

  /**
   * Writes one JSON-RPC message to the child's stdin (requests, notifications, responses to the
   * child's own requests). Ids starting with `hangar:` are reserved for {@link request}.
   * Counts as activity.
   * @throws ProviderUnavailableError unless READY or DEGRADED with a writable stdin
   * @throws TypeError for a request whose id starts with `hangar:`
   */
  send(message: JsonRpcMessage): void {
    const child = this.#child
    if (!child || !isServing(this.#state)) throw new ProviderUnavailableError(this.name, `not running (state ${this.#state})`)
    if (isReservedRequest(message)) throw new TypeError(`request ids starting with "${ID_PREFIX}" are reserved for the provider's own requests`)
    if (!child.send(message)) throw new ProviderUnavailableError(this.name, 'its stdin is closed')
    this.touch()
  }

  /**
   * A request the provider owns (id `hangar:<n>`; the response is consumed, not emitted).
   * Counts as activity. On timeout, `notifications/cancelled` is sent (MCP "Utilities/Cancellation").
   * @param timeoutMs default `requestTimeoutMs`
   * @returns the response's `result`
   * @throws ProviderUnavailableError when not READY/DEGRADED, or the process exits or is stopped first
   * @throws ProviderTimeoutError after `timeoutMs`
   * @throws ProviderRpcError on a JSON-RPC error response
   */
  request(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>> {
    if (!this.#child || !isServing(this.#state)) return Promise.reject(new ProviderUnavailableError(this.name, `not running (state ${this.#state})`))
    this.touch()
    return this.#requests.call(this.#child, method, params, timeoutMs ?? this.#opts.requestTimeoutMs, true)
  }

  /**
   * Marks activity now: the idle timer counts from the last activity. Activity is the sidecar's
   * use of the provider (send, request, ensureStarted, touch, releasing a hold), never what the
   * child sends on its own.
   */
  touch(): void {
    this.#idle.touch()
  }

  /**
   * Holds the provider (work in flight, an open client session): no idle stop while any hold is
   * out. Returns the release function (idempotent; releasing counts as activity).
   */
  hold(): () => void {
    return this.#idle.hold()
  }

  /** Changes how the next process is launched (command, env, cwd, wrap); the running one is kept. */
  updateLaunch(launch: Partial<StdioLaunch>): void {
    this.#launchCfg = { ...this.#launchCfg, ...launch }
  }

  /**
   * Stops for good: cancels a pending restart, fails pending requests, and shuts the process down
   * per MCP "Lifecycle/Shutdown" (stdio): stdin closed, then SIGTERM after `shutdownTimeoutMs`,
   * then SIGKILL after another. Resolves when the process is gone. Idempotent; after it,
   * {@link ensureStarted} rejects and nothing restarts.
   */
  stop(reason = 'stopped'): Promise<void> {
    if (this.#stopped) return this.#stopped
    this.#restart.cancel()
    const child = this.#child
    const previous = this.#stopping
    if (this.#state !== 'COLD') this.#apply({ type: 'stopped' }, reason)
    this.#detach(new ProviderUnavailableError(this.name, `stopped: ${reason}`))
    this.#stopped = (async () => {
      if (child) await shutdownChild(child, this.#opts.shutdownTimeoutMs, this.#log)
      if (previous) await previous
    })()
    return this.#stopped
  }

  // --- start -------------------------------------------------------------------------------

  #launch(kind: 'start' | 'restart', waitMs: number): Promise<void> {
    const p = this.#run(kind, waitMs)
    this.#starting = p
    const clear = (): void => {
      if (this.#starting === p) this.#starting = undefined
    }
    p.then(clear, clear)
    return p
  }

  async #run(kind: 'start' | 'restart', waitMs: number): Promise<void> {
    if (waitMs > 0) await this.#restart.wait(waitMs, () => new ProviderUnavailableError(this.name, 'stopped'))
    if (this.#stopping) await this.#stopping
    if (this.#stopped) throw new ProviderUnavailableError(this.name, 'stopped')
    const epoch = ++this.#epoch
    this.#apply({ type: kind }, kind === 'restart' ? `restart after failure (${this.#restart.lastFailure})` : 'start')
    const launch = this.#launchCfg
    let child: ProviderChild
    try {
      child = launchChild(launch, { name: this.name, inheritedEnv: this.#opts.inheritedEnv, maxLineBytes: this.#opts.maxLineBytes, log: this.#opts.log })
    } catch (err) {
      // spawn() throws synchronously only for invalid arguments (e.g. a NUL byte in argv).
      throw this.#startFailed(`failed to start: ${(err as Error).message}`, err)
    }
    this.#child = child
    this.#opts.metrics?.coldStarts.inc({ provider: this.name })
    child.on('message', (m) => this.#onMessage(epoch, m))
    child.on('exit', (e) => this.#onExit(epoch, child, e))
    this.#log.info({ pid: child.pid, command: launch.command, wrap: launch.wrap }, 'provider process spawned')
    try {
      const result = await this.#requests.call(child, 'initialize', { ...this.#opts.initialize }, this.#opts.startupTimeoutMs, false)
      if (epoch !== this.#epoch) throw new ProviderUnavailableError(this.name, 'stopped')
      child.send({ jsonrpc: '2.0', method: 'notifications/initialized' })
      this.#initializeResult = result
    } catch (err) {
      if (epoch !== this.#epoch || this.#stopped) {
        throw err instanceof ProviderUnavailableError ? err : new ProviderUnavailableError(this.name, 'stopped', undefined, { cause: err })
      }
      const reason = startFailureReason(err, this.#opts.startupTimeoutMs)
      if (this.#child === child) {
        this.#detach(new ProviderUnavailableError(this.name, reason))
        child.kill('SIGKILL')
      }
      throw this.#startFailed(reason, err)
    }
    this.#apply({ type: 'initialized' }, 'initialize answered')
    this.#health.start(() => epoch === this.#epoch && isServing(this.#state))
    this.touch()
    this.#restart.ready()
  }

  /** Accounts for a failed start and returns the error for its callers. */
  #startFailed(reason: string, cause: unknown): ProviderUnavailableError {
    this.#apply({ type: 'start_failed' }, reason)
    const delay = this.#afterFailure(reason)
    const retryAfterMs = this.#restart.breakerState === 'open' ? this.#restart.retryAfterMs() : delay
    return new ProviderUnavailableError(this.name, `start failed: ${reason}`, retryAfterMs, { cause })
  }

  /**
   * After a failed start or a crash: a breaker failure, the next backoff delay, and an automatic
   * restart after it unless stopped or the breaker opened. Returns the delay, ms.
   */
  #afterFailure(reason: string): number {
    const delay = this.#restart.failed(reason)
    if (this.#stopped) return delay
    if (this.#restart.breakerState === 'open') {
      this.#log.warn({ retryAfterMs: this.#restart.retryAfterMs(), failures: this.#restart.failures }, 'provider circuit breaker open; no restart until it half-opens')
      return delay
    }
    this.#log.info({ delayMs: delay, attempt: this.#restart.attempt, reason }, 'provider restarts after backoff')
    this.#launch('restart', delay).catch(() => {})
    return delay
  }

  // --- the child ---------------------------------------------------------------------------

  #onMessage(epoch: number, m: JsonRpcMessage): void {
    if (epoch !== this.#epoch) return // a detached child (being stopped): nobody is listening
    if (this.#requests.settle(m)) return
    // Not activity: a chatty server (log notifications, list_changed) must not keep itself alive.
    this.emit('message', m)
  }

  #onExit(epoch: number, child: ProviderChild, e: ChildExit): void {
    const current = epoch === this.#epoch && this.#child === child
    const expected = !current
    const exit: ProviderExit = { pid: child.pid, code: e.code, signal: e.signal, expected, stderrTail: e.stderrTail, description: e.description }
    if (expected) this.#log.info({ pid: child.pid, code: e.code, signal: e.signal }, `provider process ${e.description}`)
    else this.#log.warn({ pid: child.pid, code: e.code, signal: e.signal, stderrTail: e.stderrTail }, `provider process ${e.description}`)
    if (current) {
      this.#child = undefined
      this.#clearProcessTimers()
      this.#requests.rejectAll(new ProviderUnavailableError(this.name, e.description))
      // INITIALIZING: #run sees the rejected initialize and accounts for the failed start.
      if (isServing(this.#state)) {
        this.#apply({ type: 'exited', expected: false }, e.description)
        this.#afterFailure(e.description)
      }
    }
    this.emit('exit', exit)
  }

  /** Forgets the current child: its messages and exit are ignored from now on. */
  #detach(err: Error): void {
    this.#epoch++
    this.#child = undefined
    this.#clearProcessTimers()
    this.#requests.rejectAll(err)
  }

  #idleStop(idleMs: number): void {
    const child = this.#child
    if (!child) return
    this.#apply({ type: 'idle_stopped' }, `idle for ${idleMs} ms (idle_ttl ${this.#opts.idleTtlMs} ms)`)
    this.#restart.endedCleanly() // it ran cleanly until idle: a success
    this.#detach(new ProviderUnavailableError(this.name, 'stopped: idle'))
    const p = shutdownChild(child, this.#opts.shutdownTimeoutMs, this.#log)
    this.#stopping = p
    void p.then(() => {
      if (this.#stopping === p) this.#stopping = undefined
    })
  }

  #clearProcessTimers(): void {
    this.#health.stop()
    this.#idle.clear()
  }

  #onHealth(ok: boolean, consecutive: number, timeoutMs: number): void {
    this.#opts.metrics?.healthChecks.inc({ provider: this.name, outcome: ok ? 'ok' : 'failed' })
    if (ok) {
      this.#apply({ type: 'health_ok' }, 'ping answered')
      return
    }
    this.#log.debug({ consecutive }, 'provider health check failed')
    this.#apply({ type: 'health_failed', consecutive, max: this.#opts.maxConsecutiveFailures }, `${consecutive} health checks in a row unanswered within ${timeoutMs} ms`)
  }

  // --- state -------------------------------------------------------------------------------

  #apply(event: LifecycleEvent, cause: string): boolean {
    const from = this.#state
    const r = transition(from, event)
    if (!r.ok) {
      this.#log.error({ event: event.type, state: from }, r.reason)
      return false
    }
    if (r.to === from) return true
    this.#state = r.to
    this.#publishState()
    this.#log.info({ from, to: r.to, cause }, 'provider state changed')
    this.emit('state', { from, to: r.to, cause })
    this.#opts.onLifecycle?.({ provider: this.name, kind: 'state', from, to: r.to, cause })
    return true
  }

  #publishState(): void {
    const g = this.#opts.metrics?.providerState
    if (!g) return
    for (const s of LIFECYCLE_STATES) g.set({ provider: this.name, state: s }, s === this.#state ? 1 : 0)
  }

  #onBreakerChange(from: BreakerState, to: BreakerState, cause: string): void {
    this.#opts.metrics?.circuitBreakerState.set({ provider: this.name }, BREAKER_GAUGE[to])
    this.#log.info({ from, to, cause }, 'provider circuit breaker changed')
    this.emit('breaker', { from, to, cause })
    this.#opts.onLifecycle?.({ provider: this.name, kind: 'breaker', from, to, cause })
  }
}
