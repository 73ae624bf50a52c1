// `mcp-hangar sidecar --config-env NAME` as the built command (dist/mcp-hangar.mjs, `npm run
// build`), as the admission webhook's sidecars run it: usage errors exit 2 with a message and start
// nothing (both -c and --config-env, an unset, empty or badly named variable, a config that does not
// validate, named "env HANGAR_SIDECAR_CONFIG" with the field path); control: the same config valid
// starts the sidecar (its ready line naming the source, $MCP_CONFIG ignored), every signal is marked
// isolation k8s, and SIGTERM stops it with exit 0.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import { runNode, type NodeRun } from '../helpers/child.js'

t.setTimeout(120_000)
const root = new URL('../../', import.meta.url).pathname
const BUNDLE = join(root, 'dist/mcp-hangar.mjs')
if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`)

function run(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<NodeRun> {
  return runNode([BUNDLE, 'sidecar', ...args], { cwd: root, env, timeoutMs })
}

const dir = mkdtempSync(join(tmpdir(), 'hangar-config-env-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const config = `providers:
  tool:
    mode: remote
    endpoint: http://127.0.0.1:9/mcp
    listen: 127.0.0.1:0
    sidecar:
      admin: 127.0.0.1:0
      proxy: 127.0.0.1:0
      dns: 127.0.0.1:0
      transparent_http: null
      transparent_tls: null
      upstream_dns: ["127.0.0.1:9"]
      data_dir: ${dir}/data
      signal_log: ${dir}/signals.jsonl
`

t.test('usage errors: exit 2 with a message, nothing started', async (t) => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['-c', join(dir, 'hangar.yaml'), '--config-env', 'HANGAR_SIDECAR_CONFIG'], { HANGAR_SIDECAR_CONFIG: config }, /^mcp-hangar: -c\/--config and --config-env are mutually exclusive: give one$/m],
    [['--config-env', 'HANGAR_SIDECAR_CONFIG'], {}, /^mcp-hangar: --config-env HANGAR_SIDECAR_CONFIG: environment variable HANGAR_SIDECAR_CONFIG is not set$/m],
    [['--config-env', 'HANGAR_SIDECAR_CONFIG'], { HANGAR_SIDECAR_CONFIG: '' }, /environment variable HANGAR_SIDECAR_CONFIG is empty/],
    [['--config-env', 'HANGAR_SIDECAR_CONFIG'], { HANGAR_SIDECAR_CONFIG: ' \n\t' }, /environment variable HANGAR_SIDECAR_CONFIG is empty/],
    [['--config-env', '1BAD-NAME'], { '1BAD-NAME': config }, /--config-env: "1BAD-NAME" is not an environment variable name/],
    [['--config-env', 'HANGAR_SIDECAR_CONFIG'], { HANGAR_SIDECAR_CONFIG: config.replace('mode: remote', 'mode: remote\n    moed: x') }, /env HANGAR_SIDECAR_CONFIG[\s\S]*providers\.tool\.moed/],
    [['--config-env', 'HANGAR_SIDECAR_CONFIG'], { HANGAR_SIDECAR_CONFIG: 'providers: [' }, /env HANGAR_SIDECAR_CONFIG/],
    [['--config-env', 'HANGAR_SIDECAR_CONFIG'], { HANGAR_SIDECAR_CONFIG: config.replace('tool:', 'other:') }, /no provider "tool" in the config \(known: other\)/],
  ]
  const results = await Promise.all(cases.map(([args, env]) => run([...args, '--provider', 'tool'], env)))
  results.forEach((r, i) => {
    t.equal(r.code, 2, `${JSON.stringify(cases[i]![0])} ${JSON.stringify(Object.values(cases[i]![1])[0] ?? '').slice(0, 40)}: exit 2`)
    t.match(r.stderr, cases[i]![2])
  })
  t.notOk(existsSync(join(dir, 'signals.jsonl')), 'nothing started')
})

t.test('control: the config from the variable runs the sidecar (isolation k8s on every signal); SIGTERM exits 0', async (t) => {
  const c = spawn(process.execPath, [BUNDLE, 'sidecar', '--config-env', 'HANGAR_SIDECAR_CONFIG', '--provider', 'tool', '--isolation', 'k8s'], {
    cwd: root, env: { PATH: process.env.PATH ?? '', MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info', MCP_CONFIG: join(dir, 'missing.yaml'), HANGAR_SIDECAR_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { c.kill('SIGKILL') })
  let out = ''
  let proxy = 0
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += String(d)
      const started = out.split('\n').find((l) => l.includes('egress sidecar started'))
      if (started) proxy = (JSON.parse(started) as { ports: { proxy: number } }).ports.proxy
      const line = out.split('\n').find((l) => l.includes('"msg":"ready"'))
      if (line) {
        clearTimeout(timer)
        resolve(JSON.parse(line) as Record<string, unknown>)
      }
    }
    c.stdout.on('data', onData)
    c.stderr.on('data', onData)
    c.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
  t.equal(ready.config, 'env HANGAR_SIDECAR_CONFIG', 'the ready line names the source; $MCP_CONFIG (a missing file) was not read')
  // an egress violation makes a signal: a CONNECT to a host no capability allows (never dialled)
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(proxy, '127.0.0.1', () => s.write('CONNECT denied.invalid:443 HTTP/1.1\r\nHost: denied.invalid:443\r\n\r\n'))
    let got = ''
    s.on('data', (d: Buffer) => {
      got += String(d)
      if (got.includes('\r\n\r\n')) s.destroy()
    })
    s.on('close', () => resolve(got))
    s.on('error', reject)
  })
  t.match(answer, /^HTTP\/1\.1 403/, 'the CONNECT is refused by policy')
  const code = await new Promise<number | null>((resolve) => {
    c.once('exit', (code) => resolve(code))
    c.kill('SIGTERM')
  })
  t.equal(code, 0, 'clean exit on SIGTERM')
  const signals = readFileSync(join(dir, 'signals.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; isolation?: string })
  t.strictSame(signals.map((s) => s.type), ['sidecar_started', 'egress_denied', 'sidecar_stopped'], 'the sidecar\'s signals, the denied CONNECT among them')
  t.ok(signals.length > 0 && signals.every((s) => s.isolation === 'k8s'), `every signal marked isolation k8s (${signals.length})`)
})
