// Bounded Last-Event-ID replay (proxy/http/event-store.ts): per-stream cursors, no cross-stream
// replay, a total cap with oldest-first eviction, refusal when an unseen event was evicted, ids
// that never repeat.
import t from 'tap'
import { EventStore, parseEventId } from '../../../proxy/http/event-store.js'

t.test('replay returns the events after the id, on its own stream only', async (t) => {
  const s = new EventStore<string>(100)
  const a1 = s.append('postA', 'a1')
  const g1 = s.append('standalone', 'g1')
  const a2 = s.append('postA', 'a2')
  const a3 = s.append('postA', 'a3')
  s.append('standalone', 'g2')
  t.strictSame(s.replayAfter(a1), { streamId: 'postA', events: [{ id: a2, message: 'a2' }, { id: a3, message: 'a3' }] })
  t.strictSame(s.replayAfter(a3), { streamId: 'postA', events: [] }, 'nothing after the last event')
  t.strictSame(s.replayAfter(g1)?.events.map((e) => e.message), ['g2'])
  t.equal(s.size, 5)
  t.equal(s.streamOf(a2), 'postA')
  t.equal(s.streamOf(g1), 'standalone')
})

t.test('ids are <stream>_<n>, unique across streams, and a stream id may contain _', async (t) => {
  const s = new EventStore(10)
  const ids = [s.append('a', { jsonrpc: '2.0', method: 'x' }), s.append('b', { jsonrpc: '2.0', method: 'y' }), s.append('my_stream_1', { jsonrpc: '2.0', method: 'z' })]
  t.strictSame(ids, ['a_1', 'b_2', 'my_stream_1_3'])
  t.strictSame(parseEventId('my_stream_1_3'), { streamId: 'my_stream_1', n: 3 })
  t.equal(s.replayAfter('my_stream_1_3')?.streamId, 'my_stream_1')
})

t.test('unknown, malformed and never-issued ids → undefined', async (t) => {
  const s = new EventStore<string>(10)
  s.append('a', 'x')
  for (const id of ['', 'a', 'a_', '_1', 'b_1', 'a_2', 'a_x', 'a_-1', 'a_1.0', 'a_01x', 'a_' + '9'.repeat(17), 'a_99999999999999999']) {
    t.equal(s.replayAfter(id), undefined, JSON.stringify(id))
  }
  t.equal(s.streamOf('b_1'), undefined)
})

t.test('the cap evicts the oldest events of the session first; a gap refuses replay', async (t) => {
  const s = new EventStore<number>(3)
  const a1 = s.append('a', 1)
  const b2 = s.append('b', 2)
  const a3 = s.append('a', 3)
  const b4 = s.append('b', 4) // evicts a1
  t.equal(s.size, 3)
  t.strictSame(s.replayAfter(a1)?.events.map((e) => e.message), [3], 'a1 itself was evicted but the client had it: nothing unseen is missing')
  const a5 = s.append('a', 5) // evicts b2
  t.equal(s.replayAfter(b2)?.events.map((e) => e.message).join(), '4')
  s.append('a', 6) // evicts a3
  t.equal(s.replayAfter(a1), undefined, 'a3 was evicted unseen: replay after a1 would skip it')
  t.strictSame(s.replayAfter(a3)?.events.map((e) => e.message), [5, 6])
  t.strictSame(s.replayAfter(b4)?.events, [])
  t.equal(s.size, 3)
  void a5
})

t.test('maxEvents 0 keeps nothing but still resumes a client that missed nothing', async (t) => {
  const s = new EventStore<string>(0)
  const a = s.append('a', 'x')
  const b = s.append('a', 'y')
  t.equal(s.size, 0)
  t.strictSame(s.replayAfter(b), { streamId: 'a', events: [] })
  t.equal(s.replayAfter(a), undefined)
  t.throws(() => new EventStore(-1), RangeError)
  t.throws(() => new EventStore(1.5), RangeError)
})

t.test('mark issues a priming id without storing; replay after it returns what follows', async (t) => {
  const s = new EventStore<string>(10)
  const p = s.mark('a')
  t.equal(s.size, 0)
  t.strictSame(s.replayAfter(p), { streamId: 'a', events: [] })
  const e = s.append('a', 'first')
  t.strictSame(s.replayAfter(p)?.events, [{ id: e, message: 'first' }])
})

t.test('dropStream forgets a stream; a reused stream id never accepts the old ids', async (t) => {
  const s = new EventStore<string>(10)
  const old1 = s.append('a', 'old1')
  s.append('a', 'old2')
  s.append('b', 'b1')
  s.dropStream('a')
  t.equal(s.size, 1)
  t.equal(s.replayAfter(old1), undefined)
  const new1 = s.append('a', 'new1')
  t.not(new1, old1)
  t.equal(s.replayAfter(old1), undefined, 'old1 belongs to the earlier incarnation')
  t.strictSame(s.replayAfter(new1), { streamId: 'a', events: [] })
  s.dropStream('nope')
  t.equal(s.size, 2)
})

t.test('dropped events do not count against the cap, and the queue is compacted', async (t) => {
  const s = new EventStore<number>(5)
  for (let i = 0; i < 1000; i++) {
    s.append(`s${i}`, i)
    s.dropStream(`s${i}`)
  }
  t.equal(s.size, 0)
  const keep = [s.append('k', 1), s.append('k', 2), s.append('k', 3), s.append('k', 4), s.append('k', 5)]
  t.strictSame(s.replayAfter(keep[0]!)?.events.map((e) => e.message), [2, 3, 4, 5], 'no live event was evicted in place of dropped ones')
  const internal = s as unknown as { fifo: { length: number } }
  t.ok(internal.fifo.length <= 5 + 130, `eviction queue holds ${internal.fifo.length} entries, not 1000`)
})

t.test('clear forgets everything; ids keep counting', async (t) => {
  const s = new EventStore<string>(10)
  const a = s.append('a', 'x')
  s.clear()
  t.equal(s.size, 0)
  t.equal(s.replayAfter(a), undefined)
  t.equal(s.append('a', 'y'), 'a_2')
})

t.test('stream ids must be visible ASCII', async (t) => {
  const s = new EventStore<string>(10)
  for (const bad of ['', 'a b', 'a\nb', 'é']) t.throws(() => s.append(bad, 'x'), TypeError, JSON.stringify(bad))
  t.throws(() => s.mark('a\r'), TypeError)
})

t.test('a long session stays bounded and replays stay correct', async (t) => {
  const s = new EventStore<number>(100)
  const ids: string[] = []
  for (let i = 0; i < 50_000; i++) ids.push(s.append(i % 2 ? 'odd' : 'even', i))
  t.equal(s.size, 100)
  t.strictSame(s.replayAfter(ids[49_995]!)?.events.map((e) => e.message), [49_997, 49_999])
  t.equal(s.replayAfter(ids[49_000]!), undefined)
})
