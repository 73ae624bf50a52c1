/**
 * Deviation detection in the sidecar composition (sidecar/sidecar.ts) without the enterprise
 * module: enabled with the baseline off is a config error naming both paths; enabled without the
 * module, an error line naming the license requirement, `enterprise_feature_disabled{feature="deviation"}`
 * 1, and the sidecar runs on (tool calls answered, the baseline recorded); the egress listeners
 * alone say they detect nothing. (With the module: test/enterprise/behavioral/detector-live.test.ts.)
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { hangarConfigSchema } from '../../config/schema.js'
import { createPortRegistry } from '../../core/ports.js'
import { Sidecar, type SidecarPlanes } from '../../sidecar/sidecar.js'
import { connectClient, FIXTURE } from '../helpers/mcp.js'

function sidecar(t: { teardown(fn: () => unknown): void }, sidecarExtra: Record<string, unknown>, planes: SidecarPlanes = 'mcp') {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sidecar-dev-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) })
  const config = hangarConfigSchema.parse({
    providers: {
      p: {
        mode: 'subprocess', command: [process.execPath, FIXTURE], listen: '127.0.0.1:0',
        sidecar: { proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null, admin: '127.0.0.1:0', address: '127.0.0.1', upstream_dns: ['127.0.0.1:9'], data_dir: dir, signal_log: join(dir, 'signals.jsonl'), ...sidecarExtra },
      },
    },
  })
  return { make: () => new Sidecar({ config, provider: 'p', planes, log, source: 'test', ports: createPortRegistry() }), lines }
}

t.test('deviation enabled with the baseline disabled: a config error naming both paths', async (t) => {
  const s = sidecar(t, { deviation: { enabled: true }, baseline: { enabled: false } })
  t.throws(() => s.make(), { code: 'HANGAR_CONFIG_INVALID', message: /providers\.p\.sidecar\.deviation\.enabled .*providers\.p\.sidecar\.baseline\.enabled is false/ })
  t.doesNotThrow(() => sidecar(t, { deviation: { enabled: false }, baseline: { enabled: false } }).make(), 'control: both off is fine')
})

t.test('deviation enabled, module not loaded: an error line naming the license requirement, the metric at 1, the sidecar runs on', async (t) => {
  const s = sidecar(t, { deviation: { enabled: true } })
  const sc = s.make()
  const ports = await sc.start()
  t.teardown(() => sc.stop())
  const line = s.lines.find((l) => l.level === 50 && /deviation/.test(String(l.msg)))
  t.ok(line, 'an error-level line')
  t.match(line?.msg, /enterprise feature \(license feature "deviation_detection"\).*runs without it/)
  const metrics = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text()
  t.match(metrics, /mcp_hangar_enterprise_feature_disabled\{feature="deviation"\} 1/)
  const client = await connectClient(new URL(`http://127.0.0.1:${ports.mcp}/mcp`))
  t.teardown(() => client.close())
  const tools = await client.listTools()
  t.ok(tools.tools.length > 0, 'tool listing answered')
  const b = (await (await fetch(`http://127.0.0.1:${ports.admin}/v1/baseline`)).json()) as { tools: unknown[] }
  t.ok(b.tools.length > 0, 'the baseline still records')

  const off = sidecar(t, { deviation: { enabled: false } })
  const sc2 = off.make()
  const p2 = await sc2.start()
  t.teardown(() => sc2.stop())
  t.notOk(off.lines.some((l) => l.level === 50), 'control: disabled, no error line')
  t.notMatch(await (await fetch(`http://127.0.0.1:${p2.admin}/metrics`)).text(), /enterprise_feature_disabled/, 'control: no metric')
})

t.test('the egress listeners alone: a warning that this sidecar detects nothing', async (t) => {
  const s = sidecar(t, { deviation: { enabled: true } }, 'egress')
  const sc = s.make()
  await sc.start()
  t.teardown(() => sc.stop())
  t.ok(s.lines.some((l) => l.level === 40 && /egress listeners alone keep no baseline/.test(String(l.msg))))
  t.notOk(s.lines.some((l) => l.level === 50), 'no license error: nothing would run here anyway')
})
