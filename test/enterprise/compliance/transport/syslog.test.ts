// enterprise/compliance/transport/syslog.ts against a real rsyslogd started by the test (its own
// config on a loopback port): RFC 5425 TLS with server verification and mutual TLS (gtls,
// x509/name), RFC 6587 octet counting and non-transparent framing over TCP, UDP; rsyslog parses
// each message (RFC 5424, mmpstrucdata) and every exported signal arrives exactly once by id.
// Fault: rsyslog stopped for 30 s while 10,000 violations arrive, then started again.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Aggregator } from '../../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../../config/schema.js'
import { createPortRegistry } from '../../../../core/ports.js'
import { createComplianceExport } from '../../../../enterprise/compliance/index.js'
import { frame, SyslogTransport } from '../../../../enterprise/compliance/transport/syslog.js'
import { wrapSyslog, WRAP_SD_ID } from '../../../../enterprise/compliance/sink.js'
import type { Signal } from '../../../../signals/types.js'
import { captureLog, signal, signals } from '../../../fixtures/aggregator/signals.js'
import { makeSyslogPki, removeDir, startRsyslog, type Parsed, type Rsyslog } from '../../../helpers/rsyslog.js'

const pki = makeSyslogPki()
t.teardown(() => removeDir(pki.dir))

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function rsyslog(t: Test, protocol: 'tls' | 'tcp' | 'udp'): Promise<Rsyslog> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-rsyslog-'))
  const r = await startRsyslog({ protocol, pki, dir })
  t.teardown(async () => {
    await r.stop()
    removeDir(dir)
  })
  return r
}

/** The signal id in a parsed message: from the JSON MSG (a jsonl record). */
function idOf(p: Parsed): string {
  return (JSON.parse(p.msg.replace(/^\uFEFF/, '')) as Signal).id
}

/** Every id appears exactly once. */
function exactlyOnce(t: Test, parsed: Parsed[], want: Signal[]): void {
  const ids = parsed.map(idOf)
  t.equal(ids.length, want.length, `${want.length} messages, no more`)
  t.equal(new Set(ids).size, ids.length, 'none twice')
  t.same([...ids].sort(), want.map((s) => s.id).sort(), 'every id arrived')
}

function startAgg(t: Test, transport: Record<string, unknown>, batchMax = 200) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-syslog-'))
  const ports = createPortRegistry()
  ports.compliance = createComplianceExport()
  ports.enterprise = true
  const config = hangarConfigSchema.parse({
    aggregator: { listen: '127.0.0.1:0', data_dir: dir, export: { sinks: { soc: { format: 'jsonl', transport: { type: 'syslog', ...transport }, batch_max: batchMax, retry: { initial_ms: 50, max_ms: 500, timeout_ms: 3000 } } } } },
  })
  const agg = new Aggregator({ config, log: captureLog().log, ports })
  t.teardown(async () => {
    await agg.stop()
    removeDir(dir)
  })
  return { agg, ports }
}

t.test('frame: octet counting counts bytes (RFC 6587 §3.4.1); non-transparent framing refuses a line feed', async (t) => {
  t.equal(frame('héllo', 'octet-counting').toString('utf8'), '6 héllo')
  t.equal(frame('a b', 'non-transparent').toString(), 'a b\n')
  t.throws(() => frame('a\nb', 'non-transparent'), /line feed/)
})

