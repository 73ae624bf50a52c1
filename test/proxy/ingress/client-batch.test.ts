/**
 * inspectPost, settle and settleAll (proxy/ingress/client-batch.ts) over a real Inspector (the
 * inspection harness: temp data dir, memory sink, fresh metrics): a POST body's messages are
 * split into what is forwarded and what the sidecar answers, in body order, invalid batch
 * elements first; a refused notification is never answered; forwarded requests are indexed with
 * their tickets; a repeated id in a batch finishes the earlier ticket (its concurrency slot does
 * not leak); waiting verdicts make the result async; settle/settleAll finish tickets once.
 */
import t from 'tap'
import { emptyInspectedPost, inspectPost, settle, settleAll, type InspectedPost } from '../../../proxy/ingress/client-batch.js'
import { rpcError, RPC, type JsonRpcMessage, type JsonRpcResultResponse } from '../../../proxy/types.js'
import { callRequest, CTX, harness, TOOLS } from '../inspect/harness.js'

type Tap = Parameters<typeof harness>[0]

const notification = (method: string, params?: Record<string, unknown>): JsonRpcMessage => ({ jsonrpc: '2.0', method, ...(params && { params }) })
const ok = (id: number | string): JsonRpcResultResponse => ({ jsonrpc: '2.0', id, result: { content: [] } })

function rig(t: Tap, caps: Record<string, unknown> = { tools: { deny_list: ['delete_*'] } }, maxConcurrency = 10) {
  const h = harness(t, caps, { maxConcurrency })
  h.list(Object.values(TOOLS))
  return h
}

const sync = (r: InspectedPost | Promise<InspectedPost>): InspectedPost => {
  if (r instanceof Promise) throw new Error('expected a synchronous verdict')
  return r
}

t.test('emptyInspectedPost: nothing to forward or answer', async (t) => {
  const e = emptyInspectedPost()
  t.same(e.forward, [])
  t.same(e.replies, [])
  t.equal(e.requests.size + e.tickets.size + e.spans.size, 0)
})

t.test('a batch: allowed messages forwarded in order; refused calls answered after the invalid elements; tickets for tool calls only', async (t) => {
  const h = rig(t)
  const invalid = [rpcError(null, RPC.INVALID_REQUEST, 'invalid request')]
  const msgs: JsonRpcMessage[] = [
    callRequest('fetch_html', { url: 'https://a.example' }, 1),
    notification('notifications/initialized'),
    callRequest('delete_cache', {}, 2),
    { jsonrpc: '2.0', id: 3, method: 'ping' },
    callRequest('fetch_markdown', { url: 'https://b.example' }, 4),
  ]
  const r = sync(inspectPost(h.inspector, msgs, invalid, CTX))
  t.same(r.forward.map((m) => ('id' in m ? m.id : (m as { method: string }).method)), [1, 'notifications/initialized', 3, 4])
  t.equal(r.replies.length, 2)
  t.same(r.replies[0], invalid[0], 'the invalid element is answered first')
  t.match(r.replies[1], { id: 2, error: { code: RPC.POLICY_DENIED } }, 'the denied tool gets a policy error')
  t.same([...r.requests.keys()], [1, 3, 4])
  t.same([...r.tickets.keys()], [1, 4], 'tickets only for forwarded tools/call')
  t.equal(r.spans.size, 0, 'no spans without tracing')
  t.equal(h.signals('tool_denied').length, 1)
})

t.test('a refused notification gets no answer (JSON-RPC 2.0 §4.1); the same message with an id does', async (t) => {
  const h = rig(t)
  const asNotification = { jsonrpc: '2.0', method: 'tools/call', params: { name: 'delete_cache', arguments: {} } } as JsonRpcMessage
  const r = sync(inspectPost(h.inspector, [asNotification], [], CTX))
  t.same(r.forward, [])
  t.same(r.replies, [], 'refused, and not answered')
  const withId = sync(inspectPost(h.inspector, [callRequest('delete_cache', {}, 9)], [], CTX))
  t.match(withId.replies, [{ id: 9, error: { code: RPC.POLICY_DENIED } }], 'control: a request is answered')
})

t.test('a repeated request id: the earlier ticket is finished so its concurrency slot is free again', async (t) => {
  const h = rig(t, {}, 2)
  const r = sync(inspectPost(h.inspector, [callRequest('fetch_html', { url: 'https://a.example' }, 7), callRequest('fetch_html', { url: 'https://b.example' }, 7)], [], CTX))
  t.equal(r.forward.length, 2, 'both are forwarded (the provider answers what it will)')
  t.equal(r.tickets.size, 1)
  t.equal(r.requests.get(7), r.forward[1], 'the id maps to the later request')
  t.equal(await h.metric('mcp_hangar_tool_calls_total', { provider: 'p', tool: 'fetch_html', outcome: 'unavailable' }), 1, 'the earlier call was finished as unavailable')
  const third = h.inspector.onClientMessage(callRequest('fetch_html', { url: 'https://c.example' }, 8), CTX)
  t.notOk(third instanceof Promise, 'a slot is free: with max_concurrency 2, the next call goes at once')
  const fourth = h.inspector.onClientMessage(callRequest('fetch_html', { url: 'https://d.example' }, 9), CTX)
  t.ok(fourth instanceof Promise, 'control: now both slots are held and a call waits')
  settleAll(r, 'unavailable')
  const v = await fourth
  t.equal(v.action, 'forward', 'released by settleAll')
  if (!(third instanceof Promise) && third.action === 'forward') third.ticket?.finish(ok(8))
  if (v.action === 'forward') v.ticket?.finish(ok(9))
})

t.test('a waiting verdict makes the whole batch async, in body order', async (t) => {
  const h = rig(t, {}, 1)
  const first = sync(inspectPost(h.inspector, [callRequest('fetch_html', { url: 'https://a.example' }, 1)], [], CTX))
  const pending = inspectPost(h.inspector, [{ jsonrpc: '2.0', id: 2, method: 'ping' }, callRequest('fetch_html', { url: 'https://b.example' }, 3)], [], CTX)
  t.ok(pending instanceof Promise, 'the call waits for the only slot')
  setTimeout(() => settle(first, 1, ok(1)), 30)
  const r = await pending
  t.same(r.forward.map((m) => ('id' in m ? m.id : null)), [2, 3])
  t.same([...r.tickets.keys()], [3])
  settle(r, 3, ok(3))
})

t.test('settle: finishes the ticket once with the outcome; unknown ids are ignored; settleAll finishes the rest', async (t) => {
  const h = rig(t)
  const r = sync(inspectPost(h.inspector, [1, 2, 3].map((id) => callRequest('fetch_html', { url: 'https://a.example' }, id)), [], CTX))
  settle(r, 1, ok(1))
  settle(r, 1, ok(1))
  settle(r, 2, { jsonrpc: '2.0', id: 2, error: { code: -1, message: 'provider error' } })
  settle(r, 99, ok(99))
  t.same([...r.tickets.keys()], [3])
  settleAll(r, 'timeout')
  t.equal(r.tickets.size, 0)
  const m = (outcome: string) => h.metric('mcp_hangar_tool_calls_total', { provider: 'p', tool: 'fetch_html', outcome })
  t.same([await m('ok'), await m('error'), await m('timeout'), await m('unavailable')], [1, 1, 1, 0])
})
