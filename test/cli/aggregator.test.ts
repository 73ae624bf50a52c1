// cli/aggregator.ts as a real process (`mcp-hangar aggregator` from source): config loaded with
// its warnings, MCP_HTTP_HOST/PORT override the listen address, "ready" with the port, SIGTERM
// stops it cleanly, a bad config is exit 2 naming the file.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { CliProcess } from '../fixtures/control-plane/cli-process.js'
import { freePort } from '../helpers/mcp.js'

t.setTimeout(120_000)

function config(dir: string, extra = ''): string {
  const f = join(dir, 'hangar.yaml')
  writeFileSync(f, `aggregator:\n  listen: 127.0.0.1:1\n  data_dir: ${join(dir, 'data')}\n${extra}providers:\n  fetch:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\n`)
  return f
}

t.test('runs on the MCP_HTTP_PORT override, answers, stops on SIGTERM', async (t) => {
  const dir = t.testdir({})
  const port = await freePort()
  const p = CliProcess.start(t, 'aggregator', ['aggregator', '-c', config(dir)], { MCP_HTTP_HOST: '127.0.0.1', MCP_HTTP_PORT: String(port) })
  const ready = await p.waitForMsg('ready', 60_000)
  t.equal(ready.port, port, 'the override wins over aggregator.listen')
  t.equal(ready.config, join(dir, 'hangar.yaml'))
  const health = await request(`http://127.0.0.1:${port}/health`)
  t.equal(health.statusCode, 200)
  await health.body.dump()
  p.child.kill('SIGTERM')
  const exit = await p.exited
  t.strictSame(exit, { code: 0, signal: null }, 'a clean exit')
  t.ok(p.linesWith('stopping').some((l) => l.signal === 'SIGTERM'))
})

t.test('a config with an unknown key is exit 2 naming the file and key', async (t) => {
  const dir = t.testdir({})
  const p = CliProcess.start(t, 'aggregator', ['aggregator', '-c', config(dir, '  bogus_key: 1\n')])
  const exit = await p.exited
  t.equal(exit.code, 2)
  const text = p.lines.map((l) => l.raw ?? '').join('\n')
  t.match(text, new RegExp(`^mcp-hangar: invalid configuration in ${join(dir, 'hangar.yaml').replace(/[./]/g, '\\$&')}`, 'm'))
  t.match(text, /aggregator.*bogus_key|bogus_key/)
  t.notOk(p.lines.some((l) => l.msg === 'ready'), 'never ready')
})
