/**
 * Builds a real {@link EgressContext} for listener tests: compiled policy from a capabilities
 * block, parsed sidecar limits, a fresh metrics registry, an QuarantineSwitch, EgressSignals
 * over a MemorySink, a silent logger, and a static-map Resolver (the resolver is an input of these
 * tests; DNS is tested on its own).
 */
import { providerSchema, sidecarLimitsSchema, type ProviderConfig, type SidecarLimits } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { createMetrics, type HangarMetrics } from '../../core/metrics.js'
import { EgressConnector, type EgressContext } from '../../egress/connector.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import { EgressSignals } from '../../egress/signals.js'
import type { ProtectedEndpoints, Resolver } from '../../policy/egress-types.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import type { BaselineRecorder } from '../../profiles/baseline/recorder.js'
import { MemorySink } from '../../signals/sink.js'
import type { Signal } from '../../signals/types.js'
import { staticResolver } from './net.js'

export interface EgressContextOptions {
  provider?: string
  /** The `capabilities` block (validated with capabilitiesSchema). */
  capabilities: Record<string, unknown>
  /** `sidecar.limits` overrides (validated with sidecarLimitsSchema). */
  limits?: Partial<SidecarLimits>
  /** Name → IPs for the static resolver; ignored when `resolver` is given. */
  dns?: Record<string, string[]>
  resolver?: Resolver
  protectedEndpoints?: ProtectedEndpoints
  /** Observation sampling window; 0 (default here) emits every allow and close. */
  observationWindowMs?: number
  /** A baseline recorder fed by the context's EgressSignals. */
  baseline?: BaselineRecorder
}

export interface TestEgress {
  ctx: EgressContext
  connector: EgressConnector
  sink: MemorySink
  enforcement: QuarantineSwitch
  metrics: HangarMetrics
  /** Signals of one type, in order. */
  of(type: string): Signal[]
}

export function makeEgressContext(opts: EgressContextOptions): TestEgress {
  const provider = opts.provider ?? 'test'
  const caps = capabilitiesSchema.parse(opts.capabilities)
  const policy = compilePolicy(provider, caps, opts.protectedEndpoints)
  const limits = sidecarLimitsSchema.parse(opts.limits ?? {})
  const metrics = createMetrics({ defaultMetrics: false })
  const enforcement = new QuarantineSwitch()
  const sink = new MemorySink()
  const log = silentLogger()
  const signals = new EgressSignals({ provider, sidecar_id: `${provider}-test` }, policy, sink, metrics, enforcement, log, opts.observationWindowMs ?? 0, opts.baseline)
  const resolver = opts.resolver ?? staticResolver(opts.dns ?? {})
  const ctx: EgressContext = { policy, enforcement, resolver, signals, metrics, limits, log }
  return { ctx, connector: new EgressConnector(ctx), sink, enforcement, metrics, of: (type) => sink.signals.filter((s) => s.type === type) }
}

/**
 * A remote provider's config whose egress listeners all run on loopback ephemeral ports in
 * passthrough mode, resolving through `upstream` (a test DNS server), for tests that start a
 * whole EgressSidecar. `sidecar` is merged over the listener block, `capabilities` is the
 * provider's (give `network.loopback_allowed: true` to reach loopback servers).
 */
export function loopbackSidecarConfig(upstream: string, o: { sidecar?: Record<string, unknown>; capabilities?: Record<string, unknown> } = {}): ProviderConfig {
  return providerSchema.parse({
    mode: 'remote',
    endpoint: 'http://127.0.0.1:1/mcp',
    sidecar: {
      proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null, admin: '127.0.0.1:0',
      address: '127.0.0.1', dns_mode: 'passthrough', upstream_dns: [upstream], observation_window_ms: 0,
      ...o.sidecar,
    },
    capabilities: o.capabilities ?? {},
  })
}
