/**
 * prom-client metrics, prefix `mcp_hangar_` (docs/metrics.md). One {@link Registry} per process
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
  /**
   * `egress_bypass_overflow_packets_total{provider,where}`: packets dropped around the sidecar whose
   * destination a full nftables drop set could not record (`where`: `namespace` | `host`).
   */
  bypassOverflow: Counter<'provider' | 'where'>
}

/** The metrics of the MCP data plane (proxy/). */
export interface ProxyMetrics {
  /** `tool_calls_total{provider,tool,outcome}`: outcome `ok` | `error` (JSON-RPC error from the provider) | `denied` | `rate_limited` | `unavailable` | `timeout`. */
  toolCalls: Counter<'provider' | 'tool' | 'outcome'>
  /** `tool_call_duration_seconds{provider,tool}`: from the call reaching the sidecar to its response leaving it. */
  toolCallDuration: Histogram<'provider' | 'tool'>
  /** `tool_access_denied_total{provider,tool,reason}`: reason `policy` | `schema` | `secret` | `drift` | `undeclared` | `quarantine`. */
  toolAccessDenied: Counter<'provider' | 'tool' | 'reason'>
  /** `rate_limit_hits_total{provider,limit}`: limit `rate` | `concurrency`. */
  rateLimitHits: Counter<'provider' | 'limit'>
  /** `tool_schema_drifts_total{provider}`. */
  toolSchemaDrifts: Counter<'provider'>
  /** `provider_state{provider,state}`: 1 for the current lifecycle state, 0 for the others. */
  providerState: Gauge<'provider' | 'state'>
  /** `cold_starts_total{provider}`: provider processes started. */
  coldStarts: Counter<'provider'>
  /** `health_checks_total{provider,outcome}`: outcome `ok` | `failed`. */
  healthChecks: Counter<'provider' | 'outcome'>
  /** `circuit_breaker_state{provider}`: 0 closed, 1 open, 2 half-open. */
  circuitBreakerState: Gauge<'provider'>
  /** `mcp_messages_total{provider,direction}`: JSON-RPC messages through the ingress; direction `client_to_server` | `server_to_client`. */
  mcpMessages: Counter<'provider' | 'direction'>
  /** `ingress_rejected_total{provider,reason}`: HTTP-level refusals (reason `auth` | `origin` | `body_too_large` | `bad_request` | `not_acceptable` | `unsupported_media_type` | `protocol_version` | `session`). */
  ingressRejected: Counter<'provider' | 'reason'>
  /** `mcp_sessions{provider}`: open client sessions. */
  sessions: Gauge<'provider'>
}

/** The metrics of the signal shipper (signals/shipper.ts): delivery of signals to the aggregator. */
export interface ShipperMetrics {
  /** `signals_shipped_total`: signals the aggregator acknowledged (202), duplicates included, its per-signal rejections not. */
  signalsShipped: Counter
  /** `signals_spooled`: signals waiting for delivery (the disk spool plus the memory fallback queue). */
  signalsSpooled: Gauge
  /**
   * `signal_delivery_failures_total{reason}`. Per failed POST attempt: `network` | `timeout` |
   * `server_error` (5xx, 429, 408) | `auth` (401/403) | `too_large` (413) | `bad_request` (other 4xx).
   * Per signal: `rejected` (refused by the aggregator's validation) | `invalid` (refused by the
   * shipper's own validation, never spooled) | `disk` (a spool write failed; kept in memory).
   */
  signalDeliveryFailures: Counter<'reason'>
  /**
   * `signals_dropped_total{reason}`: signals lost, each also reported by a `signals_dropped` signal.
   * reason `spool_full` (oldest segment dropped) | `corrupt` (unreadable spool line) | `torn`
   * (partial last line after a crash) | `memory_full` (memory fallback queue overflowed) |
   * `shutdown` (closed while the spool could not take them) | `closed` (emitted after close).
   */
  signalsDropped: Counter<'reason'>
  /**
   * `signals_suppressed_total{provider,type}`: signals folded by the signal rate limit
   * (signals/rate-limit.ts) into `signals_suppressed` roll-ups instead of being sent one by one;
   * the roll-ups' `total`s add up to it.
   */
  signalsSuppressed: Counter<'provider' | 'type'>
}

/** A registry with the process's default metrics and the egress metrics registered on it. */
export interface HangarMetrics {
  registry: Registry
  egress: EgressMetrics
  proxy: ProxyMetrics
  shipper: ShipperMetrics
}

const P = 'mcp_hangar_'

