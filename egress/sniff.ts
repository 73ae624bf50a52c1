/**
 * Pure parsers over the first bytes a client sends on a transparent listener or inside a CONNECT
 * tunnel: a TLS ClientHello (for its SNI) and a plain HTTP/1.x request head (for its Host).
 * No I/O, no state between calls: the caller accumulates bytes and calls again with the whole
 * buffer until the answer is not `need-more`.
 *
 * Every function here reads untrusted bytes. Every length field is checked against the bytes that
 * are actually present before it is used; a length can only make the parser ask for more bytes
 * (bounded by a hard cap) or answer `malformed`. Nothing here throws, allocates more than the
 * input, or loops more than once per input byte.
 *
 * References: TLS records and ClientHello, RFC 8446 §5.1 and §4.1.2; server_name, RFC 6066 §3;
 * ALPN, RFC 7301 §3.1; SSLv2-compatible CLIENT-HELLO, RFC 5246 Appendix E.2; HTTP/1.1 message
 * syntax, RFC 9112 §2–§5 (Host: RFC 9112 §3.2).
 */
import type { TunnelContent } from '../policy/egress.js'

/** Bytes of a TLS record header: ContentType(1), legacy_record_version(2), length(2). RFC 8446 §5.1. */
export const TLS_RECORD_HEADER_BYTES = 5
/** Largest TLSPlaintext fragment, 2^14 bytes (RFC 8446 §5.1). A longer record is malformed. */
export const TLS_MAX_RECORD_BYTES = 16384
/**
 * The most bytes {@link parseClientHello} ever reads or asks for: 16 KiB plus one record header.
 * A ClientHello (with all its record headers) that does not fit is answered `malformed`.
 */
export const MAX_CLIENT_HELLO_BYTES = TLS_MAX_RECORD_BYTES + TLS_RECORD_HEADER_BYTES
/** Default cap of a request head (request line + header lines + the empty line), bytes. */
export const MAX_HTTP_HEAD_BYTES = 16384

/**
 * The bytes so far are a valid prefix; call again once the buffer holds at least `need` bytes
 * in total (not additional). `need` is always greater than the current buffer length and never
 * greater than the parser's cap.
 */
export interface NeedMore {
  kind: 'need-more'
  need: number
}

/** The bytes are a well-formed enough ClientHello to route by (RFC 8446 §4.1.2). */
export interface ClientHelloInfo {
  kind: 'client-hello'
  /**
   * The `host_name` of the server_name extension (RFC 6066 §3) exactly as sent: ASCII, not
   * normalised (case and a trailing dot are kept; policy/host.ts normalises). `null` when the
   * hello has no server_name extension, or is an SSLv2-compatible hello (which cannot carry one).
   */
  sni: string | null
  /** ALPN protocol names (RFC 7301), in client preference order, when the extension is present. */
  alpn?: string[]
  /** True for an SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2): never SNI-capable. */
  sslv2?: true
}

/** Result of {@link parseClientHello}. */
export type ClientHelloResult =
  | NeedMore
  /** The first bytes are not a TLS handshake record (nor an SSLv2-compatible hello). */
  | { kind: 'not-tls' }
  /** A TLS handshake that breaks the grammar, a limit, or carries an invalid server name. */
  | { kind: 'malformed'; reason: string }
  | ClientHelloInfo

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

/** Result of {@link sniffTunnel}: what the tunnel carries, or `'need-more'` while the bytes are a valid prefix. */
export type TunnelSniff = TunnelContent | 'need-more'

const NOT_TLS = Object.freeze({ kind: 'not-tls' as const })
const NOT_HTTP = Object.freeze({ kind: 'not-http' as const })
const OTHER: TunnelContent = Object.freeze({ kind: 'other' as const })

const HANDSHAKE = 22
const CLIENT_HELLO = 1
const EXT_SERVER_NAME = 0
const EXT_ALPN = 16
const NAME_TYPE_HOST_NAME = 0
/** A DNS name is at most 253 characters; one trailing dot is tolerated (it is normalised away). */
const MAX_SNI_CHARS = 254
/** Largest ClientHello body that fits the cap with its handshake header and one record header. */
const MAX_HELLO_BODY = TLS_MAX_RECORD_BYTES - 4

