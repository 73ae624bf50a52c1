/**
 * The deviation port (enterprise/behavioral/index.ts): `create()` parses `sidecar.deviation`,
 * refuses a bad one naming the path, and returns a running detector whose sweep timer
 * signals roll-ups on the real clock and stops at close().
 */
import t from 'tap'
import { silentLogger } from '../../../core/log.js'
import { createDeviation } from '../../../enterprise/behavioral/index.js'
import { learn } from './rig.js'

t.test('create(): a bad config names its path; a good one runs a detector with a timer that close() stops', async (t) => {
  const port = createDeviation()
  const { recorder } = learn({ minutes: 60 })
  const signals: unknown[] = []
  const base = { provider: 'p', mode: 'alert' as const, baseline: () => recorder.snapshot(), emit: (s: unknown) => signals.push(s), quarantine: () => {}, log: silentLogger() }
  t.throws(() => port.create({ ...base, config: { rate_factor: 0.5 } }), /providers\.p\.sidecar\.deviation\.rate_factor: /)
  t.throws(() => port.create({ ...base, config: { ratefactor: 3 } }), /providers\.p\.sidecar\.deviation: Unrecognized key.*ratefactor/)
  // The recorder's baseline was learned at 2026-11-23; the real clock is later, so it is mature now.
  const d = port.create({ ...base, config: { enabled: true, learning_window_ms: 0, cooldown_ms: 200 } })
  d.egress({ host: 'evil.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  d.egress({ host: 'evil.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.equal(signals.length, 1)
  await new Promise((r) => setTimeout(r, 1300))
  t.equal(signals.length, 2, 'the sweep timer (every second) signalled the roll-up after the 200 ms cooldown')
  d.close()
  d.close()
})
