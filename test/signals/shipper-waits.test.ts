// The shipper's waits (signals/shipper-waits.ts): flushWithin times out with false; close keeps
// what was not delivered in the spool for the next start. Real files, real HTTP.
import t from 'tap'
import { range, signal, tempDir } from './helpers.js'
import { ship, stub, value } from './shipper-helpers.js'

t.test('flushWithin returns false at its timeout; close keeps what was not delivered for the next start', async (t) => {
  const agg = await stub(t)
  const port = agg.port
  await agg.stop()
  const dir = tempDir(t)
  const a = ship(t, agg.url, { closeTimeoutMs: 200 }, dir)
  for (let i = 0; i < 5; i++) a.shipper.emit(signal(i))
  t.equal(await a.shipper.flushWithin(200), false, 'aggregator down: not delivered')
  const started = Date.now()
  await a.shipper.close()
  t.ok(Date.now() - started < 10_000, 'close is bounded')
  a.shipper.emit(signal(99))
  t.equal(await value(a.metrics.signalsDropped, { reason: 'closed' }), 1, 'emit after close is counted')
  await agg.start(port)
  const b = ship(t, agg.url, {}, dir)
  t.equal(b.shipper.pending, 5, 'the spool kept them')
  t.equal(await b.shipper.flushWithin(10_000), true)
  t.same(agg.stored, range(0, 5))
})
