/**
 * Bearer-token authentication and caller identity of the MCP ingress (config
 * `ingress.auth_tokens`; docs/mcp-ingress.md §Inspection: "Caller identity (bearer JWT `sub`, or `X-Hangar-Caller`) is
 * recorded"). Pure: no I/O.
 *
 * Authentication: `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme name is
 * case-insensitive, RFC 9110 §11.1) must equal one of the configured tokens. The comparison is
 * constant-time: SHA-256 digests of equal length are compared with `crypto.timingSafeEqual`
 * against every configured token, with no early exit, so neither the length nor a prefix of a
 * token leaks through timing. Header bytes are hashed as received (latin1 → bytes), configured
 * tokens as UTF-8, so a non-ASCII token matches byte for byte. An empty token list means no
 * authentication. Failure → 401 with `WWW-Authenticate: Bearer realm="mcp-hangar"`, plus
 * `error="invalid_token"` when a bearer token was presented (RFC 6750 §3, §3.1).
 *
 * Caller identity ({@link callerOf}) only names, it never authenticates:
 * 1. the `sub` claim of the bearer token when it is a JWT (`header.payload.signature`, the payload
 *    base64url JSON). The signature is not verified: the token list above is what authenticates,
 *    and with auth off any header can be sent anyway;
 * 2. else the `X-Hangar-Caller` header;
 * 3. else undefined.
 * Either value is used only when, trimmed, it is 1–128 printable ASCII characters (0x20–0x7E);
 * otherwise it is ignored (and the next source is tried).
 */
import { hash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { PASSED, refusal, type Check, type Refusal } from './respond.js'

/** The compiled `auth_tokens`: SHA-256 digests of the tokens. Build it with {@link compileTokens}. */
export interface TokenSet {
  /** 32-byte digests; empty = no authentication. */
  readonly digests: readonly Buffer[]
}

/** Compiles `ingress.auth_tokens` (UTF-8 strings) into digests; an empty list disables authentication. */
export function compileTokens(list: readonly string[]): TokenSet {
  return { digests: list.map((t) => hash('sha256', Buffer.from(t, 'utf8'), 'buffer')) }
}

const REALM = 'Bearer realm="mcp-hangar"'
const MISSING = refusal(401, 'auth', 'Unauthorized: a bearer token is required', { 'WWW-Authenticate': REALM })
const INVALID = refusal(401, 'auth', 'Unauthorized: invalid bearer token', { 'WWW-Authenticate': `${REALM}, error="invalid_token"` })

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, one or more
 * spaces, surrounding whitespace trimmed), or undefined for no header, another scheme, or an
 * empty token.
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length < 8) return undefined
  if (authorization.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const token = authorization.slice(7).trim()
  return token.length ? token : undefined
}

/**
 * Checks the `Authorization` header against the token set (rule at the top of this file). No
 * header, or another scheme (`Basic …`), is "no bearer credentials" (no `error` attribute);
 * `Bearer` with an empty or a wrong token is `invalid_token`.
 * @returns {@link PASSED} (always, when the set is empty), or a 401 refusal (`auth`) with its
 *   `WWW-Authenticate` header.
 */
export function checkBearer(tokens: TokenSet, authorization: string | undefined): Check {
  const n = tokens.digests.length
  if (n === 0) return PASSED
  const token = bearerToken(authorization)
  if (token === undefined) return authorization !== undefined && authorization.trim().toLowerCase() === 'bearer' ? INVALID : MISSING
  return tokenMatches(tokens, token) ? PASSED : INVALID
}

/**
 * True when `token` (header bytes, latin1) equals one of the set, compared in constant time as
 * described at the top of this file. False for an empty set.
 */
export function tokenMatches(tokens: TokenSet, token: string): boolean {
  const presented = hash('sha256', Buffer.from(token, 'latin1'), 'buffer')
  let match = 0
  for (let i = 0; i < tokens.digests.length; i++) match |= timingSafeEqual(tokens.digests[i]!, presented) ? 1 : 0
  return match === 1
}

/**
 * The 401 of a request without bearer credentials when a token is required: `WWW-Authenticate:
 * Bearer realm="mcp-hangar"` without an `error` attribute (RFC 6750 §3.1: "the resource server
 * SHOULD NOT include an error code or other error information" when the request lacks any
 * authentication information).
 */
export const MISSING_BEARER: Refusal = MISSING

/**
 * The 401 of a bearer token that was presented and refused: `WWW-Authenticate: Bearer
 * realm="mcp-hangar", error="invalid_token", error_description="<description>"` (RFC 6750 §3,
 * §3.1). `description` is made to fit the quoted string (printable ASCII without `"` and `\`).
 */
export function invalidToken(description: string): Refusal {
  const d = description.replace(/[^\x20-\x7e]|["\\]/g, '?').slice(0, 200)
  return refusal(401, 'auth', `Unauthorized: invalid bearer token: ${d}`, { 'WWW-Authenticate': `${REALM}, error="invalid_token", error_description="${d}"` })
}

/** Longest caller identity kept, characters. */
export const MAX_CALLER_LENGTH = 128
/** Longest JWT payload segment decoded, characters (larger tokens name no caller). */
const MAX_PAYLOAD_SEGMENT = 8192

let lastToken: string | undefined
let lastSub: string | undefined

/**
 * The caller identity of a request (rule at the top of this file): the bearer JWT's `sub`, else
 * `X-Hangar-Caller`, else undefined. Never throws; a token that is not a JWT names no caller.
 */
export function callerOf(headers: IncomingHttpHeaders): string | undefined {
  const token = bearerToken(headers.authorization)
  if (token !== undefined) {
    if (token !== lastToken) {
      lastSub = jwtSub(token)
      lastToken = token
    }
    if (lastSub !== undefined) return lastSub
  }
  const h = headers['x-hangar-caller']
  return typeof h === 'string' ? sanitizeCaller(h) : undefined
}

/** The usable `sub` claim of a JWT's payload (not verified), or undefined. */
export function jwtSub(token: string): string | undefined {
  const a = token.indexOf('.')
  if (a <= 0) return undefined
  const b = token.indexOf('.', a + 1)
  if (b === -1 || b - a - 1 > MAX_PAYLOAD_SEGMENT || token.indexOf('.', b + 1) !== -1) return undefined
  const segment = token.slice(a + 1, b)
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined
  try {
    const payload: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    if (typeof payload !== 'object' || payload === null) return undefined
    const sub = (payload as { sub?: unknown }).sub
    return typeof sub === 'string' ? sanitizeCaller(sub) : undefined
  } catch {
    return undefined
  }
}

/** `value` trimmed when it is 1–{@link MAX_CALLER_LENGTH} printable ASCII characters, else undefined. */
export function sanitizeCaller(value: string): string | undefined {
  const v = value.trim()
  return isVisibleAscii(v, MAX_CALLER_LENGTH, 0x20) ? v : undefined
}

/**
 * True when `s` is 1..`max` characters, all in `lo`–0x7E. Default `lo` 0x21: visible ASCII
 * (the spec's rule for `Mcp-Session-Id`); 0x20 admits spaces (printable ASCII).
 */
export function isVisibleAscii(s: string, max: number, lo = 0x21): boolean {
  const n = s.length
  if (n === 0 || n > max) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < lo || c > 0x7e) return false
  }
  return true
}
