// aggregator/mcp/provider-client.ts: the aggregator as an MCP client of a provider's sidecar,
// against a real MCP server on loopback: every page of tools/list, tool calls, the caller and
// token headers, refusals thrown with their message, no URL, and the per-call timeout.
import t from 'tap'
import { ProviderClient } from '../../../aggregator/mcp/provider-client.js'
import { mcpPeer } from '../../fixtures/aggregator/mcp-peer.js'

t.test('listTools follows nextCursor to the last page', async (t) => {
  const peer = await mcpPeer(t, { tools: 5, pageSize: 2 })
  const c = new ProviderClient({ urlOf: () => peer.url, tokenOf: () => undefined, version: '9.9.9' })
  const tools = await c.listTools('fetch')
  t.strictSame(tools.map((x) => x.name), ['echo', 'tool1', 'tool2', 'tool3', 'tool4'])
})

t.test('the caller header names who acted (default "mcp", cut to 128); the token is sent as a bearer', async (t) => {
  const peer = await mcpPeer(t)
  const c = new ProviderClient({ urlOf: (p) => (p === 'fetch' ? peer.url : undefined), tokenOf: (p) => (p === 'fetch' ? 'tok-1' : undefined), version: '1' })
  await c.listTools('fetch', 'alice')
  t.ok(peer.headers.length > 0)
  for (const h of peer.headers) {
    t.equal(h['x-hangar-caller'], 'aggregator/alice')
    t.equal(h.authorization, 'Bearer tok-1')
  }
  peer.headers.length = 0
  await c.listTools('fetch')
  t.equal(peer.headers[0]!['x-hangar-caller'], 'aggregator/mcp')
  peer.headers.length = 0
  await c.listTools('fetch', 'x'.repeat(300))
  t.equal(String(peer.headers[0]!['x-hangar-caller']).length, 128)
})

t.test('no token: no Authorization header', async (t) => {
  const peer = await mcpPeer(t)
  const c = new ProviderClient({ urlOf: () => peer.url, tokenOf: () => undefined, version: '1' })
  await c.listTools('fetch')
  t.equal(peer.headers[0]!.authorization, undefined)
})

t.test('callTool returns the result; a JSON-RPC error is thrown with its message', async (t) => {
  const peer = await mcpPeer(t)
  const c = new ProviderClient({ urlOf: () => peer.url, tokenOf: () => undefined, version: '1' })
  const r = await c.callTool('fetch', 'echo', { a: 1 })
  t.strictSame(r.content, [{ type: 'text', text: '{"a":1}' }])
  await t.rejects(c.callTool('fetch', 'refuse', {}), /tool refuse is denied by policy/)
})

t.test('a provider whose sidecar reported no MCP URL: a clear error, no connection', async (t) => {
  const c = new ProviderClient({ urlOf: () => undefined, tokenOf: () => undefined, version: '1' })
  await t.rejects(c.listTools('fetch'), /its sidecar has not reported an MCP URL/)
})

t.test('a call slower than timeoutMs fails; a fast one under the same client passes', async (t) => {
  const peer = await mcpPeer(t, { slowMs: 3000 })
  const c = new ProviderClient({ urlOf: () => peer.url, tokenOf: () => undefined, version: '1', timeoutMs: 1000 })
  const started = Date.now()
  await t.rejects(c.callTool('fetch', 'slow', {}), /timed out|timeout/i)
  t.ok(Date.now() - started < 2900, 'gave up before the answer')
  t.strictSame((await c.callTool('fetch', 'echo', {})).content, [{ type: 'text', text: '{}' }])
})

t.test('an unreachable sidecar is an error (a closed loopback port)', async (t) => {
  const c = new ProviderClient({ urlOf: () => 'http://127.0.0.1:9/mcp', tokenOf: () => undefined, version: '1', timeoutMs: 3000 })
  await t.rejects(c.listTools('fetch'))
})
