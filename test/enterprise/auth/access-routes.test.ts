/**
 * RBAC on the aggregator through its real listener, with the enterprise access module: a table
 * GENERATED FROM THE ROUTE TABLE (aggregator/http/routes.ts) × every credential class (none, a
 * signal token, viewer / operator / admin API keys, a revoked key, an expired key, the static
 * admin token, an mcp token) → the expected status. A route added to the table without a sample
 * request here fails the first test; a route the server answered without checking its role would
 * fail the expected 401/403 cells. Each 403 names both roles and leaves exactly one
 * `admin_action_denied` record naming the actor; each admin action leaves an `admin_action`.
 */
import t from 'tap'
import { ROUTE_ROLES, ROUTES, type RouteSpec } from '../../../aggregator/http/routes.js'
import { loadEnterprise } from '../../../cli/enterprise.js'
import { createPortRegistry, type AccessPort } from '../../../core/ports.js'
import { startAccess } from '../../../enterprise/auth/access.js'
import { createAccess } from '../../../enterprise/auth/index.js'
import { captureLog, signal } from '../../fixtures/aggregator/signals.js'
import { rbacRig, ROUTE_SAMPLES as SAMPLES, STATIC } from '../../fixtures/aggregator/rbac.js'

type Cred = 'none' | 'signal' | 'viewer' | 'operator' | 'admin' | 'revoked' | 'expired' | 'static_admin' | 'mcp'
const CREDS: Cred[] = ['none', 'signal', 'viewer', 'operator', 'admin', 'revoked', 'expired', 'static_admin', 'mcp']

/** The role each credential class holds where it is a user credential (independent of the code under test). */
const RANK: Record<string, number> = { viewer: 1, operator: 2, admin: 3 }

/** What a credential class gets on a route: the sample's status, 401 or 403. */
function expected(route: RouteSpec, cred: Cred): 'ok' | 401 | 403 {
  if (route.role === 'public') return 'ok'
  const userRole: Record<Cred, string | undefined> = {
    none: undefined, signal: undefined, revoked: undefined, expired: undefined,
    viewer: 'viewer', operator: 'operator', admin: 'admin', static_admin: 'admin', mcp: route.mcpTokens ? 'operator' : undefined,
  }
  if (route.role === 'signal') return cred === 'signal' ? 'ok' : userRole[cred] && cred !== 'mcp' ? 403 : 401
  const held = userRole[cred]
  if (!held) return 401
  return RANK[held]! >= RANK[route.role]! ? 'ok' : 403
}

/** An access port whose key store runs `skewMs` ahead (to expire a key without waiting). */
function skewedAccess(clock: { skewMs: number }): AccessPort {
  return { start: (ctx) => startAccess(ctx, { now: () => Date.now() + clock.skewMs }) }
}

t.test('every route of the table has a role and a sample request here', async (t) => {
  for (const r of ROUTES) {
    t.ok(ROUTE_ROLES.includes(r.role), `${r.method} ${r.path}: role ${r.role}`)
    t.ok(SAMPLES[r.id], `${r.id} (${r.method} ${r.path}) has a sample request: a new route needs one, and its role is then tried with every credential`)
  }
  t.same(Object.keys(SAMPLES).sort(), ROUTES.map((r) => r.id).sort(), 'no sample for a route that is gone')
})

