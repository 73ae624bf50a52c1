/**
 * egress/dns/wire.ts: raw-packet parsing and building. Pure functions over bytes; the packets are
 * built with dns-packet (or by hand for the malformed ones).
 */
import fc from 'fast-check'
import t from 'tap'
import * as dnsPacket from 'dns-packet'
import { DnsCache } from '../../../egress/dns/cache.js'
import {
  addressBytes, buildQuery, buildResponse, encodeName, encodeQuestion, Flag, hashQuestion, parseQuery, questionEndOf, questionKey, QType,
  quick, Rcode, rfc8482Record, sameQuestion, sameQuestionKey, scanRecords, skipName, truncateResponse, typeName,
} from '../../../egress/dns/wire.js'

function query(name: string, type: dnsPacket.RecordType = 'A', extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ id: 0x1234, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }], ...extra })
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12)
  h.writeUInt16BE(id, 0)
  h.writeUInt16BE(flags, 2)
  h.writeUInt16BE(qd, 4)
  h.writeUInt16BE(an, 6)
  h.writeUInt16BE(ns, 8)
  h.writeUInt16BE(ar, 10)
  return h
}

t.test('parseQuery reads id, flags and the question without a full decode', async (t) => {
  const q = parseQuery(query('Api.GitHub.com', 'AAAA'))
  t.ok(q && q.ok)
  if (!q || !q.ok) return
  t.equal(q.id, 0x1234)
  t.equal(q.flags & Flag.RD, Flag.RD)
  t.equal(q.qname, 'api.github.com', 'lowercased, dotted, no trailing dot')
  t.equal(q.qtype, QType.AAAA)
  t.equal(q.qclass, 1)
  t.equal(q.questionEnd, 12 + encodeName('api.github.com').length + 4)
  t.equal(q.edns, 0)
})

t.test('parseQuery reads the EDNS UDP size and DO bit', async (t) => {
  const q = parseQuery(query('example.com', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4000, extendedRcode: 0, ednsVersion: 0, flags: dnsPacket.DNSSEC_OK, flag_do: true, options: [] }] }))
  t.ok(q && q.ok && q.edns === 4000 && q.ednsDo)
  const small = parseQuery(query('example.com', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 100, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }))
  t.ok(small && small.ok && small.edns === 512, 'a size below 512 counts as 512 (RFC 6891 §6.2.5)')
  const v1 = parseQuery(query('example.com', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] }] }))
  t.ok(v1 && !v1.ok && v1.rcode === Rcode.BADVERS)
})

t.test('parseQuery: shorter than 12 bytes or a response → null (no reply)', async (t) => {
  t.equal(parseQuery(Buffer.alloc(0)), null)
  t.equal(parseQuery(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])), null)
  const resp = query('example.com')
  resp[2] = resp[2]! | 0x80
  t.equal(parseQuery(resp), null)
})

t.test('parseQuery: malformed questions → FORMERR with a reason', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['garbage bytes', Buffer.concat([header(7, 0x0100, 1), Buffer.from([0xff, 0xfe, 0xfd])])],
    ['truncated question (no type/class)', Buffer.concat([header(7, 0x0100, 1), encodeName('example.com')])],
    ['truncated label', Buffer.concat([header(7, 0x0100, 1), Buffer.from([10, 0x61, 0x62])])],
    ['label pointer loop', Buffer.concat([header(7, 0x0100, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])],
    ['pointer after a label', Buffer.concat([header(7, 0x0100, 1), Buffer.from([1, 0x61, 0xc0, 12, 0, 1, 0, 1])])],
    ['QDCOUNT=2', Buffer.concat([header(7, 0x0100, 2), encodeQuestion('a.example', 1), encodeQuestion('b.example', 1)])],
    ['QDCOUNT=0', header(7, 0x0100, 0)],
    ['answer records in a query', Buffer.concat([header(7, 0x0100, 1, 1), encodeQuestion('a.example', 1)])],
    ['two additional records', Buffer.concat([header(7, 0x0100, 1, 0, 0, 2), encodeQuestion('a.example', 1)])],
    ['truncated OPT', Buffer.concat([header(7, 0x0100, 1, 0, 0, 1), encodeQuestion('a.example', 1), Buffer.from([0, 0, 41])])],
    ['name longer than 255 bytes', Buffer.concat([header(7, 0x0100, 1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])), Buffer.from([0, 0, 1, 0, 1])])],
  ]
  for (const [what, pkt] of cases) {
    const q = parseQuery(pkt)
    t.ok(q && !q.ok && q.rcode === Rcode.FORMERR, what)
  }
})

