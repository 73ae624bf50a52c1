/**
 * The DNS wire decoder (egress/dns/wire.ts): queries built field by field decode to exactly those
 * fields; the hot-path hash agrees with the full parser; responses encoded by dns-packet scan to
 * their TTLs; and any bytes (raw, or a valid query/response with mutations) never throw, stay in
 * bounds and finish in time. References: RFC 1035 §4.1, RFC 6891 §6.1.
 */
import dnsPacket from 'dns-packet'
import fc from 'fast-check'
import {
  Flag,
  HEADER_BYTES,
  buildQuery,
  buildResponse,
  encodeQuestion,
  hashQuestion,
  parseQuery,
  questionEndOf,
  questionKey,
  quick,
  sameQuestionKey,
  scanRecords,
  truncateResponse,
} from '../../../egress/dns/wire.js'
import { mutated, rawBytes, withinTime, type FuzzTarget } from '../lib/fuzz.js'

/** One query, field by field. */
interface QuerySpec {
  id: number
  rd: boolean
  cd: boolean
  labels: Uint8Array[]
  qtype: number
  qclass: number
  opt: { udp: number; version: number; dnssecOk: boolean; rdata: Uint8Array } | null
}

const labelByte = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'.split('').map((c) => c.charCodeAt(0))) },
  { weight: 1, arbitrary: fc.nat(255) },
)
const label = fc.array(labelByte, { minLength: 1, maxLength: 63 }).map((a) => Uint8Array.from(a))
const labels = fc.array(label, { minLength: 0, maxLength: 8 }).filter((ls) => ls.reduce((s, l) => s + 1 + l.length, 1) <= 255)

const querySpec: fc.Arbitrary<QuerySpec> = fc.record({
  id: fc.nat(0xffff),
  rd: fc.boolean(),
  cd: fc.boolean(),
  labels,
  qtype: fc.oneof(fc.constantFrom(1, 28, 5, 16, 33, 65, 255, 252), fc.nat(0xffff)),
  qclass: fc.oneof(fc.constant(1), fc.nat(0xffff)),
  opt: fc.option(fc.record({ udp: fc.nat(0xffff), version: fc.oneof(fc.constant(0), fc.nat(255)), dnssecOk: fc.boolean(), rdata: fc.uint8Array({ maxLength: 24 }) }), { nil: null }),
})

function nameWire(ls: readonly Uint8Array[]): Buffer {
  return Buffer.concat([...ls.flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]), Buffer.from([0])])
}

function encodeSpec(q: QuerySpec): Buffer {
  const h = Buffer.alloc(HEADER_BYTES)
  h.writeUInt16BE(q.id, 0)
  h.writeUInt16BE((q.rd ? Flag.RD : 0) | (q.cd ? Flag.CD : 0), 2)
  h.writeUInt16BE(1, 4)
  h.writeUInt16BE(q.opt ? 1 : 0, 10)
  const tail = Buffer.alloc(4)
  tail.writeUInt16BE(q.qtype, 0)
  tail.writeUInt16BE(q.qclass, 2)
  const parts = [h, nameWire(q.labels), tail]
  if (q.opt) {
    const o = Buffer.alloc(11)
    o.writeUInt16BE(41, 1)
    o.writeUInt16BE(q.opt.udp, 3)
    o[6] = q.opt.version
    o.writeUInt16BE(q.opt.dnssecOk ? 0x8000 : 0, 7)
    o.writeUInt16BE(q.opt.rdata.length, 9)
    parts.push(o, Buffer.from(q.opt.rdata))
  }
  return Buffer.concat(parts)
}

/** The presentation form the parser promises: lowercase, `\DDD` for bytes that are not host-name text. */
function expectedQname(ls: readonly Uint8Array[]): string {
  return ls
    .map((l) =>
      Array.from(l, (c) => {
        if (c >= 0x41 && c <= 0x5a) return String.fromCharCode(c + 0x20)
        if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) return String.fromCharCode(c)
        return `\\${String(c).padStart(3, '0')}`
      }).join(''),
    )
    .join('.')
}

const ldhName = fc
  .array(fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?$/), { minLength: 1, maxLength: 5 })
  .map((ls) => ls.join('.'))

