/**
 * A stdio provider: one MCP server process with one lifecycle (docs/mcp-ingress.md §Provider lifecycle,
 * `COLD → INITIALIZING → READY ⇄ DEGRADED → DEAD`, proxy/lifecycle/state.ts).
 *
 * - Lazy start: no process until the first {@link StdioProvider.ensureStarted}. A start spawns the
 *   process (proxy/stdio/child.ts), sends `initialize` (MCP "Lifecycle/Initialization"), waits
 *   for its result within `startupTimeoutMs`, then sends `notifications/initialized`.
 * - Health: while READY/DEGRADED, a `ping` (MCP "Utilities/Ping") every `healthCheckIntervalMs`;
 *   `maxConsecutiveFailures` unanswered in a row → DEGRADED (it still serves); one answer → READY.
 *   Any response counts as alive, an error response too (the process is there and speaking).
 * - Failures (a failed start, an unexpected exit) → DEAD, a failure for the circuit breaker, and
 *   an automatic restart after the backoff delay unless the breaker is open; an open breaker
 *   refuses starts at once (with `retryAfterMs`) until it half-opens, when the next
 *   {@link StdioProvider.ensureStarted} is the probe.
 * - Success: a process that stays up for `stableAfterMs` after READY (or is stopped cleanly
 *   before) is a success for the breaker and resets the backoff; a half-open probe succeeds as
 *   soon as it is READY. So a provider that crashes right after each start still backs off and
 *   opens the breaker instead of restarting at the initial delay forever.
 * - Idle GC: when nothing is held ({@link StdioProvider.hold}) and the sidecar has not used it
 *   for `idleTtlMs`, it stops gracefully → COLD (expected: no failure, no restart).
 * - {@link StdioProvider.stop}: graceful shutdown per MCP "Lifecycle/Shutdown" (stdio): close
 *   stdin, wait, SIGTERM, wait, SIGKILL. Final: it never starts again.
 *
 * Messages: {@link StdioProvider.send} writes any message; requests the provider makes itself
 * ({@link StdioProvider.request}: `initialize`, `ping`, …) use string ids `hangar:<n>` and their
 * responses are consumed; every other message from the child is emitted as `message`.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { HangarError } from '../../core/errors.js'
import { silentLogger, type Logger } from '../../core/log.js'
import type { ProxyMetrics } from '../../core/metrics.js'
import { Backoff } from '../../core/backoff.js'
import { restartBackoffOptions } from '../lifecycle/backoff.js'
import { BREAKER_GAUGE, CircuitBreaker, type BreakerState } from '../lifecycle/circuit-breaker.js'
import { isServing, LIFECYCLE_STATES, transition, type LifecycleEvent, type LifecycleState } from '../lifecycle/state.js'
import type { JsonRpcErrorObject, JsonRpcMessage } from '../types.js'
import { childEnvironment, spawnStdioChild, type ChildExit, type ProviderChild } from './child.js'
import { ContainerChild } from './container-child.js'

/** Error codes of this file (to be added to core/errors.ts ERROR_CODES and docs/errors.md). */
export const PROVIDER_ERROR_CODES = {
  /** The provider cannot serve: circuit open, start failed, exited, not started, or stopped. */
  UNAVAILABLE: 'HANGAR_PROVIDER_UNAVAILABLE',
  /** A request the sidecar made to the provider was not answered in time. */
  TIMEOUT: 'HANGAR_PROVIDER_TIMEOUT',
  /** The provider answered a request the sidecar made with a JSON-RPC error. */
  RPC_ERROR: 'HANGAR_PROVIDER_RPC_ERROR',
} as const

/**
 * The provider cannot serve now. `reason` is one sentence ("circuit breaker open …",
 * "start failed: exited with code 1: <stderr line>", "stopped: shutdown"); `retryAfterMs` is set
 * when a later attempt may succeed (breaker open: until it half-opens; failed start: the backoff).
 * Answer a client with JSON-RPC `RPC.PROVIDER_UNAVAILABLE` (-32003).
 */
export class ProviderUnavailableError extends HangarError {
  constructor(readonly provider: string, readonly reason: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(
      PROVIDER_ERROR_CODES.UNAVAILABLE,
      `provider "${provider}" is unavailable: ${reason}${retryAfterMs !== undefined ? ` (retry after ${retryAfterMs} ms)` : ''}`,
      options,
    )
  }
}

