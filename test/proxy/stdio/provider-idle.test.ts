// StdioProvider idle GC (proxy/stdio/provider-idle.ts) with the real fixture server: idle stop after
// idleTtlMs unless held or active, an expected exit, and a new process on the next use.
import t from 'tap'
import { createMetrics } from '../../../core/metrics.js'
import type { ProviderExit } from '../../../proxy/stdio/provider-types.js'
import { metricValue, pidAlive, sleep, testProvider, waitExit, waitState } from '../../fixtures/mcp/harness.js'

t.test('idle GC: held work blocks it; after release and idleTtlMs it stops → COLD; next use is a new pid', async (t) => {
  const metrics = createMetrics({ processMetrics: false })
  const p = testProvider({ idleTtlMs: 300, metrics: metrics.proxy })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  const pid1 = p.pid!
  const release = p.hold()
  await sleep(700)
  t.equal(p.state, 'READY', 'held: not stopped although idle for longer than the TTL')

  const exit = waitExit(p)
  const t0 = performance.now()
  release()
  release() // idempotent
  await waitState(p, 'COLD')
  t.ok(performance.now() - t0 >= 290, 'not before the TTL')
  const e: ProviderExit = await exit
  t.equal(e.pid, pid1)
  t.equal(e.expected, true, 'an idle stop is expected')
  t.equal(e.code, 0, 'closing stdin was enough for a well-behaved server')
  t.notOk(pidAlive(pid1))
  t.equal(p.pid, undefined)
  t.equal(p.breakerState, 'closed')

  await sleep(300)
  t.equal(p.state, 'COLD', 'no restart after an idle stop')
  await p.ensureStarted()
  t.not(p.pid, pid1, 'a new process')
  t.equal(await metricValue(metrics.proxy.coldStarts, { provider: 'fixture' }), 2)
})

t.test('idle GC: activity (messages, touch) keeps it alive', async (t) => {
  const p = testProvider({ idleTtlMs: 300 })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  for (let i = 0; i < 6; i++) {
    await sleep(100)
    if (i % 2) p.touch()
    else await p.request('tools/call', { name: 'echo', arguments: { text: 'x' } })
  }
  t.equal(p.state, 'READY', 'active for 600 ms with a 300 ms TTL')
  await waitState(p, 'COLD')
})

t.test('idleTtlMs 0 never stops it', async (t) => {
  const p = testProvider({ idleTtlMs: 0 })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  await sleep(400)
  t.equal(p.state, 'READY')
})
