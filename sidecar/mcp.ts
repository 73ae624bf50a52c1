/**
 * Composition root of the MCP data plane of one provider: the ingress listener, the backend
 * for the provider's mode (remote Streamable HTTP, or a stdio child with its lifecycle and
 * session multiplexing) and the provider's one Inspector. Read top to bottom, this is the whole
 * MCP pipeline: ingress checks → Inspector (client → provider) → backend → provider →
 * backend → Inspector (provider → client) → client.
 *
 * The quarantine state and the metrics registry are shared with the egress side
 * (sidecar/egress.ts; both composed by sidecar/sidecar.ts), so one quarantine stops tool calls and egress alike.
 */
import { HANGAR_VERSION } from '../core/version.js'
import type { BaselineObserver } from '../policy/baseline-observer.js'
import { splitListen, type ProviderConfig } from '../config/schema.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { HangarMetrics } from '../core/metrics.js'
import type { PortRegistry, TokenVerifier } from '../core/ports.js'
import { compileToolPolicy } from '../policy/tool-policy.js'
import type { QuarantineSwitch } from '../policy/quarantine.js'
import { buildSignal } from '../signals/build.js'
import type { SignalSink } from '../signals/sink.js'
import type { IngressBackend } from '../proxy/ingress/backend.js'
import { RemoteBackend } from '../proxy/ingress/remote-backend.js'
import { IngressServer } from '../proxy/ingress/server.js'
import { StdioBackend, type InitializeParams } from '../proxy/ingress/stdio-backend.js'
import { Inspector } from '../proxy/inspect/inspector.js'
import { StdioProvider } from '../proxy/stdio/provider.js'
import type { LifecycleChange } from '../proxy/stdio/provider-types.js'
import type { McpTracer } from '../proxy/trace/tracer.js'
import { RemoteUpstream } from '../proxy/upstream/remote.js'
import { listAllTools } from '../proxy/list-tools.js'
import type { CallContext } from '../proxy/types.js'

/** What the sidecar tells a stdio provider about itself in its own `initialize`. */
export const SIDECAR_CLIENT_INFO = { name: 'mcp-hangar', version: HANGAR_VERSION } as const

/**
 * Capabilities the sidecar declares to a shared provider: everything it can route to some client
 * session (proxy/mux/shared.ts picks a session that declared the same capability).
 */
const SHARED_CLIENT_CAPABILITIES = { roots: { listChanged: true }, sampling: {}, elicitation: {} }

export interface McpSidecarOptions {
  provider: string
  config: ProviderConfig
  sink: SignalSink
  log: Logger
  metrics: HangarMetrics
  enforcement: QuarantineSwitch
  sidecarId: string
  /** Environment the provider process inherits before its configured `env` (core/env.ts). */
  inheritedEnv: Record<string, string>
  /** Argv prefix for the provider (`ip netns exec <ns> setpriv …`, or the bwrap sandbox of `mcp-hangar up`). */
  wrap?: readonly string[]
  /**
   * One OpenTelemetry SERVER span per client request (proxy/trace/; sidecar/sidecar.ts builds it from
   * `OTEL_EXPORTER_OTLP_ENDPOINT`). Undefined = no tracing, and no cost beyond one branch per POST.
   * The caller owns its pipeline: shut it down after {@link McpSidecar.stop} to flush the last spans.
   */
  tracer?: McpTracer
  /** Records tool listings, calls and refusals into the provider's baseline. */
  baseline?: BaselineObserver
  /**
   * The enterprise ports: `identity` verifies the bearer JWTs of `ingress.auth.oidc`. Without an
   * identity port, `ingress.auth` or a caller-scoped tool rule refuses the start.
   */
  ports?: PortRegistry
}

/**
 * Refuses a config that asks for verified caller identity when the identity module is not loaded:
 * running without it would let through what the config says to stop.
 * @throws HangarError `HANGAR_CONFIG_INVALID` naming the first such setting and the license requirement
 */
