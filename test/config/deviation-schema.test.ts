/**
 * `sidecar.deviation` (config/deviation-schema.ts): defaults (10 observations, 72 h learning
 * window, 3×), strictness, bounds, and the path an error names through the whole config.
 */
import t from 'tap'
import { DEVIATION_CLASSES, DEVIATION_SEVERITY, deviationConfigSchema } from '../../config/deviation-schema.js'
import { hangarConfigSchema } from '../../config/schema.js'

t.test('defaults', async (t) => {
  t.same(deviationConfigSchema.parse({}), {
    enabled: false, min_observations: 10, learning_window_ms: 259_200_000, refresh_interval_ms: 86_400_000, rate_factor: 3, rate_basis: 'p95',
    min_active_minutes: 10, dns_shape_min_names: 10, cooldown_ms: 600_000, max_signals_per_cooldown: 20, quarantine_on: ['new_destination', 'dns_shape'], disabled: [],
  })
  t.same(Object.keys(DEVIATION_SEVERITY).sort(), [...DEVIATION_CLASSES].sort(), 'every class has a severity')
})

t.test('strings from ${VAR} substitution are numbers and booleans; bad values and unknown keys are refused', async (t) => {
  t.match(deviationConfigSchema.parse({ enabled: 'true', rate_factor: '2.5', cooldown_ms: '0' }), { enabled: true, rate_factor: 2.5, cooldown_ms: 0 })
  for (const bad of [{ rate_factor: 0.5 }, { min_observations: 0 }, { quarantine_on: ['everything'] }, { rate_basis: 'p99' }, { dns_shape_min_names: 1 }, { cooldown: 5 }]) {
    t.notOk(deviationConfigSchema.safeParse(bad).success, JSON.stringify(bad))
  }
  const r = hangarConfigSchema.safeParse({ providers: { p: { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', sidecar: { deviation: { enabled: true, quarantine_on: ['nope'] } } } } })
  t.notOk(r.success)
  t.same(r.error!.issues[0]!.path, ['providers', 'p', 'sidecar', 'deviation', 'quarantine_on', 0])
  const ok = hangarConfigSchema.parse({ providers: { p: { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', sidecar: { deviation: { enabled: true } } } } })
  t.equal(ok.providers.p!.sidecar.deviation.enabled, true)
})
