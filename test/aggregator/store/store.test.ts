// The signal store (aggregator/store/store.ts) on real files: dedup within a batch, against the
// store, across a restart and between concurrent batches; sequence numbers and counters rebuilt
// exactly by the replay; paging stable while signals arrive; the memory window.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { SignalStore, openStore } from '../../../aggregator/store/store.js'
import { captureLog, childEnv, readJsonLines, signal, signals, tempDir } from '../../fixtures/aggregator/signals.js'

const silent = () => captureLog().log

/** Every id on disk (rotated files and the current one), with how often it occurs. */
function idsOnDisk(dataDir: string): Map<string, number> {
  const dir = join(dataDir, 'audit')
  const counts = new Map<string, number>()
  for (const f of readdirSync(dir).filter((f) => /^audit(-\d+)?\.jsonl$/.test(f))) {
    for (const s of readJsonLines(join(dir, f))) counts.set(String(s.id), (counts.get(String(s.id)) ?? 0) + 1)
  }
  return counts
}

t.test('ingest: new ones stored durably, duplicates within the batch and against the store counted', async (t) => {
  const dir = tempDir(t)
  const store = await openStore({ dir, log: silent() })
  t.same(await store.ingest(signals(0, 10)), { accepted: 10, duplicates: 0 })
  t.same(await store.ingest([...signals(5, 15), signal(14), signal(20)]), { accepted: 6, duplicates: 6 }, '5..9 stored before, 14 twice in the batch')
  t.same(await store.ingest([]), { accepted: 0, duplicates: 0 })
  const lines = readJsonLines(join(dir, 'audit', 'audit.jsonl'))
  t.same(lines.map((s) => s.id), [...signals(0, 15), signal(20)].map((s) => s.id), 'on disk once each, in arrival order')
  t.equal(store.lastSeq, 16)
  t.ok(store.has(signal(20).id))
  t.notOk(store.has(signal(16).id))
  await store.close()
})

t.test('dedup across a restart: same ids again → duplicates, nothing appended', async (t) => {
  const dir = tempDir(t)
  let store = await SignalStore.open({ dir, log: silent() })
  await store.ingest(signals(0, 100))
  await store.close()
  const path = join(dir, 'audit', 'audit.jsonl')
  const size = statSync(path).size
  const { log, lines } = captureLog()
  store = await SignalStore.open({ dir, log })
  t.match(lines.find((l) => /rebuilt/.test(String(l.msg))), { signals: 100, last_seq: 100, corrupt_lines: 0 }, 'one info line about the rebuild')
  t.same(await store.ingest(signals(0, 100)), { accepted: 0, duplicates: 100 })
  t.equal(statSync(path).size, size, 'the file did not change')
  t.same(await store.ingest(signals(90, 110)), { accepted: 10, duplicates: 10 })
  t.equal(store.lastSeq, 110)
  await store.close()
  t.same([...idsOnDisk(dir).values()].filter((n) => n !== 1), [], 'every id once on disk')
})

t.test('concurrent batches sharing ids: each id stored once, counts add up', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, log: silent() })
  // 20 batches of 50, each overlapping the next by 25: 525 distinct ids, sent while others are in flight.
  const batches = Array.from({ length: 20 }, (_, i) => signals(i * 25, i * 25 + 50))
  const results = await Promise.all(batches.map((b) => store.ingest(b)))
  const accepted = results.reduce((a, r) => a + r.accepted, 0)
  const duplicates = results.reduce((a, r) => a + r.duplicates, 0)
  t.equal(accepted, 525)
  t.equal(duplicates, 20 * 50 - 525)
  const counts = idsOnDisk(dir)
  t.equal(counts.size, 525)
  t.same([...counts.values()].filter((n) => n !== 1), [], 'no id twice on disk')
  t.equal(store.stats().ids, 525)
  await store.close()
})

