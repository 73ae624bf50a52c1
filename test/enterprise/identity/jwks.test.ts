// enterprise/identity/jwks.ts: key sources. The remote source's TLS trust is its own (ca_file),
// it counts fetches, and it does not follow redirects; the file source refuses what is not a JWK Set.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jwtVerify } from 'jose'
import { fileKeySource, remoteKeySource } from '../../../enterprise/identity/jwks.js'
import { startTestIssuer } from '../../helpers/oidc.js'
import { makeTestPki } from '../../helpers/tls.js'

t.test('remote: fetched over HTTPS with the configured CA only, each fetch reported', async (t) => {
  const idp = await startTestIssuer()
  t.teardown(() => idp.close())
  const outcomes: string[] = []
  const src = remoteKeySource({ uri: idp.jwksUri, caFile: idp.caFile, timeoutMs: 2000, cacheMs: 60_000, cooldownMs: 30_000, onFetch: (o) => outcomes.push(o) }, 'x.oidc[0]')
  t.teardown(() => src.close())
  const token = await idp.mint({}, { alg: 'EdDSA' })
  const { payload } = await jwtVerify(token, src.getKey, { issuer: idp.issuer, audience: idp.audience })
  t.equal(payload.sub, 'alice')
  t.same(outcomes, ['ok'])
  const untrusted = remoteKeySource({ uri: idp.jwksUri, timeoutMs: 2000, cacheMs: 60_000, cooldownMs: 0, onFetch: (o) => outcomes.push(o) }, 'x.oidc[0]')
  t.teardown(() => untrusted.close())
  await t.rejects(jwtVerify(token, untrusted.getKey), 'without the CA the server certificate is not trusted')
  t.same(outcomes, ['ok', 'error'])
  await src.close()
  await t.resolves(src.close(), 'close is idempotent')
})

t.test('remote: a redirect is not followed (a JWK Set must come from the configured URL)', async (t) => {
  const idp = await startTestIssuer()
  t.teardown(() => idp.close())
  const pki = makeTestPki(['127.0.0.1'])
  const dir = mkdtempSync(join(tmpdir(), 'hangar-jwks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'ca.pem'), pki.ca)
  let hits = 0
  const redirector = createServer({ cert: pki.cert, key: pki.key }, (_req, res) => {
    hits++
    res.writeHead(302, { Location: idp.jwksUri, Connection: 'close' }).end()
  })
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => redirector.close(() => r())))
  const port = (redirector.address() as { port: number }).port
  const outcomes: string[] = []
  const src = remoteKeySource({ uri: `https://127.0.0.1:${port}/jwks`, caFile: join(dir, 'ca.pem'), timeoutMs: 2000, cacheMs: 60_000, cooldownMs: 0, onFetch: (o) => outcomes.push(o) }, 'x')
  t.teardown(() => src.close())
  await t.rejects(jwtVerify(await idp.mint({}), src.getKey))
  t.equal(hits, 1, 'the redirecting server was asked')
  t.same(outcomes, ['error'], 'the 302 is a failed fetch')
  t.equal(idp.fetches, 0, 'the redirect target was never fetched')
})

t.test('file and CA errors name the config path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-jwks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'not-json'), 'nope')
  writeFileSync(join(dir, 'empty-set.json'), '{"keys":[]}')
  t.throws(() => fileKeySource(join(dir, 'not-json'), 'ingress.auth.oidc[2]'), /^ingress\.auth\.oidc\[2\]\.jwks_file: cannot read a JWK Set/)
  t.doesNotThrow(() => fileKeySource(join(dir, 'empty-set.json'), 'a'), 'an empty set loads (and verifies nothing)')
  t.throws(() => remoteKeySource({ uri: 'https://127.0.0.1:1/j', caFile: join(dir, 'missing.pem'), timeoutMs: 100, cacheMs: 1000, cooldownMs: 0 }, 'aggregator.auth.oidc[0]'), /^aggregator\.auth\.oidc\[0\]\.ca_file: ENOENT/)
  t.throws(() => remoteKeySource({ uri: 'https://127.0.0.1:1/j', caFile: join(dir, 'not-json'), timeoutMs: 100, cacheMs: 1000, cooldownMs: 0 }, 'a'), /^a\.ca_file: .* holds no PEM certificate/)
})