/** Creates a fresh registry with every metric of docs/metrics.md the egress layer owns. */
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
    bypassOverflow: new CounterImpl({ name: `${P}egress_bypass_overflow_packets_total`, help: 'Packets dropped around the sidecar whose destination a full drop set could not record.', labelNames: ['provider', 'where'], registers: r }),
  }
  const proxy: ProxyMetrics = {
    toolCalls: new CounterImpl({ name: `${P}tool_calls_total`, help: 'Tool calls by outcome.', labelNames: ['provider', 'tool', 'outcome'], registers: r }),
    toolCallDuration: new HistogramImpl({ name: `${P}tool_call_duration_seconds`, help: 'Tool call duration through the sidecar.', labelNames: ['provider', 'tool'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
    toolAccessDenied: new CounterImpl({ name: `${P}tool_access_denied_total`, help: 'Tool calls refused by policy, by reason.', labelNames: ['provider', 'tool', 'reason'], registers: r }),
    rateLimitHits: new CounterImpl({ name: `${P}rate_limit_hits_total`, help: 'Calls refused by the rate or concurrency limit.', labelNames: ['provider', 'limit'], registers: r }),
    toolSchemaDrifts: new CounterImpl({ name: `${P}tool_schema_drifts_total`, help: 'Tool definitions that changed from their pin.', labelNames: ['provider'], registers: r }),
    providerState: new GaugeImpl({ name: `${P}provider_state`, help: 'Provider lifecycle state (1 = current).', labelNames: ['provider', 'state'], registers: r }),
    coldStarts: new CounterImpl({ name: `${P}cold_starts_total`, help: 'Provider processes started.', labelNames: ['provider'], registers: r }),
    healthChecks: new CounterImpl({ name: `${P}health_checks_total`, help: 'Provider health checks (ping) by outcome.', labelNames: ['provider', 'outcome'], registers: r }),
    circuitBreakerState: new GaugeImpl({ name: `${P}circuit_breaker_state`, help: 'Circuit breaker: 0 closed, 1 open, 2 half-open.', labelNames: ['provider'], registers: r }),
    mcpMessages: new CounterImpl({ name: `${P}mcp_messages_total`, help: 'JSON-RPC messages through the MCP ingress.', labelNames: ['provider', 'direction'], registers: r }),
    ingressRejected: new CounterImpl({ name: `${P}ingress_rejected_total`, help: 'HTTP requests refused by the MCP ingress, by reason.', labelNames: ['provider', 'reason'], registers: r }),
    sessions: new GaugeImpl({ name: `${P}mcp_sessions`, help: 'Open MCP client sessions.', labelNames: ['provider'], registers: r }),
  }
  const shipper: ShipperMetrics = {
    signalsShipped: new CounterImpl({ name: `${P}signals_shipped_total`, help: 'Signals acknowledged by the aggregator.', registers: r }),
    signalsSpooled: new GaugeImpl({ name: `${P}signals_spooled`, help: 'Signals waiting for delivery (disk spool and memory fallback).', registers: r }),
    signalDeliveryFailures: new CounterImpl({ name: `${P}signal_delivery_failures_total`, help: 'Failed signal deliveries by reason (per attempt, or per signal for rejected/invalid/disk).', labelNames: ['reason'], registers: r }),
    signalsDropped: new CounterImpl({ name: `${P}signals_dropped_total`, help: 'Signals lost by the shipper, by reason.', labelNames: ['reason'], registers: r }),
    signalsSuppressed: new CounterImpl({ name: `${P}signals_suppressed_total`, help: 'Signals folded into signals_suppressed roll-ups by the signal rate limit.', labelNames: ['provider', 'type'], registers: r }),
  }
  return { registry, egress, proxy, shipper }
}

/** The metrics of the Kubernetes admission webhook (k8s/webhook.ts), on a registry of their own. */
export interface AdmissionMetrics {
  registry: Registry
  /**
   * `admission_reviews_total{result}`: `POST /mutate` requests by answer: `patched` (sidecar
   * injected), `unchanged` (allowed as is), `denied` (the pod cannot be isolated), `bad_request`
   * (not an AdmissionReview, unreadable, too large, or a failure of the webhook itself),
   * `overloaded` (refused 503: too many reviews in progress).
   */
  admissionReviews: Counter<'result'>
}

/** The admission results, each series present (at 0) from the start. */
export const ADMISSION_RESULTS = ['patched', 'unchanged', 'denied', 'bad_request', 'overloaded'] as const

/** Creates the admission webhook's registry: {@link AdmissionMetrics} and, unless turned off, the process metrics. */
export function createAdmissionMetrics(opts: { processMetrics?: boolean } = {}): AdmissionMetrics {
  const registry = new RegistryImpl()
  if (opts.processMetrics ?? true) registerProcessMetrics(registry)
  const admissionReviews = new CounterImpl({ name: `${P}admission_reviews_total`, help: 'Admission reviews answered by the sidecar injection webhook, by result.', labelNames: ['result'], registers: [registry] })
  for (const result of ADMISSION_RESULTS) admissionReviews.inc({ result }, 0)
  return { registry, admissionReviews }
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

/**
 * Sets `mcp_hangar_enterprise_feature_disabled{feature}` to 1 on `registry` (the gauge is made on
 * first use, so a registry without a disabled feature does not carry it): a configured enterprise
 * feature does not run because its module is not loaded (docs/licensing.md).
 */
export function markEnterpriseFeatureDisabled(registry: Registry, feature: string): void {
  const name = `${P}enterprise_feature_disabled`
  const g = (registry.getSingleMetric(name) as Gauge<'feature'> | undefined)
    ?? new GaugeImpl({ name, help: 'Configured enterprise features that do not run without a license (1 = disabled).', labelNames: ['feature'], registers: [registry] })
  g.set({ feature }, 1)
}
