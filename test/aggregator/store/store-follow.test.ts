// aggregator/store/store.ts follow(): like subscribe, but signals the memory window no longer
// holds are read from the audit files first, so a reader far behind (an export sink's cursor)
// gets every stored signal after its sequence number, in order, once; a promise returned by the
// callback holds the next signal back; a reader that falls below the window again is refilled
// from the files. Control: subscribe() on the same store reports the gap instead.
import t from 'tap'
import { openStore } from '../../../aggregator/store/store.js'
import { captureLog, signals, tempDir } from '../../fixtures/aggregator/signals.js'

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('follow reads below the memory window from the audit files, then live, in order and once', async (t) => {
  const dir = tempDir(t, 'hangar-follow-')
  const store = await openStore({ dir, log: captureLog().log, maxSignals: 1000, maxBytes: 100_000 })
  t.teardown(() => store.close())
  for (let i = 1; i <= 3000; i += 500) await store.ingest(signals(i, i + 500))
  t.equal(store.stats().inMemory, 1000)
  const gaps: number[][] = []
  const viaSubscribe: number[] = []
  const unsub = store.subscribe(100, (_s, seq) => { viaSubscribe.push(seq) }, { onGap: (a, b) => gaps.push([a, b]) })
  const got: number[] = []
  const stop = store.follow(100, (seq) => { got.push(seq) })
  await until(() => got.length >= 2900)
  await store.ingest(signals(3001, 3101))
  await until(() => got.length >= 3000)
  t.same(got, Array.from({ length: 3000 }, (_, i) => 101 + i), 'seq 101..3100: files, memory, live')
  t.same(gaps, [[101, 2000]], 'control: subscribe skips what memory no longer holds')
  t.equal(viaSubscribe[0], 2001)
  stop()
  unsub()
})

t.test('a slow follower (promise per signal) that falls below the window is refilled from the files', async (t) => {
  const dir = tempDir(t, 'hangar-follow-')
  const store = await openStore({ dir, log: captureLog().log, maxSignals: 1000, maxBytes: 100_000 })
  t.teardown(() => store.close())
  const got: number[] = []
  let release: (() => void) | undefined
  const stop = store.follow(0, (seq) => {
    got.push(seq)
    if (seq === 5) return new Promise<void>((r) => { release = r })
  })
  await store.ingest(signals(1, 11))
  await until(() => got.length === 5)
  for (let i = 11; i <= 3010; i += 500) await store.ingest(signals(i, i + 500))
  t.equal(got.length, 5, 'held back while the promise is pending')
  t.ok(store.stats().inMemory === 1000 && store.lastSeq === 3010, 'the follower is now far below the memory window')
  release!()
  await until(() => got.length >= 3010).catch((e: Error) => { throw new Error(`${e.message}: got ${got.length}, last ${got.at(-1)}, lastSeq ${store.lastSeq}`) })
  t.same(got, Array.from({ length: 3010 }, (_, i) => i + 1), 'nothing skipped, nothing twice')
  stop()
})
