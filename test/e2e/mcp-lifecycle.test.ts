/**
 * Provider lifecycle end to end (docs/mcp-ingress.md §Provider lifecycle): the
 * SDK client or a raw HTTP client → the real McpSidecar ingress → the fixture MCP server over
 * stdio. Lazy start, idle GC, restart with a growing backoff after SIGKILL, the circuit breaker
 * (open, fail fast, half-open probe, closed), ping health (DEGRADED and back), graceful shutdown.
 * States are observed the way an operator sees them: `sidecar.status()`, the `provider_state` /
 * `cold_starts_total` / `circuit_breaker_state` metrics and `provider_state_changed` signals.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { childPids, metricValue, RawMcpClient, waitUntil } from '../fixtures/mcp/harness.js'
import { connectClient, FIXTURE, pidAlive, startSidecar, textOf, type SidecarRig } from '../helpers/mcp.js'
import type { Signal } from '../../signals/types.js'

const node = process.execPath

/** The JSON-RPC error a call was refused with (fails the test on a result or another error). */
async function refused(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  if (!(e instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${String(e)}`)
  return e
}

interface StateSignal {
  at: number
  from: string
  to: string
  cause: string
  breaker: boolean
}

/** The `provider_state_changed` signals so far, oldest first. */
function lifecycle(rig: SidecarRig): StateSignal[] {
  return rig.sink.signals
    .filter((s) => s.type === 'provider_state_changed')
    .map((s) => {
      const d = s.details as { from: string; to: string; cause: string; breaker?: boolean }
      return { at: Date.parse(s.time), from: d.from, to: d.to, cause: d.cause, breaker: d.breaker === true }
    })
}

/** Waits for the `n`-th (1-based) provider_state_changed signal to `to` (a breaker change when `breaker`). */
function nthSignal(rig: SidecarRig, to: string, n: number, breaker = false, ms = 20_000): Promise<Signal> {
  let seen = 0
  const counted = new Set<string>()
  return rig.sink.waitFor((s) => {
    if (s.type !== 'provider_state_changed' || counted.has(s.id)) return false
    const d = s.details as { to: string; breaker?: boolean }
    if (d.to !== to || (d.breaker === true) !== breaker) return false
    counted.add(s.id)
    return ++seen >= n
  }, ms)
}

function processes(rig: SidecarRig): Array<{ pid: number | null; state: string; breaker: string }> {
  return rig.sidecar.status().processes as Array<{ pid: number | null; state: string; breaker: string }>
}

const coldStarts = (rig: SidecarRig) => metricValue(rig.metrics.proxy.coldStarts, { provider: 'fixture' })
const stateGauge = (rig: SidecarRig, state: string) => metricValue(rig.metrics.proxy.providerState, { provider: 'fixture', state })

t.test('lazy start: no process until the first client request, then READY', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE] })
  t.teardown(() => rig.stop())
  t.same(childPids(FIXTURE), [], 'the sidecar listens, but no provider process runs')
  t.same(processes(rig), [], 'status: no process')
  t.equal(await coldStarts(rig), 0, 'cold_starts_total 0')

  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const [p] = processes(rig)
  t.match(p, { pid: Number, state: 'READY', breaker: 'closed' }, 'initialize started it: READY')
  t.same(childPids(FIXTURE), [p!.pid], 'exactly one provider process, a child of the sidecar')
  t.equal(await coldStarts(rig), 1)
  t.equal(await stateGauge(rig, 'READY'), 1, 'provider_state{state="READY"} 1')
  t.equal(await stateGauge(rig, 'COLD'), 0)
  t.match(lifecycle(rig).map((s) => `${s.from}→${s.to}`), ['COLD→INITIALIZING', 'INITIALIZING→READY'])
  t.equal(textOf(await client.callTool({ name: 'whoami', arguments: {} })), String(p!.pid), 'the call ran on that process')
})

t.test('idle GC: an idle provider stops (COLD); the next call starts a new process', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], idle_ttl_s: 2 })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const sessionId = client.transport?.sessionId
  const first = Number(textOf(await client.callTool({ name: 'whoami', arguments: {} })))
  const idle = await nthSignal(rig, 'COLD', 1)
  t.match(idle.reason, /idle for \d+ ms/, 'provider_state_changed READY → COLD, cause idle')
  await waitUntil(() => !pidAlive(first), `pid ${first} to exit`)
  t.match(processes(rig), [{ pid: null, state: 'COLD' }], 'status: COLD, no pid')
  t.equal(await stateGauge(rig, 'COLD'), 1, 'provider_state{state="COLD"} 1')
  t.equal(await coldStarts(rig), 1)

  const second = Number(textOf(await client.callTool({ name: 'whoami', arguments: {} })))
  t.not(second, first, 'a new process …')
  t.equal(client.transport?.sessionId, sessionId, '… for the same client session')
  t.equal(rig.sidecar.status().sessions, 1)
  t.ok(pidAlive(second))
  t.equal(await coldStarts(rig), 2, 'cold_starts_total counts the second start')
  t.match(processes(rig), [{ pid: second, state: 'READY' }])
  t.notOk(lifecycle(rig).some((s) => s.to === 'DEAD'), 'an idle stop is not a failure')
})

t.test('SIGKILL: the in-flight call gets -32003 at once, restarts back off more after each crash', async (t) => {
  const initialMs = 300
  const rig = await startSidecar('fixture', {
    mode: 'subprocess',
    command: [node, FIXTURE],
    restart_backoff: { initial_ms: initialMs, max_ms: 10_000 },
    circuit_breaker: { failure_threshold: 10, reset_timeout_s: 60 },
  })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const pids: number[] = []
  for (let crash = 1; crash <= 3; crash++) {
    const pid = Number(textOf(await client.callTool({ name: 'whoami', arguments: {} })))
    pids.push(pid)
    // A call that would run for a minute; its first progress notification shows it is running
    // at the provider. The SDK's own timeout (20 s) would turn a hang into a failure.
    let running!: () => void
    const started = new Promise<void>((resolve) => (running = resolve))
    const inFlight = refused(client.callTool({ name: 'progress', arguments: { steps: 1000, ms: 60 } }, undefined, { timeout: 20_000, onprogress: () => running() }))
    await started
    process.kill(pid, 'SIGKILL')
    const e = await inFlight
    t.equal(e.code, -32003, `crash ${crash}: the in-flight call gets -32003 (provider unavailable)`)
    t.match(e.message, /exited \(SIGKILL\)/, 'and the reason')
    // A call during the backoff waits for the restart and is served by the new process.
    t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: `after crash ${crash}` } })), `after crash ${crash}`)
  }
  t.equal(new Set(pids).size, 3, 'three different processes')
  const sig = lifecycle(rig)
  const delays: number[] = []
  sig.forEach((s, i) => {
    if (s.to !== 'DEAD') return
    const restart = sig.slice(i + 1).find((r) => r.from === 'DEAD' && r.to === 'INITIALIZING')
    if (restart) delays.push(restart.at - s.at)
  })
  t.equal(delays.length, 3, 'three crashes, three restarts (DEAD → INITIALIZING)')
  t.match(sig.filter((s) => s.to === 'DEAD').map((s) => s.cause), [/SIGKILL/, /SIGKILL/, /SIGKILL/])
  // Backoff n is initial·2^(n-1) ± 20 % jitter. Timers never fire early (ms rounding aside);
  // a loaded machine may only make them later, so only lower bounds are asserted, and each
  // lower bound is above the highest possible delay of the step before.
  delays.forEach((d, i) => t.ok(d >= initialMs * 2 ** i * 0.8 - 5, `restart ${i + 1} waited ${d} ms ≥ ${initialMs * 2 ** i * 0.8} ms`))
  t.ok(delays[1]! > initialMs * 1.2 && delays[2]! > initialMs * 2 * 1.2, `the delay grows: ${delays.join(', ')} ms`)
  t.ok(delays[2]! > delays[0]!, 'the third wait is longer than the first')
  t.equal(await metricValue(rig.metrics.proxy.circuitBreakerState, { provider: 'fixture' }), 0, 'three crashes stay under the breaker threshold')
})

t.test('circuit breaker: failed starts open it, calls fail fast, a half-open probe closes it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-breaker-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const flag = join(dir, 'fail-starts')
  writeFileSync(flag, '')
  const resetS = 2.5
  const rig = await startSidecar('fixture', {
    mode: 'subprocess',
    command: [node, FIXTURE],
    env: { FIXTURE_EXIT_IF_FILE: flag },
    restart_backoff: { initial_ms: 50, max_ms: 100 },
    circuit_breaker: { failure_threshold: 3, reset_timeout_s: resetS },
  })
  t.teardown(() => rig.stop())
  const breakerGauge = () => metricValue(rig.metrics.proxy.circuitBreakerState, { provider: 'fixture' })

  await t.test('a failed start answers initialize with -32003 and the reason', async (t) => {
    const raw = new RawMcpClient(rig.url)
    const r = await raw.initialize()
    t.equal(r.status, 200, 'a JSON-RPC error, not an HTTP error')
    t.match(r.json, { id: 1, error: { code: -32003, message: /start failed: exited with code 1: fixture: FIXTURE_EXIT_IF_FILE .* exists/ } })
    t.match(r.headers.get('retry-after'), /^\d+$/, 'with Retry-After')
    t.equal(r.headers.get('mcp-session-id'), null, 'no session')
  })

  await t.test('the automatic restarts fail too; the breaker opens at the threshold', async (t) => {
    await nthSignal(rig, 'open', 1, true)
    t.equal(await breakerGauge(), 1, 'circuit_breaker_state 1 (open)')
    t.equal(await coldStarts(rig), 3, 'three starts: the first and two restarts')
    t.match(lifecycle(rig).filter((s) => s.breaker), [{ from: 'closed', to: 'open', cause: /3 failures in a row/ }])
  })

  await t.test('while open, requests are refused at once without a start', async (t) => {
    const raw = new RawMcpClient(rig.url)
    const started = Date.now()
    const r = await raw.initialize()
    t.match(r.json, { error: { code: -32003, message: /circuit breaker open after 3 failures/ } })
    const retryAfter = Number(r.headers.get('retry-after'))
    t.ok(retryAfter >= 1 && retryAfter <= Math.ceil(resetS), `Retry-After ${retryAfter} s: until the breaker half-opens`)
    t.ok(Date.now() - started < 2000, 'refused at once, not after a start or a backoff')
    t.equal(await coldStarts(rig), 3, 'no process was started')
  })

  await t.test('after reset_timeout_s it half-opens; a good probe closes it', async (t) => {
    rmSync(flag)
    await nthSignal(rig, 'half_open', 1, true, resetS * 1000 + 10_000)
    t.equal(await breakerGauge(), 2, 'circuit_breaker_state 2 (half-open)')
    const client = await connectClient(rig.url)
    t.teardown(() => client.close())
    t.match(processes(rig), [{ state: 'READY', breaker: 'closed' }], 'the probe start succeeded: READY, breaker closed')
    t.equal(await breakerGauge(), 0)
    t.match(lifecycle(rig).filter((s) => s.breaker).map((s) => `${s.from}→${s.to}`), ['closed→open', 'open→half_open', 'half_open→closed'])
    t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'closed again' } })), 'closed again')

    // The same cycle with a live session: a crash, then failing restarts open the breaker;
    // the session's calls fail fast; once the provider is fixed, the session works again.
    writeFileSync(flag, '')
    const crash = await refused(client.callTool({ name: 'crash', arguments: {} }))
    t.equal(crash.code, -32003, 'the crashing call gets -32003')
    t.match(crash.message, /exited \(code 1\)/)
    await nthSignal(rig, 'open', 2, true)
    const fast = await refused(client.callTool({ name: 'echo', arguments: { text: 'x' } }))
    t.equal(fast.code, -32003)
    t.match(fast.message, /circuit breaker open/, 'the session is refused with the breaker reason')
    rmSync(flag)
    await nthSignal(rig, 'half_open', 2, true, resetS * 1000 + 10_000)
    t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'same session' } })), 'same session', 'the probe serves the waiting session')
    t.equal(await breakerGauge(), 0)
  })
})

t.test('ping health: unanswered pings make it DEGRADED (still serving), answered pings READY', async (t) => {
  const rig = await startSidecar('fixture', {
    mode: 'subprocess',
    command: [node, FIXTURE],
    env: { FIXTURE_NO_PING: '1' },
    health_check_interval_s: 1,
    max_consecutive_failures: 2,
  })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const degraded = await nthSignal(rig, 'DEGRADED', 1)
  t.match(degraded.reason, /2 health checks in a row unanswered/)
  t.match(processes(rig), [{ state: 'DEGRADED', breaker: 'closed' }])
  t.ok((await metricValue(rig.metrics.proxy.healthChecks, { provider: 'fixture', outcome: 'failed' })) >= 2, 'health_checks_total{outcome="failed"} ≥ 2')
  t.equal(await stateGauge(rig, 'DEGRADED'), 1)
  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'degraded but serving' } })), 'degraded but serving')

  const pid = processes(rig)[0]!.pid!
  process.kill(pid, 'SIGUSR1') // the fixture answers pings again
  await nthSignal(rig, 'READY', 2)
  t.match(processes(rig), [{ pid, state: 'READY' }], 'the same process, READY again')
  t.ok((await metricValue(rig.metrics.proxy.healthChecks, { provider: 'fixture', outcome: 'ok' })) >= 1)
  t.notOk(lifecycle(rig).some((s) => s.breaker || s.to === 'DEAD'), 'failed pings are not failures for the breaker')
})

t.test('graceful shutdown stops the provider; one that ignores SIGTERM is SIGKILLed', async (t) => {
  await t.test('a well-behaved provider exits when the sidecar stops', async (t) => {
    const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE] })
    const client = await connectClient(rig.url)
    const pid = Number(textOf(await client.callTool({ name: 'whoami', arguments: {} })))
    await client.close()
    await rig.stop()
    t.notOk(pidAlive(pid), 'the process is gone when stop() resolves')
    t.match(lifecycle(rig).at(-1), { from: 'READY', to: 'COLD', cause: 'sidecar stopping' })
  })

  await t.test('FIXTURE_IGNORE_SIGTERM: stdin closed, SIGTERM, then SIGKILL, shutdown_timeout_ms apart', async (t) => {
    const shutdownMs = 300
    const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], env: { FIXTURE_IGNORE_SIGTERM: '1' }, shutdown_timeout_ms: shutdownMs })
    const client = await connectClient(rig.url)
    const pid = Number(textOf(await client.callTool({ name: 'whoami', arguments: {} })))
    await client.close()
    const started = Date.now()
    await rig.stop()
    const took = Date.now() - started
    t.notOk(pidAlive(pid), 'SIGKILL ended it')
    t.ok(took >= 2 * shutdownMs - 20, `stop waited for stdin and SIGTERM (${took} ms ≥ ${2 * shutdownMs} ms) before SIGKILL`)
  })
})
