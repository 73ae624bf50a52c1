// aggregator/http/control.ts: heartbeat (schema, size bound, the unconfigured-provider limit,
// baselines offered), provider views, the baseline document, quarantine/approve bodies, and the
// policy long poll (answers on a version change or after the wait).
import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { approve, getBaseline, getProvider, heartbeat, listProviders, MAX_HEARTBEAT_BODY_BYTES, policy, quarantine } from '../../../aggregator/http/control.js'
import { createAggregatorMetrics } from '../../../aggregator/metrics.js'
import { MAX_UNCONFIGURED_PROVIDERS } from '../../../aggregator/registry.js'
import { handlerServer, serviceRig } from '../../fixtures/aggregator/service.js'
import { makeBaseline } from '../../helpers/baseline.js'

async function rig(t: Parameters<typeof serviceRig>[0]) {
  const r = await serviceRig(t, ['fetch'])
  const metrics = createAggregatorMetrics()
  const { base } = await handlerServer(t, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x')
    const [, a, b, c] = url.pathname.split('/')
    if (a === 'heartbeat') return heartbeat(req, res, r.registry, r.baselines, metrics)
    if (a === 'providers' && !b) return listProviders(res, r.service)
    if (a === 'providers' && c === 'baseline') return getBaseline(res, b!, r.service)
    if (a === 'providers' && c === 'quarantine') return quarantine(req, res, b!, r.service, metrics)
    if (a === 'providers' && c === 'approve') return approve(req, res, b!, r.service)
    if (a === 'providers') return getProvider(res, b!, r.service)
    if (a === 'policy') return policy(req, res, b!, url.searchParams, r.policy, metrics)
    res.writeHead(404).end()
  })
  const call = async (method: 'GET' | 'POST', path: string, body?: string | Buffer | object) => {
    const res = await request(base + path, { method, ...(body !== undefined && { body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }) })
    const text = await res.body.text()
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field
    return { status: res.statusCode, headers: res.headers, text, json: text && /json/.test(String(res.headers['content-type'])) ? (JSON.parse(text) as Record<string, any>) : undefined }
  }
  const hbCount = async (outcome: string) => (await metrics.heartbeats.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0
  return { ...r, metrics, call, hbCount }
}

