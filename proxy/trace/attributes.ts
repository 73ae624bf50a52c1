/**
 * Span names and attributes of the MCP server span, as pure functions (no OpenTelemetry import):
 * the OpenTelemetry semantic conventions for MCP ("Semantic conventions for Model Context
 * Protocol", span `mcp.server`, status Development; open-telemetry/semantic-conventions-genai
 * model/mcp/spans.yaml and common.yaml), one span per client JSON-RPC request or notification.
 *
 * - Name: `{mcp.method.name} {target}`, target = `gen_ai.tool.name` (tools/call) or
 *   `gen_ai.prompt.name` (prompts/get); the method alone otherwise. The resource URI is not a
 *   target by default ("SHOULD NOT include it by default to avoid high cardinality span names");
 *   {@link SpanScopeInfo.resourceUriInName} is the convention's opt-in.
 * - Kind SERVER (set by the tracer); attributes `mcp.method.name`, `jsonrpc.request.id` (requests),
 *   `mcp.session.id`, `mcp.protocol.version`, `gen_ai.tool.name` + `gen_ai.operation.name =
 *   execute_tool`, `gen_ai.prompt.name`, `mcp.resource.uri` (resources/read, subscribe,
 *   unsubscribe), `network.transport = tcp`, `network.protocol.name = http`,
 *   `network.protocol.version`, `client.address`, `client.port`. `jsonrpc.protocol.version` is
 *   "Recommended when it's not 2.0": the ingress admits only `"2.0"`, so it is never set.
 * - Outcome: a JSON-RPC error sets `rpc.response.status_code` (the code as a string), the name
 *   the MCP conventions use (`@opentelemetry/semantic-conventions` 1.45 already marks it
 *   deprecated for the RPC registry's `rpc.status_code`, which the MCP conventions have not
 *   adopted).
 *   `error.type` (= the code) and status ERROR (description = the error message) only when the
 *   code classifies as a server error: the MCP server conventions count -32700, -32600, -32601,
 *   -32602 and -32002 "Resource not found" (on resources/*) as the caller's fault, every other
 *   code as an error. A tools/call result with `isError: true` → `error.type = tool_error`.
 *   An answer that never came → `error.type` = the failure (`timeout`, `unavailable`, …).
 * - MCP Hangar's own: `hangar.provider` always; `hangar.decision` (`alerted`, `blocked`,
 *   `quarantined`), `hangar.rule` and `hangar.violation` (the signal type) when the Inspector
 *   refused or alerted (the first decision of a call).
 * - Caller: `hangar.caller` (the signals' `caller`) and `hangar.caller.verified` when the request
 *   names one; for a caller the identity module verified also `user.id` (the subject; semantic
 *   conventions "user" registry, experimental), `hangar.caller.groups` (at most
 *   {@link MAX_GROUPS_ON_SPAN}) and `hangar.caller.claim.<name>` for each configured extra claim
 *   (none when their JSON exceeds {@link MAX_CLAIMS_JSON_ON_SPAN} characters).
 */
import type { InspectorDecision } from '../inspect/inspector.js'
import { signalName } from '../inspect/signals.js'
import { RPC, type JsonRpcId, type JsonRpcResponse } from '../types.js'

/** The attribute names used here (the semconv `ATTR_*` values; checked against the package in the tests). */
export const ATTR = {
  MCP_METHOD_NAME: 'mcp.method.name',
  MCP_SESSION_ID: 'mcp.session.id',
  MCP_PROTOCOL_VERSION: 'mcp.protocol.version',
  MCP_RESOURCE_URI: 'mcp.resource.uri',
  JSONRPC_REQUEST_ID: 'jsonrpc.request.id',
  GEN_AI_TOOL_NAME: 'gen_ai.tool.name',
  GEN_AI_OPERATION_NAME: 'gen_ai.operation.name',
  GEN_AI_PROMPT_NAME: 'gen_ai.prompt.name',
  ERROR_TYPE: 'error.type',
  RPC_RESPONSE_STATUS_CODE: 'rpc.response.status_code',
  NETWORK_TRANSPORT: 'network.transport',
  NETWORK_PROTOCOL_NAME: 'network.protocol.name',
  NETWORK_PROTOCOL_VERSION: 'network.protocol.version',
  CLIENT_ADDRESS: 'client.address',
  CLIENT_PORT: 'client.port',
  HANGAR_PROVIDER: 'hangar.provider',
  HANGAR_DECISION: 'hangar.decision',
  HANGAR_RULE: 'hangar.rule',
  HANGAR_VIOLATION: 'hangar.violation',
  USER_ID: 'user.id',
  HANGAR_CALLER: 'hangar.caller',
  HANGAR_CALLER_VERIFIED: 'hangar.caller.verified',
  HANGAR_CALLER_GROUPS: 'hangar.caller.groups',
  HANGAR_CALLER_CLAIM_PREFIX: 'hangar.caller.claim.',
} as const

