// cli/run.ts: loading one provider's run (warnings logged, unknown provider named with the known
// ones) and waiting for SIGINT/SIGTERM in a real child process: stop runs once, a failing stop is
// logged and still ends the wait.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfigFromEnv, loadProviderRun } from '../../cli/run.js'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { captureLog } from '../fixtures/aggregator/signals.js'

const root = new URL('../../', import.meta.url).pathname

t.test('loadProviderRun: the config, the provider and the file read', async (t) => {
  const dir = t.testdir({})
  const f = join(dir, 'hangar.yaml')
  writeFileSync(f, 'providers:\n  fetch:\n    command: [node, s.js]\n  other:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\n')
  const { log } = captureLog()
  const r = loadProviderRun(f, 'fetch', log)
  t.equal(r.source, f)
  t.strictSame(r.provider.command, ['node', 's.js'])
  t.strictSame(Object.keys(r.config.providers).sort(), ['fetch', 'other'])
  const e = t.throws(() => loadProviderRun(f, 'ghost', log)) as unknown
  t.ok(e instanceof HangarError)
  t.equal((e as HangarError).code, ERROR_CODES.PROVIDER_UNKNOWN)
  t.match((e as Error).message, /no provider "ghost" in the config \(known: fetch, other\)/)
  t.throws(() => loadProviderRun(join(dir, 'nope.yaml'), 'fetch', log), { code: ERROR_CODES.CONFIG_NOT_FOUND })
})

/** A child that waits with untilSignal; `stop` prints and resolves or rejects. */
function waiter(stopFails: boolean) {
  const code = `import { untilSignal } from ${JSON.stringify(join(root, 'cli/run.ts'))}
    let stops = 0
    const log = { info: (o, m) => console.log(JSON.stringify({ ...o, msg: m })), error: (o, m) => console.log(JSON.stringify({ ...o, msg: m })) }
    const keep = setInterval(() => {}, 1000)
    untilSignal(log, async () => { stops++; console.log(JSON.stringify({ msg: 'stop', stops })); if (${stopFails}) throw new Error('boom') })
      .then(() => { console.log(JSON.stringify({ msg: 'done', stops })); clearInterval(keep) })
    console.log(JSON.stringify({ msg: 'waiting' }))`
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
  const lines: Array<Record<string, unknown>> = []
  let buf = ''
  c.stdout!.on('data', (d: Buffer) => {
    buf += String(d)
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>)
      buf = buf.slice(i + 1)
    }
  })
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)))
  const until = async (msg: string) => {
    for (let i = 0; i < 600 && !lines.some((l) => l.msg === msg); i++) await new Promise((r) => setTimeout(r, 50))
  }
  return { c, lines, exited, until }
}

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`untilSignal: ${sig} runs stop once, then resolves`, async (t) => {
    const w = waiter(false)
    t.teardown(() => {
      w.c.kill('SIGKILL')
    })
    await w.until('waiting')
    w.c.kill(sig)
    t.equal(await w.exited, 0, 'the process ends on its own once the wait is over')
    t.strictSame(w.lines.filter((l) => l.msg !== 'waiting'), [{ signal: sig, msg: 'stopping' }, { msg: 'stop', stops: 1 }, { msg: 'done', stops: 1 }])
  })
}

t.test('untilSignal: a failing stop is logged and the wait still ends', async (t) => {
  const w = waiter(true)
  t.teardown(() => {
    w.c.kill('SIGKILL')
  })
  await w.until('waiting')
  w.c.kill('SIGTERM')
  t.equal(await w.exited, 0)
  t.ok(w.lines.some((l) => l.msg === 'stop failed' && l.err === 'boom'))
  t.ok(w.lines.some((l) => l.msg === 'done'))
})

t.test('loadConfigFromEnv / loadProviderRun({ env }): the config text of a variable, named "env NAME"; unset, empty and bad names refused', async (t) => {
  const { log } = captureLog()
  const text = 'providers:\n  fetch:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\naggregator:\n  url: http://127.0.0.1:9\n  signal_tokens: ["${TOKEN}"]\n'
  const r = loadConfigFromEnv('HANGAR_SIDECAR_CONFIG', { HANGAR_SIDECAR_CONFIG: text, TOKEN: 'x'.repeat(32) })
  t.equal(r.source, 'env HANGAR_SIDECAR_CONFIG')
  t.strictSame(r.config.aggregator?.signal_tokens, ['x'.repeat(32)], '${VAR} substituted from the same environment')
  t.throws(() => loadConfigFromEnv('HANGAR_SIDECAR_CONFIG', {}), { code: ERROR_CODES.CONFIG_NOT_FOUND, message: /environment variable HANGAR_SIDECAR_CONFIG is not set/ })
  t.throws(() => loadConfigFromEnv('HANGAR_SIDECAR_CONFIG', { HANGAR_SIDECAR_CONFIG: '  \n' }), { code: ERROR_CODES.CONFIG_NOT_FOUND, message: /is empty/ })
  t.throws(() => loadConfigFromEnv('A=B', { 'A=B': text }), { code: ERROR_CODES.USAGE, message: /not an environment variable name/ })
  t.throws(() => loadConfigFromEnv('HANGAR_SIDECAR_CONFIG', { HANGAR_SIDECAR_CONFIG: text.replace('mode: remote', 'mode: remote\n    moed: x'), TOKEN: 'x'.repeat(32) }), { code: ERROR_CODES.CONFIG_INVALID, message: /env HANGAR_SIDECAR_CONFIG[\s\S]*providers\.fetch\.moed/ })
  process.env.HANGAR_TEST_CONFIG_ENV = text.replace(/aggregator:[\s\S]*/, '')
  t.teardown(() => { delete process.env.HANGAR_TEST_CONFIG_ENV })
  const run = loadProviderRun({ env: 'HANGAR_TEST_CONFIG_ENV' }, 'fetch', log)
  t.equal(run.source, 'env HANGAR_TEST_CONFIG_ENV')
  t.equal(run.provider.endpoint, 'http://127.0.0.1:9/mcp')
})
