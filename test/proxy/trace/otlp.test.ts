// OTLP/gRPC traces end to end: the MCP SDK client → an in-process McpSidecar (stdio, and remote
// mode in front of server-everything's Streamable HTTP) → the real OTLP/gRPC exporter → a real
// gRPC collector on 127.0.0.1 that decodes ExportTraceServiceRequest (collector.ts). The client
// sends W3C trace context in `params._meta` (MCP semantic conventions, "Context propagation").
import t from 'tap'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { connectClient, EVERYTHING, freePort, startEverythingHttp, startSidecar, textOf } from '../../helpers/mcp.js'
import { startOtlpTracing, type OtlpTracing } from '../../../proxy/trace/otlp.js'
import { DEFAULT_SERVICE_NAME } from '../../../proxy/trace/config.js'
import { recordingLogger } from '../inspect/harness.js'
import { startCollector, type CollectedSpan } from './collector.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const OTHER_SPAN = '53995c3f42cd8ad8'
const HTTP_TRACE = '0af7651916cd43dd8448eb211c80319c'
const HTTP_SPAN = 'b7ad6b7169203331'

function pipeline(t: Test, endpoint: string, log = recordingLogger().log): OtlpTracing {
  const tracing = startOtlpTracing({
    config: { endpoint, headers: { 'x-hangar-tenant': 'team a' }, serviceName: DEFAULT_SERVICE_NAME, sampler: { root: 'always_on', ratio: 1, parentBased: true } },
    provider: 'everything',
    sidecarId: 'everything-test',
    serviceVersion: '0.1.0',
    log,
    scheduledDelayMs: 200,
    exportTimeoutMs: 3000,
  })
  t.teardown(() => tracing.shutdown())
  return tracing
}

async function refusal(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  if (!(e instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${String(e)}`)
  return e
}

const byName = (name: string) => (s: CollectedSpan) => s.name === name

for (const mode of ['stdio', 'remote'] as const) {
  t.test(`${mode}: the spans of a session, parented by params._meta.traceparent`, async (t) => {
    const collector = await startCollector()
    t.teardown(() => collector.close())
    const tracing = pipeline(t, collector.url)
    const capabilities = { tools: { deny_list: ['get-env'] } }
    let raw: Record<string, unknown>
    if (mode === 'stdio') {
      raw = { mode: 'subprocess', command: [process.execPath, EVERYTHING], capabilities }
    } else {
      const upstream = await startEverythingHttp()
      t.teardown(() => upstream.stop())
      raw = { mode: 'remote', endpoint: `http://127.0.0.1:${upstream.port}/mcp`, capabilities }
    }
    const rig = await startSidecar('everything', raw, { tracer: tracing.tracer })
    t.teardown(() => rig.stop())
    // The transport's own trace context (an HTTP header): a link, never the parent.
    const client = await connectClient(rig.url, { headers: { traceparent: `00-${HTTP_TRACE}-${HTTP_SPAN}-01` } })
    t.teardown(() => client.close())
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId

    const r = await client.callTool({ name: 'echo', arguments: { message: 'traced' }, _meta: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, tracestate: 'rojo=00f067aa0ba902b7' } })
    t.match(textOf(r), /traced/)
    const denied = await refusal(client.callTool({ name: 'get-env', arguments: {}, _meta: { traceparent: `00-${TRACE_ID}-${OTHER_SPAN}-01` } }))
    t.equal(denied.code, -32001)
    await client.getPrompt({ name: 'simple-prompt' })
    const { tools } = await client.listTools()
    t.notOk(tools.some((x) => x.name === 'get-env'), 'the list the client got is filtered')
    t.ok(await tracing.forceFlush(10_000), 'flushed to the collector')

    const [echo] = await collector.waitFor(byName('tools/call echo'))
    t.equal(echo!.kind, 'SPAN_KIND_SERVER')
    t.equal(echo!.traceId, TRACE_ID, "the client's trace")
    t.equal(echo!.parentSpanId, CLIENT_SPAN, "a child of the client's span")
    t.equal(echo!.traceState, 'rojo=00f067aa0ba902b7', 'tracestate from _meta')
    t.same(echo!.links, [{ traceId: HTTP_TRACE, spanId: HTTP_SPAN }], 'the HTTP traceparent header is a link')
    t.match(echo!.attributes, {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'echo',
      'gen_ai.operation.name': 'execute_tool',
      'jsonrpc.request.id': /^\d+$/,
      'mcp.session.id': sessionId,
      'mcp.protocol.version': /^\d{4}-\d{2}-\d{2}$/,
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
      'network.protocol.version': '1.1',
      'client.address': /127\.0\.0\.1/,
      'client.port': Number,
      'hangar.provider': 'everything',
    })
    t.notOk('error.type' in echo!.attributes, 'a successful call has no error.type')
    t.notOk('hangar.decision' in echo!.attributes, 'an allowed call has no decision')
    t.equal(echo!.status.code, 'STATUS_CODE_UNSET')
    t.ok(echo!.endNs >= echo!.startNs)
    t.match(echo!.resource, { 'service.name': 'mcp-hangar-sidecar', 'service.instance.id': 'everything-test', 'service.version': '0.1.0', 'hangar.provider': 'everything', 'telemetry.sdk.language': 'nodejs' })
    t.equal(echo!.scope, 'mcp-hangar')

    const [deny] = await collector.waitFor(byName('tools/call get-env'))
    t.equal(deny!.traceId, TRACE_ID)
    t.equal(deny!.parentSpanId, OTHER_SPAN)
    t.match(deny!.attributes, {
      'error.type': '-32001',
      'rpc.response.status_code': '-32001',
      'hangar.decision': 'blocked',
      'hangar.rule': 'tools.deny_list[0]',
      'hangar.violation': 'tool_denied',
      'gen_ai.tool.name': 'get-env',
    })
    t.same(deny!.status, { code: 'STATUS_CODE_ERROR', message: 'Tool access denied by policy' })
    const signal = rig.sink.signals.find((s) => s.type === 'tool_denied')
    t.equal(signal?.trace_id, TRACE_ID, "the signal carries the span's trace id")
    t.equal(signal?.span_id, deny!.spanId, "and the sidecar span's id")

    const [prompt] = await collector.waitFor(byName('prompts/get simple-prompt'))
    t.equal(prompt!.attributes['gen_ai.prompt.name'], 'simple-prompt')
    t.equal(prompt!.parentSpanId, '', 'no _meta.traceparent: a root span')
    t.not(prompt!.traceId, HTTP_TRACE, 'the HTTP header never becomes the parent')

    const [init] = await collector.waitFor(byName('initialize'))
    t.equal(init!.parentSpanId, '')
    t.equal(init!.attributes['mcp.session.id'], sessionId, 'initialize carries the session id it created')
    t.match(init!.attributes, { 'jsonrpc.request.id': '0', 'mcp.protocol.version': /^\d{4}-\d{2}-\d{2}$/ })
    const [initialized] = await collector.waitFor(byName('notifications/initialized'))
    t.notOk('jsonrpc.request.id' in initialized!.attributes, 'a notification has no request id')
    const [list] = await collector.waitFor(byName('tools/list'))
    t.equal(list!.status.code, 'STATUS_CODE_UNSET')
    t.equal(collector.spans.filter(byName('tools/call echo')).length, 1, 'one span per request')
    t.equal(collector.metadata[0]?.['x-hangar-tenant'], 'team a', 'OTLP headers are sent as gRPC metadata')
  })
}