t.test('TLS with mutual authentication and octet counting: every signal arrives at rsyslog, parsed, exactly once', async (t) => {
  const r = await rsyslog(t, 'tls')
  const { agg, ports } = startAgg(t, { protocol: 'tls', address: `127.0.0.1:${r.port}`, ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey, server_name: 'syslog.test' })
  await agg.start()
  const sent = [
    ...signals(1, 401),
    signal(401, { reason: 'spaces, "quotes", ] brackets, \\ backslash, = equals, | pipe, ünïcødé, 日本' }),
    signal(402, { provider: 'odd"prov]ider\\' }),
  ]
  await agg.service.ingest(sent)
  await until('402 parsed', () => r.parsed().length >= sent.length)
  await new Promise((res) => setTimeout(res, 300))
  const parsed = r.parsed()
  exactlyOnce(t, parsed, sent)
  const odd = parsed.find((p) => idOf(p) === sent[401]!.id)!
  t.equal(odd.app, 'mcp-hangar')
  t.equal(odd.msgid, 'egress_denied', 'MSGID is the signal type')
  const oddProvider = parsed.find((p) => idOf(p) === sent[401]!.id)!
  t.ok(Object.values(oddProvider.sd ?? {}).some((e) => Object.values(e).includes(sent[401]!.id)), 'the structured data carries the id (rsyslog parsed the SD-PARAMs)')
  t.equal((JSON.parse(parsed.find((p) => idOf(p) === sent[400]!.id)!.msg.replace(/^\uFEFF/, '')) as Signal).reason, sent[400]!.reason, 'the MSG round-trips byte for byte')
  t.equal(ports.compliance.status()[0]!.cursor, 402)
})

t.test('TLS verifies the server: a wrong CA or a wrong name fails the batch; the right ones succeed', async (t) => {
  const r = await rsyslog(t, 'tls')
  const s = signal(1)
  const rec = [{ seq: 1, id: s.id, text: wrapSyslog(s, JSON.stringify(s), 'h') }]
  const base = { protocol: 'tls' as const, address: `127.0.0.1:${r.port}`, framing: 'octet-counting' as const, certFile: pki.clientCert, keyFile: pki.clientKey, timeoutMs: 3000 }
  const wrongCa = new SyslogTransport({ ...base, caFile: pki.otherCa, serverName: 'syslog.test' })
  await t.rejects(wrongCa.send(rec), { name: 'TransportError', reason: 'tls', message: /certificate/ })
  await wrongCa.close()
  const wrongName = new SyslogTransport({ ...base, caFile: pki.ca, serverName: 'not-syslog.test' })
  await t.rejects(wrongName.send(rec), { name: 'TransportError', reason: 'tls', message: /altnames|not-syslog/ })
  await wrongName.close()
  const right = new SyslogTransport({ ...base, caFile: pki.ca, serverName: 'syslog.test' })
  await right.send(rec)
  await right.close()
  await until('control message', () => r.parsed().length === 1)
  t.equal(idOf(r.parsed()[0]!), s.id, 'control: the right CA and name deliver')
  t.same(r.parsed()[0]!.sd[WRAP_SD_ID], { id: s.id, provider: s.provider, kind: s.kind, severity: s.severity }, 'rsyslog parsed the wrapper\'s structured data')
})

t.test('SD-PARAM escaping (RFC 5424 §6.3.3) of " ] \\ round-trips through rsyslog', async (t) => {
  const r = await rsyslog(t, 'tcp')
  const s = signal(7, { provider: 'odd"prov]ider\\' })
  const tr = new SyslogTransport({ protocol: 'tcp', address: `127.0.0.1:${r.port}`, framing: 'octet-counting', timeoutMs: 3000 })
  await tr.send([{ seq: 7, id: s.id, text: wrapSyslog(s, JSON.stringify(s), 'h') }])
  await tr.close()
  await until('one message', () => r.parsed().length === 1)
  t.equal(r.parsed()[0]!.sd[WRAP_SD_ID]!.provider, 'odd"prov]ider\\')
  t.equal((JSON.parse(r.parsed()[0]!.msg.replace(/^\uFEFF/, '')) as Signal).provider, s.provider, 'and in the MSG')
})