class Malformed {
  constructor(readonly reason: string) {}
}

function fail(reason: string): never {
  throw new Malformed(reason)
}

/** A bounds-checked cursor over a slice. Every read past `end` throws {@link Malformed}. */
class Reader {
  pos: number
  constructor(private readonly b: Buffer, start: number, readonly end: number) {
    this.pos = start
  }
  get left(): number {
    return this.end - this.pos
  }
  #need(n: number, what: string): void {
    if (n > this.end - this.pos) fail(`${what}: needs ${n} bytes, ${this.end - this.pos} left`)
  }
  u8(what: string): number {
    this.#need(1, what)
    return this.b[this.pos++]!
  }
  u16(what: string): number {
    this.#need(2, what)
    const v = this.b.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }
  /** A sub-reader over the next `n` bytes; this reader skips them. */
  sub(n: number, what: string): Reader {
    this.#need(n, what)
    const r = new Reader(this.b, this.pos, this.pos + n)
    this.pos += n
    return r
  }
  skip(n: number, what: string): void {
    this.#need(n, what)
    this.pos += n
  }
  /** The next `n` bytes as a view (no copy). */
  bytes(n: number, what: string): Buffer {
    this.#need(n, what)
    const v = this.b.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }
}

function needMore(need: number): NeedMore {
  return { kind: 'need-more', need }
}

/**
 * Parses a TLS ClientHello from the first bytes of a connection, incrementally.
 *
 * Accepts a hello split over any number of TCP segments and over several handshake records
 * (RFC 8446 §5.1: a handshake message may be fragmented across records; no other record type may
 * interleave). Checks, each answered `malformed`: record length 0 or above 2^14, a record version
 * other than 3.x, a first handshake message that is not client_hello, a hello that with its record
 * headers exceeds {@link MAX_CLIENT_HELLO_BYTES}, every vector length of RFC 8446 §4.1.2
 * (session id ≤ 32, cipher suites even and non-empty, compression methods non-empty, extensions
 * ending exactly at the end of the message), a duplicated extension (RFC 8446 §4.2), a
 * server_name extension that is not exactly one `host_name` entry (RFC 6066 §3) or whose name is
 * empty, longer than 254 bytes, or has a byte outside `A–Z a–z 0–9 - . _ :` (NUL, space, `%`,
 * non-ASCII: RFC 6066 requires an ASCII A-label), and a malformed ALPN list (RFC 7301 §3.1).
 *
 * An SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2) answers `{kind: 'client-hello', sni:
 * null, sslv2: true}` after five bytes: it has no extensions, so it can never name a server.
 *
 * @param buf every byte received so far, from the first byte of the connection
 * @returns `need-more` (with the total length to wait for), `not-tls`, `malformed` or the hello's
 *   SNI and ALPN. Never throws.
 */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  if (buf.length === 0) return needMore(TLS_RECORD_HEADER_BYTES)
  const b0 = buf[0]!
  if (b0 !== HANDSHAKE) return b0 & 0x80 ? sslv2Hello(buf) : NOT_TLS
  if (buf.length >= 2 && buf[1] !== 0x03) return NOT_TLS

  // Reassemble the handshake layer from as many records as it takes.
  const fragments: Buffer[] = []
  let have = 0 // handshake bytes collected
  let msgLen = -1 // ClientHello body length, once the 4-byte handshake header is in
  let off = 0 // start of the current record
  for (;;) {
    if (buf.length < off + TLS_RECORD_HEADER_BYTES) {
      return off + TLS_RECORD_HEADER_BYTES > MAX_CLIENT_HELLO_BYTES ? tooBig() : needMore(off + TLS_RECORD_HEADER_BYTES)
    }
    const type = buf[off]!
    const major = buf[off + 1]!
    const minor = buf[off + 2]!
    const len = buf.readUInt16BE(off + 3)
    if (type !== HANDSHAKE) return { kind: 'malformed', reason: `a record of content type ${type} interrupts the ClientHello` }
    if (major !== 3 || minor > 4) return { kind: 'malformed', reason: `record version ${major}.${minor} is not TLS` }
    if (len === 0) return { kind: 'malformed', reason: 'zero-length handshake record' }
    if (len > TLS_MAX_RECORD_BYTES) return { kind: 'malformed', reason: `record length ${len} exceeds 2^14` }
    const start = off + TLS_RECORD_HEADER_BYTES
    const end = start + len
    if (end > MAX_CLIENT_HELLO_BYTES) return tooBig()
    const avail = Math.min(buf.length, end)
    const before = have
    fragments.push(buf.subarray(start, avail))
    have += avail - start

    if (msgLen < 0 && have >= 4) {
      const hs = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, have)
      if (hs[0] !== CLIENT_HELLO) return { kind: 'malformed', reason: `first handshake message is type ${hs[0]}, not client_hello` }
      msgLen = (hs[1]! << 16) | (hs[2]! << 8) | hs[3]!
      if (msgLen > MAX_HELLO_BODY) return { kind: 'malformed', reason: `ClientHello of ${msgLen} bytes exceeds the ${MAX_CLIENT_HELLO_BYTES}-byte limit` }
    }
    if (msgLen >= 0 && have >= 4 + msgLen) {
      const hs = Buffer.concat(fragments, have)
      return parseHelloBody(hs, 4, 4 + msgLen)
    }
    if (avail < end) {
      // Wait for the rest of this record, or only up to the end of the hello if it ends inside it.
      const helloEnd = msgLen >= 0 ? start + (4 + msgLen - before) : end
      return needMore(Math.min(end, helloEnd))
    }
    off = end
  }
}

