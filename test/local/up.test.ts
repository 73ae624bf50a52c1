// local/up.ts: the LocalStack on this machine in cooperative mode (real aggregator and sidecar
// processes from source): the summary, the run dir (0700) with state.json and the effective
// config (0600), stop() removing it all; an earlier crashed run's processes killed and reported
// at start, another live run refused with its run dir untouched, an unreadable state removed; and
// tightenTree. (Netns mode is exercised end to end by test/e2e/up-*.test.ts from the bundle.)
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { hangarConfigSchema } from '../../config/schema.js'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { procStartTime, readRunState, writeRunState } from '../../local/run-state.js'
import { LocalStack, tightenTree } from '../../local/up.js'
import { captureLog } from '../fixtures/aggregator/signals.js'
import { FIXTURE, freePort } from '../helpers/mcp.js'

t.setTimeout(240_000)
const root = new URL('../../', import.meta.url).pathname

t.test('tightenTree: directories 0700, files 0600, to a depth; a missing dir is fine', async (t) => {
  const dir = t.testdir({ a: { f: 'x', b: { c: { d: { e: { deep: 'y' } } } } }, top: 'z' })
  const { chmodSync } = await import('node:fs')
  chmodSync(join(dir, 'a'), 0o755)
  chmodSync(join(dir, 'a', 'f'), 0o644)
  chmodSync(join(dir, 'top'), 0o644)
  chmodSync(join(dir, 'a/b/c'), 0o755)
  chmodSync(join(dir, 'a/b/c/d'), 0o755)
  chmodSync(join(dir, 'a/b/c/d/e/deep'), 0o644)
  tightenTree(dir, 3)
  const mode = (p: string) => statSync(join(dir, p)).mode & 0o777
  t.equal(mode('.'), 0o700)
  t.equal(mode('a'), 0o700)
  t.equal(mode('a/f'), 0o600)
  t.equal(mode('top'), 0o600)
  t.equal(mode('a/b/c'), 0o700, 'depth 3 reaches a/b/c')
  t.equal(mode('a/b/c/d'), 0o755, 'beyond the depth: unchanged')
  t.equal(mode('a/b/c/d/e/deep'), 0o644)
  t.doesNotThrow(() => tightenTree(join(dir, 'missing')))
})

/** A stack over a fresh temp dir; teardown stops it, then removes the dir (in that order). */
async function stackFor(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-up-'))
  const [aggPort, mcpPort] = [await freePort(), await freePort()]
  const config = hangarConfigSchema.parse({
    aggregator: { listen: `127.0.0.1:${aggPort}`, data_dir: join(dir, 'data', 'aggregator') },
    providers: { tool: { command: [process.execPath, FIXTURE], listen: `127.0.0.1:${mcpPort}`, sidecar: { data_dir: join(dir, 'data', 'tool') } } },
  })
  const log = captureLog()
  const fatal: string[] = []
  const stack = new LocalStack({
    config, configPath: join(dir, 'hangar.yaml'), isolation: { mode: 'cooperative', why: 'test' }, log: log.log, cwd: dir,
    self: [process.execPath, '--import', 'tsx', join(root, 'cli/main.ts')], env: { PATH: process.env.PATH ?? '', MCP_LOG_LEVEL: 'warn' },
    onFatal: (why) => fatal.push(why), seccompPath: join(root, 'security/seccomp/mcp-provider.json'), readyTimeoutMs: 90_000,
  })
  // as cli/up.ts does: if this test process ends without its teardown (a tap timeout), the
  // children (detached, not tied to us in cooperative mode) are killed at exit
  const killAtExit = () => stack.killNow()
  process.once('exit', killAtExit)
  t.teardown(async () => {
    await stack.stop()
    process.off('exit', killAtExit)
    rmSync(dir, { recursive: true, force: true })
  })
  return { dir, stack, log, fatal, mcpPort, runDir: join(dir, 'data', 'aggregator', 'run') }
}

const portOpen = (hostPort: string) => new Promise<boolean>((resolve) => {
  const [host, port] = hostPort.split(':')
  const s = connect({ host: host!, port: Number(port) })
  s.once('connect', () => {
    s.destroy()
    resolve(true)
  })
  s.once('error', () => resolve(false))
})

t.test('cooperative stack: ready, recorded, answered; stop removes the run dir and the processes', async (t) => {
  const { dir, stack, runDir, fatal, mcpPort } = await stackFor(t)
  const summary = await stack.start()
  t.strictSame(summary.isolation, { mode: 'cooperative', why: 'test' })
  t.equal(summary.auditLog, join(dir, 'data', 'aggregator', 'audit', 'audit.jsonl'))
  t.strictSame(summary.providers.map((p) => [p.name, p.mode, p.mcpUrl]), [['tool', 'subprocess', `http://127.0.0.1:${mcpPort}/mcp`]])
  t.equal(summary.cleaned, undefined, 'nothing left by an earlier run')
  t.equal(statSync(runDir).mode & 0o777, 0o700, 'run dir 0700')
  const state = readRunState(runDir)
  t.ok(state && 'state' in state, 'state.json readable')
  const s = (state as { state: import('../../local/run-state.js').RunState }).state
  t.equal(s.up.pid, process.pid)
  t.strictSame(s.processes.map((p) => [p.role, p.name]).sort(), [['aggregator', 'aggregator'], ['sidecar', 'tool']])
  const effFile = join(runDir, 'hangar.effective.json')
  t.equal(statSync(effFile).mode & 0o777, 0o600)
  const eff = JSON.parse(readFileSync(effFile, 'utf8')) as { providers: { tool: { sidecar: { transparent_http: unknown; address: string } } } }
  t.strictSame([eff.providers.tool.sidecar.transparent_http, eff.providers.tool.sidecar.address], [null, '127.0.0.1'], 'cooperative listeners')
  const ready = await request(`${summary.aggregatorUrl}/ready`)
  t.equal(ready.statusCode, 200)
  await ready.body.dump()
  await stack.stop()
  t.notOk(existsSync(runDir), 'run dir removed')
  t.equal(await portOpen(summary.aggregatorUrl.replace('http://', '')), false, 'the aggregator is gone')
  t.equal(await portOpen(`127.0.0.1:${mcpPort}`), false, 'the sidecar is gone')
  await t.resolves(stack.stop(), 'idempotent')
  t.strictSame(fatal, [])
})

