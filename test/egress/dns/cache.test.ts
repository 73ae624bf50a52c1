/**
 * The DNS response cache (egress/dns/cache.ts) with an injected clock: lifetimes from the answer
 * TTLs (RFC 2181 §5.2) and the SOA of negative answers (RFC 2308 §5), the TTL cap, what is never
 * stored, oldest-out eviction, keys by (name, type, class), and render(): the client's id, RD/CD
 * bits and letter case, TTLs counted down in whole seconds, an OPT record only when asked.
 */
import t from 'tap'
import * as dnsPacket from 'dns-packet'
import { DnsCache } from '../../../egress/dns/cache.js'
import { answersOf, rcodeOf } from '../../helpers/dns-server.js'

const SOA = (ttl: number, minimum: number): dnsPacket.Answer => ({
  name: 'example.com', type: 'SOA', ttl,
  data: { mname: 'ns.example.com', rname: 'hostmaster.example.com', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
})

interface Resp { name?: string; type?: dnsPacket.RecordType; rcode?: number; answers?: dnsPacket.Answer[]; authorities?: dnsPacket.Answer[]; opt?: boolean; id?: number }

/** A response as an upstream sends it. */
function response(o: Resp = {}): Buffer {
  const name = o.name ?? 'api.example.com'
  return dnsPacket.encode({
    id: o.id ?? 4242, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (o.rcode ?? 0),
    questions: [{ name, type: o.type ?? 'A' }],
    answers: o.answers ?? [],
    authorities: o.authorities ?? [],
    additionals: o.opt ? [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  })
}

const A = (ip: string, ttl: number, name = 'api.example.com'): dnsPacket.Answer => ({ name, type: 'A', ttl, data: ip })

/** A client query: `flags` as dnsPacket flags, letter case of `name` kept. */
function query(name: string, id: number, flags = dnsPacket.RECURSION_DESIRED, type: dnsPacket.RecordType = 'A'): { buf: Buffer; qEnd: number } {
  const buf = dnsPacket.encode({ id, type: 'query', flags, questions: [{ name, type }] })
  return { buf, qEnd: buf.length }
}

function clock() {
  const c = { now: 1000, fn: () => c.now }
  return c
}

/** The TTL of a decoded record (OPT records have none). */
const ttlOf = (a: dnsPacket.Answer | undefined) => (a as { ttl?: number } | undefined)?.ttl
const ttlsOf = (b: Buffer) => [...(dnsPacket.decode(b).answers ?? []), ...(dnsPacket.decode(b).authorities ?? [])].map(ttlOf)

t.test('a positive answer lives for its smallest answer TTL, capped at maxTtlS; TTLs above the lifetime are lowered', async (t) => {
  const c = clock()
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300, clock: c.fn })
  const e = cache.put('api.example.com', 1, 1, response({ answers: [A('192.0.2.1', 120), A('192.0.2.2', 30)] }))!
  t.equal(e.expiresAt - e.storedAt, 30_000, 'min(120, 30) s')
  t.same(ttlsOf(e.buf), [30, 30], 'the 120 s record is stored as 30 s')
  t.equal(e.buf.readUInt16BE(0), 0, 'stored with id 0')
  const capped = cache.put('big.example.com', 1, 1, response({ name: 'big.example.com', answers: [A('192.0.2.3', 86400, 'big.example.com')] }))!
  t.equal(capped.expiresAt - capped.storedAt, 300_000, 'capped at maxTtlS')
  t.same(ttlsOf(capped.buf), [300])
  c.now += 29_999
  t.ok(cache.get('api.example.com', 1), 'live 1 ms before expiry')
  c.now += 1
  t.equal(cache.get('api.example.com', 1), undefined, 'gone at expiry')
  t.equal(cache.size, 1, 'the expired entry was dropped when touched')
})