function tooBig(): ClientHelloResult {
  return { kind: 'malformed', reason: `ClientHello exceeds ${MAX_CLIENT_HELLO_BYTES} bytes` }
}

/** RFC 5246 Appendix E.2: msg_length (2, high bit set), msg_type 1, version (2), … */
function sslv2Hello(buf: Buffer): ClientHelloResult {
  if (buf.length < 5) {
    if (buf.length >= 3 && buf[2] !== CLIENT_HELLO) return NOT_TLS
    return needMore(5)
  }
  const len = ((buf[0]! & 0x7f) << 8) | buf[1]!
  if (buf[2] !== CLIENT_HELLO) return NOT_TLS
  const v3 = buf[3] === 0x03 && buf[4]! <= 0x04
  const v2 = buf[3] === 0x00 && buf[4] === 0x02
  if (!v3 && !v2) return NOT_TLS
  // version(2) + cipher_spec_length(2) + session_id_length(2) + challenge_length(2) + msg_type(1)
  if (len < 9) return { kind: 'malformed', reason: `SSLv2-compatible hello of ${len} bytes is too short` }
  return { kind: 'client-hello', sni: null, sslv2: true }
}

function parseHelloBody(hs: Buffer, start: number, end: number): ClientHelloResult {
  try {
    const r = new Reader(hs, start, end)
    const version = r.u16('legacy_version')
    if (version >> 8 !== 3) fail(`legacy_version 0x${version.toString(16)} is not TLS`)
    r.skip(32, 'random')
    const sid = r.u8('legacy_session_id length')
    if (sid > 32) fail(`legacy_session_id of ${sid} bytes exceeds 32`)
    r.skip(sid, 'legacy_session_id')
    const cs = r.u16('cipher_suites length')
    if (cs < 2 || cs % 2 !== 0) fail(`cipher_suites length ${cs} is not a non-zero even number`)
    r.skip(cs, 'cipher_suites')
    const comp = r.u8('legacy_compression_methods length')
    if (comp < 1) fail('legacy_compression_methods is empty')
    r.skip(comp, 'legacy_compression_methods')
    // Before TLS 1.2 a hello may end here: no extensions, so no server name.
    if (r.left === 0) return { kind: 'client-hello', sni: null }
    const extLen = r.u16('extensions length')
    if (extLen !== r.left) fail(`extensions length ${extLen} does not match the ${r.left} bytes left in the ClientHello`)
    const seen = new Set<number>()
    let sni: string | null = null
    let alpn: string[] | undefined
    while (r.left > 0) {
      const type = r.u16('extension type')
      const len = r.u16('extension length')
      const data = r.sub(len, `extension ${type}`)
      if (seen.has(type)) fail(`extension ${type} appears twice`)
      seen.add(type)
      if (type === EXT_SERVER_NAME) sni = parseServerName(data)
      else if (type === EXT_ALPN) alpn = parseAlpn(data)
    }
    return alpn ? { kind: 'client-hello', sni, alpn } : { kind: 'client-hello', sni }
  } catch (e) {
    if (e instanceof Malformed) return { kind: 'malformed', reason: e.reason }
    return { kind: 'malformed', reason: 'unparseable ClientHello' }
  }
}

