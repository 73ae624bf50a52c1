/**
 * CORS for the MCP ingress (WHATWG Fetch standard, "CORS protocol"), so that a browser-based MCP
 * client on an allowed origin (`ingress.allowed_origins`, proxy/http/origin.ts; by default the
 * loopback origins, e.g. the MCP Inspector's UI on http://localhost:6274) can use the sidecar as
 * it can use an MCP server that enables CORS (the MCP SDK's example servers and server-everything
 * answer every origin with `Access-Control-Allow-Origin: *`). Pure: no I/O.
 *
 * Only requests whose `Origin` already passed the Origin check get CORS headers, and the origin
 * is echoed (never `*`), so CORS never admits more than the DNS-rebinding protection does. A
 * provider's own CORS headers are not passed through (proxy/upstream/remote.ts): the sidecar's
 * policy is the one that applies.
 */

/** Methods of MCP Streamable HTTP (spec 2025-06-18 / 2025-11-25, "Transports"). */
const ALLOW_METHODS = 'GET, POST, DELETE'

/**
 * Response headers a browser script may read beyond the CORS-safelisted ones: the session id
 * (the client must echo it), the protocol version, the bearer challenge and Retry-After.
 */
export const EXPOSE_HEADERS = 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After'

/** How long a browser may cache a preflight answer, seconds. */
export const PREFLIGHT_MAX_AGE_S = 600

/** `Access-Control-Request-Headers`: a comma-separated list of header names (RFC 9110 tokens). */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/

/**
 * The CORS headers of an actual (non-preflight) response to an allowed `origin`.
 * @param origin the request's `Origin`, already accepted by `checkOrigin`
 */
export function corsResponseHeaders(origin: string): Record<string, string> {
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSE_HEADERS, Vary: 'Origin' }
}

/**
 * The answer to a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`),
 * or undefined when the request is not a preflight (then it is an ordinary request: OPTIONS is
 * refused with 405 like any other method MCP does not use).
 * The requested headers are echoed when they form a valid list; each actual request is checked
 * on its own anyway. A requested method other than GET, POST or DELETE gets no
 * `Access-Control-Allow-Methods` match, so the browser stops there.
 * @param origin the request's `Origin`, already accepted by `checkOrigin`; undefined → not a preflight
 * @returns status 204 and its headers
 */
export function preflight(
  method: string,
  origin: string | undefined,
  requestMethod: string | undefined,
  requestHeaders: string | undefined,
): { status: 204; headers: Record<string, string> } | undefined {
  if (method !== 'OPTIONS' || origin === undefined || requestMethod === undefined) return undefined
  const headers: Record<string, string> = {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': ALLOW_METHODS,
    'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
    Vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    'Content-Length': '0',
  }
  const h = requestHeaders?.trim()
  if (h && HEADER_LIST.test(h)) headers['Access-Control-Allow-Headers'] = h
  return { status: 204, headers }
}
