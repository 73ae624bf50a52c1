/**
 * The MCP inspection engine of one provider. The pipeline hands it every JSON-RPC message in both
 * directions (JSON bodies and SSE events alike); it inspects two of them and lets everything else
 * through untouched and synchronously:
 *
 * - client → server `tools/call` requests run the ordered chain of pure checks of
 *   policy/call-checks.ts (`CALL_CHECKS`, or `InspectorOptions.callChecks`); the first refusal wins,
 *   and in alert mode a violation is signalled and the next check runs. The default chain:
 *   1. quarantine (`QuarantineSwitch.state`): refused in every mode, `-32001`, rule `quarantine`;
 *   2. tool policy (`tools.allow_list`/`deny_list`) → `tool_denied`;
 *   3. holds (block/quarantine mode): a tool drifted from its pin, or outside `expected_tools`
 *      and not approved → `tool_denied` with rule `tools.pins`/`first-sight-pin`/`approved-pin`
 *      or `tools.expected_tools`;
 *   4. arguments: `max_payload_bytes` and `secret_patterns` → `secret_in_arguments` (redacted);
 *   5. the tool's last-seen `inputSchema` → `-32602`, `schema_violation`;
 *   6. `rate_limit` (token bucket) → `-32002`, `rate_limited` rule `rate_limit`, data `{retry_after_ms}`.
 *   Before the first check that reads tool definitions (holds), a tool never listed makes the
 *   Inspector ask `toolsSource` once (until the next `notifications/tools/list_changed`), else the
 *   call is forwarded unchecked and logged; after that wait the quarantine is checked again. A call
 *   that passes the chain waits for a `max_concurrency` slot (FIFO queue, `queue_timeout_ms`) →
 *   `-32002`, rule `max_concurrency`; then the quarantine is checked again. The limits are
 *   operational: enforced in every mode.
 * - server → client `tools/list` results (any page): each definition is recorded and digested
 *   against its pin (drift → `tool_definition_drift` once per tool per new digest), tools outside
 *   `expected_tools` → `undeclared_tool` once; in block/quarantine mode, denied, drifted and
 *   undeclared tools are removed from the page. `nextCursor` and every other field are kept.
 * - `notifications/tools/list_changed` from the server marks the known definitions stale.
 *
 * Enforcement modes: `alert` forwards violations (`action: alerted`); `block` refuses the call
 * (`blocked`); `quarantine` refuses it (`quarantined`) and quarantines the provider
 * (`enforcement.quarantine(reason, 'violation')`), as does a drift or an undeclared tool seen in a
 * list.
 *
 * Verdicts carry what was decided ({@link InspectorDecision}: the refusal's, or the alerts of
 * alert mode) as plain data for observers such as the request spans (proxy/trace/); the Inspector
 * itself knows nothing of tracing.
 */
import type { ProxyMetrics } from '../../core/metrics.js'
import type { Logger } from '../../core/log.js'
import type { QuarantineSwitch } from '../../policy/quarantine.js'
import type { CapabilitiesConfig } from '../../policy/capabilities.js'
import type { SignalSink } from '../../signals/sink.js'
import type { EnforcementMode } from '../../signals/types.js'
import { SchemaChecker } from '../../policy/schema-check.js'
import { compileSecretPatterns, redact, type SecretPattern } from '../../policy/secret-patterns.js'
import { compileToolPolicy, decideTool, type ToolCaller, type ToolPolicy } from '../../policy/tool-policy.js'
import {
  RPC, isRequest, rpcError,
  type CallContext, type JsonRpcErrorResponse, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse, type JsonRpcResultResponse,
} from '../types.js'
import {
  CALL_CHECKS, INVALID_PARAMS_MESSAGE, concurrencyRefusal, makeRedactor, pinRule,
  type CallCheck, type CallCheckContext, type CallFacts, type CheckOutcome, type Refusal, type SeenToolView, type Violation,
} from '../../policy/call-checks.js'
import { ConcurrencyLimiter, type Slot } from './concurrency.js'
import { PinStore } from './pins.js'
import type { BaselineObserver } from '../../policy/baseline-observer.js'
import { TokenBucket } from '../../policy/rate-limit.js'
import { ProxySignals, actionFor, signalName, type CallOutcome, type SharedMetrics } from './signals.js'
import { ToolsState, describeTool, isToolDefinition, type DriftEvent, type SeenTool } from './tools-state.js'

