// aggregator/http/signals.ts: POST /v1/signals (media type, size bound, JSON and envelope checks
// with nothing written, per-signal rejections, dedup, 507 when the audit budget is full), the query
// filter parser, GET /v1/signals, and the SSE stream resumable with Last-Event-ID.
import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { getSignals, MAX_SIGNAL_BATCH_BYTES, parseFilter, postSignals, streamSignals } from '../../../aggregator/http/signals.js'
import { createAggregatorMetrics, type AggregatorMetrics } from '../../../aggregator/metrics.js'
import { signal, signals } from '../../fixtures/aggregator/signals.js'
import { handlerServer, serviceRig, type ServiceRig } from '../../fixtures/aggregator/service.js'

/** A loopback server routing POST → postSignals, GET /stream → streamSignals, GET → getSignals. */
async function rig(t: Parameters<typeof serviceRig>[0], store: Parameters<typeof serviceRig>[2] = {}) {
  const r = await serviceRig(t, ['fetch'], store)
  const metrics = createAggregatorMetrics()
  const { base } = await handlerServer(t, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x')
    if (req.method === 'POST') return postSignals(req, res, r.service, metrics, r.log.log)
    if (url.pathname === '/stream') return streamSignals(req, res, url.searchParams, r.service, metrics)
    return getSignals(res, url.searchParams, r.service)
  })
  return { ...r, metrics, base }
}

async function post(base: string, body: string | Buffer, type = 'application/json') {
  const res = await request(base + '/v1/signals', { method: 'POST', headers: { 'content-type': type }, body })
  const text = await res.body.text()
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as Record<string, any> }
}