/** A request made by {@link StdioProvider.request} got no response within `timeoutMs`. */
export class ProviderTimeoutError extends HangarError {
  constructor(readonly provider: string, readonly method: string, readonly timeoutMs: number) {
    super(PROVIDER_ERROR_CODES.TIMEOUT, `provider "${provider}" did not answer ${method} within ${timeoutMs} ms`)
  }
}

/** A request made by {@link StdioProvider.request} was answered with a JSON-RPC error (`rpcError`). */
export class ProviderRpcError extends HangarError {
  constructor(readonly provider: string, readonly method: string, readonly rpcError: JsonRpcErrorObject) {
    super(PROVIDER_ERROR_CODES.RPC_ERROR, `provider "${provider}" answered ${method} with error ${rpcError.code}: ${rpcError.message}`)
  }
}

/** The `initialize` request's params the sidecar sends as the provider's MCP client. */
export interface InitializeParams {
  protocolVersion: string
  capabilities: Record<string, unknown>
  clientInfo: { name: string; version: string } & Record<string, unknown>
}

/** How the process is launched. Change it for the next start with {@link StdioProvider.updateLaunch}. */
export interface StdioLaunch {
  /** argv; `command[0]` is the executable, looked up in the child env's PATH (no shell). */
  command: readonly string[]
  /** Configured environment (`providers.<name>.env`), over the inherited set. */
  env?: Readonly<Record<string, string>>
  /** Working directory (`providers.<name>.cwd`); default the sidecar's. */
  cwd?: string
  /** argv prefix, e.g. `['ip', 'netns', 'exec', '<ns>']` (`mcp-hangar up`'s network namespace). */
  wrap?: readonly string[]
  /**
   * A container provider: the Unix socket of the container broker of `mcp-hangar up`
   * (proxy/stdio/container-child.ts). Set, it replaces the process: `command`, `env`, `cwd` and
   * `wrap` are the broker's business.
   */
  brokerSocket?: string
}

/** Options of {@link StdioProvider}. Durations in ms (the config's `_s` values × 1000). */
export interface StdioProviderOptions extends StdioLaunch {
  /** Provider name (the `providers:` key): metrics label, logs, errors. */
  provider: string
  /** The sidecar's values of `INHERITED_ENV_NAMES` (proxy/stdio/child.ts), read in core/env.ts. */
  inheritedEnv?: Readonly<Record<string, string | undefined>>
  /** Params of the `initialize` request. */
  initialize: InitializeParams
  /** Spawn + `initialize` result within this (`startup_timeout_ms`). */
  startupTimeoutMs: number
  /** Each stop step (stdin closed, SIGTERM, SIGKILL) waits this long (`shutdown_timeout_ms`). */
  shutdownTimeoutMs: number
  /** Default timeout of {@link StdioProvider.request} (`request_timeout_ms`). */
  requestTimeoutMs: number
  /** Ping period while READY/DEGRADED (`health_check_interval_s` × 1000). */
  healthCheckIntervalMs: number
  /** Ping timeout; default min(healthCheckIntervalMs, requestTimeoutMs). */
  healthCheckTimeoutMs?: number
  /** Unanswered pings in a row that make it DEGRADED (`max_consecutive_failures`). */
  maxConsecutiveFailures: number
  /** Idle time before a graceful stop (`idle_ttl_s` × 1000); 0 = never. */
  idleTtlMs: number
  /** `restart_backoff {initial_ms, max_ms}`. */
  backoff: { initialMs: number; maxMs: number }
  /** `circuit_breaker {failure_threshold, reset_timeout_s × 1000}`. */
  breaker: { failureThreshold: number; resetTimeoutMs: number }
  /** Uptime after READY that counts as a successful start (breaker success, backoff reset). Default 30000; 0 = at READY. */
  stableAfterMs?: number
  /** Longest stdout line, bytes; default 16 MiB. */
  maxLineBytes?: number
  log?: Logger
  metrics?: ProxyMetrics
  /** Every state or breaker change (the lead turns it into a `provider_state_changed` signal). */
  onLifecycle?: (change: LifecycleChange) => void
  /** Jitter source for the backoff, [0, 1); default Math.random. */
  random?: () => number
  /** Clock of the circuit breaker, ms; default Date.now. */
  now?: () => number
}

/** A lifecycle state change (event `state`). */
export interface StateChange {
  from: LifecycleState
  to: LifecycleState
  /** One sentence: why ("start", "initialize answered", "exited with code 1: …", "idle for 300000 ms"). */
  cause: string
}

