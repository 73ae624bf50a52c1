/**
 * The baseline on disk (profiles/baseline/store.ts), in temp dirs: loadBaselineFile returns a
 * valid file of the same provider, moves an invalid one aside (never throws) and leaves another
 * provider's in place; BaselineKeeper writes only when the recorder's revision changed, atomically
 * (no temp file left, mode 0600), serialises concurrent flushes, logs a failing streak once and
 * its recovery, writes on its interval and once more on close.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { BaselineRecorder } from '../../../profiles/baseline/recorder.js'
import { BaselineKeeper, baselinePath, loadBaselineFile } from '../../../profiles/baseline/store.js'
import { makeBaseline } from '../../helpers/baseline.js'

/** A pino logger whose records land in `lines`. */
function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) })
  return { log, lines }
}

const recorder = (provider = 'p') => new BaselineRecorder({ provider, mode: 'alert' })
const event = (r: BaselineRecorder, host: string) => r.egress({ host, port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })

t.test('baselinePath is <data_dir>/baseline.json', async (t) => {
  t.equal(baselinePath('/var/lib/hangar'), '/var/lib/hangar/baseline.json')
})

t.test('loadBaselineFile: none → undefined; a valid file of this provider → the baseline', async (t) => {
  const dir = t.testdir()
  const { log, lines } = capture()
  t.equal(loadBaselineFile(dir, 'p', log), undefined)
  const b = makeBaseline()
  writeFileSync(baselinePath(dir), JSON.stringify(b))
  t.same(loadBaselineFile(dir, 'p', log), b)
  t.same(lines, [], 'nothing logged')
})

t.test('loadBaselineFile: unreadable JSON or a non-baseline document is moved aside, logged, and recording starts fresh', async (t) => {
  for (const [label, text] of [['not JSON', '{"schema":'], ['wrong schema', JSON.stringify({ ...makeBaseline(), schema: 'hangar.baseline/v0' })], ['unknown key', JSON.stringify({ ...makeBaseline(), injected: 1 })]] as const) {
    const dir = t.testdir()
    const { log, lines } = capture()
    writeFileSync(baselinePath(dir), text)
    const before = Date.now()
    t.equal(loadBaselineFile(dir, 'p', log), undefined, `${label}: undefined, no throw`)
    t.notOk(existsSync(baselinePath(dir)), `${label}: the file is gone from its place`)
    const aside = readdirSync(dir).filter((f) => f.startsWith('baseline.json.invalid-'))
    t.equal(aside.length, 1, `${label}: moved aside`)
    const ms = Number(aside[0]!.slice('baseline.json.invalid-'.length))
    t.ok(ms >= before && ms <= Date.now(), `${label}: suffixed with the time in ms`)
    t.equal(readFileSync(join(dir, aside[0]!), 'utf8'), text, `${label}: content kept for inspection`)
    t.match(lines, [{ level: 40, msg: 'the baseline file is unreadable; recording starts fresh', moved_to: join(dir, aside[0]!) }])
  }
})

t.test('loadBaselineFile: another provider\'s file is not used and is left in place', async (t) => {
  const dir = t.testdir()
  const { log, lines } = capture()
  writeFileSync(baselinePath(dir), JSON.stringify(makeBaseline({ provider: 'other' })))
  t.equal(loadBaselineFile(dir, 'p', log), undefined)
  t.ok(existsSync(baselinePath(dir)))
  t.match(lines, [{ level: 40, file_provider: 'other', provider: 'p' }])
})

t.test('BaselineKeeper.flush: writes when the revision changed, skips when not; atomic, 0600, round-trips', async (t) => {
  const dir = join(t.testdir(), 'nested', 'data')
  const r = recorder()
  const { log, lines } = capture()
  const k = new BaselineKeeper({ recorder: r, dataDir: dir, log })
  event(r, 'api.example.com')
  await k.flush()
  const path = baselinePath(dir)
  t.ok(existsSync(path), 'the data dir is created')
  t.equal(statSync(path).mode & 0o777, 0o600, 'readable by the sidecar only')
  t.same(readdirSync(dir), ['baseline.json'], 'no temp file left')
  const back = loadBaselineFile(dir, 'p', log)!
  t.same(back.egress.map((e) => e.host), ['api.example.com'], 'the written document loads back')
  rmSync(path)
  await k.flush()
  t.notOk(existsSync(path), 'unchanged revision: no write')
  event(r, 'two.example.com')
  await k.flush()
  t.same(loadBaselineFile(dir, 'p', log)!.egress.map((e) => e.host).sort(), ['api.example.com', 'two.example.com'], 'a new revision is written')
  t.same(lines, [])
})

t.test('BaselineKeeper: concurrent flushes are serialised and the last revision wins', async (t) => {
  const dir = t.testdir()
  const r = recorder()
  const k = new BaselineKeeper({ recorder: r, dataDir: dir, log: capture().log })
  const flushes: Array<Promise<void>> = []
  for (let i = 0; i < 20; i++) {
    event(r, `h${i}.example.com`)
    flushes.push(k.flush())
  }
  await Promise.all(flushes)
  t.equal(loadBaselineFile(dir, 'p', capture().log)!.egress.length, 20, 'every event is in the file')
  t.same(readdirSync(dir), ['baseline.json'])
})

t.test('BaselineKeeper: a failing streak is logged once, the recovery once; nothing thrown', async (t) => {
  // The data dir path is a file (root ignores directory permissions, so a read-only dir would not fail).
  const root = t.testdir({ blocker: 'a file where the data dir should be' })
  const dir = join(root, 'blocker')
  const r = recorder()
  const { log, lines } = capture()
  const k = new BaselineKeeper({ recorder: r, dataDir: dir, log })
  event(r, 'a.example.com')
  await k.flush()
  event(r, 'b.example.com')
  await k.flush()
  t.equal(lines.length, 1, 'two failed writes, one warning')
  t.match(lines[0], { level: 40, msg: 'cannot write the baseline; retrying every interval', path: baselinePath(dir) })
  rmSync(dir)
  await k.flush()
  t.match(lines[1], { level: 30, msg: 'baseline written again' })
  t.equal(loadBaselineFile(dir, 'p', log)!.egress.length, 2, 'the retry wrote everything')
  await k.flush()
  t.equal(lines.length, 2, 'no more messages once healthy')
})

t.test('BaselineKeeper.start writes on its interval; close() writes the last changes', async (t) => {
  const dir = t.testdir()
  const r = recorder()
  const k = new BaselineKeeper({ recorder: r, dataDir: dir, log: capture().log, flushIntervalMs: 50 })
  k.start()
  event(r, 'tick.example.com')
  await new Promise((res) => setTimeout(res, 200))
  t.ok(existsSync(baselinePath(dir)), 'written by the timer')
  event(r, 'last.example.com')
  await k.close()
  t.same(loadBaselineFile(dir, 'p', capture().log)!.egress.map((e) => e.host).sort(), ['last.example.com', 'tick.example.com'])
  rmSync(baselinePath(dir))
  event(r, 'after-close.example.com')
  await new Promise((res) => setTimeout(res, 150))
  t.notOk(existsSync(baselinePath(dir)), 'the timer stopped at close')
})
