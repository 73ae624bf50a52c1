import t from 'tap'
import { HEARTBEAT_INTERVAL_MS, SidecarRegistry, deriveState, heartbeatSchema } from '../../aggregator/registry.js'

const base = { provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready' as const }

t.test('heartbeat schema: defaults, and errors that name the field', async (t) => {
  const ok = heartbeatSchema.parse(base)
  t.equal(ok.interval_ms, HEARTBEAT_INTERVAL_MS)
  t.equal(ok.quarantined, false)
  const cases: Array<[unknown, string]> = [
    [{ ...base, provider: 'a b' }, 'provider'],
    [{ ...base, state: 'sleepy' }, 'state'],
    [{ ...base, tools_digest: 'md5:abc' }, 'tools_digest'],
    [{ ...base, mcp_url: 'not a url' }, 'mcp_url'],
    [{ ...base, extra: 1 }, ''],
    [{ ...base, sidecar_id: '' }, 'sidecar_id'],
  ]
  for (const [input, field] of cases) {
    const r = heartbeatSchema.safeParse(input)
    t.equal(r.success, false, `rejected: ${JSON.stringify(input)}`)
    if (!r.success) t.equal(r.error.issues[0]!.path.join('.'), field, `names ${field || 'the unknown key'}`)
  }
})

t.test('derived state: quarantined › unreachable after 3 missed heartbeats › reported state', async (t) => {
  const hb = heartbeatSchema.parse(base)
  const at = 1_000_000
  t.equal(deriveState(undefined, false, at), 'unreachable', 'never heard of')
  t.equal(deriveState({ heartbeat: hb, at }, false, at + 3 * HEARTBEAT_INTERVAL_MS), 'ready', 'exactly 3 intervals: still ready')
  t.equal(deriveState({ heartbeat: hb, at }, false, at + 3 * HEARTBEAT_INTERVAL_MS + 1), 'unreachable')
  t.equal(deriveState({ heartbeat: { ...hb, state: 'degraded' }, at }, false, at), 'degraded')
  t.equal(deriveState({ heartbeat: hb, at }, true, at), 'quarantined', 'policy quarantine')
  t.equal(deriveState({ heartbeat: { ...hb, quarantined: true }, at }, false, at), 'quarantined', 'sidecar-reported quarantine')
  t.equal(deriveState({ heartbeat: hb, at }, true, at + 10 * HEARTBEAT_INTERVAL_MS), 'quarantined', 'quarantine outranks unreachable')
  t.equal(deriveState({ heartbeat: { ...hb, interval_ms: 1000 }, at }, false, at + 3001), 'unreachable', 'the sidecar\'s own interval')
})

t.test('registry keeps the last heartbeat per provider', async (t) => {
  let now = 5
  const r = new SidecarRegistry(() => now)
  r.beat(heartbeatSchema.parse(base))
  now = 9
  r.beat(heartbeatSchema.parse({ ...base, sidecar_id: 'sc-2', state: 'degraded' }))
  t.same(r.names(), ['fetch'])
  t.equal(r.get('fetch')!.heartbeat.sidecar_id, 'sc-2')
  t.equal(r.get('fetch')!.at, 9)
  t.equal(r.get('nope'), undefined)
})
