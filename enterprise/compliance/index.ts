/**
 * SIEM export of the audit log: the enterprise implementation of `ComplianceExportPort`
 * (core/ports.ts). It builds one {@link ExportSink} per `aggregator.export.sinks.<name>` with its
 * transport, starts them with the aggregator's context and reports their state.
 */
import { hostname } from 'node:os'
import type { Registry } from 'prom-client'
import { exportConfigSchema, type ExportSinkConfig } from '../../config/export-schema.js'
import type { ComplianceExportContext, ComplianceExportPort, ExportSinkStatus } from '../../core/ports.js'
import { buildSignal } from '../../signals/build.js'
import { exportMetrics } from './metrics.js'
import { ExportSink } from './sink.js'
import { FileTransport } from './transport/file.js'
import { ElasticsearchTransport, SplunkHecTransport, WebhookTransport } from './transport/http.js'
import { SyslogTransport } from './transport/syslog.js'
import type { Transport } from './transport/types.js'

/**
 * The transport a sink's config names.
 * @throws Error naming `aggregator.export.sinks.<name>.transport` when a TLS file cannot be read.
 */
export function createTransport(name: string, cfg: ExportSinkConfig, host: string): Transport {
  const t = cfg.transport
  const timeoutMs = cfg.retry.timeout_ms
  try {
    switch (t.type) {
      case 'file':
        return new FileTransport({ path: t.path, rotateBytes: t.rotate_bytes, keepFiles: t.keep_files })
      case 'syslog':
        return new SyslogTransport({ protocol: t.protocol, address: t.address, framing: t.framing, timeoutMs, ...(t.ca_file && { caFile: t.ca_file }), ...(t.cert_file && { certFile: t.cert_file }), ...(t.key_file && { keyFile: t.key_file }), ...(t.server_name && { serverName: t.server_name }) })
      case 'splunk_hec':
        return new SplunkHecTransport({ url: t.url, token: t.token, ack: t.ack, host, timeoutMs, ...(t.channel && { channel: t.channel }), ...(t.index && { index: t.index }), ...(t.sourcetype && { sourcetype: t.sourcetype }), ...(t.ca_file && { caFile: t.ca_file }) })
      case 'elasticsearch':
        return new ElasticsearchTransport({ url: t.url, index: t.index, timeoutMs, ...(t.auth && { auth: t.auth }), ...(t.ca_file && { caFile: t.ca_file }) })
      case 'webhook':
        return new WebhookTransport({ url: t.url, secret: t.secret, timeoutMs, ...(t.ca_file && { caFile: t.ca_file }) })
    }
  } catch (err) {
    throw new Error(`aggregator.export.sinks.${name}.transport: ${(err as Error).message}`)
  }
}

/** The signal `mcp-hangar export test` sends: a `sidecar_started` lifecycle signal of the pseudo-provider `mcp-hangar-export-test`. */
export function sampleSignal(): ReturnType<typeof buildSignal> {
  return buildSignal(
    { provider: 'mcp-hangar-export-test', sidecar_id: 'mcp-hangar-export-test' },
    { kind: 'lifecycle', type: 'sidecar_started', action: 'allowed', enforcement_mode: 'alert', reason: 'mcp-hangar export test: a sample signal sent by an operator to check this sink', details: { export_test: true } },
  )
}

class ComplianceExport implements ComplianceExportPort {
  #sinks: ExportSink[] = []
  #stopped = false

  /**
   * Builds and starts every sink of `ctx.config` (`aggregator.export`).
   * @throws Error naming the config path for an invalid config, a format not in this build, or an
   *   unreadable TLS file or cursor file; sinks started before the failure are stopped.
   */
  async start(ctx: ComplianceExportContext): Promise<void> {
    const parsed = exportConfigSchema.safeParse(ctx.config ?? {})
    if (!parsed.success) {
      const i = parsed.error.issues[0]!
      throw new Error(`aggregator.export.${i.path.join('.')}: ${i.message}`)
    }
    const host = hostname()
    const metrics = exportMetrics(ctx.registry as Registry)
    this.#stopped = false
    try {
      for (const [name, cfg] of Object.entries(parsed.data.sinks)) {
        const sink = new ExportSink({ name, config: cfg, dataDir: ctx.dataDir, hostname: host, transport: createTransport(name, cfg, host), metrics, log: ctx.log })
        this.#sinks.push(sink)
        await sink.start(ctx).catch((err: Error) => { throw new Error(`aggregator.export.sinks.${name}: ${err.message}`) })
        ctx.log.info({ sink: name, format: cfg.format, transport: cfg.transport.type, cursor: sink.cursor, lag: sink.lag }, 'export sink started')
      }
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    const sinks = this.#sinks
    this.#sinks = []
    await Promise.all(sinks.map((s) => s.stop()))
  }

  status(): ExportSinkStatus[] {
    return this.#sinks.map((s) => s.status())
  }

  async sendSample(sink: string): Promise<{ sink: string; id: string }> {
    const s = this.#sinks.find((x) => x.name === sink)
    if (!s) throw new Error(`no export sink "${sink}" (configured: ${this.#sinks.map((x) => x.name).join(', ') || 'none'})`)
    const signal = sampleSignal()
    await s.sendSample(signal)
    return { sink, id: signal.id }
  }
}

/** A new compliance export (one per aggregator). */
export function createComplianceExport(): ComplianceExportPort {
  return new ComplianceExport()
}
