// JSON-RPC framing of the ingress (proxy/http/jsonrpc.ts): every message shape, the MCP
// restrictions (no null ids, params an object, strict member sets), batches, and the depth
// pre-scan that keeps deep bodies from ever reaching JSON.parse.
import t from 'tap'
import { classifyMessage, exceedsDepth, parseBody, type BodyParsed } from '../../../proxy/http/jsonrpc.js'
import { RPC } from '../../../proxy/types.js'

const DEPTH = 64

function parsed(text: string): BodyParsed {
  const r = parseBody(text, DEPTH)
  if (!r.ok) throw new Error(`refused: ${r.error.error.message}`)
  return r
}

t.test('valid elements of every kind pass unchanged', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['request, integer id', { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
    ['request, string id', { jsonrpc: '2.0', id: 'abc', method: 'tools/call', params: { name: 'x', arguments: { a: [1, 2] } } }],
    ['request, negative id', { jsonrpc: '2.0', id: -7, method: 'ping' }],
    ['request, id 0', { jsonrpc: '2.0', id: 0, method: 'ping' }],
    ['request, empty string id', { jsonrpc: '2.0', id: '', method: 'ping' }],
    ['request, largest safe integer id', { jsonrpc: '2.0', id: Number.MAX_SAFE_INTEGER, method: 'ping' }],
    ['request, params with _meta', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { _meta: { progressToken: 'p' }, name: 'x' } }],
    ['request, arrays inside params', { jsonrpc: '2.0', id: 3, method: 'x', params: { list: [[1], [2, [3]]] } }],
    ['notification', { jsonrpc: '2.0', method: 'notifications/initialized' }],
    ['notification with params', { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 0.5 } }],
    ['result response', { jsonrpc: '2.0', id: 5, result: {} }],
    ['result response with content', { jsonrpc: '2.0', id: 'r', result: { content: [{ type: 'text', text: 'hi' }] } }],
    ['error response', { jsonrpc: '2.0', id: 6, error: { code: -32601, message: 'Method not found' } }],
    ['error response with data', { jsonrpc: '2.0', id: 7, error: { code: -32602, message: 'bad', data: { why: [1] } } }],
    ['error response, id null', { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }],
  ]
  for (const [name, msg] of cases) {
    const r = parsed(JSON.stringify(msg))
    t.strictSame(r, { ok: true, batch: false, messages: [msg], invalid: [] }, name)
  }
})

t.test('an error response without id gets id null', async (t) => {
  const r = parsed('{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"}}')
  t.strictSame(r.messages, [{ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null }])
})

