/**
 * `mcp-hangar egress` as a real process: config errors name the field and exit 2; a good config
 * starts every listener, writes signals as JSON lines, and stops cleanly on SIGTERM.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rawExchange } from '../helpers/net.js'
import { LOOPBACK_SIDECAR_YAML } from '../helpers/mcp.js'

const root = new URL('../../', import.meta.url).pathname
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args], { cwd: root, env: { ...process.env, MCP_JSON_LOGS: '1', ...env } })

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = cli(args, env)
    let stderr = ''
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    c.on('close', (code) => resolve({ code, stderr }))
  })
}

const dir = mkdtempSync(join(tmpdir(), 'hangar-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

t.test('an invalid host glob exits 2 and names the field path', async (t) => {
  const p = file('bad.yaml', `providers:\n  fetch:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    capabilities:\n      network:\n        egress:\n          - host: api.example.com\n          - host: "*example.com"\n`)
  const r = await run(['egress', '-c', p, '--provider', 'fetch'])
  t.equal(r.code, 2)
  t.match(r.stderr, 'providers.fetch.capabilities.network.egress[1].host: "*example.com" is not a valid host glob')
})

t.test('an unset ${VAR} and an unknown provider are clear errors', async (t) => {
  const p = file('env.yaml', `providers:\n  a:\n    mode: remote\n    endpoint: \${HANGAR_TEST_UNSET_URL}\n`)
  const r = await run(['egress', '-c', p, '--provider', 'a'])
  t.equal(r.code, 2)
  t.match(r.stderr, 'environment variable HANGAR_TEST_UNSET_URL is not set')
  const q = file('ok.yaml', `providers:\n  a:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n`)
  const r2 = await run(['egress', '-c', q, '--provider', 'nope'])
  t.equal(r2.code, 2)
  t.match(r2.stderr, 'no provider "nope" in the config (known: a)')
  const r3 = await run(['egress', '-c', join(dir, 'missing.yaml'), '--provider', 'a'])
  t.equal(r3.code, 2)
  t.match(r3.stderr, 'config file not found')
})

t.test('starts, denies with a JSON-lines signal, stops on SIGTERM', async (t) => {
  const signals = join(dir, 'signals.jsonl')
  const p = file('run.yaml', `providers:
  p:
    mode: remote
    endpoint: http://127.0.0.1:1/mcp
    sidecar:
${LOOPBACK_SIDECAR_YAML}      signal_log: ${signals}
    capabilities:
      network:
        egress: [{ host: api.example.com }]
`)
  const c = cli(['egress', '-c', p, '--provider', 'p'])
  let stderr = ''
  const ports = await new Promise<{ proxy: number; admin: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not started: ${stderr}`)), 20000)
    c.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      for (const line of stderr.split('\n')) {
        if (!line.includes('egress sidecar started')) continue
        clearTimeout(timer)
        resolve((JSON.parse(line) as { ports: { proxy: number; admin: number } }).ports)
      }
    })
  })
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/ready`)).status, 200)
  const a = await rawExchange(ports.proxy, 'CONNECT evil.example.net:443 HTTP/1.1\r\n\r\n')
  t.equal(a.status, 403)
  a.socket.destroy()
  c.kill('SIGTERM')
  const code = await new Promise((r) => c.on('close', r))
  t.equal(code, 0, 'clean exit on SIGTERM')
  const lines = readFileSync(signals, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  const denied = lines.filter((l) => l.type === 'egress_denied')
  t.equal(denied.length, 1)
  t.equal(denied[0]!.schema, 'hangar.signal/v1')
  t.match(denied[0]!.destination, { host: 'evil.example.net', port: 443 })
  t.ok(lines.some((l) => l.type === 'sidecar_stopped'), 'stop signalled and flushed before exit')
})