/**
 * A forwarded `tools/call`. The pipeline calls {@link CallTicket.finish} exactly when the call is
 * over (its response leaves the sidecar, it timed out, or the provider is gone); it releases the
 * concurrency slot and records `tool_calls_total{outcome}` and `tool_call_duration_seconds`.
 * Idempotent: later calls do nothing.
 */
export interface CallTicket {
  readonly tool: string
  /**
   * @param response the provider's response (`ok`, or `error` for a JSON-RPC error), or undefined.
   * @param failure `timeout` (request_timeout_ms passed) or `unavailable` (provider gone, circuit
   *   open); with neither and no response the outcome is `unavailable`.
   */
  finish(response: JsonRpcResponse | undefined, failure?: 'timeout' | 'unavailable'): void
}

/**
 * One decision of the Inspector on a `tools/call` that was not a plain allow: the call was refused
 * (`blocked`, `quarantined`: by a violation, a quarantine, the rate or the concurrency limit) or
 * forwarded with a violation signalled (`alerted`). Data only, for observers (the trace span
 * attributes `hangar.decision`, `hangar.rule`, `hangar.violation`); the signal is the record.
 */
export interface InspectorDecision {
  action: 'alerted' | 'blocked' | 'quarantined'
  /** The signal type: `tool_denied`, `secret_in_arguments`, `schema_violation`, `rate_limited`. */
  type: string
  /** The rule, as the signal carries it (`tools.deny_list[0]`, `quarantine`, `rate_limit`, `max_concurrency`, …). */
  rule: string
}

/**
 * What to do with a client message: forward it (with a ticket for a `tools/call`, and the alerts
 * raised in alert mode), or answer it here (with the decision that refused it).
 */
export type ClientVerdict =
  | { action: 'forward'; message: JsonRpcMessage; ticket?: CallTicket; alerts?: InspectorDecision[] }
  | { action: 'reply'; response: JsonRpcErrorResponse; decision?: InspectorDecision }

export interface InspectorOptions {
  provider: string
  sidecarId: string
  /** The provider's parsed `capabilities` block (policy/capabilities.ts). */
  capabilities: CapabilitiesConfig
  /** `rate_limit`: `rps` calls per second, `burst` calls at once. Undefined = no rate limit. */
  rateLimit?: { rps: number; burst: number }
  /** `max_concurrency`: tool calls in flight at once (≥ 1). */
  maxConcurrency: number
  /** `queue_timeout_ms`: longest wait for a concurrency slot, ms. */
  queueTimeoutMs: number
  /** Most calls waiting for a slot; one more is refused at once. Default 1000. */
  maxQueue?: number
  /** The provider's data dir; pins are persisted at `<dataDir>/tool-pins.json`. */
  dataDir: string
  /** The provider's quarantine state, shared with egress. */
  enforcement: QuarantineSwitch
  sink: SignalSink
  metrics?: ProxyMetrics
  /** `capability_violations_total` and `signals_emitted_total`, shared with the egress side. */
  sharedMetrics?: SharedMetrics
  log: Logger
  /** Monotonic-enough ms for the rate limit, sampling and durations. Default `Date.now`. */
  clock?: () => number
  /** `tool_called` sampling window, ms (`sidecar.observation_window_ms`). Default 60 000; 0 = every call. */
  observationWindowMs?: number
  /** Records listings, calls and refusals into the provider's baseline (profiles/baseline/recorder.ts). */
  baseline?: BaselineObserver
  /** Fetches the provider's current tools (all pages) when a tools/call names a tool whose definition has not been seen. */
  toolsSource?: (ctx: CallContext) => Promise<unknown[]>
  /** The checks of a `tools/call`, in order. Default {@link CALL_CHECKS}. */
  callChecks?: readonly CallCheck[]
}

