// The aggregator shipper (signals/shipper.ts) against a loopback stub of POST /v1/signals:
// batching by count and by time, order, retries (503), 413 split, per-signal rejections not
// retried, invalid signals never shipped, spool-full drops reported by signals_dropped. Real
// files, real HTTP.
import t from 'tap'
import type { Signal } from '../../signals/types.js'
import { idOf, range, signal } from './helpers.js'
import { ship, stub, value } from './shipper-helpers.js'
import { until } from './stub-aggregator.js'

t.test('batches by count: full batches leave at once, a partial batch waits for the linger (or a flush)', async (t) => {
  const agg = await stub(t)
  const { shipper, metrics } = ship(t, agg.url, { maxBatchSignals: 50, lingerMs: 60_000 })
  for (let i = 0; i < 120; i++) shipper.emit(signal(i))
  await until(() => agg.stored.length === 120, 10_000, '120 stored')
  t.same(agg.requests.map((r) => r.signals), [50, 50, 20], 'a backlog goes out at once, in batches of at most 50')
  for (let i = 120; i < 125; i++) shipper.emit(signal(i))
  await new Promise((r) => setTimeout(r, 300))
  t.equal(agg.stored.length, 120, 'a partial batch waits for the 60 s linger')
  t.equal(await value(metrics.signalsSpooled), 5)
  t.equal(await shipper.flushWithin(5000), true, 'flush sends it at once')
  t.same(agg.requests.map((r) => r.signals), [50, 50, 20, 5])
  t.same(agg.stored, range(0, 125), 'every id once, in emit order')
  t.equal(await value(metrics.signalsShipped), 125)
  t.equal(await value(metrics.signalsSpooled), 0)
  t.match(agg.requests[0], { authorization: 'Bearer signal-token', contentType: 'application/json' })
})

t.test('batches by time: a few signals leave together after the linger', async (t) => {
  const agg = await stub(t)
  const { shipper } = ship(t, agg.url, { lingerMs: 100 })
  for (let i = 0; i < 3; i++) shipper.emit(signal(i))
  await until(() => agg.stored.length === 3, 10_000, '3 stored')
  t.same(agg.requests.map((r) => r.signals), [3], 'one batch of 3')
  t.same(agg.stored, range(0, 3))
})

t.test('503s are retried with backoff until accepted; nothing lost or reordered', async (t) => {
  const agg = await stub(t)
  let refusals = 3
  agg.respond = () => (refusals-- > 0 ? { status: 503, body: { error: 'busy' } } : undefined)
  const { shipper, metrics, logs } = ship(t, agg.url)
  for (let i = 0; i < 10; i++) shipper.emit(signal(i))
  t.equal(await shipper.flushWithin(10_000), true)
  t.same(agg.stored, range(0, 10))
  t.same(agg.requests.map((r) => r.status), [503, 503, 503, 202])
  t.equal(await value(metrics.signalDeliveryFailures, { reason: 'server_error' }), 3)
  t.equal(logs.lines.filter((l) => /signal delivery failed/.test(String(l.msg))).length, 1, 'one log line per failure streak')
  t.ok(logs.has(/signals delivered again/))
})

t.test('413: the batch is halved until it fits; order kept', async (t) => {
  const agg = await stub(t, { maxBody: 16 * 1024 })
  const { shipper, metrics, logs } = ship(t, agg.url, { lingerMs: 10 })
  for (let i = 0; i < 100; i++) shipper.emit(signal(i, 300))
  t.equal(await shipper.flushWithin(20_000), true)
  t.same(agg.stored, range(0, 100))
  t.ok((await value(metrics.signalDeliveryFailures, { reason: 'too_large' })) >= 1)
  t.ok(agg.requests.filter((r) => r.status === 202).every((r) => r.bytes <= 16 * 1024), 'accepted batches fit the limit')
  t.ok(logs.has(/413/), 'the split is logged')
})

