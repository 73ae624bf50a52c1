// aggregator/service.ts: the operations the HTTP API and the MCP tools share, over a real store,
// registry, policy book and baseline book: provider views with derived states, baselines, queries,
// quarantine/approve, and ingestion that applies a provider's own quarantine centrally.
import t from 'tap'
import { heartbeatSchema, MISSED_HEARTBEATS } from '../../aggregator/registry.js'
import { signal } from '../fixtures/aggregator/signals.js'
import { makeBaseline } from '../helpers/baseline.js'
import { serviceRig } from '../fixtures/aggregator/service.js'

const beat = (over: Record<string, unknown> = {}) => heartbeatSchema.parse({ provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready', ...over })
const digest = 'sha256:' + 'a'.repeat(64)

t.test('a configured provider that never reported: unreachable, no sidecar, no violations', async (t) => {
  const { service } = await serviceRig(t, ['fetch'])
  t.strictSame(service.provider('fetch'), { name: 'fetch', state: 'unreachable', configured: true, quarantined: false, policy_version: 0, violations: {}, violations_total: 0 })
  t.equal(service.provider('ghost'), undefined, 'neither configured nor heard from')
})

t.test('a heartbeat makes the provider ready with its sidecar fields; missed heartbeats make it unreachable', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  r.registry.beat(beat({ tools_digest: digest, provider_state: 'READY', isolation: 'netns', mcp_url: 'http://127.0.0.1:1/mcp', interval_ms: 1000 }))
  const v = r.service.provider('fetch')!
  t.equal(v.state, 'ready')
  t.equal(v.last_heartbeat, new Date(r.clock.now).toISOString())
  t.equal(v.isolation, 'netns')
  t.strictSame(v.sidecar, { sidecar_id: 'sc-1', version: '0.1.0', policy_version: 0, tools_digest: digest, provider_state: 'READY' })
  t.notOk('profile_digest' in v.sidecar!, 'absent fields are not written as undefined')
  t.equal(r.service.mcpUrl('fetch'), 'http://127.0.0.1:1/mcp')
  r.clock.now += MISSED_HEARTBEATS * 1000
  t.equal(r.service.provider('fetch')!.state, 'ready', 'exactly three intervals: still ready')
  r.clock.now += 1
  t.equal(r.service.provider('fetch')!.state, 'unreachable')
})

t.test('a degraded or self-quarantined sidecar shows as such', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  r.registry.beat(beat({ state: 'degraded' }))
  t.equal(r.service.provider('fetch')!.state, 'degraded')
  r.registry.beat(beat({ quarantined: true }))
  const v = r.service.provider('fetch')!
  t.equal(v.state, 'quarantined')
  t.equal(v.quarantined, true, "the sidecar's own quarantine counts")
  t.notOk('quarantine_reason' in v, 'no reason: the policy book did not quarantine it')
})

t.test('providers(): configured, heard from and policy-only providers, sorted', async (t) => {
  const r = await serviceRig(t, ['zeta', 'alpha'])
  r.registry.beat(beat({ provider: 'mid' }))
  r.policy.quarantine('policy-only', 'test', 'api')
  t.strictSame(r.service.providers().map((p) => [p.name, p.configured]), [['alpha', true], ['mid', false], ['policy-only', false], ['zeta', true]])
})

t.test('quarantine and approve go through the policy book; only a change is logged', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  const q = r.service.quarantine('fetch', 'exfiltration', 'api')
  t.equal(q.changed, true)
  t.equal(q.policy.quarantined, true)
  t.equal(r.service.quarantine('fetch', 'again', 'api').changed, false, 'already quarantined')
  t.equal(r.log.lines.filter((l) => l.msg === 'provider quarantined').length, 1)
  const v = r.service.provider('fetch')!
  t.strictSame([v.state, v.quarantined, v.quarantine_reason, v.policy_version], ['quarantined', true, 'exfiltration', 1])
  const a = r.service.approve('fetch', 'checked', 'api')
  t.strictSame([a.quarantined, a.version, a.approvals], [false, 2, 1])
  t.equal(r.service.policyOf('fetch').version, 2)
  t.equal(r.service.provider('fetch')!.quarantine_reason, undefined)
})