const hb = (over: Record<string, unknown> = {}) => ({ provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready', ...over })

t.test('heartbeat: 204 and recorded; schema errors are 400 naming the field, nothing recorded', async (t) => {
  const r = await rig(t)
  const ok = await r.call('POST', '/heartbeat', hb({ mcp_url: 'http://127.0.0.1:5/mcp' }))
  t.equal(ok.status, 204)
  t.equal(r.registry.get('fetch')?.heartbeat.mcp_url, 'http://127.0.0.1:5/mcp')
  const cases: Array<[string, unknown, RegExp]> = [
    ['bad state', hb({ provider: 'other', state: 'fine' }), /^state: /],
    ['bad provider name', hb({ provider: 'a b' }), /^provider: provider names are letters/],
    ['unknown field', hb({ provider: 'other', extra: 1 }), /Unrecognized key|unrecognized/i],
    ['not an object', [1], /^expected a JSON object$/],
    ['malformed', '{', /^malformed JSON/],
    ['empty', '', /^malformed JSON/],
    ['baseline of another provider', hb({ provider: 'other', baseline: makeBaseline({ provider: 'fetch' }) }), /^baseline\.provider: must be the heartbeat's provider "other"/],
  ]
  for (const [name, body, msg] of cases) {
    const res = await r.call('POST', '/heartbeat', body as object)
    t.equal(res.status, 400, `${name}: 400`)
    t.match(res.json?.error.message, msg, `${name}: message`)
  }
  t.equal(r.registry.get('other'), undefined, 'nothing recorded for the refused ones')
  t.equal(await r.hbCount('bad_request'), cases.length)
  t.equal(await r.hbCount('accepted'), 1)
})

t.test('heartbeat: a baseline is offered to the book and served by GET …/baseline', async (t) => {
  const r = await rig(t)
  const none = await r.call('GET', '/providers/fetch/baseline')
  t.equal(none.status, 404)
  t.match(none.json?.error.message, /has not shipped a baseline yet/)
  const unknown = await r.call('GET', '/providers/ghost/baseline')
  t.match(unknown.json?.error.message, /no provider "ghost" is configured or has reported/)
  const b = makeBaseline({ provider: 'fetch' })
  t.equal((await r.call('POST', '/heartbeat', hb({ baseline: b }))).status, 204)
  const got = await r.call('GET', '/providers/fetch/baseline')
  t.equal(got.status, 200)
  t.strictSame(got.json, JSON.parse(JSON.stringify(b)))
  t.equal(got.headers['x-hangar-baseline-received'], new Date(r.clock.now).toISOString())
  t.equal(Number(got.headers['content-length']), Buffer.byteLength(got.text))
  t.notOk('baseline' in r.registry.get('fetch')!.heartbeat, 'the registry does not keep it')
})

t.test('heartbeat: a body over 16 MiB is 413 with Connection: close', async (t) => {
  const r = await rig(t)
  const big = Buffer.alloc(MAX_HEARTBEAT_BODY_BYTES + 1, 0x20)
  const res = await r.call('POST', '/heartbeat', big)
  t.equal(res.status, 413)
  t.equal(res.json?.error.code, 'payload_too_large')
  t.equal(res.headers.connection, 'close')
})

t.test('heartbeat: unconfigured providers beyond the limit are 429; configured and known ones still pass', async (t) => {
  const r = await rig(t)
  let filled = 0
  for (let i = 0; i < MAX_UNCONFIGURED_PROVIDERS; i++) if ((await r.call('POST', '/heartbeat', hb({ provider: `u${i}` }))).status === 204) filled++
  t.equal(filled, MAX_UNCONFIGURED_PROVIDERS, 'up to the limit: 204')
  const over = await r.call('POST', '/heartbeat', hb({ provider: 'one-more' }))
  t.equal(over.status, 429)
  t.equal(over.json?.error.code, 'too_many_providers')
  t.equal(over.headers['retry-after'], '60')
  t.equal(r.registry.get('one-more'), undefined)
  t.equal((await r.call('POST', '/heartbeat', hb())).status, 204, 'control: a configured provider')
  t.equal((await r.call('POST', '/heartbeat', hb({ provider: 'u0' }))).status, 204, 'control: an unconfigured one already known')
  t.equal(await r.hbCount('too_many_providers'), 1)
})

t.test('providers: list and one; unknown is 404', async (t) => {
  const r = await rig(t)
  await r.call('POST', '/heartbeat', hb({ provider: 'extra' }))
  const list = await r.call('GET', '/providers')
  t.strictSame(list.json?.providers.map((p: { name: string; state: string }) => [p.name, p.state]), [['extra', 'ready'], ['fetch', 'unreachable']])
  const one = await r.call('GET', '/providers/fetch')
  t.equal(one.json?.name, 'fetch')
  const ghost = await r.call('GET', '/providers/ghost')
  t.strictSame([ghost.status, ghost.json?.error.code], [404, 'not_found'])
})

t.test('quarantine: a reason is required; unknown provider 404; a change is counted once', async (t) => {
  const r = await rig(t)
  for (const body of [{}, { reason: '  ' }, { reason: 5 }]) {
    const res = await r.call('POST', '/providers/fetch/quarantine', body)
    t.strictSame([res.status, res.json?.error.message], [400, 'reason: a non-empty string is required'], JSON.stringify(body))
  }
  t.equal((await r.call('POST', '/providers/fetch/quarantine', '')).status, 400, 'an empty body is refused')
  t.equal((await r.call('POST', '/providers/ghost/quarantine', { reason: 'x' })).status, 404)
  const q = await r.call('POST', '/providers/fetch/quarantine', { reason: ` ${'r'.repeat(600)} ` })
  t.equal(q.status, 200)
  t.strictSame([q.json?.quarantined, q.json?.changed, q.json?.reason.length], [true, true, 500], 'reason trimmed and cut to 500')
  const again = await r.call('POST', '/providers/fetch/quarantine', { reason: 'again' })
  t.equal(again.json?.changed, false)
  t.equal((await r.metrics.quarantines.get()).values.find((v) => v.labels.by === 'api')?.value, 1)
})

t.test('approve: the body is optional; a reason must be a string', async (t) => {
  const r = await rig(t)
  r.service.quarantine('fetch', 'x', 'api')
  t.strictSame((await r.call('POST', '/providers/fetch/approve', { reason: 7 })).json?.error.message, 'reason: expected a string')
  t.equal((await r.call('POST', '/providers/ghost/approve', '')).status, 404)
  const a = await r.call('POST', '/providers/fetch/approve', '')
  t.strictSame([a.status, a.json?.quarantined, a.json?.reason, a.json?.approvals], [200, false, 'approved by an operator', 1])
  const b = await r.call('POST', '/providers/fetch/approve', { reason: ' looked at it ' })
  t.strictSame([b.json?.reason, b.json?.approvals], ['looked at it', 2])
})

t.test('policy long poll: at once when newer, on a change while waiting, after the wait otherwise', async (t) => {
  const r = await rig(t)
  const now = await r.call('GET', '/policy/fetch?version=0&wait=0')
  t.strictSame([now.status, now.json?.version], [200, 0])
  const waiting = r.call('GET', '/policy/fetch?version=0&wait=30')
  await new Promise((res) => setTimeout(res, 100))
  t.equal((await r.metrics.policyPolls.get()).values[0]?.value, 1, 'one poll waiting')
  const started = Date.now()
  r.service.quarantine('fetch', 'now', 'api')
  const changed = await waiting
  t.strictSame([changed.json?.version, changed.json?.quarantined], [1, true])
  t.ok(Date.now() - started < 5000, 'answered on the change, not after the wait')
  t.equal((await r.metrics.policyPolls.get()).values[0]?.value, 0)
  const t0 = Date.now()
  const timeout = await r.call('GET', '/policy/fetch?version=1&wait=0.3')
  t.equal(timeout.json?.version, 1)
  t.ok(Date.now() - t0 >= 250, 'waited about 0.3 s')
})

t.test('policy: bad version or wait are 400', async (t) => {
  const r = await rig(t)
  for (const q of ['version=-1', 'version=1.5', 'version=x', 'wait=-1', 'wait=x', 'wait=Infinity']) {
    const res = await r.call('GET', `/policy/fetch?${q}`)
    t.equal(res.status, 400, q)
  }
})
