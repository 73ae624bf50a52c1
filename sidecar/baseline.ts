/**
 * The sidecar's behavioral baseline: one recorder the egress plane and the MCP ingress both feed,
 * continued from what an earlier run of the same provider wrote to its data dir, and a keeper
 * that writes it back periodically and once more at stop; and the tee that feeds a runtime
 * deviation detector beside the recorder.
 */
import type { ProviderConfig } from '../config/schema.js'
import type { Logger } from '../core/log.js'
import type { DeviationObserver } from '../core/ports.js'
import type { BaselineObserver, DnsHandle, EgressEvent, EgressKey } from '../policy/baseline-observer.js'
import type { SignalAction } from '../signals/types.js'
import { BaselineRecorder } from '../profiles/baseline/recorder.js'
import { BaselineKeeper, loadBaselineFile } from '../profiles/baseline/store.js'

/** A running baseline: the recorder, and the keeper to close last on stop (it writes the file). */
export interface SidecarBaseline {
  recorder: BaselineRecorder
  keeper: BaselineKeeper
}

/**
 * The provider's baseline recorder, continued from `<sidecar.data_dir>/baseline.json` when that
 * file holds this provider's baseline, and its keeper, already writing it back every
 * `sidecar.baseline.flush_interval_ms` (ms). The recorder keeps at most
 * `sidecar.baseline.max_destinations` / `max_dns_names` / `max_tools` entries and
 * `rate_minutes` one-minute rate buckets.
 * @param p the provider's effective config
 * @param name the provider's name (`providers.<name>`)
 * @returns undefined when `sidecar.baseline.enabled` is false
 */
export function startBaseline(p: ProviderConfig, name: string, log: Logger): SidecarBaseline | undefined {
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

/**
 * What the egress plane and the MCP ingress feed when deviation detection runs: every event goes
 * to the recorder, and the four the detector observes (egress decisions, bytes of closed
 * connections, DNS questions on the forwarder's full path, tool calls) to the detector as well.
 * Cached DNS answers (`dnsHit`, the forwarder's hot path) go to the recorder only. The detector
 * can be swapped (a new snapshot after a quarantine release) while traffic flows. The detector
 * sees each event first: a snapshot it takes then does not already hold the event it judges.
 */
export class DeviationTee implements BaselineObserver {
  /** The detector fed beside the recorder; undefined: the recorder alone. */
  detector: DeviationObserver | undefined

  constructor(readonly recorder: BaselineRecorder) {}

  egress(e: EgressEvent): void {
    this.detector?.egress(e)
    this.recorder.egress(e)
  }

  egressContent(k: EgressKey, kind: 'tls' | 'http' | 'other'): void {
    this.recorder.egressContent(k, kind)
  }

  egressBytes(k: EgressKey, up: number, down: number): void {
    this.detector?.egressBytes(k, up, down)
    this.recorder.egressBytes(k, up, down)
  }

  dnsQuery(name: string, qtype: string, action: SignalAction): DnsHandle | undefined {
    this.detector?.dnsQuery(name, qtype, action)
    return this.recorder.dnsQuery(name, qtype, action)
  }

  dnsHit(h: DnsHandle, qtype: string, now: number, n?: number): void {
    this.recorder.dnsHit(h, qtype, now, n)
  }

  dnsAnswer(name: string, types: readonly string[]): void {
    this.recorder.dnsAnswer(name, types)
  }

  toolListed(name: string, digest: string): void {
    this.recorder.toolListed(name, digest)
  }

  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void {
    this.detector?.toolCalled(name, failed, args, redactKey)
    this.recorder.toolCalled(name, failed, args, redactKey)
  }

  toolRefused(name: string): void {
    this.recorder.toolRefused(name)
  }
}
