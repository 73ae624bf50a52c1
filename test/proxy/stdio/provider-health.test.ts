// StdioProvider health checks (proxy/stdio/provider-health.ts) with the real fixture server:
// unanswered pings → DEGRADED (still serving) and back to READY; passing checks change nothing.
import t from 'tap'
import { createMetrics } from '../../../core/metrics.js'
import { metricValue, sleep, testProvider, waitState } from '../../fixtures/mcp/harness.js'

t.test('ping health: unanswered pings degrade it, it still serves, answered pings restore READY', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const p = testProvider({ env: { FIXTURE_NO_PING: '1' }, healthCheckIntervalMs: 100, healthCheckTimeoutMs: 100, maxConsecutiveFailures: 2, metrics: metrics.proxy })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  await waitState(p, 'DEGRADED')
  t.ok(await metricValue(metrics.proxy.healthChecks, { provider: 'fixture', outcome: 'failed' }) >= 2, 'failed checks counted')
  t.equal(await metricValue(metrics.proxy.providerState, { provider: 'fixture', state: 'DEGRADED' }), 1)
  t.match(await p.request('tools/call', { name: 'echo', arguments: { text: 'degraded but serving' } }), { content: [{ text: 'degraded but serving' }] })
  await p.ensureStarted() // DEGRADED counts as started
  t.equal(p.state, 'DEGRADED')

  process.kill(p.pid!, 'SIGUSR1') // the fixture starts answering ping
  await waitState(p, 'READY')
  t.ok(await metricValue(metrics.proxy.healthChecks, { provider: 'fixture', outcome: 'ok' }) >= 1, 'an ok check counted')
  t.equal(await metricValue(metrics.proxy.providerState, { provider: 'fixture', state: 'DEGRADED' }), 0)
})

t.test('a healthy provider stays READY across health checks', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const p = testProvider({ healthCheckIntervalMs: 50, maxConsecutiveFailures: 1, metrics: metrics.proxy })
  t.teardown(() => p.stop())
  const states: string[] = []
  p.on('state', (c) => states.push(c.to))
  await p.ensureStarted()
  while ((await metricValue(metrics.proxy.healthChecks, { provider: 'fixture', outcome: 'ok' })) < 3) await sleep(25)
  t.equal(p.state, 'READY')
  t.same(states, ['INITIALIZING', 'READY'], 'no state change from passing checks')
  t.equal(await metricValue(metrics.proxy.healthChecks, { provider: 'fixture', outcome: 'failed' }), 0)
})