/** A state or breaker change, for `provider_state_changed` signals (details `{from, to, cause, breaker?}`). */
export interface LifecycleChange {
  provider: string
  kind: 'state' | 'breaker'
  from: string
  to: string
  cause: string
}

/** Event `exit`: a provider process ended. */
export interface ProviderExit {
  pid: number | undefined
  code: number | null
  signal: NodeJS.Signals | null
  /** True when the sidecar ended it (stop, idle GC, a failed start it killed). */
  expected: boolean
  stderrTail: string[]
  /** "exited with code 1: <last stderr line>", "killed by SIGKILL", "failed to start: …". */
  description: string
}

/** Events of {@link StdioProvider}. */
export interface StdioProviderEvents {
  /** A message from the child that is not a response to the provider's own requests. */
  message: [JsonRpcMessage]
  state: [StateChange]
  breaker: [{ from: BreakerState; to: BreakerState; cause: string }]
  exit: [ProviderExit]
}

interface Pending {
  method: string
  resolve: (result: Record<string, unknown>) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

const ID_PREFIX = 'hangar:'

/** One stdio MCP provider process and its lifecycle (see the file comment). */
export class StdioProvider extends EventEmitter<StdioProviderEvents> {
  readonly name: string
  readonly #opts: StdioProviderOptions
  readonly #log: Logger
  readonly #breaker: CircuitBreaker
  readonly #backoff: Backoff
  #launchCfg: StdioLaunch
  #state: LifecycleState = 'COLD'
  #child: ProviderChild | undefined
  /** Identifies the current child; bumped when a child is detached (stop, idle, failed start). */
  #epoch = 0
  #initializeResult: Record<string, unknown> | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #stopped: Promise<void> | undefined
  #cancelSleep: (() => void) | undefined
  #notBefore = 0
  #lastFailure = ''
  #seq = 0
  readonly #pending = new Map<string, Pending>()
  #healthFailures = 0
  #healthTimer: NodeJS.Timeout | undefined
  #idleTimer: NodeJS.Timeout | undefined
  #stableTimer: NodeJS.Timeout | undefined
  #breakerTimer: NodeJS.Timeout | undefined
  #held = 0
  #lastActivity = 0

  constructor(opts: StdioProviderOptions) {
    super()
    if (opts.command.length === 0) throw new TypeError(`provider "${opts.provider}": empty command`)
    this.name = opts.provider
    this.#opts = opts
    this.#log = (opts.log ?? silentLogger()).child({ provider: opts.provider })
    this.#launchCfg = { command: opts.command, env: opts.env, cwd: opts.cwd, wrap: opts.wrap, ...(opts.brokerSocket !== undefined && { brokerSocket: opts.brokerSocket }) }
    this.#backoff = new Backoff(restartBackoffOptions({ initialMs: opts.backoff.initialMs, maxMs: opts.backoff.maxMs }), opts.random)
    this.#breaker = new CircuitBreaker({
      failureThreshold: opts.breaker.failureThreshold,
      resetTimeoutMs: opts.breaker.resetTimeoutMs,
      now: opts.now,
      onStateChange: (from, to) => this.#onBreakerChange(from, to),
    })
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
    return this.#breaker.state
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
    if (!this.#breaker.canAttempt()) {
      return Promise.reject(
        new ProviderUnavailableError(this.name, `circuit breaker open after ${this.#breaker.failures} failures in a row (last: ${this.#lastFailure})`, this.#breaker.retryAfterMs()),
      )
    }
    return this.#launch('start', Math.max(0, this.#notBefore - performance.now()))
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
    if ('method' in message && 'id' in message && typeof message.id === 'string' && message.id.startsWith(ID_PREFIX)) {
      throw new TypeError(`request ids starting with "${ID_PREFIX}" are reserved for the provider's own requests`)
    }
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
    return this.#call(method, params, timeoutMs ?? this.#opts.requestTimeoutMs, true)
  }

