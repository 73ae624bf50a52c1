/**
 * RBAC with OIDC end to end: a real aggregator with `aggregator.auth.oidc`, the enterprise access
 * module and the enterprise identity module (the same verifier as the MCP ingress), tokens minted by
 * a local test issuer whose JWK Set is served over HTTPS with a throwaway CA. Groups map to roles;
 * each role is tried on the routes that separate it from the next; refused tokens (expired, wrong
 * audience, wrong issuer, signed by an unpublished key, no mapped group) are 401 with RFC 6750's
 * `invalid_token`, and a denied action is on record naming the verified subject.
 */
import t from 'tap'
import { createPortRegistry } from '../../../core/ports.js'
import { createAccess } from '../../../enterprise/auth/index.js'
import { createIdentity } from '../../../enterprise/identity/index.js'
import { rbacRig, STATIC } from '../../fixtures/aggregator/rbac.js'
import { startTestIssuer } from '../../helpers/oidc.js'

t.setTimeout(120_000)

const ROLE_GROUPS = { viewer: ['staff'], operator: ['oncall'], admin: ['platform-admins'] }

t.test('OIDC on the aggregator: groups → roles through the real verifier; refused tokens are 401', async (t) => {
  const idp = await startTestIssuer({ audience: 'hangar-aggregator' })
  t.teardown(() => idp.close())
  const ports = { ...createPortRegistry(), identity: createIdentity(), access: createAccess(), enterprise: true }
  const rig = await rbacRig(t, { ports, auth: { oidc: [idp.entry()], role_groups: ROLE_GROUPS } })

  const viewer = await idp.mint({ sub: 'vera', groups: ['staff'] })
  const operator = await idp.mint({ sub: 'otto', groups: ['staff', 'oncall'] }, { alg: 'ES256' })
  const admin = await idp.mint({ sub: 'ada', groups: ['platform-admins'] }, { alg: 'EdDSA' })

  // viewer: reads, cannot act
  t.equal((await rig.call('GET', '/v1/providers', viewer)).status, 200, 'a viewer reads providers')
  const denied = await rig.call('POST', '/v1/providers/fetch/quarantine', viewer, { reason: 'try' })
  t.equal(denied.status, 403, 'a viewer cannot quarantine')
  t.match(denied.json, { error: { code: 'forbidden', required_role: 'operator', role: 'viewer' } })
  t.equal(rig.agg.service.provider('fetch')!.quarantined, false, 'nothing changed')
  const records = await rig.waitRecords('admin_action_denied', 1)
  t.ok(records.some((r) => r.caller === 'vera' && r.caller_verified === true && r.details?.required_role === 'operator'), 'the denial names the verified subject and the role it needed')

  // operator: acts, cannot manage keys
  const q = await rig.call('POST', '/v1/providers/fetch/quarantine', operator, { reason: 'incident 42' })
  t.equal(q.status, 200, 'an operator quarantines')
  t.equal(rig.agg.service.provider('fetch')!.quarantined, true)
  t.equal((await rig.call('POST', '/v1/keys', operator, { name: 'x', role: 'viewer' })).status, 403, 'an operator cannot create keys')
  const done = await rig.waitRecords('admin_action', 1)
  t.ok(done.some((r) => r.details?.action === 'quarantine' && r.caller === 'otto' && r.caller_verified === true), 'the quarantine is on record naming the operator')

  // admin: keys
  const created = await rig.call('POST', '/v1/keys', admin, { name: 'from-oidc-admin', role: 'viewer' })
  t.equal(created.status, 201, 'an admin creates a key')
  t.equal((await rig.call('GET', '/v1/providers', created.json!.key as string)).status, 200, 'and the new key works')

  // refused tokens
  const wrongKey = await idp.newKey('RS256', false)
  const refused: Array<[string, string]> = [
    ['expired', await idp.mint({ sub: 'ada', groups: ['platform-admins'] }, { expIn: -600 })],
    ['wrong audience', await idp.mint({ sub: 'ada', groups: ['platform-admins'] }, { aud: 'another-service' })],
    ['wrong issuer', await idp.mint({ sub: 'ada', groups: ['platform-admins'] }, { iss: 'https://evil.test' })],
    ['unpublished key', await idp.mint({ sub: 'ada', groups: ['platform-admins'] }, { key: wrongKey })],
    ['no mapped group', await idp.mint({ sub: 'mallory', groups: ['contractors'] })],
  ]
  for (const [what, token] of refused) {
    const r = await rig.call('GET', '/v1/providers', token)
    t.equal(r.status, 401, `${what}: 401`)
    t.match(String(r.headers['www-authenticate']), /^Bearer realm="[^"]+", error="invalid_token"/, `${what}: RFC 6750 invalid_token`)
  }
  t.equal((await rig.call('GET', '/v1/providers', STATIC.admin)).status, 200, 'control: the static admin token still works (break glass)')
})
