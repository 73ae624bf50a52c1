// The Inspector in front of a real MCP server from npm (@modelcontextprotocol/server-everything,
// stdio, spawned here): its real tools/list is reviewed and filtered, allowed calls reach it and
// come back, refused calls never reach it, and toolsSource fetches its real list for a call that
// comes before any tools/list.
import t from 'tap'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { ClientVerdict, Inspector } from '../../../proxy/inspect/inspector.js'
import { RPC, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '../../../proxy/types.js'
import { CTX, callRequest, harness, toolsOf } from './harness.js'

const SERVER = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js')

/** A JSON-RPC client over the server's stdio that routes every message through an Inspector. */
async function connect(t: { teardown(fn: () => unknown): void }) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER], stderr: 'ignore' })
  const pending = new Map<string | number, { req: JsonRpcRequest; resolve: (m: JsonRpcMessage) => void }>()
  let inspector: Inspector | undefined
  let serverRequests = 0
  transport.onmessage = (raw) => {
    const msg = raw as JsonRpcMessage
    const id = (msg as { id?: string | number }).id
    const p = id !== undefined && !('method' in msg) ? pending.get(id) : undefined
    const out = inspector ? inspector.onServerMessage(msg, p?.req, CTX) : msg
    if (p && id !== undefined) {
      pending.delete(id)
      p.resolve(out)
    }
  }
  await transport.start()
  t.teardown(() => transport.close())
  let nextId = 1000
  const raw = (req: JsonRpcRequest): Promise<JsonRpcMessage> => new Promise((resolve) => {
    serverRequests++
    pending.set(req.id, { req, resolve })
    void transport.send(req as never)
  })
  const init = await raw({ jsonrpc: '2.0', id: nextId++, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'hangar-test', version: '1' } } })
  if (!('result' in init)) throw new Error(`server-everything did not initialize: ${JSON.stringify(init)}`)
  await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' })
  return {
    use(i: Inspector) { inspector = i },
    get serverRequests() { return serverRequests },
    raw,
    /** A client request through the inspector: forwarded to the server, or answered by the inspector. */
    async request(req: JsonRpcRequest): Promise<JsonRpcMessage> {
      const v: ClientVerdict = await (inspector as Inspector).onClientMessage(req, CTX)
      if (v.action === 'reply') return v.response
      const res = await raw(v.message as JsonRpcRequest)
      v.ticket?.finish(res as JsonRpcResponse)
      return res
    },
    /** Every page of the server's tools/list, straight from the server (the pipeline's toolsSource). */
    async allTools(): Promise<unknown[]> {
      const out: unknown[] = []
      let cursor: string | undefined
      do {
        const id = nextId++
        const page = await new Promise<JsonRpcMessage>((resolve) => {
          pending.set(id, { req: { jsonrpc: '2.0', id, method: '(toolsSource)' }, resolve })
          void transport.send({ jsonrpc: '2.0', id, method: 'tools/list', ...(cursor && { params: { cursor } }) })
        })
        const result = (page as unknown as { result: { tools: unknown[]; nextCursor?: string } }).result
        out.push(...result.tools)
        cursor = result.nextCursor
      } while (cursor)
      return out
    },
  }
}

t.test('server-everything behind the inspector (block mode)', async (t) => {
  const c = await connect(t)
  const h = harness(t, {
    enforcement_mode: 'block',
    tools: { deny_list: ['get-env', 'toggle-*'] },
    arguments: { secret_patterns: ['aws-keys', 'github-tokens'] },
  })
  c.use(h.inspector)

  const list = await c.request({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
  const names = toolsOf(list).map((x) => x.name)
  t.ok(names.includes('echo') && names.includes('get-sum'), 'allowed tools listed')
  t.notOk(names.includes('get-env'), 'deny_list tool hidden')
  t.notOk(names.some((n) => n.startsWith('toggle-')), 'deny glob tools hidden')
  await h.inspector.flush()
  const pins = JSON.parse(readFileSync(join(h.dataDir, 'tool-pins.json'), 'utf8')) as { tools: Record<string, unknown> }
  t.ok(Object.keys(pins.tools).includes('get-env'), 'every listed tool is pinned, denied ones too')

  const echo = await c.request(callRequest('echo', { message: 'hello hangar' }, 2))
  t.match(echo, { id: 2, result: { content: [{ type: 'text', text: /hello hangar/ }] } }, 'an allowed call reaches the server and returns')
  t.equal(await h.metric('mcp_hangar_tool_calls_total', { provider: 'p', tool: 'echo', outcome: 'ok' }), 1)

  const sent = c.serverRequests
  t.match(await c.request(callRequest('get-env', {}, 3)), { id: 3, error: { code: RPC.POLICY_DENIED, data: { rule: 'tools.deny_list[0]' } } })
  t.match(await c.request(callRequest('get-sum', { a: 'one', b: 2 }, 4)), { id: 4, error: { code: RPC.INVALID_PARAMS, data: [{ path: 'a', message: /number/ }] } }, 'draft-07 schema of a real server enforced')
  t.match(await c.request(callRequest('echo', { message: 'AKIAIOSFODNN7EXAMPLE' }, 5)), { id: 5, error: { code: RPC.POLICY_DENIED, data: { rule: 'arguments.secret_patterns.aws-keys' } } })
  t.equal(c.serverRequests, sent, 'refused calls never reached the server')
  t.same(h.signals().filter((s) => s.kind === 'violation').map((s) => s.type), ['tool_denied', 'schema_violation', 'secret_in_arguments'])

  const sum = await c.request(callRequest('get-sum', { a: 2, b: 40 }, 6))
  t.match(sum, { id: 6, result: { content: [{ text: /42/ }] } }, 'a valid call to a real tool')
})

t.test('toolsSource fetches the real list for a call made before any tools/list', async (t) => {
  const c = await connect(t)
  const h = harness(t, { tools: { expected_tools: ['echo', 'get-sum'] } }, { toolsSource: () => c.allTools() })
  c.use(h.inspector)
  t.match(await c.request(callRequest('get-sum', { a: 1 }, 1)), { id: 1, error: { code: RPC.INVALID_PARAMS, data: [{ path: 'b', message: 'is required' }] } }, 'checked against the fetched schema')
  const undeclared = h.signals('undeclared_tool').map((s) => s.tool)
  t.ok(undeclared.length >= 5 && undeclared.includes('get-env') && !undeclared.includes('echo'), 'tools outside expected_tools signalled from the fetched list')
  t.match(await c.request(callRequest('get-env', {}, 2)), { error: { data: { rule: 'tools.expected_tools' } } }, 'and held')
  t.match(await c.request(callRequest('echo', { message: 'ok' }, 3)), { result: { content: [{ text: /ok/ }] } })
})
