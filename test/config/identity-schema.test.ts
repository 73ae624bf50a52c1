/**
 * config/identity-schema.ts: `ingress.auth.oidc` — an issuer entry with its defaults; strictness
 * (an unknown key is an error naming its path, through the YAML loader too); exactly one key
 * source; https only (http for loopback); algorithms limited to RS256/ES256/EdDSA; duplicate
 * issuers refused. Each refusal has a control that passes. Caller-scoped tool rules through the
 * loader are here too, since they only make sense with an issuer.
 */
import t from 'tap'
import type { ZodError } from 'zod'
import { ingressAuthSchema, oidcIssuerSchema, oidcListSchema, OIDC_ALGORITHMS } from '../../config/identity-schema.js'
import { parseConfig } from '../../config/load.js'

function issues(value: unknown, schema: { safeParse: (v: unknown) => { success: boolean; error?: unknown } } = oidcIssuerSchema): string[] {
  const r = schema.safeParse(value)
  if (r.success) return []
  return (r.error as ZodError).issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

const BASE = { issuer: 'https://idp.example.test/realms/x', audience: 'mcp', jwks_uri: 'https://idp.example.test/realms/x/certs' }

t.test('an entry parses with its defaults', async (t) => {
  const r = oidcIssuerSchema.parse(BASE)
  t.same(r, {
    ...BASE, algorithms: [...OIDC_ALGORITHMS], clock_skew_s: 60, subject_claim: 'sub', groups_claim: 'groups', claims: [],
    jwks_cache_ms: 600_000, jwks_cooldown_ms: 30_000, jwks_timeout_ms: 5000,
  })
  t.same(OIDC_ALGORITHMS, ['RS256', 'ES256', 'EdDSA'])
})

t.test('refusals, each with a control', async (t) => {
  t.same(issues({ ...BASE, extra: 1 }), [": Unrecognized key(s) in object: 'extra'"], 'unknown key')
  t.match(issues({ ...BASE, jwks_uri: undefined }).join(), /jwks_uri: give exactly one of jwks_uri or jwks_file/, 'no key source')
  t.match(issues({ ...BASE, jwks_file: '/etc/jwks.json' }).join(), /jwks_uri: give exactly one/, 'two key sources')
  t.same(issues({ ...BASE, jwks_uri: undefined, jwks_file: '/etc/jwks.json' }), [], 'control: a file alone')
  t.match(issues({ ...BASE, jwks_uri: 'http://idp.example.test/certs' }).join(), /expected an https:\/\/ URL/, 'plain http to a remote host')
  for (const loop of ['http://127.0.0.1:8080/certs', 'http://localhost/certs', 'http://[::1]:9/certs']) t.same(issues({ ...BASE, jwks_uri: loop }), [], `control: ${loop}`)
  t.match(issues({ ...BASE, jwks_uri: 'http://127.0.0.1.evil.example/certs' }).join(), /https/, 'a loopback-looking host name is not loopback')
  t.match(issues({ ...BASE, jwks_uri: undefined, jwks_file: 'j.json', ca_file: 'ca.pem' }).join(), /ca_file: ca_file verifies the jwks_uri server/, 'ca_file without jwks_uri')
  t.same(issues({ ...BASE, ca_file: 'ca.pem' }), [], 'control: ca_file with jwks_uri')
  for (const alg of ['none', 'HS256', 'RS384', 'PS256']) t.match(issues({ ...BASE, algorithms: [alg] }).join(), /algorithms\.0: Invalid enum value/, `algorithm ${alg}`)
  t.match(issues({ ...BASE, algorithms: [] }).join(), /algorithms: /, 'no algorithm')
  t.match(issues({ ...BASE, audience: [] }).join(), /audience/, 'an empty audience list')
  t.same(issues({ ...BASE, audience: ['a', 'b'] }), [], 'control: several audiences')
  t.match(issues({ ...BASE, clock_skew_s: 601 }).join(), /clock_skew_s/, 'skew over 10 min')
  t.match(issues({ ...BASE, subject_claim: 'has space' }).join(), /subject_claim: expected a claim name/)
  t.match(issues({ ...BASE, claims: Array.from({ length: 17 }, (_, i) => `c${i}`) }).join(), /claims/, 'more than 16 claims')
  t.match(issues({ ...BASE, issuer: 'not a url' }).join(), /issuer: Invalid url/)
  t.match(issues([BASE, { ...BASE }], oidcListSchema).join(), /1\.issuer: issuer "https:\/\/idp\.example\.test\/realms\/x" is listed twice/, 'duplicate issuers')
  t.match(issues([], oidcListSchema).join(), /Array must contain at least 1/, 'an empty list')
  t.match(issues({ oidc: [BASE], static: true }, ingressAuthSchema).join(), /Unrecognized key/, 'ingress.auth is strict')
})

t.test('through the YAML loader: paths name the provider; scoped rules load', async (t) => {
  const yaml = (auth: string, tools = '') => `
providers:
  gh:
    mode: remote
    endpoint: https://mcp.example.test/mcp
    listen: 127.0.0.1:0
    ingress:
      auth:
        oidc:
          - issuer: https://idp.example.test
            audience: mcp
            jwks_uri: https://idp.example.test/certs
${auth}
${tools}
`
  const loaded = parseConfig(yaml('            groups_claim: roles', `    capabilities:
      tools:
        allow_list: [read_*, { tool: "write_*", callers: ["group:admins", "user:bob"] }]
        deny_list: [{ tool: "delete_*", callers: ["*"] }]`))
  const gh = loaded.config.providers.gh!
  t.equal(gh.ingress.auth?.oidc[0]?.groups_claim, 'roles')
  t.same(gh.capabilities.tools.allow_list, ['read_*', { tool: 'write_*', callers: ['group:admins', 'user:bob'] }])
  t.throws(() => parseConfig(yaml('            jwks_refresh: 10')), /providers\.gh\.ingress\.auth\.oidc\[0\]\.jwks_refresh: unknown field "jwks_refresh"/, 'unknown key named with its path')
  t.throws(() => parseConfig(yaml('', `    capabilities:
      tools:
        allow_list: [{ tool: "write_*", callers: [] }]`)), /providers\.gh\.capabilities\.tools\.allow_list\[0\]\.callers: a caller-scoped rule must name at least one caller/)
  t.throws(() => parseConfig(yaml('', `    capabilities:
      tools:
        deny_list: [{ tool: "write_*", callers: ["admins"] }]`)), /providers\.gh\.capabilities\.tools\.deny_list\[0\]\.callers\[0\]: "admins" is not a caller/)
  t.throws(() => parseConfig(yaml('', `    capabilities:
      tools:
        deny_list: [{ tool: "write_*", callers: ["*"], roles: [x] }]`)), /providers\.gh\.capabilities\.tools\.deny_list\[0\]\.roles: unknown field "roles"/)
})
