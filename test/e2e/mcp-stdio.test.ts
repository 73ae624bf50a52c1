/**
 * `mode: subprocess` end to end: the MCP SDK client → the sidecar's ingress → a real stdio MCP
 * server the sidecar launched (`server-everything`, `server-filesystem`, our fixture).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { McpError, type CreateMessageRequest } from '@modelcontextprotocol/sdk/types.js'
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { connectClient, EVERYTHING, FILESYSTEM, FIXTURE, startSidecar, textOf } from '../helpers/mcp.js'
import { StdioBackend } from '../../proxy/ingress/stdio-backend.js'

const node = process.execPath

async function refused(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  if (!(e instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${String(e)}`)
  return e
}

t.test('server-everything over stdio: lazy start, tools, policy and schema checks', async (t) => {
  const rig = await startSidecar('everything', {
    mode: 'subprocess',
    command: [node, EVERYTHING],
    capabilities: { tools: { deny_list: ['get-env'] } },
  })
  t.teardown(() => rig.stop())
  const backend = rig.sidecar.backend as StdioBackend
  t.equal(backend.providers.length, 0, 'no process before the first client')
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  t.equal(backend.providers[0]?.state, 'READY', 'initialize started the process')
  t.match(client.getServerVersion(), { name: /everything/i }, "the client sees the provider's own serverInfo")
  const { tools } = await client.listTools()
  t.ok(tools.some((x) => x.name === 'echo'))
  t.notOk(tools.some((x) => x.name === 'get-env'), 'denied tool hidden')
  t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hi over stdio' } })), /hi over stdio/)
  t.equal((await refused(client.callTool({ name: 'get-env', arguments: {} }))).code, -32001)
  t.equal((await refused(client.callTool({ name: 'get-sum', arguments: { a: 'x', b: 1 } }))).code, -32602)
  t.equal(rig.sink.signals.filter((s) => s.type === 'tool_denied').length, 1)
  t.equal(rig.sink.signals.filter((s) => s.type === 'schema_violation').length, 1)
})

t.test('server-filesystem over stdio: reads a file in its root through the sidecar', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-fs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'hello.txt'), 'hello from the filesystem server\n')
  const rig = await startSidecar('filesystem', {
    mode: 'subprocess',
    command: [node, FILESYSTEM, dir],
    capabilities: { tools: { deny_list: ['write_file', 'edit_file', 'move_file', 'create_directory'] } },
  })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.notOk(tools.some((x) => x.name === 'write_file'), 'write tools hidden')
  const r = await client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'hello.txt') } })
  t.match(textOf(r), /hello from the filesystem server/)
  const w = await refused(client.callTool({ name: 'write_file', arguments: { path: join(dir, 'x'), content: 'x' } }))
  t.equal(w.code, -32001)
})

t.test('two sessions over one shared process: interleaved calls, own progress and errors', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE], session_mode: 'shared' })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a' })
  const b = await connectClient(rig.url, { name: 'b' })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const pidA = textOf(await a.callTool({ name: 'whoami', arguments: {} }))
  const pidB = textOf(await b.callTool({ name: 'whoami', arguments: {} }))
  t.equal(pidA, pidB, 'both sessions run on the same provider process')

  const progressA: number[] = []
  const progressB: number[] = []
  const calls = await Promise.all([
    a.callTool({ name: 'progress', arguments: { steps: 4, ms: 15 } }, undefined, { onprogress: (p) => progressA.push(p.progress) }),
    b.callTool({ name: 'progress', arguments: { steps: 3, ms: 10 } }, undefined, { onprogress: (p) => progressB.push(p.progress) }),
    a.callTool({ name: 'echo', arguments: { text: 'from a' } }),
    b.callTool({ name: 'echo', arguments: { text: 'from b' } }),
    refused(a.callTool({ name: 'rpc_error', arguments: {} })),
    b.callTool({ name: 'slow', arguments: { ms: 50 } }),
  ])
  t.equal(textOf(calls[0]), 'done 4')
  t.equal(textOf(calls[1]), 'done 3')
  t.strictSame(progressA, [1, 2, 3, 4], 'session a got exactly its own progress')
  t.strictSame(progressB, [1, 2, 3], 'session b got exactly its own progress')
  t.equal(textOf(calls[2]), 'from a')
  t.equal(textOf(calls[3]), 'from b')
  t.match((calls[4] as McpError).message, /rpc_error requested/, 'the error went to the session that caused it')
  t.equal(textOf(calls[5]), 'slept 50')
})

t.test('a provider→client request reaches the session whose call caused it', async (t) => {
  const rig = await startSidecar('fixture', { mode: 'subprocess', command: [node, FIXTURE] })
  t.teardown(() => rig.stop())
  const a = await connectClient(rig.url, { name: 'a', capabilities: { sampling: {} } })
  const b = await connectClient(rig.url, { name: 'b', capabilities: { sampling: {} } })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const asked: string[] = []
  const handler = (who: string) => async (req: CreateMessageRequest) => {
    asked.push(who)
    void req
    return { role: 'assistant' as const, content: { type: 'text' as const, text: `answer from ${who}` }, model: 'test' }
  }
  a.setRequestHandler(CreateMessageRequestSchema, handler('a'))
  b.setRequestHandler(CreateMessageRequestSchema, handler('b'))
  const r = await b.callTool({ name: 'ask_client', arguments: { kind: 'sampling' } })
  t.match(textOf(r), /answer from b/)
  t.strictSame(asked, ['b'])
})

t.test('drift: a provider that changes a tool description after the first list', async (t) => {
  const rig = await startSidecar('drifty', {
    mode: 'subprocess',
    command: [node, FIXTURE],
    env: { FIXTURE_DRIFT: '1' },
    capabilities: { enforcement_mode: 'block' },
  })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const first = await client.listTools()
  t.ok(first.tools.some((x) => x.name === 'echo'), 'echo listed and pinned on first sight')
  const second = await client.listTools()
  t.notOk(second.tools.some((x) => x.name === 'echo'), 'block mode hides the changed tool')
  const drift = rig.sink.signals.filter((s) => s.type === 'tool_definition_drift')
  t.equal(drift.length, 1, 'one tool_definition_drift signal')
  t.match(drift[0], { tool: 'echo' })
  t.equal((await refused(client.callTool({ name: 'echo', arguments: { text: 'x' } }))).code, -32001, 'and refuses it until approved')
  rig.sidecar.inspector.approve(['echo'])
  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'back' } })), 'back', 'approval lifts the hold')
})
