// aggregator/mcp/tools.ts: the hangar_* tools over a real service (store, registry, policy and
// baseline book) and a real MCP peer standing in for a sidecar, driven by an SDK client:
// results as JSON text plus structuredContent, user-fixable errors as isError results, input
// schemas enforced, quarantines recorded with who asked.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import t from 'tap'
import { ProviderClient } from '../../../aggregator/mcp/provider-client.js'
import { createHangarMcpServer } from '../../../aggregator/mcp/tools.js'
import { createAggregatorMetrics } from '../../../aggregator/metrics.js'
import { heartbeatSchema } from '../../../aggregator/registry.js'
import { mcpPeer } from '../../fixtures/aggregator/mcp-peer.js'
import { serviceRig } from '../../fixtures/aggregator/service.js'
import { signal } from '../../fixtures/aggregator/signals.js'
import { makeBaseline } from '../../helpers/baseline.js'

type Result = { content: Array<{ type: string; text: string }>; structuredContent?: Record<string, unknown>; isError?: boolean }

async function rig(t: Parameters<typeof serviceRig>[0], caller?: string) {
  const r = await serviceRig(t, ['fetch', 'idle'])
  const peer = await mcpPeer(t, { tools: 3, pageSize: 2 })
  r.registry.beat(heartbeatSchema.parse({ provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready', mcp_url: peer.url }))
  const metrics = createAggregatorMetrics()
  const providers = new ProviderClient({ urlOf: (n) => r.service.mcpUrl(n), tokenOf: () => 'ingress-token', version: '0.1.0', timeoutMs: 5000 })
  const server = createHangarMcpServer({ service: r.service, metrics, providers, version: '0.1.0', ...(caller && { caller }) })
  const client = new Client({ name: 'test', version: '1' })
  const [a, b] = InMemoryTransport.createLinkedPair()
  await server.connect(a)
  await client.connect(b)
  t.teardown(async () => {
    await client.close()
    await server.close()
  })
  const call = async (name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as Result
  return { ...r, peer, metrics, client, call }
}

t.test('the tool list: every hangar_* tool with its annotations', async (t) => {
  const r = await rig(t)
  const tools = (await r.client.listTools()).tools
  t.strictSame(tools.map((x) => x.name).sort(), ['hangar_approve', 'hangar_baseline', 'hangar_call', 'hangar_details', 'hangar_health', 'hangar_list', 'hangar_metrics', 'hangar_quarantine', 'hangar_tools', 'hangar_violations'])
  const q = tools.find((x) => x.name === 'hangar_quarantine')!
  t.equal(q.annotations?.destructiveHint, true)
  t.equal(tools.find((x) => x.name === 'hangar_list')!.annotations?.readOnlyHint, true)
})

t.test('hangar_list and hangar_health: states, filter, attention list', async (t) => {
  const r = await rig(t)
  r.service.quarantine('idle', 'odd', 'api')
  const list = await r.call('hangar_list')
  t.strictSame((list.structuredContent!.providers as Array<{ name: string; state: string }>).map((p) => [p.name, p.state]), [['fetch', 'ready'], ['idle', 'quarantined']])
  t.strictSame(JSON.parse(list.content[0]!.text), list.structuredContent, 'text and structuredContent agree')
  const only = await r.call('hangar_list', { state: 'ready' })
  t.strictSame((only.structuredContent!.providers as Array<{ name: string }>).map((p) => p.name), ['fetch'])
  const bad = await r.call('hangar_list', { state: 'broken' })
  t.equal(bad.isError, true, 'an enum value outside the schema is refused')
  const h = await r.call('hangar_health')
  t.strictSame(h.structuredContent, { status: 'ok', providers: 2, counts: { ready: 1, degraded: 0, quarantined: 1, unreachable: 0 }, attention: [{ name: 'idle', state: 'quarantined', reason: 'odd' }] })
})

t.test('hangar_details: the provider view; an unknown provider is an isError result naming it', async (t) => {
  const r = await rig(t)
  const d = await r.call('hangar_details', { provider: 'fetch' })
  t.equal(d.structuredContent!.name, 'fetch')
  t.equal(d.structuredContent!.state, 'ready')
  const u = await r.call('hangar_details', { provider: 'ghost' })
  t.equal(u.isError, true)
  t.match(u.content[0]!.text, /No provider "ghost" is configured/)
  const invalid = await r.call('hangar_details', { provider: '../etc' })
  t.equal(invalid.isError, true, 'a name outside the provider pattern is refused by the schema')
})

t.test('hangar_baseline: summary line then the document; not shipped yet; unknown', async (t) => {
  const r = await rig(t)
  const none = await r.call('hangar_baseline', { provider: 'fetch' })
  t.equal(none.isError, true)
  t.match(none.content[0]!.text, /has not shipped a baseline yet/)
  t.match((await r.call('hangar_baseline', { provider: 'ghost' })).content[0]!.text, /No provider "ghost"/)
  r.baselines.offer(makeBaseline({ provider: 'fetch' }))
  const b = await r.call('hangar_baseline', { provider: 'fetch' })
  t.notOk(b.isError)
  t.equal(b.content.length, 2)
  t.match(b.content[0]!.text, /^Baseline of "fetch": 0 destinations, 0 DNS names, 0 tools/)
  t.equal(JSON.parse(b.content[1]!.text).schema, 'hangar.baseline/v1')
  t.equal(b.structuredContent, undefined, 'no structuredContent: the document can be megabytes')
})

t.test('hangar_violations: violations only, newest first, filters and paging', async (t) => {
  const r = await rig(t)
  await r.service.ingest([signal(1), signal(2, { kind: 'observation', type: 'egress_allowed', severity: 'info' }), signal(3, { type: 'tool_denied' }), signal(4, { provider: 'idle' })])
  const all = await r.call('hangar_violations')
  t.strictSame((all.structuredContent!.signals as Array<{ id: string }>).map((s) => s.id), [signal(4).id, signal(3).id, signal(1).id])
  const one = await r.call('hangar_violations', { provider: 'fetch', type: 'tool_denied' })
  t.strictSame((one.structuredContent!.signals as Array<{ id: string }>).map((s) => s.id), [signal(3).id])
  const p1 = await r.call('hangar_violations', { limit: 2 })
  const p2 = await r.call('hangar_violations', { limit: 2, cursor: p1.structuredContent!.next_cursor })
  t.strictSame((p2.structuredContent!.signals as Array<{ id: string }>).map((s) => s.id), [signal(1).id])
  const since = await r.call('hangar_violations', { since: signal(3).time })
  t.equal((since.structuredContent!.signals as unknown[]).length, 2)
  t.equal((await r.call('hangar_violations', { since: 'yesterday' })).isError, true, 'since must be RFC 3339')
  t.equal((await r.call('hangar_violations', { limit: 0 })).isError, true, 'limit at least 1')
})

t.test('hangar_quarantine and hangar_approve: recorded with the caller, counted once', async (t) => {
  const r = await rig(t, 'alice')
  const q = await r.call('hangar_quarantine', { provider: 'fetch', reason: 'exfiltration' })
  t.strictSame([q.structuredContent!.quarantined, q.structuredContent!.changed, q.structuredContent!.by], [true, true, 'mcp:alice'])
  t.equal((await r.call('hangar_quarantine', { provider: 'fetch', reason: 'again' })).structuredContent!.changed, false)
  t.equal((await r.metrics.quarantines.get()).values.find((v) => v.labels.by === 'mcp')?.value, 1)
  t.equal((await r.call('hangar_quarantine', { provider: 'fetch', reason: '' })).isError, true, 'a reason is required')
  t.equal((await r.call('hangar_quarantine', { provider: 'ghost', reason: 'x' })).isError, true)
  const a = await r.call('hangar_approve', { provider: 'fetch' })
  t.strictSame([a.structuredContent!.quarantined, a.structuredContent!.reason, a.structuredContent!.by], [false, 'approved through hangar_approve', 'mcp:alice'])
  t.equal((await r.call('hangar_approve', { provider: 'ghost' })).isError, true)
})

t.test('without a caller, actions are recorded as "mcp"', async (t) => {
  const r = await rig(t)
  t.equal((await r.call('hangar_quarantine', { provider: 'fetch', reason: 'x' })).structuredContent!.by, 'mcp')
})

t.test('hangar_tools and hangar_call go through the sidecar with the caller and token', async (t) => {
  const r = await rig(t, 'bob')
  const tools = await r.call('hangar_tools', { provider: 'fetch' })
  t.strictSame((tools.structuredContent!.tools as Array<{ name: string }>).map((x) => x.name), ['echo', 'tool1', 'tool2'], 'all pages')
  t.equal(r.peer.headers[0]!['x-hangar-caller'], 'aggregator/bob')
  t.equal(r.peer.headers[0]!.authorization, 'Bearer ingress-token')
  const c = await r.call('hangar_call', { provider: 'fetch', tool: 'echo', arguments: { q: 'x' } })
  t.strictSame(c.content, [{ type: 'text', text: '{"q":"x"}' }], "the tool's result as is")
  const refused = await r.call('hangar_call', { provider: 'fetch', tool: 'refuse' })
  t.equal(refused.isError, true)
  t.match(refused.content[0]!.text, /^The call to fetch\/refuse failed: .*denied by policy/)
  const idle = await r.call('hangar_tools', { provider: 'idle' })
  t.equal(idle.isError, true)
  t.match(idle.content[0]!.text, /Could not list the tools of "idle": its sidecar has not reported an MCP URL/)
  t.match((await r.call('hangar_call', { provider: 'ghost', tool: 'x' })).content[0]!.text, /No provider "ghost"/)
})

t.test('hangar_metrics: our counters without process metrics, and violations by provider', async (t) => {
  const r = await rig(t)
  await r.service.ingest([signal(1), signal(2)])
  r.metrics.batches.inc({ outcome: 'accepted' })
  const m = await r.call('hangar_metrics')
  const names = (m.structuredContent!.metrics as Array<{ name: string }>).map((x) => x.name)
  t.ok(names.includes('mcp_hangar_aggregator_signal_batches_total'))
  t.notOk(names.some((n) => /process_|nodejs_/.test(n)), 'no process or nodejs metrics')
  t.strictSame(m.structuredContent!.violations_by_provider, { fetch: 2, idle: 0 })
})
