// StdioProvider lifecycle (proxy/stdio/provider.ts) with the real fixture MCP server: lazy start,
// one shared start for concurrent callers, the initialize handshake, send/message round trips
// (tools/call, progress, a server→client request), failed starts (ENOENT, timeout, error response,
// exit), and a stop during startup.
import t from 'tap'
import { createMetrics } from '../../../core/metrics.js'
import { ProviderUnavailableError } from '../../../proxy/stdio/provider-errors.js'
import type { LifecycleChange, StateChange } from '../../../proxy/stdio/provider-types.js'
import type { JsonRpcMessage } from '../../../proxy/types.js'
import { metricValue, NODE, pidAlive, testProvider, waitExit, waitMessage } from '../../fixtures/mcp/harness.js'

t.test('lazy start: no process before ensureStarted; concurrent callers share one start', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const changes: LifecycleChange[] = []
  const p = testProvider({ metrics: metrics.proxy, onLifecycle: (c) => changes.push(c) })
  t.teardown(() => p.stop())
  const states: StateChange[] = []
  p.on('state', (c) => states.push(c))
  t.equal(p.state, 'COLD')
  t.equal(p.pid, undefined, 'no process yet')
  t.equal(await metricValue(metrics.proxy.providerState, { provider: 'fixture', state: 'COLD' }), 1)
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 0)

  const starts = [p.ensureStarted(), p.ensureStarted(), p.ensureStarted()]
  t.equal(p.state, 'INITIALIZING', 'the start is under way')
  await Promise.all(starts)
  t.equal(p.state, 'READY')
  t.ok(p.pid !== undefined && pidAlive(p.pid), 'one process running')
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 1, 'three callers, one cold start')
  t.same(states.map((s) => `${s.from}→${s.to}`), ['COLD→INITIALIZING', 'INITIALIZING→READY'])
  t.same(changes.map((c) => [c.provider, c.kind, c.from, c.to]), [['fixture', 'state', 'COLD', 'INITIALIZING'], ['fixture', 'state', 'INITIALIZING', 'READY']])
  t.equal(await metricValue(metrics.proxy.providerState, { provider: 'fixture', state: 'READY' }), 1)
  t.equal(await metricValue(metrics.proxy.providerState, { provider: 'fixture', state: 'COLD' }), 0)
  t.equal(await metricValue(metrics.proxy.circuitBreakerState, { provider: 'fixture' }), 0)

  const init = p.initializeResult
  t.match(init, { protocolVersion: '2025-06-18', serverInfo: { name: 'hangar-fixture', version: '1.0.0' }, capabilities: { tools: { listChanged: true } } }, 'the raw InitializeResult')
  const pid = p.pid
  await p.ensureStarted()
  t.equal(p.pid, pid, 'ensureStarted when READY keeps the process')
})

t.test('send/message: a tools/call round trip, progress notifications, and a server→client request', async (t) => {
  const p = testProvider()
  t.teardown(() => p.stop())
  await p.ensureStarted()
  const seen: JsonRpcMessage[] = []
  p.on('message', (m) => seen.push(m))

  const echoed = waitMessage(p, (m) => 'id' in m && m.id === 7)
  p.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'through the sidecar' } } })
  t.same(await echoed, { jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'through the sidecar' }] } })

  const done = waitMessage(p, (m) => 'id' in m && m.id === 'c-8')
  p.send({ jsonrpc: '2.0', id: 'c-8', method: 'tools/call', params: { name: 'progress', arguments: { steps: 3, ms: 5 }, _meta: { progressToken: 'tok' } } })
  t.match(await done, { id: 'c-8', result: { content: [{ text: 'done 3' }] } })
  const progress = seen.filter((m) => 'method' in m && m.method === 'notifications/progress')
  t.same(progress.map((m) => (m as unknown as { params: { progress: number } }).params.progress), [1, 2, 3], 'progress notifications are emitted in order')

  // ask_client: the child sends roots/list; the answer goes back through send().
  const asked = waitMessage(p, (m) => 'method' in m && m.method === 'roots/list')
  const answered = waitMessage(p, (m) => 'id' in m && m.id === 9)
  p.send({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'ask_client', arguments: { kind: 'roots' } } })
  const req = (await asked) as { id: string | number }
  t.ok(req.id !== undefined, 'a server→client request is emitted with its id')
  p.send({ jsonrpc: '2.0', id: req.id, result: { roots: [{ uri: 'file:///work', name: 'work' }] } })
  t.match(await answered, { id: 9, result: { content: [{ text: JSON.stringify({ roots: [{ uri: 'file:///work', name: 'work' }] }) }] } })

  t.notOk(seen.some((m) => 'id' in m && typeof m.id === 'string' && m.id.startsWith('hangar:')), 'the provider’s own responses are never emitted')
})

