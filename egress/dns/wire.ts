/**
 * DNS wire-format helpers for the forwarder's hot path (RFC 1035 §4.1, RFC 6891 EDNS(0)).
 *
 * Everything here reads or writes raw packets without a full decode: the header and the one
 * question of a query, error and synthesized responses built by copying the query's header and
 * question (so the client's 0x20 letter case is echoed byte for byte), TTL patching of cached
 * responses, truncation. Full decoding/encoding of upstream responses uses `dns-packet`
 * (forwarder.ts, resolve.ts), and so does the query encoder here, which is not on the hot path
 * (our own lookups, and one upstream query per cache miss). No parser here throws on malformed
 * input: it returns a problem or null.
 */
import { isIPv4, isIPv6 } from 'node:net'
import dnsPacket from 'dns-packet'

/** Bytes of the fixed DNS header (RFC 1035 §4.1.1). */
export const HEADER_BYTES = 12
/** Largest wire length of a name, length octets and the root label included (RFC 1035 §2.3.4). */
export const MAX_NAME_WIRE = 255
/** UDP payload size we advertise upstream and to clients (DNS Flag Day 2020). */
export const EDNS_UDP_SIZE = 1232
/** Largest UDP response we send to an EDNS client, whatever it advertises (RFC 6891 §6.2.5). */
export const MAX_UDP_RESPONSE = 4096
/** UDP response limit for clients without EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512

/** Response codes used by the forwarder (RFC 1035 §4.1.1, RFC 6891 §9 for BADVERS). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (12-bit) rcode: upper 8 bits live in the OPT record. */
  BADVERS: 16,
} as const

export { QType, packetTypeName, parseDnsTypeName, typeName } from '../../policy/dns-types.js'
import { packetTypeName, QType } from '../../policy/dns-types.js'

/** Class IN (RFC 1035 §3.2.4). */
export const CLASS_IN = 1

/** Header flag bits (16-bit flags word, RFC 1035 §4.1.1, RFC 4035 §3.2 for AD/CD). */
export const Flag = {
  QR: 0x8000,
  OPCODE: 0x7800,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  Z: 0x0040,
  AD: 0x0020,
  CD: 0x0010,
} as const

/** A query whose header and question were read. */
export interface ParsedQuery {
  ok: true
  id: number
  /** The 16-bit flags word as sent. */
  flags: number
  /**
   * The question name, lowercased, dotted, without the trailing dot (`''` for the root).
   * Bytes that cannot appear in a host name (`.` or `\` inside a label, anything outside
   * printable ASCII) are written as `\DDD` (RFC 1035 §5.1), so the result is unambiguous and
   * never parses as a host name.
   */
  qname: string
  qtype: number
  qclass: number
  /** Offset just past the question: 12 + the name's wire length + 4. */
  questionEnd: number
  /** UDP payload size from the client's OPT record (clamped to ≥ 512), 0 when the query has no OPT. */
  edns: number
  /** EDNS DO bit (RFC 3225). */
  ednsDo: boolean
}

/** A query the forwarder answers with an error (FORMERR, NOTIMP, BADVERS). */
export interface QueryProblem {
  ok: false
  rcode: number
  reason: string
  /** > 12 when the question could be read, so the error reply may echo it; else 12. */
  questionEnd: number
  /** As {@link ParsedQuery.edns}: the reply carries an OPT record when > 0. */
  edns: number
}

// Scratch space for name conversion: 255 wire bytes, at most 4 presentation bytes each.
const scratch = Buffer.allocUnsafe(MAX_NAME_WIRE * 4)
// Results of readQuestionName (module state, like dns-packet's `.bytes`, to avoid an object per call).
let nameEnd = 0
let nameError = ''

