/**
 * The forward proxy with real sockets on 127.0.0.1: CONNECT tunnels and absolute-form HTTP,
 * every answer of docs/egress.md §Answers, the limits, and the proxy-level bypass catalog items.
 * Names are mapped to our own loopback test servers by a static resolver; denied destinations
 * are refused before any dial.
 */
import t from 'tap'
import { connect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import { sidecarLimitsSchema } from '../../config/schema.js'
import { createMetrics } from '../../core/metrics.js'
import { silentLogger } from '../../core/log.js'
import { EgressConnector } from '../../egress/connector.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { ForwardProxy } from '../../egress/forward-proxy.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import { EgressSignals } from '../../egress/signals.js'
import { MemorySink } from '../../signals/sink.js'
import type { Signal } from '../../signals/types.js'
import { close, closed, echoServer, rawExchange, recordingHttpServer, roundTrip, staticResolver } from '../helpers/net.js'

interface Harness {
  port: number
  sink: MemorySink
  enforcement: QuarantineSwitch
  connector: EgressConnector
  metrics: ReturnType<typeof createMetrics>
  denials: () => Signal[]
}

async function harness(t: { teardown(fn: () => unknown): void }, caps: unknown, limits: unknown = {}, table: Record<string, string[]> = {}): Promise<Harness> {
  const sink = new MemorySink()
  const enforcement = new QuarantineSwitch()
  const metrics = createMetrics({ defaultMetrics: false })
  const policy = compilePolicy('p1', capabilitiesSchema.parse(caps), { ips: new Set(), ports: new Set() })
  const log = silentLogger()
  const signals = new EgressSignals({ provider: 'p1', sidecar_id: 'sc-1' }, policy, sink, metrics, enforcement, log, 0)
  const resolver = staticResolver({ 'allowed.test': ['127.0.0.1'], 'denied.test': ['127.0.0.1'], 'rebind.test': ['10.0.0.1', '127.0.0.1'], 'meta.test': ['169.254.169.254'], ...table }, { timeoutNames: ['slow.test'] })
  const connector = new EgressConnector({ policy, enforcement, resolver, signals, metrics, limits: sidecarLimitsSchema.parse(limits), log })
  const proxy = new ForwardProxy(connector)
  const port = await proxy.listen('127.0.0.1', 0)
  t.teardown(() => proxy.close())
  return { port, sink, enforcement, connector, metrics, denials: () => sink.signals.filter((s) => s.kind === 'violation') }
}

t.test('CONNECT to an allowed name tunnels bytes both ways and signals allow + close with byte counts', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'tcp' }] } })
  const a = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\nHost: allowed.test:${echo.port}\r\n\r\n`)
  t.equal(a.status, 200)
  const back = await roundTrip(a.socket, 'ping-through-tunnel', 19)
  t.equal(back.toString(), 'ping-through-tunnel')
  a.socket.end()
  const closedSig = await h.sink.waitFor((s) => s.type === 'egress_closed')
  t.equal(closedSig.details?.bytes_up, 19)
  t.equal(closedSig.details?.bytes_down, 19)
  const allowed = h.sink.signals.find((s) => s.type === 'egress_allowed')!
  t.equal(allowed.rule, 'egress[0]')
  t.same(allowed.destination, { host: 'allowed.test', ip: '127.0.0.1', port: echo.port, protocol: 'tcp' })
  t.equal(h.denials().length, 0)
  t.equal(echo.connections(), 1)
})

t.test('CONNECT to a denied name: 403, decision header, exactly one signal with rule, reason, destination; never dialled', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'tcp' }] } })
  const a = await rawExchange(h.port, `CONNECT denied.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 403)
  t.equal(a.headers['x-hangar-decision'], 'denied; rule=default-deny; reason=no_matching_rule')
  await closed(a.socket)
  const d = h.denials()
  t.equal(d.length, 1)
  t.equal(d[0]!.type, 'egress_denied')
  t.equal(d[0]!.action, 'blocked')
  t.equal(d[0]!.rule, 'default-deny')
  t.match(d[0]!.reason, /no egress rule allows denied\.test/)
  t.same(d[0]!.destination, { host: 'denied.test', port: echo.port, protocol: 'tcp' })
  t.equal(echo.connections(), 0, 'the denied destination was never dialled')
  const m = await h.metrics.registry.getSingleMetricAsString('mcp_hangar_egress_requests_total')
  t.match(m, /decision="blocked"[^\n]* 1/)
})

