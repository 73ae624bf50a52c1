/**
 * A pure parser over the first bytes a client sends on a transparent listener or inside a CONNECT
 * tunnel: a TLS ClientHello, for its SNI and ALPN. No I/O, no state between calls: the caller
 * accumulates bytes and calls again with the whole buffer until the answer is not `need-more`.
 *
 * It reads untrusted bytes. Every length field is checked against the bytes that are actually
 * present before it is used; a length can only make the parser ask for more bytes (bounded by a
 * hard cap) or answer `malformed`. Nothing here throws, allocates more than the input, or loops
 * more than once per input byte.
 *
 * References: TLS records and ClientHello, RFC 8446 §5.1 and §4.1.2; server_name, RFC 6066 §3;
 * ALPN, RFC 7301 §3.1; SSLv2-compatible CLIENT-HELLO, RFC 5246 Appendix E.2.
 */
import { needMore, type NeedMore } from './need-more.js'

/** Bytes of a TLS record header: ContentType(1), legacy_record_version(2), length(2). RFC 8446 §5.1. */
export const TLS_RECORD_HEADER_BYTES = 5
/** Largest TLSPlaintext fragment, 2^14 bytes (RFC 8446 §5.1). A longer record is malformed. */
export const TLS_MAX_RECORD_BYTES = 16384
/**
 * The most bytes {@link parseClientHello} ever reads or asks for: 16 KiB plus one record header.
 * A ClientHello (with all its record headers) that does not fit is answered `malformed`.
 */
export const MAX_CLIENT_HELLO_BYTES = TLS_MAX_RECORD_BYTES + TLS_RECORD_HEADER_BYTES

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

const NOT_TLS = Object.freeze({ kind: 'not-tls' as const })
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
