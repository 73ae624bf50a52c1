/**
 * The deviation metrics, registered on the sidecar's registry: `behavior_deviations_total{provider,class}`
 * (every deviation, signalled or counted for a roll-up) and `behavior_baseline_mature{provider}`
 * (1 once the detector compares against a mature baseline). prom-client's metric classes are
 * loaded directly, as core/metrics.ts does, so the sidecar does not load the package's index.
 */
import { createRequire } from 'node:module'
import type * as Prom from 'prom-client'
import type { Counter, Gauge, Registry } from 'prom-client'

const load = createRequire(import.meta.url)
const CounterImpl = load('prom-client/lib/counter') as typeof Prom.Counter
const GaugeImpl = load('prom-client/lib/gauge') as typeof Prom.Gauge

export interface DeviationMetrics {
  deviations: Counter<'provider' | 'class'>
  mature: Gauge<'provider'>
}

const P = 'mcp_hangar_'

/** The deviation metrics on `registry` (the ones already there when a detector is made again). */
export function deviationMetrics(registry: Registry): DeviationMetrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make()
  const r = [registry]
  return {
    deviations: get(`${P}behavior_deviations_total`, () => new CounterImpl({ name: `${P}behavior_deviations_total`, help: 'Runtime deviations from the behavioral baseline, by class (signalled or rolled up).', labelNames: ['provider', 'class'], registers: r })),
    mature: get(`${P}behavior_baseline_mature`, () => new GaugeImpl({ name: `${P}behavior_baseline_mature`, help: '1 once deviation detection compares against a mature baseline.', labelNames: ['provider'], registers: r })),
  }
}