t.test('an id in flight in a batch that then fails is stored by the batch that waited for it', async (t) => {
  // A real failed write: EFBIG under a file-size limit (see fixtures/aggregator/fsize-child.ts).
  const dir = tempDir(t)
  const child = spawn('sh', ['-c', 'ulimit -f 128; exec "$0" --import tsx "$1" "$2" store', process.execPath, fileURLToPath(new URL('../../fixtures/aggregator/fsize-child.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'], env: childEnv() })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
  const r = JSON.parse(out) as { big: unknown; small: unknown; stored: number; has: boolean; lastSeq: number }
  t.same(r.big, { error: 'HANGAR_AUDIT_WRITE_FAILED' }, 'the big batch failed')
  t.same(r.small, { ok: { accepted: 1, duplicates: 0 } }, 'the small one stored the shared id itself')
  t.equal(r.has, true)
  t.equal(r.lastSeq, r.stored + 1)
  const onDisk = readJsonLines(join(dir, 'audit', 'audit.jsonl')).map((s) => s.id)
  t.equal(onDisk.length, r.stored + 1, 'nothing of the failed batch on disk')
  t.equal(onDisk.at(-1), signal(100_000).id)
})

t.test('sequence numbers and counters are the same after a restart (rotation, a corrupt line)', async (t) => {
  const dir = tempDir(t)
  const opts = { dir, maxBytes: 4096, keepFiles: 100, log: silent() }
  let store = await SignalStore.open(opts)
  for (let i = 0; i < 10; i++) {
    await store.ingest(signals(i * 10, i * 10 + 10, { provider: i % 2 ? 'a' : 'b', type: i % 3 ? 'egress_denied' : 'dns_denied' }))
  }
  const before = store.query({ limit: 1000 })
  const providersBefore = store.providers()
  t.ok(store.stats().audit.rotatedFiles > 3, 'the log rotated several times')
  await store.close()
  store = await SignalStore.open(opts)
  t.same(store.query({ limit: 1000 }), before, 'same signals, same seqs')
  t.same(store.providers(), providersBefore, 'same counters')
  t.match(store.provider('a'), { signals: 50, violations: 50, violations_by_type: { egress_denied: 30, dns_denied: 20 } })
  await store.close()
  // Damage one line in the middle of the current file: it is skipped, nothing else moves.
  const path = join(dir, 'audit', 'audit.jsonl')
  const text = readFileSync(path, 'utf8').split('\n')
  const damagedId = (JSON.parse(text[0]!) as { id: string }).id
  text[0] = '#'.repeat(text[0]!.length)
  writeFileSync(path, text.join('\n'))
  store = await SignalStore.open(opts)
  const after = store.query({ limit: 1000 })
  t.same(after.seqs, before.seqs.filter((_, i) => before.signals[i]!.id !== damagedId), 'the other signals keep their seqs')
  t.equal(store.lastSeq, 100)
  t.same(await store.ingest([signal(1000)]), { accepted: 1, duplicates: 0 })
  t.equal(store.lastSeq, 101)
  await store.close()
})

t.test('paging through GET /v1/signals while signals keep arriving: each once, in order', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, log: silent() })
  await store.ingest(signals(0, 300))
  let next = 300
  const writer = (async () => {
    while (next < 1300) {
      await store.ingest(signals(next, next + 50))
      next += 50
    }
  })()
  const seen: string[] = []
  let cursor = 0
  for (;;) {
    const page = store.query({ after: cursor, limit: 37 })
    seen.push(...page.signals.map((s) => s.id))
    cursor = page.next_cursor!
    if (!page.has_more && next >= 1300) {
      await writer
      const rest = store.query({ after: cursor, limit: 1000 })
      seen.push(...rest.signals.map((s) => s.id))
      if (!rest.has_more) break
      cursor = rest.next_cursor!
    }
    await new Promise((r) => setImmediate(r))
  }
  t.equal(seen.length, 1300)
  t.same(seen, signals(0, 1300).map((s) => s.id), 'every signal once, in arrival order')
  await store.close()
})

t.test('memory window: queries see the newest maxSignals, dedup sees everything, also after a restart', async (t) => {
  const dir = tempDir(t)
  let store = await SignalStore.open({ dir, maxSignals: 50, log: silent() })
  // Observations: evicted violations would stay queryable in the index's archive (retention.test.ts).
  await store.ingest(signals(0, 200, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed' }))
  let q = store.query({ limit: 1000 })
  t.equal(q.signals.length, 50)
  t.equal(q.partial, true)
  t.equal(q.seqs[0], 151)
  await store.close()
  store = await SignalStore.open({ dir, maxSignals: 50, log: silent() })
  q = store.query({ limit: 1000 })
  t.same(q.seqs, Array.from({ length: 50 }, (_, i) => 151 + i), 'the replay refills the window with the newest')
  t.same(await store.ingest(signals(0, 10)), { accepted: 0, duplicates: 10 }, 'evicted ids are still duplicates')
  t.match(store.stats(), { ids: 200, inMemory: 50, lastSeq: 200 })
  await store.close()
})

t.test('a closed store refuses ingest and subscribe; invalid queries are typed errors', async (t) => {
  const dir = tempDir(t)
  const store = await SignalStore.open({ dir, log: silent() })
  t.throws(() => store.query({ since: 'last week' }), { code: 'HANGAR_QUERY_INVALID', param: 'since' })
  t.equal(store.healthy, true)
  await store.close()
  await store.close()
  t.equal(store.healthy, false)
  await t.rejects(store.ingest([signal(1)]), { code: 'HANGAR_STORE_CLOSED' })
  t.throws(() => store.subscribe(0, () => {}), { code: 'HANGAR_STORE_CLOSED' })
})

t.test('rotated files renamed by hand: out-of-order lines are skipped with a warning, open still works', async (t) => {
  const dir = tempDir(t)
  const lineBytes = Buffer.byteLength(JSON.stringify(signal(0)) + '\n')
  let store = await SignalStore.open({ dir, maxBytes: lineBytes * 4, keepFiles: 10, log: silent() })
  for (let i = 0; i < 4; i++) await store.ingest(signals(i * 4, i * 4 + 4))
  await store.close()
  const audit = join(dir, 'audit')
  t.same(readdirSync(audit).filter((f) => f.startsWith('audit-')).sort(), ['audit-000000000001.jsonl', 'audit-000000000005.jsonl', 'audit-000000000009.jsonl'])
  renameSync(join(audit, 'audit-000000000005.jsonl'), join(audit, 'audit-000000000003.jsonl')) // now numbered 3..6
  const { log, lines } = captureLog()
  store = await SignalStore.open({ dir, maxBytes: lineBytes * 4, keepFiles: 10, log })
  t.match(lines.find((l) => /out of order/.test(String(l.msg))), { level: 40, seq: 3, last_seq: 4 })
  t.equal(store.stats().ids, 14, 'two lines skipped, the rest indexed')
  t.equal(store.lastSeq, 16)
  await store.close()
})
