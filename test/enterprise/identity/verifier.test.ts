// enterprise/identity/verifier.ts: bearer JWTs checked against a local issuer whose JWK Set is
// served over HTTPS (test/helpers/oidc.ts). Each attack is tried, and a control shows the same
// path accepts a good token.
import t from 'tap'
import fc from 'fast-check'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { SignJWT, UnsecuredJWT, exportSPKI, generateKeyPair, importJWK, type CryptoKey } from 'jose'
import type { Test } from 'tap'
import type { TokenVerdict } from '../../../core/ports.js'
import { CACHE_TTL_MS, describeSafely, JWKS_METRIC, MAX_TOKEN_CHARS, OidcVerifier, refusalOf, TOKENS_METRIC } from '../../../enterprise/identity/verifier.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc.js'

const log = pino({ level: 'silent' })

function verifier(entries: unknown[], registry?: Registry, now?: () => number): OidcVerifier {
  return new OidcVerifier({ issuers: entries, log, surface: 'ingress', ...(registry && { registry }) }, now)
}

function refused(t: Test, v: TokenVerdict, reason: string, msg: string): void {
  t.equal(v.ok, false, `${msg}: refused`)
  if (!v.ok) {
    t.equal(v.reason, reason, `${msg}: reason ${reason}`)
    t.match(v.description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, `${msg}: description fits an RFC 6750 quoted string`)
  }
}

let idp: TestIssuer
t.before(async () => {
  idp = await startTestIssuer()
})
t.teardown(async () => idp.close())

t.test('a good token of each algorithm is accepted; the caller is its subject, groups and claims', async (t) => {
  const v = verifier([idp.entry({ claims: ['email', 'tier', 'roles'] })])
  t.teardown(() => v.close())
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const r = await v.verify(await idp.mint({ sub: `user-${alg}`, groups: ['admins', 'dev', 'admins'], email: 'a@example.test', tier: 3, roles: ['x', { no: 1 }, 'y'], other: 'dropped' }, { alg }))
    t.ok(r.ok, alg)
    if (r.ok) t.same(r.caller, { subject: `user-${alg}`, issuer: idp.issuer, groups: ['admins', 'dev'], claims: { email: 'a@example.test', tier: '3', roles: ['x', 'y'] } }, `${alg}: caller`)
  }
  const one = await v.verify(await idp.mint({ groups: 'solo' }))
  t.same(one.ok && one.caller.groups, ['solo'], 'a string groups claim is one group')
  const none = await v.verify(await idp.mint({}))
  t.same(none.ok && none.caller.groups, [], 'no groups claim: no groups')
})

t.test('time claims: expired, not yet valid, missing exp; the clock skew is honoured both ways', async (t) => {
  const v = verifier([idp.entry({ clock_skew_s: 30 })])
  t.teardown(() => v.close())
  refused(t, await v.verify(await idp.mint({}, { expIn: -120 })), 'expired', 'expired 2 min ago')
  t.ok((await v.verify(await idp.mint({}, { expIn: -10 }))).ok, 'control: expired 10 s ago, inside the 30 s skew')
  refused(t, await v.verify(await idp.mint({}, { nbfIn: 120 })), 'not_yet_valid', 'nbf in 2 min')
  t.ok((await v.verify(await idp.mint({}, { nbfIn: 10 }))).ok, 'control: nbf in 10 s, inside the skew')
  refused(t, await v.verify(await idp.mint({}, { expIn: null })), 'claims', 'no exp')
})

t.test('audience and issuer: a token for another audience or from an unknown issuer is refused', async (t) => {
  const v = verifier([idp.entry({ audience: ['api-a', 'mcp-hangar-test'] })])
  t.teardown(() => v.close())
  refused(t, await v.verify(await idp.mint({}, { aud: 'someone-else' })), 'audience', 'wrong aud')
  refused(t, await v.verify(await idp.mint({}, { aud: undefined })), 'audience', 'no aud')
  t.ok((await v.verify(await idp.mint({}, { aud: ['other', 'api-a'] }))).ok, 'control: one of several audiences matches')
  refused(t, await v.verify(await idp.mint({}, { iss: 'https://evil.example' })), 'issuer', 'unknown iss')
  refused(t, await v.verify(await idp.mint({}, { iss: `${idp.issuer}/` })), 'issuer', 'iss differs by a trailing slash')
  refused(t, await v.verify(await idp.mint({}, { iss: undefined })), 'issuer', 'no iss')
})

