// enterprise/compliance/sink.ts through a real aggregator (in-process, loopback HTTP receiver):
// every signal once and in audit order, the durable cursor and the resume after a restart, the
// filter, retries while the receiver fails, the dead letter of a record the receiver refuses,
// signals older than the memory window read from the audit files, and the syslog wrapper.
import { readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { createPortRegistry } from '../../../core/ports.js'
import { createComplianceExport } from '../../../enterprise/compliance/index.js'
import { passes, readCursor, wrapSyslog, WRAP_SD_ID } from '../../../enterprise/compliance/sink.js'
import type { Signal } from '../../../signals/types.js'
import { captureLog, signal, signals, tempDir } from '../../fixtures/aggregator/signals.js'
import { webhookReceiver, type Receiver } from '../../helpers/export-receivers.js'

const SECRET = 'a-webhook-secret-of-some-length'

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}



function startAgg(t: Test, dir: string, url: string, sink: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const ports = createPortRegistry()
  ports.compliance = createComplianceExport()
  ports.enterprise = true
  const config = hangarConfigSchema.parse({
    aggregator: {
      listen: '127.0.0.1:0', data_dir: dir, ...extra,
      export: { sinks: { soc: { format: 'jsonl', transport: { type: 'webhook', url: `${url}/hook`, secret: SECRET }, batch_max: 50, retry: { initial_ms: 20, max_ms: 100, timeout_ms: 2000 }, ...sink } } },
    },
  })
  const log = captureLog()
  const agg = new Aggregator({ config, log: log.log, ports })
  let stopped = false
  const stop = async () => { if (!stopped) { stopped = true; await agg.stop() } }
  t.teardown(stop)
  return { agg, ports, log, stop, start: () => agg.start() }
}

async function receiver(t: Test): Promise<Receiver & { badSignatures: number }> {
  const r = await webhookReceiver(SECRET)
  t.teardown(() => r.close())
  return r
}

t.test('every signal reaches the receiver once, in audit order; the cursor file holds the last sequence number', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  const a = startAgg(t, dir, r.url)
  await a.start()
  const sent = signals(1, 301)
  for (let i = 0; i < sent.length; i += 37) await a.agg.service.ingest(sent.slice(i, i + 37))
  await until('300 records', () => r.ids.length >= 300)
  t.same(r.ids, sent.map((s) => s.id), 'ids in audit order, none twice')
  t.equal(r.badSignatures, 0, 'every POST carried a valid HMAC signature')
  t.same((r.records[0] as Signal).id, sent[0]!.id, 'jsonl record is the stored signal')
  await until('cursor 300', () => a.ports.compliance.status()[0]?.cursor === 300)
  t.same(JSON.parse(readFileSync(join(dir, 'export', 'soc.cursor'), 'utf8')), { seq: 300 })
  const st = a.ports.compliance.status()[0]!
  t.match(st, { name: 'soc', format: 'jsonl', transport: 'webhook', state: 'running', cursor: 300, lag: 0, sent: 300, dead_lettered: 0 })
  const metrics = await a.agg.metrics.registry.metrics()
  t.match(metrics, /mcp_hangar_export_sent_total\{sink="soc"\} 300/)
  t.match(metrics, /mcp_hangar_export_lag_signals\{sink="soc"\} 0/)
})

t.test('after a restart the sink resumes from its cursor: only the signals stored since are sent', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  const a = startAgg(t, dir, r.url)
  await a.start()
  await a.agg.service.ingest(signals(1, 101))
  await until('100', () => r.ids.length >= 100)
  await until('cursor 100', () => a.ports.compliance.status()[0]?.cursor === 100)
  await a.stop()
  // Control: the cursor is what stops a re-send; the same restart with the cursor file deleted sends everything again.
  const b = startAgg(t, dir, r.url)
  await b.start()
  await b.agg.service.ingest(signals(101, 151))
  await until('150', () => r.ids.length >= 150)
  await new Promise((res) => setTimeout(res, 200))
  t.same(r.ids, signals(1, 151).map((s) => s.id), 'resumed after 100: none twice, none lost')
  await b.stop()
  const { rmSync } = await import('node:fs')
  rmSync(join(dir, 'export', 'soc.cursor'))
  const c = startAgg(t, dir, r.url)
  await c.start()
  await until('re-sent', () => r.ids.length >= 300)
  t.equal(r.ids.length, 300, 'without the cursor the retained history is sent again (at-least-once)')
})

