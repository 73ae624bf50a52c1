/**
 * StdioBackend (proxy/ingress/stdio-backend.ts) behind the real MCP ingress on 127.0.0.1, over
 * real stdio child processes (the fixture MCP server) and a real Inspector: clientVersion's
 * negotiation; the session rules (initialize alone and without a session id, 400 without a
 * session, 404 for an unknown or deleted one); initialize answered from the provider's own
 * result with the client's version; POST answers as SSE (with a priming event only from
 * 2025-11-25), 202 for notifications only, refused calls answered by the sidecar; one GET stream
 * per session; an unknown Last-Event-ID refused; request_timeout_ms; a client cancellation
 * closing its stream; per_session mode: one process per session, max_sessions, stopped on DELETE.
 */
import t from 'tap'
import { silentLogger } from '../../../core/log.js'
import { ingressSchema } from '../../../config/schema.js'
import { IngressServer } from '../../../proxy/ingress/server.js'
import { clientVersion, StdioBackend, type StdioBackendOptions } from '../../../proxy/ingress/stdio-backend.js'
import { RPC, SUPPORTED_PROTOCOL_VERSIONS } from '../../../proxy/types.js'
import { harness } from '../inspect/harness.js'
import { testProvider, waitUntil } from '../../fixtures/mcp/harness.js'

type Tap = Parameters<typeof harness>[0]

t.test('clientVersion: the asked version when the ingress speaks it and the provider is not older; else the provider\'s', async (t) => {
  t.equal(clientVersion('2025-06-18', '2025-11-25'), '2025-06-18')
  t.equal(clientVersion('2025-11-25', '2025-11-25'), '2025-11-25')
  t.equal(clientVersion('2025-11-25', '2025-06-18'), '2025-06-18', 'newer than the provider: the provider\'s')
  t.equal(clientVersion('2024-11-05', '2025-11-25'), '2025-11-25', 'a version the ingress does not speak: the provider\'s')
  t.equal(clientVersion('garbage', '2025-03-26'), '2025-03-26')
  for (const v of SUPPORTED_PROTOCOL_VERSIONS) t.equal(clientVersion(v, '2099-01-01'), v, `${v} is honoured`)
})

interface Rig { url: string; backend: StdioBackend; created: () => number }

async function rig(t: Tap, over: Partial<StdioBackendOptions> = {}, caps: Record<string, unknown> = { tools: { deny_list: ['crash'] } }): Promise<Rig> {
  const h = harness(t, caps)
  let created = 0
  const backend = new StdioBackend({
    provider: 'fixture',
    sessionMode: 'shared',
    maxSessions: 4,
    createProvider: (init) => {
      created++
      return testProvider({ initialize: init ?? { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sidecar', version: '0' } } })
    },
    inspector: h.inspector,
    log: silentLogger(),
    requestTimeoutMs: 5000,
    replayEvents: 100,
    keepaliveMs: 60_000,
    ...over,
  })
  const ingress = new IngressServer({ provider: 'fixture', ingress: ingressSchema.parse({}), backend, log: silentLogger() })
  const port = await ingress.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await ingress.close()
    await backend.close()
  })
  return { url: `http://127.0.0.1:${port}/mcp`, backend, created: () => created }
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

async function post(url: string, body: unknown, sid?: string, version = '2025-06-18'): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-protocol-version': version, ...(sid && { 'mcp-session-id': sid }) }, body: JSON.stringify(body) })
}

/** The SSE events of a finished response body. */
function events(text: string): Array<{ id?: string; data: string; retry?: string }> {
  return text.split('\n\n').filter((b) => b.trim() && !b.startsWith(':')).map((block) => {
    const e: { id?: string; data: string; retry?: string } = { data: '' }
    for (const line of block.split('\n')) {
      const i = line.indexOf(':')
      const k = line.slice(0, i)
      const v = line.slice(i + 1).replace(/^ /, '')
      if (k === 'id') e.id = v
      else if (k === 'data') e.data += v
      else if (k === 'retry') e.retry = v
    }
    return e
  })
}

const init = (version = '2025-06-18', id = 1) => ({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'c', version: '1' } } })
const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } })

