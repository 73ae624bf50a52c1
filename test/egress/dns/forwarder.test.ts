/**
 * egress/dns/forwarder.ts: decisions, steering, answer filtering (rebinding), cache, quarantine,
 * tunnelling, upstream failures. Queries go through DnsForwarder.handle; the upstream is a real
 * test DNS server on 127.0.0.1 (UDP and TCP).
 */
import t from 'tap'
import * as dnsPacket from 'dns-packet'
import { answersOf, dnsRig, makeQuery, rcodeOf, type DnsRig, type DnsRigOptions } from '../../helpers/dns-server.js'

const GLOBAL = '93.184.216.34'
const GLOBAL6 = '2606:2800:220:1:248:1893:25c8:1946'

const CAPS = {
  network: {
    egress: [
      { host: 'api.example.com' }, // https → steerable
      { host: '*.cdn.example.net' }, // wildcard, steerable
      { host: 'db.example.org', protocol: 'tcp', port: 5432 }, // exact tcp → steerable
      { host: '*.tcp.example.org', protocol: 'tcp', port: 0 }, // not steerable
      { cidr: '10.20.0.0/16', protocol: 'tcp', port: 5432 },
    ],
  },
}

const RECORDS: DnsRigOptions['records'] = {
  'api.example.com': [{ type: 'A', data: GLOBAL, ttl: 100 }, { type: 'AAAA', data: GLOBAL6, ttl: 100 }],
  'img.cdn.example.net': [{ type: 'CNAME', data: 'edge.cdn.example.net', ttl: 300 }],
  'edge.cdn.example.net': [{ type: 'A', data: GLOBAL, ttl: 50 }],
  'long.cdn.example.net': [{ type: 'A', data: GLOBAL, ttl: 86400 }],
  'db.example.org': [{ type: 'A', data: '198.51.100.7' }],
  'svc.tcp.example.org': [{ type: 'A', data: GLOBAL }],
  'r-loop.cdn.example.net': [{ type: 'A', data: '127.0.0.1' }],
  'r-private.cdn.example.net': [{ type: 'A', data: '10.0.0.5' }],
  'r-meta.cdn.example.net': [{ type: 'A', data: '169.254.169.254' }],
  'r-mapped.cdn.example.net': [{ type: 'AAAA', data: '::ffff:127.0.0.1' }],
  'r-nat64.cdn.example.net': [{ type: 'AAAA', data: '64:ff9b::a00:1' }],
  'r-mixed.cdn.example.net': [{ type: 'A', data: GLOBAL }, { type: 'A', data: '192.168.1.1' }],
  'r-cname.cdn.example.net': [{ type: 'CNAME', data: 'internal.corp.example' }],
  'internal.corp.example': [{ type: 'A', data: '10.1.2.3' }],
  'r-cidr.cdn.example.net': [{ type: 'A', data: '10.20.1.1' }],
  'txt.cdn.example.net': [{ type: 'TXT', data: 'hello' }, { type: 'HTTPS', data: Buffer.from([0, 1, 0]) }],
}

async function rig(t: { teardown(fn: () => unknown): void }, opts: Partial<DnsRigOptions> = {}): Promise<DnsRig> {
  const r = await dnsRig({ capabilities: CAPS, records: RECORDS, ...opts, sidecar: { dns_mode: 'passthrough', ...opts.sidecar } })
  t.teardown(() => r.close())
  return r
}

t.test('an allowed name is answered from upstream, with the client\'s letter case (0x20)', async (t) => {
  const r = await rig(t)
  const a = await r.ask('aPi.ExAmPlE.cOm', 'A')
  t.equal(rcodeOf(a), 'NOERROR')
  t.equal(a.questions?.[0]?.name, 'aPi.ExAmPlE.cOm')
  t.same(answersOf(a, 'A'), [GLOBAL])
  t.ok(a.flag_qr && a.flag_ra && a.flag_rd)
  const aaaa = await r.ask('api.example.com', 'AAAA')
  t.same(answersOf(aaaa, 'AAAA'), [GLOBAL6])
  const cname = await r.ask('img.cdn.example.net')
  t.same(answersOf(cname, 'CNAME'), ['edge.cdn.example.net'])
  t.same(answersOf(cname, 'A'), [GLOBAL])
  t.equal(r.of('dns_allowed').length, 3, 'allowed queries are observed (window 0 in this rig)')
  t.equal(r.of('dns_denied').length, 0)
})

