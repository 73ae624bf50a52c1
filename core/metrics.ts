/**
 * prom-client metrics, prefix `mcp_hangar_` (DESIGN.md §8). One {@link Registry} per process
 * component, so tests can run several sidecars in one process without name clashes.
 * Label sets are fixed here; callers only increment.
 */
import { createRequire } from 'node:module'
import type * as Prom from 'prom-client'
import type { Counter, Gauge, Histogram, Registry } from 'prom-client'

// prom-client's index also loads its default-metrics collectors, Pushgateway, Summary and the
// cluster aggregator: ~8 MB of idle memory the sidecar does not use. Its metric classes are
// loaded directly instead (the package has no exports map; these are its own modules).
const load = createRequire(import.meta.url)
const RegistryImpl = load('prom-client/lib/registry') as typeof Prom.Registry
const CounterImpl = load('prom-client/lib/counter') as typeof Prom.Counter
const GaugeImpl = load('prom-client/lib/gauge') as typeof Prom.Gauge
const HistogramImpl = load('prom-client/lib/histogram') as typeof Prom.Histogram

/** The metrics of the egress data plane. */
export interface EgressMetrics {
  /** `egress_requests_total{provider,protocol,decision}`: every egress decision (CONNECT, HTTP, transparent, tcp). */
  egressRequests: Counter<'provider' | 'protocol' | 'decision'>
  /** `egress_bytes_total{provider,direction}`: bytes through tunnels; direction `upstream` (sent) | `downstream` (received). */
  egressBytes: Counter<'provider' | 'direction'>
  /** `egress_active_tunnels{provider}`: open tunnels/forwarded connections. */
  egressActiveTunnels: Gauge<'provider'>
  /** `egress_connect_duration_seconds{provider}`: decision + resolve + dial, per allowed connection. */
  egressConnectDuration: Histogram<'provider'>
  /**
   * `dns_queries_total{provider,decision}`: the enforcement action (`allowed` | `alerted` | `blocked` |
   * `quarantined`), or a protocol outcome decided before policy (`formerr` | `notimp` | `refused`).
   */
  dnsQueries: Counter<'provider' | 'decision'>
  /** `dns_cache_hits_total{provider}`. */
  dnsCacheHits: Counter<'provider'>
  /** `capability_violations_total{provider,violation_type,action}`. */
  capabilityViolations: Counter<'provider' | 'violation_type' | 'action'>
  /** `signals_emitted_total{provider,kind}`: signals handed to the sink. */
  signalsEmitted: Counter<'provider' | 'kind'>
  /** `quarantined{provider}`: 1 while the provider is quarantined. */
  quarantined: Gauge<'provider'>
}

/** A registry with the process's default metrics and the egress metrics registered on it. */
export interface HangarMetrics {
  registry: Registry
  egress: EgressMetrics
}

const P = 'mcp_hangar_'

/** Creates a fresh registry with every metric of DESIGN.md §8 the egress layer owns. */
export function createMetrics(opts: { processMetrics?: boolean; defaultMetrics?: boolean } = {}): HangarMetrics {
  const registry = new RegistryImpl()
  if (opts.processMetrics ?? opts.defaultMetrics ?? true) registerProcessMetrics(registry)
  const r = [registry]
  const egress: EgressMetrics = {
    egressRequests: new CounterImpl({ name: `${P}egress_requests_total`, help: 'Egress decisions by protocol and decision.', labelNames: ['provider', 'protocol', 'decision'], registers: r }),
    egressBytes: new CounterImpl({ name: `${P}egress_bytes_total`, help: 'Bytes carried by egress tunnels and forwards.', labelNames: ['provider', 'direction'], registers: r }),
    egressActiveTunnels: new GaugeImpl({ name: `${P}egress_active_tunnels`, help: 'Open egress tunnels and forwarded connections.', labelNames: ['provider'], registers: r }),
    egressConnectDuration: new HistogramImpl({ name: `${P}egress_connect_duration_seconds`, help: 'Time from request to upstream connected (decision, resolve, dial).', labelNames: ['provider'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: r }),
    dnsQueries: new CounterImpl({ name: `${P}dns_queries_total`, help: 'DNS queries by decision.', labelNames: ['provider', 'decision'], registers: r }),
    dnsCacheHits: new CounterImpl({ name: `${P}dns_cache_hits_total`, help: 'DNS answers served from cache.', labelNames: ['provider'], registers: r }),
    capabilityViolations: new CounterImpl({ name: `${P}capability_violations_total`, help: 'Capability violations by type and action.', labelNames: ['provider', 'violation_type', 'action'], registers: r }),
    signalsEmitted: new CounterImpl({ name: `${P}signals_emitted_total`, help: 'Signals handed to the signal sink.', labelNames: ['provider', 'kind'], registers: r }),
    quarantined: new GaugeImpl({ name: `${P}quarantined`, help: '1 while the provider is quarantined.', labelNames: ['provider'], registers: r }),
  }
  return { registry, egress }
}

/**
 * The process metrics operators need, read at scrape time (names as prom-client's defaults, with
 * our prefix): `process_resident_memory_bytes`, `process_cpu_seconds_total` (user + system),
 * `process_start_time_seconds`, `nodejs_heap_used_bytes`, `nodejs_active_handles`.
 */
function registerProcessMetrics(registry: Registry): void {
  const r = [registry]
  const started = Math.round(Date.now() / 1000 - process.uptime())
  new GaugeImpl({ name: `${P}process_resident_memory_bytes`, help: 'Resident memory size in bytes.', registers: r, collect() { this.set(process.memoryUsage.rss()) } })
  new GaugeImpl({ name: `${P}process_cpu_seconds_total`, help: 'User and system CPU time spent, seconds.', registers: r, collect() { const u = process.cpuUsage(); this.set((u.user + u.system) / 1e6) } })
  new GaugeImpl({ name: `${P}process_start_time_seconds`, help: 'Start time of the process since the Unix epoch, seconds.', registers: r, collect() { this.set(started) } })
  new GaugeImpl({ name: `${P}nodejs_heap_used_bytes`, help: 'V8 heap used, bytes.', registers: r, collect() { this.set(process.memoryUsage().heapUsed) } })
  new GaugeImpl({ name: `${P}nodejs_active_handles`, help: 'Active libuv handles (sockets, timers, servers).', registers: r, collect() { this.set((process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length) } })
}
