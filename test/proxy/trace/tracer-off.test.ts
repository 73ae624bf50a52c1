// Tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT): a whole MCP session through the sidecar, client
// trace context included, loads no OpenTelemetry module at all, and no configuration is built.
import { createRequire } from 'node:module'
import t from 'tap'
import { readEnv } from '../../../core/env.js'
import { traceConfigFromEnv } from '../../../proxy/trace/config.js'
import { connectClient, EVERYTHING, startSidecar, textOf } from '../../helpers/mcp.js'

const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@opentelemetry') || k.includes('@grpc'))

t.test('no endpoint: no configuration, no OpenTelemetry module loaded, requests served', async (t) => {
  const warnings: string[] = []
  t.equal(traceConfigFromEnv(readEnv({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }).otel, (m) => void warnings.push(m)), undefined)
  t.same(warnings, [])
  const rig = await startSidecar('everything', { mode: 'subprocess', command: [process.execPath, EVERYTHING], capabilities: { tools: { deny_list: ['get-env'] } } })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url, { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } })
  t.teardown(() => client.close())
  const r = await client.callTool({ name: 'echo', arguments: { message: 'untraced' }, _meta: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })
  t.match(textOf(r), /untraced/)
  await client.callTool({ name: 'get-env', arguments: {} }).catch(() => undefined)
  t.same(loaded(), [], 'neither the OpenTelemetry API, SDK, exporter nor gRPC was loaded')
  t.equal(rig.sink.signals.find((s) => s.type === 'tool_denied')?.trace_id, undefined, 'signals carry no trace ids without tracing')
})
