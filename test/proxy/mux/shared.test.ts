import t from 'tap'
import { pino } from 'pino'
import { SharedMux, type MuxClient } from '../../../proxy/mux/shared.js'
import type { JsonRpcId, JsonRpcMessage } from '../../../proxy/types.js'

const log = pino({ level: 'silent' })

interface Got {
  msg: JsonRpcMessage
  related: JsonRpcId | undefined
}

function client(sessionId: string, capabilities: Record<string, unknown> = {}): MuxClient & { got: Got[] } {
  const got: Got[] = []
  return { sessionId, capabilities, got, deliver: (msg, related) => got.push({ msg, related }) }
}

function setup() {
  const sent: JsonRpcMessage[] = []
  let now = 1000
  const mux = new SharedMux({ send: (m) => sent.push(m) }, log, () => now)
  return { mux, sent, tick: (ms: number) => (now += ms) }
}

t.test('requests get provider-side ids; responses go back to their session with the client id', async (t) => {
  const { mux, sent } = setup()
  const a = client('A')
  const b = client('B')
  mux.attach(a)
  mux.attach(b)
  const upA = mux.fromClient('A', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } })
  const upB = mux.fromClient('B', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add' } })
  t.not(upA, upB, 'same client id in two sessions → distinct provider ids')
  t.strictSame(sent.map((m) => ('id' in m ? m.id : null)), [upA, upB])
  t.equal(mux.inFlight, 2)
  // Answer B first: interleaved.
  mux.fromServer({ jsonrpc: '2.0', id: upB!, result: { content: [{ type: 'text', text: 'B' }] } })
  mux.fromServer({ jsonrpc: '2.0', id: upA!, result: { content: [{ type: 'text', text: 'A' }] } })
  t.strictSame(a.got, [{ msg: { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'A' }] } }, related: 1 }])
  t.strictSame(b.got, [{ msg: { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'B' }] } }, related: 1 }])
  t.equal(mux.inFlight, 0)
  // A duplicate/late response is dropped, not delivered anywhere.
  mux.fromServer({ jsonrpc: '2.0', id: upA!, result: {} })
  t.equal(a.got.length + b.got.length, 2)
})

t.test('string client ids survive the round trip; errors are routed like results', async (t) => {
  const { mux } = setup()
  const a = client('A')
  mux.attach(a)
  const up = mux.fromClient('A', { jsonrpc: '2.0', id: 'req-7', method: 'tools/call', params: { name: 'x' } })!
  mux.fromServer({ jsonrpc: '2.0', id: up, error: { code: -32602, message: 'bad' } })
  t.strictSame(a.got[0], { msg: { jsonrpc: '2.0', id: 'req-7', error: { code: -32602, message: 'bad' } }, related: 'req-7' })
})

