// aggregator/aggregator.ts, SIEM export wiring without the enterprise modules: configured sinks
// do not run, the aggregator does; one error line per sink names the license requirement,
// mcp_hangar_enterprise_feature_disabled{feature="export"} is 1, GET /v1/status says degraded and
// GET /v1/export lists no sink. Both endpoints take the admin token only. Control: without sinks
// nothing is degraded.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { Aggregator } from '../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../config/schema.js'
import { createPortRegistry } from '../../core/ports.js'
import { captureLog, signals, tempDir } from '../fixtures/aggregator/signals.js'

const ADMIN = 'admin-tok'
const SIGNAL = 'signal-tok'
const SINKS = {
  soc: { format: 'cef', transport: { type: 'syslog', protocol: 'tls', address: '127.0.0.1:6514' } },
  lake: { format: 'jsonl', transport: { type: 'file', path: '/nonexistent/x.jsonl' } },
}

async function start(t: Test, withSinks: boolean, enterprise = false) {
  const dir = tempDir(t, 'hangar-agg-export-')
  const log = captureLog()
  const config = hangarConfigSchema.parse({ aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN], ...(withSinks && { export: { sinks: SINKS } }) } })
  const ports = createPortRegistry()
  ports.enterprise = enterprise
  const agg = new Aggregator({ config, log: log.log, ports })
  const port = await agg.start()
  t.teardown(() => agg.stop())
  const get = async (path: string, token = ADMIN) => {
    const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } })
    const text = await res.body.text()
    return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown> }
  }
  return { agg, log, get }
}

t.test('sinks configured without a license: reported (log, metric, /v1/status), not run; the aggregator runs', async (t) => {
  const a = await start(t, true)
  const errs = a.log.lines.filter((l) => l.level === 50 && l.feature === 'export')
  t.same(errs.map((l) => l.sink).sort(), ['lake', 'soc'], 'one error line per sink')
  t.match(errs[0]!.msg, /enterprise feature and needs a license \(no license key found, using defaults\)/)
  t.match(await a.agg.metrics.registry.metrics(), /mcp_hangar_enterprise_feature_disabled\{feature="export"\} 1/)
  const st = await a.get('/v1/status')
  t.equal(st.status, 200)
  t.equal(st.json.status, 'degraded')
  t.match((st.json.degraded as string[])[0], /^export: 2 sink\(s\) configured \(soc, lake\) but not running: SIEM export needs an enterprise license/)
  t.same((await a.get('/v1/export')).json, { sinks: [] })
  t.same(await a.agg.service.ingest(signals(1, 11)), { accepted: 10, duplicates: 0, quarantined: [] }, 'the aggregator still stores signals')
  t.equal((await a.get('/v1/export', SIGNAL)).status, 401, 'a signal token may not read the export state')
  t.equal((await a.get('/v1/status', SIGNAL)).status, 401)
})

t.test('control: without sinks nothing is degraded and the feature metric is absent', async (t) => {
  const a = await start(t, false)
  t.same((await a.get('/v1/status')).json, { status: 'ok', ready: true, degraded: [] })
  t.notMatch(await a.agg.metrics.registry.metrics(), /mcp_hangar_enterprise_feature_disabled\{/)
  t.notOk(a.log.lines.some((l) => l.feature === 'export'))
})

t.test('licensed but the export module is not loaded (the no-op port): the sinks are reported, never silently idle', async (t) => {
  const a = await start(t, true, true)
  t.same(a.log.lines.filter((l) => l.level === 50 && l.feature === 'export').map((l) => l.msg).sort(), ['export sink "lake" is not running: the SIEM export module is not loaded', 'export sink "soc" is not running: the SIEM export module is not loaded'])
  t.match(await a.agg.metrics.registry.metrics(), /mcp_hangar_enterprise_feature_disabled\{feature="export"\} 1/)
  t.match((await a.get('/v1/status')).json, { status: 'degraded', degraded: [/^export: 2 sink\(s\) configured \(soc, lake\) but not running: the SIEM export module is not loaded/] })
})