t.test('every route × every credential class → the status its role gives', async (t) => {
  const clock = { skewMs: 0 }
  const rig = await rbacRig(t, { access: skewedAccess(clock) })
  const viewer = await rig.createKey('viewer-key', 'viewer')
  const operator = await rig.createKey('operator-key', 'operator')
  const admin = await rig.createKey('admin-key', 'admin')
  const revoked = await rig.createKey('revoked-key', 'admin')
  t.equal((await rig.call('DELETE', `/v1/keys/${revoked.id}`, STATIC.admin)).status, 200)
  const expired = await rig.createKey('expired-key', 'admin', new Date(Date.now() + 60_000).toISOString())
  t.equal((await rig.call('GET', '/v1/keys', expired.key)).status, 200, 'control: the soon-expiring key works before its expiry')
  t.equal((await rig.call('GET', '/v1/keys', revoked.key)).status, 401, 'the revoked key is refused')
  clock.skewMs = 120_000
  const token: Record<Cred, string | undefined> = {
    none: undefined, signal: STATIC.signal, viewer: viewer.key, operator: operator.key, admin: admin.key,
    revoked: revoked.key, expired: expired.key, static_admin: STATIC.admin, mcp: STATIC.mcp,
  }
  const deniedBy = new Map<string, number>()
  let actions = 0
  for (const route of ROUTES) {
    const s = SAMPLES[route.id]!
    for (const cred of CREDS) {
      const r = await rig.call(s.method, s.path, token[cred], s.body?.(), s.headers)
      const want = expected(route, cred)
      const what = `${route.method} ${route.path} (${route.role}) with ${cred}`
      if (want === 'ok') {
        t.equal(r.status, s.ok, `${what} → ${s.ok}`)
        if (route.action && r.status < 300) actions++
      } else {
        t.equal(r.status, want, `${what} → ${want}`)
        if (want === 401) {
          t.match(r.headers['www-authenticate'], /^Bearer realm="mcp-hangar"/, `${what}: WWW-Authenticate`)
          t.equal(r.json?.error.code, 'unauthorized')
        } else {
          t.equal(r.json?.error.code, 'forbidden', `${what}: forbidden`)
          t.equal(r.json?.error.required_role, route.role, `${what}: names the role needed`)
          t.equal(r.json?.error.role, cred === 'static_admin' ? 'admin' : cred, `${what}: names the role held`)
          t.match(r.json?.error.message, new RegExp(`needs .*${route.role === 'signal' ? 'signal token' : `role ${route.role}`}.*holds role`), `${what}: the message says both`)
          deniedBy.set(cred, (deniedBy.get(cred) ?? 0) + 1)
        }
      }
    }
  }
  const total = [...deniedBy.values()].reduce((a, b) => a + b, 0)
  t.ok(total > 10, `${total} refusals with 403`)
  const denied = await rig.waitRecords('admin_action_denied', total)
  t.equal(denied.length, total, 'one admin_action_denied record per 403 (under the per-principal rate limit)')
  for (const [cred, n] of deniedBy) {
    const name = { viewer: 'viewer-key', operator: 'operator-key', admin: 'admin-key', static_admin: 'admin token' }[cred as string]
    const mine = denied.filter((d) => d.caller === name)
    t.equal(mine.length, n, `${cred}: ${n} records name it as the caller`)
    t.ok(mine.every((d) => d.caller_verified === true && d.kind === 'violation' && d.action === 'blocked' && d.provider === 'hangar:aggregator' && d.sidecar_id === 'aggregator'), `${cred}: fields`)
    t.ok(mine.every((d) => typeof d.details?.required_role === 'string' && typeof d.details?.route === 'string' && d.details?.role === (cred === 'static_admin' ? 'admin' : cred)), `${cred}: details name the route and both roles`)
  }
  t.ok(denied.some((d) => d.details?.route === 'POST /v1/keys' && d.details?.required_role === 'admin' && d.caller === 'viewer-key'), 'a viewer trying to create a key is on record')
  t.ok(denied.some((d) => d.details?.route === 'POST /v1/signals' && d.details?.required_role === 'signal' && d.caller === 'admin token'), 'an admin trying to forge signals is on record')
  const done = await rig.waitRecords('admin_action', actions + 6)
  t.equal(done.length, actions + 6, `one admin_action per admin action (${actions} in the table, plus 5 keys created and 1 revoked at setup)`)
  t.ok(done.some((d) => d.details?.action === 'quarantine' && d.provider === 'fetch' && d.caller === 'operator-key' && d.details?.principal === operator.id), 'the operator key\'s quarantine names it')
  t.ok(done.some((d) => d.details?.action === 'key_revoke' && d.details?.key_id === revoked.id && d.caller === 'admin token'), 'the revocation names its actor')
})

t.test('a request denied by role changes nothing: a viewer cannot quarantine, nor an operator create a key', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const viewer = await rig.createKey('v', 'viewer')
  const operator = await rig.createKey('o', 'operator')
  t.equal((await rig.call('POST', '/v1/providers/fetch/quarantine', viewer.key, { reason: 'x' })).status, 403)
  t.equal((await rig.call('GET', '/v1/providers/fetch', viewer.key)).json?.quarantined, false, 'not quarantined')
  t.equal((await rig.call('POST', '/v1/keys', operator.key, { name: 'sneaky', role: 'admin' })).status, 403)
  t.notOk(((await rig.call('GET', '/v1/keys', STATIC.admin)).json?.keys as Array<{ name: string }>).some((k) => k.name === 'sneaky'), 'no key made')
  t.equal((await rig.call('POST', '/v1/providers/fetch/quarantine', operator.key, { reason: 'x' })).status, 200, 'control: the operator quarantines')
  t.equal((await rig.call('GET', '/v1/providers/fetch', viewer.key)).json?.quarantined, true)
  t.equal((await rig.call('POST', '/v1/signals', operator.key, { signals: [signal(1)] })).status, 403, 'no user role ingests')
  t.equal(rig.records('egress_denied').length, 0, 'nothing forged')
})