t.test('signals the aggregator rejects are logged and counted, not retried', async (t) => {
  const agg = await stub(t)
  agg.reject = (s) => (s.id === idOf(1) ? 'reason: too vague' : undefined)
  const { shipper, metrics, logs } = ship(t, agg.url)
  for (let i = 0; i < 3; i++) shipper.emit(signal(i))
  t.equal(await shipper.flushWithin(5000), true)
  t.same(agg.stored, [idOf(0), idOf(2)])
  t.equal(agg.requests.length, 1, 'no retry for the rejected one')
  t.equal(await value(metrics.signalDeliveryFailures, { reason: 'rejected' }), 1)
  t.equal(await value(metrics.signalsShipped), 2)
  t.ok(logs.lines.some((l) => l.id === idOf(1) && /rejected/.test(String(l.msg))), 'logged with its id')
})

t.test('invalid signals are counted and logged at emit, never spooled or shipped', async (t) => {
  const agg = await stub(t)
  const { shipper, metrics, logs } = ship(t, agg.url)
  shipper.emit(signal(0))
  shipper.emit({ ...signal(1), destination: { port: 99999, protocol: 'https' } })
  shipper.emit(null as unknown as Signal)
  shipper.emit(signal(2))
  t.equal(await shipper.flushWithin(5000), true)
  t.same(agg.stored, [idOf(0), idOf(2)])
  t.equal(await value(metrics.signalDeliveryFailures, { reason: 'invalid' }), 2)
  t.ok(logs.lines.some((l) => /destination\.port/.test(String(l.error))), 'the log names the bad field')
})

t.test('a full spool drops its oldest segment: counted, and a signals_dropped signal is shipped after the survivors', async (t) => {
  const agg = await stub(t)
  const port = agg.port
  await agg.stop()
  const { shipper, metrics } = ship(t, agg.url, { spool: { segmentBytes: 2048, maxBytes: 8192, fsyncIntervalMs: 0 } })
  for (let i = 0; i < 60; i++) shipper.emit(signal(i, 200))
  const dropped = await value(metrics.signalsDropped, { reason: 'spool_full' })
  t.ok(dropped > 0, `${dropped} dropped`)
  await agg.start(port)
  t.equal(await shipper.flushWithin(20_000), true)
  const drops = agg.stored.filter((id) => !id.startsWith('01900000-'))
  t.ok(drops.length >= 1, 'signals_dropped signal(s) delivered')
  const data = agg.stored.filter((id) => id.startsWith('01900000-'))
  const first = 60 - data.length
  t.ok(first > 0, 'the oldest are gone')
  t.same(data, range(first, 60), 'survivors are the newest, in order')
  t.ok(first <= dropped, 'no loss beyond the count (which also counts dropped signals_dropped signals)')
})

t.test('the signals_dropped signal carries count, reason and times', async (t) => {
  const agg = await stub(t)
  const got: Signal[] = []
  agg.respond = (signals) => {
    got.push(...signals)
    return undefined
  }
  const port = agg.port
  await agg.stop()
  const { shipper, metrics } = ship(t, agg.url, { spool: { segmentBytes: 2048, maxBytes: 8192, fsyncIntervalMs: 0 } })
  let n = 0
  while ((await value(metrics.signalsDropped, { reason: 'spool_full' })) === 0) shipper.emit(signal(n++, 200)) // up to the first drop
  const dropped = await value(metrics.signalsDropped, { reason: 'spool_full' })
  await agg.start(port)
  t.equal(await shipper.flushWithin(20_000), true)
  const d = got.filter((s) => s.type === 'signals_dropped')
  t.equal(d.length, 1, 'one drop, one signal')
  t.match(d[0], { kind: 'lifecycle', severity: 'high', provider: 'fetch', sidecar_id: 'sc-test', details: { reason: 'spool_full', count: dropped, oldest_time: signal(0).time, newest_time: signal(dropped - 1).time } })
  t.same(got.filter((s) => s.type !== 'signals_dropped').map((s) => s.id), range(dropped, n), 'the rest delivered, in order')
  t.equal(got[got.length - 1]?.type, 'signals_dropped', 'appended at the tail')
})
