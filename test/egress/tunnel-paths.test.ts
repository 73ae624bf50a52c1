/**
 * One name, one verdict, on every path: a tunnel name under an allowed wildcard is refused by
 * the DNS forwarder, by CONNECT, by absolute-form HTTP, by the transparent :80 listener (Host)
 * and the transparent :443 listener (SNI), and by the Host/SNI inside an allowed CONNECT; on no
 * path does the sidecar's own resolver ask upstream for it. The subdomain budget is shared: names
 * admitted through DNS and names admitted through CONNECT draw on one count. Real listeners on
 * 127.0.0.1, the composed EgressSidecar, our own resolver over a test DNS server that logs every
 * question.
 */
import { loopbackSidecarConfig } from '../helpers/egress-context.js'
import t from 'tap'
import { connect } from 'node:net'
import { get as httpsGet } from 'node:https'
import * as dnsPacket from 'dns-packet'
import { silentLogger } from '../../core/log.js'
import { EgressConnector } from '../../egress/connector.js'
import { DnsResolver } from '../../egress/resolve.js'
import { EgressSidecar } from '../../sidecar/egress.js'
import { TransparentHttpListener } from '../../egress/transparent/http.js'
import { TransparentTlsListener } from '../../egress/transparent/tls.js'
import { SubdomainBudget } from '../../policy/tunnel.js'
import { MemorySink } from '../../signals/sink.js'
import { makeQuery, rcodeOf, TestDnsServer, udpQuery, type TestRecord } from '../helpers/dns-server.js'
import { makeEgressContext } from '../helpers/egress-context.js'
import { close, closed, echoServer, rawExchange, recordingHttpServer, roundTrip } from '../helpers/net.js'
import { buildClientHello, makeTestPki, startTlsServer } from '../helpers/tls.js'
import { base32Lower, hexLetters } from '../helpers/tunnel-names.js'

type Tap = { teardown(fn: () => unknown): void }

/** The tunnel names of the issue: hex (with digits) and hex mapped to letters, two 40-character labels. */
const TUNNELS = [
  `${Buffer.from(hexLetters('h', 20)).toString('hex')}.wild.test`,
  `${hexLetters('p1', 40)}.${hexLetters('p2', 40)}.wild.test`,
  `${base32Lower('b1', 40)}.${base32Lower('b2', 40)}.wild.test`,
]

function records(): Record<string, TestRecord[]> {
  const r: Record<string, TestRecord[]> = { 'www.wild.test': [{ type: 'A', data: '127.0.0.1' }] }
  for (let i = 0; i < 20; i++) r[`host-${i}.wild.test`] = [{ type: 'A', data: '127.0.0.1' }]
  return r
}

async function sidecar(t: Tap, maxNames = 64, mode = 'block') {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const dns = new TestDnsServer({ records: records() })
  await dns.listen()
  t.teardown(() => dns.close())
  const sink = new MemorySink()
  const config = loopbackSidecarConfig(dns.address, { capabilities: { enforcement_mode: mode, network: { loopback_allowed: true, subdomain_budget: { max_names: maxNames }, egress: [{ host: '*.wild.test', port: 0, protocol: 'any' }] } } })
  const sc = new EgressSidecar({ provider: 'p', config, sink, log: silentLogger() })
  const ports = await sc.start()
  t.teardown(() => sc.stop())
  const denied = (code: string) => sink.signals.filter((s) => (s.type === 'egress_denied' || s.type === 'dns_tunnel_suspected') && (s.details as { code?: string }).code === code)
  return { echo, dns, sink, ports, denied }
}

