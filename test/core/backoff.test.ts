// The one exponential backoff (core/backoff.ts): the un-jittered doubling and its cap, each jitter
// shape's range at the extremes of the random source, the figures of each caller (provider
// restarts, the signal shipper, the aggregator policy poll, the local supervisor), attempt
// numbers out of range, and the Backoff sequence.
import t from 'tap'
import { Backoff, backoffDelay, EQUAL_JITTER, FULL_JITTER, NO_JITTER, type BackoffOptions } from '../../core/backoff.js'

const TOP = 1 - 2 ** -53 // the largest value Math.random can return

t.test('the un-jittered delay doubles from initialMs and stops at capMs', async (t) => {
  const o: BackoffOptions = { initialMs: 1000, capMs: 30_000, jitter: NO_JITTER }
  t.same([1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffDelay(n, o, 0.5)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
})

t.test('attempts below 1 count as 1, fractions are floored, huge ones stay at the cap', async (t) => {
  const o: BackoffOptions = { initialMs: 100, capMs: 5000, jitter: NO_JITTER }
  t.equal(backoffDelay(0, o, 0), 100)
  t.equal(backoffDelay(-7, o, 0), 100)
  t.equal(backoffDelay(2.9, o, 0), 200)
  t.equal(backoffDelay(1e9, o, 0), 5000)
  t.equal(backoffDelay(Number.MAX_SAFE_INTEGER, { ...o, initialMs: 0 }, 0), 0, '0 · 2^k is 0, never NaN')
})

t.test('full jitter: uniform in [0, d), floored', async (t) => {
  const o: BackoffOptions = { initialMs: 100, capMs: 30_000, jitter: FULL_JITTER }
  t.equal(backoffDelay(3, o, 0), 0, 'can be 0')
  t.equal(backoffDelay(3, o, 0.5), 200, 'half of 400')
  t.equal(backoffDelay(3, o, TOP), 399, 'just under the delay, never equal')
  t.equal(backoffDelay(99, o, TOP), 29_999, 'capped')
  t.equal(backoffDelay(3, o, 7), 400, 'a random value above 1 is clamped to 1')
  t.equal(backoffDelay(3, o, -1), 0, 'below 0 clamped to 0')
})

t.test('equal jitter: uniform in [d/2, d), floored', async (t) => {
  const o: BackoffOptions = { initialMs: 250, capMs: 30_000, jitter: EQUAL_JITTER }
  t.equal(backoffDelay(1, o, 0), 125, 'half the delay at the lowest')
  t.equal(backoffDelay(1, o, TOP), 249, 'just under the delay at the highest')
  t.equal(backoffDelay(2, o, 0.5), 375, 'three quarters in the middle')
  t.equal(backoffDelay(20, o, 0), 15_000, 'half the cap once capped')
})

t.test('proportional jitter: d · [1 − f, 1 + f], rounded, applied after the cap', async (t) => {
  const o: BackoffOptions = { initialMs: 500, capMs: 30_000, jitter: { kind: 'proportional', fraction: 0.2 } }
  t.equal(backoffDelay(1, o, 0), 400, '−20 %')
  t.equal(backoffDelay(1, o, 0.5), 500, 'the delay itself in the middle')
  t.equal(backoffDelay(1, o, 0.999999), 600, '+20 % (rounded)')
  t.equal(backoffDelay(10, o, 0.999999), 36_000, 'may exceed the cap by the fraction')
  t.equal(backoffDelay(1, { ...o, jitter: { kind: 'proportional', fraction: 0 } }, 0), 500, 'fraction 0: no spread')
})

t.test("each caller's figures", async (t) => {
  // Provider restarts: config restart_backoff (default 500 ms → 30 s), ±20 %.
  const restart: BackoffOptions = { initialMs: 500, capMs: 30_000, jitter: { kind: 'proportional', fraction: 0.2 } }
  t.same([1, 2, 7].map((n) => backoffDelay(n, restart, 0.5)), [500, 1000, 30_000], 'provider restart')
  // Signal shipper: 100 ms → 30 s, full jitter.
  const shipper: BackoffOptions = { initialMs: 100, capMs: 30_000, jitter: FULL_JITTER }
  t.same([1, 2, 10, 11].map((n) => backoffDelay(n, shipper, TOP)), [99, 199, 29_999, 29_999], 'signal shipper')
  // Aggregator policy poll: 250 ms → 30 s, equal jitter.
  const poll: BackoffOptions = { initialMs: 250, capMs: 30_000, jitter: EQUAL_JITTER }
  t.same([1, 2, 8, 9].map((n) => backoffDelay(n, poll, 0)), [125, 250, 15_000, 15_000], 'policy poll')
  // Local supervisor: 1 s → 30 s, no jitter.
  const supervisor: BackoffOptions = { initialMs: 1000, capMs: 30_000, jitter: NO_JITTER }
  t.same([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, supervisor, 0.9)), [1000, 2000, 4000, 8000, 16_000, 30_000], 'supervisor')
})

t.test('Backoff counts attempts, uses its random source per delay, and resets', async (t) => {
  const rs = [0, TOP, 0.5]
  let i = 0
  const b = new Backoff({ initialMs: 100, capMs: 10_000, jitter: FULL_JITTER }, () => rs[i++ % 3]!)
  t.same([b.next(), b.next(), b.next()], [0, 199, 200])
  t.equal(b.attempt, 3)
  b.reset()
  t.equal(b.attempt, 0)
  t.equal(b.next(), 0, 'after reset the first attempt again (random 0)')
  t.equal(b.next(), 199, 'then the second')
})

t.test('the default random source stays within each jitter range', async (t) => {
  const shapes: Array<[BackoffOptions['jitter'], number, number]> = [
    [FULL_JITTER, 0, 999],
    [EQUAL_JITTER, 500, 999],
    [{ kind: 'proportional', fraction: 0.2 }, 800, 1200],
    [NO_JITTER, 1000, 1000],
  ]
  for (const [jitter, lo, hi] of shapes) {
    const b = new Backoff({ initialMs: 1000, capMs: 1000, jitter })
    const ds = Array.from({ length: 500 }, () => b.next())
    t.ok(ds.every((d) => d >= lo && d <= hi && Number.isInteger(d)), `${jitter.kind}: 500 whole delays in [${lo}, ${hi}]`)
    if (jitter.kind !== 'none') t.ok(new Set(ds).size > 10, `${jitter.kind}: spread (${new Set(ds).size} distinct)`)
  }
})
