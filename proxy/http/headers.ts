/**
 * Header checks of the MCP ingress (Streamable HTTP, spec 2025-06-18 and 2025-11-25,
 * "Transports"). Pure functions: each returns {@link PASSED} (or a small result) or a frozen
 * {@link Refusal}; none allocates when the header is the one a client sent before.
 */
import { DEFAULT_NEGOTIATED_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '../types.js'
import { PASSED, refusal, type Check, type Refusal } from '../../core/http/respond.js'
import { isVisibleAscii } from '../../core/http/auth.js'

const NOT_ACCEPTABLE_POST = refusal(406, 'not_acceptable', 'Not Acceptable: Client must accept both application/json and text/event-stream')
const NOT_ACCEPTABLE_GET = refusal(406, 'not_acceptable', 'Not Acceptable: Client must accept text/event-stream')

/** What an `Accept` header admits of the two media types MCP uses. */
export interface Acceptance {
  json: boolean
  eventStream: boolean
}

/**
 * Which of `application/json` and `text/event-stream` an `Accept` header admits
 * (RFC 9110 §12.5.1): for each type the most specific matching range decides (`type/subtype` over
 * `type/*` over the full wildcard, star-slash-star), and a weight `q=0` excludes it. Media types compare case-insensitively;
 * parameters other than `q` are ignored; an unparseable weight counts as 1. An absent or empty
 * header admits neither (MCP requires clients to send one).
 */
export function acceptance(accept: string | undefined): Acceptance {
  const r: Acceptance = { json: false, eventStream: false }
  if (!accept) return r
  // Specificity (0 none, 1 */*, 2 type/*, 3 exact) and weight of the best range so far, per type.
  let jsonRank = 0
  let jsonQ = 0
  let sseRank = 0
  let sseQ = 0
  let start = 0
  let semi = -1
  const n = accept.length
  while (start <= n) {
    let end = accept.indexOf(',', start)
    if (end === -1) end = n
    // Searched again only once passed: linear over the header even with many ranges.
    if (semi !== -1 ? semi < start : start === 0) semi = accept.indexOf(';', start)
    const rangeEnd = semi !== -1 && semi < end ? semi : end
    const range = accept.slice(start, rangeEnd).trim().toLowerCase()
    const q = rangeEnd < end ? weight(accept.slice(rangeEnd + 1, end)) : 1
    let j = 0
    let s = 0
    if (range === '*/*') j = s = 1
    else if (range === 'application/*') j = 2
    else if (range === 'text/*') s = 2
    else if (range === 'application/json') j = 3
    else if (range === 'text/event-stream') s = 3
    if (j > jsonRank || (j === jsonRank && j > 0 && q > jsonQ)) {
      jsonRank = j
      jsonQ = q
    }
    if (s > sseRank || (s === sseRank && s > 0 && q > sseQ)) {
      sseRank = s
      sseQ = q
    }
    start = end + 1
  }
  r.json = jsonRank > 0 && jsonQ > 0
  r.eventStream = sseRank > 0 && sseQ > 0
  return r
}

/** The `q` parameter of a media range's parameter list (`; charset=x; q=0.5`), 1 if none or unparseable. */
function weight(params: string): number {
  let i = 0
  while (i < params.length) {
    let end = params.indexOf(';', i)
    if (end === -1) end = params.length
    const p = params.slice(i, end).trim()
    if ((p.charCodeAt(0) | 0x20) === 0x71 /* q */ && p.charCodeAt(1) === 0x3d /* = */) {
      const q = Number(p.slice(2))
      return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 1
    }
    i = end + 1
  }
  return 1
}

let lastPostAccept: string | undefined
let lastPostResult: Check = NOT_ACCEPTABLE_POST
let lastGetAccept: string | undefined
let lastGetResult: Check = NOT_ACCEPTABLE_GET

/**
 * The `Accept` check (Streamable HTTP, "Sending Messages to the Server": a POST "MUST include an
 * Accept header, listing both application/json and text/event-stream"; "Listening for Messages
 * from the Server": a GET "MUST include an Accept header, listing text/event-stream"). The full
 * wildcard (star-slash-star), `application/*` and `text/*` count (RFC 9110 §12.5.1); `q=0` excludes.
 * @param method the request method; other methods than POST and GET always pass.
 * @returns {@link PASSED}, or a 406 refusal (`not_acceptable`).
 */
export function checkAccept(method: string, accept: string | undefined): Check {
  if (method === 'POST') {
    if (accept !== lastPostAccept || accept === undefined) {
      const a = acceptance(accept)
      lastPostResult = a.json && a.eventStream ? PASSED : NOT_ACCEPTABLE_POST
      lastPostAccept = accept
    }
    return lastPostResult
  }
  if (method === 'GET') {
    if (accept !== lastGetAccept || accept === undefined) {
      lastGetResult = acceptance(accept).eventStream ? PASSED : NOT_ACCEPTABLE_GET
      lastGetAccept = accept
    }
    return lastGetResult
  }
  return PASSED
}

/** A supported protocol version, and whether the client named it or it was assumed. */
export interface VersionOk {
  readonly ok: true
  readonly version: (typeof SUPPORTED_PROTOCOL_VERSIONS)[number]
  /** False when the header was absent and {@link DEFAULT_NEGOTIATED_VERSION} was assumed. */
  readonly fromHeader: boolean
}

const VERSION_RESULTS = new Map<string, VersionOk>(SUPPORTED_PROTOCOL_VERSIONS.map((v) => [v, Object.freeze({ ok: true as const, version: v, fromHeader: true })]))
const VERSION_ASSUMED: VersionOk = Object.freeze({ ok: true as const, version: DEFAULT_NEGOTIATED_VERSION, fromHeader: false })

/**
 * The `MCP-Protocol-Version` check (Streamable HTTP, "Protocol Version Header"): absent → the
 * server "SHOULD assume protocol version 2025-03-26" ({@link DEFAULT_NEGOTIATED_VERSION}; a caller
 * that knows the session's negotiated version may prefer it when `fromHeader` is false); a version
 * not in {@link SUPPORTED_PROTOCOL_VERSIONS} → "the server MUST respond with 400 Bad Request".
 * Compared exactly (versions are case-sensitive dates); a repeated header (joined with `, `) fails.
 */
export function checkProtocolVersion(header: string | undefined): VersionOk | Refusal {
  if (header === undefined) return VERSION_ASSUMED
  return (
    VERSION_RESULTS.get(header) ??
    refusal(400, 'protocol_version', `Bad Request: Unsupported protocol version: ${header.length > 64 ? header.slice(0, 64) + '…' : header} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`)
  )
}

/** Longest `Mcp-Session-Id` accepted, characters. */
export const MAX_SESSION_ID_LENGTH = 256

const BAD_SESSION_ID = refusal(400, 'session', `Bad Request: Mcp-Session-Id must be 1 to ${MAX_SESSION_ID_LENGTH} visible ASCII characters`)

/**
 * The `Mcp-Session-Id` syntax check (Streamable HTTP, "Session Management": the id "MUST only
 * contain visible ASCII characters (ranging from 0x21 to 0x7E)"); we also cap it at
 * {@link MAX_SESSION_ID_LENGTH} characters. Absent passes (whether a session is required is the
 * caller's decision); empty, too long, or any other character (a repeated header is joined with
 * `, ` and so fails) → 400 (`session`).
 */
export function checkSessionId(header: string | undefined): Check {
  if (header === undefined) return PASSED
  return isVisibleAscii(header, MAX_SESSION_ID_LENGTH) ? PASSED : BAD_SESSION_ID
}
