// `mcp-hangar sidecar` as a real process with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the in-test
// collector: the environment switches tracing on (core/env.ts → cli/sidecar.ts), spans reach the
// collector, and the spans of the last calls are flushed on SIGTERM. Without the variable the
// same command starts no exporter.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connectClient, EVERYTHING, textOf } from '../../helpers/mcp.js'
import { startCollector } from './collector.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
const root = new URL('../../../', import.meta.url).pathname

/** Starts the sidecar CLI; resolves with its MCP port, its output so far and a stop function (SIGTERM → exit code). */
async function runSidecar(t: Test, env: Record<string, string>): Promise<{ port: number; output: () => string; stop: () => Promise<number | null> }> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-otlp-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `providers:
  everything:
    mode: subprocess
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(EVERYTHING)}]
    listen: 127.0.0.1:0
    sidecar:
      admin: 127.0.0.1:0
      data_dir: ${dir}
      signal_log: ${join(dir, 'signals.jsonl')}
    capabilities:
      tools:
        deny_list: [get-env]
`)
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))) as Record<string, string>
  const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'sidecar', '-c', cfg, '--provider', 'everything', '--no-egress'], {
    cwd: root,
    env: { ...base, MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info', ...env },
  })
  t.teardown(() => void c.kill('SIGKILL'))
  let out = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not started: ${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      for (const line of out.split('\n')) {
        if (line.includes('"msg":"ready"')) {
          clearTimeout(timer)
          resolve((JSON.parse(line) as { mcp_port: number }).mcp_port)
        }
      }
    }
    c.stderr.on('data', onData)
    c.stdout.on('data', onData)
    c.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
  return {
    port,
    output: () => out,
    stop: () => new Promise((resolve) => {
      c.once('exit', (code) => resolve(code))
      c.kill('SIGTERM')
    }),
  }
}

t.test('OTEL_EXPORTER_OTLP_ENDPOINT set: spans exported, the last ones flushed at SIGTERM', async (t) => {
  const collector = await startCollector()
  t.teardown(() => collector.close())
  const sc = await runSidecar(t, {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-scope=hangar%20ci',
    OTEL_SERVICE_NAME: 'hangar-under-test',
  })
  t.match(sc.output(), /exporting traces over OTLP\/gRPC/)
  const client = await connectClient(new URL(`http://127.0.0.1:${sc.port}/mcp`))
  t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'cli' }, _meta: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })), /cli/)
  await client.callTool({ name: 'get-env', arguments: {} }).catch(() => undefined)
  await client.close()
  // Batches leave every 5 s; a stop right after the calls finds them still queued.
  const exportsBefore = collector.exports
  const queuedAtStop = !collector.spans.some((s) => s.name === 'tools/call get-env')
  t.equal(await sc.stop(), 0, 'clean exit')
  const [echo] = await collector.waitFor((s) => s.name === 'tools/call echo', 1, 5000)
  t.equal(echo!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.equal(echo!.parentSpanId, '00f067aa0ba902b7')
  t.match(echo!.resource, { 'service.name': 'hangar-under-test', 'hangar.provider': 'everything', 'service.instance.id': /.+/ })
  const [denied] = await collector.waitFor((s) => s.name === 'tools/call get-env', 1, 5000)
  t.equal(denied!.attributes['hangar.decision'], 'blocked')
  t.ok(!queuedAtStop || collector.exports > exportsBefore, 'the stop exported what was still queued')
  t.equal(collector.metadata.at(-1)?.['x-scope'], 'hangar ci', 'headers from OTEL_EXPORTER_OTLP_HEADERS')
})

t.test('no endpoint: the same command exports nothing', async (t) => {
  const sc = await runSidecar(t, { OTEL_SERVICE_NAME: 'hangar-under-test' })
  const client = await connectClient(new URL(`http://127.0.0.1:${sc.port}/mcp`))
  t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'quiet' } })), /quiet/)
  await client.close()
  t.equal(await sc.stop(), 0)
  t.notMatch(sc.output(), /OTLP/, 'no exporter was started')
})
