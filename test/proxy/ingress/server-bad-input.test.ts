/**
 * Bad input at the MCP ingress, through the real listener in front of a real stdio provider:
 * every refusal is a proper HTTP status with a JSON-RPC error body, and the sidecar keeps
 * serving valid clients afterwards.
 */
import t from 'tap'
import { rawExchange } from '../../helpers/net.js'
import { connectClient, FIXTURE, startSidecar, textOf } from '../../helpers/mcp.js'

const ACCEPT = 'application/json, text/event-stream'
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })

t.test('malformed requests get HTTP and JSON-RPC errors; the sidecar stays up', async (t) => {
  const rig = await startSidecar('fixture', {
    mode: 'subprocess',
    command: [process.execPath, FIXTURE],
    ingress: { auth_tokens: ['s3cret-token'], max_body_bytes: 1024 * 1024 },
  })
  t.teardown(() => rig.stop())
  const auth = { authorization: 'Bearer s3cret-token' }
  const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(rig.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT, ...auth, ...headers }, body })
  const errorOf = async (r: Response) => ((await r.json()) as { error: { code: number; message: string }; id: unknown }).error

  await t.test('authentication', async (t) => {
    const r = await fetch(rig.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT }, body: INIT })
    t.equal(r.status, 401)
    t.match(r.headers.get('www-authenticate'), /^Bearer/)
    const w = await post(INIT, { authorization: 'Bearer wrong' })
    t.equal(w.status, 401)
    t.match(w.headers.get('www-authenticate'), /invalid_token/)
  })

  await t.test('Origin from another site (DNS rebinding) → 403', async (t) => {
    const r = await post(INIT, { origin: 'http://evil.example' })
    t.equal(r.status, 403)
    t.type((await errorOf(r)).code, 'number')
    const ok = await post(INIT, { origin: 'http://localhost:6274' })
    t.equal(ok.status, 200, 'a loopback origin is accepted by default')
    await ok.body?.cancel()
  })

  await t.test('method, media types, headers', async (t) => {
    t.equal((await fetch(rig.url, { method: 'PUT', headers: auth })).status, 405)
    t.equal((await post(INIT, { accept: 'application/json' })).status, 406, 'POST must accept both JSON and SSE')
    t.equal((await post(INIT, { 'content-type': 'text/plain' })).status, 415)
    t.equal((await post(INIT, { 'mcp-protocol-version': '1999-01-01' })).status, 400)
    t.equal((await post(INIT, { 'mcp-session-id': 'bad id with spaces' })).status, 400)
    t.equal((await fetch(new URL('/other', rig.url), { headers: auth })).status, 404)
  })

  await t.test('bodies', async (t) => {
    const big = await post(Buffer.alloc(10 * 1024 * 1024, 0x20))
    t.equal(big.status, 413, '10 MB body → 413')
    const bad = await post('{"jsonrpc": "2.0", "id": 1, "method": ')
    t.equal(bad.status, 400)
    t.equal((await errorOf(bad)).code, -32700, 'malformed JSON → parse error')
    const deep = await post('['.repeat(400_000) + ']'.repeat(400_000))
    t.equal(deep.status, 400, '400,000 nested arrays → refused, not a stack overflow')
    t.equal((await errorOf(deep)).code, -32700)
    const shape = await post(JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'ping' }))
    t.equal(shape.status, 400)
    t.equal((await errorOf(shape)).code, -32600, 'wrong JSON-RPC version → invalid request')
    for (const body of ['[]', '42', '"x"', 'null', JSON.stringify({ jsonrpc: '2.0', id: null, method: 'x' }), JSON.stringify({ jsonrpc: '2.0', id: 1, method: 7 })]) {
      const r = await post(body)
      t.equal(r.status, 400, `${body} → 400`)
      t.equal((await errorOf(r)).code, -32600, `${body} → -32600`)
    }
    const noSession = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }))
    t.equal(noSession.status, 400, 'a request other than initialize needs a session')
    const unknown = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), { 'mcp-session-id': 'no-such-session' })
    t.equal(unknown.status, 404, 'an unknown session → 404 (spec: the client must initialize again)')
  })

  await t.test('conflicting Content-Length and Transfer-Encoding (request smuggling) → 400', async (t) => {
    const raw =
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret-token\r\nContent-Type: application/json\r\nAccept: ${ACCEPT}\r\n` +
      'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    const r = await rawExchange(Number(rig.url.port), raw)
    t.equal(r.status, 400)
    r.socket.destroy()
  })

  await t.test('after all that, a real client still works', async (t) => {
    const client = await connectClient(rig.url, { headers: auth })
    t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still up' } })), 'still up')
    await client.close()
  })
})