t.test('send(): refused when not running, and for reserved ids', async (t) => {
  const p = testProvider()
  t.teardown(() => p.stop())
  t.throws(() => p.send({ jsonrpc: '2.0', id: 1, method: 'ping' }), ProviderUnavailableError)
  await p.ensureStarted()
  t.throws(() => p.send({ jsonrpc: '2.0', id: 'hangar:1', method: 'ping' }), TypeError)
})

t.test('ENOENT: a clear, typed error; this process is unaffected', async (t) => {
  const p = testProvider({ command: ['/nonexistent/mcp-server'], backoff: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => p.stop())
  const err = await p.ensureStarted().catch((e: unknown) => e)
  t.type(err, ProviderUnavailableError)
  t.match(err, {
    code: 'HANGAR_PROVIDER_UNAVAILABLE',
    provider: 'fixture',
    reason: 'start failed: failed to start: spawn /nonexistent/mcp-server ENOENT (no such executable, or the cwd does not exist)',
    retryAfterMs: 60_000,
  })
  t.match((err as Error).message, /^provider "fixture" is unavailable: start failed: .*ENOENT/)
  t.equal(p.state, 'DEAD')
  t.equal(p.pid, undefined)
})

t.test('startup timeout: no initialize result in time → killed, start failed', async (t) => {
  const p = testProvider({ command: [NODE, '-e', 'process.stdin.resume(); setInterval(() => {}, 1000)'], startupTimeoutMs: 300, backoff: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => p.stop())
  const starting = p.ensureStarted().catch((e: unknown) => e)
  await new Promise((r) => setImmediate(r))
  const exit = waitExit(p)
  const err = await starting
  t.match(err, { reason: 'start failed: no initialize result within 300 ms' })
  const e = await exit
  t.equal(e.signal, 'SIGKILL', 'the silent process was killed')
  t.equal(e.expected, true, 'killing it was the sidecar’s decision')
  t.equal(p.state, 'DEAD')
})

t.test('an error response to initialize fails the start with its code and message', async (t) => {
  const script = `process.stdin.on('data', (b) => { const m = JSON.parse(String(b).split('\\n')[0]); process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32602, message: 'Unsupported protocol version' } }) + '\\n') })`
  const p = testProvider({ command: [NODE, '-e', script], backoff: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => p.stop())
  const err = await p.ensureStarted().catch((e: unknown) => e)
  t.match(err, { reason: 'start failed: initialize failed with error -32602: Unsupported protocol version' })
  t.equal(p.state, 'DEAD')
})

t.test('an exit during startup fails the start with the last stderr line', async (t) => {
  const p = testProvider({ env: { FIXTURE_EXIT_ON_START: '1' }, backoff: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => p.stop())
  const err = await p.ensureStarted().catch((e: unknown) => e)
  t.match(err, { reason: 'start failed: exited with code 1: fixture: FIXTURE_EXIT_ON_START is set', retryAfterMs: 60_000 })
})

t.test('stdout noise before the handshake does not break the start', async (t) => {
  const p = testProvider({ env: { FIXTURE_STDOUT_NOISE: '1' } })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  t.equal(p.state, 'READY')
})

t.test('stop() during startup aborts it', async (t) => {
  const p = testProvider()
  const starting = p.ensureStarted().catch((e: unknown) => e)
  t.equal(p.state, 'INITIALIZING')
  await p.stop()
  t.type(await starting, ProviderUnavailableError)
  t.equal(p.state, 'COLD')
  t.equal(p.pid, undefined)
})