t.test('remote: a request that times out ends its span with error.type timeout', async (t) => {
  const collector = await startCollector()
  t.teardown(() => collector.close())
  const tracing = pipeline(t, collector.url)
  const upstream = await startEverythingHttp()
  t.teardown(() => upstream.stop())
  const rig = await startSidecar('everything', { mode: 'remote', endpoint: `http://127.0.0.1:${upstream.port}/mcp`, request_timeout_ms: 500 }, { tracer: tracing.tracer })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const e = await refusal(client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 1 } }, undefined, { timeout: 20_000 }))
  t.equal(e.code, -32003, 'the sidecar answers the timed-out call')
  t.ok(await tracing.forceFlush(10_000))
  const [span] = await collector.waitFor(byName('tools/call trigger-long-running-operation'))
  t.equal(span!.attributes['error.type'], 'timeout')
  t.equal(span!.status.code, 'STATUS_CODE_ERROR')
})

t.test('an unreachable collector never delays tool calls, and its failures are logged', async (t) => {
  const closed = await freePort() // nothing listens there
  const { log, lines } = recordingLogger()
  const tracing = pipeline(t, `http://127.0.0.1:${closed}`, log)
  const rig = await startSidecar('everything', { mode: 'subprocess', command: [process.execPath, EVERYTHING] }, { tracer: tracing.tracer })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  await client.callTool({ name: 'echo', arguments: { message: 'warm-up' } })
  for (let i = 0; i < 10; i++) {
    const started = performance.now()
    const r = await client.callTool({ name: 'echo', arguments: { message: `call ${i}` }, _meta: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01` } })
    t.match(textOf(r), new RegExp(`call ${i}`))
    // Generous: an echo through the sidecar takes milliseconds; an export attempt waits up to 3 s.
    t.ok(performance.now() - started < 2000, `call ${i} answered without waiting for the collector`)
    await new Promise((ok) => setTimeout(ok, 50)) // lets batches leave (every 200 ms) while calls go on
  }
  await client.callTool({ name: 'echo', arguments: { message: 'last' } })
  t.equal(await tracing.forceFlush(5000), false, 'the export does fail')
  t.ok(lines.some((l) => /trace export to the OTLP collector failed/.test(String(l.msg))), 'the failure is logged')
  const started = performance.now()
  await tracing.shutdown(2000)
  t.ok(performance.now() - started < 4000, 'shutdown gives up within its timeout')
})