t.test('a denied name gets NXDOMAIN and exactly one dns_denied signal; upstream never asked', async (t) => {
  const r = await rig(t)
  const a = await r.ask('evil.example', 'A')
  t.equal(rcodeOf(a), 'NXDOMAIN')
  t.equal(a.answers?.length, 0)
  t.equal(a.questions?.[0]?.name, 'evil.example')
  const denied = r.of('dns_denied')
  t.equal(denied.length, 1)
  t.equal(denied[0]!.destination?.host, 'evil.example')
  t.equal(denied[0]!.action, 'blocked')
  t.equal(denied[0]!.rule, 'default-deny')
  t.equal(r.upstream.queries.length, 0)
  // Suffix confusion.
  for (const name of ['evil-example.com', 'api.example.com.evil.net', 'cdn.example.net']) {
    t.equal(rcodeOf(await r.ask(name)), 'NXDOMAIN', name)
  }
  t.equal(r.upstream.queries.length, 0)
})

t.test('dns_denied_rcode: refused answers REFUSED', async (t) => {
  const r = await rig(t, { sidecar: { dns_mode: 'passthrough', dns_denied_rcode: 'refused' } })
  const a = await r.ask('evil.example')
  t.equal(rcodeOf(a), 'REFUSED')
  t.equal(r.of('dns_denied').length, 1)
})

t.test('use-application-dns.net → NXDOMAIN, even with dns_resolve_any', async (t) => {
  const r = await rig(t, { capabilities: { network: { dns_resolve_any: true } } })
  for (const name of ['use-application-dns.net', 'USE-application-dns.NET', 'x.use-application-dns.net']) {
    t.equal(rcodeOf(await r.ask(name)), 'NXDOMAIN', name)
  }
  t.equal(r.upstream.queries.length, 0)
  t.equal(r.of('dns_denied').length, 3)
})

t.test('DNS rebinding: always-denied answers are stripped and signalled', async (t) => {
  const r = await rig(t)
  const cases: Array<[string, string, string]> = [
    ['r-loop.cdn.example.net', 'A', '127.0.0.1'],
    ['r-private.cdn.example.net', 'A', '10.0.0.5'],
    ['r-meta.cdn.example.net', 'A', '169.254.169.254'],
    ['r-mapped.cdn.example.net', 'AAAA', '127.0.0.1'],
    ['r-nat64.cdn.example.net', 'AAAA', '64:ff9b::a00:1'],
  ]
  for (const [name, type, ip] of cases) {
    const a = await r.ask(name, type)
    t.equal(rcodeOf(a), 'NOERROR', `${name}: NOERROR`)
    t.equal(a.answers?.length, 0, `${name}: no answers left`)
    const s = r.of('dns_answer_stripped').find((x) => x.destination?.host === name)
    t.ok(s, `${name}: dns_answer_stripped`)
    t.same((s?.details as { stripped: Array<{ ip: string }> }).stripped.map((x) => x.ip), [ip])
  }
  const meta = r.of('dns_answer_stripped').find((x) => x.destination?.host === 'r-meta.cdn.example.net')
  t.match((meta?.details as { stripped: Array<{ cls: string }> }).stripped[0]!.cls, 'metadata')

  const mixed = await r.ask('r-mixed.cdn.example.net')
  t.same(answersOf(mixed, 'A'), [GLOBAL], 'the global address stays, the private one goes')
  const viaCname = await r.ask('r-cname.cdn.example.net')
  t.equal(viaCname.answers?.length, 0, 'a CNAME to a private address leaves nothing')
  // Served again from cache: still stripped, no second signal.
  const before = r.of('dns_answer_stripped').length
  t.equal((await r.ask('r-loop.cdn.example.net')).answers?.length, 0)
  t.equal(r.of('dns_answer_stripped').length, before)
})

