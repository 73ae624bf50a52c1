/**
 * The aggregator's HTTP API end to end: a real Aggregator on a loopback port with a temp data dir,
 * driven with undici. Tokens, ingest (dedup, per-signal rejections, bad input with nothing
 * written), queries and paging, the SSE stream with Last-Event-ID, heartbeats and derived states,
 * quarantine/approve with the policy long poll, and the rebuild after a restart.
 */
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { captureLog, signal, signals as signalsUpTo, tempDir } from '../../fixtures/aggregator/signals.js'

/** Signals `from`..`to`, both included. */
const signals = (from: number, to: number, over: Parameters<typeof signalsUpTo>[2] = {}) => signalsUpTo(from, to + 1, over)

const SIGNAL = 'sig-token-123'
const ADMIN = 'adm-token-456'

async function start(t: { teardown(fn: () => Promise<void>): void }, dir: string, clock?: () => number) {
  const config = hangarConfigSchema.parse({
    aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN] },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
  const { log, lines } = captureLog()
  const agg = new Aggregator({ config, log, ...(clock && { clock }) })
  const port = await agg.start()
  let stopped = false
  const stop = async () => {
    if (!stopped) await agg.stop()
    stopped = true
  }
  t.teardown(stop)
  const base = `http://127.0.0.1:${port}`
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, token?: string, headers: Record<string, string> = {}) => {
    const res = await request(base + path, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }), ...headers },
      ...(body !== undefined && { body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
    })
    const text = await res.body.text()
    const isJson = /json/.test(String(res.headers['content-type'] ?? ''))
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
    return { status: res.statusCode, headers: res.headers, text, json: isJson && text ? (JSON.parse(text) as Record<string, any>) : undefined }
  }
  return { agg, base, call, stop, lines }
}

function auditLines(dir: string): string[] {
  const audit = join(dir, 'audit')
  return readdirSync(audit).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(audit, f), 'utf8').split('\n').filter(Boolean))
}

t.test('tokens: wrong or missing → 401 and nothing written; each class has its own tokens', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const { call } = await start(t, dir)
  const batch = { signals: signals(1, 3) }
  for (const token of [undefined, 'wrong', ADMIN.slice(0, -1)]) {
    const r = await call('POST', '/v1/signals', batch, token)
    t.equal(r.status, 401, `POST /v1/signals with ${token ?? 'no token'}`)
    t.equal(r.json?.error.code, 'unauthorized')
    t.match(r.headers['www-authenticate'], /^Bearer realm=/)
  }
  t.same(auditLines(dir), [], 'nothing written')
  t.equal((await call('GET', '/v1/signals', undefined, SIGNAL)).status, 401, 'a signal token cannot query')
  t.equal((await call('GET', '/v1/providers', undefined, SIGNAL)).status, 401, 'a signal token cannot list providers')
  t.equal((await call('POST', '/v1/providers/fetch/quarantine', { reason: 'x' }, SIGNAL)).status, 401, 'a signal token cannot quarantine')
  t.equal((await call('POST', '/v1/signals', batch, ADMIN)).status, 401, 'an admin token cannot ship (forge) signals')
  t.same(auditLines(dir), [], 'still nothing written')
  t.equal((await call('POST', '/v1/signals', batch, SIGNAL)).status, 202, 'the signal token ships them (control)')
  t.equal((await call('GET', '/health')).status, 200, '/health is open')
  t.equal((await call('GET', '/ready')).status, 200, '/ready is open')
  const metrics = await call('GET', '/metrics')
  t.match(metrics.text, /mcp_hangar_aggregator_signal_batches_total\{outcome="unauthorized"\} 4/)
})

