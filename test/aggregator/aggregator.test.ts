// aggregator/aggregator.ts: the composition root. start() replays the audit log and loads the
// policy book and stored baselines before it listens (so a restart answers as before), the listen
// address of the config or the override, the store options from the config (rotation releases
// counted in the metrics), /mcp with the aggregator's version, and stop() closing it all.
import { createConnection } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { Aggregator } from '../../aggregator/aggregator.js'
import { HANGAR_VERSION as AGGREGATOR_VERSION } from '../../core/version.js'
import { hangarConfigSchema } from '../../config/schema.js'
import { captureLog, signal, signals, tempDir } from '../fixtures/aggregator/signals.js'
import { makeBaseline } from '../helpers/baseline.js'

const ADMIN = 'admin-tok'
const SIGNAL = 'signal-tok'

function config(dir: string, extra: Record<string, unknown> = {}) {
  return hangarConfigSchema.parse({
    aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN], ...extra },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
}

async function started(t: Parameters<typeof tempDir>[0] & { teardown(fn: () => Promise<void>): void }, dir: string, extra: Record<string, unknown> = {}, o: { host?: string; port?: number } = {}) {
  const log = captureLog()
  const agg = new Aggregator({ config: config(dir, extra), log: log.log, ...o })
  const port = await agg.start()
  let stopped = false
  const stop = async () => {
    if (!stopped) await agg.stop()
    stopped = true
  }
  t.teardown(stop)
  const call = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown) => {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) })
    const text = await res.body.text()
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field
    return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, any>) : undefined }
  }
  return { agg, port, stop, call, log }
}

const portOpen = (port: number) => new Promise<boolean>((resolve) => {
  const s = createConnection({ host: '127.0.0.1', port })
  s.once('connect', () => {
    s.destroy()
    resolve(true)
  })
  s.once('error', () => resolve(false))
})

t.test('start listens and is ready; the replay is logged; stop closes the port', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const a = await started(t, dir)
  t.ok(a.port > 0)
  t.equal(a.agg.port, a.port)
  t.equal((await a.call('GET', '/ready', ADMIN)).status, 200)
  t.ok(a.log.lines.some((l) => l.msg === 'audit log replayed'), 'replay logged')
  await a.stop()
  t.equal(await portOpen(a.port), false, 'nothing listens after stop')
})

t.test('host and port overrides win over aggregator.listen', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const probe = await started(t, tempDir(t, 'hangar-agg-'))
  const wanted = probe.port
  await probe.stop() // a port known to be free now
  const a = await started(t, dir, { listen: '127.0.0.1:1' }, { host: '127.0.0.1', port: wanted })
  t.equal(a.port, wanted)
  t.equal(await portOpen(wanted), true)
})

t.test('a restart answers as before: signals, quarantine and baseline come back before it listens', async (t) => {
  const dir = tempDir(t, 'hangar-agg-')
  const first = await started(t, dir)
  t.equal((await first.call('POST', '/v1/signals', SIGNAL, { signals: signals(1, 4) })).status, 202)
  t.equal((await first.call('POST', '/v1/providers/fetch/quarantine', ADMIN, { reason: 'kept across restarts' })).status, 200)
  const hb = { provider: 'fetch', sidecar_id: 'sc', version: '1', state: 'ready', baseline: makeBaseline({ provider: 'fetch' }) }
  t.equal((await first.call('POST', '/v1/sidecars/heartbeat', SIGNAL, hb)).status, 204)
  await first.stop()
  const second = await started(t, dir)
  const p = (await second.call('GET', '/v1/providers/fetch', ADMIN)).json!
  t.strictSame([p.violations_total, p.quarantined, p.quarantine_reason], [3, true, 'kept across restarts'])
  t.equal((await second.call('GET', '/v1/providers/fetch/baseline', ADMIN)).json?.schema, 'hangar.baseline/v1')
  const again = await second.call('POST', '/v1/signals', SIGNAL, { signals: [signal(1)] })
  t.equal(again.json?.duplicates, 1, 'the dedup set was rebuilt')
})

t.test('the tokens of the config guard the endpoints', async (t) => {
  const a = await started(t, tempDir(t, 'hangar-agg-'))
  t.equal((await a.call('GET', '/v1/providers', SIGNAL)).status, 401, 'a signal token is not an admin token')
  t.equal((await a.call('POST', '/v1/signals', ADMIN, { signals: [] })).status, 401, 'nor the other way round')
  t.equal((await a.call('GET', '/v1/providers', ADMIN)).status, 200, 'control')
})

t.test('store options from the config: rotated-out observations are counted as released', async (t) => {
  const a = await started(t, tempDir(t, 'hangar-agg-'), { audit_max_bytes: 1024, audit_keep_files: 1, audit_max_total_bytes: 1 << 20 })
  const obs = (n: number) => signal(n, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed' })
  for (let n = 1; n <= 40; n += 2) t.equal((await a.call('POST', '/v1/signals', SIGNAL, { signals: [obs(n), obs(n + 1)] })).status, 202, `batch ${n}`)
  let released = 0
  for (let i = 0; i < 100 && released === 0; i++) {
    released = (await a.agg.metrics.auditReleased.get()).values.find((v) => v.labels.reason === 'rotated_out')?.value ?? 0
    if (!released) await new Promise((r) => setTimeout(r, 20))
  }
  t.ok(released > 0, `observations rotated out and counted (${released})`)
})

t.test('/mcp answers with the aggregator version', async (t) => {
  const a = await started(t, tempDir(t, 'hangar-agg-'), { mcp_tokens: ['m'] })
  const res = await request(`http://127.0.0.1:${a.port}/mcp`, {
    method: 'POST',
    headers: { authorization: 'Bearer m', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  })
  const body = (await res.body.json()) as { result: { serverInfo: { version: string } } }
  t.equal(body.result.serverInfo.version, AGGREGATOR_VERSION)
  t.match(AGGREGATOR_VERSION, /^\d+\.\d+\.\d+/)
})
