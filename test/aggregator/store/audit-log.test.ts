// The audit log (aggregator/store/audit-log.ts) on real files: durable appends and replay,
// group commit, rotation without splitting a batch, keepFiles pruning, stable sequence numbers,
// torn tails, corrupt middle lines, and failed writes (a real EFBIG under a file-size limit, and
// /dev/full).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { AuditLog, type ReplayedSignal } from '../../../aggregator/store/audit-log.js'
import { encodeLines } from '../../../aggregator/store/audit-lines.js'
import { captureLog, childEnv, readJsonLines, signal, signals, tempDir } from '../../fixtures/aggregator/signals.js'

const silent = () => captureLog().log

async function replayAll(log: AuditLog): Promise<ReplayedSignal[]> {
  const out: ReplayedSignal[] = []
  for await (const r of log.replay()) out.push(r)
  return out
}

const lineBytes = Buffer.byteLength(encodeLines([signal(0)]))

t.test('append + fsync + replay round trip; sequence numbers survive a reopen', async (t) => {
  const dir = tempDir(t)
  const log = await AuditLog.open({ dir, log: silent() })
  t.equal(log.nextSeq, 1)
  t.same(await log.appendBatch(signals(0, 10)), { firstSeq: 1, count: 10 })
  t.same(await log.appendBatch(signals(10, 15)), { firstSeq: 11, count: 5 })
  t.same(await log.appendBatch([]), { firstSeq: 16, count: 0 }, 'an empty batch writes nothing')
  const lines = readJsonLines(join(dir, 'audit.jsonl'))
  t.same(lines, signals(0, 15), 'one signal per line, in order, on disk once appendBatch resolved')
  const replayed = await replayAll(log)
  t.same(replayed.map((r) => r.seq), Array.from({ length: 15 }, (_, i) => i + 1))
  t.same(replayed.map((r) => r.signal), signals(0, 15))
  await log.close()
  const again = await AuditLog.open({ dir, log: silent() })
  t.equal(again.nextSeq, 16, 'the next number follows the lines on disk')
  t.same((await replayAll(again)).map((r) => r.signal.id), signals(0, 15).map((s) => s.id))
  t.same(await again.appendBatch([signal(99)]), { firstSeq: 16, count: 1 })
  await again.close()
})

t.test('concurrent appends: committed in call order, several per fsync, hook before resolution', async (t) => {
  const dir = tempDir(t)
  const committed: Array<[number, number]> = []
  const log = await AuditLog.open({ dir, log: silent(), onCommit: (first, s) => committed.push([first, s.length]) })
  const sizes = Array.from({ length: 60 }, (_, i) => 1 + (i % 7))
  let n = 0
  const results = await Promise.all(
    sizes.map((k) => {
      const from = n
      n += k
      return log.appendBatch(signals(from, from + k)).then((r) => {
        t.ok(committed.some(([f]) => f === r.firstSeq), `hook ran before batch ${r.firstSeq} resolved`)
        return r
      })
    }),
  )
  let expect = 1
  for (const [i, r] of results.entries()) {
    t.same(r, { firstSeq: expect, count: sizes[i] }, `batch ${i} numbered in call order`)
    expect += sizes[i]!
  }
  t.same(committed, results.map((r) => [r.firstSeq, r.count]), 'hook called once per batch, in order')
  t.same(readJsonLines(join(dir, 'audit.jsonl')).map((s) => s.id), signals(0, n).map((s) => s.id), 'file order = call order')
  const st = log.stats()
  t.equal(st.batches, 60)
  t.ok(st.commits < 60, `group commit: ${st.commits} fsyncs for 60 batches`)
  await log.close()
})