t.test('mutual TLS: rsyslog refuses a sender without the client certificate; with it the message arrives', async (t) => {
  const r = await rsyslog(t, 'tls')
  const a = signal(1)
  const b = signal(2)
  const noCert = new SyslogTransport({ protocol: 'tls', address: `127.0.0.1:${r.port}`, framing: 'octet-counting', caFile: pki.ca, serverName: 'syslog.test', timeoutMs: 3000 })
  await noCert.send([{ seq: 1, id: a.id, text: wrapSyslog(a, JSON.stringify(a), 'h') }]).catch(() => {})
  await noCert.close()
  const withCert = new SyslogTransport({ protocol: 'tls', address: `127.0.0.1:${r.port}`, framing: 'octet-counting', caFile: pki.ca, serverName: 'syslog.test', certFile: pki.clientCert, keyFile: pki.clientKey, timeoutMs: 3000 })
  await withCert.send([{ seq: 2, id: b.id, text: wrapSyslog(b, JSON.stringify(b), 'h') }])
  await withCert.close()
  await until('control message', () => r.parsed().length >= 1)
  await new Promise((res) => setTimeout(res, 500))
  t.same(r.parsed().map(idOf), [b.id], 'only the authenticated sender\'s message was accepted')
})

for (const framing of ['octet-counting', 'non-transparent'] as const) {
  t.test(`plain TCP with ${framing} framing: every signal arrives parsed exactly once`, async (t) => {
    const r = await rsyslog(t, 'tcp')
    const { agg } = startAgg(t, { protocol: 'tcp', address: `127.0.0.1:${r.port}`, framing }, 77)
    await agg.start()
    const sent = [...signals(1, 300), signal(300, { reason: 'a reason with spaces and ünïcødé' })]
    await agg.service.ingest(sent)
    await until('300 parsed', () => r.parsed().length >= sent.length)
    await new Promise((res) => setTimeout(res, 300))
    exactlyOnce(t, r.parsed(), sent)
  })
}

t.test('UDP: one message per datagram, every signal parsed by rsyslog', async (t) => {
  const r = await rsyslog(t, 'udp')
  const { agg } = startAgg(t, { protocol: 'udp', address: `127.0.0.1:${r.port}` }, 10)
  await agg.start()
  const sent = signals(1, 101)
  for (let i = 0; i < sent.length; i += 10) {
    await agg.service.ingest(sent.slice(i, i + 10))
    await new Promise((res) => setTimeout(res, 20))
  }
  await until('100 parsed', () => r.parsed().length >= sent.length)
  exactlyOnce(t, r.parsed(), sent)
})

t.test('fault: rsyslog stopped for 30 s while 10,000 violations arrive, then started: all delivered, none twice', { timeout: 180_000 }, async (t) => {
  const r = await rsyslog(t, 'tls')
  const { agg, ports } = startAgg(t, { protocol: 'tls', address: `127.0.0.1:${r.port}`, ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey, server_name: 'syslog.test' }, 500)
  await agg.start()
  const before = signals(1, 101)
  await agg.service.ingest(before)
  await until('the first 100', () => r.parsed().length >= 100)
  await r.stop()
  const stoppedAt = Date.now()
  const flood = signals(101, 10_101)
  for (let i = 0; i < flood.length; i += 250) await agg.service.ingest(flood.slice(i, i + 250))
  await until('the sink notices', () => ports.compliance.status()[0]!.state === 'retrying')
  t.equal(r.parsed().length, 100, 'nothing arrives while rsyslog is down')
  await new Promise((res) => setTimeout(res, Math.max(0, 30_000 - (Date.now() - stoppedAt))))
  t.ok(ports.compliance.status()[0]!.lag >= 10_000, 'the 10,000 wait after the cursor')
  await r.start()
  await until('10,100 parsed', () => r.parsed().length >= 10_100, 90_000)
  await new Promise((res) => setTimeout(res, 500))
  exactlyOnce(t, r.parsed(), [...before, ...flood])
  t.match(ports.compliance.status()[0], { state: 'running', cursor: 10_100, lag: 0 })
})