/** A response dns-packet encodes: answers and an optional SOA, with known TTLs. */
const responseSpec = fc.record({
  name: ldhName,
  answers: fc.array(
    fc.oneof(
      fc.record({ type: fc.constant('A' as const), ttl: fc.nat(), data: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')) }),
      fc.record({ type: fc.constant('CNAME' as const), ttl: fc.nat(), data: ldhName }),
      fc.record({ type: fc.constant('TXT' as const), ttl: fc.nat(), data: fc.string({ maxLength: 40 }) }),
    ),
    { maxLength: 6 },
  ),
  soa: fc.option(fc.record({ ttl: fc.nat(), minimum: fc.nat() }), { nil: null }),
  edns: fc.boolean(),
  rcode: fc.constantFrom('NOERROR', 'NXDOMAIN', 'SERVFAIL') as fc.Arbitrary<'NOERROR' | 'NXDOMAIN' | 'SERVFAIL'>,
})

type ResponseSpec = typeof responseSpec extends fc.Arbitrary<infer T> ? T : never

function encodeResponse(r: ResponseSpec): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    rcode: r.rcode,
    questions: [{ type: 'A', name: r.name }],
    answers: r.answers.map((a) => ({ ...a, name: r.name, class: 'IN' })) as dnsPacket.Answer[],
    authorities: r.soa
      ? [{ type: 'SOA', name: r.name, ttl: r.soa.ttl, data: { mname: 'ns.example', rname: 'host.example', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: r.soa.minimum } }]
      : [],
    additionals: r.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as dnsPacket.Answer] : [],
  } as dnsPacket.Packet)
}

const anyQueryBytes = fc.oneof(
  { weight: 2, arbitrary: mutated(querySpec.map(encodeSpec)) },
  { weight: 1, arbitrary: rawBytes(600, [Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1])]) },
)
const anyResponseBytes = fc.oneof(mutated(responseSpec.map(encodeResponse)), rawBytes(600))

/** Checks everything the decoder promises about one input, whatever the bytes. */
function decodeInvariants(buf: Buffer): void {
  const q = withinTime(() => parseQuery(buf))
  if (q === null) {
    if (!(buf.length < HEADER_BYTES || (buf[2]! & 0x80) !== 0)) throw new Error('null for a query that could be answered')
  } else if (q.ok) {
    if (q.questionEnd > buf.length || q.questionEnd < HEADER_BYTES + 5) throw new Error(`questionEnd ${q.questionEnd} out of bounds`)
    if (q.qname.length > 4 * 255) throw new Error('qname longer than its wire form allows')
    if (/[^\x21-\x7e]/.test(q.qname) || /[A-Z]/.test(q.qname)) throw new Error(`qname "${q.qname}" has non-printable or uppercase text`)
    if (q.edns !== 0 && q.edns < 512) throw new Error('edns below 512')
  } else {
    if (![1, 4, 16].includes(q.rcode)) throw new Error(`rcode ${q.rcode} is not FORMERR/NOTIMP/BADVERS`)
    if (q.questionEnd < HEADER_BYTES || q.questionEnd > buf.length) throw new Error('problem questionEnd out of bounds')
  }
  // The hot path never says yes where the full parser says no, and agrees on what it reports.
  const h = withinTime(() => hashQuestion(buf))
  if (h !== -1) {
    if (!q || !q.ok) throw new Error('hashQuestion accepted a query parseQuery refuses')
    if (quick.questionEnd !== q.questionEnd || quick.edns !== q.edns) throw new Error(`hashQuestion reported ${quick.questionEnd}/${quick.edns}, parseQuery ${q.questionEnd}/${q.edns}`)
  }
  const end = withinTime(() => questionEndOf(buf))
  if (end !== -1 && (end > buf.length || end < HEADER_BYTES)) throw new Error('questionEndOf out of bounds')
  const scan = withinTime(() => scanRecords(buf))
  if (scan) {
    if (scan.ttlOffsets.length !== scan.ttls.length) throw new Error('ttl arrays differ in length')
    if (scan.ttlOffsets.length > 3 * 0xffff) throw new Error('more records than the counts allow')
    scan.ttlOffsets.forEach((off, i) => {
      if (off + 4 > buf.length || buf.readUInt32BE(off) !== scan.ttls[i]) throw new Error(`ttl offset ${off} out of bounds or wrong`)
    })
  }
  if (buf.length >= HEADER_BYTES) {
    for (const edns of [false, true]) {
      const t = truncateResponse(buf, edns)
      if (t.length > buf.length + 11 || (t[2]! & 0x02) === 0 || t.readUInt16BE(6) !== 0) throw new Error('truncateResponse grew or lost TC')
    }
  }
}

