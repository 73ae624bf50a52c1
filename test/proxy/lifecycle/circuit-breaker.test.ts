// The circuit breaker (proxy/lifecycle/circuit-breaker.ts; config circuit_breaker): closed →
// open after failureThreshold consecutive failures, half-open after resetTimeoutMs admitting
// exactly one probe, probe success → closed, failure → open again. A fake clock drives it.
import t from 'tap'
import { BREAKER_GAUGE, CircuitBreaker, type BreakerState } from '../../../proxy/lifecycle/circuit-breaker.js'

function make(threshold = 3, resetMs = 1000) {
  const clock = { now: 10_000 }
  const changes: Array<[BreakerState, BreakerState]> = []
  const b = new CircuitBreaker({ failureThreshold: threshold, resetTimeoutMs: resetMs, now: () => clock.now, onStateChange: (f, to) => changes.push([f, to]) })
  return { b, clock, changes }
}

t.test('closed: attempts pass; failures below the threshold keep it closed; a success resets the count', async (t) => {
  const { b, changes } = make(3)
  t.equal(b.state, 'closed')
  t.ok(b.canAttempt())
  b.recordFailure()
  b.recordFailure()
  t.equal(b.state, 'closed')
  t.equal(b.failures, 2)
  t.equal(b.retryAfterMs(), 0)
  b.recordSuccess()
  t.equal(b.failures, 0)
  b.recordFailure()
  b.recordFailure()
  t.equal(b.state, 'closed', 'the count restarted after the success')
  t.same(changes, [], 'no state change yet')
})

t.test('threshold failures in a row open it; open refuses and counts down retryAfterMs', async (t) => {
  const { b, clock, changes } = make(3, 1000)
  for (let i = 0; i < 3; i++) b.recordFailure()
  t.equal(b.state, 'open')
  t.same(changes, [['closed', 'open']])
  t.notOk(b.canAttempt())
  t.equal(b.retryAfterMs(), 1000)
  clock.now += 400
  t.equal(b.retryAfterMs(), 600)
  t.notOk(b.canAttempt())
  clock.now += 599
  t.equal(b.state, 'open', '1 ms before the reset timeout it is still open')
  t.equal(b.retryAfterMs(), 1)
})

t.test('half-open admits exactly one probe; its success closes the breaker', async (t) => {
  const { b, clock, changes } = make(2, 1000)
  b.recordFailure()
  b.recordFailure()
  clock.now += 1000
  t.equal(b.state, 'half_open')
  t.equal(b.retryAfterMs(), 0, 'a probe may go now')
  t.ok(b.canAttempt(), 'the probe is admitted')
  t.notOk(b.canAttempt(), 'a second caller is not')
  t.equal(b.retryAfterMs(), 1000, 'while the probe is out: at most one reset timeout')
  b.recordSuccess()
  t.equal(b.state, 'closed')
  t.equal(b.failures, 0)
  t.ok(b.canAttempt())
  t.same(changes, [['closed', 'open'], ['open', 'half_open'], ['half_open', 'closed']])
})

t.test('a failed probe opens it again for a fresh reset timeout', async (t) => {
  const { b, clock, changes } = make(1, 1000)
  b.recordFailure()
  clock.now += 5000 // long past the timeout
  t.ok(b.canAttempt())
  b.recordFailure()
  t.equal(b.state, 'open')
  t.equal(b.retryAfterMs(), 1000, 'the timeout counts from the probe failure')
  t.notOk(b.canAttempt())
  clock.now += 1000
  t.ok(b.canAttempt(), 'half-open again after another timeout')
  t.same(changes, [['closed', 'open'], ['open', 'half_open'], ['half_open', 'open'], ['open', 'half_open']])
})

t.test('gauge values follow docs/metrics.md: 0 closed, 1 open, 2 half-open', async (t) => {
  t.same(BREAKER_GAUGE, { closed: 0, open: 1, half_open: 2 })
})