t.test('parseQuery: opcode other than QUERY → NOTIMP', async (t) => {
  const pkt = query('example.com')
  pkt[2] = (pkt[2]! & 0x87) | (4 << 3) // NOTIFY
  const q = parseQuery(pkt)
  t.ok(q && !q.ok && q.rcode === Rcode.NOTIMP)
  t.ok(q && !q.ok && q.questionEnd > 12, 'the question is still echoed')
})

t.test('parseQuery escapes bytes that cannot be in a host name', async (t) => {
  // One label "a.b" (a dot inside a label) must not read as two labels.
  const pkt = Buffer.concat([header(1, 0x0100, 1), Buffer.from([3, 0x61, 0x2e, 0x62, 7]), Buffer.from('example'), Buffer.from([3]), Buffer.from('com'), Buffer.from([0, 0, 1, 0, 1])])
  const q = parseQuery(pkt)
  t.ok(q && q.ok)
  if (q && q.ok) t.equal(q.qname, 'a\\046b.example.com')
  const bin = Buffer.concat([header(1, 0x0100, 1), Buffer.from([2, 0x00, 0xff, 0]), Buffer.from([0, 1, 0, 1])])
  const b = parseQuery(bin)
  t.ok(b && b.ok && b.qname === '\\000\\255')
  const root = parseQuery(Buffer.concat([header(1, 0x0100, 1), Buffer.from([0, 0, 2, 0, 1])]))
  t.ok(root && root.ok && root.qname === '')
})

t.test('buildResponse copies id and question (0x20 case kept), sets QR/RA/RCODE', async (t) => {
  const qb = query('ExAmPlE.CoM', 'A')
  const p = parseQuery(qb)
  if (!p || !p.ok) throw new Error('parse')
  for (const rcode of [Rcode.FORMERR, Rcode.SERVFAIL, Rcode.NXDOMAIN, Rcode.NOTIMP, Rcode.REFUSED]) {
    const r = buildResponse(qb, p.questionEnd, rcode, false)
    const d = dnsPacket.decode(r)
    t.equal(d.id, 0x1234)
    t.ok(d.flag_qr && d.flag_ra && d.flag_rd)
    t.equal(r[3]! & 0xf, rcode)
    t.equal(d.questions?.[0]?.name, 'ExAmPlE.CoM')
    t.equal(d.answers?.length, 0)
  }
  const withOpt = dnsPacket.decode(buildResponse(qb, p.questionEnd, Rcode.NXDOMAIN, true))
  t.equal(withOpt.additionals?.[0]?.type, 'OPT')
  const headerOnly = buildResponse(qb, 12, Rcode.FORMERR, false)
  t.equal(headerOnly.length, 12)
  t.equal(headerOnly.readUInt16BE(4), 0, 'QDCOUNT 0 when the question is not echoed')
  const badvers = buildResponse(qb, p.questionEnd, Rcode.BADVERS, true)
  t.equal(badvers[3]! & 0xf, 0)
  const opt = dnsPacket.decode(badvers).additionals?.[0] as dnsPacket.OptAnswer
  t.equal(opt.extendedRcode, 1, 'BADVERS upper bits in the OPT record')
})

