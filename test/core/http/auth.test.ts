// Bearer authentication and caller identity (core/http/auth.ts): RFC 6750 refusals, constant-
// time digest comparison against every token, JWT `sub` (named, not verified), X-Hangar-Caller.
import { createHash, timingSafeEqual } from 'node:crypto'
import t from 'tap'
import { bearerToken, callerOf, checkBearer, compileTokens, invalidToken, jwtSub, MISSING_BEARER, sanitizeCaller, tokenMatches } from '../../../core/http/auth.js'

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
const jwt = (payload: unknown) => `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.c2lnbmF0dXJl`

t.test('bearerToken parses the Bearer scheme only', async (t) => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER   abc  ', 'abc'],
    ['Bearer a.b.c-_~+/=', 'a.b.c-_~+/='],
    ['Basic dXNlcjpwYXNz', undefined],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Bearerabc', undefined],
    ['', undefined],
    [undefined, undefined],
  ]
  for (const [h, token] of cases) t.equal(bearerToken(h), token, String(h))
})

t.test('checkBearer: no tokens = no authentication', async (t) => {
  const none = compileTokens([])
  t.equal(checkBearer(none, undefined).ok, true)
  t.equal(checkBearer(none, 'Bearer whatever').ok, true)
})

t.test('checkBearer accepts any configured token and refuses everything else with 401', async (t) => {
  const tokens = compileTokens(['s3cret-one', 'second-token-that-is-longer', 'naïve-ü'])
  t.equal(tokens.digests.length, 3)
  t.ok(tokens.digests.every((d) => d.length === 32))
  t.equal(checkBearer(tokens, 'Bearer s3cret-one').ok, true)
  t.equal(checkBearer(tokens, 'bearer second-token-that-is-longer').ok, true)
  // Node hands header bytes over as latin1: the UTF-8 bytes of the token arrive as latin1 text.
  t.equal(checkBearer(tokens, 'Bearer ' + Buffer.from('naïve-ü', 'utf8').toString('latin1')).ok, true, 'non-ASCII token, byte for byte')

  const missing = checkBearer(tokens, undefined)
  t.equal(missing.ok, false)
  if (!missing.ok) {
    t.equal(missing.status, 401)
    t.equal(missing.reason, 'auth')
    t.equal(missing.headers?.['WWW-Authenticate'], 'Bearer realm="mcp-hangar"', 'no error code when no credentials (RFC 6750 §3.1)')
  }
  const basic = checkBearer(tokens, 'Basic czNjcmV0LW9uZQ==')
  if (!basic.ok) t.equal(basic.headers?.['WWW-Authenticate'], 'Bearer realm="mcp-hangar"')
  else t.fail('Basic must not authenticate')
  for (const h of ['Bearer s3cret-on', 'Bearer s3cret-one2', 'Bearer S3CRET-ONE', 'Bearer ', 'Bearer x']) {
    const r = checkBearer(tokens, h)
    t.equal(r.ok, false, h)
    if (!r.ok) {
      t.equal(r.status, 401, h)
      t.equal(r.headers?.['WWW-Authenticate'], 'Bearer realm="mcp-hangar", error="invalid_token"', h)
    }
  }
})

t.test('checkBearer compares digests with timingSafeEqual against every token, no early exit', async (t) => {
  const crypto = await import('node:crypto')
  const compared: Array<[number, number]> = []
  const mocked = await t.mockImport<typeof import('../../../core/http/auth.js')>('../../../core/http/auth.js', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual: (a: Buffer, b: Buffer) => {
        compared.push([a.length, b.length])
        return crypto.timingSafeEqual(a, b)
      },
    },
  })
  const tokens = mocked.compileTokens(['a', 'a-much-longer-token', 'c'])
  t.equal(mocked.checkBearer(tokens, 'Bearer a').ok, true)
  t.strictSame(compared, [[32, 32], [32, 32], [32, 32]], 'all three compared although the first matched; always 32-byte digests')
  compared.length = 0
  t.equal(mocked.checkBearer(tokens, 'Bearer ' + 'x'.repeat(5000)).ok, false)
  t.strictSame(compared, [[32, 32], [32, 32], [32, 32]], 'a long wrong token: the same work')
  t.ok(timingSafeEqual(tokens.digests[0]!, createHash('sha256').update('a').digest()), 'the stored digest is SHA-256 of the token')
})

