// Every request span ends, on every path through a real sidecar: the provider answers (a result,
// a tool error, a JSON-RPC error), the request times out, the provider crashes, the session is
// deleted mid-call, the client goes away, the remote provider is unreachable or refuses the
// request. The fixture MCP server runs over stdio and over Streamable HTTP (remote mode);
// spans go to an in-memory exporter.
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { SpanStatusCode } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace'
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpTracer } from '../../../proxy/trace/tracer.js'
import { connectClient, FIXTURE, freePort, startSidecar, textOf } from '../../helpers/mcp.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

function tracing(): { tracer: McpTracer; spans: (name: string) => ReadableSpan[]; waitEnded: (name: string, count?: number) => Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name)
  return {
    tracer: new McpTracer({ tracer: provider.getTracer('test'), provider: 'fixture' }),
    spans,
    async waitEnded(name, count = 1) {
      for (let i = 0; i < 400; i++) {
        const found = spans(name)
        if (found.length >= count) return found
        await new Promise((ok) => setTimeout(ok, 25))
      }
      throw new Error(`span ${name} never ended`)
    },
  }
}

async function fixtureHttp(t: Test): Promise<string> {
  const proc = spawn(process.execPath, [FIXTURE, '--http', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => void proc.kill('SIGKILL'))
  proc.stderr!.resume()
  const [line] = (await once(createInterface({ input: proc.stdout! }), 'line')) as [string]
  const m = /^listening (\d+)$/.exec(line)
  if (!m) throw new Error(`unexpected first line: ${line}`)
  return `http://127.0.0.1:${m[1]}/mcp`
}

const settled = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => e)

t.test('stdio: result, tool error, JSON-RPC error, timeout, crash', async (t) => {
  const tr = tracing()
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [process.execPath, FIXTURE], request_timeout_ms: 400, restart_backoff: { initial_ms: 50, max_ms: 100 } }, { tracer: tr.tracer })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())

  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'x' } })), 'x')
  const [echo] = await tr.waitEnded('tools/call echo')
  t.equal(echo!.status.code, SpanStatusCode.UNSET, 'result: no error')

  await client.callTool({ name: 'fail', arguments: {} })
  const [fail] = await tr.waitEnded('tools/call fail')
  t.equal(fail!.attributes['error.type'], 'tool_error', 'isError: tool_error')
  t.equal(fail!.status.code, SpanStatusCode.ERROR)

  await settled(client.callTool({ name: 'rpc_error', arguments: {} }))
  const [rpc] = await tr.waitEnded('tools/call rpc_error')
  t.match(rpc!.attributes, { 'rpc.response.status_code': '-32000', 'error.type': '-32000' })
  t.equal(rpc!.status.message, 'rpc_error requested', "the provider's error message")

  await settled(client.callTool({ name: 'slow', arguments: { ms: 5000 } }))
  const [slow] = await tr.waitEnded('tools/call slow')
  t.match(slow!.attributes, { 'error.type': '-32003', 'rpc.response.status_code': '-32003' }, 'the timeout answer')
  t.match(slow!.status.message, /did not answer within 400 ms/)

  await settled(client.callTool({ name: 'crash', arguments: {} }))
  const [crash] = await tr.waitEnded('tools/call crash')
  t.equal(crash!.attributes['error.type'], '-32003', 'provider gone')
  t.match(crash!.status.message, /exited/)
  const init = tr.spans('initialize')
  t.equal(init.length, 1)
  t.equal(init[0]!.attributes['mcp.session.id'], (client.transport as StreamableHTTPClientTransport).sessionId)
})

t.test('stdio: a session deleted while a call is in flight ends its span', async (t) => {
  const tr = tracing()
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [process.execPath, FIXTURE] }, { tracer: tr.tracer })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const inFlight = settled(client.callTool({ name: 'slow', arguments: { ms: 3000 } }, undefined, { timeout: 10_000 }))
  await new Promise((ok) => setTimeout(ok, 200))
  t.equal(tr.spans('tools/call slow').length, 0, 'open while the provider works')
  await (client.transport as StreamableHTTPClientTransport).terminateSession()
  const [slow] = await tr.waitEnded('tools/call slow')
  t.equal(slow!.attributes['error.type'], 'unavailable')
  await client.close()
  await inFlight
})

t.test('remote: the client going away ends the span as cancelled', async (t) => {
  const tr = tracing()
  const rig = await startSidecar('fixture', { mode: 'remote', endpoint: await fixtureHttp(t) }, { tracer: tr.tracer })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const transport = client.transport as StreamableHTTPClientTransport
  const abort = new AbortController()
  const res = await fetch(rig.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': transport.protocolVersion ?? '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'gone-1', method: 'tools/call', params: { name: 'slow', arguments: { ms: 3000 } } }),
    signal: abort.signal,
  })
  t.equal(res.status, 200)
  abort.abort()
  const [slow] = await tr.waitEnded('tools/call slow')
  t.equal(slow!.attributes['error.type'], 'cancelled')
  t.equal(slow!.attributes['jsonrpc.request.id'], 'gone-1')
})

t.test('remote: an unreachable provider, and an HTTP refusal from the provider', async (t) => {
  const tr = tracing()
  const live = await startSidecar('fixture', { mode: 'remote', endpoint: await fixtureHttp(t) }, { tracer: tr.tracer })
  t.teardown(() => live.stop())
  const refused = await fetch(live.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': '9b2d1c64-0b6f-4f1e-9a51-3c1f1b4e2a77', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }),
  })
  t.equal(refused.status, 404, "the provider's answer passes through")
  await refused.text()
  const [list] = await tr.waitEnded('tools/list')
  t.equal(list!.attributes['error.type'], '404')

  const down = await startSidecar('fixture', { mode: 'remote', endpoint: `http://127.0.0.1:${await freePort()}/mcp` }, { tracer: tr.tracer })
  t.teardown(() => down.stop())
  const r = await fetch(down.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }),
  })
  t.equal(r.status, 502)
  await r.text()
  const [init] = await tr.waitEnded('initialize')
  t.equal(init!.attributes['error.type'], 'unavailable')
})
