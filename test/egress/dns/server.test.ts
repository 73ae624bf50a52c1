/**
 * egress/dns/server.ts: the UDP + TCP listener in front of the forwarder, over real sockets on
 * 127.0.0.1. Malformed input, truncation, TCP framing/pipelining, limits, 1000 queries in flight.
 */
import t from 'tap'
import { connect } from 'node:net'
import * as dnsPacket from 'dns-packet'
import { silentLogger } from '../../../core/log.js'
import { DnsServer } from '../../../egress/dns/server.js'
import { answersOf, dnsRig, makeQuery, rcodeOf, tcpExchange, udpExchange, udpQuery, type DnsRig, type DnsRigOptions } from '../../helpers/dns-server.js'

const GLOBAL = '93.184.216.34'

// TXT is forwarded for the wildcard (the truncation test needs big answers); the subdomain budget
// is raised for the 1000-distinct-names test (test/egress/dns-tunnel.test.ts covers the budget).
const CAPS = { network: { subdomain_budget: { max_names: 5000 }, egress: [{ host: 'api.example.com' }, { host: '*.cdn.example.net', dns_types: ['TXT'] }] } }

async function serve(t: { teardown(fn: () => unknown): void }, opts: Partial<DnsRigOptions> = {}, serverOpts: { maxTcpConnections?: number; tcpIdleTimeoutMs?: number } = {}): Promise<{ rig: DnsRig; server: DnsServer; port: number }> {
  const rig = await dnsRig({
    capabilities: CAPS,
    records: { 'api.example.com': [{ type: 'A', data: GLOBAL }] },
    realClock: true,
    ...opts,
    sidecar: { dns_mode: 'passthrough', ...opts.sidecar },
  })
  const server = new DnsServer(rig.forwarder, { log: silentLogger(), ...serverOpts })
  const port = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    await rig.close()
  })
  return { rig, server, port }
}

const hdr = (id: number, qd: number) => Buffer.from([id >> 8, id & 0xff, 1, 0, 0, qd, 0, 0, 0, 0, 0, 0])
const MALFORMED: Array<[string, Buffer]> = [
  ['garbage bytes', Buffer.concat([hdr(0x1001, 1), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x99])])],
  ['truncated question', Buffer.concat([hdr(0x1002, 1), Buffer.from([7, 0x65, 0x78, 0x61])])],
  ['label pointer loop', Buffer.concat([hdr(0x1003, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])])],
  ['QDCOUNT=2', Buffer.concat([hdr(0x1004, 2), makeQuery('a.example').subarray(12), makeQuery('b.example').subarray(12)])],
]

t.test('UDP and TCP on the same port: allowed answered, denied NXDOMAIN', async (t) => {
  const { rig, port, server } = await serve(t)
  t.equal(server.port, port)
  t.ok(port > 0)
  const a = dnsPacket.decode(await udpQuery(port, makeQuery('api.example.com', 'A', { id: 1 })))
  t.same(answersOf(a, 'A'), [GLOBAL])
  const d = dnsPacket.decode(await udpQuery(port, makeQuery('evil.example', 'A', { id: 2 })))
  t.equal(rcodeOf(d), 'NXDOMAIN')
  const [ta, td] = await tcpExchange(port, [makeQuery('api.example.com', 'A', { id: 3 }), makeQuery('evil.example', 'A', { id: 4 })])
  const replies = [ta!, td!].map((b) => dnsPacket.decode(b))
  const byId = new Map(replies.map((r) => [r.id, r]))
  t.same(answersOf(byId.get(3)!, 'A'), [GLOBAL])
  t.equal(rcodeOf(byId.get(4)!), 'NXDOMAIN')
  t.equal(rig.of('dns_denied').length, 2)
  const denied = rig.of('dns_denied')[0]!
  t.equal((denied.details as { client: string }).client, '127.0.0.1')
})

t.test('malformed UDP queries get FORMERR and the server keeps answering', async (t) => {
  const { port } = await serve(t)
  for (const [what, pkt] of MALFORMED) {
    const r = await udpQuery(port, pkt)
    t.equal(r.readUInt16BE(0), pkt.readUInt16BE(0), `${what}: id`)
    t.equal(r[3]! & 0xf, 1, `${what}: FORMERR`)
  }
  // Too short for a reply: nothing comes back, nothing breaks.
  const none = await udpExchange(port, [Buffer.from([0x20, 0x01, 0])], 200)
  t.equal(none.size, 0)
  const random = Array.from({ length: 300 }, (_, i) => {
    const b = Buffer.alloc(12 + (i % 100))
    for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j * 17) & 0xff
    return b
  })
  await udpExchange(port, random, 300)
  const ok = dnsPacket.decode(await udpQuery(port, makeQuery('api.example.com', 'A', { id: 77 })))
  t.same(answersOf(ok, 'A'), [GLOBAL], 'still answering')
})

t.test('malformed TCP frames get FORMERR on the same connection, which keeps working', async (t) => {
  const { port } = await serve(t)
  const frames = [...MALFORMED.map(([, b]) => b), makeQuery('api.example.com', 'A', { id: 0x2000 })]
  const replies = await tcpExchange(port, frames)
  const byId = new Map(replies.map((r) => [r.readUInt16BE(0), r]))
  for (const [what, pkt] of MALFORMED) t.equal(byId.get(pkt.readUInt16BE(0))![3]! & 0xf, 1, `${what}: FORMERR`)
  t.same(answersOf(dnsPacket.decode(byId.get(0x2000)!), 'A'), [GLOBAL])
  // A zero-length frame and a short frame get no reply but do not break the stream.
  const more = await tcpExchange(port, [Buffer.alloc(0), Buffer.from([1, 2, 3]), makeQuery('api.example.com', 'A', { id: 0x3000 })], { expect: 1 })
  t.equal(more[0]!.readUInt16BE(0), 0x3000)
})

