/**
 * The aggregator's audit log under a size budget, over HTTP: observations rotate out to make room
 * (control), violations alone filling `audit_max_total_bytes` get 507 `insufficient_storage` with
 * Retry-After and a metric, never a silent drop; everything acknowledged survives a restart.
 * Also: forged `signals_suppressed` roll-ups are rejected per signal, and a heartbeat flood writes
 * nothing to the audit log.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { MAX_UNCONFIGURED_PROVIDERS } from '../../../aggregator/registry.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { buildSignal } from '../../../signals/build.js'
import type { Signal } from '../../../signals/types.js'
import { captureLog, signal, tempDir } from '../../fixtures/aggregator/signals.js'

const SIGNAL = 'sig-full-1'
const ADMIN = 'adm-full-1'

async function start(t: { teardown(fn: () => Promise<void>): void }, dir: string) {
  const config = hangarConfigSchema.parse({
    aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN], audit_max_bytes: 4096, audit_keep_files: 2, audit_max_total_bytes: 16384 },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
  const agg = new Aggregator({ config, log: captureLog().log })
  const port = await agg.start()
  let stopped: Promise<void> | undefined
  const stop = () => (stopped ??= agg.stop())
  t.teardown(stop)
  const base = `http://127.0.0.1:${port}`
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, token = method === 'POST' && path !== '/v1/providers' ? SIGNAL : ADMIN) => {
    const res = await request(base + path, {
      method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await res.body.text()
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
    return { status: res.statusCode, headers: res.headers, text, json: text && /json/.test(String(res.headers['content-type'])) ? (JSON.parse(text) as Record<string, any>) : undefined }
  }
  return { call, stop }
}

const observation = (n: number): Signal => signal(n, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed', rule: 'egress[0]', reason: `allowed #${n}`, details: { via: 'connect' } })

async function countStored(call: Awaited<ReturnType<typeof start>>['call'], type: string): Promise<number> {
  let n = 0
  let cursor: string | undefined
  for (;;) {
    const r = await call('GET', `/v1/signals?type=${type}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
    n += (r.json!.signals as unknown[]).length
    cursor = r.json!.next_cursor as string | undefined
    if (!cursor) return n
  }
}

t.test('observations rotate out to make room; violations alone filling the budget → 507 + metric, nothing dropped', async (t) => {
  const dir = tempDir(t, 'hangar-full-')
  const { call, stop } = await start(t, dir)
  // Control: ten times the budget in observations is accepted: they rotate out.
  let n = 1
  for (let b = 0; b < 40; b++) {
    const r = await call('POST', '/v1/signals', { signals: Array.from({ length: 5 }, () => observation(n++)) })
    t.equal(r.status, 202, `observation batch ${b}`)
  }
  const acked: string[] = []
  let refused: Awaited<ReturnType<typeof call>> | undefined
  for (let b = 0; b < 100 && !refused; b++) {
    const batch = Array.from({ length: 3 }, () => signal(n++))
    const r = await call('POST', '/v1/signals', { signals: batch })
    if (r.status === 202) acked.push(...batch.map((s) => s.id))
    else refused = r
  }
  t.ok(acked.length > 0, `${acked.length} violations accepted before the budget was full`)
  t.equal(refused?.status, 507)
  t.equal(refused?.json?.error.code, 'insufficient_storage')
  t.equal(refused?.json?.error.reason, 'budget')
  t.equal(refused?.headers['retry-after'], '30')
  const metrics = (await call('GET', '/metrics')).text
  t.match(metrics, /mcp_hangar_aggregator_audit_refusals_total\{reason="budget"\} [1-9]/)
  t.match(metrics, /mcp_hangar_aggregator_signal_batches_total\{outcome="insufficient_storage"\} [1-9]/)
  t.match(metrics, /mcp_hangar_aggregator_audit_released_total\{reason="rotated_out"\} [1-9]/)
  t.equal(await countStored(call, 'egress_denied'), acked.length, 'every acknowledged violation is queryable')
  await stop()
  const again = await start(t, dir)
  t.equal(await countStored(again.call, 'egress_denied'), acked.length, 'and after a restart (rebuilt from kept files)')
  t.equal((await again.call('POST', '/v1/signals', { signals: [signal(n++)] })).status, 507, 'still full after the restart')
})

function rollup(over: Record<string, unknown> = {}): Signal {
  const t0 = '2026-01-01T00:00:00.000Z'
  const t1 = '2026-01-01T00:00:10.000Z'
  return buildSignal({ provider: 'fetch', sidecar_id: 'sc-1' }, {
    kind: 'lifecycle', type: 'signals_suppressed', action: 'allowed', enforcement_mode: 'block', severity: 'medium', reason: 'folded',
    details: {
      window_start: t0, window_end: t1, total: 7, by_type: { dns_denied: 7 },
      entries: [{ type: 'dns_denied', destination: { host: 'evil.example', protocol: 'dns' }, count: 5, first_seen: t0, last_seen: t1 }],
      other: { count: 2, keys: 2, first_seen: t0, last_seen: t1 }, rollup_seq: 0, cause: 'interval', ...over,
    },
  })
}

t.test('forged signals_suppressed roll-ups are rejected per signal; a consistent one is stored (control)', async (t) => {
  const dir = tempDir(t, 'hangar-full-')
  const { call } = await start(t, dir)
  const forged = [
    rollup({ total: 1_000_000 }), // counts that do not add up: hides or invents suppressed signals
    rollup({ window_end: '2025-12-31T00:00:00.000Z' }), // window ends before it starts
    rollup({ entries: [{ type: 'dns_denied', count: 5, first_seen: '2026-01-01T00:00:05.000Z', last_seen: '2026-01-01T00:00:01.000Z' }] }),
    rollup({ other: { count: 2, keys: 2 } }), // a tail without times
    rollup({ extra: true }), // unknown field
  ]
  const r = await call('POST', '/v1/signals', { signals: [...forged, rollup()] })
  t.equal(r.status, 202)
  t.equal(r.json?.accepted, 1, 'only the consistent roll-up')
  t.same(r.json?.rejected.map((x: { index: number }) => x.index), [0, 1, 2, 3, 4])
  t.match(r.json?.rejected[0].error, /details\.by_type: counts sum to 7, not total 1000000/)
  t.match(r.json?.rejected[1].error, /details\.window_end: before window_start/)
  t.match(r.json?.rejected[2].error, /details\.entries\.0\.last_seen: before first_seen/)
  t.match(r.json?.rejected[3].error, /details\.other: first_seen and last_seen are required/)
  t.match(r.json?.rejected[4].error, /extra/)
})

t.test('a heartbeat flood writes nothing to the audit log and the aggregator keeps answering', async (t) => {
  const dir = tempDir(t, 'hangar-full-')
  const { call } = await start(t, dir)
  const hb = { provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready' }
  const results: Array<{ status: number }> = []
  for (let i = 0; i < 20; i++) results.push(...(await Promise.all(Array.from({ length: 100 }, () => call('POST', '/v1/sidecars/heartbeat', hb)))))
  t.ok(results.length === 2000 && results.every((r) => r.status === 204), '2000 heartbeats (100 at a time) accepted')
  t.equal(readFileSync(join(dir, 'audit', 'audit.jsonl'), 'utf8'), '', 'no audit record from heartbeats')
  t.equal((await call('GET', '/v1/providers/fetch')).status, 200)
  t.equal((await call('POST', '/v1/signals', { signals: [signal(1)] })).status, 202, 'ingest still works (control: the audit log is writable)')
  t.equal(readFileSync(join(dir, 'audit', 'audit.jsonl'), 'utf8').trim().split('\n').length, 1)
})

t.test('aggregator retention keys: defaults, and a budget below 2 × audit_max_bytes is an error naming the path', async (t) => {
  const ok = hangarConfigSchema.parse({ aggregator: {} }).aggregator!
  t.equal(ok.audit_retention_days, 90)
  t.equal(ok.audit_max_total_bytes, 10 * 1024 * 1024 * 1024)
  const small = hangarConfigSchema.safeParse({ aggregator: { audit_max_bytes: 1024 * 1024, audit_max_total_bytes: 1024 * 1024 } })
  t.equal(small.success, false)
  t.match(JSON.stringify(small.error?.issues), /"path":\["aggregator","audit_max_total_bytes"\].*at least 2 × audit_max_bytes/)
  t.equal(hangarConfigSchema.safeParse({ aggregator: { audit_retention_days: 0 } }).success, false)
})

t.test('heartbeats inventing provider names: bounded (429 too_many_providers), configured providers always accepted', async (t) => {
  const dir = tempDir(t, 'hangar-full-')
  const { call } = await start(t, dir)
  const hb = (provider: string) => ({ provider, sidecar_id: 'sc-x', version: '0.1.0', state: 'ready' })
  const statuses: number[] = []
  for (let i = 0; i < MAX_UNCONFIGURED_PROVIDERS + 20; i++) statuses.push((await call('POST', '/v1/sidecars/heartbeat', hb(`fake-${i}`))).status)
  t.equal(statuses.filter((s) => s === 204).length, MAX_UNCONFIGURED_PROVIDERS, 'unconfigured names accepted up to the limit')
  const refused = await call('POST', '/v1/sidecars/heartbeat', hb('fake-more'))
  t.equal(refused.status, 429)
  t.equal(refused.json?.error.code, 'too_many_providers')
  t.equal((await call('POST', '/v1/sidecars/heartbeat', hb('fake-0'))).status, 204, 'a known one keeps beating')
  t.equal((await call('POST', '/v1/sidecars/heartbeat', hb('fetch'))).status, 204, 'the configured provider is never refused')
  const providers = (await call('GET', '/v1/providers')).json!.providers as unknown[]
  t.equal(providers.length, MAX_UNCONFIGURED_PROVIDERS + 1, 'the registry stays bounded')
  t.match((await call('GET', '/metrics')).text, /heartbeats_total\{outcome="too_many_providers"\} 21/)
})