t.test('the filter sends only the listed kinds, types and severities; skipped signals still move the cursor', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  const a = startAgg(t, dir, r.url, { filter: { kinds: ['violation', 'enforcement'], min_severity: 'medium' } })
  await a.start()
  const mixed = [
    signal(1), // violation high
    signal(2, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed' }),
    signal(3, { severity: 'low' }),
    signal(4, { kind: 'enforcement', severity: 'medium' }),
    signal(5, { kind: 'lifecycle', type: 'sidecar_started', severity: 'critical', action: 'allowed' }),
  ]
  await a.agg.service.ingest(mixed)
  await until('cursor 5', () => a.ports.compliance.status()[0]?.cursor === 5)
  t.same(r.ids, [mixed[0]!.id, mixed[3]!.id])
  t.ok(passes({ types: ['tool_denied'] }, signal(1, { type: 'tool_denied' })))
  t.notOk(passes({ types: ['tool_denied'] }, signal(1)))
  t.ok(passes({}, signal(1, { kind: 'observation', severity: 'info' })), 'an empty filter passes everything')
})

t.test('while the receiver fails, the batch is retried with backoff; nothing is lost and failures are counted', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  r.failWith = 503
  const a = startAgg(t, dir, r.url)
  await a.start()
  await a.agg.service.ingest(signals(1, 121))
  await until('several failed attempts', () => r.requests >= 4)
  const st = a.ports.compliance.status()[0]!
  t.equal(st.state, 'retrying')
  t.equal(st.cursor, 0, 'nothing acknowledged, the cursor has not moved')
  t.equal(st.lag, 120)
  t.match(st.last_error, /HTTP 503/)
  t.match(await a.agg.metrics.registry.metrics(), /mcp_hangar_export_failed_total\{sink="soc",reason="http_503"\} \d+/)
  r.failWith = undefined
  await until('120', () => r.ids.length >= 120)
  t.same(r.ids, signals(1, 121).map((s) => s.id), 'all delivered in order once the receiver is back')
  await until('running', () => a.ports.compliance.status()[0]?.state === 'running')
})

t.test('a record the receiver refuses (400) is dead-lettered with the reason; the rest flow on', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  const sent = signals(1, 201)
  r.poison.add(sent[77]!.id)
  const a = startAgg(t, dir, r.url)
  await a.start()
  await a.agg.service.ingest(sent)
  await until('cursor 200', () => a.ports.compliance.status()[0]?.cursor === 200)
  const want = sent.filter((_, i) => i !== 77).map((s) => s.id)
  t.same([...new Set(r.ids)].sort(), [...want].sort(), 'every other record delivered')
  t.notOk(r.ids.includes(sent[77]!.id))
  const dead = readFileSync(join(dir, 'export', 'soc.dead.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.equal(dead.length, 1, 'exactly one dead letter')
  t.match(dead[0], { sink: 'soc', seq: 78, id: sent[77]!.id, reason: /HTTP 400/ })
  t.equal((JSON.parse(dead[0]!.record as string) as Signal).id, sent[77]!.id, 'the dead letter keeps the record')
  t.match(a.ports.compliance.status()[0], { dead_lettered: 1 })
  t.match(await a.agg.metrics.registry.metrics(), /mcp_hangar_export_dead_lettered_total\{sink="soc"\} 1/)
  t.ok(a.log.lines.some((l) => l.msg === 'export sink: record refused by the receiver; dead-lettered'), 'logged as an error')
})

t.test('signals older than the memory window are read from the audit files, in order', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  // First run without export: 2500 signals, memory window 1000.
  const pre = hangarConfigSchema.parse({ aggregator: { listen: '127.0.0.1:0', data_dir: dir, memory_signals: 1000, audit_max_bytes: 200_000 } })
  const plain = new Aggregator({ config: pre, log: captureLog().log, ports: createPortRegistry() })
  await plain.start()
  for (let i = 1; i <= 2500; i += 250) await plain.service.ingest(signals(i, i + 250))
  await plain.stop()
  t.ok(existsSync(join(dir, 'audit')), 'audit files written')
  const a = startAgg(t, dir, r.url, { batch_max: 200 }, { memory_signals: 1000, audit_max_bytes: 200_000 })
  await a.start()
  await a.agg.service.ingest(signals(2501, 2601))
  await until('2600', () => r.ids.length >= 2600, 60_000)
  t.same(r.ids, signals(1, 2601).map((s) => s.id), 'rotated files, current file, then live: all, in order, once')
})