t.test('rotation at maxBytes never splits a batch; names carry the first seq; keepFiles rotates observations out', async (t) => {
  const dir = tempDir(t)
  const { log: logger, lines } = captureLog()
  const maxBytes = lineBytes * 10 + 5 // three 3-line batches fit, a fourth does not
  // Every record counts as an observation here: nothing outlives keepFiles.
  const log = await AuditLog.open({ dir, maxBytes, keepFiles: 3, log: logger, retain: () => false })
  for (let b = 0; b < 20; b++) await log.appendBatch(signals(b * 3, b * 3 + 3))
  const rotated = readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f)).sort()
  t.equal(rotated.length, 3, 'keepFiles rotated files remain')
  for (const f of [...rotated, 'audit.jsonl']) {
    const content = readJsonLines(join(dir, f))
    t.equal(content.length % 3, 0, `${f}: whole batches only (${content.length} lines)`)
    t.ok(statSync(join(dir, f)).size <= maxBytes, `${f} within maxBytes`)
  }
  // 20 batches of 3, 3 batches (9 lines) per file: files start at seq 1, 10, 19, 28, 37, 46, 55.
  t.same(rotated, ['audit-000000000028.jsonl', 'audit-000000000037.jsonl', 'audit-000000000046.jsonl'])
  t.same(readJsonLines(join(dir, 'audit-000000000028.jsonl'))[0]!.id, signal(27).id, 'the name is the seq of the first line')
  t.same(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')), { current_base: 55 })
  const deletions = lines.filter((l) => /observations rotated out/.test(String(l.msg)))
  t.equal(deletions.length, 3, 'each rotation-out logged')
  t.same(deletions.map((l) => [l.kept, l.rotated_out]), [[0, 9], [0, 9], [0, 9]])
  t.same(readdirSync(dir).filter((f) => f.startsWith('kept-')), [], 'nothing retained, no kept file')
  t.equal(log.stats().droppedLines, 27)
  const replayed = await replayAll(log)
  t.same(replayed.map((r) => r.seq), Array.from({ length: 33 }, (_, i) => 28 + i), 'pruned history is gone, numbers of the rest unchanged')
  t.same(replayed.map((r) => r.signal.id), signals(27, 60).map((s) => s.id))
  await log.close()
  const again = await AuditLog.open({ dir, maxBytes, keepFiles: 3, log: silent(), retain: () => false })
  t.equal(again.nextSeq, 61)
  await again.close()
})

t.test('a batch larger than maxBytes gets a file of its own', async (t) => {
  const dir = tempDir(t)
  const log = await AuditLog.open({ dir, maxBytes: lineBytes * 4, log: silent() })
  await log.appendBatch(signals(0, 2))
  await log.appendBatch(signals(2, 12))
  await log.appendBatch(signals(12, 13))
  t.same(readdirSync(dir).filter((f) => f.startsWith('audit-')).sort(), ['audit-000000000001.jsonl', 'audit-000000000003.jsonl'])
  t.equal(readJsonLines(join(dir, 'audit-000000000003.jsonl')).length, 10, 'the big batch whole, alone')
  t.same(readJsonLines(join(dir, 'audit.jsonl')).map((s) => s.id), [signal(12).id])
  t.same((await replayAll(log)).map((r) => r.seq), Array.from({ length: 13 }, (_, i) => i + 1))
  await log.close()
})

