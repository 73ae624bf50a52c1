// enterprise/compliance/index.ts: createComplianceExport() as the aggregator runs it (licensed):
// GET /v1/export shows every sink's cursor and state, sendSample sends one sample through a sink
// without moving its cursor, an unknown sink and an invalid config are errors naming them, and
// a sink that cannot start stops the others.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { runExportTest } from '../../../cli/export.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { createPortRegistry } from '../../../core/ports.js'
import { createComplianceExport, sampleSignal } from '../../../enterprise/compliance/index.js'
import type { Signal } from '../../../signals/types.js'
import { captureLog, signals } from '../../fixtures/aggregator/signals.js'
import { webhookReceiver } from '../../helpers/export-receivers.js'

const ADMIN = 'admin-tok'
const SECRET = 'a-webhook-secret-of-some-length'

t.test('GET /v1/export shows each sink; sendSample reaches the receiver and leaves the cursor alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-index-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const hook = await webhookReceiver(SECRET)
  t.teardown(() => hook.close())
  const ports = createPortRegistry()
  ports.compliance = createComplianceExport()
  ports.enterprise = true
  const config = hangarConfigSchema.parse({ aggregator: { listen: '127.0.0.1:0', data_dir: dir, admin_tokens: [ADMIN], export: { sinks: {
    hook: { format: 'jsonl', transport: { type: 'webhook', url: `${hook.url}/h`, secret: SECRET }, filter: { kinds: ['violation'] } },
    archive: { format: 'jsonl', transport: { type: 'file', path: join(dir, 'archive', 'signals.jsonl') } },
  } } } })
  const agg = new Aggregator({ config, log: captureLog().log, ports })
  const port = await agg.start()
  t.teardown(() => agg.stop())
  await agg.service.ingest(signals(1, 21))
  const end = Date.now() + 10_000
  while (!(ports.compliance.status().every((s) => s.cursor === 20)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  const res = await request(`http://127.0.0.1:${port}/v1/export`, { headers: { authorization: `Bearer ${ADMIN}` } })
  const body = (await res.body.json()) as { sinks: Record<string, unknown>[] }
  t.equal(res.statusCode, 200)
  t.match(body.sinks, [
    { name: 'hook', format: 'jsonl', transport: 'webhook', state: 'running', cursor: 20, lag: 0, sent: 20, failed: 0, dead_lettered: 0 },
    { name: 'archive', format: 'jsonl', transport: 'file', state: 'running', cursor: 20, lag: 0, sent: 20 },
  ])
  t.equal(readFileSync(join(dir, 'archive', 'signals.jsonl'), 'utf8').trim().split('\n').length, 20, 'the file sink wrote every record')
  const r = await ports.compliance.sendSample('hook')
  t.equal(r.sink, 'hook')
  t.equal(hook.ids.at(-1), r.id, 'the sample arrived (the filter does not apply to it)')
  t.match(hook.records.at(-1), { provider: 'mcp-hangar-export-test', type: 'sidecar_started', details: { export_test: true } })
  t.equal(ports.compliance.status()[0]!.cursor, 20, 'the cursor did not move')
  await t.rejects(ports.compliance.sendSample('nope'), /no export sink "nope" \(configured: hook, archive\)/)
  hook.failWith = 503
  await t.rejects(ports.compliance.sendSample('hook'), /export sink "hook": the receiver did not take the sample: .*HTTP 503/)
})

t.test('start refuses an invalid export config with its path, and stops the sinks it started when one fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-index-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ctx = { dataDir: dir, log: captureLog().log, registry: new (await import('prom-client')).Registry(), subscribe: () => () => {}, lastSeq: () => 0 }
  const port = createComplianceExport()
  await t.rejects(port.start({ ...ctx, config: { sinks: { a: { format: 'jsonl', transport: { type: 'file', path: 'x', colour: 1 } } } } }), /aggregator\.export\.sinks\.a\.transport/)
  const bad = createComplianceExport()
  await t.rejects(bad.start({ ...ctx, config: { sinks: {
    ok: { format: 'jsonl', transport: { type: 'file', path: join(dir, 'ok.jsonl') } },
    tls: { format: 'jsonl', transport: { type: 'syslog', protocol: 'tls', address: '127.0.0.1:6514', ca_file: join(dir, 'missing-ca.pem') } },
  } } }), /aggregator\.export\.sinks\.tls\.transport: .*missing-ca\.pem/)
  t.same(bad.status(), [], 'the sink started before the failure was stopped')
  const s: Signal = sampleSignal()
  t.match(s, { schema: 'hangar.signal/v1', kind: 'lifecycle', provider: 'mcp-hangar-export-test' })
})

t.test('mcp-hangar export test sends one sample through the configured sink (exit 0), and says why not (exit 1)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const hook = await webhookReceiver(SECRET)
  t.teardown(() => hook.close())
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:\n  data_dir: ${dir}/data\n  export:\n    sinks:\n      soc:\n        format: jsonl\n        transport: { type: webhook, url: "${hook.url}/h", secret: ${SECRET} }\n        retry: { timeout_ms: 2000 }\n`)
  const ports = createPortRegistry()
  ports.compliance = createComplianceExport()
  ports.enterprise = true
  const lines: string[] = []
  t.equal(await runExportTest({ configPath: cfg, sink: 'soc', log: captureLog().log, out: (l) => lines.push(l), ports }), 0)
  t.match(lines[0], /^sent [0-9a-f-]{36} to soc$/)
  t.equal(hook.ids.length, 1)
  t.equal(lines[0], `sent ${hook.ids[0]} to soc`, 'the id printed is the one the receiver got')
  hook.poison.add('*')
  hook.failWith = 400
  t.equal(await runExportTest({ configPath: cfg, sink: 'soc', log: captureLog().log, out: (l) => lines.push(l), ports }), 1)
  t.match(lines[1], /^error: export sink "soc": the receiver did not take the sample: .*HTTP 400/)
})
