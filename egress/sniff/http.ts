/**
 * A pure parser over the first bytes a client sends on a transparent listener or inside a CONNECT
 * tunnel: a plain HTTP/1.x request head, for its Host. No I/O, no state between calls: the caller
 * accumulates bytes and calls again with the whole buffer until the answer is not `need-more`.
 *
 * It reads untrusted bytes: nothing here throws, allocates more than the input, or reads past the
 * cap. Reference: HTTP/1.1 message syntax, RFC 9112 §2–§5 (Host: RFC 9112 §3.2).
 */
import { needMore, type NeedMore } from './need-more.js'

/** Default cap of a request head (request line + header lines + the empty line), bytes. */
export const MAX_HTTP_HEAD_BYTES = 16384

/** A complete HTTP/1.x request head (RFC 9112 §2.1, §3, §5). */
export interface HttpRequestHead {
  kind: 'request'
  method: string
  /** The request-target as sent (origin-form, absolute-form, authority-form or `*`). */
  target: string
  /** `1.0`, `1.1`, … (major version 1 only). */
  version: string
  /**
   * The Host header field value (trimmed), or null when absent or empty. Several Host lines with
   * the same value (compared case-insensitively) give that value; different values are `malformed`.
   */
  host: string | null
  /** Length of the head in bytes, including the final CRLFCRLF; the body (if any) starts there. */
  headBytes: number
}

/** Result of {@link parseHttpHead}. */
export type HttpHeadResult =
  | NeedMore
  /** The first bytes cannot start an HTTP/1.x request line. */
  | { kind: 'not-http' }
  /** An HTTP/1.x request line, but a head that breaks RFC 9112, exceeds the cap or has conflicting Hosts. */
  | { kind: 'malformed'; reason: string }
  | HttpRequestHead

const NOT_HTTP = Object.freeze({ kind: 'not-http' as const })
// RFC 9110 §5.6.2 tchar.
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1
const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HTAB = 0x09
/** Longer than any registered method: the first bytes of an opaque stream rarely pass as one. */
const MAX_METHOD_CHARS = 32
const CRLFCRLF = Buffer.from('\r\n\r\n')
// eslint-disable-next-line no-control-regex
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP\/(1\.\d)$/
const LOOKS_HTTP = / HTTP\/\d\.\d$/
// uri-host [":" port] (RFC 3986 §3.2.2): reg-name characters, IP-literal brackets, port digits.
const HOST_VALUE = /^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]+$/

/**
 * Sniffs a plain HTTP/1.x request head (RFC 9112) and returns its Host.
 *
 * Leading empty lines are skipped (RFC 9112 §2.2). The first bytes must be a method token and a
 * space, else `not-http` at once (a TLS record, a binary protocol). Waits (`need-more`) until the
 * CRLFCRLF that ends the head. `malformed`: a head over `maxBytes`; a request line with an HTTP
 * version but broken syntax; a bare CR or LF (RFC 9112 §2.2, a smuggling vector); obsolete line
 * folding (§5.2); whitespace before a field's colon (§5.1); a control character in a field value;
 * a Host value with whitespace or characters outside uri-host[:port]; Host lines with different
 * values (§3.2: "more than one Host header field line" must be refused). Request line
 * `PRI * HTTP/2.0` (the HTTP/2 preface) and other major versions answer `not-http`.
 *
 * @param buf every byte received so far, from the first byte of the connection
 * @param maxBytes cap of the head including its CRLFCRLF (default {@link MAX_HTTP_HEAD_BYTES})
 * @returns never throws
 */