t.test('negative answers live min(SOA TTL, SOA MINIMUM); without an SOA, other rcodes, or TTL 0 they are not stored', async (t) => {
  const c = clock()
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 3600, clock: c.fn })
  const nx = cache.put('nx.example.com', 1, 1, response({ name: 'nx.example.com', rcode: 3, authorities: [SOA(900, 60)] }))!
  t.equal(nx.expiresAt - nx.storedAt, 60_000, 'NXDOMAIN: min(900, 60)')
  t.equal(nx.rcode, 3)
  const nodata = cache.put('nodata.example.com', 28, 1, response({ name: 'nodata.example.com', type: 'AAAA', authorities: [SOA(45, 600)] }))!
  t.equal(nodata.expiresAt - nodata.storedAt, 45_000, 'NODATA: min(45, 600)')
  t.ok(cache.get('nx.example.com', 1) && cache.get('nodata.example.com', 28), 'both served')

  const noSoa = cache.put('nosoa.example.com', 1, 1, response({ name: 'nosoa.example.com', rcode: 3 }))!
  t.equal(noSoa.expiresAt, noSoa.storedAt, 'NXDOMAIN without SOA: returned, not cacheable')
  t.equal(cache.get('nosoa.example.com', 1), undefined)
  const servfail = cache.put('sf.example.com', 1, 1, response({ name: 'sf.example.com', rcode: 2, answers: [A('192.0.2.9', 60, 'sf.example.com')] }))!
  t.equal(servfail.expiresAt, servfail.storedAt, 'SERVFAIL is never stored')
  const zero = cache.put('zero.example.com', 1, 1, response({ name: 'zero.example.com', answers: [A('192.0.2.9', 0, 'zero.example.com')] }))!
  t.equal(zero.expiresAt, zero.storedAt, 'TTL 0 is not stored')
  t.equal(cache.size, 2)
})

t.test('emptyTtlS: an empty NOERROR without SOA (addresses stripped) lives that long; it does not override an SOA', async (t) => {
  const c = clock()
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300, clock: c.fn })
  const stripped = cache.put('s.example.com', 1, 1, response({ name: 's.example.com' }), 20)!
  t.equal(stripped.expiresAt - stripped.storedAt, 20_000)
  t.equal(cache.put('s2.example.com', 1, 1, response({ name: 's2.example.com' }))!.expiresAt - c.now, 0, 'control: without emptyTtlS it is not stored')
  const withSoa = cache.put('s3.example.com', 1, 1, response({ name: 's3.example.com', authorities: [SOA(10, 10)] }), 200)!
  t.equal(withSoa.expiresAt - withSoa.storedAt, 10_000, 'the SOA wins over emptyTtlS')
  const capped = cache.put('s4.example.com', 1, 1, response({ name: 's4.example.com' }), 9999)!
  t.equal(capped.expiresAt - capped.storedAt, 300_000, 'emptyTtlS is capped too')
})

t.test('maxTtlS 0 disables storing; a malformed response is null and stores nothing', async (t) => {
  const off = new DnsCache({ maxEntries: 10, maxTtlS: 0 })
  const e = off.put('api.example.com', 1, 1, response({ answers: [A('192.0.2.1', 60)] }))!
  t.equal(e.expiresAt, e.storedAt)
  t.equal(off.size, 0)
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300 })
  const good = response({ answers: [A('192.0.2.1', 60)] })
  t.equal(cache.put('api.example.com', 1, 1, good.subarray(0, good.length - 3)), null, 'truncated record data')
  t.equal(cache.put('api.example.com', 1, 1, Buffer.from([0, 1, 2])), null, 'shorter than a header')
  const lying = Buffer.from(good)
  lying.writeUInt16BE(5, 6)
  t.equal(cache.put('api.example.com', 1, 1, lying), null, 'ANCOUNT larger than the records present')
  t.equal(cache.size, 0)
  t.ok(cache.put('api.example.com', 1, 1, good), 'control: the whole response is stored')
})

t.test('an OPT record is removed before storing; prepare() never modifies the response it is given', async (t) => {
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300 })
  const r = response({ answers: [A('192.0.2.1', 500)], opt: true })
  const copy = Buffer.from(r)
  const e = cache.put('api.example.com', 1, 1, r)!
  t.same(r, copy, 'input untouched')
  const d = dnsPacket.decode(e.buf)
  t.same(d.additionals, [], 'no OPT stored')
  t.equal(e.buf.readUInt16BE(10), 0, 'ARCOUNT lowered')
  t.same(answersOf(d, 'A'), ['192.0.2.1'])
  const p = cache.prepare(r)!
  t.equal(cache.size, 1, 'prepare() does not store')
  t.same(ttlsOf(p.buf), [300])
})

