// The fixture MCP server (test/fixtures/mcp/fixture-server.mjs) that other tests rely on, driven by
// the official SDK client: Streamable HTTP mode on 127.0.0.1 (sessions, progress, server→client
// sampling, tool errors vs JSON-RPC errors, drift, list_changed) and its stdio switches.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
import { FIXTURE_SERVER, NODE, testProvider } from '../../fixtures/mcp/harness.js'

async function startHttp(t: Test, env: Record<string, string> = {}): Promise<{ url: URL; proc: ChildProcess }> {
  const proc = spawn(NODE, [FIXTURE_SERVER, '--http', '0'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => void proc.kill('SIGKILL'))
  proc.stderr!.resume()
  const [line] = (await once(createInterface({ input: proc.stdout! }), 'line')) as [string]
  const m = /^listening (\d+)$/.exec(line)
  if (!m) throw new Error(`unexpected first line: ${line}`)
  return { url: new URL(`http://127.0.0.1:${m[1]}/mcp`), proc }
}

async function connect(t: Test, url: URL, capabilities: Record<string, unknown> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'fixture-test', version: '0' }, { capabilities })
  const transport = new StreamableHTTPClientTransport(url)
  await client.connect(transport)
  t.teardown(() => client.close())
  return { client, transport }
}

const textOf = (r: unknown) => ((r as { content: Array<{ text: string }> }).content[0]!.text)

t.test('HTTP mode: sessions, tools, progress, tool error vs JSON-RPC error, sampling', async (t) => {
  const { url } = await startHttp(t)
  const { client, transport } = await connect(t, url, { sampling: {} })
  t.match(transport.sessionId, /^[0-9a-f-]{36}$/, 'a stateful session')
  const b = await connect(t, url)
  t.not(b.transport.sessionId, transport.sessionId, 'each client gets its own session')

  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'over http' } })), 'over http')
  const progress: number[] = []
  const r = await client.callTool({ name: 'progress', arguments: { steps: 3, ms: 5 } }, undefined, { onprogress: (p) => progress.push(p.progress) })
  t.equal(textOf(r), 'done 3')
  t.same(progress, [1, 2, 3], 'progress notifications with the caller’s token')
  t.match(await client.callTool({ name: 'fail', arguments: {} }), { isError: true, content: [{ text: 'failure requested' }] })
  await t.rejects(client.callTool({ name: 'rpc_error', arguments: {} }), { code: -32000, message: /rpc_error requested/ })
  await t.rejects(client.callTool({ name: 'add', arguments: { a: 'x', b: 1 } }), { code: -32602 })

  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'client says hi' }, model: 'test-model' }))
  const asked = await client.callTool({ name: 'ask_client', arguments: { kind: 'sampling' } })
  t.match(JSON.parse(textOf(asked)), { model: 'test-model', content: { text: 'client says hi' } })
  const who = await client.callTool({ name: 'whoami', arguments: {} })
  t.match(who, { structuredContent: { pid: Number } })
})

t.test('HTTP mode: FIXTURE_DRIFT changes echo’s description after the first tools/list; FIXTURE_LIST_CHANGED_MS notifies', async (t) => {
  const { url } = await startHttp(t, { FIXTURE_DRIFT: '1', FIXTURE_LIST_CHANGED_MS: '50' })
  const client = new Client({ name: 'fixture-test', version: '0' })
  const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()))
  await client.connect(new StreamableHTTPClientTransport(url))
  t.teardown(() => client.close())
  // The standalone GET stream carries the unsolicited notification.
  await changed
  const first = await client.listTools()
  const second = await client.listTools()
  t.equal(first.tools.find((x) => x.name === 'echo')!.description, 'Echoes the text back')
  t.equal(second.tools.find((x) => x.name === 'echo')!.description, 'Echoes the text back (changed)')
})

t.test('HTTP mode: crash exits the process with code 1', async (t) => {
  const { url, proc } = await startHttp(t)
  const { client } = await connect(t, url)
  const exited = once(proc, 'exit')
  void client.callTool({ name: 'crash', arguments: {} }).catch(() => {})
  const [code] = (await exited) as [number]
  t.equal(code, 1)
})

t.test('stdio: whoami returns the process id', async (t) => {
  const p = testProvider()
  t.teardown(() => p.stop())
  await p.ensureStarted()
  const r = await p.request('tools/call', { name: 'whoami', arguments: {} })
  t.equal(textOf(r), String(p.pid))
})

t.test('stdio: notify sends unrelated notifications/message, numbered over the process', async (t) => {
  const p = testProvider()
  t.teardown(() => p.stop())
  await p.ensureStarted()
  t.match(p.initializeResult, { capabilities: { logging: {} } }, 'the logging capability is declared')
  const logs: unknown[] = []
  p.on('message', (m) => {
    if ('method' in m && m.method === 'notifications/message') logs.push(m.params)
  })
  t.equal(textOf(await p.request('tools/call', { name: 'notify', arguments: { count: 2, ms: 0 } })), 'notified 2')
  t.equal(textOf(await p.request('tools/call', { name: 'notify', arguments: { count: 1, ms: 5 } })), 'notified 1')
  t.same(logs, [1, 2, 3].map((n) => ({ level: 'info', logger: 'fixture', data: `notify ${n}` })), 'sent before the result, counted across calls')
})

t.test('stdio: FIXTURE_EXIT_IF_FILE fails the start only while the file exists', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-fixture-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const flag = join(dir, 'fail')
  writeFileSync(flag, '')
  const p = testProvider({ env: { FIXTURE_EXIT_IF_FILE: flag }, backoff: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => p.stop())
  await t.rejects(p.ensureStarted(), { code: 'HANGAR_PROVIDER_UNAVAILABLE', message: /FIXTURE_EXIT_IF_FILE .* exists/ })
  const q = testProvider({ env: { FIXTURE_EXIT_IF_FILE: join(dir, 'absent') } })
  t.teardown(() => q.stop())
  await q.ensureStarted()
  t.equal(q.state, 'READY', 'no file: a normal start')
})
