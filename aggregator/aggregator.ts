/**
 * Composition root of the aggregator (docs/aggregator.md): the signal store (audit log + index), the
 * sidecar registry, the policy book, the baseline book, the service over them, the HTTP API and
 * the `/mcp` tools. `start()` rebuilds the index and dedup set from the audit log and loads the
 * stored baselines before it listens; `stop()` writes the pending baselines. With
 * `aggregator.auth` and the enterprise access module, RBAC decides who may call what
 * (docs/rbac.md); without the module the static tokens do, and `/v1/status` says so.
 */
import { join, resolve } from 'node:path'
import { splitListen, type HangarConfig } from '../config/schema.js'
import type { Logger } from '../core/log.js'
import { ports as processPorts, type AccessControl, type PortRegistry } from '../core/ports.js'
import { HANGAR_VERSION } from '../core/version.js'
import { AdminAudit } from './admin-audit.js'
import { BaselineBook } from './baselines.js'
import { AggregatorHttp, type AggregatorRbac } from './http/server.js'
import { mcpEndpoint } from './mcp/endpoint.js'
import { ProviderClient } from './mcp/provider-client.js'
import { createAggregatorMetrics, type AggregatorMetrics } from './metrics.js'
import { PolicyBook } from './policy.js'
import { SidecarRegistry } from './registry.js'
import { AggregatorService } from './service.js'
import { StorePort } from './store/port.js'
import { openStore, type SignalStore } from './store/store.js'

export interface AggregatorOptions {
  config: HangarConfig
  log: Logger
  /** Overrides `aggregator.listen` (`MCP_HTTP_HOST` / `MCP_HTTP_PORT`). */
  host?: string
  port?: number
  /** Registry and baseline-book clock, ms since the epoch (tests). */
  clock?: () => number
  /** The enterprise ports (default: the process registry the CLI filled). */
  ports?: PortRegistry
}

export class Aggregator {
  readonly metrics: AggregatorMetrics = createAggregatorMetrics()
  readonly registry: SidecarRegistry
  policy!: PolicyBook
  /** The latest baseline per provider (`<data_dir>/baselines/`). */
  baselines!: BaselineBook
  service!: AggregatorService
  #store: SignalStore | undefined
  #http: AggregatorHttp | undefined
  #ready = false
  #exporting = false
  #access: AccessControl | undefined
  #audit: AdminAudit | undefined
  /** What runs with less than configured (`export: …` when sinks are configured without a license); `GET /v1/status`. */
  readonly degraded: string[] = []
  port = 0

  constructor(private readonly o: AggregatorOptions) {
    this.registry = new SidecarRegistry(o.clock, Object.keys(o.config.providers))
  }