/** Most groups put on a span. */
export const MAX_GROUPS_ON_SPAN = 32
/** Largest set of claims put on a span, as JSON characters (larger: none). */
export const MAX_CLAIMS_JSON_ON_SPAN = 4096

/** Attribute values as OpenTelemetry accepts them (a subset of `@opentelemetry/api` `Attributes`). */
export type SpanAttributes = Record<string, string | number | boolean | string[]>

/** Where a client message arrived: what the span knows besides the message. */
export interface SpanScopeInfo {
  /** `hangar.provider`. */
  provider: string
  /** The client's `Mcp-Session-Id`, when it has one. */
  sessionId?: string
  /** The request's `MCP-Protocol-Version` (or the default the ingress assumed). */
  protocolVersion?: string
  /** The ingress HTTP version (`1.1`, `2`): `network.protocol.version`. */
  httpVersion?: string
  /** The peer of the ingress connection: `client.address` / `client.port`. */
  clientAddress?: string
  clientPort?: number
  /** Opt-in of the conventions: the resource URI as the span name's target. Default false. */
  resourceUriInName?: boolean
  /** The request's caller, as signals name it. */
  caller?: string
  /** True when the identity module verified `caller`. */
  callerVerified?: boolean
  /** The verified caller's groups and extra claims. */
  callerGroups?: readonly string[]
  callerClaims?: Readonly<Record<string, string | string[]>>
}

/** `info` with the caller fields of a request's context (unchanged when it names no caller). */
export function withCaller(info: SpanScopeInfo, ctx: { caller?: string; callerVerified?: boolean; callerGroups?: readonly string[]; callerClaims?: Readonly<Record<string, string | string[]>> }): SpanScopeInfo {
  if (ctx.caller === undefined) return info
  return {
    ...info, caller: ctx.caller, callerVerified: ctx.callerVerified === true,
    ...(ctx.callerVerified && ctx.callerGroups && { callerGroups: ctx.callerGroups }),
    ...(ctx.callerVerified && ctx.callerClaims && { callerClaims: ctx.callerClaims }),
  }
}

/** A client message as far as naming needs it. */
export interface TracedMessage {
  method: string
  id?: JsonRpcId
  params?: Record<string, unknown>
}

/** The name and start attributes of a span. */
export interface SpanStart {
  name: string
  attributes: SpanAttributes
}

/** How a span ends: attributes to add and, for an error, its `error.type` and status description. */
export interface SpanOutcome {
  attributes: SpanAttributes
  error?: { type: string; message?: string }
}

/** Longest status description copied from a JSON-RPC error message. */
export const MAX_STATUS_MESSAGE = 512

/** Methods whose `params.uri` is `mcp.resource.uri` (client → server; conventions note [4]). */
const RESOURCE_URI_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe'])