t.test('signatures: a key outside the JWK Set, a forged kid, a tampered payload, alg none, HS256 with the public key', async (t) => {
  const v = verifier([idp.entry()])
  t.teardown(() => v.close())
  const rogue = await idp.newKey('RS256')
  refused(t, await v.verify(await idp.mint({}, { key: rogue })), 'signature', 'key never published')
  refused(t, await v.verify(await idp.mint({}, { key: { ...rogue, kid: idp.current.RS256.kid } })), 'signature', 'rogue key claiming a published kid')
  const good = await idp.mint({ sub: 'alice' })
  t.ok((await v.verify(good)).ok, 'control: the genuine token')
  const [h, , s] = good.split('.')
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(good.split('.')[1]!, 'base64url').toString()), sub: 'admin' })).toString('base64url')
  refused(t, await v.verify(`${h}.${forged}.${s}`), 'signature', 'payload changed after signing')
  refused(t, await v.verify(`${h}.${good.split('.')[1]}.`), 'signature', 'signature stripped')
  const unsecured = new UnsecuredJWT({ sub: 'admin', aud: idp.audience, iss: idp.issuer }).setExpirationTime('5m').encode()
  refused(t, await v.verify(unsecured), 'algorithm', 'alg none')
  const pem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey)
  const published = await exportSPKI(await importJWK(idp.current.RS256.publicJwk, 'RS256') as CryptoKey)
  for (const secret of [pem, published]) {
    const confused = await new SignJWT({ sub: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: idp.current.RS256.kid }).setIssuer(idp.issuer).setAudience(idp.audience).setExpirationTime('5m').sign(Buffer.from(secret))
    refused(t, await v.verify(confused), 'algorithm', 'HS256 keyed with an RSA public key (algorithm confusion)')
  }
  // Keys carried in the token's own header (jwk, jku, x5u) are never used: only the issuer's set.
  const own = await idp.newKey('RS256')
  const embedded = await new SignJWT({ sub: 'admin' }).setProtectedHeader({ alg: 'RS256', jwk: own.publicJwk, jku: `${idp.issuer}/evil`, kid: own.kid }).setIssuer(idp.issuer).setAudience(idp.audience).setExpirationTime('5m').sign(own.privateKey)
  refused(t, await v.verify(embedded), 'signature', 'a key embedded in the header (jwk/jku)')
  const es = await v.verify(await idp.mint({}, { alg: 'ES256' }))
  t.ok(es.ok, 'control: ES256 accepted with the default algorithms')
  const rsOnly = verifier([idp.entry({ algorithms: ['RS256'] })])
  t.teardown(() => rsOnly.close())
  refused(t, await rsOnly.verify(await idp.mint({}, { alg: 'ES256' })), 'algorithm', 'ES256 token for an RS256-only issuer')
  t.ok((await rsOnly.verify(await idp.mint({}, { alg: 'RS256' }))).ok, 'control: RS256 accepted there')
})