async function session(r: Rig, version = '2025-06-18'): Promise<string> {
  const res = await post(r.url, init(version), undefined, version)
  const sid = res.headers.get('mcp-session-id')
  await res.text()
  if (!sid) throw new Error(`no session (${res.status})`)
  await (await post(r.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sid, version)).text()
  return sid
}

t.test('session rules: initialize alone and without a session id; other requests need a live session', async (t) => {
  const r = await rig(t)
  const batch = await post(r.url, [init(), { jsonrpc: '2.0', method: 'notifications/initialized' }])
  t.equal(batch.status, 400)
  t.match(await batch.json(), { error: { code: RPC.INVALID_REQUEST, message: 'initialize must be sent alone, not in a batch' } })
  const withSid = await post(r.url, init(), 'some-session')
  t.equal(withSid.status, 400)
  t.match(await withSid.json(), { error: { message: 'initialize must not carry an Mcp-Session-Id' } })
  const noSid = await post(r.url, call(2, 'echo', { text: 'x' }))
  t.equal(noSid.status, 400)
  t.match(await noSid.json(), { error: { message: /Mcp-Session-Id header is required/ } })
  const unknown = await post(r.url, call(2, 'echo', { text: 'x' }), 'not-a-session')
  t.equal(unknown.status, 404)
  await unknown.text()
  const sid = await session(r)
  t.match(sid, /^[0-9a-f-]{36}$/, 'a UUID issued by the sidecar')
  t.equal(r.backend.sessions, 1)
  const del = await fetch(r.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } })
  t.equal(del.status, 200)
  t.equal(r.backend.sessions, 0)
  const after = await post(r.url, call(3, 'echo', { text: 'x' }), sid)
  t.equal(after.status, 404, 'a deleted session is gone')
  await after.text()
})

t.test('initialize: the provider\'s own result with the client\'s version; one shared process for every session', async (t) => {
  const r = await rig(t)
  const res = await post(r.url, init('2025-06-18'))
  t.equal(res.status, 200)
  const body = await res.json() as { result: { protocolVersion: string; serverInfo: { name: string }; capabilities: Record<string, unknown> } }
  t.equal(body.result.protocolVersion, '2025-06-18', 'the asked version, though the sidecar negotiated 2025-11-25 with the provider')
  t.ok(body.result.serverInfo.name, 'the provider\'s serverInfo')
  t.ok(body.result.capabilities.tools, 'the provider\'s capabilities')
  const old = await post(r.url, init('2024-11-05', 2), undefined, '2025-03-26')
  t.equal(((await old.json()) as { result: { protocolVersion: string } }).result.protocolVersion, '2025-11-25', 'a version the ingress does not speak: the provider\'s')
  t.equal(r.created(), 1, 'shared mode: one process object')
  t.equal(r.backend.sessions, 2)
})

t.test('POST answers: SSE with the responses (priming event only from 2025-11-25), 202 for notifications, refusals from the sidecar', async (t) => {
  const r = await rig(t)
  const sid = await session(r, '2025-06-18')
  const res = await post(r.url, call(10, 'echo', { text: 'hello' }), sid)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  t.equal(res.headers.get('mcp-session-id'), sid)
  const ev = events(await res.text())
  t.equal(ev.length, 1, 'no priming event for a 2025-06-18 session')
  t.match(JSON.parse(ev[0]!.data), { id: 10, result: { content: [{ type: 'text', text: 'hello' }] } })
  t.ok(ev[0]!.id, 'events carry ids for Last-Event-ID')

  const sid2 = await session(r, '2025-11-25')
  const ev2 = events(await (await post(r.url, call(11, 'echo', { text: 'x' }), sid2, '2025-11-25')).text())
  t.equal(ev2.length, 2)
  t.same({ data: ev2[0]!.data, retry: ev2[0]!.retry }, { data: '', retry: '1000' }, 'priming event: empty data, retry 1000 ms')
  t.match(JSON.parse(ev2[1]!.data), { id: 11, result: {} })

  const note = await post(r.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, sid)
  t.equal(note.status, 202, 'notifications only: 202')
  await note.text()

  const denied = await post(r.url, call(12, 'crash'), sid)
  t.equal(denied.status, 200)
  t.match(await denied.json(), { id: 12, error: { code: RPC.POLICY_DENIED } }, 'refused by policy, answered as JSON, never reached the provider')
  const mixed = events(await (await post(r.url, [call(13, 'crash'), call(14, 'echo', { text: 'ok' })], sid)).text())
  t.same(mixed.map((e) => (JSON.parse(e.data) as { id: number }).id), [13, 14], 'a batch: the refusal first, then the forwarded answer')
})

