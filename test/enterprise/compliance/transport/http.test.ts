// enterprise/compliance/transport/http.ts against receivers in the test that implement the
// documented endpoints (test/helpers/export-receivers.ts): Splunk HEC (token, channel, indexer
// acknowledgement polling, 4xx answers), Elasticsearch _bulk (create by _id, per-item errors,
// 409 on a re-send, 429 items retried), and the signed webhook; then through a sink end to end.
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Aggregator } from '../../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../../config/schema.js'
import { createPortRegistry } from '../../../../core/ports.js'
import { createComplianceExport } from '../../../../enterprise/compliance/index.js'
import { ElasticsearchTransport, recordValue, SplunkHecTransport, WebhookTransport, webhookSignature } from '../../../../enterprise/compliance/transport/http.js'
import type { ExportRecord } from '../../../../enterprise/compliance/transport/types.js'
import type { Signal } from '../../../../signals/types.js'
import { captureLog, signals } from '../../../fixtures/aggregator/signals.js'
import { bulkReceiver, hecReceiver, webhookReceiver } from '../../../helpers/export-receivers.js'

const TOKEN = '11111111-2222-3333-4444-555555555555'

function records(from: number, to: number): ExportRecord[] {
  return signals(from, to).map((s, i) => ({ seq: from + i, id: s.id, text: JSON.stringify(s) }))
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('recordValue: JSON records are sent as JSON, others as text', async (t) => {
  t.same(recordValue('{"a":1}'), { a: 1 })
  t.equal(recordValue('CEF:0|x'), 'CEF:0|x')
  t.equal(recordValue('{not json'), '{not json')
})

t.test('Splunk HEC: events with the token and a channel; with ack, the batch resolves only once the ack is confirmed', async (t) => {
  const hec = await hecReceiver(TOKEN, { ack: true, ackDelayPolls: 2 })
  t.teardown(() => hec.close())
  const tr = new SplunkHecTransport({ url: hec.url, token: TOKEN, ack: true, host: 'agg-1', index: 'hangar', sourcetype: 'mcp_hangar:signal', timeoutMs: 5000, ackPollMs: 20 })
  t.teardown(() => tr.close())
  const batch = records(1, 11)
  t.same(await tr.send(batch), { rejected: [] })
  t.same(hec.ids, batch.map((r) => r.id), 'every event indexed, id in fields.signal_id')
  t.equal(hec.acksPolled, 3, 'polled /services/collector/ack until the ack turned true')
  t.equal(hec.channels.size, 1, 'one channel per transport')
  const e = hec.records[0] as { time: number; host: string; source: string; sourcetype: string; index: string; event: Signal }
  t.match(e, { host: 'agg-1', source: 'mcp-hangar', sourcetype: 'mcp_hangar:signal', index: 'hangar' })
  t.equal(e.time, Date.parse(signals(1, 2)[0]!.time) / 1000, 'time in epoch seconds from the signal')
  t.equal(e.event.id, batch[0]!.id)
})

t.test('Splunk HEC: a wrong token is retryable (403), an invalid event refuses the batch (400), no ackId with ack on is an error', async (t) => {
  const hec = await hecReceiver(TOKEN)
  t.teardown(() => hec.close())
  const bad = new SplunkHecTransport({ url: hec.url, token: 'wrong', ack: false, host: 'h', timeoutMs: 3000 })
  await t.rejects(bad.send(records(1, 2)), { name: 'TransportError', reason: 'http_403', message: /Invalid token/ })
  await bad.close()
  const tr = new SplunkHecTransport({ url: hec.url, token: TOKEN, ack: false, host: 'h', timeoutMs: 3000 })
  t.teardown(() => tr.close())
  const batch = records(1, 4)
  hec.poison.add(batch[1]!.id)
  await t.rejects(tr.send(batch), { name: 'RejectedError', status: 400 })
  hec.poison.clear()
  t.same(await tr.send(batch), { rejected: [] }, 'control: the same batch without the poison record is taken')
  const ackOn = new SplunkHecTransport({ url: hec.url, token: TOKEN, ack: true, host: 'h', timeoutMs: 3000 })
  await t.rejects(ackOn.send(records(5, 6)), { name: 'TransportError', reason: 'ack', message: /without an ackId/ })
  await ackOn.close()
})

t.test('Elasticsearch _bulk: create by _id, a refused item is rejected alone, a re-send is deduplicated (409), 429 items retry the batch', async (t) => {
  const es = await bulkReceiver()
  t.teardown(() => es.close())
  const tr = new ElasticsearchTransport({ url: es.url, index: 'hangar-signals', auth: { username: 'elastic', password: 'pw' }, timeoutMs: 3000 })
  t.teardown(() => tr.close())
  const batch = records(1, 21)
  es.poison.add(batch[5]!.id)
  const r = await tr.send(batch)
  t.equal(r.rejected.length, 1)
  t.match(r.rejected[0], { index: 5, reason: /400 mapper_parsing_exception/ })
  t.equal(es.docs.size, 19)
  t.equal((es.docs.get(batch[0]!.id) as Signal).id, batch[0]!.id, 'the JSON record is the document')
  t.equal(es.auth[0], `Basic ${Buffer.from('elastic:pw').toString('base64')}`)
  es.poison.clear()
  t.same(await tr.send(batch), { rejected: [] }, 'a re-send: the stored items answer 409 and count as stored')
  t.equal(es.conflicts, 19)
  t.equal(es.docs.size, 20, 'no document twice')
  es.forceOnce = 429
  await t.rejects(tr.send(records(21, 23)), { name: 'TransportError', reason: 'item_429' })
  t.same(await tr.send(records(21, 23)), { rejected: [] }, 'the retry goes through')
  const key = new ElasticsearchTransport({ url: es.url, index: 'hangar-signals', auth: { api_key: 'a2V5' }, timeoutMs: 3000 })
  await key.send(records(23, 24))
  await key.close()
  t.equal(es.auth.at(-1), 'ApiKey a2V5')
  t.same(recordValue(JSON.stringify({ x: 1 })), { x: 1 })
})

t.test('webhook: the X-Hangar-Signature HMAC verifies at the receiver; a wrong secret is refused (401, retryable)', async (t) => {
  const secret = 'a-webhook-secret-of-some-length'
  const hook = await webhookReceiver(secret)
  t.teardown(() => hook.close())
  const body = '{"records":[]}'
  t.equal(webhookSignature(secret, body), `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`)
  const good = new WebhookTransport({ url: `${hook.url}/h`, secret, timeoutMs: 3000 })
  t.teardown(() => good.close())
  await good.send(records(1, 6))
  t.equal(hook.ids.length, 5)
  t.equal(hook.badSignatures, 0)
  const bad = new WebhookTransport({ url: `${hook.url}/h`, secret: 'another-secret-of-some-length', timeoutMs: 3000 })
  await t.rejects(bad.send(records(6, 7)), { name: 'TransportError', reason: 'http_401' })
  await bad.close()
  t.equal(hook.badSignatures, 1)
  t.equal(hook.ids.length, 5, 'nothing taken with a bad signature')
  const down = new WebhookTransport({ url: 'http://127.0.0.1:1/h', secret, timeoutMs: 1000 })
  await t.rejects(down.send(records(1, 2)), { name: 'TransportError', reason: 'connect' })
  await down.close()
})

function agg(t: Test, transport: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-http-'))
  const ports = createPortRegistry()
  ports.compliance = createComplianceExport()
  ports.enterprise = true
  const config = hangarConfigSchema.parse({ aggregator: { listen: '127.0.0.1:0', data_dir: dir, export: { sinks: { siem: { format: 'jsonl', transport, batch_max: 40, retry: { initial_ms: 20, max_ms: 100, timeout_ms: 3000 } } } } } })
  const a = new Aggregator({ config, log: captureLog().log, ports })
  t.teardown(async () => {
    await a.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { a, ports, dir }
}

t.test('through a sink: HEC with ack and a poison event, Elasticsearch with a refused item; the rest flow, the refused are dead-lettered', async (t) => {
  const hec = await hecReceiver(TOKEN, { ack: true, ackDelayPolls: 1 })
  t.teardown(() => hec.close())
  const es = await bulkReceiver()
  t.teardown(() => es.close())
  const sent = signals(1, 201)
  hec.poison.add(sent[10]!.id)
  es.poison.add(sent[150]!.id)
  const h = agg(t, { type: 'splunk_hec', url: hec.url, token: TOKEN, ack: true })
  const e = agg(t, { type: 'elasticsearch', url: es.url, index: 'hangar' })
  await h.a.start()
  await e.a.start()
  await h.a.service.ingest(sent)
  await e.a.service.ingest(sent)
  await until('both cursors at 200', () => h.ports.compliance.status()[0]?.cursor === 200 && e.ports.compliance.status()[0]?.cursor === 200)
  t.same([...new Set(hec.ids)].sort(), sent.filter((_, i) => i !== 10).map((s) => s.id).sort(), 'HEC: all but the poison event')
  t.equal(es.docs.size, 199, 'Elasticsearch: all but the refused document')
  const deadH = readFileSync(join(h.dir, 'export', 'siem.dead.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; reason: string })
  const deadE = readFileSync(join(e.dir, 'export', 'siem.dead.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; reason: string })
  t.same(deadH.map((d) => d.id), [sent[10]!.id])
  t.match(deadH[0]!.reason, /HTTP 400/)
  t.same(deadE.map((d) => d.id), [sent[150]!.id])
  t.match(deadE[0]!.reason, /mapper_parsing_exception/)
})