async function count(m: AggregatorMetrics, name: 'batches' | 'signals', outcome: string): Promise<number> {
  return (await m[name].get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0
}

const stored = (r: ServiceRig) => r.store.lastSeq

t.test('parseFilter: known parameters, since normalised, limit bounds, errors name the parameter', async (t) => {
  t.strictSame(parseFilter(new URLSearchParams('provider=fetch&type=egress_denied&kind=violation&severity=high&cursor=12&limit=5&other=x&provider=second')), {
    provider: 'fetch', type: 'egress_denied', kind: 'violation', severity: 'high', cursor: '12', limit: 5,
  })
  t.strictSame(parseFilter(new URLSearchParams('provider=&since=')), {}, 'empty values are no filter')
  t.strictSame(parseFilter(new URLSearchParams('since=2025-01-01T01:00:00%2B01:00')), { since: '2025-01-01T00:00:00.000Z' })
  t.match(parseFilter(new URLSearchParams('since=yesterday')), /^since: expected an RFC 3339 time, got "yesterday"/)
  for (const l of ['0', '1001', '1.5', 'x', '-1']) t.equal(parseFilter(new URLSearchParams(`limit=${l}`)), 'limit: expected an integer 1–1000', `limit=${l}`)
  for (const l of ['1', '1000']) t.strictSame(parseFilter(new URLSearchParams(`limit=${l}`)), { limit: Number(l) }, `control limit=${l}`)
})

t.test('POST: a batch is validated, deduplicated, stored, and answered 202 with the rejections', async (t) => {
  const r = await rig(t)
  const batch = { signals: [signal(1), { ...signal(2), severity: 'apocalyptic' }, signal(3), signal(1)] }
  const a = await post(r.base, JSON.stringify(batch), 'Application/JSON; charset=utf-8')
  t.equal(a.status, 202)
  t.equal(a.json.accepted, 2)
  t.equal(a.json.duplicates, 1, 'repeated in the same batch')
  t.equal(a.json.rejected.length, 1)
  t.equal(a.json.rejected[0].index, 1)
  t.match(a.json.rejected[0].error, /severity/)
  t.equal(stored(r), 2)
  t.equal(await count(r.metrics, 'batches', 'accepted'), 1)
  t.equal(await count(r.metrics, 'signals', 'accepted'), 2)
  t.equal(await count(r.metrics, 'signals', 'duplicate'), 1)
  t.equal(await count(r.metrics, 'signals', 'rejected'), 1)
  const again = await post(r.base, JSON.stringify({ signals: [signal(1), signal(3)] }))
  t.strictSame([again.status, again.json.accepted, again.json.duplicates], [202, 0, 2], 'a resent batch is all duplicates')
})

t.test('POST refusals write nothing: media type, size, JSON, envelope', async (t) => {
  const r = await rig(t)
  const ok = JSON.stringify({ signals: [signal(1)] })
  const cases: Array<[string, string | Buffer, string, number, string, string]> = [
    ['text/plain', ok, 'text/plain', 415, 'unsupported_media_type', 'unsupported_media_type'],
    ['no type', ok, '', 415, 'unsupported_media_type', 'unsupported_media_type'],
    ['json-ish type', ok, 'application/json-seq', 415, 'unsupported_media_type', 'unsupported_media_type'],
    ['malformed JSON', '{"signals": [', 'application/json', 400, 'bad_request', 'bad_request'],
    ['not an object', '[]', 'application/json', 400, 'bad_request', 'bad_request'],
    ['unknown field', JSON.stringify({ signals: [], extra: 1 }), 'application/json', 400, 'bad_request', 'bad_request'],
    ['no signals', '{}', 'application/json', 400, 'bad_request', 'bad_request'],
  ]
  for (const [name, body, type, status, code, outcome] of cases) {
    const before = await count(r.metrics, 'batches', outcome)
    const res = await post(r.base, body, type)
    t.equal(res.status, status, `${name}: status`)
    t.equal(res.json.error.code, code, `${name}: code`)
    t.equal(await count(r.metrics, 'batches', outcome), before + 1, `${name}: counted as ${outcome}`)
  }
  t.equal(stored(r), 0, 'nothing stored')
})

t.test('POST: a body over 1 MiB is 413 with max_bytes; exactly 1 MiB is read', async (t) => {
  const r = await rig(t)
  const pad = (n: number) => {
    const head = JSON.stringify({ signals: [signal(1)] })
    return Buffer.from(head.slice(0, -1) + ' '.repeat(n - Buffer.byteLength(head)) + '}')
  }
  const big = await post(r.base, pad(MAX_SIGNAL_BATCH_BYTES + 1))
  t.equal(big.status, 413)
  t.strictSame(big.json.error, { code: 'payload_too_large', message: `a signal batch is at most ${MAX_SIGNAL_BATCH_BYTES} bytes; split it`, max_bytes: MAX_SIGNAL_BATCH_BYTES })
  t.equal(await count(r.metrics, 'batches', 'too_large'), 1)
  t.equal(stored(r), 0)
  const edge = await post(r.base, pad(MAX_SIGNAL_BATCH_BYTES))
  t.equal(edge.status, 202, 'control: a body of exactly the limit is accepted')
  t.equal(stored(r), 1)
})

t.test('POST: a batch the audit budget has no room for is 507 insufficient_storage with Retry-After, counted', async (t) => {
  const r = await rig(t, { maxTotalBytes: 4096, maxBytes: 1024, keepFiles: 1 })
  let last = await post(r.base, JSON.stringify({ signals: signals(1, 4) }))
  t.equal(last.status, 202, 'control: the first batch fits')
  for (let n = 4; n < 200 && last.status === 202; n += 3) last = await post(r.base, JSON.stringify({ signals: signals(n, n + 3) }))
  t.equal(last.status, 507)
  t.equal(last.json.error.code, 'insufficient_storage')
  t.equal(last.json.error.reason, 'budget')
  t.equal(last.headers['retry-after'], '30')
  t.equal((await r.metrics.auditRefusals.get()).values.find((v) => v.labels.reason === 'budget')?.value, 1)
  t.equal(await count(r.metrics, 'batches', 'insufficient_storage'), 1)
})

t.test('GET /v1/signals: a page newest first, bad filter and unknown cursor are 400 naming the parameter', async (t) => {
  const r = await rig(t)
  await r.service.ingest([signal(1), signal(2, { provider: 'other' }), signal(3)])
  const get = async (q: string) => {
    const res = await request(`${r.base}/v1/signals?${q}`)
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, any> }
  }
  const p1 = await get('provider=fetch&limit=1')
  t.equal(p1.status, 200)
  t.strictSame(p1.json.signals.map((s: { id: string }) => s.id), [signal(3).id])
  const p2 = await get(`provider=fetch&limit=1&cursor=${p1.json.next_cursor}`)
  t.strictSame(p2.json.signals.map((s: { id: string }) => s.id), [signal(1).id])
  t.equal(p2.json.next_cursor, undefined, 'last page')
  const bad = await get('cursor=abc')
  t.strictSame([bad.status, bad.json.error.code, bad.json.error.param], [400, 'bad_request', 'cursor'])
  const badLimit = await get('limit=0')
  t.strictSame([badLimit.status, badLimit.json.error.message], [400, 'limit: expected an integer 1–1000'])
})

