/**
 * `mcp-hangar sidecar` as a real process: the MCP ingress in front of a real stdio server and
 * the egress listeners in one process; SIGTERM stops the provider process too.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectClient, EVERYTHING, LOOPBACK_SIDECAR_YAML, pidAlive as alive, textOf } from '../helpers/mcp.js'

const root = new URL('../../', import.meta.url).pathname

t.test('serves MCP for a stdio provider, reports it in /v1/status, stops it on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sidecar-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const signals = join(dir, 'signals.jsonl')
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `providers:
  everything:
    mode: subprocess
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(EVERYTHING)}]
    listen: 127.0.0.1:0
    sidecar:
${LOOPBACK_SIDECAR_YAML}      data_dir: ${dir}
      signal_log: ${signals}
    capabilities:
      tools:
        deny_list: [get-env]
`)
  const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'sidecar', '-c', cfg, '--provider', 'everything'], {
    cwd: root,
    env: { ...process.env, MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info' },
  })
  let out = ''
  const started = await new Promise<{ mcp: number; admin: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not started: ${out}`)), 30_000)
    let admin = 0
    const onData = (d: Buffer) => {
      out += d.toString()
      for (const line of out.split('\n')) {
        if (line.includes('egress sidecar started')) admin = (JSON.parse(line) as { ports: { admin: number } }).ports.admin
        if (line.includes('"msg":"ready"') && admin) {
          clearTimeout(timer)
          resolve({ mcp: (JSON.parse(line) as { mcp_port: number }).mcp_port, admin })
        }
      }
    }
    c.stderr.on('data', onData)
    c.stdout.on('data', onData)
    c.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
  const client = await connectClient(new URL(`http://127.0.0.1:${started.mcp}/mcp`))
  const { tools } = await client.listTools()
  t.ok(tools.some((x) => x.name === 'echo'), 'tools listed through the CLI sidecar')
  t.notOk(tools.some((x) => x.name === 'get-env'), 'policy applied')
  t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'cli' } })), /cli/)
  const status = (await (await fetch(`http://127.0.0.1:${started.admin}/v1/status`)).json()) as { mcp: { processes: Array<{ pid: number; state: string }>; sessions: number } }
  t.equal(status.mcp.sessions, 1, '/v1/status counts the session')
  const pid = status.mcp.processes[0]!.pid
  t.ok(alive(pid), 'the provider process runs')
  await client.close()
  const code = await new Promise<number | null>((resolve) => {
    c.once('exit', (code) => resolve(code))
    c.kill('SIGTERM')
  })
  t.equal(code, 0, 'clean exit on SIGTERM')
  t.notOk(alive(pid), 'the provider process was stopped with the sidecar')
  const lines = readFileSync(signals, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string })
  t.ok(lines.some((s) => s.type === 'provider_state_changed'), 'lifecycle signals written')
  t.ok(lines.some((s) => s.type === 'sidecar_stopped'), 'stop signalled')
})