t.test('invalid elements get -32600 with their id when readable', async (t) => {
  const cases: Array<[string, string, string | number | null, RegExp]> = [
    ['jsonrpc missing', '{"id":1,"method":"x"}', 1, /jsonrpc must be "2.0"/],
    ['jsonrpc 1.0', '{"jsonrpc":"1.0","id":1,"method":"x"}', 1, /jsonrpc/],
    ['jsonrpc as number', '{"jsonrpc":2.0,"id":1,"method":"x"}', 1, /jsonrpc/],
    ['id null on a request (MCP forbids)', '{"jsonrpc":"2.0","id":null,"method":"x"}', null, /id must be a string or an integer/],
    ['fractional id', '{"jsonrpc":"2.0","id":1.5,"method":"x"}', null, /id must be/],
    ['unsafe integer id', '{"jsonrpc":"2.0","id":9007199254740993,"method":"x"}', null, /id must be/],
    ['boolean id', '{"jsonrpc":"2.0","id":true,"method":"x"}', null, /id must be/],
    ['object id', '{"jsonrpc":"2.0","id":{},"method":"x"}', null, /id must be/],
    ['method a number', '{"jsonrpc":"2.0","id":"a","method":5}', 'a', /method must be a string/],
    ['method null', '{"jsonrpc":"2.0","id":"a","method":null}', 'a', /method must be a string/],
    ['params an array (MCP: object)', '{"jsonrpc":"2.0","id":2,"method":"x","params":[1,2]}', 2, /params must be an object/],
    ['params null', '{"jsonrpc":"2.0","id":2,"method":"x","params":null}', 2, /params must be an object/],
    ['params a string', '{"jsonrpc":"2.0","method":"x","params":"p"}', null, /params must be an object/],
    ['params._meta a string', '{"jsonrpc":"2.0","id":2,"method":"x","params":{"_meta":"m"}}', 2, /_meta must be an object/],
    ['extra member on a request', '{"jsonrpc":"2.0","id":3,"method":"x","extra":1}', 3, /unexpected member "extra"/],
    ['extra member on a notification', '{"jsonrpc":"2.0","method":"x","foo":{}}', null, /unexpected member "foo"/],
    ['__proto__ member', '{"jsonrpc":"2.0","id":3,"method":"x","__proto__":{"a":1}}', 3, /unexpected member "__proto__"/],
    ['request that also has result', '{"jsonrpc":"2.0","id":4,"method":"x","result":{}}', 4, /unexpected member "result"/],
    ['result and error together', '{"jsonrpc":"2.0","id":4,"result":{},"error":{"code":1,"message":"m"}}', 4, /unexpected member "error"/],
    ['result not an object', '{"jsonrpc":"2.0","id":4,"result":"ok"}', 4, /result must be an object/],
    ['result an array', '{"jsonrpc":"2.0","id":4,"result":[]}', 4, /result must be an object/],
    ['result without id', '{"jsonrpc":"2.0","result":{}}', null, /id must be/],
    ['result with id null', '{"jsonrpc":"2.0","id":null,"result":{}}', null, /id must be/],
    ['error code fractional', '{"jsonrpc":"2.0","id":5,"error":{"code":1.5,"message":"m"}}', 5, /error.code must be an integer/],
    ['error code a string', '{"jsonrpc":"2.0","id":5,"error":{"code":"1","message":"m"}}', 5, /error.code/],
    ['error message missing', '{"jsonrpc":"2.0","id":5,"error":{"code":1}}', 5, /error.message must be a string/],
    ['error not an object', '{"jsonrpc":"2.0","id":5,"error":"boom"}', 5, /error must be an object/],
    ['error extra member', '{"jsonrpc":"2.0","id":5,"error":{"code":1,"message":"m","stack":"s"}}', 5, /unexpected member "error.stack"/],
    ['error id boolean', '{"jsonrpc":"2.0","id":false,"error":{"code":1,"message":"m"}}', null, /id must be/],
    ['nothing but jsonrpc', '{"jsonrpc":"2.0"}', null, /neither a request/],
    ['only an id', '{"jsonrpc":"2.0","id":9}', 9, /neither a request/],
  ]
  for (const [name, text, id, message] of cases) {
    const r = parsed(text)
    t.equal(r.batch, false, name)
    t.strictSame(r.messages, [], `${name}: no message`)
    t.equal(r.invalid.length, 1, name)
    const e = r.invalid[0]!
    t.equal(e.jsonrpc, '2.0', name)
    t.equal(e.id, id, `${name}: id`)
    t.equal(e.error.code, RPC.INVALID_REQUEST, `${name}: code`)
    t.match(e.error.message, message, `${name}: message`)
  }
})

t.test('non-object top levels are one invalid element with id null', async (t) => {
  for (const text of ['42', '"x"', 'null', 'true', '1.5']) {
    const r = parsed(text)
    t.strictSame(r.messages, [], text)
    t.equal(r.invalid.length, 1, text)
    t.equal(r.invalid[0]!.id, null, text)
    t.equal(r.invalid[0]!.error.code, RPC.INVALID_REQUEST, text)
  }
})

t.test('bodies that are not JSON are a -32700 parse error with id null', async (t) => {
  for (const text of ['', ' ', '{', '{"jsonrpc":"2.0",}', "{'a':1}", '[1,]', 'NaN', '{"a":1}{"b":2}', '\u0000']) {
    const r = parseBody(text, DEPTH)
    t.equal(r.ok, false, JSON.stringify(text))
    if (!r.ok) t.strictSame(r.error, { jsonrpc: '2.0', id: null, error: { code: RPC.PARSE_ERROR, message: 'Parse error: Invalid JSON' } }, JSON.stringify(text))
  }
})

t.test('a leading BOM is ignored; a BOM elsewhere is not JSON', async (t) => {
  const msg = { jsonrpc: '2.0', id: 1, method: 'ping' }
  t.strictSame(parsed('\ufeff' + JSON.stringify(msg)).messages, [msg])
  t.equal(parseBody(' \ufeff' + JSON.stringify(msg), DEPTH).ok, false)
})

t.test('duplicate keys: the last one wins, as JSON.parse does', async (t) => {
  const r = parsed('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"allowed","name":"denied"}}')
  t.strictSame(r.messages, [{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'denied' } }])
  // The re-serialised message carries only the inspected value.
  t.equal(JSON.stringify(r.messages[0]), '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"denied"}}')
  const dupId = parsed('{"jsonrpc":"2.0","id":null,"id":2,"method":"x"}')
  t.strictSame(dupId.messages, [{ jsonrpc: '2.0', id: 2, method: 'x' }])
})

t.test('integer-valued ids written with a fraction or exponent are integers', async (t) => {
  t.equal(parsed('{"jsonrpc":"2.0","id":1.0,"method":"x"}').messages.length, 1)
  t.equal(parsed('{"jsonrpc":"2.0","id":1e3,"method":"x"}').messages.length, 1)
  t.equal(parsed('{"jsonrpc":"2.0","id":1e-3,"method":"x"}').invalid.length, 1)
})