  /** Opens the store (replaying the audit log), then listens. @returns the bound port. */
  async start(): Promise<number> {
    const a = this.o.config.aggregator
    const cfg = {
      listen: a?.listen ?? '127.0.0.1:8000', data_dir: a?.data_dir ?? './data',
      signal_tokens: a?.signal_tokens ?? [], admin_tokens: a?.admin_tokens ?? [], mcp_tokens: a?.mcp_tokens ?? [],
      audit_max_bytes: a?.audit_max_bytes, audit_keep_files: a?.audit_keep_files, memory_signals: a?.memory_signals,
      audit_retention_days: a?.audit_retention_days, audit_max_total_bytes: a?.audit_max_total_bytes,
    }
    const dir = resolve(cfg.data_dir)
    this.degraded.length = 0
    const started = Date.now()
    this.#store = await openStore({
      dir, log: this.o.log,
      ...(cfg.audit_max_bytes !== undefined && { maxBytes: cfg.audit_max_bytes }),
      ...(cfg.audit_keep_files !== undefined && { keepFiles: cfg.audit_keep_files }),
      ...(cfg.memory_signals !== undefined && { maxSignals: cfg.memory_signals }),
      ...(cfg.audit_retention_days !== undefined && { retentionMs: cfg.audit_retention_days * 24 * 3600 * 1000 }),
      ...(cfg.audit_max_total_bytes !== undefined && { maxTotalBytes: cfg.audit_max_total_bytes }),
      onRelease: (r) => {
        if (r.dropped) this.metrics.auditReleased.inc({ reason: 'rotated_out' }, r.dropped)
        if (r.expired) this.metrics.auditReleased.inc({ reason: 'expired' }, r.expired)
      },
    })
    this.o.log.info({ signals: this.#store.lastSeq, ms: Date.now() - started, dir }, 'audit log replayed')
    this.policy = new PolicyBook({ file: join(dir, 'policy.json') })
    this.baselines = await BaselineBook.open({ dir: join(dir, 'baselines'), log: this.o.log, ...(this.o.clock && { clock: this.o.clock }) })
    const providers = this.o.config.providers
    this.service = new AggregatorService({ store: new StorePort(this.#store), registry: this.registry, policy: this.policy, baselines: this.baselines, configured: Object.keys(providers), log: this.o.log })
    const client = new ProviderClient({
      urlOf: (n) => this.service.mcpUrl(n),
      tokenOf: (n) => providers[n]?.ingress.auth_tokens[0],
      version: HANGAR_VERSION,
    })
    const rbac = await this.#startRbac(dir)
    this.#http = new AggregatorHttp({
      service: this.service, registry: this.registry, policy: this.policy, baselines: this.baselines, metrics: this.metrics, log: this.o.log,
      signalTokens: cfg.signal_tokens, adminTokens: cfg.admin_tokens, mcpTokens: cfg.mcp_tokens,
      mcp: mcpEndpoint({ service: this.service, metrics: this.metrics, providers: client, version: HANGAR_VERSION, ...('audit' in rbac && { audit: rbac.audit }) }),
      ...('access' in rbac ? { rbac } : { keysUnavailable: rbac.unavailable }),
      ready: () => this.#ready && (this.#store?.healthy ?? false),
      exportStatus: () => this.#ports.compliance.status(),
      degraded: () => this.degraded,
    })
    await this.#startExport(dir)
    const { host, port } = splitListen(cfg.listen)
    this.port = await this.#http.listen(this.o.host ?? host, this.o.port ?? port)
    if (!isLoopback(this.o.host ?? host) && (cfg.signal_tokens.length === 0 || (cfg.admin_tokens.length === 0 && !this.#access)))
      this.o.log.warn({ listen: `${this.o.host ?? host}:${this.port}` }, 'aggregator listens beyond loopback with an empty signal_tokens or admin_tokens list: those endpoints are open to anyone who can reach it')
    this.#ready = true
    return this.port
  }

  get #ports(): PortRegistry {
    return this.o.ports ?? processPorts
  }

  /**
   * Starts RBAC when `aggregator.auth` is configured (docs/rbac.md). Without the access module
   * (no license with the `rbac` feature) it does not run: an error line names the license
   * requirement, `mcp_hangar_enterprise_feature_disabled{feature="rbac"}` is 1, `GET /v1/status`
   * lists `rbac: …` as degraded, and the static tokens guard the aggregator as before. OIDC on
   * the aggregator without the identity module: the same for `oidc` (JWTs are refused; API keys
   * and static tokens work).
   * @returns the running RBAC, or why `/v1/keys` is unavailable.
   * @throws Error naming the config path when `aggregator.auth` or the key store is unusable.
   */
  async #startRbac(dir: string): Promise<AggregatorRbac | { unavailable: string }> {
    const auth = this.o.config.aggregator?.auth
    if (!auth) return { unavailable: 'API keys need RBAC: configure aggregator.auth (an enterprise feature: a license with the rbac feature)' }
    const p = this.#ports
    if (!p.access) {
      const why = p.enterprise ? `the license (${p.license.mode}) does not include the rbac feature` : p.license.reason ?? `license mode ${p.license.mode}`
      this.o.log.error({ feature: 'rbac', license: p.license.mode, reason: why }, `aggregator.auth is configured but RBAC is not running: roles, API keys and OIDC on the aggregator are an enterprise feature and need a license with the rbac feature (${why}); the static tokens guard the aggregator`)
      this.metrics.enterpriseFeatureDisabled.set({ feature: 'rbac' }, 1)
      this.degraded.push(`rbac: aggregator.auth is configured but not enforced: RBAC needs an enterprise license with the rbac feature (${why}); the static admin_tokens, mcp_tokens and signal_tokens decide`)
      return { unavailable: `API keys are not available: RBAC needs an enterprise license with the rbac feature (${why})` }
    }
    if (auth.oidc?.length && !p.identity) {
      this.o.log.error({ feature: 'identity', path: 'aggregator.auth.oidc' }, 'aggregator.auth.oidc is configured but the identity module is not loaded (license feature identity): OIDC tokens are refused on the aggregator; API keys and static tokens work')
      this.metrics.enterpriseFeatureDisabled.set({ feature: 'identity' }, 1)
      this.degraded.push('rbac: aggregator.auth.oidc is configured but the identity module is not loaded (license feature identity): OIDC tokens are refused')
    }
    this.#access = await p.access.start({ dataDir: dir, config: auth, log: this.o.log, registry: this.metrics.registry, ...(p.identity && { identity: p.identity }) })
    this.#audit = new AdminAudit({ ingest: (s) => this.service.ingest(s), log: this.o.log, metrics: this.metrics })
    this.metrics.enterpriseFeatureDisabled.set({ feature: 'rbac' }, 0)
    return { access: this.#access, audit: this.#audit }
  }

  /**
   * Starts the SIEM export (`aggregator.export.sinks`) through the compliance port, following the
   * store from each sink's cursor. Without the enterprise modules, configured sinks do not run:
   * one error line per sink names the license requirement, `mcp_hangar_enterprise_feature_disabled{feature="export"}`
   * is 1 and `GET /v1/status` lists `export: …` as degraded; the aggregator runs on.
   * @throws Error naming the config path when the export configuration is unusable.
   */
  async #startExport(dir: string): Promise<void> {
    const exp = this.o.config.aggregator?.export
    const sinks = Object.keys(exp?.sinks ?? {})
    if (sinks.length === 0) return
    const p = this.#ports
    if (!p.enterprise) {
      const why = p.license.reason ?? `license mode ${p.license.mode}`
      for (const s of sinks) this.o.log.error({ sink: s, feature: 'export', license: p.license.mode, reason: why }, `export sink "${s}" is not running: SIEM export is an enterprise feature and needs a license (${why})`)
      this.metrics.enterpriseFeatureDisabled.set({ feature: 'export' }, 1)
      this.degraded.push(`export: ${sinks.length} sink(s) configured (${sinks.join(', ')}) but not running: SIEM export needs an enterprise license (${why})`)
      return
    }
    const store = this.#store!
    await p.compliance.start({
      dataDir: dir, config: exp, log: this.o.log, registry: this.metrics.registry,
      subscribe: (after, onSignal) => store.follow(after, onSignal, (err) => this.o.log.error({ err: (err as Error).message }, 'export: audit feed ended with an error')),
      lastSeq: () => store.lastSeq,
    })
    this.#exporting = true
    const running = new Set(p.compliance.status().map((s) => s.name))
    const missing = sinks.filter((s) => !running.has(s))
    if (missing.length) {
      // Licensed, but the export module did not take the sinks (not registered): say so, never silently.
      for (const s of missing) this.o.log.error({ sink: s, feature: 'export' }, `export sink "${s}" is not running: the SIEM export module is not loaded`)
      this.metrics.enterpriseFeatureDisabled.set({ feature: 'export' }, 1)
      this.degraded.push(`export: ${missing.length} sink(s) configured (${missing.join(', ')}) but not running: the SIEM export module is not loaded`)
      return
    }
    this.metrics.enterpriseFeatureDisabled.set({ feature: 'export' }, 0)
  }

  /** Stops listening (long polls answered, streams ended), stops the export sinks (cursors saved), writes pending baselines, then closes the store. */
  async stop(): Promise<void> {
    this.#ready = false
    await this.#http?.close()
    if (this.#exporting) await this.#ports.compliance.stop()
    this.#exporting = false
    await this.#audit?.close()
    await this.#access?.close()
    this.#audit = undefined
    this.#access = undefined
    await this.baselines?.close()
    await this.#store?.close()
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
