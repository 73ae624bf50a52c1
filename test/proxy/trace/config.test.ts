// Trace export configuration from the standard OpenTelemetry variables (core/env.ts readEnv →
// proxy/trace/config.ts): off without an endpoint, endpoint and header precedence, samplers.
import t from 'tap'
import { readEnv } from '../../../core/env.js'
import { DEFAULT_SERVICE_NAME, samplerFromEnv, traceConfigFromEnv } from '../../../proxy/trace/config.js'

const otel = (env: Record<string, string>) => readEnv(env).otel
function collect(): { warn: (m: string) => void; warnings: string[] } {
  const warnings: string[] = []
  return { warn: (m) => void warnings.push(m), warnings }
}

t.test('readEnv reads the OTEL_* variables, empty values as unset', async (t) => {
  t.same(readEnv({}).otel, { endpoint: undefined, tracesEndpoint: undefined, headers: undefined, tracesHeaders: undefined, serviceName: undefined, sampler: undefined, samplerArg: undefined, sdkDisabled: false })
  t.same(
    otel({
      OTEL_EXPORTER_OTLP_ENDPOINT: ' http://collector:4317 ',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'b=2',
      OTEL_SERVICE_NAME: 'edge',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_SDK_DISABLED: 'TRUE',
    }),
    { endpoint: 'http://collector:4317', tracesEndpoint: undefined, headers: 'a=1', tracesHeaders: 'b=2', serviceName: 'edge', sampler: 'traceidratio', samplerArg: '0.25', sdkDisabled: true },
  )
  t.equal(otel({ OTEL_SDK_DISABLED: '1' }).sdkDisabled, false, 'only "true" is true (the specification\'s boolean)')
})

t.test('off unless an endpoint is set; OTEL_SDK_DISABLED wins', async (t) => {
  const { warn } = collect()
  t.equal(traceConfigFromEnv(otel({}), warn), undefined, 'no endpoint')
  t.equal(traceConfigFromEnv(otel({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_HEADERS: 'a=b' }), warn), undefined, 'other variables alone do not switch it on')
  t.equal(traceConfigFromEnv(otel({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_SDK_DISABLED: 'true' }), warn), undefined, 'disabled')
  t.same(traceConfigFromEnv(otel({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }), warn), {
    endpoint: 'http://c:4317',
    headers: {},
    serviceName: DEFAULT_SERVICE_NAME,
    sampler: { root: 'always_on', ratio: 1, parentBased: true },
  })
  t.equal(DEFAULT_SERVICE_NAME, 'mcp-hangar-sidecar')
})

t.test('the traces endpoint wins; headers merge, traces-specific over general, percent-decoded', async (t) => {
  const { warn } = collect()
  const c = traceConfigFromEnv(
    otel({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4317',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example:4317',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=general,x-tenant=team%20a',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=traces,authorization=Basic%20dXNlcjpwYXNz',
      OTEL_SERVICE_NAME: 'hangar-edge',
    }),
    warn,
  )
  t.equal(c?.endpoint, 'https://traces.example:4317')
  t.same(c?.headers, { 'api-key': 'traces', 'x-tenant': 'team a', authorization: 'Basic dXNlcjpwYXNz' })
  t.equal(c?.serviceName, 'hangar-edge')
  t.equal(traceConfigFromEnv(otel({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4317' }), warn)?.endpoint, 'http://t:4317', 'the traces endpoint alone switches it on')
})

t.test('samplers by name; bad values warn and fall back', async (t) => {
  const rows: Array<[string | undefined, string | undefined, ReturnType<typeof samplerFromEnv>]> = [
    [undefined, undefined, { root: 'always_on', ratio: 1, parentBased: true }],
    ['parentbased_always_on', undefined, { root: 'always_on', ratio: 1, parentBased: true }],
    ['always_on', undefined, { root: 'always_on', ratio: 1, parentBased: false }],
    ['ALWAYS_OFF', undefined, { root: 'always_off', ratio: 0, parentBased: false }],
    ['parentbased_always_off', undefined, { root: 'always_off', ratio: 0, parentBased: true }],
    ['traceidratio', '0.25', { root: 'ratio', ratio: 0.25, parentBased: false }],
    ['parentbased_traceidratio', '0', { root: 'ratio', ratio: 0, parentBased: true }],
    ['traceidratio', undefined, { root: 'ratio', ratio: 1, parentBased: false }],
  ]
  for (const [name, arg, want] of rows) {
    const { warn, warnings } = collect()
    t.same(samplerFromEnv(name, arg, warn), want, `${name} ${arg ?? ''}`)
    t.same(warnings, [], `${name}: no warning`)
  }
  for (const [name, arg, want] of [
    ['traceidratio', '1.5', { root: 'ratio', ratio: 1, parentBased: false }],
    ['traceidratio', 'half', { root: 'ratio', ratio: 1, parentBased: false }],
    ['jaeger_remote', undefined, { root: 'always_on', ratio: 1, parentBased: true }],
  ] as const) {
    const { warn, warnings } = collect()
    t.same(samplerFromEnv(name, arg, warn), want, `${name} ${arg ?? ''}: fallback`)
    t.equal(warnings.length, 1, `${name} ${arg ?? ''}: one warning`)
  }
})