t.test('the current base survives a stale or missing state.json and keepFiles 0', async (t) => {
  const dir = tempDir(t)
  const maxBytes = lineBytes * 2
  let log = await AuditLog.open({ dir, maxBytes, keepFiles: 5, log: silent() })
  for (let b = 0; b < 4; b++) await log.appendBatch(signals(b * 2, b * 2 + 2))
  await log.close()
  // As if the process died between the rename and the state write of the last rotation.
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ current_base: 3 }))
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 5, log: silent() })
  t.equal(log.nextSeq, 9, 'derived from the newest rotated file')
  await log.close()
  writeFileSync(join(dir, 'state.json'), 'garbage')
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 5, log: silent() })
  t.equal(log.nextSeq, 9, 'unreadable state.json: derived too')
  await log.appendBatch(signals(8, 10))
  await log.close()
  // keepFiles 0: every rotated file is compacted; these signals are violations, so they stay in
  // kept files with their numbers; state.json still knows where the numbers stand.
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 0, log: silent() })
  await log.appendBatch(signals(10, 12))
  await log.close()
  t.same(readdirSync(dir).filter((f) => f.startsWith('audit-')), [], 'no rotated file left')
  t.ok(readdirSync(dir).some((f) => f.startsWith('kept-')), 'kept files instead')
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 0, log: silent() })
  t.equal(log.nextSeq, 13)
  t.same((await replayAll(log)).map((r) => r.seq), Array.from({ length: 12 }, (_, i) => i + 1), 'violations outlive keepFiles 0')
  await log.close()
  // With state.json gone too, the base comes from the newest kept file's header.
  writeFileSync(join(dir, 'state.json'), 'garbage')
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 0, log: silent() })
  t.equal(log.nextSeq, 13, 'derived from the kept header')
  await log.close()
})

t.test('torn last line: logged with file and offset, saved, cut; next append readable; the rest intact', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'audit.jsonl')
  let log = await AuditLog.open({ dir, log: silent() })
  await log.appendBatch(signals(0, 5))
  await log.close()
  const goodSize = statSync(path).size
  const torn = encodeLines([signal(5)]).slice(0, 70)
  appendFileSync(path, torn)
  const { log: logger, lines } = captureLog()
  log = await AuditLog.open({ dir, log: logger })
  const warn = lines.filter((l) => l.level === 40)
  t.equal(warn.length, 1, 'one log line')
  t.match(warn[0], { file: path, offset: goodSize, bytes: torn.length, msg: /torn tail/ })
  t.equal(statSync(path).size, goodSize, 'cut back to the last whole line')
  t.equal(readFileSync(`${path}.torn-${goodSize}`, 'utf8'), torn, 'the torn bytes are kept for forensics')
  t.equal(log.stats().tornBytes, torn.length)
  t.equal(log.nextSeq, 6)
  await log.appendBatch([signal(6)])
  t.same(readJsonLines(path).map((s) => s.id), [...signals(0, 5), signal(6)].map((s) => s.id), 'every line parses')
  t.same((await replayAll(log)).map((r) => r.seq), [1, 2, 3, 4, 5, 6])
  await log.close()
})

t.test('a zero-filled and garbage tail (power cut before fsync) is cut the same way', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'audit.jsonl')
  let log = await AuditLog.open({ dir, log: silent() })
  await log.appendBatch(signals(0, 3))
  await log.close()
  const goodSize = statSync(path).size
  appendFileSync(path, Buffer.concat([Buffer.from(encodeLines([signal(3)]).slice(0, 30) + '\n'), Buffer.alloc(8192), Buffer.from('\n{"half":')]))
  log = await AuditLog.open({ dir, log: silent() })
  t.equal(statSync(path).size, goodSize)
  t.equal(log.nextSeq, 4)
  t.equal((await replayAll(log)).length, 3)
  t.equal(log.stats().corruptLines, 0, 'nothing left to skip')
  await log.close()
})

t.test('a corrupt line in the middle is skipped, logged, counted; later numbers do not shift', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'audit.jsonl')
  let log = await AuditLog.open({ dir, log: silent() })
  await log.appendBatch(signals(0, 5))
  await log.close()
  // A flipped region inside line 3 (same length, newline kept).
  const text = readFileSync(path, 'utf8').split('\n')
  const offset = Buffer.byteLength(text.slice(0, 2).join('\n') + '\n')
  text[2] = 'X'.repeat(text[2]!.length)
  writeFileSync(path, text.join('\n'))
  const { log: logger, lines } = captureLog()
  log = await AuditLog.open({ dir, log: logger })
  t.equal(log.nextSeq, 6, 'the corrupt line keeps its number')
  const replayed = await replayAll(log)
  t.same(replayed.map((r) => r.seq), [1, 2, 4, 5])
  t.same(replayed.map((r) => r.signal.id), [0, 1, 3, 4].map((n) => signal(n).id))
  t.equal(log.stats().corruptLines, 1)
  t.match(lines.find((l) => /corrupt line skipped/.test(String(l.msg))), { level: 40, file: path, offset, seq: 3 })
  t.notOk(readdirSync(dir).some((f) => f.includes('.torn-')), 'a middle line is not a torn tail')
  t.same(await log.appendBatch([signal(5)]), { firstSeq: 6, count: 1 })
  await log.close()
})

