/**
 * aggregator/admin-audit.ts over a real aggregator store: `admin_action` and
 * `admin_action_denied` records with the actor, valid signals of the catalogue; the denial rate
 * limit per principal (10 a window one by one, the rest one roll-up with the count at the end of
 * the window, or at close); principals beyond the tracked limit share a bucket; a store that
 * refuses makes `action()` false, logged and counted, never a throw.
 */
import t from 'tap'
import { AdminAudit, AGGREGATOR_PROVIDER } from '../../aggregator/admin-audit.js'
import type { Principal } from '../../core/ports.js'
import { validateSignal } from '../../signals/validate.js'
import type { Signal } from '../../signals/types.js'
import { rbacRig } from '../fixtures/aggregator/rbac.js'
import { captureLog } from '../fixtures/aggregator/signals.js'

const P = (n: string, role: Principal['role'] = 'viewer'): Principal => ({ id: `hk_${n.padStart(8, '0')}`, name: n, role, via: 'api_key' })

async function rig(t: Parameters<typeof rbacRig>[0], o: { windowMs?: number; failing?: boolean } = {}) {
  const r = await rbacRig(t, { auth: undefined })
  const cap = captureLog()
  let now = Date.now()
  const stored: Signal[] = []
  const audit = new AdminAudit({
    ingest: async (s) => {
      if (o.failing) throw new Error('the audit log has no room')
      for (const x of s) {
        const v = validateSignal(x)
        if (!v.ok) throw new Error(`invalid signal: ${v.error}`)
      }
      stored.push(...s)
      return r.agg.service.ingest(s)
    },
    log: cap.log,
    metrics: r.agg.metrics, windowMs: o.windowMs ?? 60_000, now: () => now,
  })
  t.teardown(() => audit.close())
  return { ...r, audit, stored, logLines: cap.lines, tick: (ms: number) => (now += ms) }
}

t.test('action: an admin_action naming the actor, stored durably; the provider acted on, or the aggregator', async (t) => {
  const r = await rig(t)
  t.equal(await r.audit.action(P('ops', 'operator'), { action: 'quarantine', via: { route: 'POST /v1/providers/{name}/quarantine' }, provider: 'fetch', reason: 'ops quarantined fetch', details: { changed: true } }), true)
  t.equal(await r.audit.action(P('root', 'admin'), { action: 'key_create', via: { route: 'POST /v1/keys' }, reason: 'root created a key', details: { key_id: 'hk_1' } }), true)
  const [q, k] = r.records('admin_action').reverse()
  t.match(q, { kind: 'lifecycle', type: 'admin_action', severity: 'medium', action: 'allowed', enforcement_mode: 'block', provider: 'fetch', sidecar_id: 'aggregator', caller: 'ops', caller_verified: true, reason: 'ops quarantined fetch' })
  t.same(q!.details, { action: 'quarantine', principal: 'hk_00000ops', via: 'api_key', role: 'operator', route: 'POST /v1/providers/{name}/quarantine', provider: 'fetch', changed: true })
  t.match(k, { provider: AGGREGATOR_PROVIDER, caller: 'root', details: { action: 'key_create', key_id: 'hk_1', role: 'admin' } })
  t.match((await r.agg.metrics.registry.getSingleMetricAsString('mcp_hangar_aggregator_admin_actions_total')), /action="quarantine"} 1/)
  t.equal(r.agg.service.provider('fetch')!.violations_total, 0, 'an admin action is not a violation of the provider')
})

t.test('denied: one record each up to 10 a window per principal, then one roll-up with the count', async (t) => {
  const r = await rig(t)
  const viewer = P('dash')
  for (let i = 0; i < 25; i++) r.audit.denied(viewer, { via: { route: 'POST /v1/keys' }, required: 'admin' })
  r.audit.denied(P('other', 'operator'), { via: { tool: 'hangar_call' }, required: 'admin', provider: 'fetch' })
  const first = await r.waitRecords('admin_action_denied', 11)
  t.equal(first.length, 11, '10 for the flooding principal, 1 for the other')
  t.ok(first.every((d) => d.provider === AGGREGATOR_PROVIDER && d.kind === 'violation' && d.action === 'blocked'))
  t.equal(r.agg.service.provider('fetch')!.violations_total, 0, 'a refusal naming fetch is not fetch\'s violation')
  t.match(first.find((d) => d.caller === 'other'), { details: { tool: 'hangar_call', provider: 'fetch', required_role: 'admin', role: 'operator' }, reason: 'other (role operator) was refused tool hangar_call: it needs role admin' })
  r.tick(61_000)
  r.audit.denied(viewer, { via: { route: 'GET /v1/export' }, required: 'admin' })
  const after = await r.waitRecords('admin_action_denied', 13)
  const rollup = after.find((d) => d.details?.suppressed !== undefined)
  t.match(rollup, { caller: 'dash', details: { suppressed: 15, principal: 'hk_0000dash', last_required_role: 'admin', last_route: 'POST /v1/keys' } })
  t.match(rollup!.reason, /^15 more refused actions by dash within 61 s were folded into this record$/)
  t.equal(after.length, 13, 'the roll-up, and the first denial of the new window recorded one by one')
  t.match(await r.agg.metrics.registry.getSingleMetricAsString('mcp_hangar_aggregator_access_denied_total'), /required_role="admin"} 27/, 'every refusal counted')
  t.match(await r.agg.metrics.registry.getSingleMetricAsString('mcp_hangar_aggregator_access_denied_suppressed_total'), / 15$/m)
})

t.test('close records the open roll-ups; principals beyond the tracked limit share one bucket', async (t) => {
  const r = await rig(t)
  for (let i = 0; i < 1100; i++) r.audit.denied(P(`u${i}`), { via: { route: 'GET /v1/export' }, required: 'admin' })
  for (let i = 0; i < 20; i++) r.audit.denied(P('u1099'), { via: { route: 'GET /v1/export' }, required: 'admin' })
  await r.audit.close()
  const all = r.stored.filter((s) => s.type === 'admin_action_denied')
  const rollups = all.filter((d) => d.details?.suppressed !== undefined)
  t.equal(all.length - rollups.length, 1024 + 10, 'one each for the 1024 tracked principals, 10 for the shared bucket')
  const shared = rollups.find((d) => d.caller === undefined)
  t.match(shared, { details: { suppressed: 1100 - 1024 + 20 - 10 } }, 'the shared bucket\'s roll-up names no single caller')
  t.match(shared!.reason, /principals beyond the tracked limit/)
})

t.test('a store that refuses: action() is false, logged, counted; denied() never throws', async (t) => {
  const r = await rig(t, { failing: true })
  t.equal(await r.audit.action(P('ops', 'operator'), { action: 'approve', via: { tool: 'hangar_approve' }, provider: 'fetch', reason: 'x' }), false)
  r.audit.denied(P('dash'), { via: { route: 'POST /v1/keys' }, required: 'admin' })
  await r.audit.close()
  t.match(await r.agg.metrics.registry.getSingleMetricAsString('mcp_hangar_aggregator_admin_audit_failures_total'), / 2$/m)
  t.equal(r.stored.length, 0)
  t.ok(r.logLines.some((l) => l.level === 50 && l.msg === 'the aggregator could not store its own audit record' && l.type === 'admin_action'), 'an error line for the action')
})
