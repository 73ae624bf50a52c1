/**
 * The aggregator's side of the behavioral baseline (issue 7), all real: an Aggregator on a
 * loopback port from freePort() with a temp data dir, driven with undici, the MCP SDK's client at
 * its /mcp, and a SidecarLink heartbeating to it. Heartbeats carrying a baseline (valid, invalid,
 * another provider's, over 16 MiB, stale), `GET /v1/providers/{name}/baseline` (body, header,
 * 404s, tokens), persistence across a restart, a corrupt file at start-up, `hangar_baseline`,
 * and when the link ships a baseline.
 */
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { request } from 'undici'
import { Aggregator } from '../../aggregator/aggregator.js'
import { MAX_HEARTBEAT_BODY_BYTES } from '../../aggregator/http/control.js'
import { SidecarLink } from '../../sidecar/aggregator-link.js'
import { hangarConfigSchema } from '../../config/schema.js'
import { BASELINE_SCHEMA, DEFAULT_BASELINE_LIMITS, parseBaseline, type Baseline } from '../../policy/baseline-schema.js'
import { captureLog, tempDir } from '../fixtures/aggregator/signals.js'
import { freePort } from '../helpers/mcp.js'

const SIGNAL = 'sig-token-baseline'
const ADMIN = 'adm-token-baseline'
const T0 = '2025-01-01T00:00:00.000Z'
const T1 = '2025-01-01T00:05:00.000Z'

/**
 * A valid baseline of `provider`: one destination, one DNS name, one tool. `over` replaces
 * top-level fields. Passed through {@link parseBaseline}, so a fixture that is not a valid
 * `hangar.baseline/v1` document throws here.
 */
function baseline(provider = 'fetch', over: Partial<Baseline> = {}): Baseline {
  return parseBaseline({
    schema: BASELINE_SCHEMA,
    provider,
    enforcement_mode: 'block',
    started: T0,
    updated: T1,
    revision: 7,
    events: 7,
    limits: { ...DEFAULT_BASELINE_LIMITS },
    dropped: { destinations: 0, dns_names: 0, tools: 0 },
    egress: [{
      host: 'api.example.test', port: 443, protocol: 'tunnel', via: { connect: 3 }, actions: { allowed: 3 }, content: { tls: 3 }, errors: 0,
      addresses: [{ ip: '192.0.2.10', class: 'global' }], count: 3, bytes_up: 1200, bytes_down: 5400, first_seen: T0, last_seen: T1,
    }],
    dns: [{ name: 'api.example.test', qtypes: { A: 2 }, actions: { allowed: 2 }, answers: { A: 2 }, count: 2, first_seen: T0, last_seen: T1 }],
    tools: [{ name: 'fetch', listed: 1, calls: 2, errors: 0, refused: 0, argument_keys: ['url'], digests: [`sha256:${'a'.repeat(64)}`], first_seen: T0, last_seen: T1 }],
    call_rate: { active_minutes: 1, min: 2, median: 2, p95: 2, max: 2 },
    call_minutes: [[29_000_000, 2]],
    ...over,
  })
}

