/**
 * The one composition of a provider's sidecar. Every launcher runs this: `mcp-hangar sidecar`
 * (both planes, or the MCP ingress alone with `--no-egress`), `mcp-hangar egress` (the egress
 * listeners alone), and so the sidecar processes `mcp-hangar up` and Compose start.
 *
 * Start, in order: the signal output (marked with the isolation when one is given) and the
 * baseline (with the deviation detector, when enabled and loaded) → the admin listener (`/ready` answers 503 until the end) → the egress listeners
 * (`sidecar_started`) → the MCP ingress → ready → the `host_access_granted` signal → the
 * aggregator link (heartbeats, policy follower) → the attachments (the bypass monitor of `up`).
 * A failure on the way closes what was started, closes the signal output and rethrows.
 *
 * Stop, in order: the link → the MCP ingress (stops the provider) → the admin listener → the
 * egress listeners (`sidecar_stopped`, sink flushed) → the deviation detector (its pending
 * roll-ups) → the baseline, written once more → the
 * attachments (after the provider, so its last drops are reported) → the trace exporter (the
 * spans of calls failed by the provider's stop) → the signal output.
 */
import { randomUUID } from 'node:crypto'
import { AdminServer } from './admin-server.js'
import { DeviationTee, startBaseline, type SidecarBaseline } from './baseline.js'
import type { SidecarLink } from './aggregator-link.js'
import { openSignalOutput, startSidecarLink, mcpHeartbeat, type McpStatusForHeartbeat } from './control-plane.js'
import { EgressSidecar, type EgressPorts } from './egress.js'
import { IsolationMarkingSink } from './isolation.js'
import { McpSidecar, SIDECAR_CLIENT_INFO } from './mcp.js'
import { withProxyEnv } from './provider-env.js'
import { getProvider } from '../config/load.js'
import { splitListen, type HangarConfig, type ProviderConfig } from '../config/schema.js'
import type { HangarEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { ports as processPorts, type DeviationDetector, type PortRegistry } from '../core/ports.js'
import { createMetrics, markEnterpriseFeatureDisabled, type HangarMetrics } from '../core/metrics.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { QuarantineSwitch } from '../policy/quarantine.js'
import { traceConfigFromEnv, type OtlpTraceConfig } from '../proxy/trace/config.js'
import type { OtlpTracing } from '../proxy/trace/otlp.js'
import { buildSignal, type SignalInput } from '../signals/build.js'
import { hostAccessSignal, parseHostAccess, type HostAccessGrant } from '../signals/host-access.js'
import type { SignalSink } from '../signals/sink.js'
import type { Isolation } from '../signals/types.js'

/**
 * Which planes a sidecar runs: `all` (MCP ingress and egress listeners), `mcp` (the MCP ingress
 * alone: a remote provider whose egress is not ours to see), `egress` (the egress listeners
 * alone). The admin listener runs in each.
 */
export type SidecarPlanes = 'all' | 'mcp' | 'egress'

/** What an attachment gets from the sidecar it runs beside. */
export interface AttachmentContext {
  provider: string
  sidecarId: string
  enforcementMode: ProviderConfig['capabilities']['enforcement_mode']
  metrics: HangarMetrics
  log: Logger
  /** Emits one signal through the sidecar's signal output (rate limit and isolation marking included). */
  emit(input: SignalInput): void
}

/** Something that runs beside a sidecar and reports through it (the bypass monitor of `up`'s network namespace). */
export interface SidecarAttachment {
  /** Called once the sidecar is ready. */
  start(): void
  /** Called after the provider and the listeners have stopped. */
  stop(): Promise<void>
}

export interface SidecarOptions {
  /** The whole config: `providers.<provider>` and the `aggregator` block (link, admin tokens, its address to protect). */
  config: HangarConfig
  /** The provider's name (`providers.<name>`). */
  provider: string
  planes: SidecarPlanes
  log: Logger
  /** The config file read, named in the `ready` log line. */
  source: string
  /** `--signal-log`: signals also (or only) as JSON lines here; see sidecar/control-plane.ts `openSignalOutput`. */
  signalLog?: string
  /**
   * Marks every signal and heartbeat with how the provider is confined (set by `up`). Also: a
   * `subprocess` provider whose egress this sidecar sees then gets the proxy environment.
   */
  isolation?: Isolation
  /** The environment the provider inherits before its configured `env` (core/env.ts `providerEnv`). Default none. */
  inheritedEnv?: Record<string, string>
  /** Argv prefix the provider command runs under (the network namespace and sandbox of `up`). */
  wrap?: readonly string[]
  /**
   * The sidecar's environment: `hostAccess` (`HANGAR_HOST_ACCESS`, signalled once at start) and
   * `otel` (OTLP trace export of MCP requests). Undefined = neither.
   */
  env?: Pick<HangarEnv, 'hostAccess' | 'otel'>
  /** Built once the signal output is open; started when ready, stopped after the provider. */
  attachments?: ReadonlyArray<(ctx: AttachmentContext) => SidecarAttachment>
  /** The enterprise ports (OIDC verification, deviation detection). Default: the process registry the CLI filled. */
  ports?: PortRegistry
}

/** Bound ports, after {@link Sidecar.start}. */
export interface SidecarPorts {
  admin: number
  /** The MCP ingress; null without that plane. */
  mcp: number | null
  /** The egress listeners; null without that plane. */
  egress: EgressPorts | null
}

/** One provider's sidecar; see the top of this file. `start()` once, `stop()` once. */
export class Sidecar {
  readonly sidecarId: string
  readonly metrics: HangarMetrics = createMetrics()
  /** The effective provider config (the proxy environment added under `up`). */
  readonly provider: ProviderConfig
  readonly #o: SidecarOptions
  readonly #hostAccess: HostAccessGrant[]
  readonly #trace: OtlpTraceConfig | undefined
  #sink: SignalSink | undefined
  #baseline: SidecarBaseline | undefined
  #tee: DeviationTee | undefined
  #detector: DeviationDetector | undefined
  #tracing: OtlpTracing | undefined
  #egress: EgressSidecar | undefined
  #egressStarted = false
  #mcp: McpSidecar | undefined
  #mcpStarted = false
  #admin: AdminServer | undefined
  #link: SidecarLink | undefined
  readonly #attached: SidecarAttachment[] = []
  #ready = false
  #stopping: Promise<void> | undefined

  /**
   * Checks the options; opens nothing.
   * @throws HangarError `HANGAR_PROVIDER_UNKNOWN`; `HANGAR_CONFIG_INVALID` when `env.hostAccess`
   *   cannot be read (fails closed: host access must not run unreported)
   */
  constructor(o: SidecarOptions) {
    this.#o = o
    this.sidecarId = `${o.provider}-${randomUUID().slice(0, 8)}`
    this.provider = withProxyEnv(getProvider(o.config, o.provider), { isolation: o.isolation, egress: o.planes !== 'mcp' })
    this.#hostAccess = parseHostAccess(o.env?.hostAccess)
    this.#trace = o.env ? traceConfigFromEnv(o.env.otel, (message) => o.log.warn(message)) : undefined
    const sc = this.provider.sidecar
    if (sc.deviation.enabled && !sc.baseline.enabled) {
      throw new HangarError(ERROR_CODES.CONFIG_INVALID, `providers.${o.provider}.sidecar.deviation.enabled is true but providers.${o.provider}.sidecar.baseline.enabled is false: deviation detection compares with the baseline; enable both or neither`)
    }
  }

  /** The enterprise ports this sidecar composes with. */
  get ports(): PortRegistry {
    return this.#o.ports ?? processPorts
  }

  /** The quarantine state the egress plane and the MCP ingress share (after start). */
  get enforcement(): QuarantineSwitch {
    if (!this.#egress) throw new Error('the sidecar is not started')
    return this.#egress.enforcement
  }

  /** The MCP ingress, when that plane runs (after start). */
  get mcp(): McpSidecar | undefined {
    return this.#mcp
  }

  /**
   * Starts everything (order at the top of this file); resolves when ready. Runs once.
   * @throws HangarError `HANGAR_LISTEN_FAILED`, `HANGAR_CONFIG_INVALID`; whatever opening the signal output throws;
   *   Error when called a second time or after stop()
   */
  async start(): Promise<SidecarPorts> {
    if (this.#sink || this.#stopping) throw new Error('Sidecar.start() runs once, before stop()')
    const { config, provider: name, log, planes } = this.#o
    const p = this.provider
    const withMcp = planes !== 'egress'
    try {
      const out = openSignalOutput({ config, providerName: name, provider: p, sidecarId: this.sidecarId, signalLog: this.#o.signalLog, metrics: this.metrics, log })
      const sink = this.#o.isolation ? new IsolationMarkingSink(out.sink, this.#o.isolation) : out.sink
      this.#sink = sink
      // The egress-only sidecar records no baseline (and so detects no deviation).
      const baseline = withMcp ? startBaseline(p, name, log) : undefined
      this.#baseline = baseline
      const observer = baseline && this.#deviationTee(baseline)
      if (!withMcp && p.sidecar.deviation.enabled) {
        log.warn({ feature: 'deviation_detection' }, `providers.${name}.sidecar.deviation.enabled: the egress listeners alone keep no baseline, so this sidecar detects no deviation (the sidecar with the MCP ingress of ${name} does)`)
      }
      if (this.#trace) {
        const { startOtlpTracing } = await import('../proxy/trace/otlp.js')
        this.#tracing = startOtlpTracing({ config: this.#trace, provider: name, sidecarId: this.sidecarId, serviceVersion: SIDECAR_CLIENT_INFO.version, log })
      }
      // Without the egress listeners the egress plane still holds the quarantine state and turns its changes into signals.
      const egress = new EgressSidecar({
        provider: name, config: p, sink, sidecarId: this.sidecarId, log, metrics: this.metrics,
        protectedAddresses: [...(config.aggregator ? [config.aggregator.listen] : []), ...(withMcp && p.listen ? [p.listen] : [])],
        ...(baseline && { baseline: observer ?? baseline.recorder }),
      })
      this.#egress = egress
      const mcp = withMcp
        ? new McpSidecar({
          provider: name, config: p, sink, log, metrics: this.metrics, enforcement: egress.enforcement, sidecarId: this.sidecarId,
          inheritedEnv: this.#o.inheritedEnv ?? {}, ports: this.ports,
          ...(this.#tracing && { tracer: this.#tracing.tracer }),
          ...(this.#o.wrap && { wrap: this.#o.wrap }),
          ...(baseline && { baseline: observer ?? baseline.recorder }),
        })
        : undefined
      this.#mcp = mcp
      // Before any listener or the provider starts: its first egress is judged too.
      if (this.#tee) this.#startDeviation(this.#tee, sink)

      const admin = this.#admin = new AdminServer({
        registry: this.metrics.registry, enforcement: egress.enforcement, tokens: config.aggregator?.admin_tokens ?? [],
        ready: () => this.#ready, status: () => this.status(),
        ...(baseline && { baseline: () => baseline.recorder.snapshot() }),
      })
      const a = splitListen(p.sidecar.admin)
      const adminPort = await admin.listen(a.host, a.port)
      egress.protect(a.host, adminPort)
      if (planes !== 'mcp') {
        await egress.start(adminPort)
        this.#egressStarted = true
      }
      if (mcp) {
        await mcp.start()
        this.#mcpStarted = true
      }
      this.#ready = true
      const granted = hostAccessSignal(this.#hostAccess, p.capabilities.enforcement_mode)
      if (granted) {
        sink.emit(buildSignal({ provider: name, sidecar_id: this.sidecarId }, granted))
        log.warn({ grants: this.#hostAccess }, granted.reason)
      }
      log.info({ config: this.#o.source, signals: out.describe, ...(mcp && { mcp_port: mcp.port, admin_port: adminPort }) }, 'ready')
      this.#startLink(baseline)
      this.#startAttachments(sink)
      return { admin: adminPort, mcp: mcp ? mcp.port : null, egress: planes !== 'mcp' ? egress.ports : null }
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /**
   * The tee that feeds the recorder and a deviation detector, when `sidecar.deviation.enabled`
   * and the deviation module is loaded. Enabled without the module: an error line naming the
   * license requirement, `enterprise_feature_disabled{feature="deviation"}` 1, and the recorder alone.
   */
  #deviationTee(baseline: SidecarBaseline): DeviationTee | undefined {
    const { provider: name, log } = this.#o
    if (!this.provider.sidecar.deviation.enabled) return undefined
    if (!this.ports.deviation) {
      log.error({ feature: 'deviation_detection', license: this.ports.license.reason ?? this.ports.license.mode },
        `providers.${name}.sidecar.deviation.enabled: runtime deviation detection is an enterprise feature (license feature "deviation_detection") and its module is not loaded; the sidecar runs without it`)
      markEnterpriseFeatureDisabled(this.metrics.registry, 'deviation')
      return undefined
    }
    return (this.#tee = new DeviationTee(baseline.recorder))
  }

  /**
   * Starts the detector behind the tee. A quarantine release starts a new one (a fresh snapshot
   * of the baseline: what the operator released is accepted), the old one's roll-ups first.
   */
  #startDeviation(tee: DeviationTee, sink: SignalSink): void {
    const { provider: name, log } = this.#o
    const port = this.ports.deviation!
    const enforcement = this.enforcement
    const origin = { provider: name, sidecar_id: this.sidecarId }
    const make = (): DeviationDetector => port.create({
      provider: name, mode: this.provider.capabilities.enforcement_mode, config: this.provider.sidecar.deviation,
      baseline: () => tee.recorder.snapshot(),
      emit: (input) => sink.emit(buildSignal(origin, input as SignalInput)),
      quarantine: (reason) => {
        enforcement.quarantine(reason, 'violation')
      },
      log: log.child({ component: 'deviation' }), registry: this.metrics.registry,
    })
    this.#detector = tee.detector = make()
    enforcement.on('change', (c) => {
      if (c.quarantined || this.#stopping) return
      this.#detector?.close()
      this.#detector = tee.detector = make()
    })
  }

  #startLink(baseline: SidecarBaseline | undefined): void {
    const { config, provider: name, log } = this.#o
    const mcp = this.#mcp
    this.#link = startSidecarLink({
      config, providerName: name, provider: this.provider, sidecarId: this.sidecarId, enforcement: this.enforcement, log,
      status: () => mcp ? mcpHeartbeat(mcp.status() as unknown as McpStatusForHeartbeat, this.provider.listen, mcp.port, this.#o.isolation) : { state: 'ready' },
      ...(mcp && { approveTools: () => mcp.inspector.approve() }),
      ...(mcp && baseline && { baseline: () => baseline.recorder.snapshot(), baselineIntervalMs: this.provider.sidecar.baseline.ship_interval_ms }),
    })
  }

  #startAttachments(sink: SignalSink): void {
    const ctx: AttachmentContext = {
      provider: this.#o.provider, sidecarId: this.sidecarId, enforcementMode: this.provider.capabilities.enforcement_mode, metrics: this.metrics, log: this.#o.log,
      emit: (input) => sink.emit(buildSignal({ provider: this.#o.provider, sidecar_id: this.sidecarId }, input)),
    }
    for (const make of this.#o.attachments ?? []) {
      const a = make(ctx)
      this.#attached.push(a)
      a.start()
    }
  }

  /**
   * Admin `GET /v1/status`: the egress plane's status (provider, sidecar id, enforcement mode,
   * quarantine, open tunnels, ports) with the MCP ingress's under `mcp`; without the egress
   * listeners, the MCP ingress's fields at the top level.
   */
  status(): Record<string, unknown> {
    const egress = this.#egress?.status() ?? {}
    if (!this.#mcp) return egress
    return this.#o.planes === 'mcp' ? { ...egress, ...this.#mcp.status() } : { ...egress, mcp: this.#mcp.status() }
  }

  /** Stops everything (order at the top of this file); a failing step is logged and the rest still run. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown()
    return this.#stopping
  }

  async #shutdown(): Promise<void> {
    this.#ready = false
    const steps: Array<(() => Promise<void>) | undefined> = [
      this.#link && (() => this.#link!.stop()),
      this.#mcpStarted ? () => this.#mcp!.stop() : undefined,
      this.#admin && (() => this.#admin!.close()),
      this.#egressStarted ? () => this.#egress!.stop() : undefined,
      this.#detector && (async () => {
        if (this.#tee) this.#tee.detector = undefined
        this.#detector!.close()
      }),
      this.#baseline && (() => this.#baseline!.keeper.close()),
      ...this.#attached.map((a) => () => a.stop()),
    ]
    for (const step of steps) await step?.().catch((e: unknown) => this.#o.log.error({ err: (e as Error).message }, 'stop failed'))
    await this.#tracing?.shutdown()
    await this.#sink?.close()
  }
}
