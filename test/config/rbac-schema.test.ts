/**
 * config/rbac-schema.ts (`aggregator.auth`), through the whole config schema: defaults, strict
 * objects (an unknown key is an error naming its path, at every level), role names limited to the
 * three roles, the key TTL bounds, and the OIDC list checked by the identity schema.
 */
import t from 'tap'
import { hangarConfigSchema } from '../../config/schema.js'
import { rbacConfigSchema } from '../../config/rbac-schema.js'

const parse = (auth: unknown) => hangarConfigSchema.safeParse({ aggregator: { auth } })
const paths = (auth: unknown): string[] => {
  const r = parse(auth)
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

t.test('defaults: no role groups, keys never expire, no OIDC', async (t) => {
  t.same(rbacConfigSchema.parse({}), { role_groups: { viewer: [], operator: [], admin: [] }, key_default_ttl_days: 0 })
  const r = parse({})
  t.equal(r.success, true)
  t.same(r.success && r.data.aggregator?.auth, { role_groups: { viewer: [], operator: [], admin: [] }, key_default_ttl_days: 0 })
  t.equal(hangarConfigSchema.parse({ aggregator: {} }).aggregator?.auth, undefined, 'absent: RBAC not configured')
})

t.test('role_groups and key_default_ttl_days as given', async (t) => {
  const r = rbacConfigSchema.parse({ role_groups: { admin: ['platform-admins'], viewer: ['eng', 'support'] }, key_default_ttl_days: '90' })
  t.same(r.role_groups, { viewer: ['eng', 'support'], operator: [], admin: ['platform-admins'] })
  t.equal(r.key_default_ttl_days, 90, 'a number from an environment variable')
})

t.test('unknown keys, bad roles and bounds are errors naming the path', async (t) => {
  t.match(paths({ roles: {} }), [/^aggregator\.auth: Unrecognized key\(s\) in object: 'roles'/])
  t.match(paths({ role_groups: { superuser: ['x'] } }), [/^aggregator\.auth\.role_groups: Unrecognized key\(s\) in object: 'superuser'/])
  t.match(paths({ role_groups: { admin: 'ops' } }), [/^aggregator\.auth\.role_groups\.admin: Expected array/])
  t.match(paths({ role_groups: { admin: [''] } }), [/^aggregator\.auth\.role_groups\.admin\.0: /])
  t.match(paths({ key_default_ttl_days: -1 }), [/^aggregator\.auth\.key_default_ttl_days: /])
  t.match(paths({ key_default_ttl_days: 1.5 }), [/^aggregator\.auth\.key_default_ttl_days: /])
  t.match(paths({ key_default_ttl_days: 36_501 }), [/^aggregator\.auth\.key_default_ttl_days: /])
  t.same(paths({ key_default_ttl_days: 36_500 }), [], 'control: the upper bound is accepted')
})

t.test('oidc: the identity schema checks each issuer', async (t) => {
  t.same(paths({ oidc: [{ issuer: 'https://idp.example.com/', audience: 'hangar', jwks_uri: 'https://idp.example.com/jwks' }] }), [], 'a valid issuer')
  t.ok(paths({ oidc: [{ issuer: 'https://idp.example.com/', audience: 'hangar' }] }).some((p) => p.startsWith('aggregator.auth.oidc.0')), 'an issuer without keys is refused, naming it')
  t.ok(paths({ oidc: [{ issuer: 'https://idp.example.com/', audience: 'hangar', jwks_uri: 'https://idp.example.com/jwks', extra: 1 }] }).some((p) => /^aggregator\.auth\.oidc\.0: Unrecognized key/.test(p)), 'strict')
})
