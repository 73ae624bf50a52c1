/**
 * A bounded DNS response cache keyed by (qname, qtype, qclass).
 *
 * Entries are raw response buffers (id 0, no OPT record) plus the offsets of their TTL fields,
 * so a hit is a copy and a few integer writes: the id is set, the client's question bytes are
 * copied over the stored question (its 0x20 letter case is echoed), and every TTL is written as
 * (stored TTL − whole seconds since storing).
 *
 * TTL rules: a positive answer lives for the smallest TTL of its answer section (RFC 2181 §5.2),
 * a negative one (NXDOMAIN, or NOERROR without answers) for min(SOA TTL, SOA MINIMUM) of the
 * authority SOA (RFC 2308 §5); both capped at `maxTtlS`. Negative answers without an SOA,
 * other rcodes and TTL 0 are not stored (RFC 2308 §5, §7). When full, the oldest entry goes.
 *
 * The cache holds only what the forwarder may serve; decisions are always taken before it is
 * consulted, so a quarantine makes cached answers unreachable without flushing them.
 */
import { CLASS_IN, Flag, HEADER_BYTES, OPT_BYTES, questionEndOf, Rcode, scanRecords, writeOpt } from './wire.js'

/** One cached (or cacheable) response. */
export interface CachedResponse {
  /** Response bytes: id 0, no OPT record, TTLs capped at the entry's lifetime. */
  readonly buf: Buffer
  /** End of the question section in {@link buf}. */
  readonly questionEnd: number
  /** Offsets of every TTL field in {@link buf}. */
  readonly ttlOffsets: Uint16Array
  /** The TTLs at those offsets when stored, seconds. */
  readonly ttls: Uint32Array
  /** Cache clock when stored, ms. */
  readonly storedAt: number
  /** Cache clock when it stops being served, ms (= storedAt when not cacheable). */
  readonly expiresAt: number
  /** Response code (low 4 bits). */
  readonly rcode: number
}

/** Options of {@link DnsCache}. */
export interface DnsCacheOptions {
  /** Max entries (`limits.dns_cache_entries`); beyond, the oldest is evicted. */
  maxEntries: number
  /** TTL cap, seconds (`limits.dns_cache_max_ttl_s`); 0 disables storing. */
  maxTtlS: number
  /** Monotonic clock in ms; default `performance.now`. Tests may inject one. */
  clock?: () => number
}

/** Bounded TTL cache of raw DNS responses. */
export class DnsCache {
  // Two levels, name → (class, type) → entry: the hot path looks up the name string the
  // forwarder already hashed for its decision memo, and builds no composite key.
  readonly #names = new Map<string, Map<number, CachedResponse>>()
  // Insertion order of live keys (`slot|name`), for oldest-out eviction.
  readonly #order = new Map<string, { name: string; slot: number }>()
  readonly #max: number
  readonly #maxTtlS: number
  readonly clock: () => number

  constructor(opts: DnsCacheOptions) {
    this.#max = Math.max(1, opts.maxEntries)
    this.#maxTtlS = Math.max(0, opts.maxTtlS)
    this.clock = opts.clock ?? (() => performance.now())
  }

  /** Number of stored entries (expired ones included until touched). */
  get size(): number {
    return this.#order.size
  }

  /**
   * A live entry, or undefined (an expired entry is dropped).
   * @param qname the lowercased question name (wire.ts `parseQuery`)
   * @param now the cache clock, when the caller already read it
   */
  get(qname: string, qtype: number, qclass: number = CLASS_IN, now: number = this.clock()): CachedResponse | undefined {
    const byType = this.#names.get(qname)
    if (byType === undefined) return undefined
    const slot = qclass === CLASS_IN ? qtype : qclass * 0x10000 + qtype
    const e = byType.get(slot)
    if (e === undefined) return undefined
    if (now >= e.expiresAt) {
      this.#delete(qname, slot)
      return undefined
    }
    return e
  }

  /**
   * Analyses a response and stores it when cacheable. An OPT record is removed; TTLs above the
   * entry's lifetime are lowered to it.
   * @param qname the lowercased question name
   * @param emptyTtlS lifetime, seconds, of a NOERROR response without answers and without an SOA
   *   (the forwarder's answer after it stripped every address: the TTL of what it stripped)
   * @returns the entry (also when not stored: `expiresAt === storedAt`), or null when the message is malformed
   */
  put(qname: string, qtype: number, qclass: number, response: Buffer, emptyTtlS?: number): CachedResponse | null {
    const entry = this.prepare(response, emptyTtlS)
    if (entry && entry.expiresAt > entry.storedAt) {
      const slot = qclass === CLASS_IN ? qtype : qclass * 0x10000 + qtype
      const key = `${slot}|${qname}`
      if (this.#order.has(key)) this.#delete(qname, slot)
      else if (this.#order.size >= this.#max) {
        // Oldest-out: expired entries are usually first; otherwise the oldest live one goes.
        const oldest = this.#order.values().next()
        if (!oldest.done) this.#delete(oldest.value.name, oldest.value.slot)
      }
      let byType = this.#names.get(qname)
      if (byType === undefined) {
        byType = new Map()
        this.#names.set(qname, byType)
      }
      byType.set(slot, entry)
      this.#order.set(key, { name: qname, slot })
    }
    return entry
  }

  #delete(qname: string, slot: number): void {
    const byType = this.#names.get(qname)
    if (byType) {
      byType.delete(slot)
      if (byType.size === 0) this.#names.delete(qname)
    }
    this.#order.delete(`${slot}|${qname}`)
  }

