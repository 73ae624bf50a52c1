/**
 * Small response writers for the MCP ingress (Streamable HTTP, spec 2025-06-18 and 2025-11-25,
 * "Transports"), and the {@link Refusal} shape every ingress check returns.
 *
 * HTTP-level refusals carry a JSON-RPC error body with `id: null`, as the MCP TypeScript SDK's
 * server transport does (`createJsonErrorResponse`), so an SDK client surfaces the message.
 * Every body is written with a precomputed `Content-Length` (no chunked encoding, keep-alive kept).
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { JSON_RPC_ERROR_CODES, type IngressRejectReason } from '../errors.js'

/**
 * JSON-RPC code of HTTP-level refusals (bad headers, 406, 415, 413, 403, 401): the first code of
 * the JSON-RPC 2.0 "server error" range (§5.1), as the MCP SDK uses it for the same refusals.
 */
export const TRANSPORT_ERROR = JSON_RPC_ERROR_CODES.TRANSPORT_ERROR

/**
 * A refused request, as returned by the pure checks of proxy/http/ (headers, origin, auth,
 * content type). Write it with {@link refuse}. Refusals with fixed text are shared frozen
 * constants: do not mutate.
 */
export interface Refusal {
  readonly ok: false
  /** HTTP status: 400, 401, 403, 406, 413 or 415. */
  readonly status: number
  /** JSON-RPC error code of the body ({@link TRANSPORT_ERROR}, or -32700/-32600 for body errors). */
  readonly code: number
  /** Metric label. */
  readonly reason: IngressRejectReason
  /** One human sentence; also the JSON-RPC error message. */
  readonly message: string
  /** Extra response headers (`WWW-Authenticate` on 401). */
  readonly headers?: Readonly<Record<string, string>>
}

/** A passed check. One shared frozen instance: checks allocate nothing when they pass. */
export interface Passed {
  readonly ok: true
}

/** The shared {@link Passed} value. */
export const PASSED: Passed = Object.freeze({ ok: true as const })

/** The result of a pure ingress check. */
export type Check = Passed | Refusal

/** Builds a frozen {@link Refusal} (for constants and the rare dynamic message). */
export function refusal(status: number, reason: IngressRejectReason, message: string, headers?: Record<string, string>, code: number = TRANSPORT_ERROR): Refusal {
  return Object.freeze(headers ? { ok: false as const, status, code, reason, message, headers: Object.freeze(headers) } : { ok: false as const, status, code, reason, message })
}

/**
 * Writes an HTTP error whose body is a JSON-RPC error response with `id: null`
 * (`{"jsonrpc":"2.0","error":{"code":…,"message":…},"id":null}`).
 * When the response head was already sent (an SSE stream is open) only ends the response.
 * @param status HTTP status code.
 * @param jsonRpcCode JSON-RPC error code (see proxy/types.ts `RPC`, or {@link TRANSPORT_ERROR}).
 * @param extraHeaders merged over `Content-Type`/`Content-Length`.
 */
export function httpError(res: ServerResponse, status: number, jsonRpcCode: number, message: string, extraHeaders?: Readonly<Record<string, string>>): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end()
    return
  }
  jsonText(res, status, `{"jsonrpc":"2.0","error":{"code":${jsonRpcCode},"message":${JSON.stringify(message)}},"id":null}`, extraHeaders)
}

/** Writes a {@link Refusal}: its status, its JSON-RPC error body and its headers. */
export function refuse(res: ServerResponse, r: Refusal): void {
  httpError(res, r.status, r.code, r.message, r.headers)
}

/**
 * 202 Accepted with no body: the answer to a POST that carried only notifications or responses
 * (Streamable HTTP, "Sending Messages to the Server": "the server MUST return HTTP status code
 * 202 Accepted with no body").
 */
export function accepted(res: ServerResponse, headers?: OutgoingHttpHeaders): void {
  res.writeHead(202, headers ? { ...headers, 'content-length': 0 } : ZERO_LENGTH)
  res.end()
}
const ZERO_LENGTH: OutgoingHttpHeaders = Object.freeze({ 'content-length': 0 }) as OutgoingHttpHeaders

/**
 * Writes `body` as `application/json` (serialised with `JSON.stringify`) with a
 * `Content-Length` in bytes.
 * @throws TypeError from `JSON.stringify` on a cyclic value or a BigInt.
 */
export function json(res: ServerResponse, status: number, body: unknown, headers?: Readonly<OutgoingHttpHeaders>): void {
  jsonText(res, status, JSON.stringify(body), headers)
}

/** Writes an already serialised JSON text as `application/json` with its `Content-Length` in bytes. */
export function jsonText(res: ServerResponse, status: number, text: string, headers?: Readonly<OutgoingHttpHeaders>): void {
  const h: OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }
  if (headers) for (const k in headers) h[k.toLowerCase()] = headers[k]
  res.writeHead(status, h)
  res.end(text)
}

/**
 * An API answer (the aggregator's API and the sidecar's admin server): `body` as one JSON line
 * (newline-terminated), `Content-Length` precomputed, `Cache-Control: no-store`; `headers` are added.
 */
export function apiJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers })
  res.end(text)
}