t.test('batches: valid and invalid elements apart, in order; empty and oversized batches refused', async (t) => {
  const r = parsed('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2},7,{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":3,"method":"b","params":[]}]')
  t.equal(r.batch, true)
  t.strictSame(r.messages, [{ jsonrpc: '2.0', id: 1, method: 'a' }, { jsonrpc: '2.0', method: 'n' }])
  t.strictSame(r.invalid.map((e) => e.id), [2, null, 3])
  t.ok(r.invalid.every((e) => e.error.code === RPC.INVALID_REQUEST))

  const one = parsed('[{"jsonrpc":"2.0","method":"n"}]')
  t.equal(one.batch, true, 'a batch of one is still a batch')

  const empty = parseBody('[]', DEPTH)
  t.equal(empty.ok, false)
  if (!empty.ok) t.strictSame(empty.error, { jsonrpc: '2.0', id: null, error: { code: RPC.INVALID_REQUEST, message: 'Invalid Request: empty batch' } })

  const big = JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', method: 'n', params: { i } })))
  const over = parseBody(big, DEPTH)
  t.equal(over.ok, false, 'default limit 100')
  if (!over.ok) t.equal(over.error.error.code, RPC.INVALID_REQUEST)
  t.equal(parseBody(big, DEPTH, { maxBatch: 101 }).ok, true, 'limit is an option')
  const nested = parsed('[[{"jsonrpc":"2.0","method":"n"}]]')
  t.strictSame(nested.messages, [], 'a nested array is an invalid element')
  t.equal(nested.invalid.length, 1)
})

t.test('depth: up to maxDepth passes, one more is a -32700 parse error, checked before JSON.parse', async (t) => {
  const at = (d: number) => `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":${'['.repeat(d - 2)}${']'.repeat(d - 2)}}}`
  t.equal(parseBody(at(DEPTH), DEPTH).ok, true, `depth ${DEPTH}`)
  const r = parseBody(at(DEPTH + 1), DEPTH)
  t.equal(r.ok, false)
  if (!r.ok) {
    t.equal(r.error.error.code, RPC.PARSE_ERROR)
    t.equal(r.error.id, null)
    t.match(r.error.error.message, /nested deeper than 64/)
  }
  // Brackets inside strings do not count, escaped quotes do not end strings.
  const inString = `{"jsonrpc":"2.0","id":1,"method":"x","params":{"s":"${'['.repeat(500)}\\"${'{'.repeat(500)}\\\\","t":"\\\\\\"[[["}}`
  t.equal(parseBody(inString, 3).ok, true, 'strings are skipped')
  t.equal(exceedsDepth('{"a":"\\\\"}', 1), false, 'an escaped backslash before the closing quote')
  t.equal(exceedsDepth('[{"a":"\\\\","b":{}}]', 2), true, 'the scan resumes after the string')
})

t.test('1,000,000 nested brackets: a parse error, not a stack overflow', async (t) => {
  for (const open of ['[', '{"a":']) {
    const text = open.repeat(1_000_000)
    const r = parseBody(text, DEPTH)
    t.equal(r.ok, false, open)
    if (!r.ok) t.equal(r.error.error.code, RPC.PARSE_ERROR, open)
  }
  // With a huge maxDepth the scan passes and JSON.parse still only reports a syntax error.
  const r = parseBody('['.repeat(1_000_000), 10_000_000)
  t.equal(r.ok, false)
})

t.test('exceedsDepth is linear on hostile input', async (t) => {
  // Many short strings and backslash runs: each character is visited a bounded number of times.
  const text = '["' + '\\\\'.repeat(200_000) + '",' + '"a",'.repeat(200_000) + '1]'
  const start = process.hrtime.bigint()
  t.equal(exceedsDepth(text, 2), false)
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.ok(ms < 2000, `scan of ${text.length} chars took ${ms.toFixed(1)} ms`)
})

t.test('classifyMessage validates provider messages the same way', async (t) => {
  t.strictSame(classifyMessage({ jsonrpc: '2.0', id: 1, result: { tools: [] } }), { ok: true, message: { jsonrpc: '2.0', id: 1, result: { tools: [] } } })
  t.strictSame(classifyMessage({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }), { ok: true, message: { jsonrpc: '2.0', method: 'notifications/tools/list_changed' } })
  const err = classifyMessage({ jsonrpc: '2.0', id: 'q', error: { code: -1, message: 'm' } })
  t.equal(err.ok, true, 'an error response is a valid message')
  const bad = classifyMessage({ jsonrpc: '2.0', id: 'q', method: 'x', params: [1] })
  t.strictSame(bad, { ok: false, error: { jsonrpc: '2.0', id: 'q', error: { code: RPC.INVALID_REQUEST, message: 'Invalid Request: params must be an object' } } })
  for (const v of [undefined, null, [], 'x', 3]) {
    const c = classifyMessage(v)
    t.equal(c.ok, false, String(v))
    if (!c.ok) t.equal(c.error.id, null)
  }
})
