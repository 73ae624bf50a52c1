// The adapter to the service's port (aggregator/store/port.ts → aggregator/store-api.ts): newest
// first with an opaque cursor, stable while signals arrive; (seq, signal) subscriptions; zeros for
// a provider without signals.
import t from 'tap'
import { StorePort } from '../../../aggregator/store/port.js'
import { SignalStore } from '../../../aggregator/store/store.js'
import type { Signal } from '../../../signals/types.js'
import { captureLog, signal, signals, tempDir } from '../../fixtures/aggregator/signals.js'

t.test('query: newest first, opaque cursor, stable while signals arrive, absent cursor at the end', async (t) => {
  const port = new StorePort(await SignalStore.open({ dir: tempDir(t), log: captureLog().log }))
  t.teardown(() => port.close())
  await port.ingest(signals(0, 25))
  const p1 = port.query({ limit: 10 })
  t.same(p1.signals.map((s) => s.id), signals(15, 25).reverse().map((s) => s.id))
  t.type(p1.next_cursor, 'string')
  await port.ingest(signals(25, 40)) // arrivals between pages do not shift the pages
  const p2 = port.query({ limit: 10, cursor: p1.next_cursor! })
  t.same(p2.signals.map((s) => s.id), signals(5, 15).reverse().map((s) => s.id))
  const p3 = port.query({ limit: 10, cursor: p2.next_cursor! })
  t.same(p3.signals.map((s) => s.id), signals(0, 5).reverse().map((s) => s.id))
  t.notOk('next_cursor' in p3, 'no cursor on the last page')
  t.same(port.query({ provider: 'fetch', kind: 'violation', type: 'egress_denied', severity: 'high', since: signal(38).time }).signals.map((s) => s.id), [signal(39).id, signal(38).id])
  t.throws(() => port.query({ cursor: 'abc' }), { code: 'HANGAR_QUERY_INVALID', param: 'cursor' })
  t.equal(port.size, 40)
  t.equal(port.lastSeq, 40)
})

t.test('subscribe gives (seq, signal); providerStats maps the counters', async (t) => {
  const port = new StorePort(await SignalStore.open({ dir: tempDir(t), log: captureLog().log }))
  t.teardown(() => port.close())
  await port.ingest([signal(1, { type: 'dns_denied' }), signal(2), signal(3, { kind: 'observation', type: 'egress_allowed', severity: 'info' })])
  const got: Array<[number, string]> = []
  const stop = port.subscribe(1, (seq, s: Signal) => void got.push([seq, s.id]))
  while (got.length < 2) await new Promise((r) => setImmediate(r))
  stop()
  t.same(got, [[2, signal(2).id], [3, signal(3).id]])
  const st = port.providerStats('fetch')
  t.same(st.violations, { dns_denied: 1, egress_denied: 1 })
  t.equal(st.violations_total, 2)
  t.equal(st.last_violation?.id, signal(2).id)
  t.same(port.providerStats('nobody'), { violations: {}, violations_total: 0 })
})
