/**
 * CORS at the real MCP ingress: a browser client on an allowed origin can preflight, call and
 * read the session id, in stdio and remote mode; foreign origins get nothing; a provider's own
 * CORS headers (server-everything answers `*`) are not passed through.
 */
import t from 'tap'
import { FIXTURE, startEverythingHttp, startSidecar } from '../../helpers/mcp.js'

const ACCEPT = 'application/json, text/event-stream'
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })
const APP = 'http://localhost:6274'

const options = (url: URL, headers: Record<string, string>) => fetch(url, { method: 'OPTIONS', headers })
const init = (url: URL, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers }, body: INIT })

t.test('stdio provider with bearer tokens: preflight before auth, CORS on answers to allowed origins only', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [process.execPath, FIXTURE], ingress: { auth_tokens: ['s3cret-token'] } })
  t.teardown(() => rig.stop())

  const pre = await options(rig.url, { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' })
  t.equal(pre.status, 204, 'the preflight needs no token (browsers send none)')
  t.equal(pre.headers.get('access-control-allow-origin'), APP)
  t.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST, DELETE')
  t.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type, mcp-protocol-version')

  const evil = await options(rig.url, { origin: 'http://evil.example', 'access-control-request-method': 'POST' })
  t.equal(evil.status, 403, 'a foreign origin is refused before CORS')
  t.equal(evil.headers.get('access-control-allow-origin'), null)

  const noOrigin = await options(rig.url, { authorization: 'Bearer s3cret-token' })
  t.equal(noOrigin.status, 405, 'OPTIONS that is not a preflight: method not allowed, as before')

  const unauth = await init(rig.url, { origin: APP })
  t.equal(unauth.status, 401)
  t.equal(unauth.headers.get('access-control-allow-origin'), APP, 'the browser may read the 401 and its challenge')
  t.match(unauth.headers.get('access-control-expose-headers'), /WWW-Authenticate/)
  await unauth.body?.cancel()

  const ok = await init(rig.url, { origin: APP, authorization: 'Bearer s3cret-token' })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('access-control-allow-origin'), APP)
  t.match(ok.headers.get('access-control-expose-headers'), /Mcp-Session-Id/, 'the session id is exposed to the page')
  t.ok(ok.headers.get('mcp-session-id'), 'and present')
  await ok.body?.cancel()

  const plain = await init(rig.url, { authorization: 'Bearer s3cret-token' })
  t.equal(plain.status, 200)
  t.equal(plain.headers.get('access-control-allow-origin'), null, 'no Origin (not a browser): no CORS headers')
  await plain.body?.cancel()
})

t.test('remote provider: the sidecar answers CORS itself; the provider’s `*` is not passed through', async (t) => {
  const everything = await startEverythingHttp()
  t.teardown(() => everything.stop())
  const rig = await startSidecar('everything', { mode: 'remote', endpoint: `http://127.0.0.1:${everything.port}/mcp` })
  t.teardown(() => rig.stop())

  const direct = await init(new URL(`http://127.0.0.1:${everything.port}/mcp`))
  t.equal(direct.headers.get('access-control-allow-origin'), '*', 'precondition: server-everything allows every origin')
  await direct.body?.cancel()

  const plain = await init(rig.url)
  t.equal(plain.status, 200)
  t.equal(plain.headers.get('access-control-allow-origin'), null, 'through the sidecar, no Origin: no CORS headers')
  await plain.body?.cancel()

  const fromApp = await init(rig.url, { origin: APP })
  t.equal(fromApp.status, 200)
  t.equal(fromApp.headers.get('access-control-allow-origin'), APP, 'an allowed origin is echoed, never *')
  t.ok(fromApp.headers.get('mcp-session-id'), 'the provider session id passes')
  await fromApp.body?.cancel()

  const pre = await options(rig.url, { origin: APP, 'access-control-request-method': 'DELETE' })
  t.equal(pre.status, 204, 'the sidecar answers the preflight itself')
})
