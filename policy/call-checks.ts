/**
 * The checks of one `tools/call`, as pure functions, and the ordered chain the Inspector
 * (proxy/inspect/inspector.ts) runs them in, like a filter chain: {@link CALL_CHECKS} is data, and
 * the first refusal wins. Each check reads the call ({@link CallFacts}) and the provider's compiled
 * state ({@link CallCheckContext}) and returns pass, a {@link Violation} (the enforcement mode
 * applies: alert signals it and the next check runs; block and quarantine refuse), or a
 * {@link Refusal} (refused in every mode: quarantine, rate limit). The Inspector does the I/O:
 * signals, metrics, logs, the pin store, the tool-definition fetch and the concurrency queue.
 *
 * Refusals answer with a JSON-RPC error: `-32001` "Tool access denied by policy" with
 * `data {provider, rule, reason}`, `-32602` "Invalid params" with `data` = the argument errors, or
 * `-32002` with `data {provider, rule, reason[, retry_after_ms]}` for the limits. No reason, rule or
 * detail ever carries a secret: findings are redacted (secret-patterns.ts).
 */
import { schemaDraft, type SchemaChecker } from './schema-check.js'
import { redact, scanArguments, type Finding, type SecretPattern } from './secret-patterns.js'
import { decideTool, type ToolCaller, type ToolPolicy } from './tool-policy.js'
import type { TokenBucket } from './rate-limit.js'
import type { EnforcementMode } from '../signals/types.js'

/**
 * The JSON-RPC error codes of a refused call (JSON-RPC 2.0 §5.1 reserves -32000..-32099 for
 * implementation-defined server errors; -32602 is the standard "Invalid params").
 */
export const CALL_ERROR = {
  /** "Tool access denied by policy": denied tool, secret in arguments, quarantine, drift hold. */
  POLICY_DENIED: -32001,
  /** Tool arguments failing the tool's inputSchema. */
  INVALID_PARAMS: -32602,
  /** Rate limit or concurrency limit hit. */
  RATE_LIMITED: -32002,
} as const

/** A JSON-RPC error object (`{code, message, data?}`, JSON-RPC 2.0 §5.1). */
export interface CallError {
  code: number
  message: string
  data?: unknown
}

/** Longest tool name written into a signal, a reason or a log line. */
export const MAX_NAME_IN_SIGNAL = 200

/** A tool name fit for a signal: at most {@link MAX_NAME_IN_SIGNAL} code units, then `…`. */
export function signalName(name: string): string {
  return name.length > MAX_NAME_IN_SIGNAL ? `${name.slice(0, MAX_NAME_IN_SIGNAL)}…` : name
}

/** `tool_access_denied_total{reason}` values. */
export type DeniedReason = 'policy' | 'schema' | 'secret' | 'drift' | 'undeclared' | 'quarantine'

/** A pin as the checks read it: where it came from (`profile`, `approved`, `learned`) and its digest. */
export interface PinView {
  digest: string
  source: 'approved' | 'profile' | 'learned'
}

/** A tool definition the provider listed, as the checks read it. */
export interface SeenToolView {
  readonly tool: { readonly name: string; readonly inputSchema?: unknown }
  /** `sha256:<hex>` of the definition. */
  readonly digest: string
}

/** What the checks read of the provider's tools (proxy/inspect/tools-state.ts `ToolsState`). */
export interface ToolView {
  /** The last-seen definition of a tool, if listed. */
  get(name: string): SeenToolView | undefined
  /** The pin a tool's current definition differs from, if it does. */
  driftOf(name: string): { pin: PinView; current: { digest: string } } | undefined
  /** True when the tool is outside `expected_tools` and not approved. */
  isUndeclared(name: string): boolean
}

/** The message of every `-32001` refusal. */
export const POLICY_DENIED_MESSAGE = 'Tool access denied by policy'
/** The message of `-32602` (JSON-RPC 2.0 §5.1). */
export const INVALID_PARAMS_MESSAGE = 'Invalid params'

/** One violation found by a check. */
export interface Violation {
  /** The signal type (docs/signals.md). */
  type: 'tool_denied' | 'schema_violation' | 'secret_in_arguments'
  /** The rule for the signal and the error data. */
  rule: string
  /** One sentence, no secret. */
  reason: string
  /** `tool_access_denied_total{reason}` when refused. */
  denied: DeniedReason
  /** The JSON-RPC error the caller gets when the call is refused. */
  error: CallError
  /** The signal's details. */
  details: Record<string, unknown>
}

function policyError(provider: string, rule: string, reason: string): CallError {
  return { code: CALL_ERROR.POLICY_DENIED, message: POLICY_DENIED_MESSAGE, data: { provider, rule, reason } }
}

