/**
 * createMetrics (core/metrics.ts): one registry per call with every metric under the
 * `mcp_hangar_` prefix, fixed label sets (an unknown label is an error, not a new series),
 * independent registries, the process metrics only when asked and read at scrape time, and
 * prom-client's index (default collectors, Pushgateway, cluster) never loaded.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { sep } from 'node:path'
import { ADMISSION_RESULTS, createAdmissionMetrics, createMetrics } from '../../core/metrics.js'

const EGRESS = ['egress_requests_total', 'egress_bytes_total', 'egress_active_tunnels', 'egress_connect_duration_seconds', 'dns_queries_total', 'dns_cache_hits_total', 'capability_violations_total', 'signals_emitted_total', 'quarantined', 'egress_bypass_overflow_packets_total']
const PROXY = ['tool_calls_total', 'tool_call_duration_seconds', 'tool_access_denied_total', 'rate_limit_hits_total', 'tool_schema_drifts_total', 'provider_state', 'cold_starts_total', 'health_checks_total', 'circuit_breaker_state', 'mcp_messages_total', 'ingress_rejected_total', 'mcp_sessions']
const SHIPPER = ['signals_shipped_total', 'signals_spooled', 'signal_delivery_failures_total', 'signals_dropped_total', 'signals_suppressed_total']
const PROCESS = ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_start_time_seconds', 'nodejs_heap_used_bytes', 'nodejs_active_handles']

const names = async (m: ReturnType<typeof createMetrics>) => (await m.registry.getMetricsAsJSON()).map((x) => x.name).sort()

t.test('every metric is registered under mcp_hangar_; process metrics only when asked', async (t) => {
  const plain = createMetrics({ defaultMetrics: false })
  t.same(await names(plain), [...EGRESS, ...PROXY, ...SHIPPER].map((n) => `mcp_hangar_${n}`).sort())
  const withProcess = createMetrics()
  t.same(await names(withProcess), [...EGRESS, ...PROXY, ...SHIPPER, ...PROCESS].map((n) => `mcp_hangar_${n}`).sort(), 'the default includes process metrics')
  t.same(await names(createMetrics({ processMetrics: false, defaultMetrics: true })), await names(plain), 'processMetrics wins over defaultMetrics')
})

t.test('process metrics are read at scrape time with plausible values', async (t) => {
  const m = createMetrics({ processMetrics: true })
  const json = await m.registry.getMetricsAsJSON()
  const v = (n: string) => Number(json.find((x) => x.name === `mcp_hangar_${n}`)!.values[0]!.value)
  t.ok(v('process_resident_memory_bytes') > 10 * 1024 * 1024, 'RSS in bytes')
  t.ok(v('nodejs_heap_used_bytes') > 1024 * 1024)
  t.ok(v('process_cpu_seconds_total') > 0)
  const start = v('process_start_time_seconds')
  t.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 2, 'start time in Unix seconds')
  t.ok(v('nodejs_active_handles') >= 0)
  const text = await m.registry.metrics()
  t.match(text, /^# HELP mcp_hangar_process_resident_memory_bytes /m)
})

t.test('registries are independent: two sidecars in one process do not share counts', async (t) => {
  const a = createMetrics({ defaultMetrics: false })
  const b = createMetrics({ defaultMetrics: false })
  a.egress.egressRequests.inc({ provider: 'p', protocol: 'https', decision: 'allowed' }, 3)
  t.match(await a.registry.metrics(), /mcp_hangar_egress_requests_total\{provider="p",protocol="https",decision="allowed"\} 3/)
  t.notMatch(await b.registry.metrics(), /mcp_hangar_egress_requests_total\{/, 'b has no series')
})

t.test('label sets are fixed: an unknown label throws; the declared ones work', async (t) => {
  const m = createMetrics({ defaultMetrics: false })
  t.throws(() => m.proxy.toolCalls.inc({ provider: 'p', tool: 't', outcome: 'ok', session: 's' } as never), /Added label "session" is not included in initial labelset/)
  m.proxy.toolCalls.inc({ provider: 'p', tool: 't', outcome: 'ok' })
  m.shipper.signalsShipped.inc(5)
  t.throws(() => m.shipper.signalsShipped.inc({ provider: 'p' } as never, 1), 'an unlabelled metric takes no labels')
  const text = await m.registry.metrics()
  t.match(text, /mcp_hangar_tool_calls_total\{provider="p",tool="t",outcome="ok"\} 1/)
  t.match(text, /^mcp_hangar_signals_shipped_total 5$/m)
})

t.test('histogram buckets: connect duration from 0.5 ms, tool calls up to 30 s', async (t) => {
  const m = createMetrics({ defaultMetrics: false })
  m.egress.egressConnectDuration.observe({ provider: 'p' }, 0.0004)
  m.proxy.toolCallDuration.observe({ provider: 'p', tool: 't' }, 29)
  const text = await m.registry.metrics()
  t.match(text, /mcp_hangar_egress_connect_duration_seconds_bucket\{le="0.0005",provider="p"\} 1/)
  t.match(text, /mcp_hangar_tool_call_duration_seconds_bucket\{le="30",provider="p",tool="t"\} 1/)
  t.match(text, /mcp_hangar_tool_call_duration_seconds_bucket\{le="10",provider="p",tool="t"\} 0/)
})

t.test('prom-client\'s index is never loaded', async (t) => {
  createMetrics()
  const require = createRequire(import.meta.url)
  const promFiles = Object.keys(require.cache).filter((k) => k.includes(`${sep}node_modules${sep}prom-client${sep}`))
  t.ok(promFiles.some((k) => k.endsWith(`lib${sep}registry.js`)), 'the registry class is loaded')
  t.notOk(promFiles.some((k) => k.endsWith(`prom-client${sep}index.js`)), 'index.js is not')
  t.notOk(promFiles.some((k) => k.includes('pushgateway') || k.includes('cluster') || k.includes(`lib${sep}defaultMetrics`)), 'nor the pushgateway, cluster or default collectors')
})

t.test('createAdmissionMetrics: admission_reviews_total by result, every result at 0 from the start; its own registry', async (t) => {
  const m = createAdmissionMetrics({ processMetrics: false })
  const text = await m.registry.metrics()
  for (const result of ADMISSION_RESULTS) t.match(text, new RegExp(`^mcp_hangar_admission_reviews_total\\{result="${result}"\\} 0$`, 'm'), result)
  m.admissionReviews.inc({ result: 'patched' })
  t.match(await m.registry.metrics(), /^mcp_hangar_admission_reviews_total\{result="patched"\} 1$/m)
  t.throws(() => m.admissionReviews.inc({ result: 'patched', pod: 'p' } as never), /not included in initial labelset/)
  t.notMatch(await createMetrics({ defaultMetrics: false }).registry.metrics(), /admission/, 'not on the sidecar registry')
  t.match(await createAdmissionMetrics().registry.metrics(), /^mcp_hangar_process_resident_memory_bytes /m, 'process metrics by default')
})
