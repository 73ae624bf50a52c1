/**
 * Plain-HTTP forwarding (egress/http-forward.ts) with real sockets on 127.0.0.1: hop-by-hop
 * headers (RFC 9110 §7.6.1, and those named by Connection) removed both ways with order and
 * duplicates kept, Host rebuilt from the checked target, refusals answered with the connector's
 * status and headers, upstream failures as 502, byte counts signalled on close; and the
 * forwarding server's answers to bad heads: 431 too large, 408 too slow, 400 malformed.
 */
import t from 'tap'
import { connect, createServer as createNetServer, type Socket } from 'node:net'
import { answer, createForwardingHttpServer, endToEndHeaders, forwardHttp, rawAnswer } from '../../egress/http-forward.js'
import { makeEgressContext, type TestEgress } from '../helpers/egress-context.js'
import { close, closed, listen, rawExchange, recordingHttpServer, staticResolver } from '../helpers/net.js'

type Tap = { teardown(fn: () => unknown): void }

t.test('endToEndHeaders: drops hop-by-hop fields and those Connection names (any case); keeps order and duplicates', async (t) => {
  const raw = [
    'Host', 'a.test', 'Connection', 'keep-alive, X-Secret-Hop ,Upgrade', 'X-Secret-Hop', 's', 'Accept', 'a', 'Keep-Alive', 'timeout=5',
    'Proxy-Authorization', 'Basic Zm9vOmJhcg==', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Proxy-Connection', 'x',
    'Set-Cookie', 'b=2', 'Trailer', 'X', 'Proxy-Authenticate', 'Basic', 'Upgrade', 'websocket', 'x-secret-HOP', 'again', 'Accept', 'b',
  ]
  t.same(endToEndHeaders(raw), ['Accept', 'a', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Accept', 'b'])
  t.same(endToEndHeaders(['Content-Type', 'text/plain', 'X-Custom', '1']), ['Content-Type', 'text/plain', 'X-Custom', '1'], 'control: end-to-end fields untouched')
  t.same(endToEndHeaders([]), [])
})

/** A forwarding server whose handler forwards to `target(req)` through the connector. */
async function proxy(t: Tap, h: TestEgress, target: (url: string) => { host: string; port: number; path: string }) {
  const server = createForwardingHttpServer(h.ctx.limits)
  server.on('request', (req, res) => void forwardHttp(h.connector, req, res, target(req.url ?? '/'), 'http_proxy', req.socket.remoteAddress))
  const port = await listen(server)
  t.teardown(() => close(server))
  return port
}

t.test('forwardHttp: request and answer stripped of hop-by-hop fields; Host is the checked target; body streamed; closed signalled', async (t) => {
  const up = await recordingHttpServer('up')
  t.teardown(() => close(up.server))
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } }, dns: { 'allowed.test': ['127.0.0.1'] } })
  const port = await proxy(t, h, (url) => ({ host: 'ALLOWED.test', port: up.port, path: url }))
  const a = await rawExchange(port, 'POST /p?q=1 HTTP/1.1\r\nHost: forged.example\r\nConnection: X-Hop\r\nX-Hop: v\r\nProxy-Authorization: Basic eA==\r\nX-Keep: k\r\nContent-Length: 5\r\n\r\nhello')
  t.equal(a.status, 200)
  t.equal(a.body, 'hello from up')
  t.equal(a.headers['x-upstream'], 'up', 'end-to-end answer fields pass')
  t.notOk(a.headers['x-up-hop'], 'a field the upstream named in Connection is removed')
  t.notOk(a.headers['proxy-authenticate'])
  const r = up.requests[0]!
  t.equal(r.method, 'POST')
  t.equal(r.url, '/p?q=1')
  t.equal(r.body, 'hello')
  t.equal(r.headers.host, `allowed.test:${up.port}`, 'Host generated from the normalised target, the received one ignored')
  t.equal(r.headers['x-keep'], 'k')
  t.notOk(r.headers['x-hop'] ?? r.headers['proxy-authorization'], 'hop-by-hop request fields removed')
  t.equal(r.headers.connection, 'close', 'one upstream connection per request')
  a.socket.destroy()
  const c = await h.sink.waitFor((s) => s.type === 'egress_closed')
  t.ok((c.details?.bytes_up as number) > 5 && (c.details?.bytes_down as number) > 13, 'byte counts of the upstream connection')
  t.equal(h.connector.active, 0, 'the tunnel slot is released')
})

t.test('forwardHttp: Host brackets an IPv6 target and keeps a non-80 port', async (t) => {
  const up = await recordingHttpServer('v6')
  await new Promise<void>((r) => up.server.close(() => r()))
  const v6port = await listen(up.server, '::1')
  t.teardown(() => close(up.server))
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: '::1', port: v6port, protocol: 'http' }] } } })
  const port = await proxy(t, h, () => ({ host: '::1', port: v6port, path: '/' }))
  const a = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(a.status, 200)
  t.equal(up.requests[0]!.headers.host, `[::1]:${v6port}`)
  a.socket.destroy()
})