t.test('synthesized records: address bytes, RFC 8482 HINFO', async (t) => {
  t.same([...addressBytes('10.254.1.1')], [10, 254, 1, 1])
  t.same(addressBytes('fd00::1').toString('hex'), 'fd000000000000000000000000000001')
  t.same(addressBytes('::ffff:1.2.3.4').toString('hex'), '00000000000000000000ffff01020304')
  t.throws(() => addressBytes('example.com'))
  const qb = query('example.com', 'ANY' as dnsPacket.RecordType)
  const p = parseQuery(qb)
  if (!p || !p.ok) throw new Error('parse')
  const d = dnsPacket.decode(buildResponse(qb, p.questionEnd, 0, false, rfc8482Record(3600), 1))
  const hinfo = d.answers?.[0] as dnsPacket.HInfoAnswer
  t.equal(hinfo.type, 'HINFO')
  t.equal(hinfo.name, 'example.com')
  t.equal(hinfo.data.cpu, 'RFC8482')
})

t.test('truncateResponse keeps header + question, sets TC', async (t) => {
  const resp = dnsPacket.encode({
    id: 9, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions: [{ name: 'big.example', type: 'TXT' }],
    answers: Array.from({ length: 10 }, () => ({ name: 'big.example', type: 'TXT' as const, ttl: 60, data: 'x'.repeat(200) })),
  })
  const tr = truncateResponse(resp, true)
  const d = dnsPacket.decode(tr)
  t.ok(d.flag_tc)
  t.equal(d.id, 9)
  t.equal(d.answers?.length, 0)
  t.equal(d.questions?.[0]?.name, 'big.example')
  t.equal(d.additionals?.[0]?.type, 'OPT')
  t.ok(tr.length < 512)
})

t.test('scanRecords finds TTL offsets, min answer TTL and the RFC 2308 negative TTL', async (t) => {
  const resp = dnsPacket.encode({
    id: 1, type: 'response', questions: [{ name: 'x.example', type: 'A' }],
    answers: [
      { name: 'x.example', type: 'CNAME', ttl: 300, data: 'y.example' },
      { name: 'y.example', type: 'A', ttl: 42, data: '93.184.216.34' },
    ],
    additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  })
  const s = scanRecords(resp)
  t.ok(s)
  t.equal(s!.minAnswerTtl, 42)
  t.equal(s!.ttlOffsets.length, 2, 'OPT has no TTL to patch')
  t.same(s!.ttlOffsets.map((o) => resp.readUInt32BE(o)), [300, 42])
  t.ok(s!.hasOpt)
  const neg = dnsPacket.encode({
    id: 1, type: 'response', flags: 3, questions: [{ name: 'nx.example', type: 'A' }],
    authorities: [{ name: 'example', type: 'SOA', ttl: 900, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 120 } }],
  })
  t.equal(scanRecords(neg)!.negativeTtl, 120, 'min(SOA TTL, MINIMUM)')
  t.equal(scanRecords(Buffer.from([1, 2, 3])), null)
  const lying = Buffer.from(resp)
  lying.writeUInt16BE(9, 6) // ANCOUNT larger than the records present
  t.equal(scanRecords(lying), null)
})

t.test('cache entries: TTLs patched on render, id and question from the query', async (t) => {
  let now = 0
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 100, clock: () => now })
  const resp = dnsPacket.encode({
    id: 0, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED, questions: [{ name: 'x.example', type: 'A' }],
    answers: [{ name: 'x.example', type: 'A', ttl: 500, data: '93.184.216.34' }],
  })
  const e = cache.put('x.example', 1, 1, resp)!
  t.equal(e.expiresAt, 100_000, 'capped at 100 s')
  now = 30_500
  const qb = query('X.Example', 'A')
  const p = parseQuery(qb)
  if (!p || !p.ok) throw new Error('parse')
  const out = dnsPacket.decode(cache.render(e, qb, p.questionEnd, false))
  t.equal(out.id, 0x1234)
  t.equal(out.questions?.[0]?.name, 'X.Example')
  t.equal((out.answers?.[0] as dnsPacket.StringAnswer).ttl, 70)
})

