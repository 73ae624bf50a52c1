// The provider's token bucket (policy/rate-limit.ts; rate_limit {rps, burst}):
// burst calls at once, then rps per second, retry_after_ms for a refusal. Fake clock throughout.
import t from 'tap'
import { TokenBucket } from '../../policy/rate-limit.js'

function bucket(rps: number, burst: number) {
  const clock = { now: 1_000 }
  return { b: new TokenBucket({ rps, burst }, () => clock.now), clock }
}

t.test('burst calls pass at once; burst+1 is refused with the wait until the next token', async (t) => {
  const cases = [
    { rps: 20, burst: 40, retry: 50 },
    { rps: 1, burst: 1, retry: 1000 },
    { rps: 3, burst: 5, retry: 334 }, // ceil(1000 / 3)
    { rps: 0.5, burst: 2, retry: 2000 },
    { rps: 10_000, burst: 1, retry: 1 }, // a wait under 1 ms is still at least 1 ms
  ]
  for (const c of cases) {
    const { b } = bucket(c.rps, c.burst)
    for (let i = 0; i < c.burst; i++) t.equal(b.take(), 0, `rps ${c.rps} burst ${c.burst}: call ${i + 1} passes`)
    t.equal(b.take(), c.retry, `rps ${c.rps} burst ${c.burst}: call ${c.burst + 1} waits ${c.retry} ms`)
  }
})

t.test('refills at rps, capped at burst; a refusal consumes nothing', async (t) => {
  const { b, clock } = bucket(10, 3)
  for (let i = 0; i < 3; i++) b.take()
  t.equal(b.take(), 100, 'empty: next token in 100 ms')
  t.equal(b.take(), 100, 'a refused take did not consume (still 100 ms)')
  clock.now += 40
  t.equal(b.take(), 60, 'after 40 ms: 60 ms left')
  clock.now += 60
  t.equal(b.take(), 0, 'after 100 ms: one token')
  t.equal(b.take(), 100, 'and only one')
  clock.now += 60_000
  t.equal(b.available(), 3, 'a long idle refills to burst, not beyond')
  for (let i = 0; i < 3; i++) t.equal(b.take(), 0, `burst call ${i + 1} after idle`)
  t.ok(b.take() > 0, 'burst+1 after idle is refused')
})

t.test('a clock that goes back refills nothing and does not credit the time twice', async (t) => {
  const { b, clock } = bucket(1, 1)
  t.equal(b.take(), 0)
  clock.now -= 5_000
  t.equal(b.take(), 1000, 'back in time: still empty')
  clock.now += 5_500 // 500 ms past the original time
  t.equal(b.take(), 500, 'only the time past the latest reading counts')
})

t.test('invalid configs are RangeErrors', async (t) => {
  const bad = [{ rps: 0, burst: 1 }, { rps: -1, burst: 1 }, { rps: Number.NaN, burst: 1 }, { rps: Infinity, burst: 1 }, { rps: 1, burst: 0 }, { rps: 1, burst: 0.5 }]
  for (const c of bad) t.throws(() => new TokenBucket(c, () => 0), RangeError, JSON.stringify(c))
})