function sleeper(t: { teardown(fn: () => void): void }): Promise<ChildProcess> {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => {
    c.kill('SIGKILL')
  })
  return new Promise((r) => c.once('spawn', () => r(c)))
}

t.test("an earlier crashed run: its processes are killed before start and reported in the summary", async (t) => {
  const { stack, runDir } = await stackFor(t)
  mkdirSync(runDir, { recursive: true })
  const orphan = await sleeper(t)
  const killed = new Promise((r) => orphan.once('exit', (_c, sig) => r(sig)))
  writeRunState(runDir, { version: 1, up: { pid: 999_999_998, starttime: '1' }, config: 'x', started: '2025-01-01T00:00:00Z', processes: [{ role: 'sidecar', name: 'tool', pid: orphan.pid!, starttime: procStartTime(orphan.pid!)! }], providers: [], containers: [] })
  const summary = await stack.start()
  t.equal(await killed, 'SIGKILL')
  t.strictSame(summary.cleaned, [`process ${orphan.pid} (sidecar tool)`])
})

t.test('another live run with the same data dir: refused, its run dir untouched', async (t) => {
  const { stack, runDir } = await stackFor(t)
  mkdirSync(runDir, { recursive: true })
  const other = await sleeper(t)
  const state = { version: 1 as const, up: { pid: other.pid!, starttime: procStartTime(other.pid!)! }, config: 'x', started: '2025-01-01T00:00:00Z', processes: [], providers: [], containers: [] }
  writeRunState(runDir, state)
  const e = await stack.start().then(() => undefined, (err: unknown) => err)
  t.ok(e instanceof HangarError)
  t.equal((e as HangarError).code, ERROR_CODES.UP_FAILED)
  t.match((e as Error).message, new RegExp(`another mcp-hangar up \\(pid ${other.pid}, started 2025-01-01T00:00:00Z\\) runs with this config's data dir`))
  t.strictSame(readRunState(runDir), { state }, 'its state is left as it was')
  t.equal(other.exitCode, null, 'and it is not killed')
})

t.test('an unreadable state of an earlier run is warned about and removed', async (t) => {
  const { stack, runDir, log } = await stackFor(t)
  mkdirSync(runDir, { recursive: true })
  writeFileSync(join(runDir, 'state.json'), '{broken')
  writeFileSync(join(runDir, 'junk'), 'x')
  await stack.start()
  t.ok(log.lines.some((l) => l.msg === 'unreadable run state of an earlier run; removed'))
  t.notOk(existsSync(join(runDir, 'junk')), 'the old run dir was removed before the new one was made')
})

// ContainerProviderStack.stop() must not reject when no Docker engine answers: start() then
// reports HANGAR_UP_FAILED (not the engine's socket error) and stops the aggregator it started.
t.test('start() with a container provider and no Docker engine: HANGAR_UP_FAILED "needs a Docker engine", and every process it started is stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-up-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // No engine answers, even on a machine where dockerd runs: dockerode reads DOCKER_HOST.
  const dockerHost = process.env.DOCKER_HOST
  process.env.DOCKER_HOST = `unix://${join(dir, 'no-engine.sock')}`
  t.teardown(() => { if (dockerHost === undefined) delete process.env.DOCKER_HOST; else process.env.DOCKER_HOST = dockerHost })
  const aggPort = await freePort()
  const config = hangarConfigSchema.parse({
    aggregator: { listen: `127.0.0.1:${aggPort}`, data_dir: join(dir, 'agg') },
    providers: { box: { mode: 'container', image: 'example/mcp:1', listen: `127.0.0.1:${await freePort()}` } },
  })
  const stack = new LocalStack({
    config, configPath: join(dir, 'hangar.yaml'), isolation: { mode: 'cooperative', why: 'test' }, log: captureLog().log, cwd: dir,
    self: [process.execPath, '--import', 'tsx', join(root, 'cli/main.ts')], env: { PATH: process.env.PATH ?? '' },
    onFatal: () => {}, seccompPath: join(root, 'security/seccomp/mcp-provider.json'),
  })
  t.teardown(() => stack.killNow())
  const e = await stack.start().then(() => undefined, (err: unknown) => err)
  t.equal((e as HangarError).code, ERROR_CODES.UP_FAILED)
  t.match((e as Error).message, /needs a Docker engine/)
  t.equal(await portOpen(`127.0.0.1:${aggPort}`), false, 'the aggregator it started is stopped')
})
