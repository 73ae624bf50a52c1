/**
 * sidecar/baseline.ts: the recorder both planes feed is continued from the data dir, written back
 * at close, and absent when `sidecar.baseline.enabled` is false; the tee that feeds a deviation
 * detector beside it.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { providerSchema } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { BaselineRecorder } from '../../profiles/baseline/recorder.js'
import { DeviationTee, startBaseline } from '../../sidecar/baseline.js'
import { makeBaseline, toolRecord } from '../helpers/baseline.js'

function dataDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sidecar-baseline-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const provider = (dir: string, baseline: Record<string, unknown> = {}) =>
  providerSchema.parse({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', capabilities: { enforcement_mode: 'alert' }, sidecar: { data_dir: dir, baseline } })

t.test('disabled: no recorder, nothing written', async (t) => {
  const dir = dataDir(t)
  t.equal(startBaseline(provider(dir, { enabled: false }), 'p', silentLogger()), undefined)
  t.notOk(existsSync(join(dir, 'baseline.json')), 'no file')
})

t.test('enabled: a fresh recorder with the configured limits, written to the data dir at close', async (t) => {
  const dir = dataDir(t)
  const b = startBaseline(provider(dir, { max_tools: 7 }), 'p', silentLogger())!
  t.ok(b, 'a recorder')
  t.equal(b.recorder.limits.max_tools, 7, 'sidecar.baseline.max_tools applied')
  t.equal(b.recorder.revision, 0, 'nothing recorded yet')
  b.recorder.toolListed('echo', `sha256:${'a'.repeat(64)}`)
  await b.keeper.close()
  const written = JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8')) as { provider: string; tools: Array<{ name: string }> }
  t.equal(written.provider, 'p')
  t.same(written.tools.map((x) => x.name), ['echo'], 'what was recorded is on disk')
})

t.test("continues this provider's baseline from the data dir", async (t) => {
  const dir = dataDir(t)
  writeFileSync(join(dir, 'baseline.json'), JSON.stringify(makeBaseline({ provider: 'p', revision: 41, events: 41, tools: [toolRecord('kept')] })))
  const b = startBaseline(provider(dir), 'p', silentLogger())!
  t.teardown(() => b.keeper.close())
  t.equal(b.recorder.revision, 41, 'the revision continues')
  t.same(b.recorder.snapshot().tools.map((x) => x.name), ['kept'], 'the recorded tools continue')
})

t.test("another provider's file is not continued (control: the same file is, for its own provider)", async (t) => {
  const dir = dataDir(t)
  writeFileSync(join(dir, 'baseline.json'), JSON.stringify(makeBaseline({ provider: 'other', revision: 9, events: 9, tools: [toolRecord('theirs')] })))
  const mine = startBaseline(provider(dir), 'p', silentLogger())!
  t.same(mine.recorder.snapshot().tools, [], 'p starts fresh')
  t.equal(mine.recorder.revision, 0)
  await mine.keeper.close()
  const dir2 = dataDir(t)
  writeFileSync(join(dir2, 'baseline.json'), JSON.stringify(makeBaseline({ provider: 'other', revision: 9, events: 9, tools: [toolRecord('theirs')] })))
  const theirs = startBaseline(provider(dir2), 'other', silentLogger())!
  t.teardown(() => theirs.keeper.close())
  t.same(theirs.recorder.snapshot().tools.map((x) => x.name), ['theirs'], 'control: "other" continues it')
})

t.test('DeviationTee: every event to the recorder; egress, bytes, full-path DNS and tool calls to the detector first; cached answers to the recorder only', async (t) => {
  const recorder = new BaselineRecorder({ provider: 'p', mode: 'alert' })
  const seen: string[] = []
  const tee = new DeviationTee(recorder)
  const k = { host: 'api.example.com', port: 443, protocol: 'tunnel' as const }
  tee.egress({ ...k, via: 'connect', action: 'allowed' })
  t.equal(recorder.snapshot().egress.length, 1, 'without a detector: the recorder alone')
  tee.detector = {
    // What the recorder holds when the detector is called: it must not hold the event yet.
    egress: (e) => seen.push(`egress ${e.host}:${e.port} known=${recorder.snapshot().egress.some((x) => x.host === e.host && x.port === e.port)}`),
    egressBytes: (_k, up, down) => seen.push(`bytes ${up}/${down}`),
    dnsQuery: (name) => seen.push(`dns ${name} known=${recorder.snapshot().dns.some((d) => d.name === name)}`),
    toolCalled: (name) => seen.push(`tool ${name} calls=${recorder.snapshot().tools.find((x) => x.name === name)?.calls ?? 0}`),
  }
  tee.egress({ host: 'new.example.com', port: 8443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  tee.egressContent(k, 'tls')
  tee.egressBytes(k, 10, 20)
  const h = tee.dnsQuery('x.example.com', 'A', 'allowed')
  t.ok(h, 'the recorder\'s handle comes back for the forwarder\'s hot path')
  tee.dnsHit(h!, 'A', Date.now(), 5)
  tee.dnsAnswer('x.example.com', ['A'])
  tee.toolListed('read', `sha256:${'a'.repeat(64)}`)
  tee.toolCalled('read', false, { path: 1 }, (x) => x)
  tee.toolRefused('read')
  t.same(seen, ['egress new.example.com:8443 known=false', 'bytes 10/20', 'dns x.example.com known=false', 'tool read calls=0'])
  const b = recorder.snapshot()
  t.equal(b.egress.find((e) => e.host === 'api.example.com')?.bytes_down, 20)
  t.same(b.egress.find((e) => e.host === 'api.example.com')?.content, { tls: 1 })
  t.equal(b.dns[0]?.count, 6, 'one query and five cached answers recorded')
  t.same(b.dns[0]?.answers, { A: 1 })
  t.match(b.tools[0], { name: 'read', listed: 1, calls: 1, refused: 1 })
})