t.test('sameQuestion: name case-insensitive, type and class exact', async (t) => {
  const a = buildQuery(1, encodeQuestion('Example.COM', 1))
  const b = buildQuery(2, encodeQuestion('example.com', 1))
  const c = buildQuery(3, encodeQuestion('example.com', 28))
  const d = buildQuery(4, encodeQuestion('exbmple.com', 1))
  const end = questionEndOf(a)
  t.ok(sameQuestion(a, end, b, questionEndOf(b)))
  t.notOk(sameQuestion(a, end, c, questionEndOf(c)))
  t.notOk(sameQuestion(a, end, d, questionEndOf(d)))
  // QTYPE 65 (0x41) must not be folded like the letter "A" (0x41).
  const h = buildQuery(5, encodeQuestion('x.example', 0x41))
  const h2 = buildQuery(6, encodeQuestion('x.example', 0x61))
  t.notOk(sameQuestion(h, questionEndOf(h), h2, questionEndOf(h2)))
})

t.test('hashQuestion / questionKey: the raw-bytes key of the hot path', async (t) => {
  const a = query('Api.Example.COM', 'A')
  const b = query('api.example.com', 'A')
  const ha = hashQuestion(a)
  const endA = quick.questionEnd
  t.ok(ha >= 0)
  t.equal(quick.edns, 0)
  t.equal(hashQuestion(b), ha, 'case-insensitive')
  t.not(hashQuestion(query('api.example.com', 'AAAA')), ha)
  const key = questionKey(a, endA)
  t.ok(sameQuestionKey(key, b, endA))
  t.notOk(sameQuestionKey(key, query('apj.example.com', 'A'), endA))
  t.notOk(sameQuestionKey(key, query('api.example.com', 'AAAA'), endA))
  t.ok(hashQuestion(query('api.example.com', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] })) >= 0)
  t.equal(quick.edns, 4096)
  // Anything unusual takes the full path.
  const resp = Buffer.from(b)
  resp[2] = resp[2]! | 0x80
  const dot = Buffer.concat([header(1, 0x0100, 1), Buffer.from([3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1])])
  const v1 = query('api.example.com', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] }] })
  for (const [what, pkt] of [['response', resp], ['dot in a label', dot], ['EDNS version 1', v1], ['pointer', Buffer.concat([header(1, 0x0100, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])], ['QDCOUNT 2', Buffer.concat([header(1, 0x0100, 2), encodeQuestion('a.b', 1), encodeQuestion('a.b', 1)])], ['short', Buffer.alloc(12)]] as const) {
    t.equal(hashQuestion(pkt), -1, what)
  }
})

t.test('encodeName / skipName / typeName', async (t) => {
  t.same([...encodeName('ab.c')], [2, 0x61, 0x62, 1, 0x63, 0])
  t.same([...encodeName('')], [0])
  t.throws(() => encodeName('a..b'))
  t.throws(() => encodeName('x'.repeat(64) + '.com'))
  t.throws(() => encodeName(Array.from({ length: 5 }, () => 'y'.repeat(60)).join('.')))
  t.equal(skipName(Buffer.from([0xc0, 0x0c]), 0), 2)
  t.equal(skipName(Buffer.from([3, 0x61]), 0), -1)
  t.equal(typeName(1), 'A')
  t.equal(typeName(65), 'HTTPS')
  t.equal(typeName(4242), 'TYPE4242')
  const q = buildQuery(77, encodeQuestion('example.com', 28), { cd: true })
  const d = dnsPacket.decode(q)
  t.equal(d.id, 77)
  t.ok(d.flag_rd && d.flag_cd)
  t.equal((d.additionals?.[0] as dnsPacket.OptAnswer).udpPayloadSize, 1232)
  t.equal(d.additionals?.[0]?.type, 'OPT')
})