// Buffer#latin1Slice skips toString()'s encoding dispatch; fall back where it is missing.
const latin1: (b: Buffer, end: number) => string =
  typeof (Buffer.prototype as unknown as { latin1Slice?: unknown }).latin1Slice === 'function'
    ? (b, end) => (b as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(0, end)
    : (b, end) => b.toString('latin1', 0, end)

/**
 * Reads an uncompressed name at `off` into lowercase dotted text. Compression pointers are
 * refused (a question name has no prior name to point at). Sets `nameEnd`; returns null and
 * sets `nameError` on a malformed name.
 */
function readQuestionName(buf: Buffer, off: number): string | null {
  let p = off
  let out = 0
  const start = off
  for (;;) {
    if (p >= buf.length) {
      nameError = 'the question name runs past the end of the packet'
      return null
    }
    const len = buf[p]!
    if (len === 0) {
      p++
      break
    }
    if (len > 63) {
      nameError = (len & 0xc0) === 0xc0 ? 'a compression pointer in the question name' : 'an unknown label type in the question name'
      return null
    }
    if (p + 1 + len > buf.length) {
      nameError = 'a label runs past the end of the packet'
      return null
    }
    if (p + 1 + len - start + 1 > MAX_NAME_WIRE) {
      nameError = 'the question name is longer than 255 bytes'
      return null
    }
    if (out > 0) scratch[out++] = 0x2e
    for (let i = p + 1, e = p + 1 + len; i < e; i++) {
      const c = buf[i]!
      if (c >= 0x41 && c <= 0x5a) scratch[out++] = c + 0x20
      else if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) scratch[out++] = c
      else {
        scratch[out++] = 0x5c
        scratch[out++] = 0x30 + Math.floor(c / 100)
        scratch[out++] = 0x30 + (Math.floor(c / 10) % 10)
        scratch[out++] = 0x30 + (c % 10)
      }
    }
    p += 1 + len
  }
  nameEnd = p
  return latin1(scratch, out)
}

/**
 * Skips a (possibly compressed) name at `off`. Returns the offset after it, or -1 when malformed.
 * Never follows pointers, so a pointer loop cannot hang it.
 */
export function skipName(buf: Buffer, off: number): number {
  let p = off
  for (let guard = 0; guard < 128; guard++) {
    if (p >= buf.length) return -1
    const len = buf[p]!
    if (len === 0) return p + 1
    if ((len & 0xc0) === 0xc0) return p + 2 <= buf.length ? p + 2 : -1
    if (len > 63) return -1
    p += 1 + len
  }
  return -1
}

/**
 * Reads a query's header, its single question and its EDNS OPT record, straight from bytes.
 * Checks follow Unbound's `worker_check_request`: QDCOUNT must be 1, ANCOUNT and NSCOUNT 0,
 * ARCOUNT at most 1.
 * @returns null when no reply is possible or wanted (shorter than 12 bytes, or a response:
 *   answering responses would let a spoofer reflect traffic); a {@link QueryProblem} for
 *   FORMERR / NOTIMP / BADVERS; else the {@link ParsedQuery}.
 */
export function parseQuery(buf: Buffer): ParsedQuery | QueryProblem | null {
  if (buf.length < HEADER_BYTES) return null
  const flags = (buf[2]! << 8) | buf[3]!
  if (flags & Flag.QR) return null
  const qdcount = (buf[4]! << 8) | buf[5]!
  const opcode = (flags >> 11) & 0xf
  if (qdcount !== 1) {
    if (opcode !== 0) return problem(Rcode.NOTIMP, `opcode ${opcode} is not implemented`, HEADER_BYTES)
    return problem(Rcode.FORMERR, `QDCOUNT is ${qdcount}, expected 1`, HEADER_BYTES)
  }
  const qname = readQuestionName(buf, HEADER_BYTES)
  if (qname === null) return problem(opcode !== 0 ? Rcode.NOTIMP : Rcode.FORMERR, opcode !== 0 ? `opcode ${opcode} is not implemented` : nameError, HEADER_BYTES)
  const qEnd = nameEnd + 4
  if (qEnd > buf.length) return problem(opcode !== 0 ? Rcode.NOTIMP : Rcode.FORMERR, opcode !== 0 ? `opcode ${opcode} is not implemented` : 'the question is truncated (no QTYPE/QCLASS)', HEADER_BYTES)
  if (opcode !== 0) return problem(Rcode.NOTIMP, `opcode ${opcode} is not implemented`, qEnd)
  const qtype = (buf[nameEnd]! << 8) | buf[nameEnd + 1]!
  const qclass = (buf[nameEnd + 2]! << 8) | buf[nameEnd + 3]!
  const ancount = (buf[6]! << 8) | buf[7]!
  const nscount = (buf[8]! << 8) | buf[9]!
  const arcount = (buf[10]! << 8) | buf[11]!
  if (ancount !== 0 || nscount !== 0) return problem(Rcode.FORMERR, 'a query with answer or authority records', qEnd)
  if (arcount > 1) return problem(Rcode.FORMERR, `ARCOUNT is ${arcount}, expected at most 1 (OPT)`, qEnd)
  let edns = 0
  let ednsDo = false
  if (arcount === 1) {
    const afterName = skipName(buf, qEnd)
    if (afterName === -1 || afterName + 10 > buf.length) return problem(Rcode.FORMERR, 'the additional record is truncated', qEnd)
    const rtype = buf.readUInt16BE(afterName)
    const rdlen = buf.readUInt16BE(afterName + 8)
    if (afterName + 10 + rdlen > buf.length) return problem(Rcode.FORMERR, 'the additional record data is truncated', qEnd)
    if (rtype === QType.OPT) {
      if (afterName !== qEnd + 1) return problem(Rcode.FORMERR, 'the OPT record name is not the root (RFC 6891 §6.1.2)', qEnd)
      edns = Math.max(CLASSIC_UDP_LIMIT, buf.readUInt16BE(afterName + 2))
      const version = buf[afterName + 5]!
      ednsDo = (buf[afterName + 6]! & 0x80) !== 0
      if (version !== 0) return problem(Rcode.BADVERS, `EDNS version ${version} is not supported`, qEnd, edns)
    }
  }
  return { ok: true, id: (buf[0]! << 8) | buf[1]!, flags, qname, qtype, qclass, questionEnd: qEnd, edns, ednsDo }
}

