// cli/status.ts: the status text (providers, states, isolation, quarantine, recent violations) and
// `runStatus` against a real aggregator on loopback: its admin token sent, only the last hour's
// violations shown up to -n, exit 1 naming the aggregator when it cannot be read.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { Aggregator } from '../../aggregator/aggregator.js'
import type { ProviderView } from '../../aggregator/service.js'
import { formatStatus, runStatus } from '../../cli/status.js'
import { loadConfig } from '../../config/load.js'
import { captureLog, signal } from '../fixtures/aggregator/signals.js'

const view = (over: Partial<ProviderView>): ProviderView => ({ name: 'fetch', state: 'ready', configured: true, quarantined: false, policy_version: 0, violations: {}, violations_total: 0, ...over })

t.test('formatStatus: a table with every provider and the violations', async (t) => {
  const text = formatStatus('http://127.0.0.1:8000', [
    view({ name: 'fetch', isolation: 'netns', violations_total: 3, last_heartbeat: '2025-01-01T00:00:00.000Z' }),
    view({ name: 'a-much-longer-name', state: 'quarantined', quarantined: true, quarantine_reason: 'exfiltration' }),
    view({ name: 'q', state: 'quarantined', quarantined: true }),
  ], [signal(1), signal(2, { type: 'tool_denied', tool: 'rm_rf', destination: undefined }), signal(3, { destination: { ip: '10.0.0.1' } as never })])
  const lines = text.split('\n')
  t.equal(lines[0], 'aggregator http://127.0.0.1:8000')
  t.strictSame(lines.slice(2, 6), [
    'PROVIDER            STATE         ISOLATION    VIOLATIONS  LAST HEARTBEAT',
    'fetch               ready         netns                 3  2025-01-01T00:00:00.000Z',
    'a-much-longer-name  quarantined   -                     0  never  QUARANTINED: exfiltration',
    'q                   quarantined   -                     0  never  QUARANTINED',
  ], 'columns as wide as the longest name; a quarantine without reason has no colon')
  t.match(text, /^recent violations \(3\):$/m)
  t.match(text, new RegExp(`^  ${signal(1).time}  fetch  egress_denied  blocked  denied\\.test:443  `, 'm'))
  t.match(text, / {2}tool_denied {2}blocked {2}rm_rf {2}/, 'a tool is where')
  t.match(text, / {2}10\.0\.0\.1 {2}/, 'an ip without port')
  t.ok(text.endsWith('\n'))
})

t.test('formatStatus: no providers, no violations', async (t) => {
  const text = formatStatus('http://x', [], [])
  t.match(text, /^PROVIDER {2}STATE/m, 'at least 8 wide')
  t.match(text, /no violations in the last hour\n$/)
})

async function aggregatorWith(t: Test, token = 'adm') {
  const dir = t.testdir({})
  const cfgFile = join(dir, 'hangar.yaml')
  writeFileSync(cfgFile, `aggregator:\n  listen: 127.0.0.1:0\n  data_dir: ${dir}/data\n  admin_tokens: [${token}]\nproviders:\n  fetch:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\n`)
  const agg = new Aggregator({ config: loadConfig(cfgFile, {}).config, log: captureLog().log })
  const port = await agg.start()
  t.teardown(() => agg.stop())
  return { agg, port, dir }
}

function client(dir: string, port: number, token: string) {
  const file = join(dir, 'client.yaml')
  writeFileSync(file, `aggregator:\n  listen: 127.0.0.1:${port}\n  admin_tokens: [${token}]\nproviders: {}\n`)
  return file
}

const streams = () => {
  const out = new PassThrough()
  const err = new PassThrough()
  let o = ''
  let e = ''
  out.on('data', (d: Buffer) => (o += String(d)))
  err.on('data', (d: Buffer) => (e += String(d)))
  return { out, err, text: () => o, errText: () => e }
}

t.test('runStatus: reads providers and the last hour of violations, at most -n', async (t) => {
  const { agg, port, dir } = await aggregatorWith(t)
  const now = Date.now()
  await agg.service.ingest([
    signal(1, { time: new Date(now - 2 * 3600_000).toISOString(), reason: 'too old' }),
    signal(2, { time: new Date(now - 60_000).toISOString(), reason: 'recent one' }),
    signal(3, { time: new Date(now - 30_000).toISOString(), reason: 'recent two' }),
  ])
  const s = streams()
  t.equal(await runStatus({ configPath: client(dir, port, 'adm'), violations: 1, out: s.out, err: s.err }), 0)
  t.match(s.text(), new RegExp(`^aggregator http://127\\.0\\.0\\.1:${port}$`, 'm'))
  t.match(s.text(), /^fetch +unreachable +- +3 {2}never$/m)
  t.match(s.text(), /recent violations \(1\):\n.*recent two/, 'newest first, cut to -n')
  t.notMatch(s.text(), /too old/)
  const none = streams()
  t.equal(await runStatus({ configPath: client(dir, port, 'adm'), violations: 0, out: none.out, err: none.err }), 0)
  t.match(none.text(), /no violations in the last hour/, '-n 0')
})

t.test('runStatus: a refused token or an unreachable aggregator is exit 1 naming it', async (t) => {
  const { port, dir } = await aggregatorWith(t)
  const s = streams()
  t.equal(await runStatus({ configPath: client(dir, port, 'wrong'), violations: 5, out: s.out, err: s.err }), 1)
  t.match(s.errText(), new RegExp(`^mcp-hangar status: cannot read the aggregator at http://127\\.0\\.0\\.1:${port}: GET /v1/providers: HTTP 401 `))
  t.equal(s.text(), '')
  const u = streams()
  t.equal(await runStatus({ configPath: client(dir, 9, 'adm'), violations: 5, out: u.out, err: u.err }), 1)
  t.match(u.errText(), /cannot read the aggregator at http:\/\/127\.0\.0\.1:9: /)
})