  /**
   * Marks activity now: the idle timer counts from the last activity. Activity is the sidecar's
   * use of the provider (send, request, ensureStarted, touch, releasing a hold), never what the
   * child sends on its own.
   */
  touch(): void {
    this.#lastActivity = performance.now()
    if (this.#opts.idleTtlMs > 0 && this.#held === 0 && !this.#idleTimer && isServing(this.#state)) this.#armIdle(this.#opts.idleTtlMs)
  }

  /**
   * Holds the provider (work in flight, an open client session): no idle stop while any hold is
   * out. Returns the release function (idempotent; releasing counts as activity).
   */
  hold(): () => void {
    this.#held++
    this.#clearIdle()
    let released = false
    return () => {
      if (released) return
      released = true
      this.#held--
      this.touch()
    }
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
    this.#cancelSleep?.()
    clearTimeout(this.#breakerTimer)
    clearTimeout(this.#stableTimer)
    const child = this.#child
    const previous = this.#stopping
    if (this.#state !== 'COLD') this.#apply({ type: 'stopped' }, reason)
    this.#detach(new ProviderUnavailableError(this.name, `stopped: ${reason}`))
    this.#stopped = (async () => {
      if (child) await this.#shutdown(child)
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
    if (waitMs > 0) await this.#sleep(waitMs)
    if (this.#stopping) await this.#stopping
    if (this.#stopped) throw new ProviderUnavailableError(this.name, 'stopped')
    const epoch = ++this.#epoch
    this.#apply({ type: kind }, kind === 'restart' ? `restart after failure (${this.#lastFailure})` : 'start')
    const launch = this.#launchCfg
    let child: ProviderChild
    try {
      child = launch.brokerSocket !== undefined
        ? new ContainerChild({ name: this.name, socketPath: launch.brokerSocket, ...(this.#opts.maxLineBytes !== undefined && { maxLineBytes: this.#opts.maxLineBytes }), ...(this.#opts.log && { logger: this.#opts.log }) })
        : spawnStdioChild({
        name: this.name,
        command: launch.command,
        env: childEnvironment(this.#opts.inheritedEnv ?? {}, launch.env),
        cwd: launch.cwd,
        wrap: launch.wrap,
        maxLineBytes: this.#opts.maxLineBytes,
        logger: this.#opts.log,
      })
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
      const result = await this.#call('initialize', { ...this.#opts.initialize }, this.#opts.startupTimeoutMs, false)
      if (epoch !== this.#epoch) throw new ProviderUnavailableError(this.name, 'stopped')
      child.send({ jsonrpc: '2.0', method: 'notifications/initialized' })
      this.#initializeResult = result
    } catch (err) {
      if (epoch !== this.#epoch || this.#stopped) {
        throw err instanceof ProviderUnavailableError ? err : new ProviderUnavailableError(this.name, 'stopped', undefined, { cause: err })
      }
      const reason =
        err instanceof ProviderUnavailableError ? err.reason
          : err instanceof ProviderTimeoutError ? `no initialize result within ${this.#opts.startupTimeoutMs} ms`
            : err instanceof ProviderRpcError ? `initialize failed with error ${err.rpcError.code}: ${err.rpcError.message}`
              : (err as Error).message
      if (this.#child === child) {
        this.#detach(new ProviderUnavailableError(this.name, reason))
        child.kill('SIGKILL')
      }
      throw this.#startFailed(reason, err)
    }
    this.#apply({ type: 'initialized' }, 'initialize answered')
    this.#onReady(epoch)
  }

  /** Accounts for a failed start and returns the error for its callers. */
  #startFailed(reason: string, cause: unknown): ProviderUnavailableError {
    this.#apply({ type: 'start_failed' }, reason)
    const delay = this.#afterFailure(reason)
    const retryAfterMs = this.#breaker.state === 'open' ? this.#breaker.retryAfterMs() : delay
    return new ProviderUnavailableError(this.name, `start failed: ${reason}`, retryAfterMs, { cause })
  }

  #onReady(epoch: number): void {
    this.#healthFailures = 0
    this.#scheduleHealth(epoch)
    this.touch()
    const stable = this.#opts.stableAfterMs ?? 30_000
    if (stable === 0 || this.#breaker.state === 'half_open') this.#markStable()
    else {
      clearTimeout(this.#stableTimer)
      this.#stableTimer = setTimeout(() => this.#markStable(), stable)
      this.#stableTimer.unref()
    }
  }

  /** A successful run: the breaker closes (or stays closed with no failures), the backoff restarts. */
  #markStable(): void {
    clearTimeout(this.#stableTimer)
    this.#stableTimer = undefined
    this.#breaker.recordSuccess()
    this.#backoff.reset()
    this.#notBefore = 0
  }

  /**
   * After a failed start or a crash: a breaker failure, the next backoff delay, and an automatic
   * restart after it unless stopped or the breaker opened. Returns the delay, ms.
   */
  #afterFailure(reason: string): number {
    this.#lastFailure = reason
    clearTimeout(this.#stableTimer)
    this.#stableTimer = undefined
    this.#breaker.recordFailure()
    const delay = this.#backoff.next()
    this.#notBefore = performance.now() + delay
    if (this.#stopped) return delay
    if (this.#breaker.state === 'open') {
      this.#log.warn({ retryAfterMs: this.#breaker.retryAfterMs(), failures: this.#breaker.failures }, 'provider circuit breaker open; no restart until it half-opens')
      return delay
    }
    this.#log.info({ delayMs: delay, attempt: this.#backoff.attempt, reason }, 'provider restarts after backoff')
    this.#launch('restart', delay).catch(() => {})
    return delay
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#cancelSleep = undefined
        resolve()
      }, ms) // ref'd: a pending restart is work that keeps the process alive
      this.#cancelSleep = () => {
        clearTimeout(timer)
        this.#cancelSleep = undefined
        reject(new ProviderUnavailableError(this.name, 'stopped'))
      }
    })
  }

  // --- messages ----------------------------------------------------------------------------

  #call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number, cancelOnTimeout: boolean): Promise<Record<string, unknown>> {
    const child = this.#child
    if (!child) return Promise.reject(new ProviderUnavailableError(this.name, 'not running'))
    const id = `${ID_PREFIX}${++this.#seq}`
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return
        if (cancelOnTimeout) child.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: `no response within ${timeoutMs} ms` } })
        reject(new ProviderTimeoutError(this.name, method, timeoutMs))
      }, timeoutMs)
      timer.unref()
      this.#pending.set(id, { method, resolve, reject, timer })
      const msg = params === undefined ? { jsonrpc: '2.0' as const, id, method } : { jsonrpc: '2.0' as const, id, method, params }
      if (!child.send(msg)) {
        this.#pending.delete(id)
        clearTimeout(timer)
        reject(new ProviderUnavailableError(this.name, 'its stdin is closed'))
      }
    })
  }

  #onMessage(epoch: number, m: JsonRpcMessage): void {
    if (epoch !== this.#epoch) return // a detached child (being stopped): nobody is listening
    if (!('method' in m) && typeof m.id === 'string' && m.id.startsWith(ID_PREFIX)) {
      const p = this.#pending.get(m.id)
      if (!p) return // late answer to a timed-out request
      this.#pending.delete(m.id)
      clearTimeout(p.timer)
      if ('error' in m) p.reject(new ProviderRpcError(this.name, p.method, m.error))
      else if (typeof m.result === 'object' && m.result !== null && !Array.isArray(m.result)) p.resolve(m.result)
      else p.reject(new ProviderRpcError(this.name, p.method, { code: -32603, message: 'response result is not an object' }))
      return
    }
    // Not activity: a chatty server (log notifications, list_changed) must not keep itself alive.
    this.emit('message', m)
  }

  #rejectPending(err: Error): void {
    const all = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of all) {
      clearTimeout(p.timer)
      p.reject(err)
    }
  }

  // --- exits and stops ---------------------------------------------------------------------

  #onExit(epoch: number, child: ProviderChild, e: ChildExit): void {
    const current = epoch === this.#epoch && this.#child === child
    const expected = !current
    const exit: ProviderExit = { pid: child.pid, code: e.code, signal: e.signal, expected, stderrTail: e.stderrTail, description: e.description }
    if (expected) this.#log.info({ pid: child.pid, code: e.code, signal: e.signal }, `provider process ${e.description}`)
    else this.#log.warn({ pid: child.pid, code: e.code, signal: e.signal, stderrTail: e.stderrTail }, `provider process ${e.description}`)
    if (current) {
      this.#child = undefined
      this.#clearProcessTimers()
      this.#rejectPending(new ProviderUnavailableError(this.name, e.description))
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
    this.#rejectPending(err)
  }

  #idleStop(): void {
    const child = this.#child
    if (!child) return
    const idleMs = Math.round(performance.now() - this.#lastActivity)
    this.#apply({ type: 'idle_stopped' }, `idle for ${idleMs} ms (idle_ttl ${this.#opts.idleTtlMs} ms)`)
    if (this.#stableTimer) this.#markStable() // it ran cleanly until idle: a success
    this.#detach(new ProviderUnavailableError(this.name, 'stopped: idle'))
    const p = this.#shutdown(child)
    this.#stopping = p
    void p.then(() => {
      if (this.#stopping === p) this.#stopping = undefined
    })
  }

  /** MCP stdio shutdown: close stdin, wait; SIGTERM, wait; SIGKILL, wait. Never rejects. */
  async #shutdown(child: ProviderChild): Promise<void> {
    const ms = this.#opts.shutdownTimeoutMs
    child.closeStdin()
    if (await child.waitExit(ms)) return
    this.#log.info({ pid: child.pid }, `provider did not exit within ${ms} ms of stdin closing; SIGTERM`)
    child.kill('SIGTERM')
    if (await child.waitExit(ms)) return
    this.#log.warn({ pid: child.pid }, `provider did not exit within ${ms} ms of SIGTERM; SIGKILL`)
    child.kill('SIGKILL')
    if (!(await child.waitExit(ms))) this.#log.error({ pid: child.pid }, 'provider did not exit after SIGKILL')
  }

  // --- timers ------------------------------------------------------------------------------

  #scheduleHealth(epoch: number): void {
    clearTimeout(this.#healthTimer)
    this.#healthTimer = setTimeout(() => void this.#healthCheck(epoch), this.#opts.healthCheckIntervalMs)
    this.#healthTimer.unref()
  }

  async #healthCheck(epoch: number): Promise<void> {
    if (epoch !== this.#epoch || !isServing(this.#state)) return
    const timeoutMs = this.#opts.healthCheckTimeoutMs ?? Math.min(this.#opts.healthCheckIntervalMs, this.#opts.requestTimeoutMs)
    let ok: boolean
    try {
      await this.#call('ping', undefined, timeoutMs, true)
      ok = true
    } catch (err) {
      ok = err instanceof ProviderRpcError // answered, with an error: alive
    }
    if (epoch !== this.#epoch || !isServing(this.#state)) return // exited or stopped meanwhile
    this.#opts.metrics?.healthChecks.inc({ provider: this.name, outcome: ok ? 'ok' : 'failed' })
    if (ok) {
      this.#healthFailures = 0
      this.#apply({ type: 'health_ok' }, 'ping answered')
    } else {
      this.#healthFailures++
      this.#log.debug({ consecutive: this.#healthFailures }, 'provider health check failed')
      this.#apply(
        { type: 'health_failed', consecutive: this.#healthFailures, max: this.#opts.maxConsecutiveFailures },
        `${this.#healthFailures} health checks in a row unanswered within ${timeoutMs} ms`,
      )
    }
    this.#scheduleHealth(epoch)
  }

  #armIdle(ms: number): void {
    this.#idleTimer = setTimeout(() => this.#onIdleTimer(), ms)
    this.#idleTimer.unref()
  }

  #clearIdle(): void {
    clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
  }

  #onIdleTimer(): void {
    this.#idleTimer = undefined
    const ttl = this.#opts.idleTtlMs
    if (ttl <= 0 || this.#held > 0 || !isServing(this.#state)) return
    const idle = performance.now() - this.#lastActivity
    if (idle < ttl) this.#armIdle(Math.ceil(ttl - idle))
    else this.#idleStop()
  }

  #clearProcessTimers(): void {
    clearTimeout(this.#healthTimer)
    this.#healthTimer = undefined
    this.#clearIdle()
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

  #onBreakerChange(from: BreakerState, to: BreakerState): void {
    const resetMs = this.#opts.breaker.resetTimeoutMs
    const cause =
      to === 'open' ? `${this.#breaker.failures} failures in a row (last: ${this.#lastFailure})`
        : to === 'half_open' ? `reset timeout of ${resetMs} ms passed; the next start is a probe`
          : from === 'half_open' ? 'probe start succeeded' : 'start succeeded'
    this.#opts.metrics?.circuitBreakerState.set({ provider: this.name }, BREAKER_GAUGE[to])
    this.#log.info({ from, to, cause }, 'provider circuit breaker changed')
    clearTimeout(this.#breakerTimer)
    if (to === 'open') {
      // Publish the half-open state when it is due (the breaker moves lazily, on read).
      this.#breakerTimer = setTimeout(() => void this.#breaker.state, resetMs + 1)
      this.#breakerTimer.unref()
    }
    this.emit('breaker', { from, to, cause })
    this.#opts.onLifecycle?.({ provider: this.name, kind: 'breaker', from, to, cause })
  }
}
