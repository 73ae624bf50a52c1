/**
 * How a sidecar process talks to the control plane: where its signals go, what its heartbeats
 * say, and the heartbeat/policy link to the aggregator.
 *
 * Signal output:
 * - `aggregator.url` set → the {@link AggregatorShipper} (durable spool in
 *   `<sidecar.data_dir>/spool`, the first `aggregator.signal_tokens` entry as bearer token);
 *   an explicit `--signal-log` or `sidecar.signal_log` additionally writes JSON lines;
 * - otherwise → JSON lines (`--signal-log`, `sidecar.signal_log`, `<data_dir>/signals.jsonl`).
 * Either way the signal rate limit (`sidecar.signal_limits`, signals/rate-limit.ts) sits in
 * front: a flood of signals costs a bounded number of records plus `signals_suppressed` roll-ups.
 */
import { HANGAR_VERSION } from '../core/version.js'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { HangarConfig, ProviderConfig } from '../config/schema.js'
import type { Logger } from '../core/log.js'
import type { HangarMetrics } from '../core/metrics.js'
import type { QuarantineSwitch } from '../policy/quarantine.js'
import { SidecarLink } from './aggregator-link.js'
import type { Heartbeat } from '../aggregator/registry.js'
import type { Baseline } from '../policy/baseline-schema.js'
import { RateLimitedSink } from '../signals/rate-limit.js'
import { AggregatorShipper } from '../signals/shipper.js'
import { JsonLinesSink, TeeSink, type SignalSink } from '../signals/sink.js'
import type { Isolation } from '../signals/types.js'

/** The version sidecars report in heartbeats. */
export const SIDECAR_VERSION = HANGAR_VERSION

export interface SignalOutput {
  sink: SignalSink
  /** What to log at start: `aggregator <url>`, a path, or both. */
  describe: string
}

/** Opens the signal output of one provider's sidecar (rules at the top of this file). */
export function openSignalOutput(o: { config: HangarConfig; providerName: string; provider: ProviderConfig; sidecarId: string; signalLog: string | undefined; metrics: HangarMetrics; log: Logger }): SignalOutput {
  const sc = o.provider.sidecar
  const url = o.config.aggregator?.url
  const explicitLog = o.signalLog ?? sc.signal_log
  const origin = { provider: o.providerName, sidecar_id: o.sidecarId }
  const mode = o.provider.capabilities.enforcement_mode
  const l = sc.signal_limits
  const limited = (inner: SignalSink): SignalSink => new RateLimitedSink({
    inner, origin, mode, log: o.log, suppressed: o.metrics.shipper.signalsSuppressed, stateFile: join(resolve(sc.data_dir), 'signal-rollup.json'),
    limits: { ratePerS: l.rate_per_s, burst: l.burst, perKey: l.per_destination, intervalMs: l.rollup_interval_ms, maxEntries: l.rollup_max_entries },
  })
  if (!url) {
    const path = explicitLog ?? join(resolve(sc.data_dir), 'signals.jsonl')
    return { sink: limited(new JsonLinesSink(path)), describe: path }
  }
  const token = o.config.aggregator?.signal_tokens[0]
  const shipper = new AggregatorShipper({
    url,
    ...(token !== undefined && { token }),
    spoolDir: join(resolve(sc.data_dir), 'spool'),
    origin,
    mode,
    log: o.log,
    metrics: o.metrics.shipper,
    lingerMs: 250,
  })
  if (!explicitLog) return { sink: limited(shipper), describe: `aggregator ${url}` }
  return { sink: limited(new TeeSink([shipper, new JsonLinesSink(explicitLog)])), describe: `aggregator ${url} and ${explicitLog}` }
}

/** What a sidecar says about itself in a heartbeat (the link adds `quarantined` and `profile_digest`). */
export type HeartbeatStatus = Pick<Heartbeat, 'state'> & Partial<Pick<Heartbeat, 'tools_digest' | 'mcp_url' | 'provider_state' | 'isolation'>>

