// Stopping a provider process (proxy/stdio/provider-launch.ts shutdownChild, through StdioProvider.stop)
// with the real fixture server: stdin close → SIGTERM → SIGKILL after the timeouts, idempotent and
// final; in-flight requests fail and nothing restarts.
import t from 'tap'
import { createMetrics } from '../../../core/metrics.js'
import { metricValue, pidAlive, sleep, testProvider, waitExit } from '../../fixtures/mcp/harness.js'

t.test('stop(): a child that ignores SIGTERM is SIGKILLed after the timeouts; idempotent; final', async (t) => {
  const p = testProvider({ env: { FIXTURE_IGNORE_SIGTERM: '1' }, shutdownTimeoutMs: 300 })
  await p.ensureStarted()
  const pid = p.pid!
  const exit = waitExit(p)
  const t0 = performance.now()
  const s1 = p.stop('test')
  t.equal(p.stop('again'), s1, 'the same promise')
  t.equal(p.state, 'COLD', 'COLD at once')
  await s1
  const elapsed = performance.now() - t0
  const e = await exit
  t.match(e, { pid, signal: 'SIGKILL', expected: true })
  t.ok(elapsed >= 580, `stdin close and SIGTERM were each given 300 ms (${Math.round(elapsed)} ms)`)
  t.notOk(pidAlive(pid))
  t.ok(e.stderrTail.includes('fixture: SIGTERM ignored'), 'SIGTERM was sent first')
  t.match(await p.ensureStarted().catch((e: unknown) => e), { reason: 'stopped' }, 'final: no start after stop')
})

t.test('stop(): in-flight requests fail; a server still busy after stdin closes gets SIGTERM; no restart', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const p = testProvider({ metrics: metrics.proxy, backoff: { initialMs: 20, maxMs: 20 }, shutdownTimeoutMs: 300 })
  await p.ensureStarted()
  const exit = waitExit(p)
  const pending = p.request('tools/call', { name: 'slow', arguments: { ms: 5000 } }).catch((e: unknown) => e)
  await p.stop('sidecar stopping')
  t.match(await pending, { reason: 'stopped: sidecar stopping' }, 'in-flight requests fail')
  t.match(await exit, { signal: 'SIGTERM', expected: true }, 'its pending 5 s timer kept it alive past stdin close')
  await sleep(200)
  t.equal(p.state, 'COLD')
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 1)
})