/** Outputs of {@link hashQuestion} (module state, so the hot path allocates nothing). */
export const quick = {
  /** End of the question. */
  questionEnd: 0,
  /** As {@link ParsedQuery.edns}. */
  edns: 0,
}

/**
 * Hot-path pre-check of a query: a plain QUERY with one question whose name has only printable
 * bytes, no answer/authority records and at most a well-formed EDNS(0) OPT record. Returns a
 * 30-bit FNV-1a hash of the question section (name bytes lowercased, then QTYPE and QCLASS) and
 * sets {@link quick}; returns -1 for anything else (the caller takes the full path, parseQuery).
 */
export function hashQuestion(buf: Buffer): number {
  const len = buf.length
  if (len < HEADER_BYTES + 5) return -1
  // QR=0, opcode 0; QDCOUNT 1; ANCOUNT 0; NSCOUNT 0; ARCOUNT 0 or 1.
  if ((buf[2]! & 0xf8) !== 0 || buf[4] !== 0 || buf[5] !== 1 || buf[6] !== 0 || buf[7] !== 0 || buf[8] !== 0 || buf[9] !== 0 || buf[10] !== 0) return -1
  const ar = buf[11]!
  if (ar > 1) return -1
  let h = 0x811c9dc5
  let p = HEADER_BYTES
  for (;;) {
    if (p >= len) return -1
    const l = buf[p]!
    h = Math.imul(h ^ l, 16777619)
    p++
    if (l === 0) break
    if (l > 63 || p + l > len || p + l - HEADER_BYTES >= MAX_NAME_WIRE) return -1
    for (const e = p + l; p < e; p++) {
      let c = buf[p]!
      if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) return -1
      if (c >= 0x41 && c <= 0x5a) c += 0x20
      h = Math.imul(h ^ c, 16777619)
    }
  }
  if (p + 4 > len) return -1
  for (const e = p + 4; p < e; p++) h = Math.imul(h ^ buf[p]!, 16777619)
  quick.questionEnd = p
  quick.edns = 0
  if (ar === 1) {
    // Only the common form: root name, type OPT, version 0, options inside the packet.
    if (p + 11 > len || buf[p] !== 0 || buf[p + 1] !== 0 || buf[p + 2] !== QType.OPT || buf[p + 6] !== 0) return -1
    if (p + 11 + ((buf[p + 9]! << 8) | buf[p + 10]!) > len) return -1
    quick.edns = Math.max(CLASSIC_UDP_LIMIT, (buf[p + 3]! << 8) | buf[p + 4]!)
  }
  return h & 0x3fffffff
}

/** A copy of a query's question section with the name lowercased: the key {@link sameQuestionKey} compares. */
export function questionKey(buf: Buffer, questionEnd: number): Buffer {
  const key = Buffer.allocUnsafeSlow(questionEnd - HEADER_BYTES)
  const nameStop = questionEnd - 4
  for (let i = HEADER_BYTES; i < questionEnd; i++) {
    const c = buf[i]!
    key[i - HEADER_BYTES] = i < nameStop && c >= 0x41 && c <= 0x5a ? c + 0x20 : c
  }
  return key
}

