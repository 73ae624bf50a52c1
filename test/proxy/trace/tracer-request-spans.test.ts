// Request spans around the Inspector (proxy/ingress/client-batch.ts + proxy/trace/tracer.ts), with
// a real Inspector and an in-memory span exporter: which message gets a span, when it ends, what
// the Inspector's decisions add, and that signals carry the span's ids.
import t from 'tap'
import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace'
import { inspectPost, settle, settleAll, type InspectedPost } from '../../../proxy/ingress/client-batch.js'
import { McpTracer, type IngressHttpInfo } from '../../../proxy/trace/tracer.js'
import type { JsonRpcMessage } from '../../../proxy/types.js'
import { callRequest, harness, recordingLogger, TOOLS } from '../inspect/harness.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

function tracing(): { tracer: McpTracer; exporter: InMemorySpanExporter; spans: (name?: string) => ReadableSpan[] } {
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  const tracer = new McpTracer({ tracer: provider.getTracer('test'), provider: 'p' })
  return { tracer, exporter, spans: (name) => exporter.getFinishedSpans().filter((s) => name === undefined || s.name === name) }
}

const HTTP: IngressHttpInfo = {
  protocolVersion: '2025-06-18',
  req: { headers: {}, httpVersion: '1.1', socket: { remoteAddress: '127.0.0.1', remotePort: 40_000 } } as unknown as IngressHttpInfo['req'],
}
const CTX = { sessionId: 'sess-9', caller: 'alice' }
const withParent = <T extends JsonRpcMessage>(m: T, flags = '01'): T => ({ ...m, params: { ...(m as { params?: object }).params, _meta: { traceparent: `00-${TRACE}-${PARENT}-${flags}` } } }) as T

async function post(h: ReturnType<typeof harness>, tracer: McpTracer, messages: JsonRpcMessage[]): Promise<InspectedPost> {
  return await inspectPost(h.inspector, messages, [], CTX, tracer.scope(HTTP))
}

t.test('a refused call: its span ends at once with the error, the decision and the signal ids', async (t) => {
  const h = harness(t, { tools: { deny_list: ['delete_*'] } })
  const { tracer, spans } = tracing()
  const insp = await post(h, tracer, [withParent(callRequest('delete_cache', {}, 1))])
  t.equal(insp.replies.length, 1)
  t.equal(insp.spans.size, 0, 'nothing left open')
  const [s] = spans('tools/call delete_cache')
  t.equal(s?.kind, SpanKind.SERVER)
  t.equal(s?.spanContext().traceId, TRACE)
  t.equal(s?.parentSpanContext?.spanId, PARENT)
  t.match(s?.attributes, { 'hangar.decision': 'blocked', 'hangar.rule': 'tools.deny_list[0]', 'hangar.violation': 'tool_denied', 'error.type': '-32001', 'mcp.session.id': 'sess-9', 'hangar.provider': 'p' })
  t.same(s?.status, { code: SpanStatusCode.ERROR, message: 'Tool access denied by policy' })
  const signal = h.signals('tool_denied')[0]
  t.equal(signal?.trace_id, TRACE)
  t.equal(signal?.span_id, s?.spanContext().spanId, "the signal names the sidecar's span")
})

t.test('quarantine and rate limits are decisions too', async (t) => {
  const h = harness(t, {}, { rateLimit: { rps: 1, burst: 1 } })
  const { tracer, spans } = tracing()
  await post(h, tracer, [callRequest('fetch_html', { url: 'u' }, 1)])
  await post(h, tracer, [callRequest('fetch_html', { url: 'u' }, 2)])
  t.match(spans('tools/call fetch_html').at(-1)?.attributes, { 'hangar.decision': 'blocked', 'hangar.rule': 'rate_limit', 'hangar.violation': 'rate_limited', 'error.type': '-32002' })
  h.enforcement.quarantine('operator', 'operator')
  await post(h, tracer, [callRequest('fetch_html', { url: 'u' }, 3)])
  t.match(spans('tools/call fetch_html').at(-1)?.attributes, { 'hangar.decision': 'quarantined', 'hangar.rule': 'quarantine' })
})

t.test('alert mode: the call is forwarded, its span open, marked alerted; it ends with the response', async (t) => {
  const h = harness(t, { enforcement_mode: 'alert', tools: { deny_list: ['delete_*'] } })
  h.list([TOOLS.delete_cache])
  const { tracer, spans } = tracing()
  const insp = await post(h, tracer, [callRequest('delete_cache', {}, 'c1')])
  t.equal(insp.forward.length, 1)
  t.equal(spans().length, 0, 'still open')
  t.ok(insp.tickets.has('c1') && insp.spans.has('c1'), 'carried next to the ticket')
  settle(insp, 'c1', { jsonrpc: '2.0', id: 'c1', result: { content: [] } })
  t.equal(insp.spans.size + insp.tickets.size, 0, 'settled')
  const [s] = spans('tools/call delete_cache')
  t.match(s?.attributes, { 'hangar.decision': 'alerted', 'hangar.rule': 'tools.deny_list[0]', 'hangar.violation': 'tool_denied' })
  t.equal(s?.status.code, SpanStatusCode.UNSET, 'an alerted call that worked is no error')
  settle(insp, 'c1', undefined, 'timeout')
  t.equal(spans().length, 1, 'ending twice exports once')
})