export function requireIdentity(provider: string, config: ProviderConfig, ports: PortRegistry | undefined): void {
  if (ports?.identity) return
  const scoped = compileToolPolicy(config.capabilities.tools).scoped
  const at = config.ingress.auth ? 'ingress.auth.oidc' : scoped.length > 0 ? `capabilities.${scoped[0]!}` : undefined
  if (at === undefined) return
  const license = ports?.license
  const why = license ? `\`mcp-hangar license show\` says: ${license.mode}${license.reason ? `, ${license.reason}` : ''}` : 'no license was loaded'
  throw new HangarError(
    ERROR_CODES.CONFIG_INVALID,
    `providers.${provider}.${at}: verified caller identity needs the enterprise module "identity", which needs a license key granting it or the community grant (${why}); remove the setting or install a license (docs/licensing.md)`,
  )
}

export class McpSidecar {
  readonly inspector: Inspector
  readonly backend: IngressBackend
  readonly ingress: IngressServer
  port = 0

  constructor(private readonly o: McpSidecarOptions) {
    const c = o.config
    if (c.mode === 'container' && !c.broker_socket) {
      throw new HangarError(ERROR_CODES.CONFIG_INVALID, `providers.${o.provider}.broker_socket: a "container" provider is run through the container broker of \`mcp-hangar up\`, which sets this; run it with \`mcp-hangar up\``)
    }
    requireIdentity(o.provider, c, o.ports)
    if (!c.ingress.auth) {
      const scoped = compileToolPolicy(c.capabilities.tools).scoped
      if (scoped.length > 0) throw new HangarError(ERROR_CODES.CONFIG_INVALID, `providers.${o.provider}.capabilities.${scoped[0]!}: a caller-scoped tool rule needs verified callers: set providers.${o.provider}.ingress.auth.oidc`)
    }
    const origin = { provider: o.provider, sidecar_id: o.sidecarId }
    let toolsSource: (ctx: CallContext) => Promise<unknown[]>
    this.inspector = new Inspector({
      provider: o.provider,
      sidecarId: o.sidecarId,
      capabilities: c.capabilities,
      ...(c.rate_limit && { rateLimit: c.rate_limit }),
      maxConcurrency: c.max_concurrency,
      queueTimeoutMs: c.queue_timeout_ms,
      dataDir: c.sidecar.data_dir,
      enforcement: o.enforcement,
      sink: o.sink,
      metrics: o.metrics.proxy,
      sharedMetrics: o.metrics.egress,
      log: o.log,
      toolsSource: (ctx) => toolsSource(ctx),
      ...(o.baseline && { baseline: o.baseline }),
    })
    if (c.mode === 'remote') {
      const remote = new RemoteBackend({
        provider: o.provider,
        // The client's credentials are for the ingress when it authenticates (static tokens or
        // OIDC): never passed through to the provider (MCP spec, Security Best Practices, "Token Passthrough").
        upstream: new RemoteUpstream({ endpoint: c.endpoint!, forwardAuthorization: c.ingress.auth_tokens.length === 0 && !c.ingress.auth }),
        inspector: this.inspector,
        log: o.log,
        metrics: o.metrics.proxy,
        requestTimeoutMs: c.request_timeout_ms,
        ...(o.tracer && { tracer: o.tracer }),
      })
      toolsSource = (ctx) => remote.listTools(ctx)
      this.backend = remote
    } else {
      const stdio = new StdioBackend({
        provider: o.provider,
        sessionMode: c.session_mode,
        maxSessions: c.max_sessions,
        createProvider: (init) => this.#createProvider(init),
        inspector: this.inspector,
        log: o.log,
        metrics: o.metrics.proxy,
        requestTimeoutMs: c.request_timeout_ms,
        replayEvents: c.ingress.replay_events,
        ...(o.tracer && { tracer: o.tracer }),
      })
      toolsSource = async () => {
        const p = stdio.providers[0]
        if (!p) return []
        await p.ensureStarted()
        return listAllTools((cursor) => p.request('tools/list', cursor === undefined ? {} : { cursor }, c.request_timeout_ms))
      }
      this.backend = stdio
    }
    if (c.ingress.auth) {
      try {
        this.#verifier = o.ports!.identity!.createVerifier({ issuers: c.ingress.auth.oidc, log: o.log, registry: o.metrics.registry, surface: 'ingress' })
      } catch (err) {
        throw new HangarError(ERROR_CODES.CONFIG_INVALID, `providers.${o.provider}.${(err as Error).message}`)
      }
    }
    this.ingress = new IngressServer({ provider: o.provider, ingress: c.ingress, backend: this.backend, log: o.log, metrics: o.metrics.proxy, ...(this.#verifier && { verifier: this.#verifier }) })
    this.#origin = origin
  }

  readonly #origin: { provider: string; sidecar_id: string }
  #verifier: TokenVerifier | undefined

  /** A lifecycle or breaker change of a provider process → `provider_state_changed`. */
  #lifecycle(change: LifecycleChange): void {
    const severity = change.to === 'DEAD' || change.to === 'open' ? 'medium' : change.to === 'DEGRADED' ? 'low' : 'info'
    this.o.sink.emit(
      buildSignal(this.#origin, {
        kind: 'lifecycle',
        type: 'provider_state_changed',
        severity,
        action: 'allowed',
        enforcement_mode: this.o.config.capabilities.enforcement_mode,
        reason: `${change.kind === 'breaker' ? 'circuit breaker' : 'provider'} ${change.from} → ${change.to}: ${change.cause}`,
        details: { from: change.from, to: change.to, cause: change.cause, ...(change.kind === 'breaker' && { breaker: true }) },
      }),
    )
  }

  #createProvider(init: InitializeParams | undefined): StdioProvider {
    const c = this.o.config
    const provider = new StdioProvider({
      provider: this.o.provider,
      command: c.command ?? [],
      ...(c.mode === 'container' && c.broker_socket && { brokerSocket: c.broker_socket }),
      inheritedEnv: this.o.inheritedEnv,
      env: c.env,
      ...(c.cwd !== undefined && { cwd: c.cwd }),
      ...(this.o.wrap && { wrap: this.o.wrap }),
      idleTtlMs: c.idle_ttl_s * 1000,
      healthCheckIntervalMs: c.health_check_interval_s * 1000,
      maxConsecutiveFailures: c.max_consecutive_failures,
      startupTimeoutMs: c.startup_timeout_ms,
      shutdownTimeoutMs: c.shutdown_timeout_ms,
      requestTimeoutMs: c.request_timeout_ms,
      backoff: { initialMs: c.restart_backoff.initial_ms, maxMs: c.restart_backoff.max_ms },
      breaker: { failureThreshold: c.circuit_breaker.failure_threshold, resetTimeoutMs: c.circuit_breaker.reset_timeout_s * 1000 },
      initialize: init ?? { protocolVersion: '2025-11-25', capabilities: SHARED_CLIENT_CAPABILITIES, clientInfo: { ...SIDECAR_CLIENT_INFO } },
      log: this.o.log,
      metrics: this.o.metrics.proxy,
      onLifecycle: (change) => this.#lifecycle(change),
    })
    return provider
  }