t.test('ingest: 202 only after the audit log holds the batch; dedup; per-signal rejections with index and error', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const { call } = await start(t, dir)
  const r1 = await call('POST', '/v1/signals', { signals: signals(1, 5) }, SIGNAL)
  t.equal(r1.status, 202)
  t.same(r1.json, { accepted: 5, duplicates: 0, rejected: [] })
  t.equal(auditLines(dir).length, 5, 'in the audit log when the 202 arrives')

  const bad = { ...signal(7), severity: 'apocalyptic' }
  const r2 = await call('POST', '/v1/signals', { signals: [signal(3), signal(6), bad, { nope: true }, signal(6)] }, SIGNAL)
  t.equal(r2.status, 202)
  t.equal(r2.json!.accepted, 1, 'only signal 6 is new')
  t.equal(r2.json!.duplicates, 2, 'signal 3 (stored) and the second 6 (same batch)')
  t.same(r2.json!.rejected.map((x: { index: number }) => x.index), [2, 3])
  t.match(r2.json!.rejected[0].error, /^severity/, 'the error names the field')
  const lines = auditLines(dir)
  t.equal(lines.length, 6)
  t.equal(new Set(lines.map((l) => JSON.parse(l).id)).size, 6, 'each id once')
})

t.test('bad input: garbage JSON, wrong envelope, wrong media type, > 1 MiB → clear errors, nothing written, still up', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const { call } = await start(t, dir)
  const cases: Array<[string, unknown, Record<string, string>, number, string, RegExp]> = [
    ['garbage JSON', '{"signals": [', {}, 400, 'bad_request', /malformed JSON/],
    ['not an object', '[1,2]', {}, 400, 'bad_request', /body: expected a JSON object/],
    ['no signals field', '{}', {}, 400, 'bad_request', /signals: required/],
    ['unknown envelope field', JSON.stringify({ signals: [], extra: 1 }), {}, 400, 'bad_request', /extra: unknown field/],
    ['text/plain', JSON.stringify({ signals: [signal(1)] }), { 'content-type': 'text/plain' }, 415, 'unsupported_media_type', /application\/json/],
  ]
  for (const [name, body, headers, status, code, msg] of cases) {
    const r = await call('POST', '/v1/signals', body, SIGNAL, headers)
    t.equal(r.status, status, name)
    t.equal(r.json?.error.code, code, `${name}: code`)
    t.match(r.json?.error.message, msg, `${name}: message`)
  }
  const big = { signals: Array.from({ length: 900 }, (_, i) => ({ ...signal(100 + i), reason: 'x'.repeat(1200) })) }
  const text = JSON.stringify(big)
  t.ok(text.length > 1024 * 1024, 'the body is over 1 MiB')
  const r = await call('POST', '/v1/signals', text, SIGNAL)
  t.equal(r.status, 413)
  t.equal(r.json?.error.code, 'payload_too_large')
  t.same(auditLines(dir), [], 'nothing written for any rejected batch')
  t.equal((await call('POST', '/v1/signals', { signals: [signal(1)] }, SIGNAL)).status, 202, 'the aggregator still works')
  t.equal((await call('GET', '/v1/signals?limit=0', undefined, ADMIN)).status, 400, 'bad limit')
  t.match((await call('GET', '/v1/signals?since=yesterday', undefined, ADMIN)).json?.error.message, /^since:/)
  const badCursor = await call('GET', '/v1/signals?cursor=abc', undefined, ADMIN)
  t.equal(badCursor.status, 400, 'a cursor that is not ours')
  t.equal(badCursor.json?.error.param, 'cursor')
  t.equal((await call('GET', '/v1/nothing', undefined, ADMIN)).status, 404)
  t.equal((await call('POST', '/health', '{}')).status, 405)
})

