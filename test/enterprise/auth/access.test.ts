/**
 * enterprise/auth/access.ts: the AccessControl over API keys and OIDC. OIDC is tried with a small
 * in-test TokenVerifier implementing the identity port (the real verifier is the identity
 * module's; its end-to-end test with a JWKS over HTTPS is the identity module's): groups map to
 * the highest role, no mapped group refuses, a refused token says why; a token that is neither a
 * key nor a JWT is not ours (undefined); without the identity module a JWT is not ours either.
 * Configuration errors name `aggregator.auth.<path>`.
 */
import t from 'tap'
import { Registry } from 'prom-client'
import type { IdentityPort, TokenVerdict, VerifierContext } from '../../../core/ports.js'
import { silentLogger } from '../../../core/log.js'
import { roleOfGroups, startAccess } from '../../../enterprise/auth/access.js'
import { createAccess } from '../../../enterprise/auth/index.js'

const CHEAP = { scrypt: { N: 1024, r: 8, p: 1, keylen: 32 } }
const ISSUER = 'https://idp.test.local'
const OIDC = [{ issuer: ISSUER, audience: 'hangar-aggregator', jwks_file: '/nonexistent/jwks.json' }]
const ROLE_GROUPS = { viewer: ['staff'], operator: ['oncall'], admin: ['platform-admins'] }

/** A verifier that accepts `<header>.<payload>.<sig>` tokens whose payload names sub and groups, unless sig is `bad`. */
function testIdentity(seen: VerifierContext[]): IdentityPort {
  return {
    createVerifier(ctx) {
      seen.push(ctx)
      return {
        async verify(token: string): Promise<TokenVerdict> {
          const [, payload, sig] = token.split('.')
          if (sig === 'bad') return { ok: false, reason: 'signature', description: 'the signature does not verify' }
          const p = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { sub: string; groups: string[] }
          return { ok: true, caller: { subject: p.sub, issuer: ISSUER, groups: p.groups, claims: {} } }
        },
        close() {},
      }
    },
  }
}

const jwt = (sub: string, groups: string[], sig = 'sig'): string => `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify({ sub, groups })).toString('base64url')}.${sig}`

t.test('roleOfGroups: the highest role any group maps to; none → undefined; exact names', async (t) => {
  t.equal(roleOfGroups(['staff'], ROLE_GROUPS), 'viewer')
  t.equal(roleOfGroups(['staff', 'platform-admins', 'oncall'], ROLE_GROUPS), 'admin', 'highest wins')
  t.equal(roleOfGroups(['oncall', 'staff'], ROLE_GROUPS), 'operator')
  t.equal(roleOfGroups(['Staff', 'staff '], ROLE_GROUPS), undefined, 'case and spaces matter')
  t.equal(roleOfGroups([], ROLE_GROUPS), undefined)
  t.equal(roleOfGroups(['x'], { viewer: [], operator: [], admin: [] }), undefined)
})

t.test('OIDC tokens: groups → role, refused tokens say why, no role → refused', async (t) => {
  const seen: VerifierContext[] = []
  const registry = new Registry()
  const a = await startAccess({ dataDir: t.testdir({}), config: { oidc: OIDC, role_groups: ROLE_GROUPS }, log: silentLogger(), registry, identity: testIdentity(seen) }, CHEAP)
  t.teardown(() => a.close())
  t.equal(seen.length, 1, 'one verifier')
  t.equal(seen[0]!.surface, 'aggregator')
  t.match(seen[0]!.issuers, [{ issuer: ISSUER, audience: 'hangar-aggregator' }], 'the configured issuers, as the schema parsed them')
  t.same(await a.authenticate(jwt('alice', ['oncall', 'staff'])), { principal: { id: `oidc:${ISSUER}#alice`, name: 'alice', role: 'operator', via: 'oidc' } })
  t.same(await a.authenticate(jwt('root', ['platform-admins'])), { principal: { id: `oidc:${ISSUER}#root`, name: 'root', role: 'admin', via: 'oidc' } })
  t.match(await a.authenticate(jwt('mallory', ['contractors'])), { error: /mallory .* is in no group aggregator\.auth\.role_groups maps to a role \(groups: contractors\)/ })
  t.match(await a.authenticate(jwt('eve', ['platform-admins'], 'bad')), { error: 'OIDC token refused (signature): the signature does not verify' })
  t.equal(await a.authenticate('plain-static-token'), undefined, 'not a key, not a JWT: not ours')
  const m = await registry.getSingleMetricAsString('mcp_hangar_aggregator_authentications_total')
  t.match(m, /via="oidc",outcome="accepted"} 2/)
  t.match(m, /via="oidc",outcome="refused"} 2/)
})

t.test('without the identity module a JWT is not ours; API keys still work', async (t) => {
  const a = await startAccess({ dataDir: t.testdir({}), config: { oidc: OIDC, role_groups: ROLE_GROUPS }, log: silentLogger() }, CHEAP)
  t.teardown(() => a.close())
  t.equal(await a.authenticate(jwt('alice', ['oncall'])), undefined)
  const actor = { id: 'token:admin', name: 'admin token', role: 'admin' as const, via: 'static_token' as const }
  const { key, info } = await a.createKey({ name: 'ci', role: 'viewer' }, actor)
  t.same(await a.authenticate(key), { principal: { id: info.id, name: 'ci', role: 'viewer', via: 'api_key' } })
  t.equal(info.created_by, 'token:admin', 'created_by is the actor id')
  t.equal(await a.revokeKey(info.id, actor), true)
  t.match(await a.authenticate(key), { error: /revoked/ })
  t.equal(a.listKeys().length, 1)
})

t.test('key_default_ttl_days gives keys without an expiry one', async (t) => {
  const a = await startAccess({ dataDir: t.testdir({}), config: { key_default_ttl_days: 30 }, log: silentLogger() }, CHEAP)
  t.teardown(() => a.close())
  const actor = { id: 'token:admin', name: 'admin token', role: 'admin' as const, via: 'static_token' as const }
  const { info } = await a.createKey({ name: 'ci', role: 'viewer' }, actor)
  const days = (Date.parse(info.expires!) - Date.now()) / 86_400_000
  t.ok(days > 29.9 && days <= 30, `expires in 30 days (${days.toFixed(3)})`)
  const explicit = await a.createKey({ name: 'short', role: 'viewer', expires: new Date(Date.now() + 3_600_000).toISOString() }, actor)
  t.ok(Date.parse(explicit.info.expires!) - Date.now() <= 3_600_000, 'an explicit expiry wins')
})

t.test('an unusable configuration names aggregator.auth.<path>; createAccess starts the same module', async (t) => {
  await t.rejects(startAccess({ dataDir: t.testdir({}), config: { role_group: {} }, log: silentLogger() }), /aggregator\.auth: Unrecognized key\(s\) in object: 'role_group'/)
  await t.rejects(startAccess({ dataDir: t.testdir({}), config: { role_groups: { root: ['x'] } }, log: silentLogger() }), /aggregator\.auth\.role_groups: Unrecognized key/)
  const a = await createAccess().start({ dataDir: t.testdir({}), config: {}, log: silentLogger() })
  t.equal(await a.authenticate('hk_00000000_' + 'a'.repeat(43)).then((r) => (r && 'error' in r ? r.error : '')), 'unknown API key hk_00000000')
  await a.close()
})
