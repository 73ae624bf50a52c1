// The shipper's memory fallback queue (signals/shipper-queue.ts) with a spool that cannot be
// written (/dev/full): signals kept and shipped in order, back to the spool when it works, and
// an overflow that drops the oldest and reports it. Real files, real HTTP.
import t from 'tap'
import { rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { segmentName } from '../../signals/spool-format.js'
import { range, signal, tempDir } from './helpers.js'
import { ship, stub, value } from './shipper-helpers.js'

t.test('spool write errors: logged once, counted, kept in memory and delivered in order; back to the spool when it works', async (t) => {
  const agg = await stub(t)
  const dir = tempDir(t)
  symlinkSync('/dev/full', join(dir, segmentName(1)))
  const { shipper, metrics, logs } = ship(t, agg.url, {}, dir)
  for (let i = 0; i < 3; i++) shipper.emit(signal(i))
  t.ok((await value(metrics.signalDeliveryFailures, { reason: 'disk' })) >= 1)
  t.equal(await shipper.flushWithin(5000), true)
  t.same(agg.stored, range(0, 3), 'shipped from memory')
  t.equal(logs.lines.filter((l) => /spool write failed/.test(String(l.msg))).length, 1, 'logged once')
  rmSync(join(dir, segmentName(1)))
  for (let i = 3; i < 6; i++) shipper.emit(signal(i))
  t.equal(await shipper.flushWithin(5000), true)
  t.same(agg.stored, range(0, 6))
  t.ok(logs.has(/spool writable again/))
})

t.test('memory queue overflow (spool broken, aggregator down) drops the oldest and reports it', async (t) => {
  const agg = await stub(t)
  const port = agg.port
  await agg.stop()
  const dir = tempDir(t)
  symlinkSync('/dev/full', join(dir, segmentName(1)))
  const { shipper, metrics } = ship(t, agg.url, { memoryQueueMax: 5 }, dir)
  for (let i = 0; i < 8; i++) shipper.emit(signal(i))
  t.equal(await value(metrics.signalsDropped, { reason: 'memory_full' }), 3)
  rmSync(join(dir, segmentName(1)))
  await agg.start(port)
  t.equal(await shipper.flushWithin(10_000), true)
  const data = agg.stored.filter((id) => id.startsWith('01900000-'))
  t.same(data, range(3, 8), 'the newest five, in order')
  t.equal(agg.stored.length, 6, 'plus one signals_dropped')
})