t.test('malformed and oversized tokens; caller claims the signals cannot carry', async (t) => {
  const v = verifier([idp.entry()])
  t.teardown(() => v.close())
  for (const bad of ['', 'abc', 'a.b', 'a.b.c', '...', `${'x'.repeat(10)}.${'y'.repeat(10)}.z`]) refused(t, await v.verify(bad), 'malformed', JSON.stringify(bad))
  const big = await idp.mint({ pad: 'x'.repeat(MAX_TOKEN_CHARS) })
  refused(t, await v.verify(big), 'malformed', 'oversized token')
  refused(t, await v.verify(await idp.mint({ sub: 'bad\nname' })), 'claims', 'a newline in the subject')
  refused(t, await v.verify(await idp.mint({ sub: 'x'.repeat(129) })), 'claims', 'a 129-character subject')
  refused(t, await v.verify(await idp.mint({ sub: 42 as unknown as string })), 'claims', 'a numeric subject')
  refused(t, await v.verify(await idp.mint({ groups: Array.from({ length: 257 }, (_, i) => `g${i}`) })), 'claims', '257 groups (never truncated: a deny aimed at a dropped group would be escaped)')
  refused(t, await v.verify(await idp.mint({ groups: ['ok', 7] })), 'claims', 'a non-string group')
  refused(t, await v.verify(await idp.mint({ groups: { admins: true } })), 'claims', 'an object groups claim')
  t.ok((await v.verify(await idp.mint({ groups: Array.from({ length: 256 }, (_, i) => `g${i}`) }))).ok, 'control: 256 groups')
  const oid = verifier([idp.entry({ subject_claim: 'oid', groups_claim: 'roles' })])
  t.teardown(() => oid.close())
  const r = await oid.verify(await idp.mint({ sub: 'ignored', oid: 'obj-1', roles: ['r1'] }))
  t.same(r.ok && [r.caller.subject, r.caller.groups], ['obj-1', ['r1']], 'subject_claim and groups_claim are honoured')
  refused(t, await oid.verify(await idp.mint({ sub: 'ignored' })), 'claims', 'the configured subject claim is missing')
})

t.test('key rotation: a new kid fetches the set again, within the cooldown at most once', async (t) => {
  const v = verifier([idp.entry({ jwks_cooldown_ms: 0 })])
  t.teardown(() => v.close())
  const before = idp.fetches
  t.ok((await v.verify(await idp.mint({ sub: 'a' }))).ok)
  t.equal(idp.fetches, before + 1, 'first token: one fetch')
  t.ok((await v.verify(await idp.mint({ sub: 'b' }))).ok)
  t.equal(idp.fetches, before + 1, 'a second token of a known kid: no fetch')
  const old = idp.current.ES256
  await idp.rotate('ES256')
  idp.unpublish(old.kid)
  t.ok((await v.verify(await idp.mint({ sub: 'c' }, { alg: 'ES256' }))).ok, 'a token of the rotated key verifies')
  t.equal(idp.fetches, before + 2, 'the unknown kid fetched the set once more')
  refused(t, await v.verify(await idp.mint({ sub: 'd' }, { key: old })), 'signature', 'the withdrawn key is no longer trusted')

  const cool = verifier([idp.entry({ jwks_cooldown_ms: 60_000 })])
  t.teardown(() => cool.close())
  t.ok((await cool.verify(await idp.mint({ sub: 'e' }))).ok)
  const n = idp.fetches
  const rogue = await idp.newKey('RS256')
  for (let i = 0; i < 5; i++) refused(t, await cool.verify(await idp.mint({ sub: `f${i}` }, { key: rogue })), 'signature', `unknown kid ${i}`)
  t.ok(idp.fetches - n <= 1, `five unknown kids inside the cooldown: ${idp.fetches - n} fetch(es), at most one`)
})

t.test('fail closed: JWK Set unreachable, untrusted TLS, a non-200 answer', async (t) => {
  const other = await startTestIssuer()
  const v = verifier([other.entry()])
  t.teardown(() => v.close())
  const token = await other.mint({})
  const noCa = verifier([{ ...other.entry(), ca_file: undefined }])
  t.teardown(() => noCa.close())
  refused(t, await noCa.verify(token), 'jwks_unavailable', 'server certificate from a CA not configured')
  const notFound = verifier([other.entry({ jwks_uri: `${other.issuer}/missing` })])
  t.teardown(() => notFound.close())
  refused(t, await notFound.verify(token), 'jwks_unavailable', '404 from the JWK Set URL')
  t.ok((await v.verify(token)).ok, 'control: with its CA the same token verifies')
  await other.close()
  const fresh = verifier([{ ...other.entry(), ca_file: idp.caFile }])
  t.teardown(() => fresh.close())
  refused(t, await fresh.verify(await idp.mint({}, { iss: other.issuer })), 'jwks_unavailable', 'JWK Set server down')
})

