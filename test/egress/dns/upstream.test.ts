/**
 * The upstream DNS client (egress/dns/upstream.ts): resolv.conf parsing, `upstream_dns` specs,
 * random query ids, and DnsUpstream against real DNS servers on 127.0.0.1 (the test server of
 * test/helpers/dns-server.ts, and raw UDP sockets where a test needs to see or forge bytes):
 * replies are accepted only when id, QR and question match, TC falls back to TCP, failing and
 * silent servers pass the question to the next one, the error code says timeout vs failure,
 * close() ends open exchanges, and maxInflight bounds concurrent exchanges.
 */
import t from 'tap'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as dnsPacket from 'dns-packet'
import { ERROR_CODES, HangarError } from '../../../core/errors.js'
import { DnsUpstream, parseResolvConf, randomId, upstreamServers } from '../../../egress/dns/upstream.js'
import { answersOf, rcodeOf, TestDnsServer } from '../../helpers/dns-server.js'
import { thrown } from '../../helpers/thrown.js'
import { rejection } from '../../helpers/thrown.js'

type Tap = { teardown(fn: () => unknown): void }

/** The question section (wire name + QTYPE + QCLASS) of a query for `name`, letter case kept. */
function question(name: string, type: dnsPacket.RecordType = 'A'): Buffer {
  const q = dnsPacket.encode({ id: 0, type: 'query', questions: [{ name, type }] })
  return q.subarray(12)
}

async function testServer(t: Tap, records: ConstructorParameters<typeof TestDnsServer>[0] = {}): Promise<TestDnsServer> {
  const s = new TestDnsServer(records)
  await s.listen()
  t.teardown(() => s.close())
  return s
}

/** A raw UDP server on 127.0.0.1 whose replies the test writes: `reply(msg)` returns the datagrams to send back. */
async function rawUdp(t: Tap, reply: (msg: Buffer) => Buffer[]): Promise<{ port: number; received: Buffer[] }> {
  const sock: UdpSocket = createSocket('udp4')
  const received: Buffer[] = []
  sock.on('message', (msg, rinfo) => {
    received.push(msg)
    for (const b of reply(msg)) sock.send(b, rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  return { port: sock.address().port, received }
}


const client = (t: Tap, servers: Array<{ host: string; port: number }>, timeoutMs = 1000, maxInflight?: number) => {
  const u = new DnsUpstream({ servers, timeoutMs, ...(maxInflight !== undefined && { maxInflight }) })
  t.teardown(() => u.close())
  return u
}

const RECORDS = { records: { 'api.example.com': [{ type: 'A' as const, data: '192.0.2.10' }] } }

t.test('parseResolvConf: nameserver lines in order, comments and options ignored, non-IP skipped, zone kept', async (t) => {
  const text = [
    '# generated',
    'search corp.example',
    'nameserver 10.0.0.2',
    '  nameserver   2001:db8::53 ; trailing comment',
    'nameserver resolver.corp.example',
    '#nameserver 10.9.9.9',
    ';nameserver 10.8.8.8',
    'nameserver fe80::1%eth0',
    'options ndots:5',
    'nameserver 10.0.0.3 # second',
  ].join('\n')
  t.same(parseResolvConf(text), [
    { host: '10.0.0.2', port: 53 },
    { host: '2001:db8::53', port: 53 },
    { host: 'fe80::1%eth0', port: 53 },
    { host: '10.0.0.3', port: 53 },
  ])
  t.same(parseResolvConf(''), [{ host: '127.0.0.1', port: 53 }], 'no nameserver line: the local server, as the C library does')
  t.same(parseResolvConf('nameserver dns.example\n# nameserver 1.1.1.1'), [{ host: '127.0.0.1', port: 53 }], 'only names and comments: the local server')
})

t.test('upstreamServers: system reads the given resolv.conf; IP:port and [v6]:port; a missing file means the local server', async (t) => {
  const dir = t.testdir({ 'resolv.conf': 'nameserver 10.1.1.1\nnameserver ::1\n' })
  const conf = join(dir, 'resolv.conf')
  t.same(upstreamServers(['127.0.0.53:5353', 'system', '[::1]:53', '[fe80::1%lo]:5300'], conf), [
    { host: '127.0.0.53', port: 5353 },
    { host: '10.1.1.1', port: 53 },
    { host: '::1', port: 53 },
    { host: '::1', port: 53 },
    { host: 'fe80::1%lo', port: 5300 },
  ])
  t.same(upstreamServers(['system'], join(dir, 'absent.conf')), [{ host: '127.0.0.1', port: 53 }])
  writeFileSync(conf, 'nameserver 10.2.2.2\n')
  t.same(upstreamServers(['system'], conf), [{ host: '10.2.2.2', port: 53 }], 'the file is read at each call')
  t.same(upstreamServers([], conf), [])
})

t.test('upstreamServers: a host name, a missing or out-of-range port, or an unbracketed v6 is a config error naming the spec', async (t) => {
  const bad = ['dns.example:53', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:123456', '::1:53', '[dns.example]:53', '10.0.0.256:53', ':53', 'system:53', '']
  for (const spec of bad) {
    const e = thrown(() => upstreamServers([spec]))
    t.ok(e instanceof HangarError, `${JSON.stringify(spec)} throws a HangarError`)
    t.match(e, { code: ERROR_CODES.CONFIG_INVALID, message: `upstream_dns "${spec}"` }, `${JSON.stringify(spec)}: the message names the spec`)
  }
  t.same(upstreamServers(['10.0.0.1:1', '10.0.0.1:65535']), [{ host: '10.0.0.1', port: 1 }, { host: '10.0.0.1', port: 65535 }], 'control: ports 1 and 65535 are accepted')
})

t.test('randomId: 16-bit values, spread over the range (not a counter)', async (t) => {
  const ids: number[] = []
  for (let i = 0; i < 4096; i++) ids.push(randomId())
  t.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id <= 0xffff), 'every id is 0..65535')
  t.ok(new Set(ids).size > 3800, `mostly distinct (${new Set(ids).size} of 4096)`)
  let ascending = 0
  for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]! + 1) ascending++
  t.ok(ascending < 20, `not sequential (${ascending} successors)`)
  t.ok(ids.some((id) => id >= 0x8000) && ids.some((id) => id < 0x8000), 'both halves of the range')
})