/** What {@link Inspector.status} reports. */
export interface InspectorStatus {
  /** Every tool name seen in a list, sorted. */
  tools: string[]
  /** Tools hidden and refused until approved (drifted or undeclared; empty in alert mode). */
  held: string[]
  /** Tools outside `expected_tools` and not approved. */
  undeclared: string[]
  /** Tools whose current definition differs from their pin (in every mode). */
  drifted: string[]
  /** The effective pins, name → `sha256:<hex>`. */
  pins: Record<string, string>
}

/** One call under inspection. */
interface Call {
  req: JsonRpcRequest
  name: string
  args: unknown
  ctx: CallContext
  start: number
  metricTool: string
  /** Violations alerted (alert mode) so far. */
  alerts?: InspectorDecision[]
  /** The tool definitions were looked at (fetched if needed) for this call. */
  definitionAsked?: boolean
}

const MAX_ARGUMENT_KEYS = 64
const MAX_KEY_LENGTH = 64

/** The inspection engine of one provider; see the file comment for the rules. */
export class Inspector {
  readonly #o: InspectorOptions
  readonly #mode: EnforcementMode
  readonly #policy: ToolPolicy
  readonly #patterns: readonly SecretPattern[]
  readonly #redactor: (s: string) => string
  readonly #maxPayload: number
  readonly #pins: PinStore
  readonly #tools: ToolsState
  readonly #checker = new SchemaChecker()
  readonly #signals: ProxySignals
  readonly #checks: readonly CallCheck[]
  readonly #checkContext: CallCheckContext
  readonly #limiter: ConcurrencyLimiter
  readonly #clock: () => number
  readonly #invalidSchemaLogged = new Set<string>()
  #fetching: Promise<void> | undefined

