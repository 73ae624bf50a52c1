// The concurrency limiter (proxy/inspect/concurrency.ts; config max_concurrency,
// queue_timeout_ms): slots synchronously while free, FIFO hand-over, timeouts that leave the queue
// and never leak a slot, idempotent release, a bounded queue.
import t from 'tap'
import { ConcurrencyLimiter, type Slot } from '../../../proxy/inspect/concurrency.js'

const isSlot = (v: unknown): v is Slot => typeof v === 'object' && v !== null && !(v instanceof Promise) && typeof (v as Slot).release === 'function'

t.test('free slots are handed out synchronously, up to max', async (t) => {
  const l = new ConcurrencyLimiter(3)
  const slots = [l.acquire(1000), l.acquire(1000), l.acquire(1000)]
  t.ok(slots.every(isSlot), 'three synchronous slots')
  t.equal(l.active, 3)
  t.equal(l.tryAcquire(), undefined, 'tryAcquire refuses when full')
  const fourth = l.acquire(10_000)
  t.ok(fourth instanceof Promise, 'the fourth waits')
  t.equal(l.queued, 1)
  ;(slots[0] as Slot).release()
  const got = await fourth
  t.ok(isSlot(got), 'a release hands the slot to the waiter')
  t.equal(l.active, 3, 'handed over, not freed and retaken')
  t.equal(l.queued, 0)
})

t.test('waiters are served first in, first out', async (t) => {
  const l = new ConcurrencyLimiter(1)
  const first = l.acquire(1000) as Slot
  const order: number[] = []
  const waits = [1, 2, 3, 4].map((n) => (l.acquire(10_000) as Promise<Slot | undefined>).then((s) => {
    order.push(n)
    return s
  }))
  t.equal(l.tryAcquire(), undefined, 'no barging past the queue')
  first.release()
  for (const w of waits) {
    const s = await w
    t.ok(s, 'served')
    s?.release()
  }
  t.same(order, [1, 2, 3, 4])
  t.equal(l.active, 0, 'all slots free at the end')
})

t.test('a waiter times out with undefined, leaves the queue, and no slot leaks', async (t) => {
  const l = new ConcurrencyLimiter(2)
  const a = l.acquire(1000) as Slot
  const b = l.acquire(1000) as Slot
  const timedOut = await l.acquire(20)
  t.equal(timedOut, undefined, 'timed out')
  t.equal(l.queued, 0, 'the timed-out waiter left the queue')
  a.release()
  b.release()
  t.equal(l.active, 0, 'both slots free: the timed-out waiter never got one')
  t.ok(isSlot(l.acquire(1000)) && isSlot(l.acquire(1000)), 'full capacity is back')
  t.ok(l.acquire(1) instanceof Promise, 'and no more than max')
})

t.test('a waiter between timed-out ones still gets the next slot', async (t) => {
  const l = new ConcurrencyLimiter(1)
  const holder = l.acquire(1000) as Slot
  const short1 = l.acquire(10) as Promise<Slot | undefined>
  const long = l.acquire(10_000) as Promise<Slot | undefined>
  const short2 = l.acquire(10) as Promise<Slot | undefined>
  t.equal(await short1, undefined)
  t.equal(await short2, undefined)
  t.equal(l.queued, 1)
  holder.release()
  const s = await long
  t.ok(s, 'the remaining waiter is served')
  s?.release()
  t.equal(l.active, 0)
})

t.test('release is idempotent: a double release frees one slot only', async (t) => {
  const l = new ConcurrencyLimiter(2)
  const a = l.acquire(1000) as Slot
  l.acquire(1000)
  const waiter = l.acquire(10_000) as Promise<Slot | undefined>
  a.release()
  a.release()
  a.release()
  const w = await waiter
  t.ok(w, 'the waiter got the one released slot')
  t.equal(l.active, 2, 'still two in use: the extra releases freed nothing')
  const late = l.acquire(5)
  t.ok(late instanceof Promise, 'a new caller must wait')
  t.equal(await late, undefined)
})

t.test('a full queue refuses at once; bad limits throw', async (t) => {
  const l = new ConcurrencyLimiter(1, 1)
  const holder = l.acquire(1000) as Slot
  const queued = l.acquire(10_000)
  t.ok(queued instanceof Promise)
  t.equal(await l.acquire(10_000), undefined, 'the second waiter is refused at once')
  t.equal(l.queued, 1)
  t.throws(() => new ConcurrencyLimiter(0), RangeError)
  t.throws(() => new ConcurrencyLimiter(1, -1), RangeError)
  const zero = new ConcurrencyLimiter(1, 0)
  zero.acquire(1000)
  t.equal(await zero.acquire(10_000), undefined, 'maxQueue 0: never waits')
  holder.release()
  t.ok(isSlot(await queued), 'the queued waiter is served when the holder releases')
})