t.test('constructor and fromConfig: no server is a config error; fromConfig checks the specs', async (t) => {
  t.match(thrown(() => new DnsUpstream({ servers: [], timeoutMs: 100 })), { code: ERROR_CODES.CONFIG_INVALID, message: /no upstream DNS server/ })
  t.match(thrown(() => DnsUpstream.fromConfig(['dns.example:53'], 100)), { code: ERROR_CODES.CONFIG_INVALID })
  const u = DnsUpstream.fromConfig(['127.0.0.1:5300', '[::1]:53'], 250)
  t.same(u.servers, [{ host: '127.0.0.1', port: 5300 }, { host: '::1', port: 53 }])
  t.equal(u.timeoutMs, 250)
  u.close()
})

t.test('query: a NOERROR answer comes back with the asked letter case; NXDOMAIN is an answer too', async (t) => {
  const s = await testServer(t, RECORDS)
  const u = client(t, [{ host: '127.0.0.1', port: s.port }])
  const reply = dnsPacket.decode(await u.query(question('Api.EXAMPLE.com')))
  t.equal(reply.type, 'response')
  t.equal(reply.questions?.[0]?.name, 'Api.EXAMPLE.com', 'the question keeps its 0x20 letter case')
  t.same(answersOf(reply, 'A'), ['192.0.2.10'])
  t.equal(s.queries.at(-1)?.name, 'Api.EXAMPLE.com', 'the server saw the case as sent')
  t.equal(s.queries.at(-1)?.edns, 1232, 'queries advertise EDNS with 1232 bytes')
  const nx = dnsPacket.decode(await u.query(question('missing.example.com')))
  t.equal(rcodeOf(nx), 'NXDOMAIN')
  t.equal(u.mismatched, 0)
})