t.test('TCP: several pipelined queries, split across writes, answered on one connection', async (t) => {
  const { rig, port } = await serve(t)
  rig.upstream.delayMs = 30
  for (let i = 0; i < 20; i++) rig.upstream.set(`n${i}.cdn.example.net`, [{ type: 'A', data: `93.184.216.${i}` }])
  const queries = Array.from({ length: 20 }, (_, i) => makeQuery(`n${i}.cdn.example.net`, 'A', { id: 100 + i }))
  const replies = await tcpExchange(port, queries)
  t.equal(replies.length, 20)
  for (const r of replies) {
    const d = dnsPacket.decode(r)
    t.same(answersOf(d, 'A'), [`93.184.216.${d.id! - 100}`])
  }
  // One query byte by byte.
  const q = makeQuery('api.example.com', 'A', { id: 999 })
  const frame = Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    s.on('error', reject)
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        s.destroy()
        resolve(buf.subarray(2))
      }
    })
    let i = 0
    const tick = () => {
      if (i < frame.length) {
        s.write(frame.subarray(i, i + 1))
        i++
        setTimeout(tick, 1)
      }
    }
    tick()
  })
  t.equal(dnsPacket.decode(reply).id, 999)
})

t.test('UDP replies over 512 bytes (or the EDNS size) are truncated with TC; TCP gets them whole', async (t) => {
  const { rig, port } = await serve(t)
  rig.upstream.set('big.cdn.example.net', Array.from({ length: 12 }, (_, i) => ({ type: 'TXT' as const, data: `${i}-${'x'.repeat(100)}` })))
  const plain = dnsPacket.decode(await udpQuery(port, makeQuery('big.cdn.example.net', 'TXT', { id: 1 })))
  t.ok(plain.flag_tc, 'TC set')
  t.equal(plain.answers?.length, 0)
  t.equal(plain.questions?.[0]?.name, 'big.cdn.example.net')
  const smallEdns = await udpQuery(port, makeQuery('big.cdn.example.net', 'TXT', { id: 2, edns: 1000 }))
  t.ok(dnsPacket.decode(smallEdns).flag_tc, 'larger than the client\'s 1000 bytes')
  t.equal(dnsPacket.decode(smallEdns).additionals?.[0]?.type, 'OPT')
  const bigEdns = dnsPacket.decode(await udpQuery(port, makeQuery('big.cdn.example.net', 'TXT', { id: 3, edns: 4096 })))
  t.notOk(bigEdns.flag_tc)
  t.equal(bigEdns.answers?.length, 12)
  const [tcp] = await tcpExchange(port, [makeQuery('big.cdn.example.net', 'TXT', { id: 4 })])
  const d = dnsPacket.decode(tcp!)
  t.notOk(d.flag_tc)
  t.equal(d.answers?.length, 12)
})

t.test('1000 UDP queries in flight, distinct names, all answered correctly', async (t) => {
  const { rig, port } = await serve(t)
  rig.upstream.delayMs = 20
  const N = 1000
  for (let i = 0; i < N; i++) rig.upstream.set(`h${i}.cdn.example.net`, [{ type: 'A', data: `93.184.${i >> 8}.${i & 0xff}` }])
  const queries = Array.from({ length: N }, (_, i) => makeQuery(`h${i}.cdn.example.net`, 'A', { id: i }))
  const replies = await udpExchange(port, queries, 15_000)
  t.equal(replies.size, N)
  let good = 0
  for (const [id, r] of replies) {
    const d = dnsPacket.decode(r)
    if (answersOf(d, 'A')[0] === `93.184.${id >> 8}.${id & 0xff}` && d.questions?.[0]?.name === `h${id}.cdn.example.net`) good++
  }
  t.equal(good, N)
  // The same 1000 again: from the cache, upstream untouched.
  const before = rig.upstream.queries.length
  const again = await udpExchange(port, queries, 15_000)
  t.equal(again.size, N)
  t.equal(rig.upstream.queries.length, before)
})

t.test('TCP: idle connections are closed; connections beyond the cap are refused', async (t) => {
  const { port, server } = await serve(t, {}, { tcpIdleTimeoutMs: 150, maxTcpConnections: 2 })
  const open = () => new Promise<import('node:net').Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.on('error', reject)
  })
  const closedWithin = (s: import('node:net').Socket, ms: number) => new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    s.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  const a = await open()
  const b = await open()
  const aClosed = closedWithin(a, 3000)
  const bClosed = closedWithin(b, 3000)
  const c = await open()
  t.ok(await closedWithin(c, 1000), 'the third connection is closed at once')
  t.ok(await aClosed, 'idle connection closed')
  t.ok(await bClosed)
  for (let i = 0; i < 100 && server.tcpConnections > 0; i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(server.tcpConnections, 0, 'the server side let go of them too')
})

t.test('close() frees the port', async (t) => {
  const rig = await dnsRig({ capabilities: CAPS })
  t.teardown(() => rig.close())
  const server = new DnsServer(rig.forwarder, { log: silentLogger() })
  const port = await server.listen()
  await server.close()
  const again = new DnsServer(rig.forwarder, { log: silentLogger() })
  t.equal(await again.listen('127.0.0.1', port), port)
  await again.close()
  await t.rejects(new DnsServer(rig.forwarder, { log: silentLogger() }).listen('localhost', 0), { code: 'HANGAR_LISTEN_FAILED' })
})