t.test('jwks_file: keys from a file; a bad file names its config path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-jwks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [idp.current.EdDSA.publicJwk] }))
  const entry = { issuer: idp.issuer, audience: idp.audience, jwks_file: file }
  const v = verifier([entry])
  t.teardown(() => v.close())
  t.ok((await v.verify(await idp.mint({}, { alg: 'EdDSA' }))).ok, 'EdDSA token against the file')
  refused(t, await v.verify(await idp.mint({}, { alg: 'RS256' })), 'signature', 'RS256 key not in the file')
  writeFileSync(join(dir, 'bad.json'), '{"keys": 3}')
  t.throws(() => verifier([{ ...entry, jwks_file: join(dir, 'bad.json') }]), /^ingress\.auth\.oidc\[0\]\.jwks_file: .*is not a JWK Set/)
  t.throws(() => verifier([{ ...entry, jwks_file: join(dir, 'nope.json') }]), /^ingress\.auth\.oidc\[0\]\.jwks_file: cannot read/)
  t.throws(() => verifier([idp.entry(), { ...idp.entry({ issuer: 'https://b.example' }), ca_file: join(dir, 'jwks.json') }]), /^ingress\.auth\.oidc\[1\]\.ca_file: .*no PEM certificate/)
  t.throws(() => verifier([{ ...entry, algorithms: ['HS256'] }]), /^ingress\.auth\.oidc\[0\]\.algorithms\[0\]: /)
  t.throws(() => new OidcVerifier({ issuers: [{ ...entry, extra: 1 }], log, surface: 'aggregator' }), /^aggregator\.auth\.oidc\[0\]: Unrecognized key/)
})

t.test('metrics: accepted and refused tokens by reason; JWK Set fetches by outcome', async (t) => {
  const registry = new Registry()
  const v = verifier([idp.entry()], registry)
  t.teardown(() => v.close())
  await v.verify(await idp.mint({}))
  await v.verify(await idp.mint({}, { expIn: -3600 }))
  await v.verify('nope')
  const text = await registry.metrics()
  t.match(text, `${TOKENS_METRIC}{surface="ingress",outcome="accepted",reason="none"} 1`)
  t.match(text, `${TOKENS_METRIC}{surface="ingress",outcome="refused",reason="expired"} 1`)
  t.match(text, `${TOKENS_METRIC}{surface="ingress",outcome="refused",reason="malformed"} 1`)
  t.match(text, `${JWKS_METRIC}{issuer="${idp.issuer}",outcome="ok"} 1`)
  const again = verifier([idp.entry()], registry)
  t.teardown(() => again.close())
  t.ok((await again.verify(await idp.mint({}))).ok, 'a second verifier on the same registry reuses the metrics')
})

t.test('the cache: a repeated token is verified once, and forgotten at its exp or after the TTL', async (t) => {
  let now = Date.now()
  const v = verifier([idp.entry({ clock_skew_s: 0, jwks_cache_ms: 1000, jwks_cooldown_ms: 0 })], undefined, () => now)
  t.teardown(() => v.close())
  const key = await idp.rotate('RS256')
  const token = await idp.mint({ sub: 'cached' }, { expIn: 3600 })
  t.ok((await v.verify(token)).ok)
  t.equal(v.cached, 1)
  idp.unpublish(key.kid)
  await new Promise((r) => setTimeout(r, 1100))
  t.ok((await v.verify(token)).ok, 'inside the TTL the cached verdict answers (the withdrawn key is not consulted)')
  now += CACHE_TTL_MS + 1
  refused(t, await v.verify(token), 'signature', 'after the TTL the token is verified again, and its withdrawn key no longer verifies it')
  await idp.rotate('RS256')
  now = Date.now()
  const short = await idp.mint({ sub: 'short' }, { expIn: 5 })
  t.ok((await v.verify(short)).ok)
  now += 6000
  refused(t, await v.verify(short), 'expired', 'a cached token is not trusted past its exp')
})

t.test('verify never throws, whatever the string', async (t) => {
  const v = verifier([idp.entry()])
  t.teardown(() => v.close())
  const good = await idp.mint({})
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom(...good.split('.')).chain((seg) => fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}.${seg}.${b}`))), async (s) => {
      const r = await v.verify(s)
      return r.ok === false
    }),
    { numRuns: 300 },
  )
  t.equal(refusalOf(new Error('socket hang up')).ok, false, 'an unknown error is a refusal')
  t.equal(describeSafely('a "quoted" \\ line\n'), 'a ?quoted? ? line?', 'descriptions are made safe for a quoted string')
})
