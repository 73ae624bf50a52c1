// enterprise/compliance/sink.ts, crash: the aggregator is SIGKILLed mid-export; on restart the
// sink resumes from its cursor file. At the receiver (dedup by id) no signal is lost, and the
// only duplicates are of the batch that was in flight (after the cursor the kill left behind).
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { childEnv, signals, tempDir } from '../../fixtures/aggregator/signals.js'
import { webhookReceiver } from '../../helpers/export-receivers.js'

const CHILD = fileURLToPath(new URL('../fixtures/compliance/crash-child.ts', import.meta.url))
const BATCH = 100
const N = 5000

function child(t: { teardown(fn: () => void): void }, dir: string, url: string, count: number): { c: ChildProcess; saw: (line: string) => Promise<void> } {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, url, String(count)], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() })
  t.teardown(() => { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL') })
  let out = ''
  let err = ''
  c.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  c.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const saw = async (line: string) => {
    const end = Date.now() + 60_000
    while (!out.split('\n').includes(line)) {
      if (c.exitCode !== null) throw new Error(`child exited ${c.exitCode}: ${err}`)
      if (Date.now() > end) throw new Error(`child did not print ${line}: ${err}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  return { c, saw }
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('SIGKILL mid-export: the restart resumes from the cursor, nothing lost, duplicates only of the batch in flight', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t, 'hangar-export-crash-')
  const r = await webhookReceiver('a-webhook-secret-of-some-length')
  t.teardown(() => r.close())
  r.delayMs = 15 // a slow SIEM: the kill lands while batches are in flight
  const first = child(t, dir, r.url, N)
  await first.saw('ingested')
  await until('a third exported', () => r.ids.length >= 1500)
  first.c.kill('SIGKILL')
  await new Promise((res) => first.c.once('exit', res))
  await new Promise((res) => setTimeout(res, 100)) // let a request in flight at the receiver finish
  const atKill = r.ids.length
  const cursor = (JSON.parse(readFileSync(join(dir, 'export', 'soc.cursor'), 'utf8')) as { seq: number }).seq
  t.ok(cursor >= 1000 && cursor < N, `killed mid-export (cursor ${cursor}, ${atKill} received)`)
  t.ok(atKill - cursor <= BATCH, 'the receiver is at most one batch ahead of the cursor')
  r.delayMs = 0
  const second = child(t, dir, r.url, 0)
  await second.saw('ready')
  await until('every signal', () => new Set(r.ids).size >= N)
  await new Promise((res) => setTimeout(res, 300))
  const want = signals(1, N + 1).map((s) => s.id)
  t.same([...new Set(r.ids)].sort(), [...want].sort(), 'none lost (dedup by id at the receiver)')
  const seen = new Map<string, number>()
  for (const id of r.ids) seen.set(id, (seen.get(id) ?? 0) + 1)
  const dups = [...seen].filter(([, n]) => n > 1).map(([id]) => want.indexOf(id) + 1)
  t.ok(dups.length <= BATCH, `${dups.length} duplicates, at most one batch (${BATCH})`)
  t.ok(dups.every((seq) => seq > cursor && seq <= cursor + BATCH), 'every duplicate is from the batch after the cursor the kill left')
  t.equal(r.ids.length, N + dups.length)
  second.c.kill('SIGKILL')
})