/** Reads SSE events from `url` until `n` arrived; @returns their ids and provider names. */
async function readEvents(url: string, n: number, headers: Record<string, string> = {}): Promise<Array<{ id: string; provider: string }>> {
  const ac = new AbortController()
  const res = await request(url, { headers, signal: ac.signal })
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${await res.body.text()}`)
  const out: Array<{ id: string; provider: string }> = []
  let buf = ''
  try {
    for await (const chunk of res.body) {
      buf += String(chunk)
      let end
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, end)
        buf = buf.slice(end + 2)
        const id = /^id: (.*)$/m.exec(ev)?.[1]
        const data = /^data: (.*)$/m.exec(ev)?.[1]
        if (id && data) out.push({ id, provider: (JSON.parse(data) as { provider: string }).provider })
        if (out.length >= n) {
          ac.abort()
          return out
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err
  }
  return out
}

t.test('stream: stored then live signals with sequence ids, resumable, filtered; the gauge counts readers', async (t) => {
  const r = await rig(t)
  await r.service.ingest([signal(1), signal(2, { provider: 'other' }), signal(3)])
  const all = await readEvents(`${r.base}/stream`, 3)
  t.strictSame(all, [{ id: '1', provider: 'fetch' }, { id: '2', provider: 'other' }, { id: '3', provider: 'fetch' }])
  t.strictSame(await readEvents(`${r.base}/stream`, 2, { 'last-event-id': '1' }), [{ id: '2', provider: 'other' }, { id: '3', provider: 'fetch' }], 'Last-Event-ID resumes after it')
  t.strictSame(await readEvents(`${r.base}/stream?after=2`, 1), [{ id: '3', provider: 'fetch' }], '?after= too')
  const live = readEvents(`${r.base}/stream?provider=other&after=3`, 1)
  await new Promise((res) => setTimeout(res, 100))
  t.equal((await r.metrics.streams.get()).values[0]?.value, 1, 'one reader open')
  await r.service.ingest([signal(4), signal(5, { provider: 'other' })])
  t.strictSame(await live, [{ id: '5', provider: 'other' }], 'live, filtered by provider')
  for (let i = 0; i < 50 && (await r.metrics.streams.get()).values[0]?.value !== 0; i++) await new Promise((res) => setTimeout(res, 20))
  t.equal((await r.metrics.streams.get()).values[0]?.value, 0, 'reader gone, gauge back to 0')
})

t.test('stream: a bad Last-Event-ID or filter is 400', async (t) => {
  const r = await rig(t)
  for (const [q, h] of [['', { 'last-event-id': 'abc' }], ['?after=-1', {}], ['?after=1.5', {}], ['?since=never', {}]] as const) {
    const res = await request(`${r.base}/stream${q}`, { headers: h })
    const body = (await res.body.json()) as { error: { code: string; message: string } }
    t.equal(res.statusCode, 400, `${q} ${JSON.stringify(h)}`)
    t.equal(body.error.code, 'bad_request')
  }
})
