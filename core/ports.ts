/**
 * The ports (interfaces) of the enterprise modules. Code outside `enterprise/` depends only on
 * these; `enterprise/bootstrap.ts` registers implementations when the license allows (see
 * docs/licensing.md), and every port has a no-op default so the product runs without them.
 *
 * The registry is process-wide and filled once at start, before the aggregator or a sidecar is
 * composed; tests make their own with {@link createPortRegistry}.
 */
import type { Logger } from './log.js'

/** The signal kinds and severities an export filter names (signals/types.ts spells the same). */
export type ExportKind = 'violation' | 'enforcement' | 'observation' | 'lifecycle'

/** One sink's state, as `GET /v1/export` shows it. */
export interface ExportSinkStatus {
  name: string
  format: string
  transport: string
  /** `running` (following the audit log), `retrying` (the receiver failed; backing off), `stopped`. */
  state: 'running' | 'retrying' | 'stopped'
  /** Audit sequence number of the last signal the receiver acknowledged (0: none yet). */
  cursor: number
  /** Signals in the audit log after the cursor that pass the sink's filter, or after it at all when unknown. */
  lag: number
  sent: number
  failed: number
  dead_lettered: number
  /** The last error, if the last attempt failed. */
  last_error?: string
  last_success?: string
}

/** What the aggregator gives the compliance export when it starts. */
export interface ComplianceExportContext {
  /** The aggregator's data dir (the audit log is `<dataDir>/audit/`; sinks keep cursors under it). */
  dataDir: string
  /** `aggregator.export` as the config schema parsed it (validated there). */
  config: unknown
  log: Logger
  /** The aggregator's Prometheus registry (prom-client `Registry`), for the export metrics. */
  registry: unknown
  /**
   * Signals after audit sequence `afterSeq`, in order, then live ones as they are stored (the
   * store's subscription); returns unsubscribe. Older signals than the store holds in memory are
   * read from the audit files by the implementation. `onSignal` may return a promise: the next
   * signal waits for it (backpressure for a sink whose receiver is slow or down).
   */
  subscribe: (afterSeq: number, onSignal: (seq: number, signal: unknown) => void | Promise<void>) => () => void
  /** The last audit sequence number stored. */
  lastSeq: () => number
}

/** SIEM export of the audit log (enterprise/compliance). */
export interface ComplianceExportPort {
  /** Starts every configured sink. @throws only for an unusable configuration (names the path). */
  start(ctx: ComplianceExportContext): Promise<void>
  /** Stops every sink after its in-flight batch (cursors saved). Idempotent. */
  stop(): Promise<void>
  /** The state of every sink (empty without sinks or without the module). */
  status(): ExportSinkStatus[]
  /**
   * Sends one sample signal through a sink (`mcp-hangar export test --sink NAME`).
   * @throws Error naming the sink when it does not exist or the receiver refused the sample.
   */
  sendSample(sink: string): Promise<{ sink: string; id: string }>
}

/** What a license grants (enterprise/license). */
export interface LicenseState {
  /** `licensed` (a key verified), `community` (no key, under the provider limit), `unlicensed`. */
  mode: 'licensed' | 'community' | 'unlicensed'
  licensee?: string
  /** RFC 3339. */
  expires?: string
  max_providers?: number
  features: string[]
  /** Why enterprise modules are off (`no license key found, using defaults`, `license expired on …`, …). */
  reason?: string
}

/** The ports, with their current implementations. */
export interface PortRegistry {
  compliance: ComplianceExportPort
  license: LicenseState
  /** True when enterprise/bootstrap.ts registered its implementations. */
  enterprise: boolean
}

/** The no-op compliance export: no sinks, nothing sent. */
export const NOOP_COMPLIANCE: ComplianceExportPort = Object.freeze({
  async start() {},
  async stop() {},
  status: () => [],
  async sendSample(sink: string): Promise<{ sink: string; id: string }> {
    throw new Error(`no export sink "${sink}": SIEM export is an enterprise module, and it is not loaded`)
  },
})

/** A registry with every port at its no-op default. */
export function createPortRegistry(): PortRegistry {
  return { compliance: NOOP_COMPLIANCE, license: { mode: 'unlicensed', features: [], reason: 'no license key found, using defaults' }, enterprise: false }
}

/** The process's registry (filled by the CLI at start). */
export const ports: PortRegistry = createPortRegistry()
