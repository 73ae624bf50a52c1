// Restart policy of StdioProvider (proxy/stdio/provider-restart.ts) with real processes: a SIGKILLed
// provider is restarted after a growing backoff that a stable run resets; the circuit breaker opens
// after N failed starts, refuses at once with retryAfterMs, half-opens and closes on a successful
// probe; stop() during a restart backoff cancels the restart.
import t from 'tap'
import { createMetrics } from '../../../core/metrics.js'
import { ProviderUnavailableError } from '../../../proxy/stdio/provider-errors.js'
import type { LifecycleChange, ProviderExit, StateChange } from '../../../proxy/stdio/provider-types.js'
import { captureLog, metricValue, pidAlive, sleep, testProvider, waitBreaker, waitExit, waitState } from '../../fixtures/mcp/harness.js'

// Property runs and restarts take tens of seconds on a loaded 2-core machine; the suite default (120 s) is too close.
t.setTimeout(300_000)

t.test('SIGKILL → DEAD → restart after the backoff; the delay grows with repeated crashes', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const { logger, lines } = captureLog('info')
  const p = testProvider({ backoff: { initialMs: 200, maxMs: 5000 }, metrics: metrics.proxy, log: logger })
  t.teardown(() => p.stop())
  const states: Array<StateChange & { at: number }> = []
  p.on('state', (c) => states.push({ ...c, at: performance.now() }))
  await p.ensureStarted()

  const delays: number[] = []
  const pids = [p.pid!]
  for (let i = 0; i < 2; i++) {
    const exit = waitExit(p)
    process.kill(p.pid!, 'SIGKILL')
    const e: ProviderExit = await exit
    t.match(e, { signal: 'SIGKILL', expected: false, description: 'killed by SIGKILL' })
    await waitState(p, 'READY')
    const dead = states.findLast((s) => s.to === 'DEAD')!
    const restart = states.findLast((s) => s.to === 'INITIALIZING')!
    t.match(dead.cause, /killed by SIGKILL/)
    t.match(restart.cause, /^restart after failure \(killed by SIGKILL: fixture: ready pid=\d+\)$/, 'the cause names the exit and the last stderr line')
    delays.push(restart.at - dead.at)
    pids.push(p.pid!)
  }
  t.ok(delays[0]! >= 190, `first restart after ~200 ms (${Math.round(delays[0]!)} ms)`)
  t.ok(delays[1]! >= 390, `second restart after ~400 ms (${Math.round(delays[1]!)} ms)`)
  t.ok(delays[1]! > delays[0]!, 'the delay grew')
  t.same(lines.filter((l) => l.msg === 'provider restarts after backoff').map((l) => [l.delayMs, l.attempt]), [[200, 1], [400, 2]], 'the scheduled delays double')
  t.equal(new Set(pids).size, 3, 'a new pid each time')
  t.notOk(pidAlive(pids[0]!))
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 3)
  t.equal(p.breakerState, 'closed', '2 failures are below the threshold of 5')
})

t.test('ensureStarted during the restart backoff waits for the restart', async (t) => {
  const p = testProvider({ backoff: { initialMs: 300, maxMs: 5000 } })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  const pid1 = p.pid!
  process.kill(pid1, 'SIGKILL')
  await waitState(p, 'DEAD')
  const t0 = performance.now()
  await p.ensureStarted()
  t.equal(p.state, 'READY')
  t.not(p.pid, pid1)
  t.ok(performance.now() - t0 >= 250, 'it waited for the backoff delay')
})

t.test('a process that stays up for stableAfterMs resets the backoff', async (t) => {
  const { logger, lines } = captureLog('info')
  const p = testProvider({ backoff: { initialMs: 200, maxMs: 5000 }, stableAfterMs: 300, log: logger })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  for (let i = 0; i < 2; i++) {
    await sleep(500) // longer than stableAfterMs
    process.kill(p.pid!, 'SIGKILL')
    await waitState(p, 'DEAD')
    await waitState(p, 'READY')
  }
  t.same(lines.filter((l) => l.msg === 'provider restarts after backoff').map((l) => [l.delayMs, l.attempt]), [[200, 1], [200, 1]], 'the second delay is the initial one again')
  t.equal(p.breakerState, 'closed')
})

