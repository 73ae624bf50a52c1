// Response writers (core/http/respond.ts) on a real server: JSON-RPC error bodies with id null,
// exact Content-Length for non-ASCII text, 202 without a body, refusal headers.
import { createServer, type ServerResponse } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { accepted, httpError, json, jsonText, refusal, refuse, TRANSPORT_ERROR } from '../../../core/http/respond.js'
import { RPC } from '../../../proxy/types.js'
import { close, listen } from '../../helpers/net.js'

async function serveOnce(t: { teardown(fn: () => unknown): void }, write: (res: ServerResponse) => void) {
  const server = createServer((_req, res) => write(res))
  const port = await listen(server)
  t.teardown(() => close(server))
  return request(`http://127.0.0.1:${port}/mcp`)
}

t.test('httpError: status, JSON-RPC error body with id null, Content-Length, extra headers', async (t) => {
  const res = await serveOnce(t, (r) => httpError(r, 404, RPC.INVALID_REQUEST, 'Session not found: ☃', { 'Mcp-Thing': 'x' }))
  t.equal(res.statusCode, 404)
  t.equal(res.headers['content-type'], 'application/json')
  t.equal(res.headers['mcp-thing'], 'x')
  const text = await res.body.text()
  t.equal(Number(res.headers['content-length']), Buffer.byteLength(text))
  t.strictSame(JSON.parse(text), { jsonrpc: '2.0', error: { code: -32600, message: 'Session not found: ☃' }, id: null })
  t.equal(res.headers['transfer-encoding'], undefined)
})

t.test('httpError after the head was sent only ends the response', async (t) => {
  const res = await serveOnce(t, (r) => {
    r.writeHead(200, { 'content-type': 'text/event-stream' })
    r.write('data: x\n\n')
    httpError(r, 500, RPC.INTERNAL_ERROR, 'late')
    httpError(r, 500, RPC.INTERNAL_ERROR, 'twice is harmless')
  })
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), 'data: x\n\n')
})

t.test('refuse writes a Refusal with its headers', async (t) => {
  const r = refusal(401, 'auth', 'Unauthorized', { 'WWW-Authenticate': 'Bearer realm="mcp-hangar"' })
  t.ok(Object.isFrozen(r))
  t.equal(r.code, TRANSPORT_ERROR)
  const res = await serveOnce(t, (w) => refuse(w, r))
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="mcp-hangar"')
  t.strictSame(await res.body.json(), { jsonrpc: '2.0', error: { code: -32000, message: 'Unauthorized' }, id: null })
})

t.test('accepted: 202, no body, Content-Length 0, optional headers', async (t) => {
  const res = await serveOnce(t, (w) => accepted(w, { 'Mcp-Session-Id': 's1' }))
  t.equal(res.statusCode, 202)
  t.equal(res.headers['content-length'], '0')
  t.equal(res.headers['mcp-session-id'], 's1')
  t.equal(await res.body.text(), '')
  const plain = await serveOnce(t, (w) => accepted(w))
  t.equal(plain.statusCode, 202)
  t.equal(plain.headers['content-length'], '0')
  await plain.body.text()
})

t.test('json and jsonText: byte-exact Content-Length, caller headers override case-insensitively', async (t) => {
  const body = { jsonrpc: '2.0', id: 1, result: { text: 'naïve ☃ 😀' } }
  const res = await serveOnce(t, (w) => json(w, 200, body, { 'Mcp-Session-Id': 'abc', 'Content-Type': 'application/json; charset=utf-8' }))
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(res.headers['mcp-session-id'], 'abc')
  const text = await res.body.text()
  t.equal(Number(res.headers['content-length']), Buffer.byteLength(JSON.stringify(body)))
  t.strictSame(JSON.parse(text), body)
  const raw = await serveOnce(t, (w) => jsonText(w, 200, '[1,2]'))
  t.equal(raw.headers['content-length'], '5')
  t.equal(await raw.body.text(), '[1,2]')
})
