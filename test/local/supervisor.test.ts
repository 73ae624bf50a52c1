// local/supervisor.ts with real child processes: output passed on line by line with a [name]
// prefix, readiness over HTTP (ready, exited first, timed out), a restart after an unexpected
// exit (and none after stop or killNow), SIGTERM then SIGKILL after stopTimeoutMs, and the
// pdeath-signal wrapper.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { ManagedProcess, type ManagedProcessOptions } from '../../local/supervisor.js'
import { captureLog } from '../fixtures/aggregator/signals.js'
import { freePort } from '../helpers/mcp.js'

/** A node child running `script`; output collected; stopped in teardown. */
function managed(t: { teardown(fn: () => Promise<void>): void }, script: string, o: Partial<ManagedProcessOptions> = {}) {
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += String(d)))
  const pids: number[] = []
  const gaveUp: string[] = []
  const log = captureLog()
  const p = new ManagedProcess({
    name: 'kid', command: process.execPath, args: ['-e', script], env: { PATH: process.env.PATH }, readyUrl: 'http://127.0.0.1:9/ready',
    log: log.log, out, onGiveUp: (why) => gaveUp.push(why), onSpawn: (pid) => pids.push(pid), ...o,
  })
  t.teardown(() => p.stop())
  return { p, output: () => text, pids, gaveUp, log }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const until = async (fn: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!fn() && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  return fn()
}

t.test('output lines of stdout and stderr are prefixed with the name', async (t) => {
  const m = managed(t, 'console.log("one\\ntwo"); console.error("err"); setTimeout(() => {}, 30000)')
  m.p.start()
  t.ok(await until(() => m.output().split('\n').length >= 4), 'three lines arrived')
  t.strictSame(m.output().trim().split('\n').sort(), ['[kid] err', '[kid] one', '[kid] two'])
  t.equal(m.pids.length, 1)
  t.equal(m.p.pid, m.pids[0])
})

t.test('ready() resolves when readyUrl answers 200', async (t) => {
  const port = await freePort()
  const m = managed(t, `setTimeout(() => require('http').createServer((q, s) => { s.statusCode = q.url === '/ready' ? 200 : 404; s.end() }).listen(${port}, '127.0.0.1'), 300)`, { readyUrl: `http://127.0.0.1:${port}/ready` })
  m.p.start()
  await t.resolves(m.p.ready(10_000))
})

t.test('ready() rejects when a non-200 answer lasts past the timeout, naming the URL', async (t) => {
  const port = await freePort()
  const m = managed(t, `require('http').createServer((q, s) => { s.statusCode = 503; s.end() }).listen(${port}, '127.0.0.1')`, { readyUrl: `http://127.0.0.1:${port}/ready` })
  m.p.start()
  await t.rejects(m.p.ready(700), new RegExp(`kid was not ready within 700 ms \\(http://127\\.0\\.0\\.1:${port}/ready\\)`))
})

t.test('ready() rejects when the process exits first', async (t) => {
  const m = managed(t, 'process.exit(3)')
  m.p.markStopping() // no restart in this test
  m.p.start()
  await t.rejects(m.p.ready(10_000), /kid exited before it was ready/)
})

t.test('an unexpected exit is restarted after a backoff, with a new pid', async (t) => {
  const m = managed(t, 'setTimeout(() => process.exit(1), 100)')
  m.p.start()
  t.ok(await until(() => m.pids.length >= 2, 5000), 'started again')
  t.not(m.pids[0], m.pids[1])
  const warn = m.log.lines.find((l) => /kid exited \(code 1\); restarting/.test(String(l.msg)))
  t.equal(warn?.restart_in_ms, 1000, 'the first restart waits 1 s')
  t.strictSame(m.gaveUp, [])
})

t.test('stop(): SIGTERM, no restart', async (t) => {
  const m = managed(t, 'process.on("SIGTERM", () => { console.log("term"); process.exit(0) }); setTimeout(() => {}, 30000)')
  m.p.start()
  await until(() => alive(m.pids[0]!))
  await new Promise((r) => setTimeout(r, 300))
  await m.p.stop()
  t.notOk(alive(m.pids[0]!))
  t.ok(await until(() => m.output().includes('[kid] term')), 'the child got SIGTERM and said so')
  await new Promise((r) => setTimeout(r, 1300))
  t.equal(m.pids.length, 1, 'not restarted')
  await t.resolves(m.p.stop(), 'stop again: nothing to do')
})

t.test('stop(): a child that ignores SIGTERM is SIGKILLed after stopTimeoutMs', async (t) => {
  const m = managed(t, 'process.on("SIGTERM", () => console.log("ignored")); setInterval(() => {}, 1000)', { stopTimeoutMs: 500 })
  m.p.start()
  await new Promise((r) => setTimeout(r, 400))
  const t0 = Date.now()
  await m.p.stop()
  const took = Date.now() - t0
  t.notOk(alive(m.pids[0]!))
  t.ok(took >= 450 && took < 5000, `killed after the timeout (${took} ms)`)
  t.match(m.output(), /\[kid\] ignored/, 'it did get SIGTERM first')
})

t.test('killNow(): SIGKILL at once, no restart', async (t) => {
  const m = managed(t, 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)')
  m.p.start()
  await until(() => alive(m.pids[0]!))
  m.p.killNow()
  t.ok(await until(() => !alive(m.pids[0]!)), 'gone')
  await new Promise((r) => setTimeout(r, 1300))
  t.equal(m.pids.length, 1)
})

/**
 * Runs a parent process that starts a ManagedProcess (`sleep 60`) with or without dieWithParent
 * and prints its pid; the parent is then SIGKILLed. @returns the orphan's pid.
 */
async function orphanOf(t: { teardown(fn: () => void): void }, dieWithParent: boolean): Promise<number> {
  const root = new URL('../../', import.meta.url).pathname
  const code = `import { ManagedProcess } from ${JSON.stringify(join(root, 'local/supervisor.ts'))}
    const p = new ManagedProcess({ name: 'k', command: 'sleep', args: ['60'], env: { PATH: process.env.PATH }, readyUrl: 'http://127.0.0.1:9/', log: { error() {}, warn() {} }, onGiveUp() {}, dieWithParent: ${dieWithParent}, onSpawn: (pid) => console.log(pid) })
    p.start(); setInterval(() => {}, 1000)`
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())))
    parent.once('exit', () => reject(new Error('parent exited early')))
  })
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  })
  await until(() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep')
    } catch {
      return false
    }
  })
  parent.kill('SIGKILL')
  await new Promise((r) => parent.once('exit', r))
  return pid
}

t.test('dieWithParent: the kernel kills the process when up dies, even by SIGKILL', async (t) => {
  const pid = await orphanOf(t, true)
  t.ok(await until(() => !alive(pid) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))), 'gone with its parent')
})

t.test('control: without dieWithParent the process outlives its SIGKILLed parent', async (t) => {
  const pid = await orphanOf(t, false)
  await new Promise((r) => setTimeout(r, 500))
  t.ok(alive(pid), 'still running (killed by this test)')
})

t.test('a command that cannot start is logged', async (t) => {
  const m = managed(t, '', { command: '/nonexistent/hangar-binary', args: [] })
  m.p.markStopping()
  m.p.start()
  t.ok(await until(() => m.log.lines.some((l) => l.msg === 'cannot start process')), 'logged')
})
