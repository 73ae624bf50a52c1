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
  /** Caller identity: the bearer JWT's `sub` claim, else `X-Hangar-Caller`, else undefined. */
  caller?: string
  /** W3C trace context from `params._meta.traceparent`, when the client sent one. */
  traceId?: string
  spanId?: string
}

/** MCP protocol versions the sidecar speaks on its ingress, newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const

/**
 * The version assumed when a request has no `MCP-Protocol-Version` header (spec 2025-06-18,
 * Transports §"Protocol Version Header": "the server SHOULD assume protocol version 2025-03-26").
 */
export const DEFAULT_NEGOTIATED_VERSION = '2025-03-26'