/** True when the query's question equals `key` ({@link questionKey}), the name compared case-insensitively. */
export function sameQuestionKey(key: Buffer, buf: Buffer, questionEnd: number): boolean {
  if (key.length !== questionEnd - HEADER_BYTES) return false
  const nameStop = key.length - 4
  for (let i = 0; i < key.length; i++) {
    let c = buf[i + HEADER_BYTES]!
    if (i < nameStop && c >= 0x41 && c <= 0x5a) c += 0x20
    if (c !== key[i]) return false
  }
  return true
}

function problem(rcode: number, reason: string, questionEnd: number, edns = 0): QueryProblem {
  return { ok: false, rcode, reason, questionEnd, edns }
}

/** Bytes of the OPT record {@link writeOpt} writes. */
export const OPT_BYTES = 11

/** Writes our OPT pseudo-record (root name, UDP size {@link EDNS_UDP_SIZE}, version 0, no options) at `off`. */
export function writeOpt(out: Buffer, off: number, extendedRcode = 0): void {
  out[off] = 0
  out.writeUInt16BE(QType.OPT, off + 1)
  out.writeUInt16BE(EDNS_UDP_SIZE, off + 3)
  out[off + 5] = extendedRcode & 0xff
  out[off + 6] = 0
  out.writeUInt16BE(0, off + 7)
  out.writeUInt16BE(0, off + 9)
}

/**
 * Builds a response from the query's bytes: its id, opcode, RD and CD bits and (when
 * `questionEnd > 12`) its question, copied verbatim (0x20 case echoed); QR and RA set; `rcode`
 * (an extended rcode's upper bits go into the OPT record). Optionally followed by raw answer
 * records. An OPT record is appended when `edns` is true (RFC 6891 §7: only if the query had one).
 * Used for FORMERR, NXDOMAIN, REFUSED, NOTIMP, SERVFAIL, NODATA and synthesized answers.
 * @param answers raw resource records, owner names compressed to the question (0xC00C) or literal
 */
export function buildResponse(query: Buffer, questionEnd: number, rcode: number, edns: boolean, answers?: Buffer, ancount = 0): Buffer {
  const qEnd = Math.min(Math.max(questionEnd, HEADER_BYTES), query.length)
  const aLen = answers ? answers.length : 0
  const out = Buffer.allocUnsafe(qEnd + aLen + (edns ? OPT_BYTES : 0))
  query.copy(out, 0, 0, qEnd)
  const qflags = (query[2]! << 8) | query[3]!
  const flags = Flag.QR | (qflags & (Flag.OPCODE | Flag.RD | Flag.CD)) | Flag.RA | (rcode & 0xf)
  out[2] = flags >> 8
  out[3] = flags & 0xff
  out[4] = 0
  out[5] = qEnd > HEADER_BYTES ? 1 : 0
  out[6] = ancount >> 8
  out[7] = ancount & 0xff
  out[8] = 0
  out[9] = 0
  out[10] = 0
  out[11] = edns ? 1 : 0
  if (answers) answers.copy(out, qEnd)
  if (edns) writeOpt(out, qEnd + aLen, rcode >> 4)
  return out
}

/**
 * Raw resource record owned by the question name (pointer 0xC00C), class IN.
 * @param ttl seconds
 */
export function questionRecord(type: number, ttl: number, rdata: Buffer): Buffer {
  const rr = Buffer.allocUnsafe(12 + rdata.length)
  rr[0] = 0xc0
  rr[1] = HEADER_BYTES
  rr.writeUInt16BE(type, 2)
  rr.writeUInt16BE(CLASS_IN, 4)
  rr.writeUInt32BE(ttl >>> 0, 6)
  rr.writeUInt16BE(rdata.length, 10)
  rdata.copy(rr, 12)
  return rr
}

