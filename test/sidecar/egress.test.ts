/**
 * The composed egress sidecar on loopback ports: proxy + DNS forwarder + admin share one policy,
 * one resolver (our own DNS queries to a test upstream) and one signal output; the admin API
 * switches quarantine at run time; stop() closes everything.
 */
import { loopbackSidecarConfig } from '../helpers/egress-context.js'
import t from 'tap'
import { connect } from 'node:net'
import { providerSchema } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { EgressSidecar } from '../../sidecar/egress.js'
import { MemorySink } from '../../signals/sink.js'
import { TestDnsServer, answersOf, makeQuery, rcodeOf, udpQuery } from '../helpers/dns-server.js'
import { close, echoServer, rawExchange, roundTrip } from '../helpers/net.js'
import dnsPacket from 'dns-packet'

async function start(t: { teardown(fn: () => unknown): void }, extra: { mode?: string; tokens?: string[] } = {}) {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const dns = new TestDnsServer({ records: { 'allowed.test': [{ type: 'A', data: '127.0.0.1' }], 'other.test': [{ type: 'A', data: '127.0.0.1' }] } })
  await dns.listen()
  t.teardown(() => dns.close())
  const sink = new MemorySink()
  const config = loopbackSidecarConfig(dns.address, { capabilities: { enforcement_mode: extra.mode ?? 'block', network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'any' }] } } })
  const sidecar = new EgressSidecar({ provider: 'p', config, sink, log: silentLogger(), adminTokens: extra.tokens ?? [] })
  const ports = await sidecar.start()
  t.teardown(() => sidecar.stop())
  const admin = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${ports.admin}${path}`, init)
  return { echo, dns, sink, sidecar, ports, admin }
}

t.test('CONNECT resolves through our own DNS client and the same policy answers DNS', async (t) => {
  const s = await start(t)
  const a = await rawExchange(s.ports.proxy, `CONNECT allowed.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 200)
  t.equal((await roundTrip(a.socket, 'abc', 3)).toString(), 'abc')
  a.socket.destroy()
  t.ok(s.dns.queriesFor('allowed.test').length >= 1, 'the proxy asked the configured upstream, not getaddrinfo')
  const ok = dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('allowed.test')))
  t.equal(rcodeOf(ok), 'NOERROR')
  t.same(answersOf(ok, 'A'), ['127.0.0.1'])
  const no = dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('other.test')))
  t.equal(rcodeOf(no), 'NXDOMAIN')
  t.equal(s.dns.queriesFor('other.test').length, 0)
})

t.test('admin: /health, /ready, /metrics, /v1/status', async (t) => {
  const s = await start(t)
  t.equal((await s.admin('/health')).status, 200)
  t.equal((await s.admin('/ready')).status, 200)
  await rawExchange(s.ports.proxy, 'CONNECT other.test:1 HTTP/1.1\r\n\r\n').then((a) => a.socket.destroy())
  const metrics = await (await s.admin('/metrics')).text()
  t.match(metrics, /mcp_hangar_egress_requests_total\{provider="p",protocol="tcp",decision="blocked"\} 1/)
  t.match(metrics, /mcp_hangar_capability_violations_total\{provider="p",violation_type="egress_denied",action="blocked"\} 1/)
  t.match(metrics, /process_resident_memory_bytes|mcp_hangar_process_resident_memory_bytes/)
  const status = (await (await s.admin('/v1/status')).json()) as Record<string, unknown>
  t.equal(status.provider, 'p')
  t.equal(status.quarantined, false)
  t.equal((await s.admin('/nope')).status, 404)
})

t.test('admin quarantine switch: needs the token, denies CONNECT and DNS at once, release restores', async (t) => {
  const s = await start(t, { tokens: ['s3cret'] })
  const post = (path: string, body: unknown, token?: string) =>
    s.admin(path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) })
  t.equal((await post('/v1/quarantine', { reason: 'x' })).status, 401, 'no token → 401')
  t.equal((await post('/v1/quarantine', { reason: 'x' }, 'wrong')).status, 401, 'wrong token → 401')
  t.equal(s.sidecar.enforcement.state.quarantined, false, 'nothing changed')
  t.equal((await post('/v1/quarantine', {}, 's3cret')).status, 400, 'reason required')
  const bad = await s.admin('/v1/quarantine', { method: 'POST', headers: { authorization: 'Bearer s3cret' }, body: '{not json' })
  t.equal(bad.status, 400, 'malformed JSON → 400')
  t.equal((await post('/v1/quarantine', { reason: 'suspicious egress' }, 's3cret')).status, 200)
  const a = await rawExchange(s.ports.proxy, `CONNECT allowed.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 403)
  t.match(a.headers['x-hangar-decision'], /reason=quarantined/)
  const q = dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('allowed.test')))
  t.equal(rcodeOf(q), 'NXDOMAIN', 'DNS denied while quarantined')
  const trig = s.sink.signals.find((x) => x.type === 'quarantine_triggered')!
  t.equal(trig.reason, 'suspicious egress')
  t.equal(trig.details?.by, 'api')
  t.equal((await post('/v1/release', {}, 's3cret')).status, 200)
  const b = await rawExchange(s.ports.proxy, `CONNECT allowed.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(b.status, 200)
  b.socket.destroy()
  const r = dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('allowed.test')))
  t.equal(rcodeOf(r), 'NOERROR', 'DNS answered again after release')
})