t.test('every message gets one span: requests stay open, notifications end when forwarded, responses get none', async (t) => {
  const h = harness(t)
  const { tracer, spans } = tracing()
  const insp = await post(h, tracer, [
    { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 0 } },
    { jsonrpc: '2.0', id: 'srv-1', result: { roots: [] } },
    { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'file:///a' } },
  ])
  t.same(spans().map((s) => s.name), ['notifications/cancelled'], 'the notification ended at once')
  t.same([...insp.spans.keys()], [1, 2])
  settleAll(insp, 'unavailable')
  t.same(spans().map((s) => s.name).sort(), ['notifications/cancelled', 'resources/read', 'tools/list'])
  t.equal(spans('tools/list')[0]?.attributes['error.type'], 'unavailable')
  t.equal(spans('resources/read')[0]?.attributes['mcp.resource.uri'], 'file:///a')
})

t.test('a batch that repeats an id: the earlier request is settled (no leaked concurrency slot)', async (t) => {
  const h = harness(t, {}, { maxConcurrency: 2, queueTimeoutMs: 50 })
  const { tracer, spans } = tracing()
  const dup = await post(h, tracer, [callRequest('fetch_html', { url: 'a' }, 9), callRequest('fetch_html', { url: 'b' }, 9)])
  t.equal(dup.forward.length, 2, 'both forwarded')
  t.equal(dup.tickets.size, 1, 'one ticket can be paired with the response')
  t.equal(spans('tools/call fetch_html')[0]?.attributes['error.type'], 'duplicate_id', "the earlier one's span ended")
  settleAll(dup, 'unavailable')
  const after = await post(h, tracer, [callRequest('fetch_html', { url: 'c' }, 10), callRequest('fetch_html', { url: 'd' }, 11)])
  t.equal(after.replies.length, 0, 'both slots are free again')
  settleAll(after, 'unavailable')
  t.equal(spans().length, 4, 'every span ended')
})

t.test('a client trace that is not sampled: no span is exported, the ids still reach the signals', async (t) => {
  const h = harness(t, { tools: { deny_list: ['delete_*'] } })
  const { tracer, spans } = tracing()
  await post(h, tracer, [withParent(callRequest('delete_cache', {}, 1), '00')])
  t.equal(spans().length, 0, 'parent-based sampling keeps the client decision')
  t.equal(h.signals('tool_denied')[0]?.trace_id, TRACE)
})

t.test('the HTTP traceparent header is a link, not the parent', async (t) => {
  const h = harness(t)
  const { tracer, spans } = tracing()
  const http: IngressHttpInfo = { ...HTTP, req: { ...HTTP.req, headers: { traceparent: `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01` } } as IngressHttpInfo['req'] }
  const insp = await inspectPost(h.inspector, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], [], CTX, tracer.scope(http))
  settle(insp, 1, { jsonrpc: '2.0', id: 1, result: {} })
  const [s] = spans('ping')
  t.equal(s?.parentSpanContext, undefined, 'a root span')
  t.same(s?.links.map((l) => l.context.spanId), ['b7ad6b7169203331'])
  t.not(s?.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c')
})

t.test('a failing tracer never fails a message', async (t) => {
  const h = harness(t)
  const { log, lines } = recordingLogger()
  const broken = { startSpan: () => { throw new Error('collector library bug') }, startActiveSpan: () => { throw new Error('no') } } as unknown as Tracer
  const tracer = new McpTracer({ tracer: broken, provider: 'p', log })
  const insp = await inspectPost(h.inspector, [callRequest('fetch_html', { url: 'a' }, 1), callRequest('fetch_html', { url: 'b' }, 2)], [], CTX, tracer.scope(HTTP))
  t.equal(insp.forward.length, 2, 'both calls forwarded')
  t.equal(insp.spans.size, 0)
  t.equal(lines.filter((l) => /tracing failed/.test(String(l.msg))).length, 1, 'logged once')
  settleAll(insp, 'unavailable')
})

t.test('tracing off: no spans map entries, the context is passed through unchanged', async (t) => {
  const h = harness(t, { tools: { deny_list: ['delete_*'] } })
  const insp = await inspectPost(h.inspector, [withParent(callRequest('delete_cache', {}, 1)), callRequest('fetch_html', { url: 'a' }, 2)], [], CTX)
  t.equal(insp.spans.size, 0)
  t.equal(h.signals('tool_denied')[0]?.trace_id, undefined, 'no tracer, no ids')
  settleAll(insp, 'unavailable')
})
