/**
 * Turns inspection decisions into signals (docs/signals.md) and metrics (docs/metrics.md), for one
 * provider. Violations always signal; `tool_called` observations are sampled: at most one per
 * (tool, caller) per observation window. Never throws into the data path.
 */
import type { EgressMetrics, ProxyMetrics } from '../../core/metrics.js'
import type { Logger } from '../../core/log.js'
import { buildSignal, type SignalInput, type SignalOrigin } from '../../signals/build.js'
import type { SignalSink } from '../../signals/sink.js'
import type { EnforcementMode, Severity, SignalAction, SignalType } from '../../signals/types.js'
import type { CallContext } from '../types.js'
import { signalName, type DeniedReason } from '../../policy/call-checks.js'

// Where the name rule and the denied reasons live (the checks use them too); re-exported for the request spans.
export { MAX_NAME_IN_SIGNAL, signalName, type DeniedReason } from '../../policy/call-checks.js'

/** The enforcement action of a violation under `mode` (docs/mcp-ingress.md §Enforcement modes): alert → alerted, block → blocked, quarantine → quarantined. Pure. */
export function actionFor(mode: EnforcementMode): Exclude<SignalAction, 'allowed'> {
  return mode === 'alert' ? 'alerted' : mode === 'block' ? 'blocked' : 'quarantined'
}


/** `tool_calls_total{outcome}` values. */
export type CallOutcome = 'ok' | 'error' | 'denied' | 'rate_limited' | 'unavailable' | 'timeout'

/** Counters shared with the egress side (`capability_violations_total`, `signals_emitted_total`). */
export type SharedMetrics = Pick<EgressMetrics, 'capabilityViolations' | 'signalsEmitted'>

/** One violation to signal. */
export interface ViolationInput {
  type: SignalType
  action: SignalAction
  tool: string
  rule: string
  reason: string
  ctx?: CallContext
  severity?: Severity
  details?: Record<string, unknown>
}

export interface ProxySignalsOptions {
  origin: SignalOrigin
  mode: EnforcementMode
  sink: SignalSink
  metrics?: ProxyMetrics
  shared?: SharedMetrics
  log: Logger
  /** ms; drives the sampling window (signal times are wall-clock). */
  clock: () => number
  /** `tool_called` sampling window in ms; 0 = every call. Default 60 000. */
  observationWindowMs?: number
}

const MAX_SAMPLER_KEYS = 10_000
/** Signal + metric output of the MCP inspection of one provider. */
export class ProxySignals {
  readonly #o: ProxySignalsOptions
  readonly #window: number
  readonly #sampled = new Map<string, number>()

  constructor(opts: ProxySignalsOptions) {
    this.#o = opts
    this.#window = opts.observationWindowMs ?? 60_000
  }

