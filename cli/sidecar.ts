/**
 * `mcp-hangar sidecar -c hangar.yaml --provider NAME`: one provider's whole sidecar in one
 * process — the MCP ingress (sidecar/mcp.ts) and the egress listeners (sidecar/egress.ts),
 * sharing the quarantine state, the metrics registry and the signal output. Runs until SIGINT
 * or SIGTERM, then stops the provider gracefully.
 *
 * With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) set, MCP requests are traced over
 * OTLP/gRPC (proxy/trace/); the exporter is loaded only then, and flushed last on stop.
 */
import { randomUUID } from 'node:crypto'
import { AdminServer } from '../sidecar/admin-server.js'
import { splitListen } from '../config/schema.js'
import { providerEnv, readEnv, type HangarEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { createMetrics } from '../core/metrics.js'
import { EgressSidecar } from '../sidecar/egress.js'
import { McpSidecar, SIDECAR_CLIENT_INFO } from '../sidecar/mcp.js'
import { traceConfigFromEnv } from '../proxy/trace/config.js'
import type { OtlpTracing } from '../proxy/trace/otlp.js'
import { digestOf, mcpUrlOf, openSignalOutput, startSidecarLink } from '../sidecar/control-plane.js'
import { loadProviderRun, untilSignal } from './run.js'
import type { ProviderConfig } from '../config/schema.js'
import { BypassMonitor } from '../local/bypass-monitor.js'
import { IsolationMarkingSink, netnsWrap } from '../sidecar/isolation.js'
import { readSandboxSpec, sandboxArgv } from '../local/sandbox.js'
import { proxyEnv } from '../core/proxy-env.js'
import { buildSignal } from '../signals/build.js'
import { hostAccessSignal, parseHostAccess } from '../signals/host-access.js'
import { BaselineRecorder } from '../profiles/baseline/recorder.js'
import { BaselineKeeper, loadBaselineFile } from '../profiles/baseline/store.js'
import type { Isolation } from '../signals/types.js'

/** Where the provider reaches the forward proxy: `sidecar.proxy`, with a wildcard host replaced by `sidecar.address`. */
function proxyAddress(p: ProviderConfig): string {
  const { host, port } = splitListen(p.sidecar.proxy)
  const h = host === '0.0.0.0' || host === '::' || host === '' ? (p.sidecar.address ?? '127.0.0.1') : host
  return `${h}:${port}`
}

export interface SidecarCommand {
  configPath: string
  provider: string
  signalLog: string | undefined
  /** Run without the egress listeners (a remote provider whose egress is not ours to see). */
  noEgress: boolean
  log: Logger
  /** The environment (default: read now); its `otel` block switches tracing on. */
  env?: HangarEnv
  /**
   * `mcp-hangar up` with isolation `netns`: the provider's namespace (made by up, local/netns.ts).
   * The provider is spawned inside it as `runAs`, and the namespace's drop counters are reported
   * as `egress_bypass_attempt`.
   */
  netns?: { name: string; hostTable: string; runAs: string; sandbox?: string }
  /** Marks every signal and heartbeat (`up` passes `netns` or `cooperative`). */
  isolation?: Isolation
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runSidecar(cmd: SidecarCommand): Promise<void> {
  const { config, provider: configured, source } = loadProviderRun(cmd.configPath, cmd.provider, cmd.log)
  // Under `up`, a subprocess provider gets the proxy environment (its own `env` wins).
  const proxyAt = cmd.isolation && configured.mode === 'subprocess' && !cmd.noEgress ? proxyAddress(configured) : undefined
  const provider: ProviderConfig = proxyAt ? { ...configured, env: { ...proxyEnv(proxyAt), ...configured.env } } : configured
  const sidecarId = `${cmd.provider}-${randomUUID().slice(0, 8)}`
  const metrics = createMetrics()
  const out = openSignalOutput({ config, providerName: cmd.provider, provider: configured, sidecarId, signalLog: cmd.signalLog, metrics, log: cmd.log })
  const sink = cmd.isolation ? new IsolationMarkingSink(out.sink, cmd.isolation) : out.sink
  const recorder = startBaseline(provider, cmd.provider, cmd.log)
  const late: { mcp?: McpSidecar } = {}
  const egress = new EgressSidecar({
    provider: cmd.provider,
    config: provider,
    sink,
    sidecarId,
    log: cmd.log,
    metrics,
    adminTokens: config.aggregator?.admin_tokens ?? [],
    protectedAddresses: [...(config.aggregator ? [config.aggregator.listen] : []), ...(provider.listen ? [provider.listen] : [])],
    extraStatus: () => late.mcp?.status() ?? {},
    ...(recorder && { baseline: recorder.recorder }),
  })
  const hangarEnv = cmd.env ?? readEnv()
  // Fails closed: host access the sidecar cannot read must not run unreported.
  const hostAccess = parseHostAccess(hangarEnv.hostAccess)
  const traceConfig = traceConfigFromEnv(hangarEnv.otel, (message) => cmd.log.warn(message))
  let tracing: OtlpTracing | undefined
  if (traceConfig) {
    const { startOtlpTracing } = await import('../proxy/trace/otlp.js')
    tracing = startOtlpTracing({ config: traceConfig, provider: cmd.provider, sidecarId: egress.sidecarId, serviceVersion: SIDECAR_CLIENT_INFO.version, log: cmd.log })
  }
  const mcp = new McpSidecar({
    provider: cmd.provider,
    config: provider,
    sink,
    log: cmd.log,
    metrics,
    enforcement: egress.enforcement,
    sidecarId: egress.sidecarId,
    inheritedEnv: providerEnv(),
    ...(tracing && { tracer: tracing.tracer }),
    ...(cmd.netns && { wrap: cmd.netns.sandbox ? sandboxArgv(readSandboxSpec(cmd.netns.sandbox)) : netnsWrap(cmd.netns.name, cmd.netns.runAs) }),
    ...(recorder && { baseline: recorder.recorder }),
  })
  late.mcp = mcp
  // Written last on stop, after the provider and the listeners have recorded their final events.
  const stops: Array<() => Promise<void>> = recorder ? [() => recorder.keeper.close()] : []
  let ready = false
  let adminPort: number | undefined
  try {
    if (!cmd.noEgress) {
      await egress.start()
      stops.unshift(() => egress.stop())
    } else {
      // Without the egress listeners the admin listener (health, ready, metrics, status) still runs.
      const admin = new AdminServer({
        registry: metrics.registry, enforcement: egress.enforcement, tokens: config.aggregator?.admin_tokens ?? [],
        ready: () => ready, status: () => ({ ...egress.status(), ...mcp.status() }),
        ...(recorder && { baseline: () => recorder.recorder.snapshot() }),
      })
      const a = splitListen(provider.sidecar.admin)
      adminPort = await admin.listen(a.host, a.port)
      stops.unshift(() => admin.close())
    }
    const port = await mcp.start()
    stops.unshift(() => mcp.stop())
    ready = true
    const granted = hostAccessSignal(hostAccess, provider.capabilities.enforcement_mode)
    if (granted) {
      sink.emit(buildSignal({ provider: cmd.provider, sidecar_id: sidecarId }, granted))
      cmd.log.warn({ grants: hostAccess }, granted.reason)
    }
    cmd.log.info({ config: source, signals: out.describe, mcp_port: port, admin_port: adminPort ?? egress.ports.admin }, 'ready')
  } catch (err) {
    for (const s of stops) await s()
    await tracing?.shutdown()
    await sink.close()
    throw err
  }
  const link = startSidecarLink({
    config, providerName: cmd.provider, provider, sidecarId, enforcement: egress.enforcement, log: cmd.log,
    status: () => {
      const st = mcp.status() as { processes?: Array<{ state: string; breaker: string }>; tools: { pins: Record<string, string> } }
      const procs = st.processes ?? []
      const degraded = procs.some((p) => p.state === 'DEGRADED' || p.state === 'DEAD' || p.breaker === 'open')
      const url = mcpUrlOf(provider.listen, mcp.port)
      return {
        state: degraded ? 'degraded' : 'ready',
        tools_digest: digestOf(st.tools.pins),
        ...(url && { mcp_url: url }),
        ...(procs[0] && { provider_state: procs[0].state }),
        ...(cmd.isolation && { isolation: cmd.isolation }),
      }
    },
    approveTools: () => mcp.inspector.approve(),
    ...(recorder && { baseline: () => recorder.recorder.snapshot(), baselineIntervalMs: provider.sidecar.baseline.ship_interval_ms }),
  })
  if (link) stops.unshift(() => link.stop())
  if (cmd.netns) {
    const monitor = new BypassMonitor({
      netns: cmd.netns.name, hostTable: cmd.netns.hostTable, log: cmd.log, enforcementMode: provider.capabilities.enforcement_mode,
      provider: cmd.provider, overflowMetric: metrics.egress.bypassOverflow,
      emit: (input) => sink.emit(buildSignal({ provider: cmd.provider, sidecar_id: sidecarId }, input)),
    })
    monitor.start()
    // Stopped after the provider (which is stopped first), so its last drops are reported.
    stops.push(() => monitor.stop())
  }
  await untilSignal(cmd.log, async () => {
    for (const s of stops) await s().catch((e: unknown) => cmd.log.error({ err: (e as Error).message }, 'stop failed'))
    // Last: the spans ended while stopping (calls failed by the provider's stop) are flushed too.
    await tracing?.shutdown()
    await sink.close()
  })
}

/**
 * The provider's baseline recorder, continued from `<data_dir>/baseline.json`, and the
 * keeper that writes it back every `sidecar.baseline.flush_interval_ms`. Undefined when
 * `sidecar.baseline.enabled` is false.
 */
function startBaseline(p: ProviderConfig, name: string, log: Logger): { recorder: BaselineRecorder; keeper: BaselineKeeper } | undefined {
  const c = p.sidecar.baseline
  if (!c.enabled) return undefined
  const restore = loadBaselineFile(p.sidecar.data_dir, name, log)
  const recorder = new BaselineRecorder({
    provider: name, mode: p.capabilities.enforcement_mode,
    limits: { max_destinations: c.max_destinations, max_dns_names: c.max_dns_names, max_tools: c.max_tools, rate_minutes: c.rate_minutes },
    ...(restore && { restore }),
  })
  if (restore) log.info({ events: restore.events, since: restore.started }, 'baseline restored from the data dir')
  const keeper = new BaselineKeeper({ recorder, dataDir: p.sidecar.data_dir, log, flushIntervalMs: c.flush_interval_ms })
  keeper.start()
  return { recorder, keeper }
}
