/**
 * buildSignal (signals/build.ts): the generated fields of `hangar.signal/v1` (UUIDv7 id ordered
 * by time, RFC 3339 UTC time with ms, the origin) and the severity default from the catalogue.
 */
import t from 'tap'
import { buildSignal } from '../../signals/build.js'
import { SIGNAL_SCHEMA } from '../../signals/types.js'

const origin = { provider: 'p1', sidecar_id: 'sc-9' }

t.test('generated fields: schema, a UUIDv7 from the given clock, its time, the origin', async (t) => {
  const now = new Date('2026-03-04T05:06:07.089Z')
  const s = buildSignal(origin, { kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block', reason: 'no' }, now)
  t.match(s, { schema: SIGNAL_SCHEMA, time: '2026-03-04T05:06:07.089Z', provider: 'p1', sidecar_id: 'sc-9', kind: 'violation', type: 'egress_denied', reason: 'no' })
  t.match(s.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(parseInt(s.id.replace(/-/g, '').slice(0, 12), 16), now.getTime(), 'the id carries the signal time (UUIDv7 unix_ts_ms)')
  const later = buildSignal(origin, { kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block', reason: 'no' }, new Date(now.getTime() + 1))
  t.ok(later.id > s.id, 'ids sort by time')
  const same = buildSignal(origin, { kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block', reason: 'no' }, now)
  t.not(same.id, s.id, 'two signals in the same ms differ')
})

t.test('severity: the catalogue default, an explicit one wins, unknown types are info', async (t) => {
  const base = { kind: 'violation' as const, action: 'blocked' as const, enforcement_mode: 'block' as const, reason: 'r' }
  t.equal(buildSignal(origin, { ...base, type: 'secret_in_arguments' }).severity, 'critical')
  t.equal(buildSignal(origin, { ...base, type: 'dns_denied' }).severity, 'medium')
  t.equal(buildSignal(origin, { ...base, type: 'dns_denied', severity: 'critical' }).severity, 'critical')
  t.equal(buildSignal(origin, { ...base, type: 'brand_new_type' }).severity, 'info')
  t.equal(buildSignal(origin, { ...base, type: 'toString' }).severity, 'info', 'an inherited property name is not a catalogue entry')
})

t.test('input fields pass through unchanged', async (t) => {
  const s = buildSignal(origin, { kind: 'observation', type: 'tool_called', action: 'allowed', enforcement_mode: 'alert', reason: 'r', tool: 'fetch', session_id: 's1', details: { n: 1 } })
  t.match(s, { tool: 'fetch', session_id: 's1', details: { n: 1 }, enforcement_mode: 'alert', action: 'allowed' })
  t.equal(s.destination, undefined, 'nothing added that the input did not have')
})
