/**
 * `rate_limit` and `max_concurrency` through the real ingress (docs/mcp-ingress.md §Inspection, docs/configuration.md):
 * the SDK client → the McpSidecar → the fixture MCP server over stdio. A refused call is a
 * JSON-RPC error -32002 with a `rate_limited` signal and `rate_limit_hits_total`; calls within
 * the limits pass; the limits are the provider's, shared by every session.
 */
import t from 'tap'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { metricValue, sleep } from '../fixtures/mcp/harness.js'
import { connectClient, FIXTURE, startSidecar, textOf } from '../helpers/mcp.js'

const node = process.execPath

async function refused(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  if (!(e instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${String(e)}`)
  return e
}

const echo = (text: string) => ({ name: 'echo', arguments: { text } })

t.test('rate_limit: the burst passes, the next call gets -32002 with retry_after_ms, later calls pass', async (t) => {
  // 0.5 calls/s: a token every 2 s, so the burst below is never refilled mid-way on a slow machine.
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], rate_limit: { rps: 0.5, burst: 3 } })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const results = await Promise.allSettled([1, 2, 3, 4].map((i) => client.callTool(echo(`call ${i}`))))
  const ok = results.filter((r) => r.status === 'fulfilled')
  const no = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  t.equal(ok.length, 3, 'burst 3: three calls pass')
  t.equal(no.length, 1, 'the fourth is refused')
  const e = no[0]!.reason as McpError
  t.type(e, McpError)
  t.equal(e.code, -32002, 'JSON-RPC -32002')
  const data = e.data as { rule: string; retry_after_ms: number }
  t.match(data, { provider: 'fixture', rule: 'rate_limit', retry_after_ms: Number })
  t.ok(data.retry_after_ms > 0 && data.retry_after_ms <= 2000, `retry_after_ms ${data.retry_after_ms}: at most one token interval (2000 ms)`)

  const signal = rig.sink.signals.find((s) => s.type === 'rate_limited')
  t.match(signal, { kind: 'enforcement', action: 'blocked', tool: 'echo', rule: 'rate_limit', details: { retry_after_ms: Number } }, 'a rate_limited signal')
  t.match(signal?.session_id, /^[0-9a-f-]{36}$/, 'with the session')
  t.equal(await metricValue(rig.metrics.proxy.rateLimitHits, { provider: 'fixture', limit: 'rate' }), 1, 'rate_limit_hits_total{limit="rate"} 1')
  t.equal(await metricValue(rig.metrics.proxy.toolCalls, { provider: 'fixture', tool: 'echo', outcome: 'rate_limited' }), 1)

  t.ok((await client.listTools()).tools.length > 0, 'other requests are not rate limited')
  await sleep(data.retry_after_ms + 50)
  t.equal(textOf(await client.callTool(echo('after the wait'))), 'after the wait', 'after retry_after_ms a call passes again')
})

t.test('rate_limit is per provider: a second session shares the bucket', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], rate_limit: { rps: 0.5, burst: 2 } })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a' })
  const b = await connectClient(rig.url, { name: 'b' })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  t.equal(textOf(await a.callTool(echo('a1'))), 'a1')
  t.equal(textOf(await a.callTool(echo('a2'))), 'a2')
  t.equal((await refused(b.callTool(echo('b1')))).code, -32002, "b is refused: a used the provider's burst")
})

t.test('max_concurrency 1: a second call waits its turn and then runs', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], max_concurrency: 1, queue_timeout_ms: 20_000 })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const order: string[] = []
  let running!: () => void
  const started = new Promise<void>((resolve) => (running = resolve))
  const busy = client.callTool({ name: 'progress', arguments: { steps: 3, ms: 150 } }, undefined, { onprogress: () => running() }).then((r) => (order.push('progress'), textOf(r)))
  await started // it holds the only slot
  const quick = client.callTool(echo('queued')).then((r) => (order.push('echo'), textOf(r)))
  t.same(await Promise.all([busy, quick]), ['done 3', 'queued'], 'both succeed')
  t.same(order, ['progress', 'echo'], 'the queued call ran after the slot was released')
  t.equal(await metricValue(rig.metrics.proxy.rateLimitHits, { provider: 'fixture', limit: 'concurrency' }), 0, 'no refusal')
})

t.test('max_concurrency 1 + queue_timeout_ms: a call waiting longer is refused with -32002', async (t) => {
  const queueMs = 300
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], max_concurrency: 1, queue_timeout_ms: queueMs })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a' })
  const b = await connectClient(rig.url, { name: 'b' })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  t.equal(textOf(await a.callTool(echo('warm'))), 'warm', 'within the limit')
  let running!: () => void
  const started = new Promise<void>((resolve) => (running = resolve))
  const busy = a.callTool({ name: 'progress', arguments: { steps: 4, ms: 400 } }, undefined, { onprogress: () => running() })
  await started // a's call holds the only slot
  const at = Date.now()
  const e = await refused(b.callTool(echo('too many')))
  const waited = Date.now() - at
  t.equal(e.code, -32002, "b's call is refused with -32002")
  t.match(e.message, /Too many concurrent tool calls/)
  t.match(e.data, { provider: 'fixture', rule: 'max_concurrency' })
  t.ok(waited >= queueMs - 20, `it waited in the queue first (${waited} ms ≥ ${queueMs} ms)`)
  t.match(rig.sink.signals.find((s) => s.type === 'rate_limited'), { rule: 'max_concurrency', tool: 'echo', details: { max_concurrency: 1, waited_ms: Number } })
  t.equal(await metricValue(rig.metrics.proxy.rateLimitHits, { provider: 'fixture', limit: 'concurrency' }), 1)
  t.equal(textOf(await busy), 'done 4', 'the call holding the slot is unaffected')
  t.equal(textOf(await b.callTool(echo('free again'))), 'free again', 'once the slot is free, calls pass')
})

t.test('a call the client cancels frees its concurrency slot', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], max_concurrency: 1, queue_timeout_ms: 2000 })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const abort = new AbortController()
  let running!: () => void
  const started = new Promise<void>((resolve) => (running = resolve))
  const cancelled = client.callTool({ name: 'progress', arguments: { steps: 100, ms: 100 } }, undefined, { signal: abort.signal, onprogress: () => running() }).catch((err: unknown) => err)
  await started
  abort.abort('not needed any more') // the SDK sends notifications/cancelled
  t.match(await cancelled, { message: /not needed any more/ })
  t.equal(textOf(await client.callTool(echo('slot released'))), 'slot released', 'the next call gets the slot')
})
