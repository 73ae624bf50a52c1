/**
 * The egress plane on loopback ports: proxy + DNS forwarder share one policy, one resolver (our
 * own DNS queries to a test upstream) and one signal output; stop() closes everything. The admin
 * listener around it is tested with the whole composition (sidecar.test.ts).
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

async function start(t: { teardown(fn: () => unknown): void }, extra: { mode?: string } = {}) {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const dns = new TestDnsServer({ records: { 'allowed.test': [{ type: 'A', data: '127.0.0.1' }], 'other.test': [{ type: 'A', data: '127.0.0.1' }] } })
  await dns.listen()
  t.teardown(() => dns.close())
  const sink = new MemorySink()
  const config = loopbackSidecarConfig(dns.address, { capabilities: { enforcement_mode: extra.mode ?? 'block', network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'any' }] } } })
  const sidecar = new EgressSidecar({ provider: 'p', config, sink, log: silentLogger() })
  const ports = await sidecar.start()
  t.teardown(() => sidecar.stop())
  return { echo, dns, sink, sidecar, ports }
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

t.test('upstream_dns that names only the sidecar itself is refused (no DNS loop); other servers are kept', async (t) => {
  const { ownUpstreams } = await import('../../sidecar/egress.js')
  t.throws(() => ownUpstreams(['127.0.0.1:53'], '0.0.0.0:53'), { code: 'HANGAR_CONFIG_INVALID', message: /own DNS listener/ })
  t.throws(() => ownUpstreams(['10.254.1.1:53'], '10.254.1.1:53'), { code: 'HANGAR_CONFIG_INVALID' })
  t.same(ownUpstreams(['127.0.0.1:53', '10.0.0.2:53'], '0.0.0.0:53'), [{ host: '10.0.0.2', port: 53 }])
  t.same(ownUpstreams(['127.0.0.1:5353'], '0.0.0.0:53'), [{ host: '127.0.0.1', port: 5353 }], 'another port is another server')
})
