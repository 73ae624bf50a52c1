/**
 * Answers of the aggregator API: JSON bodies with a precomputed `Content-Length`, errors as
 * `{error: {code, message, ...}}` with a stable machine code, and the bearer-token gate.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkBearer, type TokenSet } from '../../core/http/auth.js'

/** Writes a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers })
  res.end(text)
}

/**
 * Machine codes of the aggregator's HTTP errors (the `error.code` field): `unauthorized` (401),
 * `not_found` (404), `method_not_allowed` (405), `unsupported_media_type` (415),
 * `payload_too_large` (413), `bad_request` (400: malformed JSON, a wrong envelope, bad query),
 * `unavailable` (503: shutting down), `insufficient_storage` (507: the audit log has no room),
 * `too_many_providers` (429: a heartbeat of one more unconfigured provider than the registry keeps),
 * `internal` (500: a bug; logged).
 */
export type ApiErrorCode = 'internal' | 'unauthorized' | 'not_found' | 'method_not_allowed' | 'unsupported_media_type' | 'payload_too_large' | 'bad_request' | 'unavailable' | 'insufficient_storage' | 'too_many_providers'

/** Writes `{error: {code, message, ...extra}}`. */
export function sendError(res: ServerResponse, status: number, code: ApiErrorCode, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message, ...extra } }, headers)
}

/**
 * The token gate of one endpoint class. `tokens` is checked with {@link checkBearer}
 * (constant-time, RFC 6750); an empty set lets everyone in.
 * @returns true when the request may proceed; otherwise the 401 has been written.
 */
export function authorize(req: IncomingMessage, res: ServerResponse, tokens: TokenSet): boolean {
  const c = checkBearer(tokens, req.headers.authorization)
  if (c.ok) return true
  sendError(res, 401, 'unauthorized', c.message, {}, { ...c.headers })
  return false
}
