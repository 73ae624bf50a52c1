/**
 * aggregator/aggregator.ts with `aggregator.auth` but without the enterprise access module: five
 * providers and no license key (the enterprise loader refuses the community grant), so RBAC does
 * not run. Every route answers every token class exactly as an aggregator without
 * `aggregator.auth` does (signal tokens ingest only; the admin token everything else; mcp tokens
 * /mcp only; no credential nothing), `/v1/keys` answers 501 naming the license requirement, no
 * admin_action record is written, and `/v1/status`, the log and
 * `mcp_hangar_enterprise_feature_disabled{feature="rbac"}` say RBAC is configured but not running.
 */
import t from 'tap'
import { ROUTES } from '../../aggregator/http/routes.js'
import { loadEnterprise } from '../../cli/enterprise.js'
import { createPortRegistry } from '../../core/ports.js'
import { captureLog } from '../fixtures/aggregator/signals.js'
import { rbacRig, ROUTE_SAMPLES, STATIC } from '../fixtures/aggregator/rbac.js'

const TOKENS = { none: undefined, signal: STATIC.signal, admin: STATIC.admin, mcp: STATIC.mcp } as const

/** Today's token classes: what each token class gets on a route (without RBAC). */
function legacy(route: (typeof ROUTES)[number], cls: keyof typeof TOKENS): 'ok' | 401 {
  if (route.role === 'public') return 'ok'
  if (route.role === 'signal') return cls === 'signal' ? 'ok' : 401
  if (route.mcpTokens) return cls === 'admin' || cls === 'mcp' ? 'ok' : 401
  return cls === 'admin' ? 'ok' : 401
}

t.test('five providers, no license, aggregator.auth set: the same answers as without it; keys 501; rbac degraded', async (t) => {
  const registry = createPortRegistry()
  const license = await loadEnterprise({ providers: 5, key: undefined, registry, log: captureLog().log })
  t.equal(license.mode, 'unlicensed', 'five providers: no community grant')
  t.equal(registry.access, undefined, 'no access module')
  const withAuth = await rbacRig(t, { ports: registry, providers: 4, auth: { role_groups: { admin: ['ops'] }, key_default_ttl_days: 30 } })
  const plain = await rbacRig(t, { ports: createPortRegistry(), providers: 4, auth: undefined })
  for (const route of ROUTES) {
    const s = ROUTE_SAMPLES[route.id]!
    for (const cls of Object.keys(TOKENS) as (keyof typeof TOKENS)[]) {
      const a = await withAuth.call(s.method, s.path, TOKENS[cls], s.body?.(), s.headers)
      const b = await plain.call(s.method, s.path, TOKENS[cls], s.body?.(), s.headers)
      const what = `${s.method} ${s.path} with ${cls}`
      t.equal(a.status, b.status, `${what}: ${a.status} with aggregator.auth, as without it`)
      const want = route.id.startsWith('key') && legacy(route, cls) === 'ok' ? 501 : legacy(route, cls) === 'ok' ? s.ok : 401
      t.equal(a.status, want, `${what} → ${want}`)
      if (a.status === 501) {
        t.equal(a.json?.error.code, 'not_implemented')
        t.match(a.json?.error.message, /API keys are not available: RBAC needs an enterprise license with the rbac feature \(no license key found/, 'names the license requirement')
        t.match(b.json?.error.message, /configure aggregator\.auth/, 'without aggregator.auth: says to configure it')
      }
    }
  }
  t.equal(withAuth.records('admin_action').length, 0, 'no admin_action records without RBAC')
  t.equal(withAuth.records('admin_action_denied').length, 0)
  const status = await withAuth.call('GET', '/v1/status', STATIC.admin)
  t.equal(status.json?.status, 'degraded')
  t.match(status.json?.degraded, [/^rbac: aggregator\.auth is configured but not enforced: RBAC needs an enterprise license with the rbac feature \(no license key found.*the static admin_tokens, mcp_tokens and signal_tokens decide$/])
  t.same((await plain.call('GET', '/v1/status', STATIC.admin)).json, { status: 'ok', ready: true, degraded: [] }, 'control: without aggregator.auth nothing is degraded')
  t.match((await withAuth.call('GET', '/metrics')).text, /mcp_hangar_enterprise_feature_disabled\{feature="rbac"\} 1/)
  t.notMatch((await plain.call('GET', '/metrics')).text, /feature="rbac"/)
  t.ok(withAuth.lines.some((l) => l.level === 50 && /aggregator\.auth is configured but RBAC is not running.*need a license with the rbac feature/.test(String(l.msg))), 'an error-level line names the license requirement')
})

t.test('a licensed registry without the rbac feature: RBAC does not run either, and says why', async (t) => {
  const registry = { ...createPortRegistry(), enterprise: true, license: { mode: 'licensed' as const, licensee: 'A', features: ['compliance_export'] } }
  const rig = await rbacRig(t, { ports: registry, auth: {} })
  t.match((await rig.call('GET', '/v1/status', STATIC.admin)).json?.degraded, [/rbac: .*the license \(licensed\) does not include the rbac feature/])
  t.equal((await rig.call('GET', '/v1/keys', STATIC.admin)).status, 501)
  t.equal((await rig.call('GET', '/v1/providers', STATIC.admin)).status, 200, 'the admin token works as always')
})