t.test('keys are (name, type, class): a type or class does not answer another; the same key is replaced, not duplicated', async (t) => {
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300 })
  cache.put('api.example.com', 1, 1, response({ answers: [A('192.0.2.1', 60)] }))
  t.ok(cache.get('api.example.com', 1, 1))
  t.equal(cache.get('api.example.com', 28, 1), undefined, 'AAAA is another key')
  t.equal(cache.get('api.example.com', 1, 3), undefined, 'class CH is another key')
  t.equal(cache.get('other.example.com', 1), undefined)
  cache.put('api.example.com', 1, 1, response({ answers: [A('192.0.2.7', 60)] }))
  t.equal(cache.size, 1, 'replaced')
  t.same(answersOf(dnsPacket.decode(cache.get('api.example.com', 1)!.buf), 'A'), ['192.0.2.7'])
  cache.put('api.example.com', 1, 3, response({ answers: [A('192.0.2.8', 60)] }))
  t.same(answersOf(dnsPacket.decode(cache.get('api.example.com', 1, 3)!.buf), 'A'), ['192.0.2.8'], 'a class CH entry next to the IN one')
  t.equal(cache.size, 2)
  cache.clear()
  t.equal(cache.size, 0)
  t.equal(cache.get('api.example.com', 1), undefined, 'clear() drops everything')
})

t.test('when full, the oldest stored entry goes (a replaced entry counts as new)', async (t) => {
  const cache = new DnsCache({ maxEntries: 3, maxTtlS: 300 })
  const put = (n: string) => cache.put(n, 1, 1, response({ name: n, answers: [A('192.0.2.1', 60, n)] }))
  put('a.test')
  put('b.test')
  put('c.test')
  put('a.test')
  put('d.test')
  t.equal(cache.size, 3)
  t.equal(cache.get('b.test', 1), undefined, 'b was the oldest after a was replaced')
  t.ok(cache.get('a.test', 1) && cache.get('c.test', 1) && cache.get('d.test', 1))
  const one = new DnsCache({ maxEntries: 0, maxTtlS: 300 })
  one.put('x.test', 1, 1, response({ name: 'x.test', answers: [A('192.0.2.1', 60, 'x.test')] }))
  one.put('y.test', 1, 1, response({ name: 'y.test', answers: [A('192.0.2.1', 60, 'y.test')] }))
  t.equal(one.size, 1, 'maxEntries below 1 still keeps one entry')
  t.ok(one.get('y.test', 1))
})

t.test('render(): the client id, RD and CD bits, AD cleared, its letter case, TTLs counted down, OPT only with edns', async (t) => {
  const c = clock()
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300, clock: c.fn })
  const upstream = response({ answers: [A('192.0.2.1', 60)] })
  upstream[3] = upstream[3]! | 0x20 // AD from upstream
  const e = cache.put('api.example.com', 1, 1, upstream)!
  c.now += 12_999
  const q = query('API.Example.COM', 777, dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED)
  const out = cache.render(e, q.buf, q.qEnd, false)
  const d = dnsPacket.decode(out)
  t.equal(d.id, 777)
  t.equal(d.questions?.[0]?.name, 'API.Example.COM', '0x20 case echoed')
  t.equal(ttlOf(d.answers?.[0]), 48, '60 − 12 whole seconds')
  t.ok(d.flag_rd && d.flag_cd, 'RD and CD follow the query')
  t.notOk(d.flag_ad, 'AD is not passed on')
  t.same(d.additionals, [])

  const q2 = query('api.example.com', 5, 0)
  const d2 = dnsPacket.decode(cache.render(e, q2.buf, q2.qEnd, true))
  t.notOk(d2.flag_rd, 'RD clear when the query had it clear')
  t.notOk(d2.flag_cd)
  t.equal(d2.additionals?.[0]?.type, 'OPT', 'edns adds an OPT record')
  t.equal(d2.additionals?.length, 1)
  t.same(answersOf(d2, 'A'), ['192.0.2.1'])
  t.equal(e.buf.readUInt16BE(0), 0, 'the stored entry is not modified by rendering')

  c.now += 200_000
  const d3 = dnsPacket.decode(cache.render(e, q2.buf, q2.qEnd, false))
  t.equal(ttlOf(d3.answers?.[0]), 0, 'a TTL never goes below 0')
})

t.test('render() of a negative entry counts down the SOA TTL too and keeps the rcode', async (t) => {
  const c = clock()
  const cache = new DnsCache({ maxEntries: 10, maxTtlS: 300, clock: c.fn })
  const e = cache.put('nx.example.com', 1, 1, response({ name: 'nx.example.com', rcode: 3, authorities: [SOA(900, 60)] }))!
  c.now += 5_000
  const q = query('nx.example.com', 9)
  const d = dnsPacket.decode(cache.render(e, q.buf, q.qEnd, false))
  t.equal(rcodeOf(d), 'NXDOMAIN')
  t.equal(ttlOf(d.authorities?.[0]), 55, 'SOA TTL lowered to the lifetime (60) then counted down')
})