/** The quarantine refusal: every call of a quarantined provider is refused, in every mode, until an operator releases it. */
export function quarantineViolation(provider: string, quarantineReason: string | undefined): Violation {
  const reason = `provider "${provider}" is quarantined${quarantineReason ? `: ${quarantineReason}` : ''}`
  return { type: 'tool_denied', rule: 'quarantine', reason, denied: 'quarantine', error: policyError(provider, 'quarantine', reason), details: {} }
}

/** The tool policy (`tools.allow_list`/`deny_list`, {@link decideTool}) for `caller` (none: unverified). */
export function policyViolation(provider: string, name: string, policy: ToolPolicy, caller?: ToolCaller): Violation | undefined {
  const d = decideTool(name, policy, caller)
  if (d.verdict === 'allow') return undefined
  const reason = d.reason.length > 400 ? `tool "${signalName(name)}" is denied by ${d.rule}` : d.reason
  return { type: 'tool_denied', rule: d.rule, reason, denied: 'policy', error: policyError(provider, d.rule, reason), details: {} }
}

/** The rule name of a pin, as signals carry it: `tools.pins` (profile), `approved-pin` (approved over the profile), `first-sight-pin`. */
export function pinRule(pin: PinView): string {
  return pin.source === 'profile' ? 'tools.pins' : pin.source === 'approved' ? 'approved-pin' : 'first-sight-pin'
}

/**
 * The holds of block and quarantine mode: a tool whose definition drifted from its pin, or a tool
 * outside `expected_tools`, is refused until approved.
 */
export function holdViolation(provider: string, name: string, tools: Pick<ToolView, 'driftOf' | 'isUndeclared'>): Violation | undefined {
  const drift = tools.driftOf(name)
  if (drift) {
    const rule = pinRule(drift.pin)
    const reason = `tool "${signalName(name)}" is held: its definition changed from its pin (${rule}); an operator must approve it`
    return { type: 'tool_denied', rule, reason, denied: 'drift', error: policyError(provider, rule, reason), details: { pinned: drift.pin.digest, current: drift.current.digest } }
  }
  if (tools.isUndeclared(name)) {
    const rule = 'tools.expected_tools'
    const reason = `tool "${signalName(name)}" is not in expected_tools; an operator must approve it`
    return { type: 'tool_denied', rule, reason, denied: 'undeclared', error: policyError(provider, rule, reason), details: {} }
  }
  return undefined
}

/** The rule a finding breaks: `arguments.secret_patterns.<name>`, `arguments.max_payload_bytes` or `arguments.scan_limits`. */
export function findingRule(f: Finding): string {
  if (f.pattern === 'payload_too_large') return 'arguments.max_payload_bytes'
  if (f.pattern === 'nesting_too_deep' || f.pattern === 'scan_limit_exceeded') return 'arguments.scan_limits'
  return `arguments.secret_patterns.${f.pattern}`
}

/**
 * Secrets and size of the arguments (`capabilities.arguments`, {@link scanArguments}). The rule is
 * the first secret found, else the first limit exceeded; details list every finding redacted.
 */
export function argumentsViolation(
  provider: string,
  name: string,
  args: unknown,
  patterns: readonly SecretPattern[],
  maxPayloadBytes: number,
): Violation | undefined {
  const findings = scanArguments(args, patterns, maxPayloadBytes)
  if (findings.length === 0) return undefined
  const secrets = findings.filter((f) => findingRule(f).startsWith('arguments.secret_patterns.'))
  const first = secrets[0] ?? (findings[0] as Finding)
  const rule = findingRule(first)
  const tool = signalName(name)
  let reason: string
  if (secrets.length > 0) {
    const names = [...new Set(secrets.map((f) => f.pattern))].join(', ')
    reason = `arguments of tool "${tool}" carry ${secrets.length === 1 ? 'a secret' : `${secrets.length} secrets`} (${names})`
  } else {
    reason = `arguments of tool "${tool}" exceed a limit: ${first.preview}`
  }
  return {
    type: 'secret_in_arguments',
    rule,
    reason,
    denied: 'secret',
    error: policyError(provider, rule, reason),
    details: { findings: findings.map((f) => ({ path: f.path, pattern: f.pattern, redacted: f.preview })) },
  }
}

/** The outcome of {@link schemaCheck}: a violation, a schema that cannot be compiled (forwarded, logged), or fine. */
export type SchemaCheckOutcome =
  | { kind: 'ok' }
  | { kind: 'violation'; violation: Violation }
  | { kind: 'invalid_schema'; message: string }

/**
 * A function that redacts every match of `patterns` in a string (first four characters and `…`,
 * as {@link redact}). Used on schema errors, whose paths name argument keys and so could name a
 * secret sent as a key. Identity when there are no patterns.
 */
