// Crash safety with real processes: a child appends in a loop and prints each batch once its
// append resolved; it is SIGKILLed at a random moment, again and again. After each kill the log
// is reopened (torn tails repaired) and every acknowledged batch must be there exactly once.
// Small files, so kills also land around rotations.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { AuditLog } from '../../../aggregator/store/audit-log.js'
import { SignalStore } from '../../../aggregator/store/store.js'
import { captureLog, childEnv, idOf, readJsonLines, tempDir } from '../../fixtures/aggregator/signals.js'

const CHILD = fileURLToPath(new URL('../../fixtures/aggregator/append-child.ts', import.meta.url))
const ROUNDS = 5

interface Run {
  acked: Array<[number, number]>
}

/** Starts the child, waits until it has acknowledged at least `minAcks` batches and a random extra moment, SIGKILLs it. */
async function runAndKill(args: string[], minAcks: number): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const acked: Array<[number, number]> = []
  const exited = once(child, 'exit')
  let reached!: () => void
  const enough = new Promise<void>((r) => (reached = r))
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = /^ok (\d+) (\d+)$/.exec(line)
    if (m) acked.push([Number(m[1]), Number(m[2])])
    if (acked.length >= minAcks) reached()
  })
  await Promise.race([enough, exited.then(() => Promise.reject(new Error(`child exited early: ${stderr}`)))])
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)))
  child.kill('SIGKILL')
  const [, signal] = await exited
  if (signal !== 'SIGKILL') throw new Error(`child ended by ${signal}: ${stderr}`)
  return { acked }
}

function countIds(dir: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const f of readdirSync(dir).filter((f) => /^audit(-\d+)?\.jsonl$/.test(f))) {
    for (const s of readJsonLines(join(dir, f))) counts.set(String(s.id), (counts.get(String(s.id)) ?? 0) + 1)
  }
  return counts
}

t.test('AuditLog.appendBatch: every resolved batch is on disk exactly once after SIGKILL', async (t) => {
  const dir = tempDir(t)
  const acked: Array<[number, number]> = []
  for (let round = 0; round < ROUNDS; round++) {
    const run = await runAndKill(['audit', dir, String(round * 1_000_000), '40', String(48 * 1024)], 5 + round * 3)
    acked.push(...run.acked)
    // Reopen as the aggregator would: torn tail repaired, everything replayable.
    const log = await AuditLog.open({ dir, keepFiles: 1000, log: captureLog().log })
    let replayed = 0
    for await (const _ of log.replay()) replayed++
    t.equal(log.stats().corruptLines, 0, `round ${round}: no corrupt line left after the repair`)
    await log.close()
    const counts = countIds(dir) // also throws if any line is not JSON
    t.equal(replayed, [...counts.values()].reduce((a, b) => a + b, 0), `round ${round}: replay sees every line`)
    let missing = 0
    let twice = 0
    for (const [from, to] of acked) {
      for (let n = from; n < to; n++) {
        const c = counts.get(idOf(n)) ?? 0
        if (c === 0) missing++
        if (c > 1) twice++
      }
    }
    t.equal(missing, 0, `round ${round}: no acknowledged signal lost (${acked.length} batches)`)
    t.equal(twice, 0, `round ${round}: none twice`)
  }
  t.ok(readdirSync(dir).some((f) => /^audit-\d+\.jsonl$/.test(f)), 'the log rotated during the rounds')
})

t.test('SignalStore.ingest with a retrying sender: exactly once in the store after SIGKILLs', async (t) => {
  const dir = tempDir(t)
  const batch = 60
  const overlap = 20
  let start = 0
  let highest = 0
  for (let round = 0; round < ROUNDS; round++) {
    const run = await runAndKill(['store', dir, String(start), String(batch), String(48 * 1024), String(overlap)], 5 + round * 3)
    for (const [, to] of run.acked) highest = Math.max(highest, to)
    // The sender resumes from its last acknowledged batch, re-sending the overlap (at-least-once).
    start = Math.max(0, highest - overlap)
  }
  const store = await SignalStore.open({ dir, keepFiles: 1000, log: captureLog().log })
  const counts = countIds(join(dir, 'audit'))
  let missing = 0
  for (let n = 0; n < highest; n++) if (!counts.has(idOf(n))) missing++
  t.equal(missing, 0, `every acknowledged id (0..${highest - 1}) stored`)
  t.same([...counts.entries()].filter(([, c]) => c > 1), [], 'no id twice in the audit log')
  t.equal(store.stats().ids, counts.size, 'the rebuilt dedup set knows them all')
  t.equal(store.stats().replayDuplicates, 0)
  await store.close()
})
