// The in-memory index (aggregator/store/index.ts): dedup, the bounded memory window with its
// eviction bookkeeping, the subscriber read path and per-provider counters.
import t from 'tap'
import { SignalIndex } from '../../../aggregator/store/index.js'
import { signal } from '../../fixtures/aggregator/signals.js'

t.test('add: in seq order, duplicates refused but their seq still counts', async (t) => {
  const ix = new SignalIndex()
  t.equal(ix.add(1, signal(1)), true)
  t.equal(ix.add(2, signal(2)), true)
  t.equal(ix.add(3, signal(1)), false, 'an id already stored')
  t.equal(ix.lastSeq, 3)
  t.equal(ix.ids, 2)
  t.equal(ix.inMemory, 2)
  t.ok(ix.has(signal(2).id))
  t.throws(() => ix.add(3, signal(9)), RangeError, 'a seq not above the last one')
  ix.advanceTo(10)
  t.equal(ix.lastSeq, 10, 'advanceTo raises the head')
  ix.advanceTo(5)
  t.equal(ix.lastSeq, 10, 'and never lowers it')
  t.throws(() => new SignalIndex({ maxSignals: 0 }), RangeError)
})

t.test('the window keeps the newest maxSignals; older ids still dedup; queries say partial', async (t) => {
  const ix = new SignalIndex({ maxSignals: 100 })
  // Observations: evicted violations would stay queryable in the archive (retention.test.ts).
  for (let n = 1; n <= 1000; n++) ix.add(n, signal(n, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed' }))
  t.equal(ix.inMemory, 100)
  t.equal(ix.oldestInMemory, 901)
  t.equal(ix.ids, 1000, 'the dedup set keeps every id')
  t.ok(ix.has(signal(1).id), 'an evicted id is still a duplicate')
  const all = ix.query({ limit: 1000 })
  t.equal(all.signals.length, 100)
  t.equal(all.seqs[0], 901)
  t.equal(all.partial, true, 'older signals are on disk only')
  t.equal(ix.query({ after: 950 }).partial, false)
  const a = ix.after(0, 10)
  t.equal(a.evictedThrough, 900)
  t.same(a.entries.map((e) => e.seq), [901, 902, 903, 904, 905, 906, 907, 908, 909, 910])
  t.same(ix.after(995, 10).entries.map((e) => e.seq), [996, 997, 998, 999, 1000])
  t.same(ix.after(1000, 10).entries, [])
})

t.test('per-provider counters: signals, violations by type, newest violation', async (t) => {
  const ix = new SignalIndex()
  ix.add(1, signal(1, { provider: 'a', type: 'egress_denied' }))
  ix.add(2, signal(2, { provider: 'a', type: 'dns_denied', kind: 'violation' }))
  ix.add(3, signal(3, { provider: 'a', type: 'egress_allowed', kind: 'observation', severity: 'info' }))
  ix.add(4, signal(4, { provider: 'b', type: 'tool_denied' }))
  ix.add(5, signal(2, { provider: 'a' })) // duplicate: not counted
  const a = ix.provider('a')!
  t.match(a, { provider: 'a', signals: 3, violations: 2, violations_by_type: { egress_denied: 1, dns_denied: 1 }, last_seq: 3, last_time: signal(3).time })
  t.equal(a.last_violation?.id, signal(2).id)
  t.same(ix.providers().map((p) => p.provider), ['a', 'b'])
  t.equal(ix.provider('nobody'), undefined)
  a.violations_by_type.egress_denied = 99
  t.equal(ix.provider('a')!.violations_by_type.egress_denied, 1, 'callers get copies')
})