export function makeRedactor(patterns: readonly SecretPattern[]): (s: string) => string {
  if (patterns.length === 0) return (s) => s
  const global = patterns.map((p) => new RegExp(p.regex.source, p.regex.flags.replace(/[gy]/g, '') + 'g'))
  return (s) => {
    let out = s
    for (const re of global) out = out.replace(re, (m) => redact(m))
    return out
  }
}

/**
 * The arguments against the tool's last-seen `inputSchema` (JSON Schema 2020-12 or draft-07) →
 * `-32602`. Paths and messages of the errors go through `redactor` (see {@link makeRedactor}).
 */
export function schemaCheck(name: string, seen: SeenToolView, args: unknown, checker: SchemaChecker, redactor: (s: string) => string = (s) => s): SchemaCheckOutcome {
  const schema = seen.tool.inputSchema
  if (schema === undefined) return { kind: 'invalid_schema', message: 'the tool has no inputSchema' }
  const r = checker.check(schema, args)
  if (r.ok) return { kind: 'ok' }
  if (r.reason === 'invalid_schema') return { kind: 'invalid_schema', message: r.errors[0]?.message ?? 'inputSchema is invalid' }
  const tool = signalName(name)
  const errors = r.errors.map((e) => ({ path: redactor(e.path), message: redactor(e.message) }))
  const first = errors[0]
  const reason = `arguments of tool "${tool}" do not match its inputSchema${first ? `: ${first.path || '(arguments)'} ${first.message}` : ''}`
  return {
    kind: 'violation',
    violation: {
      type: 'schema_violation',
      rule: 'inputSchema',
      reason,
      denied: 'schema',
      error: { code: CALL_ERROR.INVALID_PARAMS, message: INVALID_PARAMS_MESSAGE, data: errors },
      details: { errors, draft: schemaDraft(schema) ?? 'unknown' },
    },
  }
}

// ---- The chain --------------------------------------------------------------------------------

/** One `tools/call` as the checks see it. */
export interface CallFacts {
  provider: string
  /** The tool name (non-empty). */
  name: string
  /** `params.arguments`, as sent. */
  args: unknown
  /** The request's JSON-RPC id (signal details carry it as `request_id`). */
  requestId: string | number
  mode: EnforcementMode
  /** The provider's quarantine state at the time of the check. */
  quarantine: { quarantined: boolean; quarantineReason?: string }
  /** Who calls (caller-scoped tool rules); absent = an unverified caller. */
  caller?: ToolCaller
}

/** The provider's compiled state the checks read (built once by the Inspector). */
export interface CallCheckContext {
  policy: ToolPolicy
  patterns: readonly SecretPattern[]
  /** `arguments.max_payload_bytes`, bytes. */
  maxPayloadBytes: number
  tools: ToolView
  checker: SchemaChecker
  /** Redacts secrets in schema error paths and messages ({@link makeRedactor}). */
  redactor: (s: string) => string
  /** The `rate_limit` bucket and its config; undefined = no rate limit. */
  rateLimit?: { bucket: TokenBucket; rps: number; burst: number }
}

/**
 * A refusal that no enforcement mode turns into an alert: the quarantine (signalled as the
 * violation it carries, action `quarantined`) or a limit (`rate_limited` signal, `-32002`).
 */
export type Refusal =
  | { kind: 'quarantined'; violation: Violation }
  | {
      kind: 'rate_limited'
      /** `rate` (the token bucket) or `concurrency` (`max_concurrency` slots stayed busy). */
      limit: 'rate' | 'concurrency'
      rule: 'rate_limit' | 'max_concurrency'
      reason: string
      error: CallError
      /** The signal's details (with `request_id`). */
      details: Record<string, unknown>
    }

/** Something a passing check wants logged: a schema that cannot be used, or a tool never listed. */
export type CheckNotice =
  | { kind: 'invalid_schema'; seen: SeenToolView; message: string }
  | { kind: 'no_definition' }

/** What one check decided. */
export type CheckOutcome =
  | { kind: 'pass'; notice?: CheckNotice }
  | { kind: 'violation'; violation: Violation }
  | { kind: 'refusal'; refusal: Refusal }

/** One link of the chain. */
export interface CallCheck {
  /** A stable name, for tests and logs. */
  readonly name: string
  /**
   * The check reads the tool's listed definition: before the first such check, the Inspector asks
   * the provider for its tools when the name was never listed (once per call).
   */
  readonly needsDefinition?: boolean
  /** Run again after the call waited (for its tool definitions or a concurrency slot). */
  readonly recheckAfterWait?: boolean
  run(call: CallFacts, ctx: CallCheckContext): CheckOutcome
}

const PASS: CheckOutcome = { kind: 'pass' }

function fromViolation(v: Violation | undefined): CheckOutcome {
  return v ? { kind: 'violation', violation: v } : PASS
}