t.test('circuit breaker: opens after N failed starts, fails fast, half-opens, a good probe closes it', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const changes: LifecycleChange[] = []
  const p = testProvider({
    env: { FIXTURE_EXIT_ON_START: '1' },
    backoff: { initialMs: 50, maxMs: 100 },
    breaker: { failureThreshold: 3, resetTimeoutMs: 1500 },
    metrics: metrics.proxy,
    onLifecycle: (c) => changes.push(c),
  })
  t.teardown(() => p.stop())
  const opened = waitBreaker(p, 'open')
  const first = await p.ensureStarted().catch((e: unknown) => e)
  t.type(first, ProviderUnavailableError)
  t.match((first as ProviderUnavailableError).reason, /^start failed: exited with code 1: fixture: FIXTURE_EXIT_ON_START is set$/)
  await opened // two automatic restarts fail as well
  t.equal(p.state, 'DEAD')
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 3)
  t.equal(await metricValue(metrics.proxy.circuitBreakerState, { provider: 'fixture' }), 1)

  const fast = await p.ensureStarted().catch((e: unknown) => e)
  t.type(fast, ProviderUnavailableError)
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 3, 'refused without spawning')
  const f = fast as ProviderUnavailableError
  t.match(f.reason, /^circuit breaker open after 3 failures in a row \(last: exited with code 1: fixture: FIXTURE_EXIT_ON_START is set\)$/)
  t.ok(f.retryAfterMs! > 0 && f.retryAfterMs! <= 1500, `retryAfterMs ${f.retryAfterMs}`)
  await sleep(200)
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 3, 'no restart while open')

  p.updateLaunch({ env: {} }) // the next process starts normally
  await waitBreaker(p, 'half_open')
  t.equal(await metricValue(metrics.proxy.circuitBreakerState, { provider: 'fixture' }), 2)
  await Promise.all([p.ensureStarted(), p.ensureStarted()]) // one probe, shared
  t.equal(p.state, 'READY')
  t.equal(p.breakerState, 'closed')
  t.equal(await metricValue(metrics.proxy.circuitBreakerState, { provider: 'fixture' }), 0)
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 4)
  t.same(changes.filter((c) => c.kind === 'breaker').map((c) => `${c.from}→${c.to}`), ['closed→open', 'open→half_open', 'half_open→closed'])
  t.match(changes.find((c) => c.kind === 'breaker' && c.to === 'open')!.cause, /^3 failures in a row/)
})

t.test('a failed probe opens the breaker again', async (t) => {
  const p = testProvider({ env: { FIXTURE_EXIT_ON_START: '1' }, backoff: { initialMs: 20, maxMs: 20 }, breaker: { failureThreshold: 1, resetTimeoutMs: 300 } })
  t.teardown(() => p.stop())
  await p.ensureStarted().catch(() => {})
  t.equal(p.breakerState, 'open')
  await waitBreaker(p, 'half_open')
  const probe = await p.ensureStarted().catch((e: unknown) => e)
  t.match(probe, { reason: /^start failed: exited with code 1/ })
  t.equal(p.breakerState, 'open')
  const again = await p.ensureStarted().catch((e: unknown) => e)
  t.match(again, { reason: /^circuit breaker open/ })
  t.ok((again as ProviderUnavailableError).retryAfterMs! > 0)
})

t.test('stop() during a restart backoff cancels the restart', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const p = testProvider({ backoff: { initialMs: 300, maxMs: 300 }, metrics: metrics.proxy })
  await p.ensureStarted()
  process.kill(p.pid!, 'SIGKILL')
  await waitState(p, 'DEAD')
  const waiting = p.ensureStarted().catch((e: unknown) => e)
  await p.stop()
  t.match(await waiting, { reason: 'stopped' })
  await sleep(500)
  t.equal(p.state, 'COLD')
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 1)
})