  /**
   * Compiles the profile and loads the pins from `<dataDir>/tool-pins.json` (synchronously, once).
   * @throws HangarError `HANGAR_GLOB_INVALID` (a bad tool glob) or `HANGAR_CONFIG_INVALID` (an
   *   unknown secret pattern), though a config that passed policy/capabilities.ts never does.
   * @throws RangeError on a rate limit or concurrency below its minimum.
   */
  constructor(opts: InspectorOptions) {
    this.#o = opts
    const caps = opts.capabilities
    this.#mode = caps.enforcement_mode
    this.#policy = compileToolPolicy(caps.tools)
    this.#patterns = compileSecretPatterns(caps.arguments.secret_patterns)
    this.#redactor = makeRedactor(this.#patterns)
    this.#maxPayload = caps.arguments.max_payload_bytes
    this.#clock = opts.clock ?? Date.now
    this.#pins = new PinStore({ dataDir: opts.dataDir, profilePins: caps.tools.pins, log: opts.log })
    this.#tools = new ToolsState(this.#pins, { expectedTools: caps.tools.expected_tools, driftDetection: caps.tools.schema_drift_alert })
    this.#signals = new ProxySignals({
      origin: { provider: opts.provider, sidecar_id: opts.sidecarId },
      mode: this.#mode, sink: opts.sink, metrics: opts.metrics, shared: opts.sharedMetrics, log: opts.log, clock: this.#clock,
      observationWindowMs: opts.observationWindowMs,
    })
    this.#checks = opts.callChecks ?? CALL_CHECKS
    this.#checkContext = {
      policy: this.#policy, patterns: this.#patterns, maxPayloadBytes: this.#maxPayload, tools: this.#tools, checker: this.#checker, redactor: this.#redactor,
      rateLimit: opts.rateLimit && { bucket: new TokenBucket(opts.rateLimit, this.#clock), rps: opts.rateLimit.rps, burst: opts.rateLimit.burst },
    }
    this.#limiter = new ConcurrencyLimiter(opts.maxConcurrency, opts.maxQueue ?? 1000)
  }

  /**
   * Inspects one client → server message. Anything but `tools/call` is forwarded as is, synchronously.
   * A `tools/call` is answered here when refused (the error carries the request's id), else
   * forwarded with a {@link CallTicket}. A promise only when the call waits for a concurrency slot
   * or for `toolsSource`. A `tools/call` without an id (a notification, which MCP does not
   * define) is never forwarded: it gets a `-32600` reply with id null, for the pipeline to drop.
   */
  onClientMessage(msg: JsonRpcMessage, ctx: CallContext): ClientVerdict | Promise<ClientVerdict> {
    if ((msg as { method?: unknown }).method !== 'tools/call') return { action: 'forward', message: msg }
    if (!isRequest(msg)) {
      return { action: 'reply', response: rpcError(null, RPC.INVALID_REQUEST, 'Invalid Request', { reason: 'tools/call must be a request (it has no id)' }) }
    }
    const params = msg.params
    const name = params?.name
    if (typeof name !== 'string' || name === '') {
      return { action: 'reply', response: rpcError(msg.id, RPC.INVALID_PARAMS, INVALID_PARAMS_MESSAGE, [{ path: 'name', message: 'is required (the tool name, a non-empty string)' }]) }
    }
    const call: Call = { req: msg, name, args: params?.arguments, ctx, start: this.#clock(), metricTool: this.#metricTool(name) }
    return this.#runChecks(call, 0)
  }

  /**
   * Inspects one server → client message. `request` is the client request this message responds
   * to, if any. A `tools/list` result is reviewed (see the file comment) and returned as a new
   * message when tools were removed, else the same object (the pipeline may then forward the
   * original bytes). The input is never mutated. Everything else is returned as is.
   */
  onServerMessage(msg: JsonRpcMessage, request: JsonRpcRequest | undefined, ctx: CallContext): JsonRpcMessage {
    if (request !== undefined) {
      if (request.method === 'tools/list' && 'result' in msg) return this.#toolsList(msg, ctx)
      return msg
    }
    if ((msg as { method?: unknown }).method === 'notifications/tools/list_changed') this.#tools.stale = true
    return msg
  }

  /**
   * Operator approval (`hangar_approve`): re-pins the current definitions of `tools` (default:
   * every tool seen), persisted, and lifts their drift and undeclared holds. Does not release a
   * quarantine (that is `QuarantineSwitch.release`).
   */
  approve(tools?: string[]): void {
    const overridden = this.#tools.approve(tools)
    if (overridden.length > 0) {
      this.#o.log.warn({ provider: this.#o.provider, tools: overridden }, 'approved definitions differ from the profile pins (capabilities.tools.pins); the profile wins again after a restart: update it')
    }
  }

  /** Tools seen, held, undeclared and drifted, and the effective pins. */
  status(): InspectorStatus {
    const s = this.#tools.summary()
    const held = this.#mode === 'alert' ? [] : [...new Set([...s.drifted, ...s.undeclared])].sort()
    return { tools: s.tools, held, undeclared: s.undeclared, drifted: s.drifted, pins: this.#pins.snapshot() }
  }

  /** Resolves when the pins learnt or approved so far are on disk. */
  flush(): Promise<void> {
    return this.#pins.flush()
  }

  // ---- tools/call -------------------------------------------------------------------------

  /**
   * Runs the chain from check `from`: the first refusal answers the call, else the call waits for
   * a concurrency slot. Before the first check that reads tool definitions, a tool never listed is
   * fetched (once per call); after that wait, the checks marked `recheckAfterWait` run again.
   */
  #runChecks(call: Call, from: number): ClientVerdict | Promise<ClientVerdict> {
    const checks = this.#checks
    const facts = this.#facts(call)
    for (let i = from; i < checks.length; i++) {
      const check = checks[i]!
      if (check.needsDefinition && !call.definitionAsked) {
        call.definitionAsked = true
        if (!this.#tools.get(call.name) && (this.#fetching || (this.#o.toolsSource && this.#tools.stale))) {
          return this.#fetchTools(call.ctx).then(() => {
            call.metricTool = this.#metricTool(call.name) // the fetch may have made the tool known
            return this.#recheckAfterWait(call) ?? this.#runChecks(call, i)
          })
        }
      }
      const verdict = this.#apply(call, check.run(facts, this.#checkContext))
      if (verdict) return verdict
    }
    return this.#admit(call)
  }

  /** The refusal of a check marked `recheckAfterWait` (the quarantine), or undefined. */
  #recheckAfterWait(call: Call): ClientVerdict | undefined {
    const facts = this.#facts(call)
    for (const check of this.#checks) {
      if (!check.recheckAfterWait) continue
      const outcome = check.run(facts, this.#checkContext)
      if (outcome.kind === 'refusal') return this.#refuse(call, outcome.refusal)
    }
    return undefined
  }

  #facts(call: Call): CallFacts {
    const q = this.#o.enforcement.state
    return {
      provider: this.#o.provider, name: call.name, args: call.args, requestId: call.req.id, mode: this.#mode,
      quarantine: { quarantined: q.quarantined, quarantineReason: q.quarantineReason },
      caller: toolCaller(call.ctx),
    }
  }

  /** Applies one check's outcome: a refusal (violation outside alert mode, or a refusal), or undefined to go on. */
  #apply(call: Call, outcome: CheckOutcome): ClientVerdict | undefined {
    if (outcome.kind === 'violation') return this.#violate(call, outcome.violation)
    if (outcome.kind === 'refusal') return this.#refuse(call, outcome.refusal)
    const notice = outcome.notice
    if (notice?.kind === 'invalid_schema') this.#logInvalidSchema(notice.seen, notice.message)
    else if (notice?.kind === 'no_definition') {
      this.#o.log.debug({ provider: this.#o.provider, tool: signalName(call.name) }, 'tool definition unknown: call forwarded without an inputSchema check')
    }
    return undefined
  }

  /** Waits for a `max_concurrency` slot, then forwards (or refuses: queue timeout, quarantined meanwhile). */
  #admit(call: Call): ClientVerdict | Promise<ClientVerdict> {
    const slot = this.#limiter.acquire(this.#o.queueTimeoutMs)
    if (!(slot instanceof Promise)) return this.#forward(call, slot)
    return slot.then((s) => {
      if (!s) {
        const waited = Math.max(0, Math.round(this.#clock() - call.start))
        return this.#refuse(call, concurrencyRefusal(this.#facts(call), this.#o.maxConcurrency, this.#o.queueTimeoutMs, waited))
      }
      const refused = this.#recheckAfterWait(call)
      if (refused) {
        s.release()
        return refused
      }
      return this.#forward(call, s)
    })
  }

  /** Signals a violation and applies the mode: undefined (alert: go on) or the refusal. */
  #violate(call: Call, v: Violation): ClientVerdict | undefined {
    const action = actionFor(this.#mode)
    this.#signals.violation({
      type: v.type, action, tool: call.name, rule: v.rule, reason: v.reason, ctx: call.ctx,
      details: { request_id: call.req.id, ...v.details },
    })
    if (this.#mode === 'alert') {
      const alert: InspectorDecision = { action, type: v.type, rule: v.rule }
      if (call.alerts) call.alerts.push(alert)
      else call.alerts = [alert]
      return undefined
    }
    this.#signals.denied(call.metricTool, v.denied)
    if (this.#mode === 'quarantine') this.#o.enforcement.quarantine(`${v.type}: ${v.reason}`, 'violation')
    return this.#reply(call, v.error, { action, type: v.type, rule: v.rule })
  }

  /** Signals a refusal that no mode turns into an alert (quarantine, limits) and answers the call. */
  #refuse(call: Call, r: Refusal): ClientVerdict {
    if (r.kind === 'quarantined') {
      const v = r.violation
      this.#signals.violation({ type: v.type, action: 'quarantined', tool: call.name, rule: v.rule, reason: v.reason, ctx: call.ctx, details: { request_id: call.req.id } })
      this.#signals.denied(call.metricTool, v.denied)
      return this.#reply(call, v.error, { action: 'quarantined', type: v.type, rule: v.rule })
    }
    this.#signals.rateLimited(call.name, call.metricTool, r.limit, r.reason, call.ctx, r.details)
    return this.#reply(call, r.error, { action: 'blocked', type: 'rate_limited', rule: r.rule })
  }

  #reply(call: Call, error: { code: number; message: string; data?: unknown }, decision: InspectorDecision): ClientVerdict {
    this.#o.baseline?.toolRefused(call.name)
    return { action: 'reply', response: rpcError(call.req.id, error.code, error.message, error.data), decision }
  }

  #forward(call: Call, slot: Slot): ClientVerdict {
    let done = false
    const signals = this.#signals
    const clock = this.#clock
    const keys = (): string[] => this.#argumentKeys(call.args)
    const baseline = this.#o.baseline
    const redactKey = (k: string): string => this.#redactKey(k)
    const ticket: CallTicket = {
      tool: call.name,
      finish(response, failure) {
        if (done) return
        done = true
        slot.release()
        const outcome: CallOutcome = failure ?? (response === undefined ? 'unavailable' : 'error' in response ? 'error' : 'ok')
        const isError = response !== undefined && 'result' in response && response.result.isError === true
        baseline?.toolCalled(call.name, outcome !== 'ok' || isError, call.args, redactKey)
        signals.called(call.name, call.metricTool, outcome, clock() - call.start, keys(), call.ctx, {
          request_id: call.req.id, ...(isError && { is_error: true }),
        })
      },
    }
    return call.alerts ? { action: 'forward', message: call.req, ticket, alerts: call.alerts } : { action: 'forward', message: call.req, ticket }
  }

  /** The argument keys for `tool_called` (never values): at most 64, each cut to 64 characters, a key that is a secret redacted. */
  #argumentKeys(args: unknown): string[] {
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return []
    const out: string[] = []
    for (const k of Object.keys(args)) {
      if (out.length >= MAX_ARGUMENT_KEYS) break
      out.push(this.#redactKey(k))
    }
    return out
  }

  /** An argument key fit for a signal or the baseline: a secret-looking key redacted, a long one cut to 64 characters. */
  #redactKey(k: string): string {
    const secret = this.#patterns.some((p) => p.regex.test(k))
    return secret ? redact(k) : k.length > MAX_KEY_LENGTH ? `${k.slice(0, MAX_KEY_LENGTH)}…` : k
  }

  /** The `tool` label of call metrics: the name when the tool is known, else `(unknown)` (clients cannot grow the label set). */
  #metricTool(name: string): string {
    return this.#tools.knows(name) ? signalName(name) : '(unknown)'
  }

  #logInvalidSchema(seen: SeenToolView, message: string): void {
    if (this.#invalidSchemaLogged.has(seen.digest)) return
    if (this.#invalidSchemaLogged.size >= 1000) this.#invalidSchemaLogged.clear()
    this.#invalidSchemaLogged.add(seen.digest)
    this.#o.log.warn({ provider: this.#o.provider, tool: signalName(seen.tool.name), problem: message }, 'tool inputSchema cannot be used: calls are forwarded without an arguments check')
  }

  /** Asks `toolsSource` for the provider's tools; one fetch at a time; failures are logged. */
  #fetchTools(ctx: CallContext): Promise<void> {
    if (this.#fetching) return this.#fetching
    const source = this.#o.toolsSource as NonNullable<InspectorOptions['toolsSource']>
    this.#tools.stale = false // a list_changed during the fetch makes it stale again
    const p = (async () => {
      try {
        const tools = await source(ctx)
        if (Array.isArray(tools)) this.#review(tools, ctx)
        else this.#o.log.warn({ provider: this.#o.provider }, 'toolsSource returned no array; calls are forwarded without an inputSchema check')
      } catch (err) {
        this.#o.log.warn({ provider: this.#o.provider, err }, 'toolsSource failed; calls are forwarded without an inputSchema check')
      }
    })()
    this.#fetching = p
    void p.finally(() => {
      if (this.#fetching === p) this.#fetching = undefined
    })
    return p
  }

  // ---- tools/list ---------------------------------------------------------------------------

  #toolsList(msg: JsonRpcResultResponse, ctx: CallContext): JsonRpcMessage {
    const tools = msg.result.tools
    if (!Array.isArray(tools)) return msg
    const kept = this.#review(tools, ctx)
    if (kept.length === tools.length) return msg
    return { ...msg, result: { ...msg.result, tools: kept } }
  }

  /** Records and reviews listed tools; returns those the client may see (same objects, same order). */
  #review(tools: readonly unknown[], ctx: CallContext): unknown[] {
    const hide = this.#mode !== 'alert'
    const caller = toolCaller(ctx)
    const kept: unknown[] = []
    for (const entry of tools) {
      let seen: SeenTool | undefined
      if (isToolDefinition(entry)) {
        try {
          seen = describeTool(entry)
        } catch {
          seen = undefined
        }
      }
      if (!seen) {
        this.#o.log.warn({ provider: this.#o.provider }, `tools/list entry without a usable name or definition ${hide ? 'removed' : 'kept (alert mode)'}`)
        if (!hide) kept.push(entry)
        continue
      }
      const name = seen.tool.name
      this.#o.baseline?.toolListed(name, seen.digest)
      const r = this.#tools.record(seen)
      if (r.drift) this.#reportDrift(r.drift, ctx)
      if (r.firstUndeclared) this.#reportUndeclared(seen, ctx)
      if (hide && (decideTool(name, this.#policy, caller).verdict === 'deny' || this.#tools.driftOf(name) || this.#tools.isUndeclared(name))) continue
      kept.push(entry)
    }
    return kept
  }

  #reportDrift(d: DriftEvent, ctx: CallContext): void {
    const rule = pinRule(d.pin)
    const what = d.fields === null ? 'its definition' : d.fields.length > 0 ? d.fields.join(', ') : 'its name'
    const reason = `tool "${signalName(d.name)}" changed since it was pinned (${what})${this.#mode === 'alert' ? '' : '; it is hidden and refused until approved'}`
    this.#signals.drifted()
    this.#listViolation('tool_definition_drift', d.name, rule, reason, ctx, { pinned: d.pin.digest, current: d.current.digest, fields: d.fields })
  }

  #reportUndeclared(seen: SeenTool, ctx: CallContext): void {
    const reason = `the provider offers tool "${signalName(seen.tool.name)}", which is not in expected_tools${this.#mode === 'alert' ? '' : '; it is hidden and refused until approved'}`
    this.#listViolation('undeclared_tool', seen.tool.name, 'tools.expected_tools', reason, ctx, { digest: seen.digest })
  }

  #listViolation(type: string, tool: string, rule: string, reason: string, ctx: CallContext, details: Record<string, unknown>): void {
    this.#signals.violation({ type, action: actionFor(this.#mode), tool, rule, reason, ctx, details })
    if (this.#mode === 'quarantine') this.#o.enforcement.quarantine(`${type}: ${reason}`, 'violation')
  }
}

/** The caller of a request as the tool policy sees it: verified only when the identity module said so. */
export function toolCaller(ctx: CallContext): ToolCaller {
  if (!ctx.callerVerified) return { verified: false }
  return { verified: true, ...(ctx.caller !== undefined && { subject: ctx.caller }), ...(ctx.callerGroups && { groups: ctx.callerGroups }) }
}