/** Codes the MCP server conventions count as the caller's fault, not a server error. */
const CALLER_FAULT_CODES = new Set<number>([RPC.PARSE_ERROR, RPC.INVALID_REQUEST, RPC.METHOD_NOT_FOUND, RPC.INVALID_PARAMS])
/** MCP "Resource not found" (spec 2025-11-25, Resources § Error Handling), on resources/* only. */
const RESOURCE_NOT_FOUND = -32002

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** The span name and start attributes of one client request or notification (see the file comment). */
export function describeRequest(msg: TracedMessage, scope: SpanScopeInfo): SpanStart {
  const { method } = msg
  const params = msg.params
  const a: SpanAttributes = { [ATTR.MCP_METHOD_NAME]: method, [ATTR.HANGAR_PROVIDER]: scope.provider }
  if (msg.id !== undefined && msg.id !== null) a[ATTR.JSONRPC_REQUEST_ID] = String(msg.id)
  if (scope.sessionId) a[ATTR.MCP_SESSION_ID] = scope.sessionId
  const version = method === 'initialize' ? (str(params?.protocolVersion) ?? scope.protocolVersion) : scope.protocolVersion
  if (version) a[ATTR.MCP_PROTOCOL_VERSION] = version
  a[ATTR.NETWORK_TRANSPORT] = 'tcp'
  a[ATTR.NETWORK_PROTOCOL_NAME] = 'http'
  if (scope.httpVersion) a[ATTR.NETWORK_PROTOCOL_VERSION] = scope.httpVersion
  if (scope.clientAddress) {
    a[ATTR.CLIENT_ADDRESS] = scope.clientAddress
    if (scope.clientPort !== undefined) a[ATTR.CLIENT_PORT] = scope.clientPort
  }
  if (scope.caller !== undefined) {
    a[ATTR.HANGAR_CALLER] = scope.caller
    a[ATTR.HANGAR_CALLER_VERIFIED] = scope.callerVerified === true
    if (scope.callerVerified) {
      a[ATTR.USER_ID] = scope.caller
      if (scope.callerGroups?.length) a[ATTR.HANGAR_CALLER_GROUPS] = scope.callerGroups.slice(0, MAX_GROUPS_ON_SPAN)
      const claims = scope.callerClaims
      if (claims && JSON.stringify(claims).length <= MAX_CLAIMS_JSON_ON_SPAN) {
        for (const [k, v] of Object.entries(claims)) a[`${ATTR.HANGAR_CALLER_CLAIM_PREFIX}${k}`] = Array.isArray(v) ? [...v] : v
      }
    }
  }
  let target: string | undefined
  if (method === 'tools/call') {
    a[ATTR.GEN_AI_OPERATION_NAME] = 'execute_tool'
    const tool = str(params?.name)
    if (tool !== undefined) {
      a[ATTR.GEN_AI_TOOL_NAME] = tool
      target = signalName(tool)
    }
  } else if (method === 'prompts/get') {
    const prompt = str(params?.name)
    if (prompt !== undefined) {
      a[ATTR.GEN_AI_PROMPT_NAME] = prompt
      target = signalName(prompt)
    }
  } else if (RESOURCE_URI_METHODS.has(method)) {
    const uri = str(params?.uri)
    if (uri !== undefined) {
      a[ATTR.MCP_RESOURCE_URI] = uri
      if (scope.resourceUriInName) target = signalName(uri)
    }
  }
  return { name: target === undefined ? method : `${method} ${target}`, attributes: a }
}

/**
 * True when a JSON-RPC error `code` answering `method` is a server error (span status ERROR):
 * everything but -32700, -32600, -32601, -32602, and -32002 on resources/* (MCP server conventions,
 * `rpc.response.status_code`). MCP Hangar's own refusals (-32001 policy, -32002 rate limit on
 * tools/call, -32003 provider unavailable) are errors.
 */
export function isServerError(method: string, code: number): boolean {
  if (CALLER_FAULT_CODES.has(code)) return false
  if (code === RESOURCE_NOT_FOUND && method.startsWith('resources/')) return false
  return true
}

/**
 * How the span of `method` ends: with the `response` the client got, or, when none came, with
 * `failure` (a low-cardinality `error.type`: `timeout`, `unavailable`, `cancelled`). A
 * notification ends with neither (no answer is expected) and no error.
 */
export function describeOutcome(method: string, response: JsonRpcResponse | undefined, failure?: string): SpanOutcome {
  if (response === undefined) {
    if (failure === undefined) return { attributes: {} }
    return { attributes: { [ATTR.ERROR_TYPE]: failure }, error: { type: failure, message: `no response: ${failure}` } }
  }
  if ('error' in response) {
    const code = response.error.code
    const attributes: SpanAttributes = { [ATTR.RPC_RESPONSE_STATUS_CODE]: String(code) }
    if (!isServerError(method, code)) return { attributes }
    attributes[ATTR.ERROR_TYPE] = String(code)
    const m = typeof response.error.message === 'string' ? response.error.message : undefined
    return { attributes, error: { type: String(code), ...(m !== undefined && { message: m.length > MAX_STATUS_MESSAGE ? `${m.slice(0, MAX_STATUS_MESSAGE)}…` : m }) } }
  }
  const result = response.result as Record<string, unknown> | undefined
  if (method === 'tools/call' && result?.isError === true) {
    return { attributes: { [ATTR.ERROR_TYPE]: 'tool_error' }, error: { type: 'tool_error' } }
  }
  if (method === 'initialize') {
    const v = str(result?.protocolVersion)
    if (v !== undefined) return { attributes: { [ATTR.MCP_PROTOCOL_VERSION]: v } } // the negotiated version
  }
  return { attributes: {} }
}

/** `hangar.decision`, `hangar.rule`, `hangar.violation` of an Inspector decision. */
export function decisionAttributes(d: InspectorDecision): SpanAttributes {
  return { [ATTR.HANGAR_DECISION]: d.action, [ATTR.HANGAR_RULE]: d.rule, [ATTR.HANGAR_VIOLATION]: d.type }
}
