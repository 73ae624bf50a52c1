// StdioProvider with real MCP servers from npm (proxy/stdio/provider.ts):
// @modelcontextprotocol/server-everything (stdio) and @modelcontextprotocol/server-filesystem on a
// temp dir, including a real server→client request (roots/list) answered through send().
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EVERYTHING_SERVER, FILESYSTEM_SERVER, NODE, pidAlive, testProvider, waitExit, waitMessage } from '../../fixtures/mcp/harness.js'

t.test('server-everything: initialize, tools/list, a tools/call round trip, env isolation, stop', async (t) => {
  const p = testProvider({
    provider: 'everything',
    command: [NODE, EVERYTHING_SERVER],
    inheritedEnv: { ...process.env, HANGAR_ADMIN_TOKEN: 'sidecar-secret' },
    env: { CONFIGURED_VAR: 'from-config' },
    initialize: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'hangar-test', version: '0' } },
  })
  t.teardown(() => p.stop())
  t.equal(p.pid, undefined)
  await p.ensureStarted()
  t.equal(p.state, 'READY')
  t.match(p.initializeResult, { protocolVersion: '2025-06-18', serverInfo: { name: String }, capabilities: { tools: {} } })

  const list = await p.request('tools/list', {})
  const names = (list.tools as Array<{ name: string }>).map((x) => x.name)
  t.ok(names.includes('echo') && names.includes('get-env'), `tools: ${names.join(', ')}`)

  const answer = waitMessage(p, (m) => 'id' in m && m.id === 1)
  p.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hello everything' } } })
  t.match(await answer, { id: 1, result: { content: [{ type: 'text', text: /hello everything/ }] } })

  const env = await p.request('tools/call', { name: 'get-env', arguments: {} })
  const childEnv = JSON.parse((env.content as Array<{ text: string }>)[0]!.text) as Record<string, string>
  t.equal(childEnv.CONFIGURED_VAR, 'from-config', 'configured env reached the server')
  t.equal(childEnv.HANGAR_ADMIN_TOKEN, undefined, 'the sidecar’s secret did not')
  t.equal(childEnv.PATH, process.env.PATH)

  const pid = p.pid!
  const exit = waitExit(p)
  await p.stop('test done')
  t.match(await exit, { pid, expected: true })
  t.notOk(pidAlive(pid))
})

t.test('server-filesystem on a temp dir: list_directory sees a file we wrote', async (t) => {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'hangar-fs-')))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'hello.txt'), 'hi from the test\n')
  const p = testProvider({
    provider: 'filesystem',
    command: [NODE, FILESYSTEM_SERVER, dir],
    initialize: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'hangar-test', version: '0' } },
  })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  const listed = await p.request('tools/call', { name: 'list_directory', arguments: { path: dir } })
  t.match((listed.content as Array<{ text: string }>)[0]!.text, /\[FILE\] hello\.txt/)
  const read = await p.request('tools/call', { name: 'read_text_file', arguments: { path: join(dir, 'hello.txt') } })
  t.match(read, { content: [{ text: 'hi from the test\n' }] })
  const outside = await p.request('tools/call', { name: 'read_text_file', arguments: { path: '/etc/hostname' } })
  t.match(outside, { isError: true }, 'outside the allowed dir: a tool error')
})

t.test('server-filesystem with roots: its roots/list request is emitted and answered through send()', async (t) => {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'hangar-roots-')))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const p = testProvider({ provider: 'filesystem', command: [NODE, FILESYSTEM_SERVER] }) // no dir: roots only
  t.teardown(() => p.stop())
  const asked = waitMessage(p, (m) => 'method' in m && m.method === 'roots/list')
  await p.ensureStarted() // TEST_INITIALIZE advertises roots
  const req = (await asked) as { id: string | number }
  p.send({ jsonrpc: '2.0', id: req.id, result: { roots: [{ uri: `file://${dir}`, name: 'test root' }] } })
  let text = ''
  for (let i = 0; i < 50 && !text.includes(dir); i++) {
    const r = await p.request('tools/call', { name: 'list_allowed_directories', arguments: {} })
    text = (r.content as Array<{ text: string }>)[0]!.text
    if (!text.includes(dir)) await new Promise((res) => setTimeout(res, 50))
  }
  t.match(text, dir, 'the server took the root we answered')
})
