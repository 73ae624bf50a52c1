/**
 * `mode: remote` end to end: the MCP SDK client → the sidecar's ingress → the real
 * `@modelcontextprotocol/server-everything` in its Streamable HTTP mode, all on loopback.
 */
import t from 'tap'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { connectClient, startEverythingHttp, startSidecar, textOf } from '../helpers/mcp.js'

t.test('remote provider: tools listed, filtered and called through the sidecar', async (t) => {
  const everything = await startEverythingHttp()
  t.teardown(() => everything.stop())
  const rig = await startSidecar('everything', {
    mode: 'remote',
    endpoint: `http://127.0.0.1:${everything.port}/mcp`,
    capabilities: { enforcement_mode: 'block', tools: { deny_list: ['get-env'] } },
  })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url, { headers: { 'X-Hangar-Caller': 'alice' } })
  t.teardown(() => client.close())

  const { tools } = await client.listTools()
  const names = tools.map((x) => x.name)
  t.ok(names.includes('echo'), 'echo listed')
  t.notOk(names.includes('get-env'), 'the denied tool is absent from tools/list')

  const r = await client.callTool({ name: 'echo', arguments: { message: 'through the sidecar' } })
  t.match(textOf(r), /through the sidecar/, 'an allowed call reaches the provider and comes back')

  const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })
  t.match(textOf(sum), /42/, 'arguments pass unchanged')

  const denied = await client.callTool({ name: 'get-env', arguments: {} }).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(denied instanceof McpError, 'a denied tool is refused with a JSON-RPC error')
  t.equal((denied as McpError).code, -32001)
  t.match((denied as McpError).message, /Tool access denied by policy/)
  const sig = rig.sink.signals.filter((s) => s.type === 'tool_denied')
  t.equal(sig.length, 1, 'exactly one tool_denied signal')
  t.match(sig[0], { tool: 'get-env', caller: 'alice', action: 'blocked', kind: 'violation' })
  t.ok(sig[0]!.session_id, 'the signal names the session')

  const bad = await client.callTool({ name: 'get-sum', arguments: { a: 'two', b: 40 } }).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(bad instanceof McpError, 'schema-violating arguments are refused')
  t.equal((bad as McpError).code, -32602)
  t.equal(rig.sink.signals.filter((s) => s.type === 'schema_violation').length, 1, 'one schema_violation signal')
})

t.test('remote provider in alert mode: the denied tool is listed and forwarded, and signalled as alerted', async (t) => {
  const everything = await startEverythingHttp()
  t.teardown(() => everything.stop())
  const rig = await startSidecar('everything', {
    mode: 'remote',
    endpoint: `http://127.0.0.1:${everything.port}/mcp`,
    capabilities: { enforcement_mode: 'alert', tools: { deny_list: ['get-sum'] } },
  })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.ok(tools.some((x) => x.name === 'get-sum'), 'alert mode does not filter')
  const r = await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })
  t.match(textOf(r), /3/, 'the call is forwarded')
  t.match(rig.sink.signals.find((s) => s.type === 'tool_denied'), { action: 'alerted', tool: 'get-sum' })
})

t.test('remote provider unreachable → 502 with a JSON-RPC error body, sidecar stays up', async (t) => {
  const rig = await startSidecar('gone', { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' })
  t.teardown(() => rig.stop())
  const res = await fetch(rig.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  })
  t.equal(res.status, 502)
  const body = (await res.json()) as { error: { code: number; message: string } }
  t.equal(body.error.code, -32003)
  t.match(body.error.message, /unreachable/)
  const again = await fetch(rig.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{' })
  t.equal(again.status, 400, 'malformed JSON after a failure: still answered')
  t.equal(((await again.json()) as { error: { code: number } }).error.code, -32700)
})