t.test('progress tokens are made unique per session and restored on the way back', async (t) => {
  const { mux, sent } = setup()
  const a = client('A')
  const b = client('B')
  mux.attach(a)
  mux.attach(b)
  const upA = mux.fromClient('A', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'p', _meta: { progressToken: 'tok' } } })!
  const upB = mux.fromClient('B', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'p', _meta: { progressToken: 'tok' } } })!
  const tokA = (sent[0] as unknown as { params: { _meta: { progressToken: string } } }).params._meta.progressToken
  const tokB = (sent[1] as unknown as { params: { _meta: { progressToken: string } } }).params._meta.progressToken
  t.not(tokA, tokB, 'the provider sees two different tokens')
  mux.fromServer({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: tokB, progress: 1, total: 2 } })
  mux.fromServer({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: tokA, progress: 1, total: 3 } })
  t.strictSame(a.got, [{ msg: { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok', progress: 1, total: 3 } }, related: 1 }])
  t.strictSame(b.got, [{ msg: { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok', progress: 1, total: 2 } }, related: 9 }])
  // After the response the token is gone: late progress is dropped.
  mux.fromServer({ jsonrpc: '2.0', id: upA, result: {} })
  mux.fromServer({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: tokA, progress: 2 } })
  t.equal(a.got.length, 2, 'only the response arrived after the first progress')
  void upB
})

t.test('list_changed and other notifications are broadcast; resources/updated go to subscribers', async (t) => {
  const { mux } = setup()
  const a = client('A')
  const b = client('B')
  mux.attach(a)
  mux.attach(b)
  mux.fromServer({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })
  t.equal(a.got.length, 1)
  t.equal(b.got.length, 1)
  const up = mux.fromClient('B', { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'file:///x' } })!
  mux.fromServer({ jsonrpc: '2.0', id: up, result: {} })
  mux.fromServer({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///x' } })
  t.equal(a.got.length, 1, 'A did not subscribe')
  t.equal(b.got.at(-1)!.msg && 'method' in b.got.at(-1)!.msg ? (b.got.at(-1)!.msg as { method: string }).method : '', 'notifications/resources/updated')
})

t.test('a provider→client request goes to the session with the newest request in flight, capability permitting', async (t) => {
  const { mux, sent, tick } = setup()
  const a = client('A', { sampling: {} })
  const b = client('B', { sampling: {} })
  const c = client('C', {})
  for (const x of [a, b, c]) mux.attach(x)
  mux.fromClient('A', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow' } })
  tick(5)
  mux.fromClient('B', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ask' } })
  tick(5)
  mux.fromClient('C', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ask' } })
  mux.fromServer({ jsonrpc: '2.0', id: 77, method: 'sampling/createMessage', params: { messages: [] } })
  t.equal(c.got.length, 0, 'C is newest but declared no sampling capability')
  t.equal(b.got.length, 1, 'B: newest in-flight request among capable sessions')
  const delivered = b.got[0]!
  t.equal(delivered.related, 2, 'related to B’s in-flight request, so it rides that POST stream')
  const hid = (delivered.msg as { id: string }).id
  t.type(hid, 'string')
  // B answers with the session-side id; the provider gets its own id back.
  mux.fromClient('B', { jsonrpc: '2.0', id: hid, result: { role: 'assistant', content: { type: 'text', text: 'hi' } } })
  t.strictSame(sent.at(-1), { jsonrpc: '2.0', id: 77, result: { role: 'assistant', content: { type: 'text', text: 'hi' } } })
  // A session answering someone else's request is ignored.
  mux.fromServer({ jsonrpc: '2.0', id: 78, method: 'sampling/createMessage', params: {} })
  const hid2 = (b.got[1]!.msg as { id: string }).id
  const before = sent.length
  mux.fromClient('A', { jsonrpc: '2.0', id: hid2, result: {} })
  t.equal(sent.length, before, 'A cannot answer a request sent to B')
})

t.test('no capable session → -32601 to the provider; ping is answered by the sidecar', async (t) => {
  const { mux, sent } = setup()
  mux.attach(client('A'))
  mux.fromServer({ jsonrpc: '2.0', id: 5, method: 'elicitation/create', params: {} })
  t.match(sent.at(-1), { id: 5, error: { code: -32601 } })
  mux.fromServer({ jsonrpc: '2.0', id: 6, method: 'ping' })
  t.strictSame(sent.at(-1), { jsonrpc: '2.0', id: 6, result: {} })
})

t.test('with nothing in flight, the most recently active capable session is asked', async (t) => {
  const { mux, tick } = setup()
  const a = client('A', { roots: {} })
  const b = client('B', { roots: {} })
  mux.attach(a)
  mux.attach(b)
  tick(10)
  mux.fromClient('A', { jsonrpc: '2.0', method: 'notifications/roots/list_changed' })
  mux.fromServer({ jsonrpc: '2.0', id: 1, method: 'roots/list' })
  t.equal(a.got.length, 1)
  t.equal(a.got[0]!.related, undefined, 'no request to relate to: standalone stream')
  t.equal(b.got.length, 0)
})

t.test('cancellation follows the request; detach cancels what the session left in flight', async (t) => {
  const { mux, sent } = setup()
  const a = client('A')
  mux.attach(a)
  const up = mux.fromClient('A', { jsonrpc: '2.0', id: 'x', method: 'tools/call', params: { name: 'slow' } })!
  mux.fromClient('A', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'x', reason: 'user' } })
  t.strictSame(sent.at(-1), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: up, reason: 'user' } })
  t.equal(mux.inFlight, 0)
  const up2 = mux.fromClient('A', { jsonrpc: '2.0', id: 'y', method: 'tools/call', params: { name: 'slow' } })!
  mux.detach('A')
  t.match(sent.at(-1), { method: 'notifications/cancelled', params: { requestId: up2 } })
  t.equal(mux.inFlight, 0)
  t.equal(mux.sessions, 0)
  t.throws(() => mux.fromClient('A', { jsonrpc: '2.0', id: 1, method: 'ping' }), /unknown session/)
})

t.test('notifications/initialized from a client is absorbed; failAll answers every pending request', async (t) => {
  const { mux, sent } = setup()
  const a = client('A')
  mux.attach(a)
  mux.fromClient('A', { jsonrpc: '2.0', method: 'notifications/initialized' })
  t.equal(sent.length, 0)
  mux.fromClient('A', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a' } })
  mux.fromClient('A', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'b' } })
  mux.failAll(-32003, 'provider exited')
  t.strictSame(a.got.map((g) => g.msg), [
    { jsonrpc: '2.0', id: 1, error: { code: -32003, message: 'provider exited' } },
    { jsonrpc: '2.0', id: 2, error: { code: -32003, message: 'provider exited' } },
  ])
})