t.test('wrong port for an allowed name → port_not_allowed with the rule that matched the host', async (t) => {
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: 443, protocol: 'https' }] } })
  const a = await rawExchange(h.port, 'CONNECT allowed.test:8443 HTTP/1.1\r\n\r\n')
  t.equal(a.status, 403)
  t.equal(a.headers['x-hangar-decision'], 'denied; rule=egress[0]; reason=port_not_allowed')
})

t.test('bypass catalog at the proxy: IP literals, non-canonical IPv4, mapped IPv6, 0.0.0.0, metadata, suffix confusion', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: '.allowed.test', port: 0, protocol: 'any' }] } }, {}, { 'evil-allowed.test': ['127.0.0.1'], 'allowed.test.evil.net': ['127.0.0.1'] })
  const p = echo.port
  const cases: Array<[string, string]> = [
    [`127.0.0.1:${p}`, 'reason=no_matching_rule'],
    [`2130706433:${p}`, 'reason=malformed_host'],
    [`0177.0.0.1:${p}`, 'reason=malformed_host'],
    [`0x7f.1:${p}`, 'reason=malformed_host'],
    [`127.1:${p}`, 'reason=malformed_host'],
    [`0x7f000001:${p}`, 'reason=malformed_host'],
    [`[::ffff:127.0.0.1]:${p}`, 'reason=no_matching_rule'],
    [`[::ffff:7f00:1]:${p}`, 'reason=no_matching_rule'],
    [`[::127.0.0.1]:${p}`, 'rule=always-denied:ipv4_compatible'],
    [`[64:ff9b::7f00:1]:${p}`, 'rule=always-denied:nat64'],
    [`[2002:7f00:1::]:${p}`, 'rule=always-denied:6to4'],
    [`0.0.0.0:${p}`, 'rule=always-denied:unspecified'],
    ['169.254.169.254:80', 'rule=always-denied:metadata'],
    ['[fd00:ec2::254]:80', 'rule=always-denied:metadata'],
    ['100.100.100.200:80', 'rule=always-denied:metadata'],
    [`evil-allowed.test:${p}`, 'reason=no_matching_rule'],
    [`allowed.test.evil.net:${p}`, 'reason=no_matching_rule'],
    [`allowed.test%2eevil.net:${p}`, 'reason=malformed_host'],
    [`xn--llowed-2nf.test:${p}`, 'reason=no_matching_rule'], // Cyrillic "а" homograph of allowed.test, as punycode
  ]
  for (const [target, want] of cases) {
    const a = await rawExchange(h.port, `CONNECT ${target} HTTP/1.1\r\n\r\n`)
    t.equal(a.status, 403, `${target} refused`)
    t.match(a.headers['x-hangar-decision'], want, `${target}: ${want}`)
    a.socket.destroy()
  }
  // Raw UTF-8 in a request-target is not valid HTTP: refused by the parser before any decision.
  const idn = await rawExchange(h.port, Buffer.from(`CONNECT аllowed.test:${p} HTTP/1.1\r\n\r\n`, 'utf8'))
  t.equal(idn.status, 400, 'raw UTF-8 homograph refused')
  t.equal(echo.connections(), 0, 'nothing was dialled')
  t.equal(h.denials().length, cases.length, 'one signal per denial')
})

t.test('case and trailing-dot variants of an allowed name are the same name', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'tcp' }] } })
  for (const name of ['ALLOWED.test', 'allowed.test.', 'Allowed.Test.']) {
    const a = await rawExchange(h.port, `CONNECT ${name}:${echo.port} HTTP/1.1\r\n\r\n`)
    t.equal(a.status, 200, name)
    a.socket.destroy()
  }
  t.equal(h.denials().length, 0)
})

t.test('DNS rebinding: an allowed name answering private or metadata addresses is refused before dialling', async (t) => {
  const h = await harness(t, { network: { loopback_allowed: false, egress: [{ host: 'rebind.test', port: 443, protocol: 'https' }, { host: 'meta.test', port: 443, protocol: 'https' }] } })
  const a = await rawExchange(h.port, 'CONNECT rebind.test:443 HTTP/1.1\r\n\r\n')
  t.equal(a.status, 403)
  t.match(a.headers['x-hangar-decision'], /reason=no_allowed_address/)
  t.match(a.body, /10\.0\.0\.1: a private range; 127\.0\.0\.1: a loopback address/)
  const b = await rawExchange(h.port, 'CONNECT meta.test:443 HTTP/1.1\r\n\r\n')
  t.equal(b.status, 403)
  t.match(b.headers['x-hangar-decision'], /rule=always-denied:metadata/)
  const meta = h.denials().find((s) => s.rule === 'always-denied:metadata')!
  t.equal(meta.severity, 'critical')
})