t.test('the tunnel name is refused by DNS, CONNECT and absolute-form alike; its name never reaches upstream DNS', async (t) => {
  const s = await sidecar(t)
  for (const name of TUNNELS) {
    for (const type of ['A', 'AAAA', 'TXT']) {
      t.equal(rcodeOf(dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery(name, type)))), 'NXDOMAIN', `DNS ${type}`)
    }
    const c = await rawExchange(s.ports.proxy, `CONNECT ${name}:${s.echo.port} HTTP/1.1\r\nHost: ${name}:${s.echo.port}\r\n\r\n`)
    c.socket.destroy()
    t.equal(c.status, 403, 'CONNECT: 403')
    t.match(c.headers['x-hangar-decision'], /denied; rule=egress\[0\]; reason=dns_tunnel_suspected/)
    const mixedCase = name.replace(/[a-p]/g, (ch, i: number) => (i % 3 ? ch : ch.toUpperCase()))
    const c2 = await rawExchange(s.ports.proxy, `CONNECT ${mixedCase}:${s.echo.port} HTTP/1.1\r\n\r\n`)
    c2.socket.destroy()
    t.equal(c2.status, 403, 'CONNECT in mixed case: 403')
    const a = await rawExchange(s.ports.proxy, `GET http://${name}:${s.echo.port}/x HTTP/1.1\r\nHost: ${name}\r\n\r\n`)
    a.socket.destroy()
    t.equal(a.status, 403, 'absolute-form: 403')
    t.match(a.headers['x-hangar-decision'], /reason=dns_tunnel_suspected/)
    t.equal(s.dns.queriesFor(name).length, 0, `${name.slice(0, 24)}…: upstream DNS never asked`)
  }
  t.equal(s.echo.connections(), 0, 'nothing was dialled')
  t.equal(s.denied('dns_tunnel_suspected').length, TUNNELS.length * 6, 'one signal per attempt: 3 DNS, 2 CONNECT, 1 absolute-form per name')
  // Control: a real subdomain under the same wildcard goes through on each path.
  const ok = await rawExchange(s.ports.proxy, `CONNECT www.wild.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(ok.status, 200)
  t.equal((await roundTrip(ok.socket, 'ping', 4)).toString(), 'ping')
  ok.socket.destroy()
  t.same(s.dns.queriesFor('www.wild.test').map((q) => q.type).sort(), ['A', 'AAAA'], 'control: the resolver asked A and AAAA')
  t.equal(rcodeOf(dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('www.wild.test')))), 'NOERROR')
})

t.test('the tunnel name as the SNI or Host inside an allowed CONNECT is refused before a byte leaves', async (t) => {
  const s = await sidecar(t)
  const name = TUNNELS[1]!
  const tls = await rawExchange(s.ports.proxy, `CONNECT www.wild.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(tls.status, 200)
  tls.socket.write(buildClientHello({ sni: name }))
  await closed(tls.socket)
  const http = await rawExchange(s.ports.proxy, `CONNECT www.wild.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  http.socket.write(`GET / HTTP/1.1\r\nHost: ${name}\r\n\r\n`)
  await closed(http.socket)
  t.equal(s.echo.bytes(), 0, 'no byte reached the destination')
  t.same(s.denied('sni_mismatch').length, 1)
  t.same(s.denied('host_mismatch').length, 1)
  t.equal(s.dns.queriesFor(name).length, 0)
})

t.test('alert mode lets the tunnel name through on every path, signalled alerted', async (t) => {
  const s = await sidecar(t, 64, 'alert')
  const name = TUNNELS[1]!
  t.equal(rcodeOf(dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery(name)))), 'NXDOMAIN', 'DNS: forwarded (the test upstream does not know it)')
  const c = await rawExchange(s.ports.proxy, `CONNECT ${name}:${s.echo.port} HTTP/1.1\r\n\r\n`)
  c.socket.destroy()
  t.equal(c.status, 502, 'CONNECT: let through, then NXDOMAIN from upstream → 502')
  t.ok(s.dns.queriesFor(name).length >= 2, 'both paths asked upstream (alert mode forwards)')
  const sus = s.denied('dns_tunnel_suspected')
  t.same(sus.map((x) => `${x.type}:${x.action}`), ['dns_tunnel_suspected:alerted', 'egress_denied:alerted'])
})

t.test('one subdomain budget for DNS and CONNECT', async (t) => {
  const s = await sidecar(t, 5)
  for (let i = 0; i < 3; i++) t.equal(rcodeOf(dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery(`host-${i}.wild.test`)))), 'NOERROR', `DNS host-${i}: admitted`)
  for (let i = 3; i < 5; i++) {
    const c = await rawExchange(s.ports.proxy, `CONNECT host-${i}.wild.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
    c.socket.destroy()
    t.equal(c.status, 200, `CONNECT host-${i}: admitted`)
  }
  // The budget (5) is spent across both paths.
  const over = await rawExchange(s.ports.proxy, `CONNECT host-5.wild.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  over.socket.destroy()
  t.equal(over.status, 403, 'CONNECT to a 6th name: 403')
  t.match(over.headers['x-hangar-decision'], /reason=dns_tunnel_suspected/)
  t.equal(rcodeOf(dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('host-6.wild.test')))), 'NXDOMAIN', 'DNS for a 7th name: NXDOMAIN')
  t.equal(s.dns.queriesFor('host-5.wild.test').length + s.dns.queriesFor('host-6.wild.test').length, 0, 'neither reached upstream DNS')
  // Names admitted on one path are admitted on the other.
  const viaDns = await rawExchange(s.ports.proxy, `CONNECT host-1.wild.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  viaDns.socket.destroy()
  t.equal(viaDns.status, 200, 'CONNECT to a name DNS admitted: 200')
  t.equal(rcodeOf(dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('host-4.wild.test')))), 'NOERROR', 'DNS for a name CONNECT admitted: answered')
  t.match(s.denied('dns_tunnel_suspected')[0]!.reason, /more than 5 unique subdomains of wild\.test/)
})

