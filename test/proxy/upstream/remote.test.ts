/**
 * RemoteUpstream (proxy/upstream/remote.ts) against a real HTTP server on 127.0.0.1: only the
 * listed request headers reach the provider (Authorization only when forwarding is on; cookies,
 * hop-by-hop and proxy fields never), the endpoint's path and query are used, only the listed
 * response headers come back (repeated ones joined), bodies and methods pass, connections are
 * kept alive, a Cancel aborts, and connect failures and header timeouts throw.
 */
import t from 'tap'
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { Cancel } from '../../../proxy/upstream/cancel.js'
import { RemoteUpstream, RESPONSE_HEADERS } from '../../../proxy/upstream/remote.js'
import { close, listen } from '../../helpers/net.js'

type Tap = { teardown(fn: () => unknown): void }
interface Seen { method: string; url: string; headers: IncomingHttpHeaders; body: string; socket: unknown }

async function provider(t: Tap, handler?: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (b: Buffer) => (body += b.toString()))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, socket: req.socket })
      if (handler) return handler(req, res)
      res.setHeader('Content-Type', 'application/json')
      res.setHeader('Mcp-Session-Id', 'sess-up')
      res.setHeader('Set-Cookie', ['a=1', 'b=2'])
      res.setHeader('X-Internal', 'secret')
      res.setHeader('WWW-Authenticate', 'Bearer realm="up"')
      res.setHeader('Allow', ['GET', 'POST'])
      res.end(JSON.stringify({ ok: body }))
    })
  })
  const port = await listen(server)
  t.teardown(() => close(server))
  return { port, seen }
}

const upstream = (t: Tap, url: string, forwardAuthorization: boolean, extra: Partial<ConstructorParameters<typeof RemoteUpstream>[0]> = {}) => {
  const u = new RemoteUpstream({ endpoint: url, forwardAuthorization, ...extra })
  t.teardown(() => u.close())
  return u
}

const CLIENT: IncomingHttpHeaders = {
  'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 's1', 'mcp-protocol-version': '2025-06-18',
  'last-event-id': '7', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v', 'user-agent': 'ua',
  authorization: 'Bearer client-token', cookie: 'session=1', 'proxy-authorization': 'Basic x', connection: 'keep-alive, x-hop', 'x-hop': 'h', host: 'sidecar:8080', 'x-forwarded-for': '1.2.3.4',
}

t.test('headersFor: the listed MCP headers only; Authorization only when forwarding; extra headers win', async (t) => {
  const u = new RemoteUpstream({ endpoint: 'http://127.0.0.1:1/mcp', forwardAuthorization: false })
  t.same(Object.keys(u.headersFor(CLIENT)).sort(), ['accept', 'content-type', 'last-event-id', 'mcp-protocol-version', 'mcp-session-id', 'traceparent', 'tracestate', 'user-agent'])
  const fwd = new RemoteUpstream({ endpoint: 'http://127.0.0.1:1/mcp', forwardAuthorization: true })
  t.equal(fwd.headersFor(CLIENT).authorization, 'Bearer client-token', 'control: forwarded when the ingress does not authenticate')
  t.equal(u.headersFor(CLIENT, { traceparent: 'new', 'content-length': '5' }).traceparent, 'new')
  t.same(u.headersFor({ 'user-agent': ['a', 'b'] as unknown as string }), {}, 'a repeated (array) header is not forwarded')
  await u.close()
  await fwd.close()
})

t.test('request: path and query of the endpoint, body and method pass; only the listed response headers come back', async (t) => {
  const p = await provider(t)
  const u = upstream(t, `http://127.0.0.1:${p.port}/v1/mcp?tenant=a`, false)
  const r = await u.request('POST', u.headersFor(CLIENT), '{"jsonrpc":"2.0"}')
  t.equal(r.status, 200)
  t.same(JSON.parse(await r.body.text()), { ok: '{"jsonrpc":"2.0"}' })
  t.same(r.headers, { 'content-type': 'application/json', 'mcp-session-id': 'sess-up', 'www-authenticate': 'Bearer realm="up"', allow: 'GET, POST' })
  t.notOk('set-cookie' in r.headers || 'x-internal' in r.headers, 'cookies and other provider headers stay behind')
  const s = p.seen[0]!
  t.equal(s.url, '/v1/mcp?tenant=a')
  t.equal(s.method, 'POST')
  t.notOk(s.headers.authorization ?? s.headers.cookie ?? s.headers['proxy-authorization'] ?? s.headers['x-hop'] ?? s.headers['x-forwarded-for'], 'nothing unlisted reached the provider')
  t.equal(s.headers.host, `127.0.0.1:${p.port}`, 'Host is the provider\'s, not the client\'s')
  t.equal(s.headers['mcp-session-id'], 's1')
  for (const m of ['GET', 'DELETE'] as const) {
    const x = await u.request(m, {}, undefined)
    await x.body.dump()
  }
  t.same(p.seen.map((x) => x.method), ['POST', 'GET', 'DELETE'])
  t.ok(RESPONSE_HEADERS.includes('retry-after'))
})

t.test('connections are kept alive across requests', async (t) => {
  const p = await provider(t)
  const u = upstream(t, `http://127.0.0.1:${p.port}/mcp`, false)
  for (let i = 0; i < 5; i++) await (await u.request('POST', {}, 'x')).body.text()
  t.equal(p.seen.length, 5)
  const conns = new Set(p.seen.map((s) => s.socket)).size
  t.ok(conns <= 2, `five sequential requests over ${conns} connection(s): reused, not one per request`)
})

t.test('a Cancel aborts a request in flight', async (t) => {
  const p = await provider(t, () => {})
  const u = upstream(t, `http://127.0.0.1:${p.port}/mcp`, false)
  const c = new Cancel()
  const pending = u.request('POST', {}, 'x', c)
  setTimeout(() => c.abort(), 50)
  await t.rejects(pending, { name: 'AbortError' })
})

t.test('failures throw: connection refused, and no response head within headersTimeoutMs', async (t) => {
  const dead = createServer()
  const port = await listen(dead)
  await close(dead)
  const u = upstream(t, `http://127.0.0.1:${port}/mcp`, false)
  await t.rejects(u.request('POST', {}, 'x'), { code: 'ECONNREFUSED' })
  const slow = await provider(t, () => {})
  const u2 = upstream(t, `http://127.0.0.1:${slow.port}/mcp`, false, { headersTimeoutMs: 100 })
  const started = Date.now()
  await t.rejects(u2.request('POST', {}, 'x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
  t.ok(Date.now() - started < 2000)
})