t.test('absolute-form HTTP: routed by the request-target, Host ignored and rewritten, hop-by-hop headers stripped', async (t) => {
  const up = await recordingHttpServer('allowed')
  t.teardown(() => close(up.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } })
  const req =
    `POST http://allowed.test:${up.port}/path?q=1 HTTP/1.1\r\nHost: denied.test\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s3cr3t\r\n` +
    `Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Keep: yes\r\nContent-Length: 5\r\n\r\nhello`
  const a = await rawExchange(h.port, req)
  t.equal(a.status, 200)
  t.equal(a.body, 'hello from allowed')
  t.notOk(a.headers['x-up-hop'], 'response field named by Connection removed')
  t.notOk(a.headers['proxy-authenticate'], 'Proxy-Authenticate removed')
  t.equal(a.headers['x-upstream'], 'allowed')
  const r = up.requests[0]!
  t.equal(r.url, '/path?q=1')
  t.equal(r.headers.host, `allowed.test:${up.port}`, 'Host comes from the request-target (RFC 9112 §3.2.2)')
  t.equal(r.body, 'hello')
  t.equal(r.headers['x-keep'], 'yes')
  for (const hop of ['x-secret', 'proxy-authorization', 'proxy-connection', 'keep-alive', 'te']) t.notOk(r.headers[hop], `${hop} stripped`)
  a.socket.destroy()
})

t.test('absolute-form HTTP to a denied host → 403 with the decision header; https:// and origin-form → 400', async (t) => {
  const up = await recordingHttpServer()
  t.teardown(() => close(up.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } })
  const a = await rawExchange(h.port, `GET http://denied.test:${up.port}/ HTTP/1.1\r\nHost: allowed.test:${up.port}\r\n\r\n`)
  t.equal(a.status, 403)
  t.equal(a.headers['x-hangar-decision'], 'denied; rule=default-deny; reason=no_matching_rule')
  const b = await rawExchange(h.port, 'GET https://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n')
  t.equal(b.status, 400)
  const c = await rawExchange(h.port, `GET / HTTP/1.1\r\nHost: allowed.test:${up.port}\r\n\r\n`)
  t.equal(c.status, 400, 'origin-form to the proxy is not a proxy request')
  const d = await rawExchange(h.port, `GET http://user:pw@allowed.test:${up.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.equal(d.status, 400, 'userinfo refused')
  t.equal(up.requests.length, 0)
  for (const x of [a, b, c, d]) x.socket.destroy()
})

t.test('Host differing from the CONNECT target inside the tunnel is refused before any byte reaches upstream', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'http' }] } })
  const a = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 200)
  a.socket.write(`GET / HTTP/1.1\r\nHost: denied.test\r\n\r\n`)
  await closed(a.socket)
  const d = await h.sink.waitFor((s) => s.type === 'egress_denied')
  t.equal(d.details?.code, 'host_mismatch')
  // The echo server saw the connection but no bytes came back: nothing was forwarded.
})

t.test('SNI differing from the CONNECT host is refused; matching SNI passes', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'https' }] } })
  const a = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 200)
  const tls = tlsConnect({ socket: a.socket, servername: 'denied.test', rejectUnauthorized: false })
  tls.on('error', () => {})
  await closed(tls)
  const d = await h.sink.waitFor((s) => s.type === 'egress_denied')
  t.equal(d.details?.code, 'sni_mismatch')
  t.match(d.reason, /SNI "denied\.test" differs/)

  const b = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(echo.bytes(), 0, 'no byte of the mismatching hello reached upstream')
  const tls2 = tlsConnect({ socket: b.socket, servername: 'allowed.test', rejectUnauthorized: false })
  tls2.on('error', () => {})
  // The echo server receives the ClientHello: the gate opened (the TLS handshake then fails against an echo, as expected).
  await closed(tls2)
  t.ok(echo.bytes() > 0, 'the matching hello reached upstream')
  t.equal(h.denials().length, 1, 'only the mismatching SNI was denied')
})

t.test('plain bytes in a tunnel to an https-only rule are refused (protocol_not_allowed)', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'https' }] } })
  const a = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  a.socket.write('SSH-2.0-OpenSSH_9.2\r\n')
  await closed(a.socket)
  const d = await h.sink.waitFor((s) => s.type === 'egress_denied')
  t.equal(d.details?.code, 'protocol_not_allowed')
})

t.test('limits: tunnel limit → 429 with Retry-After; oversized head → 431; slow head → 408; idle tunnel closed', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'tcp' }] } }, { max_tunnels: 2, max_header_bytes: 2048, header_timeout_ms: 300, idle_timeout_ms: 400 })
  const open1 = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  const open2 = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(open1.status, 200)
  t.equal(open2.status, 200)
  const third = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(third.status, 429)
  t.equal(third.headers['retry-after'], '1')
  // Idle tunnels are closed after idle_timeout_ms, which frees the slots.
  const started = Date.now()
  await Promise.all([closed(open1.socket, 3000), closed(open2.socket, 3000)])
  t.ok(Date.now() - started < 2500, 'idle tunnels closed by the idle timeout')
  t.equal(h.connector.active, 0)
  const again = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(again.status, 200, 'slot reused after close')
  again.socket.destroy()

  const big = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\nX-Pad: ${'a'.repeat(4096)}\r\n\r\n`)
  t.equal(big.status, 431)

  const slow = connect(h.port, '127.0.0.1')
  slow.write('CONNECT allowed.test:1 HTTP/1.1\r\nX-Slow: ')
  const got: Buffer[] = []
  slow.on('data', (b: Buffer) => got.push(b))
  await closed(slow, 3000)
  t.match(Buffer.concat(got).toString(), /^HTTP\/1\.1 408/, 'slowloris head answered 408 and closed')
})