t.test('query: the CD bit is set only when asked; ids differ between queries', async (t) => {
  const srv = await rawUdp(t, (msg) => {
    const q = dnsPacket.decode(msg)
    return [dnsPacket.encode({ id: q.id ?? 0, type: 'response', flags: dnsPacket.RECURSION_DESIRED, questions: q.questions ?? [], answers: [] })]
  })
  const u = client(t, [{ host: '127.0.0.1', port: srv.port }])
  await u.query(question('a.example'), { cd: true })
  await u.query(question('a.example'))
  await u.query(question('a.example'), { cd: false })
  const flags = srv.received.map((m) => m.readUInt16BE(2))
  t.same(flags.map((f) => (f & 0x10) !== 0), [true, false, false], 'CD follows the option')
  t.ok(flags.every((f) => (f & 0x100) !== 0), 'RD is always set')
  const ids = srv.received.map((m) => m.readUInt16BE(0))
  t.equal(new Set(ids).size, 3, 'a new id per query')
})

t.test('spoofed replies (wrong id, other question, no QR bit, wrong opcode) are dropped and counted; the real one is used', async (t) => {
  const s = await testServer(t, RECORDS)
  const u = client(t, [{ host: '127.0.0.1', port: s.port }])
  for (const spoof of ['wrong-id', 'wrong-question'] as const) {
    s.spoof = spoof
    const before = u.mismatched
    const reply = dnsPacket.decode(await u.query(question('api.example.com')))
    t.same(answersOf(reply, 'A'), ['192.0.2.10'], `${spoof}: the real answer, not 6.6.6.6`)
    t.equal(u.mismatched, before + 1, `${spoof}: counted as mismatched`)
  }
  // Forged at the byte level: same id and question, but QR clear / opcode 2; then the real reply.
  const srv = await rawUdp(t, (msg) => {
    const id = msg.readUInt16BE(0)
    const q = dnsPacket.decode(msg)
    const real = dnsPacket.encode({ id, type: 'response', flags: dnsPacket.RECURSION_DESIRED, questions: q.questions ?? [], answers: [{ name: 'x.example', type: 'A', ttl: 5, data: '192.0.2.1' }] })
    const noQr = Buffer.from(real)
    noQr[2] = noQr[2]! & 0x7f
    const opcode = Buffer.from(real)
    opcode[2] = opcode[2]! | (2 << 3)
    const twoQuestions = Buffer.from(real)
    twoQuestions.writeUInt16BE(2, 4)
    return [noQr, opcode, twoQuestions, Buffer.from([1, 2, 3]), real]
  })
  const u2 = client(t, [{ host: '127.0.0.1', port: srv.port }])
  const reply = dnsPacket.decode(await u2.query(question('x.example')))
  t.same(answersOf(reply, 'A'), ['192.0.2.1'])
  t.equal(u2.mismatched, 4, 'no-QR, opcode, QDCOUNT 2 and a runt were all refused')
})

t.test('a truncated UDP answer is retried over TCP on the same server', async (t) => {
  const s = await testServer(t, RECORDS)
  s.truncateUdp = true
  const u = client(t, [{ host: '127.0.0.1', port: s.port }])
  const reply = dnsPacket.decode(await u.query(question('api.example.com')))
  t.same(answersOf(reply, 'A'), ['192.0.2.10'], 'the full answer, from TCP')
  t.same(s.queries.map((q) => q.transport), ['udp', 'tcp'])
  t.not(s.queries[0]!.id, s.queries[1]!.id, 'the TCP query has its own id')
  s.truncateUdp = false
  await u.query(question('api.example.com'))
  t.equal(s.queries.at(-1)?.transport, 'udp', 'control: without TC, UDP only')
  t.equal(s.queries.length, 3)
})

t.test('failover: SERVFAIL, REFUSED, a silent server and a closed port each pass the question to the next server', async (t) => {
  const good = await testServer(t, RECORDS)
  const failing = await testServer(t, RECORDS)
  failing.rcodes.set('api.example.com', 'SERVFAIL')
  const refusing = await testServer(t, RECORDS)
  refusing.rcodes.set('api.example.com', 'REFUSED')
  const silent = await testServer(t, RECORDS)
  silent.silent = true
  const closed = await testServer(t)
  const closedPort = closed.port
  await closed.close()
  for (const [label, first] of [['SERVFAIL', failing.port], ['REFUSED', refusing.port], ['silent', silent.port], ['closed port', closedPort]] as const) {
    const before = good.queries.length
    const u = client(t, [{ host: '127.0.0.1', port: first }, { host: '127.0.0.1', port: good.port }], 300)
    const reply = dnsPacket.decode(await u.query(question('api.example.com')))
    t.same(answersOf(reply, 'A'), ['192.0.2.10'], `${label}: answered by the second server`)
    t.equal(good.queries.length, before + 1, `${label}: the second server was asked once`)
  }
  const u = client(t, [{ host: '127.0.0.1', port: good.port }, { host: '127.0.0.1', port: failing.port }])
  const before = failing.queries.length
  await u.query(question('api.example.com'))
  t.equal(failing.queries.length, before, 'control: a good first server answers alone')
})