t.test('jwtSub reads the payload claim only; non-JWTs name no one', async (t) => {
  t.equal(jwtSub(jwt({ sub: 'alice@example.com', exp: 1 })), 'alice@example.com')
  t.equal(jwtSub(jwt({ sub: '  bob  ' })), 'bob', 'trimmed')
  t.equal(jwtSub(jwt({ sub: 42 })), undefined, 'a non-string sub')
  t.equal(jwtSub(jwt({ name: 'x' })), undefined, 'no sub')
  t.equal(jwtSub(jwt({ sub: 'x'.repeat(129) })), undefined, 'too long')
  t.equal(jwtSub(jwt({ sub: 'line\nbreak' })), undefined, 'control characters')
  t.equal(jwtSub(jwt({ sub: 'zoë' })), undefined, 'not printable ASCII')
  t.equal(jwtSub(jwt(['sub'])), undefined, 'payload not an object')
  t.equal(jwtSub(`${b64({ alg: 'none' })}.${b64(null)}.`), undefined, 'payload null')
  t.equal(jwtSub('opaque-token-value'), undefined)
  t.equal(jwtSub('a.b'), undefined)
  t.equal(jwtSub('a.b.c.d'), undefined, 'JWE-like five segments are not read')
  t.equal(jwtSub('.e30.x'), undefined, 'empty header segment')
  t.equal(jwtSub('x.not+base64url.y'), undefined)
  t.equal(jwtSub(`x.${Buffer.from('{not json').toString('base64url')}.y`), undefined)
  t.equal(jwtSub(`x.${b64({ sub: 'big', pad: 'p'.repeat(9000) })}.y`), undefined, 'oversized payloads are not decoded')
})

t.test('callerOf: JWT sub, else X-Hangar-Caller, else undefined', async (t) => {
  t.equal(callerOf({ authorization: `Bearer ${jwt({ sub: 'svc-a' })}`, 'x-hangar-caller': 'ignored' }), 'svc-a')
  t.equal(callerOf({ authorization: 'Bearer opaque', 'x-hangar-caller': ' agent-7 ' }), 'agent-7')
  t.equal(callerOf({ authorization: `Bearer ${jwt({ sub: '\u0001' })}`, 'x-hangar-caller': 'fallback' }), 'fallback', 'an unusable sub falls back')
  t.equal(callerOf({ 'x-hangar-caller': 'x'.repeat(128) }), 'x'.repeat(128))
  t.equal(callerOf({ 'x-hangar-caller': 'x'.repeat(129) }), undefined)
  t.equal(callerOf({ 'x-hangar-caller': '   ' }), undefined)
  t.equal(callerOf({ 'x-hangar-caller': 'caf\u00e9' }), undefined)
  t.equal(callerOf({}), undefined)
  // The memo of the last token does not leak one token's sub to another.
  t.equal(callerOf({ authorization: `Bearer ${jwt({ sub: 'one' })}` }), 'one')
  t.equal(callerOf({ authorization: `Bearer ${jwt({ sub: 'two' })}` }), 'two')
  t.equal(callerOf({ authorization: `Bearer ${jwt({ sub: 'two' })}` }), 'two')
  t.equal(callerOf({ authorization: 'Bearer opaque' }), undefined)
})

t.test('sanitizeCaller: trimmed printable ASCII up to 128', async (t) => {
  t.equal(sanitizeCaller(' a b '), 'a b')
  t.equal(sanitizeCaller('~!@#'), '~!@#')
  t.equal(sanitizeCaller(''), undefined)
  t.equal(sanitizeCaller('a\tb'), undefined)
  t.equal(sanitizeCaller('a\u007fb'), undefined)
})

t.test('tokenMatches: exact bytes of a configured token only; an empty set matches nothing', async (t) => {
  const set = compileTokens(['alpha-token', 'βeta'])
  t.ok(tokenMatches(set, 'alpha-token'))
  t.ok(tokenMatches(set, Buffer.from('βeta', 'utf8').toString('latin1')), 'a non-ASCII token as its header bytes')
  for (const bad of ['alpha-toke', 'alpha-token ', 'ALPHA-TOKEN', '', 'βeta']) t.notOk(tokenMatches(set, bad), JSON.stringify(bad))
  t.notOk(tokenMatches(compileTokens([]), 'anything'))
})

t.test('invalidToken / MISSING_BEARER: the two RFC 6750 §3 challenges', async (t) => {
  t.same(MISSING_BEARER.headers, { 'WWW-Authenticate': 'Bearer realm="mcp-hangar"' }, 'no credentials: no error attribute (§3.1)')
  t.equal(MISSING_BEARER.status, 401)
  const r = invalidToken('the token has expired')
  t.equal(r.status, 401)
  t.equal(r.reason, 'auth')
  t.equal(r.headers?.['WWW-Authenticate'], 'Bearer realm="mcp-hangar", error="invalid_token", error_description="the token has expired"')
  const hostile = invalidToken('a "quoted" \\ part\r\nSet-Cookie: x=1' + 'z'.repeat(300))
  const h = hostile.headers?.['WWW-Authenticate'] ?? ''
  t.match(h, /^Bearer realm="mcp-hangar", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]{1,200}"$/, 'quotes, backslashes and line breaks cannot escape the quoted string; bounded')
  t.notMatch(h, /[\r\n]/)
})