t.test('queries: filters and newest-first paging stable while signals arrive', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const { call } = await start(t, dir)
  const mixed = [
    ...signals(1, 10),
    ...signals(11, 15, { provider: 'other' }),
    ...signals(16, 20, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed' }),
  ]
  t.equal((await call('POST', '/v1/signals', { signals: mixed }, SIGNAL)).status, 202)
  const fetchViolations = await call('GET', '/v1/signals?provider=fetch&kind=violation&limit=4', undefined, ADMIN)
  t.equal(fetchViolations.status, 200)
  const ids = (p: { signals: Array<{ id: string }> }) => p.signals.map((s) => Number.parseInt(s.id.slice(-12), 16))
  t.same(ids(fetchViolations.json as never), [10, 9, 8, 7], 'newest first')
  t.ok(fetchViolations.json!.next_cursor, 'a next page')
  await call('POST', '/v1/signals', { signals: signals(21, 25) }, SIGNAL)
  const page2 = await call('GET', `/v1/signals?provider=fetch&kind=violation&limit=4&cursor=${fetchViolations.json!.next_cursor}`, undefined, ADMIN)
  t.same(ids(page2.json as never), [6, 5, 4, 3], 'the next page is unaffected by new arrivals')
  const last = await call('GET', `/v1/signals?provider=fetch&kind=violation&limit=4&cursor=${page2.json!.next_cursor}`, undefined, ADMIN)
  t.same(ids(last.json as never), [2, 1])
  t.notOk(last.json!.next_cursor, 'no cursor on the last page')
  const since = await call('GET', `/v1/signals?provider=other&since=${encodeURIComponent(signal(13).time)}`, undefined, ADMIN)
  t.same(ids(since.json as never), [15, 14, 13], 'since is inclusive')
})

t.test('stream: SSE events with sequence ids, live delivery, resumption with Last-Event-ID', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const { call, base } = await start(t, dir)
  await call('POST', '/v1/signals', { signals: signals(1, 3) }, SIGNAL)
  const read = async (headers: Record<string, string>, want: number) => {
    const ac = new AbortController()
    const res = await request(`${base}/v1/signals/stream?provider=fetch`, { headers: { authorization: `Bearer ${ADMIN}`, ...headers }, signal: ac.signal })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /text\/event-stream/)
    const events: Array<{ id: string; n: number }> = []
    let buf = ''
    for await (const chunk of res.body) {
      buf += chunk.toString()
      let i
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const id = /^id: ?(.*)$/m.exec(block)?.[1]
        const data = /^data: ?(.*)$/m.exec(block)?.[1]
        if (id && data) events.push({ id, n: Number.parseInt(JSON.parse(data).id.slice(-12), 16) })
      }
      if (events.length >= want) break
    }
    ac.abort()
    return events
  }
  const firstP = read({}, 5)
  setTimeout(() => void call('POST', '/v1/signals', { signals: signals(4, 5) }, SIGNAL), 200)
  const first = await firstP
  t.same(first.map((e) => e.n), [1, 2, 3, 4, 5], 'backlog, then live')
  await call('POST', '/v1/signals', { signals: signals(6, 7) }, SIGNAL)
  const resumed = await read({ 'last-event-id': first[2]!.id }, 4)
  t.same(resumed.map((e) => e.n), [4, 5, 6, 7], 'resumes after the given event, no gap, no repeat')
  t.equal((await call('GET', '/v1/signals/stream', undefined, ADMIN, { 'last-event-id': 'x' })).status, 400, 'a bad Last-Event-ID')
})

