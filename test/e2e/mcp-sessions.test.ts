/**
 * Client sessions end to end through the real ingress, on the fixture MCP server over stdio:
 * `per_session` (one process per session, `max_sessions`, DELETE stops the process), `shared`
 * (many sessions over one process, no cross-talk with colliding ids, tokens and cancellations),
 * and resumption with `Last-Event-ID` (Streamable HTTP "Resumability and Redelivery", spec
 * 2025-06-18 and 2025-11-25) of POST SSE streams and of the GET stream. The raw client
 * (fixtures/mcp/harness.ts) shows what the SDK client hides: status codes, headers, event ids,
 * a connection dropped mid-stream.
 */
import t from 'tap'
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { metricValue, RawMcpClient, waitUntil, type WireEvent } from '../fixtures/mcp/harness.js'
import { connectClient, FIXTURE, pidAlive, startSidecar, textOf, type SidecarRig } from '../helpers/mcp.js'

const node = process.execPath
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

async function refused(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  if (!(e instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${String(e)}`)
  return e
}

const whoami = async (c: { callTool: (p: { name: string; arguments: Record<string, unknown> }) => Promise<unknown> }) => Number(textOf(await c.callTool({ name: 'whoami', arguments: {} })))

type Msg = { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; message: string } }
const parse = (e: WireEvent): Msg => JSON.parse(e.data) as Msg
/** The events that carry a message (priming events, with empty data, left out). */
const data = (events: WireEvent[]): WireEvent[] => events.filter((e) => e.data !== '')
/** `notifications/message` data of the fixture's notify tool ("notify <n>"), in order. */
const notices = (events: WireEvent[]): string[] => data(events).map(parse).filter((m) => m.method === 'notifications/message').map((m) => String(m.params?.data))
const progressOf = (events: WireEvent[]): number[] => data(events).map(parse).filter((m) => m.method === 'notifications/progress').map((m) => Number(m.params?.progress))

t.test('per_session: one process per session, max_sessions, DELETE stops the process', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], session_mode: 'per_session', max_sessions: 2 })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a' })
  const b = await connectClient(rig.url, { name: 'b' })
  t.teardown(() => b.close())
  const pidA = await whoami(a)
  const pidB = await whoami(b)
  t.not(pidA, pidB, 'each session has its own process')
  t.ok(pidAlive(pidA) && pidAlive(pidB))
  t.equal(rig.sidecar.status().sessions, 2)
  t.same(((rig.sidecar.status().processes as Array<{ pid: number }>).map((p) => p.pid)).sort(), [pidA, pidB].sort())

  const third = new RawMcpClient(rig.url)
  const r = await third.initialize()
  t.equal(r.status, 503, 'a session beyond max_sessions → 503')
  t.match(r.headers.get('retry-after'), /^\d+$/, 'with Retry-After')
  t.match(r.json, { error: { code: -32003, message: /max_sessions \(2\)/ } })
  t.equal(await metricValue(rig.metrics.proxy.coldStarts, { provider: 'fixture' }), 2, 'the refused session started no process')

  await (a.transport as StreamableHTTPClientTransport).terminateSession() // DELETE with a's Mcp-Session-Id
  await a.close()
  await waitUntil(() => !pidAlive(pidA), `the process of the deleted session (pid ${pidA}) to exit`)
  t.ok(pidAlive(pidB), "the other session's process is untouched")
  t.equal(await whoami(b), pidB, 'and still serves it')
  t.equal(rig.sidecar.status().sessions, 1)

  const c = await connectClient(rig.url, { name: 'c' })
  t.teardown(() => c.close())
  const pidC = await whoami(c)
  t.ok(pidC !== pidA && pidC !== pidB, 'the freed slot takes a new session, on a new process')
})

t.test('per_session: a crash of one session’s process leaves the other alone; its session recovers', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], session_mode: 'per_session', restart_backoff: { initial_ms: 100, max_ms: 1000 } })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a' })
  const b = await connectClient(rig.url, { name: 'b' })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const pidA = await whoami(a)
  const pidB = await whoami(b)
  let running!: () => void
  const started = new Promise<void>((resolve) => (running = resolve))
  const bBusy = b.callTool({ name: 'progress', arguments: { steps: 4, ms: 100 } }, undefined, { onprogress: () => running() })
  await started
  const crash = await refused(a.callTool({ name: 'crash', arguments: {} }))
  t.equal(crash.code, -32003, "a's call that crashed its process gets -32003")
  t.equal(textOf(await bBusy), 'done 4', "b's call in flight on its own process is unaffected")
  t.equal(await whoami(b), pidB, 'b keeps its process')
  const again = await whoami(a)
  t.not(again, pidA, 'a is served by a restarted process, in the same session')
  t.not(again, pidB)
})

t.test('per_session: concurrent initializes never exceed max_sessions', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], session_mode: 'per_session', max_sessions: 2 })
  t.teardown(() => rig.stop())
  const clients = [0, 1, 2, 3].map(() => new RawMcpClient(rig.url))
  const answers = await Promise.all(clients.map((c) => c.initialize()))
  t.same(answers.map((a) => a.status).sort(), [200, 200, 503, 503], 'two sessions, two refusals')
  t.ok(rig.sidecar.status().sessions as number <= 2, 'at most max_sessions sessions')
  t.ok((await metricValue(rig.metrics.proxy.coldStarts, { provider: 'fixture' })) <= 2, 'at most max_sessions processes started')
})

t.test('shared: interleaved calls of two sessions with the same ids and tokens, cancellation included', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], session_mode: 'shared' })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a' })
  const b = await connectClient(rig.url, { name: 'b' })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  t.equal(await whoami(a), await whoami(b), 'one process')

  // Both clients number their requests alike (and the SDK uses the request id as progress
  // token), so every id and token below exists in both sessions at once.
  const progress = { a: [] as number[], b: [] as number[] }
  const abort = new AbortController()
  const calls = {
    aSlow: a.callTool({ name: 'slow', arguments: { ms: 400 } }),
    bSlow: b.callTool({ name: 'slow', arguments: { ms: 20_000 } }, undefined, { signal: abort.signal }).then(
      () => 'answered',
      (e: unknown) => e,
    ),
    aProgress: a.callTool({ name: 'progress', arguments: { steps: 5, ms: 20 } }, undefined, { onprogress: (p) => progress.a.push(p.progress) }),
    bProgress: b.callTool({ name: 'progress', arguments: { steps: 3, ms: 30 } }, undefined, { onprogress: (p) => progress.b.push(p.progress) }),
    aError: refused(a.callTool({ name: 'rpc_error', arguments: {} })),
    bFail: b.callTool({ name: 'fail', arguments: {} }),
    echoes: Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).callTool({ name: 'echo', arguments: { text: `${i % 2 ? 'a' : 'b'}-${i}` } }))),
  }
  setTimeout(() => abort.abort('b gives up'), 100)
  t.equal(textOf(await calls.aSlow), 'slept 400', "b's cancellation of its own id did not cancel a's call with the same id")
  t.match(await calls.bSlow, { message: /b gives up/ }, "b's call was cancelled (the SDK client rejects it with the abort reason)")
  t.equal(textOf(await calls.aProgress), 'done 5')
  t.equal(textOf(await calls.bProgress), 'done 3')
  t.same(progress.a, [1, 2, 3, 4, 5], 'a got exactly its own progress')
  t.same(progress.b, [1, 2, 3], 'b got exactly its own progress')
  t.equal((await calls.aError).code, -32000, 'the JSON-RPC error reached a')
  t.match(await calls.bFail, { isError: true }, 'the tool error reached b')
  t.same((await calls.echoes).map(textOf), Array.from({ length: 20 }, (_, i) => `${i % 2 ? 'a' : 'b'}-${i}`), 'every echo came back to its caller')
  t.equal(textOf(await b.callTool({ name: 'echo', arguments: { text: 'b after cancel' } })), 'b after cancel', 'b still works')
})

t.test('Last-Event-ID on a POST stream: drop it mid-call, resume with GET, get the rest once', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE] })
  t.teardown(() => rig.stop())
  const c = new RawMcpClient(rig.url)
  t.equal((await c.initialize()).status, 200)

  await t.test('resumed while the call still runs: the stream continues on the GET', async (t) => {
    const id = 2 // after initialize (1)
    const post = await c.call('progress', { steps: 5, ms: 150 }, { progressToken: 'tok' })
    t.equal(post.status, 200)
    t.ok(post.sse, 'the POST is answered with an SSE stream')
    const first = (await post.sse!.nextData())!
    t.match(parse(first), { method: 'notifications/progress', params: { progressToken: 'tok', progress: 1 } })
    t.ok(first.id, 'events carry ids')
    post.sse!.close() // the connection drops; the call goes on at the provider

    const resumed = await c.get(first.id)
    t.equal(resumed.status, 200)
    const rest = await resumed.sse!.rest()
    t.same(progressOf(rest), [2, 3, 4, 5], 'the remaining progress, none repeated, none lost')
    t.match(parse(rest.at(-1)!), { id, result: { content: [{ text: 'done 5' }] } }, 'then the result, and the stream ends')
    const stream = first.id!.slice(0, first.id!.lastIndexOf('_'))
    t.ok(rest.every((e) => e.id?.startsWith(`${stream}_`)), 'all from the same stream')
  })

  await t.test('resumed after the call finished: the stored events and the result are replayed', async (t) => {
    const before = await metricValue(rig.metrics.proxy.toolCalls, { provider: 'fixture', tool: 'progress', outcome: 'ok' })
    const post = await c.call('progress', { steps: 3, ms: 50 }, { progressToken: 7 })
    const first = (await post.sse!.nextData())!
    post.sse!.close()
    await waitUntil(async () => (await metricValue(rig.metrics.proxy.toolCalls, { provider: 'fixture', tool: 'progress', outcome: 'ok' })) > before, 'the call to finish')
    const rest = await (await c.get(first.id)).sse!.rest()
    t.same(progressOf(rest), [2, 3])
    t.match(parse(rest.at(-1)!), { result: { content: [{ text: 'done 3' }] } })
  })

  await t.test('an unknown event id, or one of another session, is refused (400)', async (t) => {
    t.equal((await c.get('nosuchstream_1')).status, 400)
    const other = new RawMcpClient(rig.url)
    await other.initialize()
    const post = await other.call('progress', { steps: 1, ms: 0 }, { progressToken: 1 })
    const ev = await post.sse!.rest()
    const foreign = await c.get(ev[0]!.id)
    t.equal(foreign.status, 400, "another session's event id is not replayed")
    t.equal(foreign.sse, undefined)
  })
})

t.test('a POST stream opens with a priming event (2025-11-25), so a drop before any message is resumable', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE] })
  t.teardown(() => rig.stop())
  const c = new RawMcpClient(rig.url, '2025-11-25')
  await c.initialize()
  const post = await c.call('slow', { ms: 300 })
  const priming = (await post.sse!.next())!
  t.ok(priming.id, 'an event id …')
  t.equal(priming.data, '', '… with empty data')
  post.sse!.close()
  const rest = await (await c.get(priming.id)).sse!.rest()
  t.match(rest.map(parse), [{ result: { content: [{ text: 'slept 300' }] } }])
})

/** Opens a raw session with its GET stream; waits for the fixture's list_changed on it. */
async function withGetStream(t: Test, rig: SidecarRig) {
  const c = new RawMcpClient(rig.url)
  t.equal((await c.initialize()).status, 200)
  const get = await c.get()
  t.equal(get.status, 200)
  const changed = (await get.sse!.next(20_000))!
  t.match(parse(changed), { method: 'notifications/tools/list_changed' }, 'the provider’s list_changed arrives on the GET stream')
  t.ok(changed.id)
  return { c, get: get.sse!, changed }
}

t.test('the GET stream: server notifications, resumed after a reconnect without duplicates', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], env: { FIXTURE_LIST_CHANGED_MS: '1000' } })
  t.teardown(() => rig.stop())
  const { c, get } = await withGetStream(t, rig)
  const answer = await (await c.call('notify', { count: 3, ms: 0 })).sse!.rest()
  t.same(data(answer).map(parse).map((m) => m.result), [{ content: [{ type: 'text', text: 'notified 3' }] }], 'the POST stream carries only the result')
  const live = [await get.next(), await get.next(), await get.next()] as WireEvent[]
  t.same(notices(live), ['notify 1', 'notify 2', 'notify 3'], 'unrelated notifications go to the GET stream')
  t.equal(new Set(live.map((e) => e.id)).size, 3, 'each with its own id')
  t.equal((await c.get()).status, 409, 'one GET stream per session')

  get.close()
  // A round trip through the provider: by its end the sidecar has seen the connection close
  // (the client closed it first). A resumption racing the close: the next test.
  await (await c.call('echo', { text: 'x' })).sse!.rest()
  const resumed = await c.get(live[2]!.id)
  t.equal(resumed.status, 200, 'resuming after the last event seen')
  const call = await c.call('notify', { count: 2, ms: 0 })
  t.match(parse((await call.sse!.rest()).at(-1)!), { result: { content: [{ text: 'notified 2' }] } })
  const more = [await resumed.sse!.next(), await resumed.sse!.next()] as WireEvent[]
  t.same(notices(more), ['notify 4', 'notify 5'], 'the resumed stream carries the next notifications, none repeated')
  t.ok(more.every((e) => !live.some((l) => l.id === e.id)), 'new event ids')
  resumed.sse!.close()
})

t.test('the GET stream: notifications sent while it is disconnected are replayed on resumption', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], env: { FIXTURE_LIST_CHANGED_MS: '1000' } })
  t.teardown(() => rig.stop())
  const { c, get, changed } = await withGetStream(t, rig)
  get.close()
  // Nothing listens now; the answer to this call comes on its own POST stream.
  await (await c.call('notify', { count: 3, ms: 0 })).sse!.rest()
  const resumed = await c.get(changed.id)
  t.equal(resumed.status, 200)
  const missed = [await resumed.sse!.next(2000), await resumed.sse!.next(2000), await resumed.sse!.next(2000)] as WireEvent[]
  t.same(notices(missed), ['notify 1', 'notify 2', 'notify 3'], 'the missed notifications, in order')
  await (await c.call('notify', { count: 1, ms: 0 })).sse!.rest()
  t.same(notices([(await resumed.sse!.next())!]), ['notify 4'], 'then live again, nothing repeated')
  resumed.sse!.close()
})

t.test('resuming the GET stream while its old connection still looks open (a silent network drop) takes it over', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], env: { FIXTURE_LIST_CHANGED_MS: '1000' } })
  t.teardown(() => rig.stop())
  const { c, get, changed } = await withGetStream(t, rig)
  // The old connection is left open, as the server sees a connection whose peer vanished.
  const resumed = await c.get(changed.id)
  t.equal(resumed.status, 200)
  await (await c.call('notify', { count: 1, ms: 0 })).sse!.rest()
  t.same(notices([(await resumed.sse!.next(5000))!]), ['notify 1'], 'the resumed connection receives the next notification')
  t.equal(await get.next(5000), undefined, 'the stale connection was closed by the sidecar')
  resumed.sse!.close()
})

t.test('version negotiation: each session of a shared provider gets the version it asked for, when supported', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE] })
  t.teardown(() => rig.stop())
  for (const asked of ['2025-06-18', '2025-03-26', '2025-11-25']) {
    const c = new RawMcpClient(rig.url, asked)
    const init = await c.initialize()
    t.equal(init.status, 200)
    t.equal((init.json as { result: { protocolVersion: string } }).result.protocolVersion, asked, `asked ${asked}: answered the same (spec: MUST when supported)`)
    const post = await c.call('slow', { ms: 1 })
    const first = (await post.sse!.next())!
    t.equal(first.data === '', asked >= '2025-11-25', `a priming event only for sessions on 2025-11-25 or later (${asked})`)
    await post.sse!.rest()
  }
  for (const asked of ['2099-01-01', '1999-01-01']) {
    const init = await new RawMcpClient(rig.url, asked).post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: asked, capabilities: {}, clientInfo: { name: 'raw', version: '0' } } })
    t.equal(init.status, 200)
    t.equal((init.json as { result: { protocolVersion: string } }).result.protocolVersion, '2025-11-25', `asked ${asked} (unsupported): answered the provider's version`)
  }
})
