// Crash tests of the shipper with real processes (nothing lost across a SIGKILL of the sidecar):
// a child sidecar stand-in (test/fixtures/signals/shipper-child.ts) emits through the shipper and
// is SIGKILLed; a second child opens the same spool dir and replays it. Every emitted id must
// reach the (stub) aggregator, in order, none lost; duplicates are counted, not failed.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { indexOf, range, tempDir } from './helpers.js'
import { StubAggregator, until } from './stub-aggregator.js'

// Property runs and restarts take tens of seconds on a loaded 2-core machine; the suite default (120 s) is too close.
t.setTimeout(300_000)

const root = fileURLToPath(new URL('../../', import.meta.url))
const child = fileURLToPath(new URL('../fixtures/signals/shipper-child.ts', import.meta.url))

interface Child {
  proc: ChildProcess
  /** Highest "emitted <n>" printed so far. */
  emitted: () => number
  lines: string[]
  exited: Promise<number | null>
}

function run(t: { teardown(fn: () => unknown): void }, cfg: Record<string, unknown>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(cfg)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let buf = ''
  let emitted = 0
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString()
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      lines.push(line)
      const m = /^emitted (\d+)$/.exec(line)
      if (m) emitted = Math.max(emitted, Number(m[1]))
    }
  })
  let stderr = ''
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    if (stderr.trim()) console.error(`child stderr:\n${stderr.slice(-2000)}`)
  })
  return { proc, emitted: () => emitted, lines, exited }
}

async function kill(c: Child): Promise<void> {
  c.proc.kill('SIGKILL')
  await c.exited
}

t.test('aggregator down while a sidecar emits 10,000 signals; the sidecar is SIGKILLed; a restart replays all, in order', async (t) => {
  const agg = new StubAggregator()
  const port = await agg.start(0)
  await agg.stop()
  t.teardown(() => agg.stop())
  const dir = tempDir(t)
  const a = run(t, { dir, url: agg.url, mode: 'emit', count: 10_000 })
  await until(() => a.emitted() === 10_000, 60_000, 'child emitted 10,000')
  await kill(a)
  await agg.start(port)
  const b = run(t, { dir, url: agg.url, mode: 'flush' })
  t.equal(await b.exited, 0)
  t.ok(b.lines.includes('flushed true'), 'the restarted shipper flushed everything')
  t.same(agg.stored, range(0, 10_000), 'all 10,000 ids stored once, in emit order')
  t.equal(agg.duplicates, 0, 'nothing was acknowledged before the kill, so nothing repeats')
})

t.test('a sidecar SIGKILLed mid-stream with the aggregator up: the restart replays the spool; no loss, order kept', async (t) => {
  const agg = new StubAggregator()
  await agg.start(0)
  t.teardown(() => agg.stop())
  const dir = tempDir(t)
  const a = run(t, { dir, url: agg.url, mode: 'stream' })
  await until(() => a.emitted() >= 3000 && agg.stored.length >= 500, 60_000, 'child streaming and shipping')
  await kill(a)
  const emitted = a.emitted()
  const before = agg.stored.length
  const b = run(t, { dir, url: agg.url, mode: 'flush' })
  t.equal(await b.exited, 0)
  t.ok(b.lines.includes('flushed true'))
  const got = agg.stored.map(indexOf)
  t.ok(got.length >= emitted, `every reported emit delivered (${got.length} ≥ ${emitted}; ${before} before the kill)`)
  t.same(agg.stored, range(0, got.length), 'a gapless prefix, in emit order (no loss)')
  t.comment(`duplicates received after the restart (dedup absorbs them): ${agg.duplicates}`)
  t.ok(agg.duplicates <= 1000, 'at most one batch repeated')
})