export const dnsTarget: FuzzTarget = {
  parser: 'dns-wire',
  source: 'egress/dns/wire.ts',
  properties: [
    {
      name: 'a query built field by field decodes to exactly those fields (or the matching FORMERR/BADVERS)',
      property: () =>
        fc.property(querySpec, (q) => {
          const buf = encodeSpec(q)
          const r = parseQuery(buf)
          const end = HEADER_BYTES + nameWire(q.labels).length + 4
          if (q.opt && q.opt.version !== 0) {
            return r !== null && !r.ok && r.rcode === 16 && r.questionEnd === end && r.edns === Math.max(512, q.opt.udp)
          }
          const want = { ok: true, id: q.id, flags: (q.rd ? Flag.RD : 0) | (q.cd ? Flag.CD : 0), qname: expectedQname(q.labels), qtype: q.qtype, qclass: q.qclass, questionEnd: end, edns: q.opt ? Math.max(512, q.opt.udp) : 0, ednsDo: q.opt?.dnssecOk ?? false }
          if (JSON.stringify(r) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(r)}, want ${JSON.stringify(want)}`)
          return true
        }),
    },
    {
      name: 'encodeQuestion + buildQuery round-trip through parseQuery; dns-packet decodes the same question',
      property: () =>
        fc.property(ldhName, fc.nat(0xffff), fc.constantFrom(1, 28, 65, 16), fc.boolean(), (name, id, qtype, edns) => {
          const buf = buildQuery(id, encodeQuestion(name, qtype), { edns })
          const r = parseQuery(buf)
          if (!r || !r.ok || r.qname !== name.toLowerCase() || r.qtype !== qtype || r.id !== id || r.edns !== (edns ? 1232 : 0)) throw new Error(JSON.stringify(r))
          const d = dnsPacket.decode(buf)
          return d.questions?.[0]?.name.toLowerCase() === r.qname && d.id === id
        }),
    },
    {
      name: 'the question hash and key ignore the name\'s case and the id, and nothing else',
      property: () =>
        fc.property(querySpec, fc.nat(0xffff), fc.nat(0xffffffff), (q, id2, caseBits) => {
          const a = encodeSpec({ ...q, opt: null })
          const flipped = q.labels.map((l, i) => l.map((c, j) => ((caseBits >> ((i * 7 + j) % 31)) & 1 && ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) ? c ^ 0x20 : c)))
          const b = encodeSpec({ ...q, id: id2, labels: flipped, opt: null })
          const pa = parseQuery(a)
          if (!pa || !pa.ok) return true
          const ha = hashQuestion(a)
          const hb = hashQuestion(b)
          if (ha !== hb) throw new Error('hash differs by case or id')
          if (!sameQuestionKey(questionKey(a, pa.questionEnd), b, pa.questionEnd)) throw new Error('key differs by case or id')
          const c = encodeSpec({ ...q, qtype: q.qtype ^ 1, opt: null })
          return !sameQuestionKey(questionKey(a, pa.questionEnd), c, pa.questionEnd)
        }),
    },
    {
      name: 'a response encoded by dns-packet scans to its records\' TTLs, negative TTL and OPT',
      property: () =>
        fc.property(responseSpec, (r) => {
          const buf = encodeResponse(r)
          const s = scanRecords(buf)
          if (!s) throw new Error('a well-formed response did not scan')
          const ttls = [...r.answers.map((a) => a.ttl), ...(r.soa ? [r.soa.ttl] : [])]
          const minAnswer = r.answers.length ? Math.min(...r.answers.map((a) => a.ttl)) : -1
          const negative = r.soa ? Math.min(r.soa.ttl, r.soa.minimum) : -1
          return JSON.stringify(s.ttls) === JSON.stringify(ttls) && s.minAnswerTtl === minAnswer && s.negativeTtl === negative && s.hasOpt === r.edns && s.ancount === r.answers.length
        }),
    },
    {
      name: 'buildResponse to any parsed query is a response dns-packet decodes with the same id, question and rcode',
      property: () =>
        fc.property(querySpec, fc.constantFrom(0, 1, 2, 3, 5), (q, rcode) => {
          const buf = encodeSpec({ ...q, labels: q.labels.map((l) => l.map((c) => (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c ? c : 0x61))) })
          const p = parseQuery(buf)
          if (!p || !p.ok) return true
          const resp = buildResponse(buf, p.questionEnd, rcode, p.edns > 0)
          const d = dnsPacket.decode(resp)
          const qname = (d.questions?.[0]?.name ?? '').toLowerCase()
          return d.id === p.id && d.type === 'response' && (resp[3]! & 0xf) === rcode && (qname === '.' ? '' : qname) === p.qname && questionEndOf(resp) === p.questionEnd && scanRecords(resp)?.hasOpt === p.edns > 0
        }),
    },
    {
      name: 'any query bytes (raw, or a valid query mutated): no throw, every offset in bounds, hash agrees, within the time bound',
      weight: 4,
      property: () => fc.property(anyQueryBytes, (b) => (decodeInvariants(b), true)),
    },
    {
      name: 'any response bytes (raw, or a dns-packet response mutated): the same',
      weight: 3,
      property: () => fc.property(anyResponseBytes, (b) => (decodeInvariants(b), true)),
    },
  ],
}