/** The part of the MCP ingress's status (`McpSidecar.status()`) a heartbeat is built from. */
export interface McpStatusForHeartbeat {
  processes?: ReadonlyArray<{ state: string; breaker: string }>
  tools: { pins: Record<string, string> }
}

/**
 * The heartbeat status of a sidecar with an MCP ingress: `degraded` while any provider process is
 * DEGRADED or DEAD or its circuit breaker is open, else `ready`; the digest of the pinned tool
 * definitions; the MCP URL other hosts reach (`providers.<name>.listen` with the bound `port`);
 * the first provider process's lifecycle state; and the isolation, when known.
 */
export function mcpHeartbeat(st: McpStatusForHeartbeat, listen: string | undefined, port: number, isolation?: Isolation): HeartbeatStatus {
  const procs = st.processes ?? []
  const degraded = procs.some((p) => p.state === 'DEGRADED' || p.state === 'DEAD' || p.breaker === 'open')
  const url = mcpUrlOf(listen, port)
  return {
    state: degraded ? 'degraded' : 'ready',
    tools_digest: digestOf(st.tools.pins),
    ...(url && { mcp_url: url }),
    ...(procs[0] && { provider_state: procs[0].state }),
    ...(isolation && { isolation }),
  }
}

/** `sha256:<hex>` over a JSON value (tools and profile digests in heartbeats). */
export function digestOf(value: unknown): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(value)).digest('hex')}`
}

/**
 * Starts the heartbeat and policy link when `aggregator.url` is set. The policy's actions are
 * applied to the shared quarantine state; an approval also clears drift holds (`approveTools`).
 * `baseline` (the recorder's current document) and `baselineIntervalMs` (ms, default 30 000)
 * are passed to the link, which ships the baseline with heartbeats (sidecar/aggregator-link.ts).
 */
export function startSidecarLink(o: {
  config: HangarConfig
  providerName: string
  provider: ProviderConfig
  sidecarId: string
  enforcement: QuarantineSwitch
  log: Logger
  status(): HeartbeatStatus
  approveTools?(): void
  /** The provider's current baseline, if recorded (`SidecarLinkOptions.baseline`). */
  baseline?: () => Baseline | undefined
  /** Least time between two heartbeats that carry a baseline, ms. */
  baselineIntervalMs?: number
}): SidecarLink | undefined {
  const url = o.config.aggregator?.url
  if (!url) return undefined
  const token = o.config.aggregator?.signal_tokens[0]
  const profileDigest = digestOf(o.provider.capabilities)
  const link = new SidecarLink({
    url,
    ...(token !== undefined && { token }),
    provider: o.providerName,
    sidecarId: o.sidecarId,
    version: SIDECAR_VERSION,
    log: o.log,
    ...(o.baseline && { baseline: o.baseline }),
    ...(o.baselineIntervalMs !== undefined && { baselineIntervalMs: o.baselineIntervalMs }),
    status: () => ({ ...o.status(), quarantined: o.enforcement.state.quarantined, profile_digest: profileDigest }),
    apply: (actions, policy) => {
      if (actions.quarantine !== undefined) o.enforcement.quarantine(actions.quarantine, 'aggregator')
      if (actions.approve !== undefined) {
        o.enforcement.release(actions.approve, 'aggregator')
        o.approveTools?.()
      }
      o.log.info({ policy_version: policy.version, quarantined: policy.quarantined, ...actions }, 'aggregator policy applied')
    },
  })
  link.start()
  return link
}

/** The sidecar's MCP URL as another host on the same network reaches it (`0.0.0.0` → loopback). */
export function mcpUrlOf(listen: string | undefined, port: number): string | undefined {
  if (!listen) return undefined
  const host = listen.slice(0, listen.lastIndexOf(':'))
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host
  return `http://${h}:${port}/mcp`
}
