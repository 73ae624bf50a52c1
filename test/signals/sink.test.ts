/**
 * The signal sinks (signals/sink.ts): JsonLinesSink appends one JSON line per signal to a real
 * file (directories created, earlier content kept, flush() resolves after the lines are on disk,
 * close() ends the file) or to stdout with `-` (in a child process); MemorySink is bounded and
 * waitFor() sees past and future signals or times out; TeeSink fans out to every sink.
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSignal } from '../../signals/build.js'
import { JsonLinesSink, MemorySink, TeeSink, type SignalSink } from '../../signals/sink.js'
import type { Signal } from '../../signals/types.js'
import { runModule } from '../helpers/child.js'

/** The repository root: children resolve tsx from its node_modules. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SINK = fileURLToPath(new URL('../../signals/sink.ts', import.meta.url))

/** Runs `body` (JS with `JsonLinesSink` in scope) in a child; resolves with its stdout, stderr and exit code. */
function child(body: string): Promise<{ out: string; err: string; code: number | null }> {
  return runModule(`const { JsonLinesSink } = await import(${JSON.stringify(SINK)})\n${body}`, ROOT)
}

const sig = (n: number, type = 'egress_denied'): Signal =>
  buildSignal({ provider: 'p1', sidecar_id: 'sc' }, { kind: 'violation', type, action: 'blocked', enforcement_mode: 'block', reason: `r${n}`, details: { n } })

t.test('JsonLinesSink: creates the directory, appends one line per signal after existing content; flush() means written', async (t) => {
  const dir = t.testdir({ old: { 'signals.jsonl': '{"earlier":true}\n' } })
  const fresh = join(dir, 'a', 'b', 'signals.jsonl')
  const sink = new JsonLinesSink(fresh)
  for (let i = 0; i < 500; i++) sink.emit(sig(i))
  await sink.flush()
  const lines = readFileSync(fresh, 'utf8').split('\n')
  t.equal(lines.pop(), '', 'ends with a newline')
  t.equal(lines.length, 500, 'every line written by the time flush() resolved')
  t.same(lines.map((l) => (JSON.parse(l) as Signal).details?.n), Array.from({ length: 500 }, (_, i) => i), 'in order')
  await sink.close()

  const existing = join(dir, 'old', 'signals.jsonl')
  const again = new JsonLinesSink(existing)
  again.emit(sig(1))
  await again.close()
  t.same(readFileSync(existing, 'utf8').trimEnd().split('\n').map((l) => Object.keys(JSON.parse(l) as object)[0]), ['earlier', 'schema'], 'appended, not truncated')
  writeFileSync(existing, '')
  t.equal(readFileSync(existing, 'utf8'), '', 'the file was closed and can be rewritten')
})

t.test('JsonLinesSink: a signal with a newline in a string stays one line', async (t) => {
  const file = join(t.testdir(), 's.jsonl')
  const sink = new JsonLinesSink(file)
  const s = sig(1)
  s.reason = 'line one\nline two\r\n{"forged":true}'
  sink.emit(s)
  await sink.close()
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
  t.equal(lines.length, 1)
  t.equal((JSON.parse(lines[0]!) as Signal).reason, s.reason)
})

t.test('JsonLinesSink("-") writes to stdout and close() leaves stdout open', async (t) => {
  const r = await child(`const s = new JsonLinesSink('-')
s.emit({ a: 1 }); s.emit({ b: 2 })
await s.close()
process.stdout.write('after-close\\n')`)
  t.equal(r.out, '{"a":1}\n{"b":2}\nafter-close\n')
  t.equal(r.code, 0)
})

// A signal_log path that cannot be opened fails at start with the path named; a write that fails
// later (disk full: /dev/full answers ENOSPC) never kills the process: the lines are counted.
t.test('JsonLinesSink on a path that cannot be opened (a directory) throws HANGAR_CONFIG_INVALID naming it', async (t) => {
  const dir = t.testdir()
  t.throws(() => new JsonLinesSink(dir), { code: 'HANGAR_CONFIG_INVALID', message: new RegExp(`signal log ${dir} cannot be opened.*EISDIR`) })
})

t.test('JsonLinesSink whose writes fail later (/dev/full): the process survives, later lines are dropped and counted', async (t) => {
  const r = await child(`const s = new JsonLinesSink('/dev/full')
s.emit({ a: 1 })
await s.flush()
await new Promise((r) => setTimeout(r, 100))
s.emit({ b: 2 }); s.emit({ c: 3 })
await s.flush()
await s.close()
process.stdout.write('alive ' + s.dropped + '\\n')`)
  t.equal(r.code, 0, r.err.split('\n').find((l) => l.includes('Error')) ?? '')
  t.equal(r.out, 'alive 2\n')
  t.match(r.err, /signal log \/dev\/full failed \(ENOSPC\)/)
})

t.test('control: the same child with a writable path survives and writes', async (t) => {
  const file = join(t.testdir(), 's.jsonl')
  const r = await child(`const s = new JsonLinesSink(${JSON.stringify(file)})
s.emit({ a: 1 })
await s.close()
process.stdout.write('alive\\n')`)
  t.equal(r.code, 0)
  t.equal(r.out, 'alive\n')
  t.equal(readFileSync(file, 'utf8'), '{"a":1}\n')
})

t.test('MemorySink: keeps at most max signals, the oldest dropped', async (t) => {
  const m = new MemorySink(3)
  for (let i = 0; i < 5; i++) m.emit(sig(i))
  t.same(m.signals.map((s) => s.details?.n), [2, 3, 4])
  await m.flush()
  await m.close()
  t.equal(m.signals.length, 3, 'flush and close keep the signals')
})

t.test('MemorySink.waitFor: an already emitted signal, a future one, and a timeout naming its wait', async (t) => {
  const m = new MemorySink()
  m.emit(sig(1, 'dns_denied'))
  t.equal((await m.waitFor((s) => s.type === 'dns_denied')).details?.n, 1, 'past signal')
  const later = m.waitFor((s) => s.details?.n === 7)
  const other = m.waitFor((s) => s.details?.n === 8, 2000)
  setTimeout(() => m.emit(sig(7)), 20)
  t.equal((await later).details?.n, 7, 'future signal')
  setTimeout(() => m.emit(sig(8)), 20)
  t.equal((await other).details?.n, 8, 'a second waiter is still served after the first one resolved')
  const started = Date.now()
  await t.rejects(m.waitFor(() => false, 100), { message: 'no matching signal within 100 ms' })
  t.ok(Date.now() - started >= 95)
})

t.test('TeeSink: every sink gets every signal; flush and close reach each sink', async (t) => {
  const a = new MemorySink()
  const b = new MemorySink()
  const file = join(t.testdir(), 'tee.jsonl')
  const f = new JsonLinesSink(file)
  const calls: string[] = []
  const spy: SignalSink = { emit: () => calls.push('emit'), flush: async () => void calls.push('flush'), close: async () => void calls.push('close') }
  const tee = new TeeSink([a, b, f, spy])
  tee.emit(sig(1))
  tee.emit(sig(2))
  await tee.flush()
  t.same(a.signals.map((s) => s.details?.n), [1, 2])
  t.same(b.signals.map((s) => s.details?.n), [1, 2])
  t.equal(readFileSync(file, 'utf8').trimEnd().split('\n').length, 2, 'the file sink flushed')
  await tee.close()
  t.same(calls, ['emit', 'emit', 'flush', 'close'])
})