t.test('transparent listeners: the tunnel name as Host (:80) or SNI (:443) is refused; real names pass', async (t) => {
  const pki = makeTestPki(['www.wild.test'])
  const tlsUp = await startTlsServer(pki)
  t.teardown(() => tlsUp.close())
  const httpUp = await recordingHttpServer('up80')
  t.teardown(() => close(httpUp.server))
  const dns = new TestDnsServer({ records: records() })
  await dns.listen()
  t.teardown(() => dns.close())
  const caps = { network: { loopback_allowed: true, egress: [{ host: '*.wild.test', port: 0, protocol: 'any' }] } }
  const base = makeEgressContext({ capabilities: caps })
  const resolver = new DnsResolver({ servers: [dns.address], limits: base.ctx.limits })
  t.teardown(() => resolver.close())
  const connector = new EgressConnector({ ...base.ctx, resolver, budget: new SubdomainBudget(base.ctx.policy.subdomainBudget) })
  const h80 = new TransparentHttpListener(connector, httpUp.port)
  const p80 = await h80.listen('127.0.0.1', 0)
  t.teardown(() => h80.close())
  const h443 = new TransparentTlsListener(connector, { logicalPort: tlsUp.port })
  const p443 = await h443.listen('127.0.0.1', 0)
  t.teardown(() => h443.close())

  for (const name of TUNNELS) {
    const r = await rawExchange(p80, `GET / HTTP/1.1\r\nHost: ${name}\r\n\r\n`)
    r.socket.destroy()
    t.equal(r.status, 403, 'Host: 403')
    t.match(r.headers['x-hangar-decision'], /reason=dns_tunnel_suspected/)
    const sock = connect(p443, '127.0.0.1')
    sock.on('error', () => {})
    sock.write(buildClientHello({ sni: name }))
    await closed(sock)
    t.equal(dns.queriesFor(name).length, 0, 'upstream DNS never asked')
  }
  const codes = base.of('egress_denied').map((s) => `${(s.details as { via: string }).via}:${(s.details as { code: string }).code}`)
  t.same(codes, TUNNELS.flatMap(() => ['transparent_http:dns_tunnel_suspected', 'transparent_tls:dns_tunnel_suspected']))
  t.equal(httpUp.requests.length + tlsUp.connections.length, 0, 'no upstream connection')
  // Controls: a real subdomain through both listeners.
  const ok80 = await rawExchange(p80, 'GET /hello HTTP/1.1\r\nHost: www.wild.test\r\n\r\n')
  ok80.socket.destroy()
  t.equal(ok80.status, 200)
  t.equal(ok80.body, 'hello from up80')
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpsGet({ host: '127.0.0.1', port: p443, servername: 'www.wild.test', ca: pki.ca, path: '/', agent: false, timeout: 5000 }, (res) => {
      let b = ''
      res.on('data', (c: Buffer) => (b += c.toString()))
      res.on('end', () => resolve(b))
    })
    req.on('error', reject)
  })
  t.equal(body, `${tlsUp.marker} sni=www.wild.test`)
})