t.test('a malformed cursor file stops the start with an error naming the file', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  mkdirSync(join(dir, 'export'), { recursive: true })
  writeFileSync(join(dir, 'export', 'soc.cursor'), '{"seq": -4}')
  const a = startAgg(t, dir, r.url)
  await t.rejects(a.start(), /aggregator\.export\.sinks\.soc: .*soc\.cursor: not a cursor file/)
  await t.rejects(readCursor(join(dir, 'export', 'soc.cursor')), /not a cursor file/)
  t.equal(await readCursor(join(dir, 'export', 'nope.cursor')), 0, 'no cursor: from the start')
})

t.test('wrapSyslog: an RFC 5424 message with the body as MSG and escaped structured data', async (t) => {
  const s = signal(9, { provider: 'we"ird]\\p', severity: 'critical', type: 'secret_in_arguments' })
  const m = wrapSyslog(s, '{"a":1}', 'host name\u00e9')
  // facility 13 (log audit) * 8 + severity 2 (critical) = 106
  t.equal(m, `<106>1 ${s.time} hostname mcp-hangar - secret_in_arguments [${WRAP_SD_ID} id="${s.id}" provider="we\\"ird\\]\\\\p" kind="violation" severity="critical"] {"a":1}`)
  t.match(wrapSyslog(signal(1, { severity: 'info' }), 'x', 'h'), /^<110>1 /, 'info → severity 6')
})

t.test('a cursor that cannot be written is retried (logged, counted), never crashes the aggregator', async (t) => {
  const dir = tempDir(t, 'hangar-export-')
  const r = await receiver(t)
  const a = startAgg(t, dir, r.url)
  await a.start()
  const cursorFile = join(dir, 'export', 'soc.cursor')
  mkdirSync(join(cursorFile, 'in-the-way'), { recursive: true }) // a directory where the file goes
  await a.agg.service.ingest(signals(1, 11))
  await until('10 delivered', () => r.ids.length >= 10)
  await until('state retrying', () => a.ports.compliance.status()[0]?.state === 'retrying')
  t.match(a.ports.compliance.status()[0], { cursor: 0, last_error: /soc\.cursor/ })
  t.match(await a.agg.metrics.registry.metrics(), /mcp_hangar_export_failed_total\{sink="soc",reason="state"\} [1-9]/)
  const { rmSync } = await import('node:fs')
  rmSync(cursorFile, { recursive: true })
  await until('cursor 10', () => a.ports.compliance.status()[0]?.cursor === 10)
  t.same(JSON.parse(readFileSync(cursorFile, 'utf8')), { seq: 10 })
  t.equal(r.ids.length, 10, 'the batch was not sent again while only the cursor write failed')
})