t.test('conflicting Content-Length and Transfer-Encoding (request smuggling) → 400, nothing forwarded', async (t) => {
  const up = await recordingHttpServer()
  t.teardown(() => close(up.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } })
  const a = await rawExchange(h.port, `POST http://allowed.test:${up.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.equal(a.status, 400)
  t.equal(up.requests.length, 0)
  a.socket.destroy()
})

t.test('DNS failure → 502, DNS timeout → 504, refused upstream → 502', async (t) => {
  const echo = await echoServer()
  const deadPort = echo.port
  await close(echo.server) // nothing listens there any more
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'unknown.test', port: 443, protocol: 'https' }, { host: 'slow.test', port: 443, protocol: 'https' }, { host: 'allowed.test', port: 0, protocol: 'tcp' }] } })
  const a = await rawExchange(h.port, 'CONNECT unknown.test:443 HTTP/1.1\r\n\r\n')
  t.equal(a.status, 502)
  const b = await rawExchange(h.port, 'CONNECT slow.test:443 HTTP/1.1\r\n\r\n')
  t.equal(b.status, 504)
  const c = await rawExchange(h.port, `CONNECT allowed.test:${deadPort} HTTP/1.1\r\n\r\n`)
  t.equal(c.status, 502)
  t.equal(h.connector.active, 0, 'failed dials release their slot')
})

t.test('quarantine denies every CONNECT until released; quarantine mode quarantines on the first violation', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { enforcement_mode: 'quarantine', network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'tcp' }] } })
  const ok = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(ok.status, 200)
  ok.socket.destroy()
  const bad = await rawExchange(h.port, `CONNECT denied.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(bad.status, 403)
  t.ok(h.enforcement.state.quarantined, 'the violation quarantined the provider')
  t.ok(h.sink.signals.some((s) => s.type === 'quarantine_triggered' && s.kind === 'enforcement'))
  const after = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(after.status, 403)
  t.match(after.headers['x-hangar-decision'], /rule=quarantine; reason=quarantined/)
  h.enforcement.release('approved in test', 'test')
  const again = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(again.status, 200)
  again.socket.destroy()
  t.ok(h.sink.signals.some((s) => s.type === 'quarantine_released'))
})

t.test('alert mode lets a denied destination through with action alerted; hard denials stay denied', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { enforcement_mode: 'alert', network: { loopback_allowed: true, egress: [] } })
  const a = await rawExchange(h.port, `CONNECT denied.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 200)
  t.equal((await roundTrip(a.socket, 'x', 1)).toString(), 'x')
  a.socket.destroy()
  const s = h.denials()[0]!
  t.equal(s.type, 'egress_denied')
  t.equal(s.action, 'alerted')
  const b = await rawExchange(h.port, `CONNECT 0x7f.1:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(b.status, 403, 'malformed targets are denied even in alert mode')
  const c = await rawExchange(h.port, 'CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n')
  t.equal(c.status, 403, 'cloud metadata is denied even in alert mode')
})