t.test('forwardHttp: a denied target gets 403 with X-Hangar-Decision, never reaches upstream; a dead upstream is 502', async (t) => {
  const up = await recordingHttpServer('up')
  t.teardown(() => close(up.server))
  const dead = createNetServer()
  const deadPort = await listen(dead)
  await close(dead)
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }, { host: 'dead.test', port: deadPort, protocol: 'http' }] } }, dns: { 'allowed.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'], 'dead.test': ['127.0.0.1'] } })
  const port = await proxy(t, h, (url) => (url === '/dead' ? { host: 'dead.test', port: deadPort, path: '/' } : url === '/ok' ? { host: 'allowed.test', port: up.port, path: '/' } : { host: 'other.test', port: up.port, path: '/' }))
  const denied = await rawExchange(port, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')
  t.equal(denied.status, 403)
  t.equal(denied.headers['x-hangar-decision'], 'denied; rule=default-deny; reason=no_matching_rule')
  t.equal(denied.headers.connection, 'close')
  t.match(denied.body, /no egress rule allows other\.test/)
  t.equal(up.requests.length, 0)
  const bad = await rawExchange(port, 'GET /dead HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(bad.status, 502)
  const ok = await rawExchange(port, 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(ok.status, 200, 'control: the allowed target is forwarded')
  for (const s of [denied.socket, bad.socket, ok.socket]) s.destroy()
})

t.test('forwardHttp: an upstream that closes without answering is 502 naming the authority', async (t) => {
  const rude = createNetServer((s) => s.once('data', () => s.destroy()))
  const rport = await listen(rude)
  t.teardown(() => close(rude))
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: 'rude.test', port: rport, protocol: 'http' }] } }, dns: { 'rude.test': ['127.0.0.1'] } })
  const port = await proxy(t, h, () => ({ host: 'rude.test', port: rport, path: '/' }))
  const a = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(a.status, 502)
  t.match(a.body, `upstream rude.test:${rport} failed`)
  a.socket.destroy()
})

// A client that goes away while the request is decided, resolved or dialled has already closed
// its response; the upstream socket and its tunnel slot (limits.max_tunnels) must be released at
// once, not at limits.idle_timeout_ms (default 300 s), or abandoned requests fill the tunnel limit.
t.test('forwardHttp: a client gone during the DNS lookup releases the upstream and its slot at once', async (t) => {
  const up = await recordingHttpServer('up')
  t.teardown(() => close(up.server))
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } }, resolver: staticResolver({ 'allowed.test': ['127.0.0.1'] }, { delayMs: 200 }) })
  const port = await proxy(t, h, () => ({ host: 'allowed.test', port: up.port, path: '/' }))
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((r) => setTimeout(r, 50))
  s.destroy()
  await new Promise((r) => setTimeout(r, 600))
  t.equal(h.connector.active, 0, 'no tunnel slot held for a client that is gone')
})

t.test('control for the test above: a client that stays through the slow lookup gets its answer and the slot is freed', async (t) => {
  const up = await recordingHttpServer('up')
  t.teardown(() => close(up.server))
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: up.port, protocol: 'http' }] } }, resolver: staticResolver({ 'allowed.test': ['127.0.0.1'] }, { delayMs: 200 }) })
  const port = await proxy(t, h, () => ({ host: 'allowed.test', port: up.port, path: '/' }))
  const a = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(a.status, 200)
  a.socket.destroy()
  await h.sink.waitFor((x) => x.type === 'egress_closed')
  t.equal(h.connector.active, 0)
})

t.test('the forwarding server: 431 past max_header_bytes, 408 for a slow head, 400 for a malformed one', async (t) => {
  const limits = makeEgressContext({ capabilities: {}, limits: { max_header_bytes: 1024, header_timeout_ms: 300 } }).ctx.limits
  const server = createForwardingHttpServer(limits)
  let handled = 0
  server.on('request', (_req, res) => {
    handled++
    res.end('ok')
  })
  const port = await listen(server)
  t.teardown(() => close(server))
  const big = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(2000)}\r\n\r\n`)
  t.equal(big.status, 431)
  t.equal(big.body, 'request head too large\n')
  const fits = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(500)}\r\n\r\n`)
  t.equal(fits.status, 200, 'control: a head under the limit is served')
  const malformed = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')
  t.equal(malformed.status, 400)
  t.match(malformed.body, /^malformed request \(HPE_/)
  const started = Date.now()
  const slow = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n', '127.0.0.1', 5000)
  t.equal(slow.status, 408)
  t.ok(Date.now() - started >= 250, 'after header_timeout_ms')
  t.equal(handled, 1)
  for (const s of [big.socket, fits.socket, malformed.socket, slow.socket]) s.destroy()
})

t.test('rawAnswer: a minimal HTTP/1.1 answer with extra headers (CR/LF neutralised), then close; answer() on a live response', async (t) => {
  const server = createNetServer((s: Socket) => rawAnswer(s, 429, 'slow down', { 'Retry-After': '1', 'X-Evil': 'a\r\nSet-Cookie: x=1' }))
  const port = await listen(server)
  t.teardown(() => close(server))
  const got = await new Promise<string>((resolve) => {
    const c = connect(port, '127.0.0.1')
    let buf = ''
    c.on('data', (b: Buffer) => (buf += b.toString()))
    c.on('close', () => resolve(buf))
  })
  t.equal(got, 'HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\nConnection: close\r\nRetry-After: 1\r\nX-Evil: a  Set-Cookie: x=1\r\n\r\nslow down\n')
  const unknown = createNetServer((s: Socket) => rawAnswer(s, 418, 'x'))
  const uport = await listen(unknown)
  t.teardown(() => close(unknown))
  const u = await rawExchange(uport, 'x')
  t.equal(u.status, 418)
  await closed(u.socket)

  const { createServer } = await import('node:http')
  const hs = createServer((_req, res) => answer(res, 504, 'gateway timeout', { 'X-Hangar-Decision': 'd' }))
  const hport = await listen(hs)
  t.teardown(() => close(hs))
  const a = await rawExchange(hport, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(a, { status: 504, body: 'gateway timeout\n', headers: { 'x-hangar-decision': 'd', connection: 'close', 'content-type': 'text/plain; charset=utf-8' } })
  a.socket.destroy()
})
