// The signal rate limit's state file (signals/rate-limit.ts): a sidecar SIGKILLed with folded
// signals pending emits their roll-up at its next start (cause recovered), and a roll-up emitted
// just before a crash and recovered after it carries the same id (one record after the
// aggregator's id dedup). A real child process is killed.
import t from 'tap'
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { silentLogger } from '../../core/log.js'
import { buildSignal } from '../../signals/build.js'
import { RateLimitedSink } from '../../signals/rate-limit.js'
import { MemorySink } from '../../signals/sink.js'
import type { SuppressedDetails } from '../../signals/suppressed.js'
import { validateSignal } from '../../signals/validate.js'
import { tempDir } from './helpers.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const child = fileURLToPath(new URL('../fixtures/signals/rollup-child.ts', import.meta.url))
const ORIGIN = { provider: 'fetch', sidecar_id: 'sc-1' }
const denied = () => buildSignal(ORIGIN, { kind: 'violation', type: 'dns_denied', action: 'blocked', enforcement_mode: 'block', destination: { host: 'evil.example', protocol: 'dns' }, rule: 'default-deny', reason: 'denied' })
const open = (inner: MemorySink, stateFile: string) =>
  new RateLimitedSink({ inner, origin: ORIGIN, mode: 'block', log: silentLogger(), limits: { perKey: 1, intervalMs: 3_600_000 }, stateFile, timer: false })

t.test('SIGKILL with folded signals pending: the next start emits their roll-up (cause recovered)', async (t) => {
  const dir = tempDir(t)
  const stateFile = join(dir, 'signal-rollup.json')
  const out = join(dir, 'emitted.jsonl')
  const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify({ stateFile, out, count: 5000 })], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  let stdout = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never saved its roll-up: ${stdout}`)), 60_000)
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (/saved \d+/.test(stdout)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  proc.kill('SIGKILL')
  await new Promise((r) => proc.on('exit', r))
  t.equal(readFileSync(out, 'utf8').trim().split('\n').length, 1, 'the child passed one signal and folded the rest')
  const inner = new MemorySink()
  const next = open(inner, stateFile)
  const [rec] = inner.signals
  t.equal(rec?.type, 'signals_suppressed')
  t.ok(validateSignal(rec).ok)
  t.equal((rec!.details as SuppressedDetails).total, 4999, 'every folded signal of the killed run accounted for')
  t.equal((rec!.details as SuppressedDetails).cause, 'recovered')
  t.equal(existsSync(stateFile), false, 'the state file is consumed')
  await next.close()
  const again = new MemorySink()
  await open(again, stateFile).close()
  t.equal(again.signals.length, 0, 'control: a clean start recovers nothing')
})

t.test('a roll-up emitted just before a crash and recovered after it has the same id', async (t) => {
  const dir = tempDir(t)
  const stateFile = join(dir, 'signal-rollup.json')
  const inner = new MemorySink()
  const a = open(inner, stateFile)
  for (let i = 0; i < 10; i++) a.emit(denied())
  a.saveState()
  copyFileSync(stateFile, stateFile + '.copy')
  a.rollUp('interval') // emitted, then the state file removed ...
  copyFileSync(stateFile + '.copy', stateFile) // ... but the crash came first
  const emitted = inner.signals.find((s) => s.type === 'signals_suppressed')!
  const inner2 = new MemorySink()
  open(inner2, stateFile)
  t.equal(inner2.signals[0]?.id, emitted.id, 'same id: the aggregator stores it once')
  t.equal((inner2.signals[0]!.details as SuppressedDetails).total, 9)
  a.emit(denied())
  a.saveState()
  const inner3 = new MemorySink()
  open(inner3, stateFile)
  t.not(inner3.signals[0]?.id, emitted.id, 'control: the next window has a new id')
})

t.test('an unreadable state file is discarded and logged, never emitted', async (t) => {
  const dir = tempDir(t)
  const stateFile = join(dir, 'signal-rollup.json')
  writeFileSync(stateFile, '{"schema":"hangar.signal/v1","type":"signals_suppressed"')
  const inner = new MemorySink()
  open(inner, stateFile)
  t.equal(inner.signals.length, 0)
  t.equal(existsSync(stateFile), false)
})