  /**
   * Binds the ingress on `providers.<name>.listen`.
   * @throws HangarError `HANGAR_CONFIG_INVALID` without `listen`, `HANGAR_LISTEN_FAILED`
   */
  async start(): Promise<number> {
    const listen = this.o.config.listen
    if (!listen) throw new HangarError(ERROR_CODES.CONFIG_INVALID, `providers.${this.o.provider}.listen: the MCP ingress needs an address (host:port)`)
    const { host, port } = splitListen(listen)
    this.port = await this.ingress.listen(host, port)
    this.o.log.info({ provider: this.o.provider, mode: this.o.config.mode, url: `http://${listen.slice(0, listen.lastIndexOf(':'))}:${this.port}/mcp` }, 'MCP ingress started')
    return this.port
  }

  status(): Record<string, unknown> {
    const stdio = this.backend instanceof StdioBackend ? this.backend : undefined
    return {
      mode: this.o.config.mode,
      mcp_port: this.port,
      sessions: this.backend.sessions,
      ...(stdio && { processes: stdio.providers.map((p) => ({ pid: p.pid ?? null, state: p.state, breaker: p.breakerState })) }),
      tools: this.inspector.status(),
    }
  }

  async stop(): Promise<void> {
    await this.ingress.close()
    this.#verifier?.close()
    await this.backend.close()
    await this.inspector.flush()
  }
}
