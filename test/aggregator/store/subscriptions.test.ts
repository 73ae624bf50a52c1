// Live subscriptions for the SSE stream (aggregator/store/subscriptions.ts through the store):
// backlog then live, in order, without gaps or duplicates even when signals are committed during
// the backlog; resumption by seq (also after a restart); gaps below the memory window reported;
// unsubscribe and callback errors.
import t from 'tap'
import { SignalStore } from '../../../aggregator/store/store.js'
import { captureLog, signals, tempDir } from '../../fixtures/aggregator/signals.js'

const silent = () => captureLog().log
const tick = () => new Promise<void>((r) => setImmediate(r))

/** Resolves when `pred` holds, polling every tick (bounded by the test timeout). */
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await tick()
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

t.test('backlog then live, in order, with signals committed in the middle of the backlog', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, log: silent() })
  t.teardown(() => store.close())
  await store.ingest(signals(0, 2000))
  const got: number[] = []
  const ids: string[] = []
  let midIngest: Promise<unknown> | null = null
  const stop = store.subscribe(0, async (s, seq) => {
    got.push(seq)
    ids.push(s.id)
    if (seq === 10) {
      // A batch arrives while the backlog is being delivered; the callback waits for it to be durable.
      midIngest = store.ingest(signals(2000, 2100))
      await midIngest
    }
    if (seq % 100 === 0) await tick()
  })
  await until(() => got.length >= 2100)
  t.ok(midIngest, 'the mid-backlog batch was sent')
  await store.ingest(signals(2100, 2150))
  await until(() => got.length >= 2150)
  await tick()
  t.same(got, range(1, 2150), 'every seq once, ascending, backlog and live alike')
  t.same(ids, signals(0, 2150).map((s) => s.id))
  stop()
})

t.test('a synchronous callback and a writer racing the backlog: still no gap, no duplicate', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, log: silent() })
  t.teardown(() => store.close())
  await store.ingest(signals(0, 3000))
  const got: number[] = []
  const stop = store.subscribe(0, (_s, seq) => void got.push(seq))
  const writer = (async () => {
    for (let n = 3000; n < 4000; n += 100) await store.ingest(signals(n, n + 100))
  })()
  await writer
  await until(() => got.length >= 4000)
  await tick()
  t.same(got, range(1, 4000))
  stop()
})

t.test('resume after a Last-Event-ID, also across a restart (seqs are stable)', async (t) => {
  const dir = tempDir(t)
  let store = await SignalStore.open({ dir, log: silent() })
  await store.ingest(signals(0, 100))
  const first: number[] = []
  const stop = store.subscribe(0, (_s, seq) => void first.push(seq))
  await until(() => first.length === 100)
  stop()
  await store.ingest(signals(100, 150))
  await tick()
  t.equal(first.length, 100, 'nothing after unsubscribe')
  await store.close()
  store = await SignalStore.open({ dir, log: silent() })
  t.teardown(() => store.close())
  const resumed: Array<[number, string]> = []
  store.subscribe(first.at(-1)!, (s, seq) => void resumed.push([seq, s.id]))
  await until(() => resumed.length === 50)
  t.same(resumed, signals(100, 150).map((s, i) => [101 + i, s.id]), 'continues at seq 101 with signal #100')
  const future: number[] = []
  store.subscribe(10_000, (_s, seq) => void future.push(seq))
  await store.ingest(signals(150, 152))
  await until(() => future.length === 2)
  t.same(future, [151, 152], 'a cursor beyond the newest seq starts at the newest')
})

t.test('a cursor below the memory window: the gap is reported, then everything in memory', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, maxSignals: 100, log: silent() })
  t.teardown(() => store.close())
  await store.ingest(signals(0, 500))
  const gaps: Array<[number, number]> = []
  const got: number[] = []
  store.subscribe(10, (_s, seq) => void got.push(seq), { onGap: (from, to) => gaps.push([from, to]) })
  await until(() => got.length === 100)
  t.same(gaps, [[11, 400]])
  t.same(got, range(401, 500))
})

t.test('a subscriber slower than the window turns over is told of the gap and continues', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, maxSignals: 50, log: silent() })
  t.teardown(() => store.close())
  await store.ingest(signals(0, 10))
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  const got: number[] = []
  const gaps: Array<[number, number]> = []
  store.subscribe(0, async (_s, seq) => {
    got.push(seq)
    if (seq === 1) await held
  }, { onGap: (from, to) => gaps.push([from, to]) })
  await until(() => got.length === 1)
  await store.ingest(signals(10, 200)) // the window now holds 151..200
  release()
  await until(() => got.at(-1) === 200)
  // Signals already fetched before the eviction are still delivered; the gap is exactly the rest.
  t.equal(gaps.length, 1, 'one gap')
  const [from, to] = gaps[0]!
  t.ok(from > 1 && to === 150, `gap ${from}..${to} ends where the window starts`)
  t.same(got, [...range(1, from - 1), ...range(151, 200)], 'delivered + gap = every seq once, in order')
})

t.test('a callback that throws ends its subscription via onError; others go on', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, log: silent() })
  t.teardown(() => store.close())
  const errors: unknown[] = []
  const bad: number[] = []
  const good: number[] = []
  store.subscribe(0, (_s, seq) => {
    bad.push(seq)
    if (seq === 3) throw new Error('socket gone')
  }, { onError: (e) => errors.push(e) })
  store.subscribe(0, (_s, seq) => void good.push(seq))
  await store.ingest(signals(0, 5))
  await until(() => good.length === 5)
  await store.ingest(signals(5, 6))
  await until(() => good.length === 6)
  t.same(bad, [1, 2, 3])
  t.match(errors, [{ message: 'socket gone' }])
  t.equal(store.stats().subscribers, 1)
  t.throws(() => store.subscribe(-1, () => {}), RangeError)
})