t.test('ingest stores, counts duplicates, and shows violations per provider', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  const first = await r.service.ingest([signal(1), signal(2, { type: 'tool_denied' }), signal(3, { kind: 'observation', type: 'egress_allowed', severity: 'info' })])
  t.strictSame(first, { accepted: 3, duplicates: 0, quarantined: [] })
  t.strictSame(await r.service.ingest([signal(1), signal(4)]), { accepted: 1, duplicates: 1, quarantined: [] })
  const v = r.service.provider('fetch')!
  t.strictSame(v.violations, { egress_denied: 2, tool_denied: 1 })
  t.equal(v.violations_total, 3)
  t.equal(v.last_violation?.id, signal(4).id)
  const page = r.service.query({ provider: 'fetch', kind: 'violation', limit: 2 })
  t.strictSame(page.signals.map((s) => s.id), [signal(4).id, signal(2).id], 'newest first')
  t.ok(page.next_cursor)
})

t.test('ingest quarantines a provider that reported its own quarantine; not for other signals', async (t) => {
  const r = await serviceRig(t, ['fetch', 'other'])
  const res = await r.service.ingest([
    signal(1, { provider: 'other', type: 'quarantine_triggered', details: { by: 'api' } }),
    signal(2, { action: 'quarantined', enforcement_mode: 'quarantine', reason: 'egress to evil' }),
    signal(3, { action: 'quarantined', enforcement_mode: 'quarantine' }),
  ])
  t.strictSame(res.quarantined, ['fetch'], 'once, and not for a quarantine_triggered by someone else')
  t.match(r.service.policyOf('fetch').reason, /^egress_denied: egress to evil/)
  t.equal(r.service.policyOf('fetch').by, 'violation')
  t.equal(r.service.policyOf('other').quarantined, false)
  const res2 = await r.service.ingest([signal(4, { provider: 'other', kind: 'enforcement', type: 'quarantine_triggered', details: { by: 'violation' } })])
  t.strictSame(res2.quarantined, ['other'], 'quarantine_triggered by a violation counts')
})

t.test('a late batch does not re-quarantine a provider approved after the signal', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  await r.service.ingest([signal(1, { action: 'quarantined' })])
  r.service.approve('fetch', 'ok', 'api') // policy clock: now, after the signal's 2025 time
  const late = await r.service.ingest([signal(2, { action: 'quarantined' })])
  t.strictSame(late.quarantined, [])
  t.equal(r.service.policyOf('fetch').quarantined, false)
  const fresh = await r.service.ingest([signal(3, { action: 'quarantined', time: new Date(Date.now() + 60_000).toISOString() })])
  t.strictSame(fresh.quarantined, ['fetch'], 'control: a signal newer than the approval quarantines again')
})

t.test('subscribe delivers stored then live signals in order', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  await r.service.ingest([signal(1), signal(2)])
  const seen: number[] = []
  const off = r.service.subscribe(1, (seq) => seen.push(seq))
  await r.service.ingest([signal(3)])
  off()
  await r.service.ingest([signal(4)])
  t.strictSame(seen, [2, 3])
})

t.test('baseline(): undefined until the book holds one, then the latest document', async (t) => {
  const r = await serviceRig(t, ['fetch'])
  t.equal(r.service.baseline('fetch'), undefined)
  const b = makeBaseline({ provider: 'fetch' })
  r.baselines.offer(b)
  const stored = r.service.baseline('fetch')!
  t.strictSame(JSON.parse(stored.text), JSON.parse(JSON.stringify(b)))
  t.equal(stored.receivedAt, r.clock.now)
  t.equal(r.service.baseline('other'), undefined, 'per provider')
})