// ---- The hand-written query encoder that dns-packet replaced, kept verbatim as the oracle: for
// printable-ASCII names the bytes must be identical, and so must the refusals; a name with a
// control character (which no host name has) is now refused.
const oracle = (() => {
  function encodeName(name: string): Buffer {
    const n = name.endsWith('.') ? name.slice(0, -1) : name
    if (n === '') return Buffer.from([0])
    const labels = n.split('.')
    const out = Buffer.allocUnsafe(n.length + 2)
    let p = 0
    for (const l of labels) {
      if (l.length === 0 || l.length > 63) throw new Error(`"${name}" has a label of ${l.length} bytes`)
      out[p++] = l.length
      out.write(l, p, 'latin1')
      p += l.length
    }
    out[p++] = 0
    if (p > 255) throw new Error(`"${name}" is longer than 255 bytes on the wire`)
    return out.subarray(0, p)
  }
  function encodeQuestion(name: string, qtype: number, qclass = 1): Buffer {
    const n = encodeName(name)
    const out = Buffer.allocUnsafe(n.length + 4)
    n.copy(out, 0)
    out.writeUInt16BE(qtype, n.length)
    out.writeUInt16BE(qclass, n.length + 2)
    return out
  }
  function buildQuery(id: number, question: Buffer, opts: { cd?: boolean; edns?: boolean } = {}): Buffer {
    const edns = opts.edns ?? true
    const out = Buffer.allocUnsafe(12 + question.length + (edns ? 11 : 0))
    out.writeUInt16BE(id, 0)
    out.writeUInt16BE(0x0100 | (opts.cd ? 0x0010 : 0), 2)
    out.writeUInt16BE(1, 4)
    out.writeUInt16BE(0, 6)
    out.writeUInt16BE(0, 8)
    out.writeUInt16BE(edns ? 1 : 0, 10)
    question.copy(out, 12)
    if (edns) {
      const off = 12 + question.length
      out[off] = 0
      out.writeUInt16BE(41, off + 1)
      out.writeUInt16BE(1232, off + 3)
      out[off + 5] = 0
      out[off + 6] = 0
      out.writeUInt16BE(0, off + 7)
      out.writeUInt16BE(0, off + 9)
    }
    return out
  }
  return { encodeName, encodeQuestion, buildQuery }
})()

function attempt(f: () => Buffer): string {
  try {
    return f().toString('hex')
  } catch (e) {
    return `error: ${(e as Error).message}`
  }
}

t.test('property: the dns-packet query encoder writes the same bytes and refusals as the hand-written one', async (t) => {
  // ASCII labels of 0–70 bytes (empty and over-long ones refused), any ASCII byte but the dot,
  // up to 9 labels (names past 255 bytes refused), an optional trailing dot.
  const asciiLabel = fc.oneof(
    { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/) },
    { weight: 2, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 127 }).filter((c) => c !== 46).map((c) => String.fromCharCode(c)), minLength: 0, maxLength: 70 }) },
    { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(63), 'x'.repeat(64)) },
  )
  const name = fc.tuple(fc.array(asciiLabel, { minLength: 0, maxLength: 9 }), fc.boolean()).map(([ls, dot]) => ls.join('.') + (dot ? '.' : ''))
  let encoded = 0
  let refused = 0
  const details = fc.check(
    fc.property(name, fc.nat(0xffff), fc.nat(0xffff), fc.boolean(), fc.boolean(), (n, qtype, id, cd, edns) => {
      const now = attempt(() => buildQuery(id, encodeQuestion(n, qtype), { cd, edns }))
      if (now.startsWith('error')) refused++
      else encoded++
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f\x7f]/.test(n)) return /^error: .* is not a printable-ASCII host name$/.test(now)
      const was = attempt(() => oracle.buildQuery(id, oracle.encodeQuestion(n, qtype), { cd, edns }))
      return now === was && attempt(() => encodeName(n)) === attempt(() => oracle.encodeName(n))
    }),
    { seed: 20261207, numRuns: 3000 },
  )
  t.notOk(details.failed, details.failed ? fc.defaultReportMessage(details) ?? 'failed' : 'no counterexample')
  t.ok(encoded > 1000 && refused > 100, `both outcomes exercised: ${encoded} encoded, ${refused} refused`)
})

t.test('a name outside printable ASCII is refused (host names are punycode by the time they are encoded)', async (t) => {
  t.throws(() => encodeName('bücher.example'), /not a printable-ASCII host name/, 'U-label refused')
  t.throws(() => encodeQuestion('caf\u00e9.example', 1), /not a printable-ASCII host name/, 'Latin-1 byte refused')
  t.throws(() => encodeName('a\n.b.example'), /not a printable-ASCII host name/, 'a line break refused')
  t.same([...encodeName('xn--bcher-kva.example')].length, 'xn--bcher-kva.example'.length + 2, 'the punycode A-label encodes')
})
