// aggregator/mcp/endpoint.ts: /mcp in stateless Streamable HTTP mode (no session id, JSON
// answers, a fresh server per request) naming the caller from the request (bearer JWT sub, else
// X-Hangar-Caller) so actions are recorded with who asked.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import t from 'tap'
import { request } from 'undici'
import { mcpEndpoint } from '../../../aggregator/mcp/endpoint.js'
import { ProviderClient } from '../../../aggregator/mcp/provider-client.js'
import { createAggregatorMetrics } from '../../../aggregator/metrics.js'
import { handlerServer, serviceRig } from '../../fixtures/aggregator/service.js'

async function rig(t: Parameters<typeof serviceRig>[0]) {
  const r = await serviceRig(t, ['fetch'])
  const metrics = createAggregatorMetrics()
  const providers = new ProviderClient({ urlOf: () => undefined, tokenOf: () => undefined, version: '7.7.7' })
  const { base } = await handlerServer(t, mcpEndpoint({ service: r.service, metrics, providers, version: '7.7.7' }))
  const connect = async (headers: Record<string, string> = {}) => {
    const client = new Client({ name: 'test', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }))
    t.teardown(() => client.close())
    return client
  }
  return { ...r, base, connect }
}

const jwt = (payload: object) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`

t.test('initialize: serverInfo with the version, no session id, a JSON answer', async (t) => {
  const r = await rig(t)
  const res = await request(`${r.base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  })
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), /^application\/json/)
  t.equal(res.headers['mcp-session-id'], undefined, 'stateless: no session')
  const body = (await res.body.json()) as { result: { serverInfo: { name: string; version: string } } }
  t.strictSame(body.result.serverInfo, { name: 'mcp-hangar-aggregator', version: '7.7.7' })
})

t.test('a request without initialize works too (a fresh server per request)', async (t) => {
  const r = await rig(t)
  const res = await request(`${r.base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
  })
  const body = (await res.body.json()) as { result?: { tools: Array<{ name: string }> } }
  t.ok(body.result?.tools.some((x) => x.name === 'hangar_list'))
})

t.test('the caller: a bearer JWT sub wins over X-Hangar-Caller; the header alone names it; none gives "mcp"', async (t) => {
  const r = await rig(t)
  const cases: Array<[string, Record<string, string>, string]> = [
    ['JWT sub', { authorization: `Bearer ${jwt({ sub: 'carol' })}`, 'x-hangar-caller': 'dave' }, 'mcp:carol'],
    ['header', { 'x-hangar-caller': 'dave' }, 'mcp:dave'],
    ['unprintable header ignored', { 'x-hangar-caller': 'a\tb' }, 'mcp'],
    ['opaque token, no header', { authorization: 'Bearer opaque' }, 'mcp'],
  ]
  for (const [name, headers, by] of cases) {
    const client = await r.connect(headers)
    r.service.approve('fetch', 'reset', 'test')
    const res = (await client.callTool({ name: 'hangar_quarantine', arguments: { provider: 'fetch', reason: name } })) as unknown as { structuredContent: { by: string } }
    t.equal(res.structuredContent.by, by, name)
  }
})

t.test('two clients share nothing but the service', async (t) => {
  const r = await rig(t)
  const a = await r.connect({ 'x-hangar-caller': 'a' })
  const b = await r.connect({ 'x-hangar-caller': 'b' })
  await a.callTool({ name: 'hangar_quarantine', arguments: { provider: 'fetch', reason: 'from a' } })
  const seen = (await b.callTool({ name: 'hangar_details', arguments: { provider: 'fetch' } })) as unknown as { structuredContent: { quarantined: boolean; quarantine_reason: string } }
  t.strictSame([seen.structuredContent.quarantined, seen.structuredContent.quarantine_reason], [true, 'from a'])
})
