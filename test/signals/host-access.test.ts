/**
 * `host_access_granted`: the grants `compose inject` records on a sidecar (`HANGAR_HOST_ACCESS`)
 * parse into one signal that validates against the signal schema; anything unreadable refuses
 * the sidecar's start; no grant, no signal. And end to end: a real sidecar process started with
 * the variable writes the signal to its signal log, and one with a broken value exits non-zero.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildSignal } from '../../signals/build.js'
import { hostAccessSignal, parseHostAccess } from '../../signals/host-access.js'
import { validateSignal } from '../../signals/validate.js'
import { freePort } from '../helpers/mcp.js'

const root = new URL('../../', import.meta.url).pathname
const grants = [{ grant: 'pid', path: 'services.tool.pid', setting: 'pid: host' }, { grant: 'path:/var/run/docker.sock', path: 'services.tool.volumes[0]', setting: '/var/run/docker.sock:/var/run/docker.sock' }]

t.test('parse: grants, nothing, and every broken form refused', async (t) => {
  t.same(parseHostAccess(JSON.stringify(grants)), grants)
  t.same(parseHostAccess(undefined), [])
  t.same(parseHostAccess('  '), [])
  for (const bad of ['{', '{}', '[1]', '[{"grant":"pid"}]', JSON.stringify([{ ...grants[0], extra: 1 }]), JSON.stringify([{ ...grants[0], grant: '' }])]) {
    t.throws(() => parseHostAccess(bad), { code: 'HANGAR_CONFIG_INVALID' }, `refused: ${bad}`)
  }
})

t.test('the signal: once, high, names the grants, valid', async (t) => {
  t.equal(hostAccessSignal([], 'block'), undefined, 'no grant, no signal')
  const s = hostAccessSignal(grants, 'block')!
  t.match(s, { type: 'host_access_granted', kind: 'lifecycle', action: 'allowed', details: { grants } })
  t.match(s.reason, /pid \(pid: host\), path:\/var\/run\/docker.sock/)
  const built = buildSignal({ provider: 'tool', sidecar_id: 'tool-1' }, s)
  t.equal(built.severity, 'high')
  t.match(validateSignal(built), { ok: true }, 'the signal validates')
})

t.test('a real sidecar: signalled at start; an unreadable grant list refuses to start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-hostaccess-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cfg = join(dir, 'hangar.yaml')
  const listen = await freePort()
  const admin = await freePort()
  writeFileSync(cfg, `providers:
  tool:
    mode: remote
    endpoint: http://127.0.0.1:9/mcp
    listen: 127.0.0.1:${listen}
    sidecar: { admin: 127.0.0.1:${admin}, data_dir: ${dir}/data, signal_log: ${dir}/signals.jsonl }
`)
  const run = (env: Record<string, string>) => spawn(process.execPath, ['--import', join(root, 'benchmarks/register.mjs'), join(root, 'cli/main.ts'), 'sidecar', '-c', cfg, '-p', 'tool', '--no-egress'], { env: { PATH: process.env.PATH ?? '', MCP_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const good = run({ HANGAR_HOST_ACCESS: JSON.stringify(grants) })
  t.teardown(() => { good.kill('SIGKILL') })
  const log = join(dir, 'signals.jsonl')
  const until = Date.now() + 30_000
  let lines: Array<{ type: string; details?: unknown }> = []
  while (Date.now() < until) {
    lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []
    if (lines.some((l) => l.type === 'host_access_granted')) break
    await new Promise((r) => setTimeout(r, 200))
  }
  t.match(lines.filter((l) => l.type === 'host_access_granted'), [{ details: { grants } }], 'one host_access_granted with the grants')
  good.kill('SIGTERM')
  await new Promise((r) => good.once('exit', r))
  const bad = run({ HANGAR_HOST_ACCESS: '[{"grant":"pid"' })
  let err = ''
  bad.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((r) => bad.once('exit', r))
  t.not(code, 0, 'a broken grant list: the sidecar does not start')
  t.match(err, /HANGAR_HOST_ACCESS is not JSON/)
})
