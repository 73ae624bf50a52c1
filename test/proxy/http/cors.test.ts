// CORS for the MCP ingress (proxy/http/cors.ts): preflight answers and response headers for
// origins the Origin check accepted.
import t from 'tap'
import { corsResponseHeaders, EXPOSE_HEADERS, preflight, PREFLIGHT_MAX_AGE_S } from '../../../proxy/http/cors.js'

t.test('a preflight from an allowed origin is answered 204 with the origin echoed', async (t) => {
  const r = preflight('OPTIONS', 'http://localhost:6274', 'POST', 'content-type, mcp-session-id, mcp-protocol-version')
  t.equal(r?.status, 204)
  t.same(r?.headers, {
    'Access-Control-Allow-Origin': 'http://localhost:6274',
    'Access-Control-Allow-Methods': 'GET, POST, DELETE',
    'Access-Control-Allow-Headers': 'content-type, mcp-session-id, mcp-protocol-version',
    'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
    Vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    'Content-Length': '0',
  })
})

t.test('what is not a preflight gets no preflight answer', async (t) => {
  t.equal(preflight('OPTIONS', undefined, 'POST', undefined), undefined, 'no Origin')
  t.equal(preflight('OPTIONS', 'http://localhost', undefined, undefined), undefined, 'no Access-Control-Request-Method')
  t.equal(preflight('POST', 'http://localhost', 'POST', undefined), undefined, 'not OPTIONS')
})

t.test('requested headers are echoed only when they are a list of header names', async (t) => {
  t.notOk('Access-Control-Allow-Headers' in (preflight('OPTIONS', 'http://localhost', 'GET', undefined)?.headers ?? {}), 'none requested')
  t.notOk('Access-Control-Allow-Headers' in (preflight('OPTIONS', 'http://localhost', 'GET', 'x-a, bad header')?.headers ?? {}), 'a space inside a name')
  t.notOk('Access-Control-Allow-Headers' in (preflight('OPTIONS', 'http://localhost', 'GET', 'x-a,,x-b')?.headers ?? {}), 'an empty element')
  t.equal(preflight('OPTIONS', 'http://localhost', 'GET', ' authorization,last-event-id ')?.headers['Access-Control-Allow-Headers'], 'authorization,last-event-id')
})

t.test('actual responses to an allowed origin echo it and expose the MCP headers', async (t) => {
  t.same(corsResponseHeaders('http://127.0.0.1:5173'), { 'Access-Control-Allow-Origin': 'http://127.0.0.1:5173', 'Access-Control-Expose-Headers': EXPOSE_HEADERS, Vary: 'Origin' })
  t.match(EXPOSE_HEADERS, /Mcp-Session-Id/, 'the session id is readable by the browser client')
})
