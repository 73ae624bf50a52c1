/**
 * The tool-level checks of one `tools/call` (docs/mcp-ingress.md §Inspection), as pure functions: each returns the
 * {@link Violation} it found, or undefined. The {@link Inspector} runs them in order and applies
 * the enforcement mode; these functions decide nothing about modes.
 *
 * Refusals answer with the JSON-RPC error of docs/mcp-ingress.md §Refusals: `-32001` "Tool access denied by policy"
 * with `data {provider, rule, reason}`, or `-32602` "Invalid params" with `data` = the argument
 * errors. No reason, rule or detail ever carries a secret: findings are redacted by
 * policy/secret-patterns.ts.
 */
import { schemaDraft, type SchemaChecker } from '../../policy/schema-check.js'
import { redact, scanArguments, type Finding, type SecretPattern } from '../../policy/secret-patterns.js'
import { decideTool, type ToolPolicy } from '../../policy/tool-policy.js'
import { RPC, type JsonRpcErrorObject } from '../types.js'
import { signalName, type DeniedReason } from './signals.js'
import type { Pin } from './pins.js'
import type { SeenTool, ToolsState } from './tools-state.js'

/** The message of every `-32001` refusal (docs/mcp-ingress.md §Refusals). */
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
  error: JsonRpcErrorObject
  /** The signal's details. */
  details: Record<string, unknown>
}

function policyError(provider: string, rule: string, reason: string): JsonRpcErrorObject {
  return { code: RPC.POLICY_DENIED, message: POLICY_DENIED_MESSAGE, data: { provider, rule, reason } }
}

/** The quarantine refusal (docs/mcp-ingress.md §Enforcement modes: "every call … denied until hangar_approve"); refused in every mode. */
export function quarantineViolation(provider: string, quarantineReason: string | undefined): Violation {
  const reason = `provider "${provider}" is quarantined${quarantineReason ? `: ${quarantineReason}` : ''}`
  return { type: 'tool_denied', rule: 'quarantine', reason, denied: 'quarantine', error: policyError(provider, 'quarantine', reason), details: {} }
}

/** The tool policy (`tools.allow_list`/`deny_list`, {@link decideTool}). */
export function policyViolation(provider: string, name: string, policy: ToolPolicy): Violation | undefined {
  const d = decideTool(name, policy)
  if (d.verdict === 'allow') return undefined
  const reason = d.reason.length > 400 ? `tool "${signalName(name)}" is denied by ${d.rule}` : d.reason
  return { type: 'tool_denied', rule: d.rule, reason, denied: 'policy', error: policyError(provider, d.rule, reason), details: {} }
}

/** The rule name of a pin, as signals carry it: `tools.pins` (profile), `approved-pin` (approved over the profile), `first-sight-pin`. */
export function pinRule(pin: Pin): string {
  return pin.source === 'profile' ? 'tools.pins' : pin.source === 'approved' ? 'approved-pin' : 'first-sight-pin'
}

/**
 * The holds of block and quarantine mode (docs/mcp-ingress.md §Tool-definition drift): a tool whose definition drifted from its
 * pin, or a tool outside `expected_tools`, is refused until approved.
 */
export function holdViolation(provider: string, name: string, tools: ToolsState): Violation | undefined {
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
export function schemaCheck(name: string, seen: SeenTool, args: unknown, checker: SchemaChecker, redactor: (s: string) => string = (s) => s): SchemaCheckOutcome {
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
      error: { code: RPC.INVALID_PARAMS, message: INVALID_PARAMS_MESSAGE, data: errors },
      details: { errors, draft: schemaDraft(schema) ?? 'unknown' },
    },
  }
}
