// Header checks of the ingress (proxy/http/headers.ts): Accept negotiation (RFC 9110 §12.5.1 as
// the Streamable HTTP transport requires it), MCP-Protocol-Version, Mcp-Session-Id syntax.
import t from 'tap'
import { acceptance, checkAccept, checkProtocolVersion, checkSessionId } from '../../../proxy/http/headers.js'
import { DEFAULT_NEGOTIATED_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '../../../proxy/types.js'

t.test('acceptance: most specific range decides, q=0 excludes, wildcards count', async (t) => {
  const cases: Array<[string | undefined, boolean, boolean]> = [
    ['application/json, text/event-stream', true, true],
    ['text/event-stream, application/json', true, true],
    ['APPLICATION/JSON , Text/Event-Stream', true, true],
    ['application/json;q=0.9, text/event-stream;q=0.1', true, true],
    ['application/json; charset=utf-8, text/event-stream', true, true],
    ['*/*', true, true],
    ['application/*, text/*', true, true],
    ['application/json', true, false],
    ['text/event-stream', false, true],
    ['text/html, application/xhtml+xml', false, false],
    ['application/json, text/event-stream;q=0', true, false],
    ['application/json;q=0.0, text/event-stream', false, true],
    ['application/json;q=0.000, text/event-stream', false, true],
    ['*/*;q=0', false, false],
    ['*/*;q=0, application/json', true, false],
    ['text/*;q=0, text/event-stream', false, true],
    ['text/event-stream;q=0, text/*', false, false],
    ['application/*;q=0, */*', false, true],
    ['application/json;Q=0, text/event-stream', false, true],
    ['application/json;q=abc, text/event-stream', true, true],
    ['application/json;q=0;charset=x, text/event-stream;level=1;q=0.5', false, true],
    ['application/json-seq, text/event-streams', false, false],
    ['application/jsonx', false, false],
    [',,, application/json ,, text/event-stream ,', true, true],
    ['', false, false],
    [undefined, false, false],
  ]
  for (const [accept, json, eventStream] of cases) t.strictSame(acceptance(accept), { json, eventStream }, String(accept))
})

t.test('checkAccept: POST needs both, GET needs the event stream, others pass', async (t) => {
  t.equal(checkAccept('POST', 'application/json, text/event-stream').ok, true)
  const post = checkAccept('POST', 'application/json')
  t.equal(post.ok, false)
  if (!post.ok) {
    t.equal(post.status, 406)
    t.equal(post.reason, 'not_acceptable')
    t.equal(post.code, -32000)
    t.match(post.message, /both application\/json and text\/event-stream/)
  }
  t.equal(checkAccept('POST', undefined).ok, false, 'absent Accept on POST → 406')
  t.equal(checkAccept('GET', 'text/event-stream').ok, true)
  t.equal(checkAccept('GET', '*/*').ok, true)
  const get = checkAccept('GET', 'application/json')
  t.equal(get.ok, false)
  if (!get.ok) t.equal(get.status, 406)
  t.equal(checkAccept('GET', undefined).ok, false)
  t.equal(checkAccept('DELETE', undefined).ok, true)
  // The one-entry memo returns the right answer when the header alternates.
  for (let i = 0; i < 3; i++) {
    t.equal(checkAccept('POST', 'application/json, text/event-stream').ok, true)
    t.equal(checkAccept('POST', 'text/event-stream').ok, false)
  }
})

t.test('acceptance stays linear with many ranges and one late parameter', async (t) => {
  const accept = 'a/b,'.repeat(4000) + 'application/json;q=1, text/event-stream'
  t.strictSame(acceptance(accept), { json: true, eventStream: true })
})

t.test('checkProtocolVersion: supported versions pass, absent assumes 2025-03-26, others → 400', async (t) => {
  for (const v of SUPPORTED_PROTOCOL_VERSIONS) t.strictSame(checkProtocolVersion(v), { ok: true, version: v, fromHeader: true }, v)
  t.strictSame(checkProtocolVersion(undefined), { ok: true, version: DEFAULT_NEGOTIATED_VERSION, fromHeader: false })
  t.equal(DEFAULT_NEGOTIATED_VERSION, '2025-03-26')
  for (const bad of ['2024-11-05', '2099-01-01', '', ' 2025-06-18', '2025-06-18, 2025-06-18', 'x'.repeat(500)]) {
    const r = checkProtocolVersion(bad)
    t.equal(r.ok, false, JSON.stringify(bad.slice(0, 20)))
    if (!r.ok) {
      t.equal(r.status, 400)
      t.equal(r.reason, 'protocol_version')
      t.match(r.message, /Unsupported protocol version/)
      t.ok(r.message.length < 200, 'the echoed value is truncated')
    }
  }
})

t.test('checkSessionId: visible ASCII, 1..256 characters', async (t) => {
  const ok = [undefined, 'a', '0f8e-4c2b', '!~', 'x'.repeat(256), 'abc.DEF_123-~!#$%&*+/=?^`{|}']
  for (const v of ok) t.equal(checkSessionId(v).ok, true, String(v))
  const bad = ['', 'a b', 'x'.repeat(257), 'tab\tin', 'é', 'a\u007f', 'sid1, sid2', '\u0000']
  for (const v of bad) {
    const r = checkSessionId(v)
    t.equal(r.ok, false, JSON.stringify(v))
    if (!r.ok) {
      t.equal(r.status, 400)
      t.equal(r.reason, 'session')
    }
  }
})