t.test('under RBAC an empty admin_tokens list opens nothing, and a garbage credential is a 401', async (t) => {
  const open = await rbacRig(t, { adminTokens: [] })
  t.equal((await open.call('GET', '/v1/providers')).status, 200, 'control: without the module an empty admin_tokens list opens the admin routes, as always')
  const rig = await rbacRig(t, { access: createAccess(), adminTokens: [] })
  for (const tok of [undefined, 'hk_zz', 'hk_00000000_' + 'a'.repeat(43), 'not-a-key', 'a.b.c', STATIC.signal]) {
    const r = await rig.call('GET', '/v1/providers', tok)
    t.equal(r.status, 401, `GET /v1/providers with ${tok ?? 'nothing'} → 401`)
  }
  const r = await rig.call('GET', '/v1/providers', 'hk_00000000_' + 'a'.repeat(43))
  t.match(r.json?.error.message, /unknown API key hk_00000000/, 'an unknown key id is named')
})

t.test('no key is issued without its audit record: with the audit log full, POST /v1/keys is 503 and the key does not work', async (t) => {
  const rig = await rbacRig(t, { access: createAccess(), aggregator: { audit_max_bytes: 4096, audit_keep_files: 2, audit_max_total_bytes: 16384 } })
  const ok = await rig.createKey('before', 'admin')
  t.ok(ok.key, 'control: a key is issued while there is room')
  let n = 5000
  let full = false
  // Fill the budget with violations until not even one more record fits.
  for (const size of [10, 1]) {
    for (let i = 0; i < 400; i++) {
      const r = await rig.call('POST', '/v1/signals', STATIC.signal, { signals: Array.from({ length: size }, () => signal(n++, { reason: 'x' })) })
      if (r.status === 507) {
        full = true
        break
      }
    }
  }
  t.ok(full, 'the audit log refuses even one more record')
  const r = await rig.call('POST', '/v1/keys', STATIC.admin, { name: 'during', role: 'admin' })
  t.equal(r.status, 503, 'refused')
  t.equal(r.json?.error.code, 'unavailable')
  t.match(r.json?.error.message, /the key was not issued: its audit record could not be stored/)
  t.equal(r.json?.key, undefined, 'no key in the answer')
  const listed = (await rig.call('GET', '/v1/keys', STATIC.admin)).json?.keys as Array<{ name: string; revoked?: string }>
  t.ok(listed.find((k) => k.name === 'during')?.revoked, 'the record that was made is revoked')
  t.match((await rig.call('GET', '/metrics')).text, /mcp_hangar_aggregator_admin_audit_failures_total [1-9]/)
  const q = await rig.call('POST', '/v1/providers/fetch/quarantine', ok.key, { reason: 'disk full' })
  t.equal(q.status, 200, 'a quarantine never waits on the audit log: done even though its record could not be stored')
  t.equal((await rig.call('GET', '/v1/providers/fetch', ok.key)).json?.quarantined, true)
})

t.test('the community grant (fewer than 5 providers, no key) loads the real module through the enterprise loader: RBAC runs', async (t) => {
  const registry = createPortRegistry()
  const license = await loadEnterprise({ providers: 1, key: undefined, registry, log: captureLog().log })
  t.equal(license.mode, 'community')
  t.equal(typeof registry.access?.start, 'function', 'the access port is registered')
  const rig = await rbacRig(t, { ports: registry })
  const viewer = await rig.createKey('v', 'viewer')
  t.equal((await rig.call('GET', '/v1/providers', viewer.key)).status, 200)
  t.equal((await rig.call('POST', '/v1/keys', viewer.key, { name: 'x', role: 'admin' })).status, 403)
  t.same((await rig.call('GET', '/v1/status', STATIC.admin)).json?.degraded, [], 'nothing degraded')
})