t.test('stop() closes every listener and signals sidecar_stopped', async (t) => {
  const s = await start(t)
  await s.sidecar.stop()
  const refused = await new Promise<string>((resolve) => {
    const c = connect(s.ports.proxy, '127.0.0.1')
    c.on('connect', () => { c.destroy(); resolve('connected') })
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
  })
  t.equal(refused, 'ECONNREFUSED')
  t.ok(s.sink.signals.some((x) => x.type === 'sidecar_stopped' && x.kind === 'lifecycle'))
})

t.test('a listener that cannot bind fails start() with HANGAR_LISTEN_FAILED and closes the others', async (t) => {
  const s = await start(t)
  const config = providerSchema.parse({
    mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp',
    sidecar: { proxy: '127.0.0.1:0', dns: `127.0.0.1:${s.ports.dns}`, transparent_http: null, transparent_tls: null, admin: '127.0.0.1:0', upstream_dns: ['127.0.0.1:9'] },
  })
  const second = new EgressSidecar({ provider: 'q', config, sink: new MemorySink(), log: silentLogger() })
  await t.rejects(second.start(), { code: 'HANGAR_LISTEN_FAILED' })
})

t.test("bypass catalog, the sidecar's own ports: unreachable through it even with loopback and a covering cidr rule", async (t) => {
  const dns = new TestDnsServer({ records: { 'self.test': [{ type: 'A', data: '127.0.0.1' }] } })
  await dns.listen()
  t.teardown(() => dns.close())
  const config = providerSchema.parse({
    mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp',
    sidecar: { proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null, admin: '127.0.0.1:0', upstream_dns: [dns.address] },
    capabilities: { network: { loopback_allowed: true, egress: [{ cidr: '127.0.0.0/8', port: 0, protocol: 'any' }, { host: 'self.test', port: 0, protocol: 'any' }] } },
  })
  const sink = new MemorySink()
  const sidecar = new EgressSidecar({ provider: 's', config, sink, log: silentLogger(), protectedAddresses: ['127.0.0.1:8000'] })
  const ports = await sidecar.start()
  t.teardown(() => sidecar.stop())
  for (const target of [`127.0.0.1:${ports.admin}`, `127.0.0.1:${ports.proxy}`, `127.0.0.2:${ports.dns}`, '127.0.0.1:8000', `self.test:${ports.admin}`, `0.0.0.0:${ports.proxy}`]) {
    const a = await rawExchange(ports.proxy, `CONNECT ${target} HTTP/1.1\r\n\r\n`)
    t.equal(a.status, 403, target)
    t.match(a.headers['x-hangar-decision'], /self_connection|always-denied:unspecified/, target)
    a.socket.destroy()
  }
})

t.test('upstream_dns that names only the sidecar itself is refused (no DNS loop); other servers are kept', async (t) => {
  const { ownUpstreams } = await import('../../sidecar/egress.js')
  t.throws(() => ownUpstreams(['127.0.0.1:53'], '0.0.0.0:53'), { code: 'HANGAR_CONFIG_INVALID', message: /own DNS listener/ })
  t.throws(() => ownUpstreams(['10.254.1.1:53'], '10.254.1.1:53'), { code: 'HANGAR_CONFIG_INVALID' })
  t.same(ownUpstreams(['127.0.0.1:53', '10.0.0.2:53'], '0.0.0.0:53'), [{ host: '10.0.0.2', port: 53 }])
  t.same(ownUpstreams(['127.0.0.1:5353'], '0.0.0.0:53'), [{ host: '127.0.0.1', port: 5353 }], 'another port is another server')
})
