/**
 * The export metrics (prefix `mcp_hangar_export_`), registered on the aggregator's registry:
 * `sent_total{sink}` (records the receiver took), `failed_total{sink,reason}` (failed attempts by
 * transport reason; a batch retried three times counts three), `lag_signals{sink}` (audit
 * sequence numbers after the sink's cursor), `dead_lettered_total{sink}`.
 */
import { Counter, Gauge, type Registry } from 'prom-client'

export interface ExportMetrics {
  sent: Counter<'sink'>
  failed: Counter<'sink' | 'reason'>
  lag: Gauge<'sink'>
  deadLettered: Counter<'sink'>
}

const P = 'mcp_hangar_export_'

/** The export metrics on `registry` (the ones already there when the export is started again). */
export function exportMetrics(registry: Registry): ExportMetrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make()
  const r = [registry]
  return {
    sent: get(`${P}sent_total`, () => new Counter({ name: `${P}sent_total`, help: 'Records the SIEM receiver acknowledged, per sink.', labelNames: ['sink'], registers: r })),
    failed: get(`${P}failed_total`, () => new Counter({ name: `${P}failed_total`, help: 'Failed send attempts per sink, by reason.', labelNames: ['sink', 'reason'], registers: r })),
    lag: get(`${P}lag_signals`, () => new Gauge({ name: `${P}lag_signals`, help: 'Audit signals after the sink cursor (not yet acknowledged).', labelNames: ['sink'], registers: r })),
    deadLettered: get(`${P}dead_lettered_total`, () => new Counter({ name: `${P}dead_lettered_total`, help: 'Records the receiver refused as invalid, parked in the dead-letter file.', labelNames: ['sink'], registers: r })),
  }
}