t.test('heartbeats → provider states; quarantine and approve reach a long poll at once; violation counts', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  let now = 1_000_000
  const { call } = await start(t, dir, () => now)
  const list0 = await call('GET', '/v1/providers', undefined, ADMIN)
  t.same(list0.json!.providers.map((p: { name: string; state: string }) => [p.name, p.state]), [['fetch', 'unreachable']], 'configured, never heard from')
  const hb = { provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready', mcp_url: 'http://127.0.0.1:8101/mcp' }
  t.equal((await call('POST', '/v1/sidecars/heartbeat', hb, SIGNAL)).status, 204)
  const bad = await call('POST', '/v1/sidecars/heartbeat', { ...hb, state: 'sleepy' }, SIGNAL)
  t.equal(bad.status, 400)
  t.match(bad.json?.error.message, /^state:/)
  t.equal((await call('GET', '/v1/providers/fetch', undefined, ADMIN)).json!.state, 'ready')
  now += 31_000
  t.equal((await call('GET', '/v1/providers/fetch', undefined, ADMIN)).json!.state, 'unreachable', 'after 3 missed heartbeats')
  await call('POST', '/v1/sidecars/heartbeat', hb, SIGNAL)
  await call('POST', '/v1/signals', { signals: [...signals(1, 3), ...signals(4, 4, { type: 'tool_denied', tool: 'rm' })] }, SIGNAL)
  const details = await call('GET', '/v1/providers/fetch', undefined, ADMIN)
  t.equal(details.json!.violations_total, 4)
  t.same(details.json!.violations, { egress_denied: 3, tool_denied: 1 })
  t.equal(details.json!.last_violation.tool, 'rm')
  t.equal((await call('GET', '/v1/providers/nope', undefined, ADMIN)).status, 404)

  const p0 = await call('GET', '/v1/policy/fetch?version=0&wait=0', undefined, SIGNAL)
  t.same([p0.json!.version, p0.json!.quarantined], [0, false])
  const started = Date.now()
  const poll = call('GET', '/v1/policy/fetch?version=0&wait=30', undefined, SIGNAL)
  setTimeout(() => void call('POST', '/v1/providers/fetch/quarantine', { reason: 'exfiltration attempt' }, ADMIN), 100)
  const p1 = await poll
  t.ok(Date.now() - started < 5000, 'the long poll answered on the change')
  t.match(p1.json, { version: 1, quarantined: true, reason: 'exfiltration attempt', by: 'api' })
  t.equal((await call('GET', '/v1/providers/fetch', undefined, ADMIN)).json!.state, 'quarantined')
  t.equal((await call('POST', '/v1/providers/fetch/quarantine', {}, ADMIN)).status, 400, 'reason required')
  const a = await call('POST', '/v1/providers/fetch/approve', {}, ADMIN)
  t.match(a.json, { version: 2, quarantined: false, approvals: 1 })
  t.equal((await call('GET', '/v1/providers/fetch', undefined, ADMIN)).json!.state, 'ready')
})

t.test('a violation with action quarantined quarantines the provider centrally', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const { call } = await start(t, dir)
  await call('POST', '/v1/signals', { signals: [signal(1, { action: 'quarantined', enforcement_mode: 'quarantine', reason: 'denied egress to evil.test' })] }, SIGNAL)
  const p = await call('GET', '/v1/policy/fetch', undefined, SIGNAL)
  t.match(p.json, { quarantined: true, by: 'violation' })
  t.match(p.json!.reason, /evil\.test/)
  await call('POST', '/v1/providers/fetch/approve', { reason: 'reviewed' }, ADMIN)
  // the same violation delivered again late (a sidecar's retry) must not re-quarantine
  await call('POST', '/v1/signals', { signals: [signal(2, { action: 'quarantined', enforcement_mode: 'quarantine' })] }, SIGNAL)
  t.equal((await call('GET', '/v1/policy/fetch', undefined, SIGNAL)).json!.quarantined, false, 'an older violation after an approval does not re-quarantine')
})

t.test('restart: index, dedup set and policy are rebuilt from disk', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const a = await start(t, dir)
  await a.call('POST', '/v1/signals', { signals: signals(1, 50) }, SIGNAL)
  await a.call('POST', '/v1/providers/fetch/quarantine', { reason: 'kept across restarts' }, ADMIN)
  await a.stop()
  const b = await start(t, dir)
  const again = await b.call('POST', '/v1/signals', { signals: signals(40, 60) }, SIGNAL)
  t.same([again.json!.accepted, again.json!.duplicates], [10, 11], 'ids seen before the restart are duplicates')
  t.equal(auditLines(dir).length, 60)
  t.equal((await b.call('GET', '/v1/providers/fetch', undefined, ADMIN)).json!.violations_total, 60)
  t.match((await b.call('GET', '/v1/policy/fetch', undefined, SIGNAL)).json, { quarantined: true, reason: 'kept across restarts' })
})