t.test('CONNECT without a port, and garbage request lines → 400; the proxy keeps serving', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'tcp' }] } })
  const a = await rawExchange(h.port, 'CONNECT allowed.test HTTP/1.1\r\n\r\n')
  t.equal(a.status, 400)
  const b = await rawExchange(h.port, 'GARBAGE\x00\x01\r\n\r\n')
  t.equal(b.status, 400)
  const c = await rawExchange(h.port, `CONNECT allowed.test:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(c.status, 200)
  c.socket.destroy()
})

t.test('bypass catalog, absolute URIs: IP literals and non-canonical forms in http:// targets are refused before dialling', async (t) => {
  const up = await recordingHttpServer()
  t.teardown(() => close(up.server))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } })
  const cases: Array<[string, RegExp]> = [
    [`http://127.0.0.1:${up.port}/`, /reason=no_matching_rule/],
    [`http://2130706433:${up.port}/`, /reason=malformed_host/],
    [`http://0x7f.1:${up.port}/`, /reason=malformed_host/],
    [`http://[::ffff:127.0.0.1]:${up.port}/`, /reason=no_matching_rule/],
    ['http://169.254.169.254/latest/meta-data/', /rule=always-denied:metadata/],
    ['http://[fd00:ec2::254]/latest/meta-data/', /rule=always-denied:metadata/],
  ]
  for (const [url, want] of cases) {
    const a = await rawExchange(h.port, `GET ${url} HTTP/1.1\r\nHost: allowed.test:${up.port}\r\n\r\n`)
    t.equal(a.status, 403, url)
    t.match(a.headers['x-hangar-decision'], want, url)
    a.socket.destroy()
  }
  t.equal(up.requests.length, 0, 'nothing reached the upstream')
})

t.test('bypass catalog, DoH to an unlisted host: refused before any resolution', async (t) => {
  const h = await harness(t, { network: { egress: [{ host: 'allowed.test' }] } }, {}, {})
  for (const doh of ['dns.google:443', 'cloudflare-dns.com:443', 'mozilla.cloudflare-dns.com:443']) {
    const a = await rawExchange(h.port, `CONNECT ${doh} HTTP/1.1\r\n\r\n`)
    t.equal(a.status, 403, doh)
    a.socket.destroy()
  }
})

t.test('half-close: a client that shuts down its sending side still gets the whole answer', async (t) => {
  const { createServer } = await import('node:net')
  // Answers after the request is complete (EOF), like `nc -N` talking to a line service.
  const up = createServer({ allowHalfOpen: true }, (s) => {
    let got = ''
    s.on('data', (b: Buffer) => (got += b.toString()))
    s.on('end', () => setTimeout(() => s.end(`got ${got.length} bytes: ${got}`), 50))
  })
  const { listen } = await import('../helpers/net.js')
  const port = await listen(up)
  t.teardown(() => close(up))
  const h = await harness(t, { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port, protocol: 'tcp' }] } })
  const a = await rawExchange(h.port, `CONNECT allowed.test:${port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 200)
  let answerText = ''
  a.socket.on('data', (b: Buffer) => (answerText += b.toString()))
  a.socket.end('\x00request')
  await closed(a.socket)
  t.equal(answerText, 'got 8 bytes: \x00request')
})

t.test('max_connections: idle connections beyond the limit are closed at accept; the proxy recovers', async (t) => {
  const h = await harness(t, { network: { egress: [{ host: 'allowed.test' }] } }, { max_connections: 3, header_timeout_ms: 60000 })
  const idle = await Promise.all([0, 1, 2].map(() => new Promise<ReturnType<typeof connect>>((resolve) => {
    const s = connect(h.port, '127.0.0.1', () => resolve(s))
  })))
  await new Promise((r) => setTimeout(r, 100))
  const extra = connect(h.port, '127.0.0.1')
  extra.on('error', () => {})
  await closed(extra, 3000)
  t.ok(extra.destroyed, 'the fourth connection was closed by the sidecar')
  for (const s of idle) s.destroy()
  await new Promise((r) => setTimeout(r, 100))
  const a = await rawExchange(h.port, 'CONNECT denied.test:443 HTTP/1.1\r\n\r\n')
  t.equal(a.status, 403, 'served again once slots are free')
})
