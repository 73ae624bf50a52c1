/**
 * The shapes of a stdio provider (proxy/stdio/provider.ts): how it is launched, its options, and
 * the events it emits.
 */
import type { Logger } from '../../core/log.js'
import type { ProxyMetrics } from '../../core/metrics.js'
import type { BreakerState } from '../lifecycle/circuit-breaker.js'
import type { LifecycleState } from '../lifecycle/state.js'
import type { JsonRpcMessage } from '../types.js'

/** The `initialize` request's params the sidecar sends as the provider's MCP client. */
export interface InitializeParams {
  protocolVersion: string
  capabilities: Record<string, unknown>
  clientInfo: { name: string; version: string } & Record<string, unknown>
}

/** How the process is launched. Change it for the next start with `StdioProvider.updateLaunch`. */
export interface StdioLaunch {
  /** argv; `command[0]` is the executable, looked up in the child env's PATH (no shell). */
  command: readonly string[]
  /** Configured environment (`providers.<name>.env`), over the inherited set. */
  env?: Readonly<Record<string, string>>
  /** Working directory (`providers.<name>.cwd`); default the sidecar's. */
  cwd?: string
  /** argv prefix, e.g. `['ip', 'netns', 'exec', '<ns>']`. */
  wrap?: readonly string[]
  /**
   * A container provider: the Unix socket of the container broker of `mcp-hangar up`
   * (proxy/stdio/container-child.ts). Set, it replaces the process: `command`, `env`, `cwd` and
   * `wrap` are the broker's business.
   */
  brokerSocket?: string
}

/** Options of `StdioProvider`. Durations in ms (the config's `_s` values × 1000). */
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
  /** Default timeout of `StdioProvider.request` (`request_timeout_ms`). */
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

/** Events of `StdioProvider`. */
export interface StdioProviderEvents {
  /** A message from the child that is not a response to the provider's own requests. */
  message: [JsonRpcMessage]
  state: [StateChange]
  breaker: [{ from: BreakerState; to: BreakerState; cause: string }]
  exit: [ProviderExit]
}
