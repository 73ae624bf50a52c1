/**
 * The OpenTelemetry loaders (proxy/trace/otel.ts): nothing of OpenTelemetry is loaded by
 * importing the module (a sidecar without tracing parses none of it); each getter loads its own
 * package on first use and returns the same module after; exporterGrpc is the @grpc/grpc-js the
 * exporter itself uses (its Metadata class is the one it checks against).
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { sep } from 'node:path'

const require = createRequire(import.meta.url)
const loaded = (pkg: string) => Object.keys(require.cache).some((k) => k.includes(`${sep}node_modules${sep}${pkg.replace('/', sep)}${sep}`))

t.test('importing the module loads no OpenTelemetry package; each getter loads only its own', async (t) => {
  const otel = await import('../../../proxy/trace/otel.js')
  for (const p of ['@opentelemetry/api', '@opentelemetry/core', '@opentelemetry/sdk-trace', '@opentelemetry/exporter-trace-otlp-grpc', '@grpc/grpc-js']) t.notOk(loaded(p), `${p} not loaded by the import`)
  const api = otel.otelApi()
  t.equal(typeof api.trace.getTracer, 'function')
  t.ok(loaded('@opentelemetry/api'))
  t.notOk(loaded('@opentelemetry/exporter-trace-otlp-grpc'), 'the exporter is still not loaded')
  t.equal(otel.otelApi(), api, 'the same module on the next call')
  t.equal(typeof otel.otelCore().W3CTraceContextPropagator, 'function')
  t.equal(typeof otel.otelResources().resourceFromAttributes, 'function')
  t.equal(typeof otel.otelSdkTrace().BatchSpanProcessor, 'function')
  t.equal(typeof otel.otelGrpcExporter().OTLPTraceExporter, 'function')
})

t.test('exporterGrpc is the grpc-js the exporter resolves', async (t) => {
  const otel = await import('../../../proxy/trace/otel.js')
  const grpc = otel.exporterGrpc()
  t.equal(typeof grpc.Metadata, 'function')
  const exporterReq = createRequire(require.resolve('@opentelemetry/exporter-trace-otlp-grpc'))
  const baseReq = createRequire(exporterReq.resolve('@opentelemetry/otlp-grpc-exporter-base'))
  t.equal(grpc, baseReq('@grpc/grpc-js'), 'the exporter base package\'s copy')
  const md = new grpc.Metadata()
  md.set('x-key', 'v')
  t.same(md.get('x-key'), ['v'])
})