t.test('a cidr rule keeps the addresses it names; loopback_allowed keeps loopback', async (t) => {
  const r = await rig(t)
  t.same(answersOf(await r.ask('r-cidr.cdn.example.net'), 'A'), ['10.20.1.1'])
  const lo = await rig(t, { capabilities: { network: { loopback_allowed: true, egress: CAPS.network.egress } } })
  t.same(answersOf(await lo.ask('r-loop.cdn.example.net'), 'A'), ['127.0.0.1'])
  t.equal((await lo.ask('r-private.cdn.example.net')).answers?.length, 0, 'private is still stripped')
})

t.test('steering: allowed steerable names answer the sidecar address, without upstream', async (t) => {
  const r = await rig(t, { sidecar: { dns_mode: 'steering', address: '10.254.1.1', limits: { dns_steering_ttl_s: 30 } } })
  const a = await r.ask('API.example.com', 'A')
  t.same(answersOf(a, 'A'), ['10.254.1.1'])
  t.equal((a.answers?.[0] as dnsPacket.StringAnswer).ttl, 30)
  t.equal(a.answers?.[0]?.name, 'API.example.com')
  const aaaa = await r.ask('api.example.com', 'AAAA')
  t.equal(rcodeOf(aaaa), 'NOERROR')
  t.equal(aaaa.answers?.length, 0, 'AAAA → NODATA for an IPv4 sidecar address')
  t.same(answersOf(await r.ask('x.cdn.example.net'), 'A'), ['10.254.1.1'], 'wildcard rule')
  t.same(answersOf(await r.ask('db.example.org'), 'A'), ['10.254.1.1'], 'exact tcp rule (a tcp forward)')
  t.equal((await r.ask('api.example.com', 'UNKNOWN_65')).answers?.length, 0, 'HTTPS → NODATA')
  t.equal(r.upstream.queries.length, 0)
  // A tcp rule with a glob and any port cannot be steered: real, filtered answer.
  t.same(answersOf(await r.ask('svc.tcp.example.org'), 'A'), [GLOBAL])
  t.equal(r.upstream.queries.length, 1)
  t.equal(rcodeOf(await r.ask('evil.example')), 'NXDOMAIN', 'denied names are still denied')

  const v6 = await rig(t, { sidecar: { dns_mode: 'steering', address: 'fd00:254::1' } })
  t.same(answersOf(await v6.ask('api.example.com', 'AAAA'), 'AAAA'), ['fd00:254::1'])
  t.equal((await v6.ask('api.example.com', 'A')).answers?.length, 0, 'A → NODATA for an IPv6 sidecar address')
})

t.test('passthrough: HTTPS/SVCB questions get NODATA; ANY gets the RFC 8482 answer', async (t) => {
  const r = await rig(t)
  const h = await r.ask('txt.cdn.example.net', 'UNKNOWN_65')
  t.equal(rcodeOf(h), 'NOERROR')
  t.equal(h.answers?.length, 0)
  t.equal(r.upstream.queries.length, 0, 'no upstream query for HTTPS')
  t.equal((await r.ask('txt.cdn.example.net', 'UNKNOWN_64')).answers?.length, 0, 'SVCB → NODATA')
  const any = await r.ask('api.example.com', 'ANY')
  t.equal(any.answers?.[0]?.type, 'HINFO')
  t.equal((any.answers?.[0] as dnsPacket.HInfoAnswer).data.cpu, 'RFC8482')
  t.equal(rcodeOf(await r.ask('evil.example', 'ANY')), 'NXDOMAIN', 'ANY for a denied name is denied')
  t.equal(r.of('dns_denied').length, 1, 'only the denied name is a violation: HTTPS, SVCB and ANY are answered here')
  // TXT is not forwarded without dns_types (test/egress/dns-types.test.ts covers the types).
  const txt = await r.ask('txt.cdn.example.net', 'TXT')
  t.equal(rcodeOf(txt), 'NOERROR')
  t.same(txt.answers, [])
  t.equal(r.upstream.queries.length, 0, 'no upstream query at all')
})

t.test('protocol rejections: AXFR → NOTIMP, class CH → REFUSED, opcode → NOTIMP', async (t) => {
  const r = await rig(t)
  t.equal(rcodeOf(await r.ask('api.example.com', 'AXFR')), 'NOTIMP')
  const ch = dnsPacket.encode({ id: 5, type: 'query', questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] })
  t.equal(rcodeOf(dnsPacket.decode((await r.forwarder.handle(ch, '127.0.0.1', 'udp'))!)), 'REFUSED')
  const notify = makeQuery('api.example.com')
  notify[2] = (notify[2]! & 0x87) | (4 << 3)
  const n = (await r.forwarder.handle(notify, '127.0.0.1', 'udp'))!
  t.equal(n[3]! & 0xf, 4)
  t.equal(r.upstream.queries.length, 0)
})