/** The 4 or 16 bytes of an IP literal (RFC 1035 §3.4.1 A, RFC 3596 §2.2 AAAA). Throws on a non-IP. */
export function addressBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  if (!isIPv6(ip)) throw new Error(`"${ip}" is not an IP address`)
  let text = ip
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const n = tail.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, lastColon + 1)}${((n[0] << 8) | n[1]).toString(16)}:${((n[2] << 8) | n[3]).toString(16)}`
  }
  const halves = text.split('::')
  const head = halves[0] ? halves[0].split(':') : []
  const rest = halves.length > 1 && halves[1] ? halves[1].split(':') : []
  const words = [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest]
  const out = Buffer.alloc(16)
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2))
  return out
}

/** RFC 8482 §4.2 answer to ANY: one HINFO record with CPU "RFC8482" and an empty OS. */
export function rfc8482Record(ttl: number): Buffer {
  return questionRecord(QType.HINFO, ttl, Buffer.from([7, 0x52, 0x46, 0x43, 0x38, 0x34, 0x38, 0x32, 0]))
}

/**
 * Offset just past the question section of a message with QDCOUNT questions (0 or more), or -1
 * when malformed.
 */
export function questionEndOf(buf: Buffer): number {
  if (buf.length < HEADER_BYTES) return -1
  let p = HEADER_BYTES
  const qd = buf.readUInt16BE(4)
  for (let i = 0; i < qd; i++) {
    p = skipName(buf, p)
    if (p === -1 || p + 4 > buf.length) return -1
    p += 4
  }
  return p
}

/**
 * Truncates a response for UDP (RFC 2181 §9, RFC 7766 §5): header + question, TC set, no records
 * but an OPT when `edns` (so the client retries over TCP).
 */
export function truncateResponse(resp: Buffer, edns: boolean): Buffer {
  const qEnd = questionEndOf(resp)
  const end = qEnd === -1 ? HEADER_BYTES : qEnd
  const out = Buffer.allocUnsafe(end + (edns ? OPT_BYTES : 0))
  resp.copy(out, 0, 0, end)
  out[2] = out[2]! | (Flag.TC >> 8)
  if (qEnd === -1) {
    out[4] = 0
    out[5] = 0
  }
  out.fill(0, 6, 12)
  if (edns) {
    out[11] = 1
    writeOpt(out, end)
  }
  return out
}

/** Where the records of a response are, for caching (TTL patching) and negative TTLs. */
export interface RecordScan {
  rcode: number
  ancount: number
  /** Byte offset of every record's TTL field (OPT excluded), in message order. */
  ttlOffsets: number[]
  /** The TTL at each offset, seconds. */
  ttls: number[]
  /** Smallest TTL of the answer section, seconds; -1 when there are no answers. */
  minAnswerTtl: number
  /** RFC 2308 §5 negative TTL from the first SOA in the authority section: min(SOA TTL, MINIMUM); -1 without SOA. */
  negativeTtl: number
  /** True when an OPT record is present (caches store responses without one). */
  hasOpt: boolean
}

/**
 * Walks every record of a message. Never follows compression pointers. Returns null when the
 * message is malformed.
 */
export function scanRecords(buf: Buffer): RecordScan | null {
  const qEnd = questionEndOf(buf)
  if (qEnd === -1) return null
  const an = buf.readUInt16BE(6)
  const ns = buf.readUInt16BE(8)
  const ar = buf.readUInt16BE(10)
  const scan: RecordScan = { rcode: buf[3]! & 0xf, ancount: an, ttlOffsets: [], ttls: [], minAnswerTtl: -1, negativeTtl: -1, hasOpt: false }
  let p = qEnd
  const total = an + ns + ar
  for (let i = 0; i < total; i++) {
    p = skipName(buf, p)
    if (p === -1 || p + 10 > buf.length) return null
    const type = buf.readUInt16BE(p)
    const ttl = buf.readUInt32BE(p + 4)
    const rdlen = buf.readUInt16BE(p + 8)
    const rdata = p + 10
    if (rdata + rdlen > buf.length) return null
    if (type === QType.OPT) scan.hasOpt = true
    else {
      scan.ttlOffsets.push(p + 4)
      scan.ttls.push(ttl)
      if (i < an && (scan.minAnswerTtl === -1 || ttl < scan.minAnswerTtl)) scan.minAnswerTtl = ttl
      if (type === QType.SOA && i >= an && i < an + ns && scan.negativeTtl === -1) {
        // MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM (RFC 1035 §3.3.13).
        let q = skipName(buf, rdata)
        if (q !== -1) q = skipName(buf, q)
        if (q !== -1 && q + 20 <= rdata + rdlen) scan.negativeTtl = Math.min(ttl, buf.readUInt32BE(q + 16))
      }
    }
    p = rdata + rdlen
  }
  return scan
}

/**
 * Compares two question sections case-insensitively in the name (RFC 4343) and exactly in
 * QTYPE/QCLASS. `a` and `b` are whole messages; the sections are [12, aEnd) and [12, bEnd).
 */
export function sameQuestion(a: Buffer, aEnd: number, b: Buffer, bEnd: number): boolean {
  if (aEnd !== bEnd || aEnd < HEADER_BYTES + 5 || a.length < aEnd || b.length < bEnd) return false
  const nameStop = aEnd - 4
  for (let i = HEADER_BYTES; i < nameStop; i++) {
    let x = a[i]!
    let y = b[i]!
    if (x >= 0x41 && x <= 0x5a) x += 0x20
    if (y >= 0x41 && y <= 0x5a) y += 0x20
    if (x !== y) return false
  }
  for (let i = nameStop; i < aEnd; i++) if (a[i] !== b[i]) return false
  return true
}

/** The encoders of dns-packet its typings do not declare (`name`, `question`). */
const codec = dnsPacket as unknown as {
  name: { encode(name: string): Buffer }
  question: { encode(q: dnsPacket.Question, buf: Buffer, offset: number): unknown; encodingLength(q: dnsPacket.Question): number }
}

/**
 * Encodes a dotted host name in wire form with dns-packet, after checking what dns-packet does not:
 * labels of 1–63 printable ASCII bytes and at most 255 bytes on the wire (RFC 1035 §2.3.4).
 * A trailing dot is dropped; `''` and `'.'` are the root.
 * @throws Error on a name with a byte outside printable ASCII (IDNs are punycode by then: host.ts;
 *   dns-packet would write UTF-8, and a line break changes how it splits labels), an empty label, a
 *   label longer than 63 bytes, or a name longer than 255 bytes
 */
export function encodeName(name: string): Buffer {
  const n = checkedName(name)
  return n === '' ? Buffer.from([0]) : codec.name.encode(n)
}

/** `name` without its trailing dot, once it passed {@link encodeName}'s checks. @throws Error as encodeName */
function checkedName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name
  if (n === '') return n
  if (!/^[\x20-\x7e]*$/.test(n)) throw new Error(`${JSON.stringify(name)} is not a printable-ASCII host name`)
  for (const l of n.split('.')) {
    if (l.length === 0 || l.length > 63) throw new Error(`"${name}" has a label of ${l.length} bytes`)
  }
  if (n.length + 2 > MAX_NAME_WIRE) throw new Error(`"${name}" is longer than 255 bytes on the wire`)
  return n
}

/**
 * A question section of class IN (dns-packet's encoder): wire name + QTYPE + QCLASS.
 * @param qtype 0–65535 (a type dns-packet has no mnemonic for is written as `UNKNOWN_<n>`, which it
 *   encodes back to n)
 * @throws Error as {@link encodeName}
 */
export function encodeQuestion(name: string, qtype: number): Buffer {
  const n = checkedName(name)
  // dns-packet spells the root '.' (its length of '' is one byte too many).
  const q: dnsPacket.Question = { name: n === '' ? '.' : n, type: packetTypeName(qtype) as dnsPacket.RecordType, class: 'IN' }
  const out = Buffer.alloc(codec.question.encodingLength(q))
  codec.question.encode(q, out, 0)
  return out
}

/**
 * A recursive query: header (`id`, RD, optionally CD), the given question section, and an OPT
 * record advertising {@link EDNS_UDP_SIZE} when `edns` (DO never set: answers are filtered, so
 * DNSSEC data would not validate anyway). Written in place like the responses of this file (one
 * allocation; it runs for every query sent upstream): the question goes in as the caller's bytes,
 * so a forwarded client question reaches the upstream byte for byte, 0x20 letter case included.
 */
export function buildQuery(id: number, question: Buffer, opts: { cd?: boolean; edns?: boolean } = {}): Buffer {
  const edns = opts.edns ?? true
  const out = Buffer.allocUnsafe(HEADER_BYTES + question.length + (edns ? OPT_BYTES : 0))
  out.writeUInt16BE(id, 0)
  out.writeUInt16BE(Flag.RD | (opts.cd ? Flag.CD : 0), 2)
  out.writeUInt16BE(1, 4)
  out.writeUInt16BE(0, 6)
  out.writeUInt16BE(0, 8)
  out.writeUInt16BE(edns ? 1 : 0, 10)
  question.copy(out, HEADER_BYTES)
  if (edns) writeOpt(out, HEADER_BYTES + question.length)
  return out
}
