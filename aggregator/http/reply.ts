/**
 * Answers of the aggregator API: JSON bodies with a precomputed `Content-Length`, errors as
 * `{error: {code, message, ...}}` with a stable machine code, and the bearer-token gate.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AggregatorApiErrorCode } from '../../core/errors.js'
import { checkBearer, type TokenSet } from '../../core/http/auth.js'
import { apiJson } from '../../core/http/respond.js'

/** Writes a JSON body (core/http/respond.ts `apiJson`). */
export const sendJson = apiJson

/** Writes `{error: {code, message, ...extra}}`; `code` is one of core/errors.ts `AGGREGATOR_API_ERROR_CODES`. */
export function sendError(res: ServerResponse, status: number, code: AggregatorApiErrorCode, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
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

/**
 * Writes a 401 `unauthorized` with `WWW-Authenticate: Bearer realm="mcp-hangar"`, plus
 * `error="invalid_token"` when a bearer token was presented (RFC 6750 §3, §3.1), as
 * {@link authorize} does, and then `error_description` when `description` is given (cut to the
 * characters RFC 6750 §3 allows in it: %x20-21 / %x23-5B / %x5D-7E, at most 200).
 * @returns false (the request is refused).
 */
export function unauthorized(res: ServerResponse, invalidToken: boolean, message: string, description?: string): false {
  const desc = description?.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '').slice(0, 200)
  const challenge = `Bearer realm="mcp-hangar"${invalidToken ? ', error="invalid_token"' : ''}${invalidToken && desc ? `, error_description="${desc}"` : ''}`
  sendError(res, 401, 'unauthorized', message, {}, { 'WWW-Authenticate': challenge })
  return false
}
