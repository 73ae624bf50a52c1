/**
 * The sidecar's behavioral baseline: one recorder the egress plane and the MCP ingress both feed,
 * continued from what an earlier run of the same provider wrote to its data dir, and a keeper
 * that writes it back periodically and once more at stop.
 */
import type { ProviderConfig } from '../config/schema.js'
import type { Logger } from '../core/log.js'
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