t.test('GET: one standalone stream per session; an unknown Last-Event-ID is refused', async (t) => {
  const r = await rig(t)
  const sid = await session(r)
  const ac = new AbortController()
  t.teardown(() => ac.abort())
  const first = await fetch(r.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, signal: ac.signal })
  t.equal(first.status, 200)
  const second = await fetch(r.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } })
  t.equal(second.status, 409)
  t.match(await second.json(), { error: { message: 'only one GET stream per session is allowed' } })
  const bad = await fetch(r.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18', 'last-event-id': 'nope' } })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { error: { message: 'Last-Event-ID nope is unknown or too old to replay' } })
})

t.test('request_timeout_ms: an unanswered request gets PROVIDER_UNAVAILABLE and the stream ends', async (t) => {
  const r = await rig(t, { requestTimeoutMs: 300 })
  const sid = await session(r)
  const started = Date.now()
  const ev = events(await (await post(r.url, call(20, 'slow', { ms: 3000 }), sid)).text())
  t.match(JSON.parse(ev.at(-1)!.data), { id: 20, error: { code: RPC.PROVIDER_UNAVAILABLE, message: 'provider fixture did not answer within 300 ms' } })
  t.ok(Date.now() - started < 2500, 'did not wait for the tool')
})

t.test('a client cancellation closes the request\'s stream without an answer', async (t) => {
  const r = await rig(t)
  const sid = await session(r)
  const pending = post(r.url, call(30, 'slow', { ms: 5000 }), sid).then((res) => res.text())
  await new Promise((res) => setTimeout(res, 300))
  const cancel = await post(r.url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 30, reason: 'user' } }, sid)
  t.equal(cancel.status, 202)
  await cancel.text()
  const started = Date.now()
  const text = await pending
  t.ok(Date.now() - started < 3000, 'the stream closed on the cancellation')
  t.same(events(text).filter((e) => e.data !== ''), [], 'no response was written')
})

t.test('per_session: a process per session, started with the client\'s initialize; max_sessions → 503; DELETE stops it', async (t) => {
  const r = await rig(t, { sessionMode: 'per_session', maxSessions: 2 })
  const a = await session(r)
  const b = await session(r)
  t.equal(r.created(), 2)
  const pid = async (sid: string, id: number) => {
    const ev = events(await (await post(r.url, call(id, 'whoami'), sid)).text())
    return (JSON.parse(ev.at(-1)!.data) as { result: { structuredContent: { pid: number } } }).result.structuredContent.pid
  }
  const pa = await pid(a, 40)
  const pb = await pid(b, 41)
  t.not(pa, pb, 'two sessions, two processes')
  const third = await post(r.url, init())
  t.equal(third.status, 503)
  t.equal(third.headers.get('retry-after'), '5')
  t.match(await third.json(), { error: { code: RPC.PROVIDER_UNAVAILABLE, message: 'provider fixture has reached max_sessions (2)' } })
  t.equal(r.backend.providers.length, 2)
  await (await fetch(r.url, { method: 'DELETE', headers: { 'mcp-session-id': a, 'mcp-protocol-version': '2025-06-18' } })).text()
  const gone = await waitUntil(() => {
    try {
      process.kill(pa, 0)
      return false
    } catch {
      return true
    }
  }, `process ${pa} to exit`, 10_000)
  t.equal(gone, true, `the deleted session's process ${pa} exited`)
  t.equal(r.backend.providers.length, 1)
  const c = await session(r)
  t.ok(c, 'control: a slot is free again after DELETE')
})
