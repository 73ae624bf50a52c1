// aggregator/store/provider-stats.ts: per-provider counters built signal by signal.
import t from 'tap'
import { ProviderCounters } from '../../../aggregator/store/provider-stats.js'
import { signal } from '../../fixtures/aggregator/signals.js'

t.test('signals and violations counted per provider, by type, newest by sequence', async (t) => {
  const c = new ProviderCounters()
  c.add(1, signal(1))
  c.add(2, signal(2, { kind: 'observation', type: 'egress_allowed', severity: 'info' }))
  c.add(3, signal(3, { type: 'tool_denied' }))
  c.add(4, signal(4, { provider: 'other' }))
  c.add(5, signal(5, { kind: 'observation', type: 'tool_called', severity: 'info' }))
  const f = c.get('fetch')!
  t.equal(f.signals, 4)
  t.equal(f.violations, 2)
  t.strictSame({ ...f.violations_by_type }, { egress_denied: 1, tool_denied: 1 })
  t.equal(f.last_seq, 5)
  t.equal(f.last_time, signal(5).time)
  t.equal(f.last_violation?.id, signal(3).id, 'the newest violation, not the newest signal')
  t.equal(c.get('other')!.signals, 1)
})

t.test('a provider with no signal is undefined; one with only observations has no last_violation', async (t) => {
  const c = new ProviderCounters()
  t.equal(c.get('fetch'), undefined)
  c.add(1, signal(1, { kind: 'observation', type: 'egress_allowed' }))
  t.equal(c.get('fetch')!.last_violation, null)
  t.equal(c.get('fetch')!.violations, 0)
})

t.test('all() is sorted by name and hands out copies', async (t) => {
  const c = new ProviderCounters()
  for (const [i, p] of ['zeta', 'alpha', 'Mid', 'beta'].entries()) c.add(i + 1, signal(i + 1, { provider: p }))
  t.strictSame(c.all().map((p) => p.provider), ['Mid', 'alpha', 'beta', 'zeta'], 'code-unit order')
  const copy = c.get('alpha')!
  copy.signals = 99
  copy.violations_by_type.egress_denied = 99
  t.equal(c.get('alpha')!.signals, 1, 'counters unchanged by a caller')
  t.equal(c.get('alpha')!.violations_by_type.egress_denied, 1)
  const listed = c.all()[1]!
  listed.violations_by_type.x = 1
  t.equal(c.get('alpha')!.violations_by_type.x, undefined)
})

t.test('a type named like an Object.prototype key is counted as any other', async (t) => {
  const c = new ProviderCounters()
  c.add(1, signal(1, { type: '__proto__' }))
  c.add(2, signal(2, { type: 'constructor' }))
  c.add(3, signal(3, { type: 'constructor' }))
  const s = c.get('fetch')!
  t.equal(s.violations_by_type.constructor, 2)
  t.equal(Object.getOwnPropertyDescriptor(s.violations_by_type, '__proto__')?.value, 1)
  t.equal(s.violations, 3)
})