t.test('a failed write that cannot be undone (/dev/full) fails the log: typed errors, healthy false', async (t) => {
  const dir = tempDir(t)
  symlinkSync('/dev/full', join(dir, 'audit.jsonl'))
  const log = await AuditLog.open({ dir, log: silent() })
  t.equal(log.healthy, true)
  await t.rejects(log.appendBatch(signals(0, 3)), { code: 'HANGAR_AUDIT_WRITE_FAILED', cause: { code: 'ENOSPC' } })
  t.equal(log.healthy, false)
  await t.rejects(log.appendBatch(signals(3, 4)), { code: 'HANGAR_AUDIT_WRITE_FAILED', message: /is failed/ })
  t.equal(log.nextSeq, 1, 'no number was used')
  await log.close()
})

t.test('a failed write is rolled back: EFBIG under a real file-size limit leaves nothing behind', async (t) => {
  const dir = tempDir(t)
  const child = spawn('sh', ['-c', 'ulimit -f 128; exec "$0" --import tsx "$1" "$2"', process.execPath, fileURLToPath(new URL('../../fixtures/aggregator/fsize-child.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'], env: childEnv() })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const [code, sig] = await once(child, 'exit')
  t.same([code, sig], [0, null], 'the child finished')
  const r = JSON.parse(out) as { limit: number; sizeBefore: number; sizeAfterFailure: number; failure: { code: string; message: string } | null; healthy: boolean; last: { firstSeq: number }; acked: number[] }
  t.equal(r.limit, 65536)
  t.match(r.failure, { code: 'HANGAR_AUDIT_WRITE_FAILED', message: /EFBIG|too large/i }, 'the oversized batch was refused')
  t.equal(r.sizeAfterFailure, r.sizeBefore, 'size unchanged after the failure')
  t.equal(r.healthy, true, 'the rollback worked: the log keeps going')
  t.equal(r.last.firstSeq, r.acked.length, 'the next batch got the next number (no gap)')
  const onDisk = readJsonLines(join(dir, 'audit.jsonl'))
  t.same(onDisk.map((s) => s.id), r.acked.map((n) => signal(n).id), 'exactly the acknowledged signals, every line whole')
})

t.test('close waits for queued appends; later appends are refused; bad options', async (t) => {
  const dir = tempDir(t)
  const log = await AuditLog.open({ dir, log: silent() })
  const pending = [log.appendBatch(signals(0, 5)), log.appendBatch(signals(5, 10))]
  await log.close()
  t.same((await Promise.all(pending)).map((r) => r.firstSeq), [1, 6], 'queued appends completed')
  await t.rejects(log.appendBatch([signal(10)]), { code: 'HANGAR_STORE_CLOSED' })
  await log.close()
  t.equal(readJsonLines(join(dir, 'audit.jsonl')).length, 10)
  await t.rejects(AuditLog.open({ dir, maxBytes: 0, log: silent() }), RangeError)
  await t.rejects(AuditLog.open({ dir, keepFiles: -1, log: silent() }), RangeError)
  writeFileSync(join(dir, 'not-a-dir'), 'x')
  await t.rejects(AuditLog.open({ dir: join(dir, 'not-a-dir'), log: silent() }), { code: 'HANGAR_AUDIT_OPEN_FAILED' })
  t.notOk(existsSync(join(dir, 'not-a-dir', 'audit.jsonl')))
})