export function parseHttpHead(buf: Buffer, maxBytes: number = MAX_HTTP_HEAD_BYTES): HttpHeadResult {
  const limit = Math.min(buf.length, maxBytes)
  let pos = 0
  while (pos < limit && buf[pos] === CR) {
    if (pos + 1 >= limit) return limit >= maxBytes ? headTooBig(maxBytes) : needMore(pos + 2)
    if (buf[pos + 1] !== LF) return NOT_HTTP
    pos += 2
  }
  // Method token then SP: decide not-http as early as possible.
  let i = pos
  while (i < limit && TCHAR[buf[i]!]) {
    if (i - pos >= MAX_METHOD_CHARS) return NOT_HTTP
    i++
  }
  if (i === limit) return limit >= maxBytes ? headTooBig(maxBytes) : needMore(limit + 1)
  if (i === pos || buf[i] !== SP) return NOT_HTTP

  const lineEnd = buf.indexOf(LF, i)
  if (lineEnd === -1 || lineEnd >= maxBytes) {
    return buf.length >= maxBytes ? headTooBig(maxBytes) : needMore(buf.length + 1)
  }
  const line = buf.toString('latin1', pos, lineEnd)
  if (!line.endsWith('\r')) return LOOKS_HTTP.test(line) ? { kind: 'malformed', reason: 'request line ends with a bare LF' } : NOT_HTTP
  const text = line.slice(0, -1)
  if (!LOOKS_HTTP.test(text)) return NOT_HTTP
  const m = REQUEST_LINE.exec(text)
  if (!m) {
    if (/ HTTP\/[02-9]\.\d$/.test(text)) return NOT_HTTP
    return { kind: 'malformed', reason: 'invalid request line' }
  }

  const headEnd = buf.indexOf(CRLFCRLF, pos)
  // The request line's own CRLF may be the first half of the terminator (a head without fields).
  if (headEnd === -1 || headEnd + 4 > maxBytes) {
    return buf.length >= maxBytes || headEnd !== -1 ? headTooBig(maxBytes) : needMore(buf.length + 1)
  }
  let host: string | null = null
  let hostSeen = false
  let p = lineEnd + 1
  while (p < headEnd + 2) {
    const eol = buf.indexOf(LF, p)
    // eol exists: the terminator's LFs are at headEnd+1 and headEnd+3.
    if (eol <= p || buf[eol - 1] !== CR) return { kind: 'malformed', reason: 'header line ends with a bare LF' }
    const f = fieldLine(buf, p, eol - 1)
    if (typeof f === 'string') return { kind: 'malformed', reason: f }
    if (f.name === 'host') {
      const v = f.value
      if (v !== '' && !HOST_VALUE.test(v)) return { kind: 'malformed', reason: `invalid Host value "${printable(v)}"` }
      if (!hostSeen) {
        host = v === '' ? null : v
        hostSeen = true
      } else if ((host ?? '').toLowerCase() !== v.toLowerCase()) {
        return { kind: 'malformed', reason: 'two Host header fields with different values' }
      }
    }
    p = eol + 1
  }
  return { kind: 'request', method: m[1]!, target: m[2]!, version: m[3]!, host, headBytes: headEnd + 4 }
}

/** One field line `[start, end)` (no CRLF). Returns the lowercase name and the trimmed value, or why it is malformed. */
function fieldLine(buf: Buffer, start: number, end: number): { name: string; value: string } | string {
  if (buf[start] === SP || buf[start] === HTAB) return 'obsolete line folding'
  let i = start
  while (i < end && TCHAR[buf[i]!]) i++
  if (i === start) return 'header line without a field name'
  if (i === end || buf[i] !== 0x3a) return 'invalid field name (whitespace or a character before the colon)'
  const name = buf.toString('latin1', start, i).toLowerCase()
  let vs = i + 1
  let ve = end
  while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++
  while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--
  for (let k = vs; k < ve; k++) {
    const c = buf[k]!
    if ((c < 0x20 && c !== HTAB) || c === 0x7f) return `control character 0x${c.toString(16).padStart(2, '0')} in the value of ${name}`
  }
  return { name, value: buf.toString('latin1', vs, ve) }
}

function headTooBig(max: number): HttpHeadResult {
  return { kind: 'malformed', reason: `request head exceeds ${max} bytes` }
}

function printable(s: string): string {
  return s.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')
}
