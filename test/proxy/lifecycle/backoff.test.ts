// Restart backoff (proxy/lifecycle/backoff.ts over core/backoff.ts; config restart_backoff):
// delay n = min(max, initial·2^(n-1)) with ±20 % jitter from an injectable random source, reset on success.
import t from 'tap'
import { Backoff } from '../../../core/backoff.js'
import { restartBackoffOptions, restartDelay } from '../../../proxy/lifecycle/backoff.js'

const opts = { initialMs: 500, maxMs: 30_000 }

t.test('the un-jittered sequence doubles from initial and caps at max', async (t) => {
  const cases: Array<[number, number]> = [[1, 500], [2, 1000], [3, 2000], [4, 4000], [5, 8000], [6, 16000], [7, 30000], [8, 30000], [60, 30000], [2000, 30000]]
  for (const [n, want] of cases) t.equal(restartDelay(n, opts, 0.5), want, `attempt ${n} → ${want} ms`)
})

t.test('jitter is ±20 % around the delay, after the cap', async (t) => {
  const cases: Array<{ n: number; r: number; want: number; case: string }> = [
    { n: 1, r: 0, want: 400, case: 'lowest random: −20 %' },
    { n: 1, r: 0.25, want: 450, case: 'a quarter: −10 %' },
    { n: 1, r: 0.75, want: 550, case: 'three quarters: +10 %' },
    { n: 1, r: 0.999999, want: 600, case: 'highest random: +20 % (rounded)' },
    { n: 3, r: 0, want: 1600, case: 'third attempt, −20 %' },
    { n: 10, r: 0, want: 24000, case: 'capped, −20 %' },
    { n: 10, r: 0.999999, want: 36000, case: 'capped, +20 % may exceed max' },
  ]
  for (const c of cases) t.equal(restartDelay(c.n, opts, c.r), c.want, c.case)
  t.equal(restartDelay(2, { ...opts, jitter: 0 }, 0), 1000, 'jitter 0 gives the exact delay')
  t.equal(restartDelay(1, { ...opts, jitter: 0.5 }, 0), 250, 'a custom jitter fraction')
})

t.test('attempt numbers below 1 or fractional count as the first or floor', async (t) => {
  t.equal(restartDelay(0, opts, 0.5), 500)
  t.equal(restartDelay(-3, opts, 0.5), 500)
  t.equal(restartDelay(2.9, opts, 0.5), 1000)
})

t.test('Backoff counts attempts, grows even at extreme jitter, and resets', async (t) => {
  // With ±20 % jitter the worst case still grows: 0.8·2d > 1.2·d.
  const lows = [0, 0.999999]
  let i = 0
  const b = new Backoff(restartBackoffOptions({ initialMs: 100, maxMs: 10_000 }), () => lows[i++ % 2]!)
  const d1 = b.next() // 80 (low)
  const d2 = b.next() // 240 (high)
  const d3 = b.next() // 320 (low)
  t.same([d1, d2, d3], [80, 240, 320])
  t.equal(b.attempt, 3)
  b.reset()
  t.equal(b.attempt, 0)
  const fixed = new Backoff(restartBackoffOptions({ initialMs: 100, maxMs: 10_000 }), () => 0.5)
  t.same([fixed.next(), fixed.next(), fixed.next()], [100, 200, 400])
  fixed.reset()
  t.equal(fixed.next(), 100, 'after reset the initial delay again')
})

t.test('the default random source stays within the jitter bounds', async (t) => {
  const b = new Backoff(restartBackoffOptions({ initialMs: 1000, maxMs: 1000 }))
  for (let k = 0; k < 200; k++) {
    const d = b.next()
    if (d < 800 || d > 1200) t.fail(`delay ${d} outside [800, 1200]`)
  }
  t.equal(b.attempt, 200)
})