  /** Emits a `violation` signal, logs it at info, and counts `capability_violations_total`. */
  violation(v: ViolationInput): void {
    const { provider } = this.#o.origin
    this.#o.shared?.capabilityViolations.inc({ provider, violation_type: v.type, action: v.action })
    this.#o.log.info({ provider, type: v.type, action: v.action, rule: v.rule, tool: signalName(v.tool), caller: v.ctx?.caller, session: v.ctx?.sessionId }, v.reason)
    this.#emit({
      kind: 'violation', type: v.type, action: v.action, enforcement_mode: this.#o.mode,
      tool: signalName(v.tool), rule: v.rule, reason: v.reason, ...contextFields(v.ctx),
      ...(v.severity && { severity: v.severity }), ...withIdentity(v.details, v.ctx),
    })
  }

  /** A call refused by a tool-level check: `tool_access_denied_total{reason}` and `tool_calls_total{outcome=denied}`. */
  denied(tool: string, reason: DeniedReason): void {
    const m = this.#o.metrics
    if (!m) return
    m.toolAccessDenied.inc({ provider: this.#o.origin.provider, tool, reason })
    m.toolCalls.inc({ provider: this.#o.origin.provider, tool, outcome: 'denied' })
  }

  /** A call refused by `rate_limit` or `max_concurrency`: an `enforcement` signal (action blocked, every mode) and the metrics. */
  rateLimited(tool: string, metricTool: string, limit: 'rate' | 'concurrency', reason: string, ctx: CallContext, details: Record<string, unknown>): void {
    const { provider } = this.#o.origin
    const m = this.#o.metrics
    m?.rateLimitHits.inc({ provider, limit })
    m?.toolCalls.inc({ provider, tool: metricTool, outcome: 'rate_limited' })
    this.#o.log.info({ provider, type: 'rate_limited', tool: signalName(tool), caller: ctx.caller }, reason)
    this.#emit({
      kind: 'enforcement', type: 'rate_limited', action: 'blocked', enforcement_mode: this.#o.mode,
      tool: signalName(tool), rule: limit === 'rate' ? 'rate_limit' : 'max_concurrency', reason, ...contextFields(ctx), ...withIdentity(details, ctx),
    })
  }

  /** `tool_schema_drifts_total`. */
  drifted(): void {
    this.#o.metrics?.toolSchemaDrifts.inc({ provider: this.#o.origin.provider })
  }

  /**
   * A forwarded call finished: `tool_calls_total{outcome}`, `tool_call_duration_seconds`, and a
   * sampled `tool_called` observation with the argument keys (never values).
   */
  called(tool: string, metricTool: string, outcome: CallOutcome, durationMs: number, argumentKeys: readonly string[], ctx: CallContext, details?: Record<string, unknown>): void {
    const { provider } = this.#o.origin
    const m = this.#o.metrics
    if (m) {
      m.toolCalls.inc({ provider, tool: metricTool, outcome })
      m.toolCallDuration.observe({ provider, tool: metricTool }, Math.max(0, durationMs) / 1000)
    }
    if (!this.#firstInWindow(`${tool}\u0000${ctx.caller ?? ''}`)) return
    this.#emit({
      kind: 'observation', type: 'tool_called', action: 'allowed', enforcement_mode: this.#o.mode,
      tool: signalName(tool), reason: `tool "${signalName(tool)}" called: ${outcome} in ${Math.round(durationMs)} ms`, ...contextFields(ctx),
      ...withIdentity({ argument_keys: argumentKeys, outcome, duration_ms: Math.round(durationMs), ...details }, ctx),
    })
  }

  #firstInWindow(key: string): boolean {
    if (this.#window === 0) return true
    const now = this.#o.clock()
    const last = this.#sampled.get(key)
    if (last !== undefined && now - last < this.#window) return false
    if (this.#sampled.size >= MAX_SAMPLER_KEYS) this.#sampled.clear()
    this.#sampled.set(key, now)
    return true
  }

  #emit(input: SignalInput): void {
    try {
      const s = buildSignal(this.#o.origin, input)
      this.#o.shared?.signalsEmitted.inc({ provider: this.#o.origin.provider, kind: s.kind })
      this.#o.sink.emit(s)
    } catch (err) {
      this.#o.log.error({ err }, 'failed to emit a signal')
    }
  }
}

/**
 * The caller fields every proxy signal carries (docs/signals.md): session_id, caller (with
 * `caller_verified`: true only for a caller the identity module verified), trace_id, span_id.
 */
function contextFields(ctx: CallContext | undefined): Pick<SignalInput, 'session_id' | 'caller' | 'caller_verified' | 'trace_id' | 'span_id'> {
  if (!ctx) return {}
  return {
    ...(ctx.sessionId !== undefined && { session_id: ctx.sessionId }),
    ...(ctx.caller !== undefined && { caller: ctx.caller, caller_verified: ctx.callerVerified === true }),
    ...(ctx.traceId !== undefined && { trace_id: ctx.traceId }),
    ...(ctx.spanId !== undefined && { span_id: ctx.spanId }),
  }
}

/** Most groups written into a signal's `details.caller_groups` (the policy reads them all). */
export const MAX_GROUPS_IN_SIGNAL = 32
/** Largest `details.caller_claims` written, as JSON characters (more: left out, `caller_claims_truncated`). */
export const MAX_CLAIMS_JSON_IN_SIGNAL = 4096

/**
 * `details` with the verified caller's groups (`caller_groups`, the first {@link MAX_GROUPS_IN_SIGNAL},
 * `caller_groups_truncated` when there were more) and extra claims (`caller_claims`, when their JSON
 * is at most {@link MAX_CLAIMS_JSON_IN_SIGNAL} characters, else `caller_claims_truncated`: the
 * signal must stay far below the validator's details limit); unchanged for an unverified caller.
 * Returns `{details}` to spread into a signal, or nothing without details.
 */
function withIdentity(details: Record<string, unknown> | undefined, ctx: CallContext | undefined): { details?: Record<string, unknown> } {
  if (!ctx?.callerVerified) return details ? { details } : {}
  const groups = ctx.callerGroups ?? []
  const claims = ctx.callerClaims
  const hasClaims = claims !== undefined && Object.keys(claims).length > 0
  if (groups.length === 0 && !hasClaims) return details ? { details } : {}
  const claimsFit = hasClaims && JSON.stringify(claims).length <= MAX_CLAIMS_JSON_IN_SIGNAL
  return {
    details: {
      ...details,
      ...(groups.length > 0 && { caller_groups: groups.slice(0, MAX_GROUPS_IN_SIGNAL) }),
      ...(groups.length > MAX_GROUPS_IN_SIGNAL && { caller_groups_truncated: true }),
      ...(claimsFit && { caller_claims: claims }),
      ...(hasClaims && !claimsFit && { caller_claims_truncated: true }),
    },
  }
}