/** A quarantined provider refuses every call, in every mode, rule `quarantine`. */
export const quarantineCheck: CallCheck = {
  name: 'quarantine',
  recheckAfterWait: true,
  run: (call) => (call.quarantine.quarantined ? { kind: 'refusal', refusal: { kind: 'quarantined', violation: quarantineViolation(call.provider, call.quarantine.quarantineReason) } } : PASS),
}

/** `tools.allow_list` / `deny_list` → `tool_denied`. */
export const toolPolicyCheck: CallCheck = {
  name: 'tool_policy',
  run: (call, ctx) => fromViolation(policyViolation(call.provider, call.name, ctx.policy, call.caller)),
}

/** Block and quarantine mode only: a drifted tool, or one outside `expected_tools`, is held → `tool_denied`. */
export const holdCheck: CallCheck = {
  name: 'holds',
  needsDefinition: true,
  run: (call, ctx) => (call.mode === 'alert' ? PASS : fromViolation(holdViolation(call.provider, call.name, ctx.tools))),
}

/** `arguments.max_payload_bytes` and `secret_patterns` → `secret_in_arguments` (redacted). */
export const argumentsCheck: CallCheck = {
  name: 'arguments',
  run: (call, ctx) => fromViolation(argumentsViolation(call.provider, call.name, call.args, ctx.patterns, ctx.maxPayloadBytes)),
}

/**
 * The arguments against the tool's last-seen `inputSchema` → `-32602`, `schema_violation`. A tool
 * never listed, or a schema that cannot be compiled, passes with a notice (forwarded unchecked).
 */
export const inputSchemaCheck: CallCheck = {
  name: 'input_schema',
  needsDefinition: true,
  run: (call, ctx) => {
    const seen = ctx.tools.get(call.name)
    if (!seen) return { kind: 'pass', notice: { kind: 'no_definition' } }
    const r = schemaCheck(call.name, seen, call.args, ctx.checker, ctx.redactor)
    if (r.kind === 'violation') return { kind: 'violation', violation: r.violation }
    if (r.kind === 'invalid_schema') return { kind: 'pass', notice: { kind: 'invalid_schema', seen, message: r.message } }
    return PASS
  },
}

/** `rate_limit` (token bucket: takes one token when it passes) → `-32002`, rule `rate_limit`, in every mode. */
export const rateLimitCheck: CallCheck = {
  name: 'rate_limit',
  run: (call, ctx) => {
    const rl = ctx.rateLimit
    if (!rl) return PASS
    const retryAfter = rl.bucket.take()
    if (retryAfter <= 0) return PASS
    const reason = `rate limit of ${rl.rps} calls/s (burst ${rl.burst}) exceeded; retry after ${retryAfter} ms`
    return {
      kind: 'refusal',
      refusal: {
        kind: 'rate_limited', limit: 'rate', rule: 'rate_limit', reason,
        error: { code: CALL_ERROR.RATE_LIMITED, message: 'Rate limit exceeded', data: { provider: call.provider, rule: 'rate_limit', reason, retry_after_ms: retryAfter } },
        details: { retry_after_ms: retryAfter, request_id: call.requestId },
      },
    }
  },
}

/**
 * The `max_concurrency` refusal, when every slot stayed busy for `queueTimeoutMs` (the queue itself,
 * with its timer, is the Inspector's: proxy/inspect/concurrency.ts). Admission follows the chain.
 * @param waitedMs how long the call waited, ms
 */
export function concurrencyRefusal(call: Pick<CallFacts, 'provider' | 'requestId'>, maxConcurrency: number, queueTimeoutMs: number, waitedMs: number): Refusal {
  const reason = `all ${maxConcurrency} concurrency slots stayed busy for ${queueTimeoutMs} ms (queue_timeout_ms)`
  return {
    kind: 'rate_limited', limit: 'concurrency', rule: 'max_concurrency', reason,
    error: { code: CALL_ERROR.RATE_LIMITED, message: 'Too many concurrent tool calls', data: { provider: call.provider, rule: 'max_concurrency', reason } },
    details: { request_id: call.requestId, max_concurrency: maxConcurrency, waited_ms: waitedMs },
  }
}

/**
 * The checks of a `tools/call`, in order; the first refusal wins (in alert mode a violation is
 * signalled and the next check runs). The tool's definitions are fetched, when never listed,
 * before `holds`; after any wait the quarantine is checked again; a call that passes the chain
 * then waits for a `max_concurrency` slot. Limits (quarantine, rate) refuse in every mode.
 */
export const CALL_CHECKS: readonly CallCheck[] = [quarantineCheck, toolPolicyCheck, holdCheck, argumentsCheck, inputSchemaCheck, rateLimitCheck]
