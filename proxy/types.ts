/**
 * Shapes shared by the MCP data plane (proxy/): JSON-RPC 2.0 messages as they cross the sidecar,
 * and the context every inspected message carries.
 *
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) as MCP uses it (spec 2025-06-18 and
 * 2025-11-25, "Base Protocol"): ids are strings or numbers (MCP forbids null request ids);
 * `params` is an object. These types are structural and light on purpose: the sidecar inspects
 * every message on the hot path and validates shape once, in proxy/http/jsonrpc.ts.
 */

/** A JSON-RPC id. MCP: "MUST be a string or integer", never null, unique per session per sender. */
export type JsonRpcId = string | number

/** JSON-RPC error codes the sidecar answers with: core/errors.ts `JSON_RPC_ERROR_CODES` (documented in docs/errors.md). */
export { JSON_RPC_ERROR_CODES as RPC } from '../core/errors.js'

export interface JsonRpcErrorObject {
  code: number
  message: string
  data?: unknown
}

export interface JsonRpcRequest {
  jsonrpc: '2.0'
  id: JsonRpcId
  method: string
  params?: Record<string, unknown>
}

export interface JsonRpcNotification {
  jsonrpc: '2.0'
  method: string
  params?: Record<string, unknown>
}

export interface JsonRpcResultResponse {
  jsonrpc: '2.0'
  id: JsonRpcId
  result: Record<string, unknown>
}

export interface JsonRpcErrorResponse {
  jsonrpc: '2.0'
  /** null only when the request's id could not be read (parse error, invalid request). */
  id: JsonRpcId | null
  error: JsonRpcErrorObject
}

export type JsonRpcResponse = JsonRpcResultResponse | JsonRpcErrorResponse
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m
}

export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m)
}

export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !('method' in m)
}

export function isErrorResponse(m: JsonRpcMessage): m is JsonRpcErrorResponse {
  return 'error' in m && !('method' in m)
}

/** A JSON-RPC error response. */
export function rpcError(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcErrorResponse {
  return data === undefined ? { jsonrpc: '2.0', id, error: { code, message } } : { jsonrpc: '2.0', id, error: { code, message, data } }
}

/**
 * Who sent a client→server message and over which session. Every proxy signal carries it
 * (`session_id`, `caller`, `trace_id`/`span_id`).
 */
export interface CallContext {
  /** The client's `Mcp-Session-Id` (the one the sidecar issued, or the remote provider's). */
  sessionId?: string
  /**
   * Caller identity: the subject the identity module verified from the bearer JWT (with
   * `ingress.auth.oidc`); else, unverified, the bearer JWT's `sub` claim, else `X-Hangar-Caller`,
   * else undefined.
   */
  caller?: string
  /** True only when `caller` was verified (an OIDC bearer JWT); signals carry it as `caller_verified`. */
  callerVerified?: boolean
  /** The issuer that verified `caller` (set only with `callerVerified`). */
  callerIssuer?: string
  /** The verified caller's groups (set only with `callerVerified`). */
  callerGroups?: readonly string[]
  /** The verified caller's configured extra claims (set only with `callerVerified`). */
  callerClaims?: Readonly<Record<string, string | string[]>>
  /** W3C trace context from `params._meta.traceparent`, when the client sent one. */
  traceId?: string
  spanId?: string
}

/**
 * The context of one request on a session: the session's context with the request's own
 * identity. When either side holds a verified identity the request's identity replaces the
 * session's field by field (absent fields included), so a request never borrows a verified
 * identity, or its groups, from the request that opened the session. Otherwise the request's
 * fields are laid over the session's (an unverified caller named once stays named). Returns
 * `session` itself when nothing differs.
 */
export function requestContext(session: CallContext, request: CallContext): CallContext {
  if (session.caller === request.caller && session.callerVerified === request.callerVerified && session.callerGroups === request.callerGroups) return session
  const out: CallContext = { ...session, ...request }
  if (session.callerVerified || request.callerVerified) {
    for (const k of ['caller', 'callerVerified', 'callerIssuer', 'callerGroups', 'callerClaims'] as const) {
      if (request[k] === undefined) delete out[k]
    }
  }
  return out
}

/**
 * Who owns a session opened by this request: `<issuer>#<subject>` of a verified caller, else
 * undefined (a session opened without a verified identity is bound to no one). The MCP spec's
 * Security Best Practices ("Session Hijacking") recommend binding a session to the user it was
 * issued to, so a leaked session id is useless to anyone else.
 */
export function sessionOwner(ctx: CallContext): string | undefined {
  return ctx.callerVerified && ctx.caller !== undefined ? `${ctx.callerIssuer ?? ''}#${ctx.caller}` : undefined
}

/** True when the request may use a session owned by `owner` (any request, for a session bound to no one). */
export function mayUseSession(owner: string | undefined, request: CallContext): boolean {
  return owner === undefined || sessionOwner(request) === owner
}

/** MCP protocol versions the sidecar speaks on its ingress, newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const

/**
 * The version assumed when a request has no `MCP-Protocol-Version` header (spec 2025-06-18,
 * Transports §"Protocol Version Header": "the server SHOULD assume protocol version 2025-03-26").
 */
export const DEFAULT_NEGOTIATED_VERSION = '2025-03-26'
