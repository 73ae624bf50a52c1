// aggregator/http/reply.ts: JSON answers with an exact Content-Length and no-store, the error
// envelope {error: {code, message, ...}}, and the bearer-token gate (401 with WWW-Authenticate).
import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { authorize, sendError, sendJson, unauthorized } from '../../../aggregator/http/reply.js'
import { compileTokens } from '../../../core/http/auth.js'
import { handlerServer } from '../../fixtures/aggregator/service.js'

async function serve(t: Parameters<typeof handlerServer>[0], fn: (req: IncomingMessage, res: ServerResponse) => void) {
  const { base } = await handlerServer(t, fn)
  return async (headers: Record<string, string> = {}) => {
    const res = await request(base, { headers })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, text }
  }
}

t.test('sendJson: body, newline, byte length of non-ASCII text, no-store, extra headers', async (t) => {
  const get = await serve(t, (_req, res) => sendJson(res, 201, { name: 'süß', n: 1 }, { 'X-Extra': 'yes' }))
  const r = await get()
  t.equal(r.status, 201)
  t.equal(r.text, '{"name":"süß","n":1}\n')
  t.equal(Number(r.headers['content-length']), Buffer.byteLength(r.text))
  t.equal(r.headers['content-type'], 'application/json')
  t.equal(r.headers['cache-control'], 'no-store')
  t.equal(r.headers['x-extra'], 'yes')
})

t.test('sendJson: a header given overrides the default', async (t) => {
  const get = await serve(t, (_req, res) => sendJson(res, 200, {}, { 'Cache-Control': 'max-age=5' }))
  t.equal((await get()).headers['cache-control'], 'max-age=5')
})

t.test('sendError: {error: {code, message, ...extra}} and headers', async (t) => {
  const get = await serve(t, (_req, res) => sendError(res, 429, 'too_many_providers', 'slow down', { limit: 256 }, { 'Retry-After': '60' }))
  const r = await get()
  t.equal(r.status, 429)
  t.strictSame(JSON.parse(r.text), { error: { code: 'too_many_providers', message: 'slow down', limit: 256 } })
  t.equal(r.headers['retry-after'], '60')
})

t.test('authorize: the right token passes; missing or wrong is 401 with a challenge and nothing else runs', async (t) => {
  let reached = 0
  const get = await serve(t, (req, res) => {
    if (!authorize(req, res, compileTokens(['s3cret', 'other']))) return
    reached++
    sendJson(res, 200, { ok: true })
  })
  for (const [name, h] of [['missing', {}], ['wrong', { authorization: 'Bearer nope' }], ['prefix of a token', { authorization: 'Bearer s3cre' }], ['empty bearer', { authorization: 'Bearer' }], ['basic scheme', { authorization: 'Basic czNjcmV0' }]] as const) {
    const r = await get(h)
    t.equal(r.status, 401, name)
    t.equal(JSON.parse(r.text).error.code, 'unauthorized', `${name}: code`)
    t.match(String(r.headers['www-authenticate']), /^Bearer/, `${name}: challenge`)
  }
  t.equal(reached, 0, 'the handler never ran')
  t.equal((await get({ authorization: 'Bearer s3cret' })).status, 200, 'control: first token')
  t.equal((await get({ authorization: 'bearer other' })).status, 200, 'control: second token, scheme in any case')
  t.equal(reached, 2)
})

t.test('authorize: an empty token set lets everyone in', async (t) => {
  const get = await serve(t, (req, res) => {
    if (authorize(req, res, compileTokens([]))) sendJson(res, 200, { ok: true })
  })
  t.equal((await get()).status, 200)
  t.equal((await get({ authorization: 'Bearer anything' })).status, 200)
})

t.test('unauthorized: the RFC 6750 challenge, with error_description cut to the characters it allows', async (t) => {
  const missing = await serve(t, (_req, res) => void unauthorized(res, false, 'a bearer token is required', 'ignored without a token'))
  const m = await missing()
  t.equal(m.status, 401)
  t.equal(m.headers['www-authenticate'], 'Bearer realm="mcp-hangar"', 'no token presented: no error attributes')
  t.same(JSON.parse(m.text), { error: { code: 'unauthorized', message: 'a bearer token is required' } })
  const bad = await serve(t, (_req, res) => void unauthorized(res, true, 'm', 'key "hk_1" \\ revoked\u00e9\n at 2026-01-01T00:00:00Z' + 'x'.repeat(300)))
  const b = await bad()
  const h = String(b.headers['www-authenticate'])
  t.match(h, /^Bearer realm="mcp-hangar", error="invalid_token", error_description="key hk_1 {2}revoked at 2026-01-01T00:00:00Zx+"$/, 'quotes, backslash, non-ASCII and control characters dropped')
  t.equal(/error_description="([^"]*)"/.exec(h)![1]!.length, 200, 'at most 200 characters')
  const plain = await serve(t, (_req, res) => void unauthorized(res, true, 'm'))
  t.equal((await plain()).headers['www-authenticate'], 'Bearer realm="mcp-hangar", error="invalid_token"')
})
