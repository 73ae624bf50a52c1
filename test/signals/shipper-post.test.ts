// Posting batches (signals/shipper-post.ts) through the shipper against a loopback stub of
// POST /v1/signals: connection refused until the aggregator starts, and a wrong bearer token
// (401) retried until it is accepted. Real files, real HTTP.
import t from 'tap'
import { idOf, range, signal } from './helpers.js'
import { ship, stub, value } from './shipper-helpers.js'
import { until } from './stub-aggregator.js'

t.test('aggregator down (connection refused), started later on the same port: every id arrives, in order', async (t) => {
  const agg = await stub(t)
  const port = agg.port
  await agg.stop()
  const { shipper, metrics } = ship(t, agg.url, { maxBatchSignals: 50 })
  for (let i = 0; i < 200; i++) shipper.emit(signal(i))
  const deadline = Date.now() + 20_000
  while ((await value(metrics.signalDeliveryFailures, { reason: 'network' })) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.ok((await value(metrics.signalDeliveryFailures, { reason: 'network' })) >= 2, 'refusals counted, and retried')
  t.equal(await value(metrics.signalsSpooled), 200, 'all waiting in the spool')
  await agg.start(port)
  t.equal(await shipper.flushWithin(20_000), true)
  t.same(agg.stored, range(0, 200), 'each id stored once, in order')
  t.comment(`duplicates received (dedup is the aggregator's job): ${agg.duplicates}`)
  t.ok(agg.received.length >= 200, 'at least once')
})

t.test('401: logged once as a wrong signal token, retried with backoff, delivered once the token is accepted', async (t) => {
  const agg = await stub(t)
  agg.token = 'another-token'
  const { shipper, metrics, logs } = ship(t, agg.url)
  shipper.emit(signal(0))
  await until(() => agg.requests.length >= 3, 10_000, 'three refused attempts')
  t.equal(agg.stored.length, 0)
  // The stub records a request when it arrives; the shipper counts the failure once it has read
  // the 401, a moment later: wait for the count, do not race it.
  let failures = 0
  for (let i = 0; i < 400 && (failures = await value(metrics.signalDeliveryFailures, { reason: 'auth' })) < 3; i++) await new Promise((r) => setTimeout(r, 25))
  t.ok(failures >= 3, `${failures} auth failures counted`)
  const authLines = logs.lines.filter((l) => /signal token/.test(String(l.msg)))
  t.equal(authLines.length, 1, 'logged once for the streak')
  t.equal(authLines[0]?.level, 50, 'at error level')
  agg.token = 'signal-token' // the operator fixes the aggregator config
  t.equal(await shipper.flushWithin(10_000), true)
  t.same(agg.stored, [idOf(0)])
})
