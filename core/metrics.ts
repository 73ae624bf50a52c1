/**
 * prom-client metrics, prefix `mcp_hangar_` (DESIGN.md §8). One {@link Registry} per process
 * component, so tests can run several sidecars in one process without name clashes.
 * Label sets are fixed here; callers only increment.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

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
export function createMetrics(opts: { defaultMetrics?: boolean } = {}): HangarMetrics {
  const registry = new Registry()
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: P })
  const r = [registry]
  const egress: EgressMetrics = {
    egressRequests: new Counter({ name: `${P}egress_requests_total`, help: 'Egress decisions by protocol and decision.', labelNames: ['provider', 'protocol', 'decision'], registers: r }),
    egressBytes: new Counter({ name: `${P}egress_bytes_total`, help: 'Bytes carried by egress tunnels and forwards.', labelNames: ['provider', 'direction'], registers: r }),
    egressActiveTunnels: new Gauge({ name: `${P}egress_active_tunnels`, help: 'Open egress tunnels and forwarded connections.', labelNames: ['provider'], registers: r }),
    egressConnectDuration: new Histogram({ name: `${P}egress_connect_duration_seconds`, help: 'Time from request to upstream connected (decision, resolve, dial).', labelNames: ['provider'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: r }),
    dnsQueries: new Counter({ name: `${P}dns_queries_total`, help: 'DNS queries by decision.', labelNames: ['provider', 'decision'], registers: r }),
    dnsCacheHits: new Counter({ name: `${P}dns_cache_hits_total`, help: 'DNS answers served from cache.', labelNames: ['provider'], registers: r }),
    capabilityViolations: new Counter({ name: `${P}capability_violations_total`, help: 'Capability violations by type and action.', labelNames: ['provider', 'violation_type', 'action'], registers: r }),
    signalsEmitted: new Counter({ name: `${P}signals_emitted_total`, help: 'Signals handed to the signal sink.', labelNames: ['provider', 'kind'], registers: r }),
    quarantined: new Gauge({ name: `${P}quarantined`, help: '1 while the provider is quarantined.', labelNames: ['provider'], registers: r }),
  }
  return { registry, egress }
}