t.test('malformed queries get FORMERR (never a throw); shorter than 12 bytes gets nothing', async (t) => {
  const r = await rig(t)
  const hdr = (qd: number) => Buffer.from([0xab, 0xcd, 1, 0, 0, qd, 0, 0, 0, 0, 0, 0])
  const bad = [
    Buffer.concat([hdr(1), Buffer.from('garbage bytes here')]),
    Buffer.concat([hdr(1), Buffer.from([3, 0x61, 0x62, 0x63, 0])]),
    Buffer.concat([hdr(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
    Buffer.concat([hdr(2), makeQuery('a.example').subarray(12), makeQuery('b.example').subarray(12)]),
  ]
  for (const b of bad) {
    const reply = await r.forwarder.handle(b, '127.0.0.1', 'udp')
    t.ok(reply)
    t.equal(reply!.readUInt16BE(0), 0xabcd, 'id echoed')
    t.equal(reply![3]! & 0xf, 1, 'FORMERR')
    t.ok(reply![2]! & 0x80, 'QR set')
  }
  t.equal(await r.forwarder.handle(Buffer.from([1, 2, 3]), '127.0.0.1', 'udp'), null)
  const random = Buffer.alloc(300)
  for (let i = 0; i < 200; i++) {
    for (let j = 0; j < random.length; j++) random[j] = Math.floor(Math.random() * 256)
    random[2] = random[2]! & 0x7f
    await r.forwarder.handle(random.subarray(0, 12 + (i % 280)), '127.0.0.1', 'udp')
  }
  t.same(answersOf(await r.ask('api.example.com'), 'A'), [GLOBAL], 'still answering')
})

t.test('EDNS: an OPT in the query gets an OPT in the reply, none otherwise', async (t) => {
  const r = await rig(t)
  const withOpt = await r.ask('api.example.com', 'A', { edns: 4096 })
  t.equal(withOpt.additionals?.filter((a) => a.type === 'OPT').length, 1)
  const cached = await r.ask('api.example.com', 'A', { edns: 1232 })
  t.equal(cached.additionals?.filter((a) => a.type === 'OPT').length, 1, 'also on a cache hit')
  const without = await r.ask('api.example.com', 'A')
  t.equal(without.additionals?.length ?? 0, 0)
  const denied = await r.ask('evil.example', 'A', { edns: 1232 })
  t.equal(denied.additionals?.[0]?.type, 'OPT')
  t.equal(r.upstream.queries[0]!.edns, 1232, 'upstream queries advertise 1232')
})

t.test('cache: TTLs decrement, entries expire, the cap applies', async (t) => {
  const r = await rig(t)
  const hits = async () => {
    r.forwarder.flushMetrics()
    return (await r.metrics.egress.dnsCacheHits.get()).values.reduce((n, v) => n + v.value, 0)
  }
  const first = await r.ask('api.example.com')
  t.equal((first.answers?.[0] as dnsPacket.StringAnswer).ttl, 100)
  r.clock.now += 30_400
  const second = await r.ask('API.EXAMPLE.COM')
  t.equal((second.answers?.[0] as dnsPacket.StringAnswer).ttl, 70, 'decremented by whole seconds')
  t.equal(second.questions?.[0]?.name, 'API.EXAMPLE.COM', 'cached reply echoes the new case')
  t.equal(r.upstream.queriesFor('api.example.com').length, 1)
  t.equal(await hits(), 1)
  r.clock.now += 70_000
  const third = await r.ask('api.example.com')
  t.equal((third.answers?.[0] as dnsPacket.StringAnswer).ttl, 100, 'expired → fetched again')
  t.equal(r.upstream.queriesFor('api.example.com').length, 2)

  // A CNAME chain lives as long as its smallest TTL.
  const chain = await r.ask('img.cdn.example.net')
  t.same(chain.answers?.map((a) => (a as dnsPacket.StringAnswer).ttl), [50, 50], 'record TTLs capped at the entry life')

  // Cap: 86400 → 300 (default dns_cache_max_ttl_s).
  const long = await r.ask('long.cdn.example.net')
  t.equal((long.answers?.[0] as dnsPacket.StringAnswer).ttl, 300)
  r.clock.now += 299_000
  t.equal(((await r.ask('long.cdn.example.net')).answers?.[0] as dnsPacket.StringAnswer).ttl, 1)
  r.clock.now += 1_000
  await r.ask('long.cdn.example.net')
  t.equal(r.upstream.queriesFor('long.cdn.example.net').length, 2, 'gone after the capped TTL')
})

t.test('hot path (repeated cached questions): id, 0x20 case, EDNS, TTL and quarantine still right', async (t) => {
  const r = await rig(t)
  await r.ask('api.example.com') // miss
  await r.ask('api.example.com') // cache hit: remembered for the hot path
  r.clock.now += 400
  for (const [i, name] of ['API.example.com', 'api.EXAMPLE.com', 'Api.Example.Com'].entries()) {
    const a = await r.ask(name, 'A', { id: 4000 + i, ...(i === 1 && { edns: 1232 }) })
    t.equal(a.id, 4000 + i)
    t.equal(a.questions?.[0]?.name, name)
    t.same(answersOf(a, 'A'), [GLOBAL])
    t.equal((a.answers?.[0] as dnsPacket.StringAnswer).ttl, 100)
    t.equal(a.additionals?.filter((x) => x.type === 'OPT').length ?? 0, i === 1 ? 1 : 0)
  }
  t.equal((await r.ask('api.example.com', 'AAAA')).answers?.[0]?.type, 'AAAA', 'another type of the same name is another key')
  r.clock.now += 2_000
  t.equal(((await r.ask('api.example.com')).answers?.[0] as dnsPacket.StringAnswer).ttl, 98)
  t.equal(((await r.ask('api.example.com')).answers?.[0] as dnsPacket.StringAnswer).ttl, 98)
  t.equal(r.upstream.queriesFor('api.example.com').length, 2, 'one A and one AAAA query upstream')
  r.enforcement.quarantine('test', 'api')
  t.equal(rcodeOf(await r.ask('api.example.com')), 'NXDOMAIN', 'quarantine beats the hot path')
  r.enforcement.release('ok', 'api')
  r.clock.now += 98_000
  t.equal(((await r.ask('api.example.com')).answers?.[0] as dnsPacket.StringAnswer).ttl, 100, 'expired: fetched again')
  t.equal(r.upstream.queriesFor('api.example.com').length, 3)
})

t.test('cache: negative answers live min(SOA TTL, MINIMUM), capped', async (t) => {
  const r = await rig(t)
  r.upstream.soaMinimum = 60
  const nx = await r.ask('nothing.cdn.example.net')
  t.equal(rcodeOf(nx), 'NXDOMAIN')
  t.equal(nx.authorities?.[0]?.type, 'SOA')
  t.equal((nx.authorities?.[0] as dnsPacket.SoaAnswer).ttl, 60)
  r.clock.now += 59_000
  const again = await r.ask('nothing.cdn.example.net')
  t.equal(rcodeOf(again), 'NXDOMAIN')
  t.equal((again.authorities?.[0] as dnsPacket.SoaAnswer).ttl, 1)
  t.equal(r.upstream.queriesFor('nothing.cdn.example.net').length, 1)
  r.clock.now += 1_000
  await r.ask('nothing.cdn.example.net')
  t.equal(r.upstream.queriesFor('nothing.cdn.example.net').length, 2)
  // NODATA is negative too.
  await r.ask('edge.cdn.example.net', 'AAAA')
  await r.ask('edge.cdn.example.net', 'AAAA')
  t.equal(r.upstream.queriesFor('edge.cdn.example.net').length, 1)

  const capped = await rig(t, { sidecar: { dns_mode: 'passthrough', limits: { dns_cache_max_ttl_s: 10 } } })
  capped.upstream.soaMinimum = 3600
  capped.upstream.soaTtl = 3600
  const c = await capped.ask('nothing.cdn.example.net')
  t.equal((c.authorities?.[0] as dnsPacket.SoaAnswer).ttl, 10)
})

t.test('cache: bounded, oldest out', async (t) => {
  const r = await rig(t, { sidecar: { dns_mode: 'passthrough', limits: { dns_cache_entries: 3 } } })
  for (const n of ['a', 'b', 'c', 'd']) {
    r.upstream.set(`${n}.cdn.example.net`, [{ type: 'A', data: GLOBAL }])
    await r.ask(`${n}.cdn.example.net`)
  }
  t.equal(r.forwarder.cache.size, 3)
  await r.ask('a.cdn.example.net')
  t.equal(r.upstream.queriesFor('a.cdn.example.net').length, 2, 'the oldest entry was evicted')
  await r.ask('d.cdn.example.net')
  t.equal(r.upstream.queriesFor('d.cdn.example.net').length, 1)
})

t.test('cache with the wall clock: TTL counts down', async (t) => {
  const r = await rig(t, { realClock: true })
  r.upstream.set('tick.cdn.example.net', [{ type: 'A', data: GLOBAL, ttl: 3 }])
  t.equal(((await r.ask('tick.cdn.example.net')).answers?.[0] as dnsPacket.StringAnswer).ttl, 3)
  await new Promise((res) => setTimeout(res, 1100))
  t.equal(((await r.ask('tick.cdn.example.net')).answers?.[0] as dnsPacket.StringAnswer).ttl, 2)
  t.equal(r.upstream.queries.length, 1)
})

t.test('quarantine: every name is denied, cached answers included; release restores', async (t) => {
  const r = await rig(t)
  t.same(answersOf(await r.ask('api.example.com'), 'A'), [GLOBAL])
  r.enforcement.quarantine('test', 'api')
  for (const name of ['api.example.com', 'x.cdn.example.net', 'evil.example']) {
    const a = await r.ask(name)
    t.equal(rcodeOf(a), 'NXDOMAIN', name)
  }
  const q = r.of('dns_denied')
  t.equal(q.length, 3)
  t.ok(q.every((s) => s.action === 'quarantined' && (s.details as { code: string }).code === 'quarantined'))
  t.equal(r.upstream.queries.length, 1)
  r.enforcement.release('ok', 'api')
  t.same(answersOf(await r.ask('api.example.com'), 'A'), [GLOBAL])
  t.equal(r.upstream.queries.length, 1, 'served from cache again')
})

t.test('a quarantine switched on while the upstream answers wins over the answer', async (t) => {
  const r = await rig(t)
  r.upstream.delayMs = 150
  const pending = r.ask('api.example.com')
  await new Promise((res) => setTimeout(res, 30))
  r.enforcement.quarantine('test', 'api')
  t.equal(rcodeOf(await pending), 'NXDOMAIN')
  t.equal(r.of('dns_denied').filter((s) => s.action === 'quarantined').length, 1)
})

t.test('enforcement_mode quarantine: the first denied name quarantines the provider', async (t) => {
  const r = await rig(t, { capabilities: { enforcement_mode: 'quarantine', network: CAPS.network } })
  t.same(answersOf(await r.ask('api.example.com'), 'A'), [GLOBAL])
  t.equal(rcodeOf(await r.ask('evil.example')), 'NXDOMAIN')
  t.ok(r.enforcement.state.quarantined)
  t.equal(rcodeOf(await r.ask('api.example.com')), 'NXDOMAIN', 'allowed names are denied now')
})

t.test('alert mode: a denied name is forwarded and signalled as alerted', async (t) => {
  const r = await rig(t, { capabilities: { enforcement_mode: 'alert', network: CAPS.network } })
  r.upstream.set('other.example', [{ type: 'A', data: GLOBAL }])
  const a = await r.ask('other.example')
  t.same(answersOf(a, 'A'), [GLOBAL])
  const s = r.of('dns_denied')
  t.equal(s.length, 1)
  t.equal(s[0]!.action, 'alerted')
  t.equal(rcodeOf(await r.ask('use-application-dns.net')), 'NXDOMAIN', 'the DoH canary is a hard denial')
})

t.test('DNS tunnelling under an allowed wildcard is denied; normal subdomains pass', async (t) => {
  const r = await rig(t)
  const tunnels = [
    // iodine: base32 payload labels
    'paaaaxjqgyzdmnbvgq3tqojqgezdgnbvgy3tqojqgezdgnbvgy.zza2b3.cdn.example.net',
    // dnscat2: long hex label(s)
    '0c3a01b2f0000000000a7b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f.cdn.example.net',
    'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6.e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2.c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8.cdn.example.net',
    // many labels
    'a.b.c.d.e.f.g.h.cdn.example.net',
  ]
  for (const name of tunnels) {
    const a = await r.ask(name, 'TXT')
    t.equal(rcodeOf(a), 'NXDOMAIN', name)
  }
  const sus = r.of('dns_tunnel_suspected')
  t.equal(sus.length, tunnels.length)
  t.ok(sus.every((s) => (s.details as { code: string }).code === 'dns_tunnel_suspected'))
  t.equal(r.upstream.queries.length, 0, 'nothing reached upstream')
  for (const name of ['img.cdn.example.net', 'edge.cdn.example.net', 'eu-west-1.cdn.example.net', 'static-assets.cdn.example.net', 'v2.api.cdn.example.net']) {
    r.upstream.set(name, [{ type: 'A', data: GLOBAL }])
    t.same(answersOf(await r.ask(name), 'A'), [GLOBAL], name)
  }
  t.equal(r.of('dns_tunnel_suspected').length, tunnels.length)
})

t.test('upstream: TC over UDP → the same question over TCP', async (t) => {
  const r = await rig(t)
  r.upstream.truncateUdp = true
  const a = await r.ask('api.example.com')
  t.same(answersOf(a, 'A'), [GLOBAL])
  t.same(r.upstream.queries.map((q) => q.transport), ['udp', 'tcp'])
})

t.test('upstream: a timeout answers SERVFAIL', async (t) => {
  const r = await rig(t, { sidecar: { dns_mode: 'passthrough', limits: { dns_timeout_ms: 150 } } })
  r.upstream.silent = true
  const started = Date.now()
  const a = await r.ask('api.example.com')
  t.equal(rcodeOf(a), 'SERVFAIL')
  t.ok(Date.now() - started >= 140)
  r.upstream.silent = false
  t.same(answersOf(await r.ask('api.example.com'), 'A'), [GLOBAL], 'SERVFAIL is not cached')
})

t.test('upstream: SERVFAIL from every server → SERVFAIL', async (t) => {
  const r = await rig(t)
  r.upstream.rcodes.set('api.example.com', 'SERVFAIL')
  t.equal(rcodeOf(await r.ask('api.example.com')), 'SERVFAIL')
})

t.test('upstream: a reply with a wrong id or a wrong question is ignored', async (t) => {
  const r = await rig(t)
  r.upstream.spoof = 'wrong-id'
  t.same(answersOf(await r.ask('api.example.com'), 'A'), [GLOBAL], 'the forged 6.6.6.6 was ignored')
  r.upstream.spoof = 'wrong-question'
  t.same(answersOf(await r.ask('api.example.com', 'AAAA'), 'AAAA'), [GLOBAL6])
})

t.test('concurrent misses for one name share one upstream query', async (t) => {
  const r = await rig(t)
  r.upstream.delayMs = 50
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => r.ask('api.example.com', 'A', { id: i })))
  t.ok(replies.every((a, i) => a.id === i && answersOf(a, 'A')[0] === GLOBAL))
  t.equal(r.upstream.queries.length, 1)
})

t.test('dns_queries_total counts decisions and rejections', async (t) => {
  const r = await rig(t)
  await r.ask('api.example.com')
  await r.ask('evil.example')
  await r.forwarder.handle(Buffer.from([0, 1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0]), '127.0.0.1', 'udp')
  for (let i = 0; i < 5; i++) await r.ask('api.example.com')
  r.forwarder.flushMetrics()
  const v = (await r.metrics.egress.dnsQueries.get()).values
  const by = (d: string) => v.find((x) => x.labels.decision === d)?.value ?? 0
  t.equal(by('allowed'), 6, 'every allowed query counted (batched ones included)')
  t.equal(by('blocked'), 1)
  t.equal(by('formerr'), 1)
  const hits = (await r.metrics.egress.dnsCacheHits.get()).values.reduce((n, x) => n + x.value, 0)
  t.equal(hits, 5)
  t.equal(r.of('dns_allowed').length, 1, 'one observation per name and type')
})