t.test('every server failing: HANGAR_DNS_TIMEOUT only when all timed out, else HANGAR_DNS_FAILED naming each server', async (t) => {
  const silentA = await testServer(t)
  silentA.silent = true
  const silentB = await testServer(t)
  silentB.silent = true
  const failing = await testServer(t, RECORDS)
  failing.rcodes.set('api.example.com', 'SERVFAIL')

  const started = Date.now()
  const timeout = await rejection(client(t, [{ host: '127.0.0.1', port: silentA.port }, { host: '127.0.0.1', port: silentB.port }], 150).query(question('api.example.com')))
  const took = Date.now() - started
  t.match(timeout, { code: ERROR_CODES.DNS_TIMEOUT, message: /timed out/ })
  t.match((timeout as Error).message, `127.0.0.1:${silentA.port}: no UDP answer within 150 ms`)
  t.match((timeout as Error).message, `127.0.0.1:${silentB.port}`)
  t.ok(took >= 280 && took < 2000, `each server got its own timeout (${took} ms for 2 × 150 ms)`)

  const mixed = await rejection(client(t, [{ host: '127.0.0.1', port: silentA.port }, { host: '127.0.0.1', port: failing.port }], 150).query(question('api.example.com')))
  t.match(mixed, { code: ERROR_CODES.DNS_FAILED, message: /failed/ })
  t.match((mixed as Error).message, `127.0.0.1:${failing.port}: rcode 2`, 'SERVFAIL is rcode 2')

  const v6 = await rejection(client(t, [{ host: '::1', port: failing.port }], 150).query(question('api.example.com')))
  t.match((v6 as Error).message, `[::1]:${failing.port}`, 'an IPv6 server is printed in brackets')
})

t.test('close(): an open exchange ends at once with HANGAR_DNS_FAILED, and later queries fail', async (t) => {
  const silent = await testServer(t)
  silent.silent = true
  const u = new DnsUpstream({ servers: [{ host: '127.0.0.1', port: silent.port }], timeoutMs: 5000 })
  const started = Date.now()
  const pending = rejection(u.query(question('a.example')))
  await new Promise((r) => setTimeout(r, 50))
  u.close()
  const e = await pending
  t.match(e, { code: ERROR_CODES.DNS_FAILED, message: /closed/ })
  t.ok(Date.now() - started < 1000, 'did not wait for the 5 s timeout')
  t.match(await rejection(u.query(question('a.example'))), { code: ERROR_CODES.DNS_FAILED, message: /closed/ })
})

t.test('maxInflight bounds concurrent exchanges; the others wait their turn', async (t) => {
  const s = await testServer(t, RECORDS)
  s.delayMs = 120
  const timed = async (maxInflight: number) => {
    const u = client(t, [{ host: '127.0.0.1', port: s.port }], 2000, maxInflight)
    const started = Date.now()
    const replies = await Promise.all([0, 1, 2].map(() => u.query(question('api.example.com'))))
    t.equal(replies.length, 3)
    return Date.now() - started
  }
  const serial = await timed(1)
  t.ok(serial >= 330, `maxInflight 1: three 120 ms exchanges one after another (${serial} ms)`)
  const parallel = await timed(3)
  t.ok(parallel < 330, `control, maxInflight 3: in parallel (${parallel} ms)`)
})

// A server host that is not an IP literal (only a caller building DnsUpstream by hand can give
// one: upstreamServers() refuses them) fails the exchange, never throws from the connect callback.
t.test('a non-IP host in a server entry fails the exchange with HANGAR_DNS_FAILED', async (t) => {
  const u = client(t, [{ host: 'localhost', port: 53 }], 300)
  const e = await rejection(u.query(question('a.example')))
  t.match(e, { code: ERROR_CODES.DNS_FAILED, message: /not an IP address/ })
})