t.test('credential tricks: a key only counts as a bearer token, as itself; a spoofed caller header names nobody', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const viewer = await rig.createKey('dash', 'viewer')
  const admin = await rig.createKey('root', 'admin')
  t.equal((await rig.call('GET', '/v1/keys', admin.key)).status, 200, 'control: the admin key as a bearer token')
  const tries: Array<[string, Record<string, string>, string]> = [
    ['Basic', { authorization: `Basic ${Buffer.from(`x:${admin.key}`).toString('base64')}` }, '/v1/keys'],
    ['a query parameter (RFC 6750 §2.3 is not supported)', {}, `/v1/keys?access_token=${admin.key}`],
    ['X-Hangar-Caller', { 'x-hangar-caller': admin.key }, '/v1/keys'],
    ['upper-case prefix', { authorization: `Bearer ${admin.key.replace('hk_', 'HK_')}` }, '/v1/keys'],
    ['the secret without its id', { authorization: `Bearer ${admin.key.slice(12)}` }, '/v1/keys'],
    ['another key\'s id with this secret', { authorization: `Bearer ${viewer.key.slice(0, 12)}${admin.key.slice(12)}` }, '/v1/keys'],
    ['an unverified JWT naming an admin', { authorization: `Bearer eyJhbGciOiJub25lIn0.${Buffer.from('{"sub":"root","groups":["admins"]}').toString('base64url')}.` }, '/v1/keys'],
  ]
  for (const [what, headers, path] of tries) t.equal((await rig.call('GET', path, undefined, undefined, headers)).status, 401, `${what} → 401`)
  t.equal((await rig.call('GET', '/v1/keys', `  ${admin.key}  `)).status, 200, 'control: surrounding spaces are trimmed (RFC 6750 b64token)')
  const r = await rig.call('POST', '/v1/providers/fetch/quarantine', viewer.key, { reason: 'x' }, { 'x-hangar-caller': 'root' })
  t.equal(r.status, 403, 'a viewer claiming to be root is still a viewer')
  const [d] = await rig.waitRecords('admin_action_denied', 1)
  t.equal(d?.caller, 'dash', 'the record names the key, not the header')
  const q = await rig.call('POST', '/v1/providers/fetch/quarantine', admin.key, { reason: 'x' }, { 'x-hangar-caller': 'someone-else' })
  t.equal(q.status, 200)
  const [a] = (await rig.waitRecords('admin_action', 3)).filter((x) => x.details?.action === 'quarantine')
  t.equal(a?.caller, 'root', 'the action names the key that did it')
})

t.test('path tricks reach no route without its role check', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const viewer = await rig.createKey('dash', 'viewer')
  for (const p of ['/v1/keys/', '//v1/keys', '/v1/%6beys', '/v1/keys%2f', '/v1/providers/fetch/quarantine/', '/v1/providers/fetch%2Fquarantine', '/V1/KEYS', '/v1/./keys']) {
    const r = await rig.call('POST', p, viewer.key, { name: 'x', role: 'admin', reason: 'x' })
    t.ok(r.status === 404 || r.status === 403 || r.status === 405, `POST ${p} → ${r.status}`)
  }
  t.equal((await rig.call('GET', '/v1/keys', STATIC.admin)).json?.keys.length, 1, 'no key made')
  t.equal((await rig.call('GET', '/v1/providers/fetch', viewer.key)).json?.quarantined, false, 'nothing quarantined')
  t.equal((await rig.call('HEAD', '/v1/keys', viewer.key)).status, 405, 'HEAD is not GET')
})

t.test('a script hammering a forbidden route: every request 403, ten records, then one roll-up (written at stop at the latest)', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const viewer = await rig.createKey('script', 'viewer')
  for (let i = 0; i < 40; i++) t.equal((await rig.call('POST', '/v1/keys', viewer.key, { name: `x${i}`, role: 'admin' })).status, 403, `attempt ${i + 1}: 403`)
  t.equal((await rig.waitRecords('admin_action_denied', 10)).length, 10, 'ten records while the minute lasts')
  const metrics = (await rig.call('GET', '/metrics')).text
  t.match(metrics, /mcp_hangar_aggregator_access_denied_total\{required_role="admin"\} 40/, 'every refusal counted')
  t.match(metrics, /mcp_hangar_aggregator_access_denied_suppressed_total 30/)
  await rig.stop()
  const again = await rbacRig(t, { access: createAccess(), dir: rig.dir })
  const all = again.records('admin_action_denied')
  t.equal(all.length, 11, 'ten, and the roll-up written at stop')
  const rollup = all.find((d) => d.details?.suppressed !== undefined)
  t.match(rollup, { caller: 'script', details: { suppressed: 30, last_route: 'POST /v1/keys', last_required_role: 'admin' } })
})