const heartbeat = (over: Record<string, unknown> = {}) => ({ provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready', ...over })

async function start(t: { teardown(fn: () => Promise<void>): void }, dir: string) {
  const port = await freePort()
  const config = hangarConfigSchema.parse({
    aggregator: { listen: `127.0.0.1:${port}`, data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN] },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' }, quiet: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
  const { log, lines } = captureLog()
  const agg = new Aggregator({ config, log })
  await agg.start()
  let stopped = false
  const stop = async () => {
    if (!stopped) await agg.stop()
    stopped = true
  }
  t.teardown(stop)
  const base = `http://127.0.0.1:${port}`
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, token?: string) => {
    const res = await request(base + path, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }) },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const text = await res.body.text()
    const isJson = /json/.test(String(res.headers['content-type'] ?? ''))
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
    return { status: res.statusCode, headers: res.headers, text, json: isJson && text ? (JSON.parse(text) as Record<string, any>) : undefined }
  }
  const beat = (b?: unknown, over: Record<string, unknown> = {}) => call('POST', '/v1/sidecars/heartbeat', heartbeat({ ...(b !== undefined && { baseline: b }), ...over }), SIGNAL)
  /** `token: null` sends none. */
  const get = (name = 'fetch', token: string | null = ADMIN) => call('GET', `/v1/providers/${name}/baseline`, undefined, token ?? undefined)
  return { agg, port, base, call, beat, get, stop, lines }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('the fixture is a valid hangar.baseline/v1 document', async (t) => {
  const b = baseline()
  t.same(parseBaseline(JSON.parse(JSON.stringify(b))), b, 'parseBaseline accepts it unchanged')
  t.throws(() => baseline('fetch', { revision: -1 }), { code: 'HANGAR_BASELINE_INVALID' }, 'the helper validates what it builds')
})

t.test('a heartbeat with a baseline → GET answers the document itself with X-Hangar-Baseline-Received', async (t) => {
  const { beat, get, agg } = await start(t, tempDir(t, 'hangar-bl-'))
  const b = baseline()
  const before = Date.now()
  t.equal((await beat(b)).status, 204, 'heartbeat accepted')
  const r = await get()
  t.equal(r.status, 200)
  t.match(r.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(r.text), b, 'deep-equal to what the sidecar sent')
  t.equal(r.text, JSON.stringify(b) + '\n', 'byte-for-byte the same JSON')
  const received = String(r.headers['x-hangar-baseline-received'])
  t.match(received, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'RFC 3339 time')
  t.ok(Date.parse(received) >= before - 1 && Date.parse(received) <= Date.now() + 1, 'the time it arrived')
  t.doesNotThrow(() => parseBaseline(JSON.parse(r.text)), 'a file profile suggest --baseline reads')
  t.equal(agg.registry.get('fetch')?.heartbeat.baseline, undefined, 'the registry does not keep a copy')
  t.equal(agg.registry.get('fetch')?.heartbeat.sidecar_id, 'sc-1', 'the heartbeat itself is recorded')
  t.equal((await beat()).status, 204, 'a heartbeat without a baseline still works')
  t.same(JSON.parse((await get()).text), b, 'and keeps the baseline')
})

t.test('a baseline larger than the old 16 KiB control limit is accepted; other control bodies stay at 16 KiB', async (t) => {
  const { beat, get, call } = await start(t, tempDir(t, 'hangar-bl-'))
  const dns = Array.from({ length: 3000 }, (_, i) => ({ name: `host-${i}.example.test`, qtypes: { A: 1, AAAA: 1 }, actions: { allowed: 2 }, answers: { A: 1, AAAA: 1 }, count: 2, first_seen: T0, last_seen: T1 }))
  const big = baseline('fetch', { limits: { ...DEFAULT_BASELINE_LIMITS, max_dns_names: 5000 }, dns })
  const size = JSON.stringify(heartbeat({ baseline: big })).length
  t.ok(size > 512 * 1024, `the heartbeat is ${size} bytes`)
  t.equal((await beat(big)).status, 204)
  t.equal(JSON.parse((await get()).text).dns.length, 3000)
  const q = await call('POST', '/v1/providers/fetch/quarantine', { reason: 'x'.repeat(17 * 1024) }, ADMIN)
  t.equal(q.status, 413, 'a 17 KiB quarantine body is still too large')
  t.equal(q.json?.error.code, 'payload_too_large')
})

t.test('an invalid baseline → 400 naming the field; the previous baseline and heartbeat are kept', async (t) => {
  const { beat, get, agg } = await start(t, tempDir(t, 'hangar-bl-'))
  const good = baseline()
  await beat(good)
  const at = agg.registry.get('fetch')!.at
  const bad = { ...good, revision: 9, egress: [{ ...good.egress[0]!, port: 70_000 }] }
  const r = await beat(bad, { sidecar_id: 'sc-2' })
  t.equal(r.status, 400)
  t.equal(r.json?.error.code, 'bad_request')
  t.match(r.json?.error.message, /^baseline\.egress\.0\.port: /, 'names the field')
  const wrongSchema = await beat({ ...good, schema: 'hangar.baseline/v2' })
  t.equal(wrongSchema.status, 400)
  t.match(wrongSchema.json?.error.message, /^baseline\.schema: /)
  const g = await get()
  t.same(JSON.parse(g.text), good, 'the previous baseline is still served')
  t.equal(agg.registry.get('fetch')!.heartbeat.sidecar_id, 'sc-1', 'the refused heartbeat was not recorded')
  t.equal(agg.registry.get('fetch')!.at, at)
})

t.test('a baseline of another provider → 400 naming baseline.provider', async (t) => {
  const { beat, get } = await start(t, tempDir(t, 'hangar-bl-'))
  const r = await beat(baseline('quiet'))
  t.equal(r.status, 400)
  t.match(r.json?.error.message, /^baseline\.provider: .*"fetch".*"quiet"/)
  t.equal((await get('fetch')).status, 404, 'nothing kept for fetch')
  t.equal((await get('quiet')).status, 404, 'nothing kept for quiet')
})

t.test('a heartbeat body over 16 MiB → 413, the aggregator keeps working', async (t) => {
  const { beat, call, get } = await start(t, tempDir(t, 'hangar-bl-'))
  t.equal(MAX_HEARTBEAT_BODY_BYTES, 16 * 1024 * 1024, 'above the largest possible baseline at the default limits (9.1 MiB, docs/benchmarks/baseline.md)')
  const body = JSON.stringify(heartbeat({ baseline: { ...baseline(), pad: 'x'.repeat(MAX_HEARTBEAT_BODY_BYTES) } }))
  t.ok(Buffer.byteLength(body) > MAX_HEARTBEAT_BODY_BYTES)
  const r = await call('POST', '/v1/sidecars/heartbeat', body, SIGNAL)
  t.equal(r.status, 413)
  t.equal(r.json?.error.code, 'payload_too_large')
  t.equal((await get()).status, 404, 'nothing kept')
  t.equal((await beat(baseline())).status, 204, 'the next heartbeat is accepted')
})

t.test('a lower revision of the same recording is ignored; another recording (started) is accepted', async (t) => {
  const { beat, get } = await start(t, tempDir(t, 'hangar-bl-'))
  await beat(baseline('fetch', { revision: 10, events: 10 }))
  t.equal((await beat(baseline('fetch', { revision: 5, events: 5 }))).status, 204, 'a stale baseline does not fail the heartbeat')
  t.equal(JSON.parse((await get()).text).revision, 10, 'revision 5 of the same started is ignored')
  await beat(baseline('fetch', { revision: 11, events: 11 }))
  t.equal(JSON.parse((await get()).text).revision, 11, 'a higher revision replaces it')
  const restarted = baseline('fetch', { started: '2025-02-01T00:00:00.000Z', updated: '2025-02-01T00:01:00.000Z', revision: 2, events: 2 })
  await beat(restarted)
  t.same(JSON.parse((await get()).text), restarted, 'a lower revision of a new recording is accepted')
})

t.test('GET …/baseline: 404s that say why, admin token required, GET only', async (t) => {
  const { beat, get, call } = await start(t, tempDir(t, 'hangar-bl-'))
  const unknown = await get('nosuch')
  t.equal(unknown.status, 404)
  t.equal(unknown.json?.error.code, 'not_found')
  t.match(unknown.json?.error.message, /no provider "nosuch" is configured or has reported/)
  const none = await get('quiet')
  t.equal(none.status, 404)
  t.equal(none.json?.error.code, 'not_found')
  t.match(none.json?.error.message, /provider "quiet" has not shipped a baseline yet.*heartbeats/)
  t.not(unknown.json?.error.message, none.json?.error.message, 'distinct messages')
  await beat(baseline())
  for (const token of [null, 'wrong', SIGNAL]) {
    const r = await get('fetch', token)
    t.equal(r.status, 401, `${token ?? 'no token'} → 401`)
    t.equal(r.json?.error.code, 'unauthorized')
    t.notMatch(r.text, /api\.example\.test/, 'nothing of the baseline leaks')
  }
  t.equal((await get('fetch', ADMIN)).status, 200, 'the admin token may read it')
  const post = await call('POST', '/v1/providers/fetch/baseline', {}, ADMIN)
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET')
})

t.test('persistence: a new aggregator on the same data_dir serves the baseline', async (t) => {
  const dir = tempDir(t, 'hangar-bl-')
  const a = await start(t, dir)
  const b = baseline('fetch', { revision: 42, events: 42 })
  await a.beat(b)
  const first = await a.get()
  await a.stop()
  const file = join(dir, 'baselines', 'fetch.json')
  t.ok(existsSync(file), 'written to <data_dir>/baselines/fetch.json')
  t.same(readdirSync(join(dir, 'baselines')), ['fetch.json'], 'no temp file left')
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { received_at: string; baseline: unknown }
  t.same(stored.baseline, b)
  t.equal(stored.received_at, first.headers['x-hangar-baseline-received'])

  const c = await start(t, dir)
  const again = await c.get()
  t.equal(again.status, 200)
  t.equal(again.text, first.text, 'the same document')
  t.equal(again.headers['x-hangar-baseline-received'], first.headers['x-hangar-baseline-received'], 'the same time received')
  t.equal((await c.beat(baseline('fetch', { revision: 41, events: 41 }))).status, 204)
  t.equal(JSON.parse((await c.get()).text).revision, 42, 'the revision rule holds across the restart')
})

t.test('a corrupt baselines file is logged and skipped; start-up goes on', async (t) => {
  const dir = tempDir(t, 'hangar-bl-')
  mkdirSync(join(dir, 'baselines'), { recursive: true })
  writeFileSync(join(dir, 'baselines', 'broken.json'), '{"received_at": "2025-01-01T00:00:00.000Z", "baseline": {')
  writeFileSync(join(dir, 'baselines', 'invalid.json'), JSON.stringify({ received_at: T1, baseline: { ...baseline('invalid'), revision: -3 } }))
  writeFileSync(join(dir, 'baselines', 'elsewhere.json'), JSON.stringify({ received_at: T1, baseline: baseline('other') }))
  writeFileSync(join(dir, 'baselines', 'fetch.json'), JSON.stringify({ received_at: T1, baseline: baseline() }))
  const { get, lines } = await start(t, dir)
  const ok = await get('fetch')
  t.equal(ok.status, 200, 'the good file is served')
  t.equal(ok.headers['x-hangar-baseline-received'], T1)
  for (const name of ['broken', 'invalid', 'elsewhere']) {
    t.equal((await get(name)).status, 404, `${name} is not served`)
    const line = lines.find((l) => l.msg === 'baseline file unreadable; skipped' && String(l.file).endsWith(`${name}.json`))
    t.ok(line, `${name}.json is logged`)
    t.equal(line?.level, 40, 'at warn')
  }
})

t.test('hangar_baseline through the MCP SDK client: summary then the document; isError for unknown or none', async (t) => {
  const { beat, port } = await start(t, tempDir(t, 'hangar-bl-'))
  const b = baseline()
  await beat(b)
  const client = new Client({ name: 'operator', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${ADMIN}` } } }))
  t.teardown(() => client.close())
  const tools = await client.listTools()
  const tool = tools.tools.find((x) => x.name === 'hangar_baseline')
  t.ok(tool, 'listed')
  t.same(tool?.inputSchema.required, ['provider'])
  const r = (await client.callTool({ name: 'hangar_baseline', arguments: { provider: 'fetch' } })) as CallToolResult
  t.notOk(r.isError)
  const [summary, doc] = r.content as Array<{ type: string; text: string }>
  t.equal(summary?.type, 'text')
  t.match(summary?.text, /^Baseline of "fetch": 1 destination, 1 DNS name, 1 tool, 7 events \(revision 7, block mode\), updated 2025-01-01T00:05:00\.000Z, received \d{4}-/)
  t.same(JSON.parse(doc!.text), b, 'the baseline as JSON text')

  const unknown = (await client.callTool({ name: 'hangar_baseline', arguments: { provider: 'nosuch' } })) as CallToolResult
  t.equal(unknown.isError, true)
  t.match((unknown.content[0] as { text: string }).text, /No provider "nosuch"/)
  const none = (await client.callTool({ name: 'hangar_baseline', arguments: { provider: 'quiet' } })) as CallToolResult
  t.equal(none.isError, true)
  t.match((none.content[0] as { text: string }).text, /"quiet" has not shipped a baseline yet/)
})

/** A SidecarLink for `fetch` to the aggregator at `port`, heartbeating every 100 ms. */
function link(t: { teardown(fn: () => Promise<void>): void }, port: number, current: () => Baseline | undefined, baselineIntervalMs: number) {
  const { log, lines } = captureLog()
  const l = new SidecarLink({
    url: `http://127.0.0.1:${port}`, token: SIGNAL, provider: 'fetch', sidecarId: 'sc-link', version: '0.1.0',
    status: () => ({ state: 'ready', quarantined: false }), apply: () => {}, log, intervalMs: 100, pollWaitS: 1,
    baseline: current, baselineIntervalMs,
  })
  l.start()
  t.teardown(() => l.stop())
  return { link: l, lines }
}

/** Counts heartbeats and baselines offered at the real aggregator. */
function spy(agg: Aggregator) {
  const offered: number[] = []
  let beats = 0
  const offer = agg.baselines.offer.bind(agg.baselines)
  agg.baselines.offer = (b) => {
    offered.push(b.revision)
    return offer(b)
  }
  const beat = agg.registry.beat.bind(agg.registry)
  agg.registry.beat = (hb) => {
    beats++
    return beat(hb)
  }
  return { offered, beats: () => beats }
}

t.test('SidecarLink ships a baseline once per revision, and again after it changes and the interval passed', async (t) => {
  const { agg, port, get } = await start(t, tempDir(t, 'hangar-bl-'))
  const s = spy(agg)
  let current: Baseline | undefined
  link(t, port, () => current, 50)
  await waitFor('a heartbeat', () => s.beats() >= 1)
  t.same(s.offered, [], 'no baseline yet, none shipped')
  current = baseline('fetch', { revision: 7 })
  await waitFor('the first baseline', () => s.offered.length === 1, 2000)
  t.same(s.offered, [7], 'shipped on the next heartbeat')
  const beats = s.beats()
  await waitFor('three more heartbeats', () => s.beats() >= beats + 3)
  t.same(s.offered, [7], 'not shipped again for the same revision')
  t.same(JSON.parse((await get()).text), current, 'the aggregator serves it')
  current = baseline('fetch', { revision: 8, events: 8 })
  await waitFor('the new revision', () => s.offered.length === 2, 2000)
  t.same(s.offered, [7, 8], 'shipped again after the revision changed')
  t.equal(JSON.parse((await get()).text).revision, 8)
})

t.test('SidecarLink waits baselineIntervalMs between baselines', async (t) => {
  const { agg, port } = await start(t, tempDir(t, 'hangar-bl-'))
  const s = spy(agg)
  let current: Baseline | undefined = baseline('fetch', { revision: 1, events: 1 })
  link(t, port, () => current, 60_000)
  await waitFor('the first baseline', () => s.offered.length === 1, 2000)
  t.same(s.offered, [1], 'the first one goes at once')
  current = baseline('fetch', { revision: 2, events: 2 })
  const beats = s.beats()
  await waitFor('four more heartbeats', () => s.beats() >= beats + 4)
  t.same(s.offered, [1], 'a new revision waits for the interval')
})

t.test('SidecarLink: a refused baseline (400) is logged once, the heartbeat goes on without it until the revision changes', async (t) => {
  const { agg, port, get } = await start(t, tempDir(t, 'hangar-bl-'))
  const s = spy(agg)
  let current: Baseline = baseline('quiet', { revision: 1, events: 1 }) // another provider's: the aggregator answers 400
  const { lines } = link(t, port, () => current, 50)
  await waitFor('the refusal', () => lines.some((l) => l.msg === 'aggregator refused the baseline; heartbeating without it until it changes'))
  await waitFor('a heartbeat without the baseline', () => s.beats() >= 1)
  const beats = s.beats()
  await waitFor('three more heartbeats', () => s.beats() >= beats + 3)
  t.same(s.offered, [], 'nothing reached the book')
  t.equal(agg.registry.get('fetch')?.heartbeat.sidecar_id, 'sc-link', 'heartbeats are accepted')
  const refusals = () => lines.filter((l) => l.msg === 'aggregator refused the baseline; heartbeating without it until it changes')
  t.equal(refusals().length, 1, 'one warning')
  t.equal(refusals()[0]?.status, 400)
  t.equal(refusals()[0]?.level, 40)
  t.notOk(lines.some((l) => l.msg === 'aggregator heartbeat failed; retrying every interval'), 'the heartbeat itself never failed')
  current = baseline('fetch', { revision: 2, events: 2 })
  await waitFor('the changed baseline', () => s.offered.length === 1, 2000)
  t.same(s.offered, [2], 'a changed baseline is shipped')
  t.equal(JSON.parse((await get()).text).revision, 2)
  t.equal(refusals().length, 1, 'still one warning')
})