  /** Builds an entry (not stored) from a response (copied, never modified); null when malformed. */
  prepare(response: Buffer, emptyTtlS?: number): CachedResponse | null {
    let scan = scanRecords(response)
    if (!scan) return null
    let buf: Buffer
    if (scan.hasOpt) {
      buf = stripOpt(response)
      scan = scanRecords(buf)
      if (!scan) return null
    } else buf = Buffer.from(response)
    let ttl = -1
    if (scan.rcode === Rcode.NOERROR && scan.ancount > 0) ttl = scan.minAnswerTtl
    else if (scan.rcode === Rcode.NXDOMAIN || (scan.rcode === Rcode.NOERROR && scan.ancount === 0)) ttl = scan.negativeTtl
    if (ttl === -1 && scan.rcode === Rcode.NOERROR && scan.ancount === 0 && emptyTtlS !== undefined) ttl = emptyTtlS
    ttl = Math.min(ttl, this.#maxTtlS)
    const now = this.clock()
    const n = scan.ttlOffsets.length
    const ttlOffsets = new Uint16Array(n)
    const ttls = new Uint32Array(n)
    const life = Math.max(ttl, 0)
    for (let i = 0; i < n; i++) {
      ttlOffsets[i] = scan.ttlOffsets[i]!
      ttls[i] = Math.min(scan.ttls[i]!, life)
      buf.writeUInt32BE(ttls[i]!, ttlOffsets[i]!)
    }
    buf.writeUInt16BE(0, 0)
    return { buf, questionEnd: questionEndOf(buf), ttlOffsets, ttls, storedAt: now, expiresAt: now + life * 1000, rcode: scan.rcode }
  }

  /**
   * Renders an entry for one query: the query's id, RD and CD bits and question bytes, TTLs
   * decremented by the whole seconds since storing, an OPT record when `edns`. Hot path: one
   * allocation.
   * @param query the client's query (its question must be the entry's, up to letter case)
   * @param questionEnd end of the query's question
   * @param now the cache clock, when the caller already read it
   */
  render(entry: CachedResponse, query: Buffer, questionEnd: number, edns: boolean, now: number = this.clock()): Buffer {
    const src = entry.buf
    const len = src.length
    const out = Buffer.allocUnsafe(len + (edns ? OPT_BYTES : 0))
    out.set(src, 0)
    out[0] = query[0]!
    out[1] = query[1]!
    // RD and CD follow the query (RFC 1035 §4.1.1: RD is copied into the response).
    out[2] = (src[2]! & ~(Flag.RD >> 8)) | (query[2]! & (Flag.RD >> 8))
    out[3] = (src[3]! & ~(Flag.CD | Flag.AD)) | (query[3]! & Flag.CD)
    if (questionEnd === entry.questionEnd) for (let i = HEADER_BYTES; i < questionEnd; i++) out[i] = query[i]!
    const elapsed = Math.floor((now - entry.storedAt) / 1000)
    const offs = entry.ttlOffsets
    const ttls = entry.ttls
    for (let i = 0; i < offs.length; i++) {
      const t = ttls[i]! - elapsed
      const v = t > 0 ? t : 0
      const o = offs[i]!
      out[o] = v >>> 24
      out[o + 1] = (v >>> 16) & 0xff
      out[o + 2] = (v >>> 8) & 0xff
      out[o + 3] = v & 0xff
    }
    if (edns) {
      const ar = ((out[10]! << 8) | out[11]!) + 1
      out[10] = ar >> 8
      out[11] = ar & 0xff
      writeOpt(out, len)
    }
    return out
  }

  /** Drops every entry. */
  clear(): void {
    this.#names.clear()
    this.#order.clear()
  }
}

/** Copies a message without its OPT record(s). Assumes scanRecords() accepted it. */
function stripOpt(buf: Buffer): Buffer {
  const qEnd = questionEndOf(buf)
  const an = buf.readUInt16BE(6)
  const ns = buf.readUInt16BE(8)
  const ar = buf.readUInt16BE(10)
  const parts: Buffer[] = [buf.subarray(0, qEnd)]
  let p = qEnd
  let removed = 0
  for (let i = 0; i < an + ns + ar; i++) {
    const start = p
    let q = p
    // skip name
    for (;;) {
      const l = buf[q]!
      if (l === 0) {
        q++
        break
      }
      if ((l & 0xc0) === 0xc0) {
        q += 2
        break
      }
      q += 1 + l
    }
    const type = buf.readUInt16BE(q)
    const rdlen = buf.readUInt16BE(q + 8)
    p = q + 10 + rdlen
    if (type === 41) removed++
    else parts.push(buf.subarray(start, p))
  }
  const out = Buffer.concat(parts)
  out.writeUInt16BE(ar - removed, 10)
  return out
}
