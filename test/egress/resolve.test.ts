/**
 * egress/resolve.ts and egress/dns/upstream.ts: our own A/AAAA queries (never getaddrinfo) to a
 * test DNS server on 127.0.0.1; failover, TCP fallback, anti-spoofing, caching, resolv.conf.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sidecarLimitsSchema } from '../../config/schema.js'
import { DnsCache } from '../../egress/dns/cache.js'
import { DnsUpstream, parseResolvConf, upstreamServers } from '../../egress/dns/upstream.js'
import { encodeQuestion } from '../../egress/dns/wire.js'
import { DnsResolver } from '../../egress/resolve.js'
import { TestDnsServer, type TestRecord } from '../helpers/dns-server.js'

const RECORDS: Record<string, TestRecord[]> = {
  'dual.example': [{ type: 'A', data: '93.184.216.34', ttl: 120 }, { type: 'AAAA', data: '2606:2800:220:1::1', ttl: 60 }],
  'mapped.example': [{ type: 'AAAA', data: '::ffff:127.0.0.1' }, { type: 'AAAA', data: '0:0:0:0:0:0:0:1' }],
  'www.example': [{ type: 'CNAME', data: 'edge.cdn.example' }],
  'edge.cdn.example': [{ type: 'A', data: '198.51.100.10' }, { type: 'A', data: '198.51.100.10' }],
  'txt-only.example': [{ type: 'TXT', data: 'hello' }],
}

async function upstream(t: { teardown(fn: () => unknown): void }, records = RECORDS): Promise<TestDnsServer> {
  const s = new TestDnsServer({ records })
  await s.listen()
  t.teardown(() => s.close())
  return s
}

function resolver(t: { teardown(fn: () => unknown): void }, servers: string[], limits: Record<string, number> = {}, clock?: () => number): DnsResolver {
  const l = sidecarLimitsSchema.parse(limits)
  const r = new DnsResolver({
    servers,
    limits: l,
    ...(clock && { cache: new DnsCache({ maxEntries: l.dns_cache_entries, maxTtlS: l.dns_cache_max_ttl_s, clock }) }),
  })
  t.teardown(() => r.close())
  return r
}

t.test('A and AAAA in parallel, A first, canonical text', async (t) => {
  const s = await upstream(t)
  const r = resolver(t, [s.address])
  const got = await r.resolve('Dual.Example.')
  t.same(got.addresses, [{ ip: '93.184.216.34', family: 4 }, { ip: '2606:2800:220:1::1', family: 6 }])
  t.ok(got.ttlMs > 59_000 && got.ttlMs <= 60_000, 'smallest TTL of the answers used')
  t.same(new Set(s.queries.map((q) => q.type)), new Set(['A', 'AAAA']))
})

t.test('IPv4-mapped AAAA answers are unmapped (and so classified as IPv4)', async (t) => {
  const s = await upstream(t)
  const got = await resolver(t, [s.address]).resolve('mapped.example')
  t.same(got.addresses, [{ ip: '127.0.0.1', family: 4 }, { ip: '::1', family: 6 }])
})

t.test('CNAME chains are followed; duplicates dropped; records of unrelated owners ignored', async (t) => {
  const s = await upstream(t)
  const got = await resolver(t, [s.address]).resolve('www.example')
  t.same(got.addresses, [{ ip: '198.51.100.10', family: 4 }])
})

t.test('NXDOMAIN and names without addresses → HANGAR_DNS_NO_ADDRESS', async (t) => {
  const s = await upstream(t)
  const r = resolver(t, [s.address])
  await t.rejects(r.resolve('missing.example'), { code: 'HANGAR_DNS_NO_ADDRESS' })
  await t.rejects(r.resolve('txt-only.example'), { code: 'HANGAR_DNS_NO_ADDRESS' })
  await t.rejects(r.resolve('a..b'), { code: 'HANGAR_DNS_NO_ADDRESS' })
  await t.rejects(r.resolve('x'.repeat(64) + '.example'), { code: 'HANGAR_DNS_NO_ADDRESS' })
})

t.test('a silent server → HANGAR_DNS_TIMEOUT after the per-server timeout', async (t) => {
  const s = await upstream(t)
  s.silent = true
  const started = Date.now()
  await t.rejects(resolver(t, [s.address], { dns_timeout_ms: 150 }).resolve('dual.example'), { code: 'HANGAR_DNS_TIMEOUT' })
  const took = Date.now() - started
  t.ok(took >= 140 && took < 2000, `took ${took} ms`)
})

t.test('SERVFAIL → HANGAR_DNS_FAILED', async (t) => {
  const s = await upstream(t)
  s.rcodes.set('dual.example', 'SERVFAIL')
  await t.rejects(resolver(t, [s.address]).resolve('dual.example'), { code: 'HANGAR_DNS_FAILED' })
  s.rcodes.set('dual.example', 'REFUSED')
  await t.rejects(resolver(t, [s.address]).resolve('dual.example'), { code: 'HANGAR_DNS_FAILED' })
})

t.test('failover: a timed-out or failing server is followed by the next', async (t) => {
  const dead = await upstream(t)
  dead.silent = true
  const failing = await upstream(t)
  failing.rcodes.set('dual.example', 'SERVFAIL')
  const good = await upstream(t)
  const got = await resolver(t, [dead.address, failing.address, good.address], { dns_timeout_ms: 100 }).resolve('dual.example')
  t.equal(got.addresses.length, 2)
  t.equal(dead.queries.length, 2)
  t.equal(failing.queries.length, 2)
  t.equal(good.queries.length, 2)
})

t.test('TC over UDP → TCP (RFC 7766 framing)', async (t) => {
  const s = await upstream(t)
  s.truncateUdp = true
  const got = await resolver(t, [s.address]).resolve('dual.example')
  t.equal(got.addresses.length, 2)
  t.same(s.queries.filter((q) => q.transport === 'tcp').length, 2)
})

t.test('anti-spoofing: wrong id or wrong question ignored; ids are random', async (t) => {
  const s = await upstream(t)
  s.spoof = 'wrong-id'
  const up = DnsUpstream.fromConfig([s.address], 1000)
  t.teardown(() => up.close())
  const r = new DnsResolver({ upstream: up, limits: sidecarLimitsSchema.parse({}) })
  t.same((await r.resolve('edge.cdn.example')).addresses, [{ ip: '198.51.100.10', family: 4 }], 'the forged 6.6.6.6 lost')
  s.spoof = 'wrong-question'
  const r2 = new DnsResolver({ upstream: up, limits: sidecarLimitsSchema.parse({}) })
  t.same((await r2.resolve('dual.example')).addresses[0], { ip: '93.184.216.34', family: 4 })
  t.ok(up.mismatched >= 4, `mismatched replies counted (${up.mismatched})`)
  const ids = new Set(s.queries.map((q) => q.id))
  t.equal(ids.size, s.queries.length, 'every query had its own id')
})

t.test('source ports differ per query', async (t) => {
  const s = await upstream(t)
  const up = DnsUpstream.fromConfig([s.address], 1000)
  t.teardown(() => up.close())
  // The test server does not log ports; check through a raw UDP listener instead.
  const { createSocket } = await import('node:dgram')
  const sock = createSocket('udp4')
  const ports = new Set<number>()
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  sock.on('message', (_m, rinfo) => ports.add(rinfo.port))
  const raw = new DnsUpstream({ servers: [{ host: '127.0.0.1', port: sock.address().port }], timeoutMs: 100 })
  await Promise.allSettled(Array.from({ length: 5 }, () => raw.query(encodeQuestion('x.example', 1))))
  sock.close()
  t.equal(ports.size, 5)
})

t.test('cache: second resolve answered locally, TTL counts down, entries expire', async (t) => {
  const s = await upstream(t)
  let now = 0
  const r = resolver(t, [s.address], {}, () => now)
  const first = await r.resolve('dual.example')
  t.equal(first.ttlMs, 60_000)
  now = 20_000
  const second = await r.resolve('dual.example')
  t.equal(second.ttlMs, 40_000)
  t.equal(s.queries.length, 2)
  now = 61_000
  const third = await r.resolve('dual.example')
  t.equal(s.queries.length, 3, 'AAAA (60 s) expired and was asked again; A (120 s) still cached')
  t.equal(third.addresses.length, 2)
  // Negative answers are cached too.
  await t.rejects(r.resolve('missing.example'))
  await t.rejects(r.resolve('missing.example'))
  t.equal(s.queriesFor('missing.example').length, 2, 'A and AAAA once each')
  // The TTL cap.
  const capped = resolver(t, [s.address], { dns_cache_max_ttl_s: 5 }, () => now)
  t.equal((await capped.resolve('dual.example')).ttlMs, 5000)
})

t.test('concurrent resolves of one name share the queries', async (t) => {
  const s = await upstream(t)
  s.delayMs = 30
  const r = resolver(t, [s.address])
  const all = await Promise.all(Array.from({ length: 20 }, () => r.resolve('dual.example')))
  t.ok(all.every((x) => x.addresses.length === 2))
  t.equal(s.queries.length, 2)
})

t.test('resolv.conf parsing and upstream_dns entries', async (t) => {
  t.same(parseResolvConf('# comment\nsearch example\nnameserver 10.255.255.53\nnameserver  fe80::1%eth0 ; x\nnameserver not-an-ip\noptions ndots:5\n'), [
    { host: '10.255.255.53', port: 53 },
    { host: 'fe80::1%eth0', port: 53 },
  ])
  t.same(parseResolvConf(''), [{ host: '127.0.0.1', port: 53 }], 'no nameserver → the local server (resolv.conf(5))')
  const dir = mkdtempSync(join(tmpdir(), 'hangar-resolv-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'resolv.conf')
  writeFileSync(path, 'nameserver 127.0.0.53\n')
  t.same(upstreamServers(['system', '127.0.0.1:5353', '[::1]:53'], path), [
    { host: '127.0.0.53', port: 53 },
    { host: '127.0.0.1', port: 5353 },
    { host: '::1', port: 53 },
  ])
  t.same(upstreamServers(['system'], join(dir, 'missing')), [{ host: '127.0.0.1', port: 53 }])
  for (const bad of ['dns.example:53', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '[::1]']) {
    t.throws(() => upstreamServers([bad]), { code: 'HANGAR_CONFIG_INVALID' }, bad)
  }
  t.throws(() => new DnsUpstream({ servers: [], timeoutMs: 100 }), { code: 'HANGAR_CONFIG_INVALID' })
})

t.test('a closed upstream fails fast', async (t) => {
  const s = await upstream(t)
  const up = DnsUpstream.fromConfig([s.address], 1000)
  up.close()
  await t.rejects(up.query(encodeQuestion('dual.example', 1)), { code: 'HANGAR_DNS_FAILED' })
})