/** RFC 6066 §3: ServerNameList = ServerName<1..2^16-1>; ServerName = name_type(1) + HostName<1..2^16-1>. */
function parseServerName(r: Reader): string {
  const listLen = r.u16('server_name_list length')
  if (listLen === 0 || listLen !== r.left) fail(`server_name_list length ${listLen} does not match the extension (${r.left} bytes)`)
  let name: string | null = null
  while (r.left > 0) {
    const nameType = r.u8('server name type')
    const len = r.u16('server name length')
    const bytes = r.bytes(len, 'server name')
    // Only host_name(0) is defined, and clients send exactly one (RFC 6066 §3; OpenSSL refuses others too).
    if (nameType !== NAME_TYPE_HOST_NAME) fail(`server name type ${nameType} is not host_name`)
    if (name !== null) fail('server_name lists more than one host_name')
    name = hostNameText(bytes)
  }
  return name!
}

function hostNameText(bytes: Buffer): string {
  if (bytes.length === 0) fail('empty server name')
  if (bytes.length > MAX_SNI_CHARS) fail(`server name of ${bytes.length} bytes exceeds ${MAX_SNI_CHARS}`)
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x3a
    if (!ok) fail(`server name has an invalid byte 0x${c.toString(16).padStart(2, '0')} at offset ${i}`)
  }
  return bytes.toString('latin1')
}

/** RFC 7301 §3.1: ProtocolNameList = ProtocolName<2..2^16-1>; ProtocolName = opaque<1..2^8-1>. */
function parseAlpn(r: Reader): string[] {
  const listLen = r.u16('ALPN list length')
  if (listLen < 2 || listLen !== r.left) fail(`ALPN list length ${listLen} does not match the extension (${r.left} bytes)`)
  const out: string[] = []
  while (r.left > 0) {
    const len = r.u8('ALPN protocol length')
    if (len === 0) fail('empty ALPN protocol name')
    out.push(r.bytes(len, 'ALPN protocol').toString('latin1'))
  }
  return out
}

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

/**
 * Classifies the first bytes of a CONNECT tunnel for {@link decideTunnelContent}
 * (policy/egress.ts): a TLS ClientHello gives `{kind: 'tls', sni}`, an HTTP/1.x request head
 * `{kind: 'http', host}`, anything else `{kind: 'other'}`.
 *
 * A malformed hello or head is `other`, never `tls`/`http` without a name: under an `http` or
 * `https` rule that is denied (`protocol_not_allowed`); under a `tcp`/`any` rule opaque bytes are
 * what the rule allows. So a hello we cannot parse never passes the SNI check by default.
 *
 * @param maxHttpHeadBytes cap of an HTTP head (default {@link MAX_HTTP_HEAD_BYTES}); a ClientHello is capped at {@link MAX_CLIENT_HELLO_BYTES}
 * @returns `'need-more'` while the first bytes are a valid prefix of either (the caller caps what it
 *   holds: both parsers answer `malformed`, hence `other`, beyond their caps); never throws
 */
export function sniffTunnel(buf: Buffer, maxHttpHeadBytes: number = MAX_HTTP_HEAD_BYTES): TunnelSniff {
  if (buf.length === 0) return 'need-more'
  const tls = parseClientHello(buf)
  switch (tls.kind) {
    case 'client-hello':
      return { kind: 'tls', sni: tls.sni }
    case 'need-more':
      return 'need-more'
    case 'malformed':
      return OTHER
    case 'not-tls':
      break
  }
  const http = parseHttpHead(buf, maxHttpHeadBytes)
  switch (http.kind) {
    case 'request':
      return { kind: 'http', host: http.host }
    case 'need-more':
      return 'need-more'
    default:
      return OTHER
  }
}
