// Audit retention (aggregator/store/audit-log.ts, audit-kept.ts, signals/retention.ts): violations
// outlive audit_keep_files in kept files with their sequence numbers, observations rotate out
// first, the retention sweep runs on the aggregator's clock, the size budget refuses (never drops)
// when violations alone fill it, a real full disk (a tmpfs the test mounts) is refused the same
// way, and a restart rebuilds the same history and queries.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { AuditLog, type ReplayedSignal } from '../../../aggregator/store/audit-log.js'
import { encodeLines } from '../../../aggregator/store/audit-lines.js'
import { keptFileName } from '../../../aggregator/store/audit-kept.js'
import { SignalIndex } from '../../../aggregator/store/index.js'
import { openStore } from '../../../aggregator/store/store.js'
import { isRetained } from '../../../signals/retention.js'
import type { Signal } from '../../../signals/types.js'
import { captureLog, signal, tempDir } from '../../fixtures/aggregator/signals.js'

const silent = () => captureLog().log
const DAY = 24 * 3600 * 1000

async function replayAll(log: AuditLog): Promise<ReplayedSignal[]> {
  const out: ReplayedSignal[] = []
  for await (const r of log.replay()) out.push(r)
  return out
}

/** Signal n: every 10th a violation (egress_denied), the rest observations (egress_allowed). */
function mixed(n: number): Signal {
  return n % 10 === 0
    ? signal(n)
    : signal(n, { kind: 'observation', type: 'egress_allowed', severity: 'info', action: 'allowed', rule: 'egress[0]', reason: `allowed #${n}`, details: { via: 'connect' } })
}
const mixedRange = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => mixed(from + i))
const lineBytes = Buffer.byteLength(encodeLines([mixed(1)]))

t.test('the retention rule: violations, *_denied, *_violation, *_bypass_attempt, drift, quarantine, accounting are kept', async (t) => {
  const cases: Array<[Partial<Signal>, boolean]> = [
    [{ kind: 'observation', type: 'egress_allowed', severity: 'info' }, false],
    [{ kind: 'observation', type: 'tool_called', severity: 'info' }, false],
    [{ kind: 'enforcement', type: 'rate_limited', severity: 'low' }, false],
    [{ kind: 'lifecycle', type: 'sidecar_started', severity: 'info' }, false],
    [{ kind: 'observation', type: 'odd_thing', severity: 'medium' }, true],
    [{ kind: 'violation', type: 'odd_thing', severity: 'info' }, true],
    [{ kind: 'observation', type: 'future_denied', severity: 'info' }, true],
    [{ kind: 'observation', type: 'schema_violation', severity: 'low' }, true],
    [{ kind: 'observation', type: 'egress_bypass_attempt', severity: 'info' }, true],
    [{ kind: 'observation', type: 'tool_definition_drift', severity: 'info' }, true],
    [{ kind: 'enforcement', type: 'quarantine_released', severity: 'info' }, true],
    [{ kind: 'lifecycle', type: 'signals_suppressed', severity: 'info' }, true],
    [{ kind: 'lifecycle', type: 'signals_dropped', severity: 'low' }, true],
  ]
  for (const [over, kept] of cases) t.equal(isRetained(signal(1, over)), kept, `${over.type} ${over.kind} ${over.severity}`)
})

t.test('violations outlive keepFiles in kept files with their sequence numbers; observations rotate out', async (t) => {
  const dir = tempDir(t)
  const maxBytes = lineBytes * 20
  const log = await AuditLog.open({ dir, maxBytes, keepFiles: 1, log: silent() })
  for (let b = 0; b < 50; b++) await log.appendBatch(mixedRange(b * 10 + 1, b * 10 + 11)) // 500 signals, ids 1..500
  const files = readdirSync(dir)
  t.equal(files.filter((f) => /^audit-\d+\.jsonl$/.test(f)).length, 1, 'keepFiles rotated files stay whole')
  const kept = files.filter((f) => f.startsWith('kept-'))
  // ~24 rotations; their violations (a tenth of the lines) merge into kept files of up to maxBytes.
  t.ok(kept.length >= 1 && kept.length <= 4, `${kept.length} kept files for ~24 compactions (merged)`)
  const header = JSON.parse(readFileSync(join(dir, keptFileName(1)), 'utf8').split('\n')[0]!) as { base: number; lines: number; seqs: number[] }
  t.equal(header.base, 1)
  t.same(header.seqs, Array.from({ length: header.seqs.length }, (_, i) => (i + 1) * 10), 'the header lists the violations it holds (every 10th id), in order')
  t.ok(header.lines >= header.seqs.length * 10, 'and spans every line of the rotated files merged into it')
  const replayed = await replayAll(log)
  const violations = replayed.filter((r) => r.signal.type === 'egress_denied')
  t.equal(violations.length, 50, 'every violation is still there')
  t.same(violations[0], { seq: 10, signal: mixed(10) }, 'the first violation with its original number')
  t.ok(replayed.every((r) => r.seq === Number.parseInt(r.signal.id.slice(24), 16)), 'seq = original position for every replayed line')
  const observations = replayed.filter((r) => r.signal.type === 'egress_allowed')
  t.ok(observations.length < 60 && observations.length > 0, `only the recent observations are left (${observations.length})`)
  t.equal(log.stats().droppedLines, 450 - observations.length, 'rotated-out lines counted')
  await log.close()
})

t.test('a restart rebuilds the kept violations into the store: queryable, deduplicated, same numbers', async (t) => {
  const dir = tempDir(t)
  const opts = { dir, maxBytes: lineBytes * 20, keepFiles: 1, log: silent() }
  let store = await openStore(opts)
  for (let b = 0; b < 30; b++) await store.ingest(mixedRange(b * 10 + 1, b * 10 + 11))
  await store.close()
  store = await openStore(opts)
  const page = store.query({ type: 'egress_denied', limit: 1 })
  t.equal(page.signals[0]?.id, mixed(10).id, 'the first violation is queryable after the restart')
  t.equal(page.seqs[0], 10)
  t.same(await store.ingest([mixed(10), mixed(20)]), { accepted: 0, duplicates: 2 }, 'kept ids are still deduplicated')
  t.equal(store.provider('fetch')?.violations, 30, 'violation counters rebuilt')
  t.same(await store.ingest([mixed(301)]), { accepted: 1, duplicates: 0 })
  t.equal(store.lastSeq, 301, 'numbering continues after the rebuild')
  await store.close()
})

t.test('the retention sweep deletes kept files only after audit_retention_days on the aggregator clock', async (t) => {
  const dir = tempDir(t)
  const clock = { now: Date.now() }
  const open = () => AuditLog.open({ dir, maxBytes: lineBytes * 10, keepFiles: 0, retentionMs: 90 * DAY, now: () => clock.now, log: silent() })
  let log = await open()
  // Violations claiming to be from 1970 (a skewed sidecar clock) are kept like any others.
  for (let b = 0; b < 5; b++) await log.appendBatch(mixedRange(b * 10 + 1, b * 10 + 11).map((s) => ({ ...s, time: '1970-01-01T00:00:00.000Z' })))
  await log.close()
  const kept = () => readdirSync(dir).filter((f) => f.startsWith('kept-'))
  const before = kept().length
  const keptSignals = kept().reduce((n, f) => n + (JSON.parse(readFileSync(join(dir, f), 'utf8').split('\n')[0]!) as { seqs: number[] }).seqs.length, 0)
  t.ok(before >= 1 && keptSignals >= 4, `${keptSignals} violations in ${before} kept files`)
  clock.now += 90 * DAY - 60_000
  log = await open()
  t.equal(kept().length, before, 'a minute before the retention ends, nothing is swept')
  t.equal((await replayAll(log)).filter((r) => r.signal.type === 'egress_denied').length, 5)
  await log.close()
  clock.now += 120_000
  log = await open()
  t.equal(kept().length, 0, 'after it, the kept files are gone')
  t.equal(log.stats().expiredSignals, keptSignals, 'and counted')
  await log.close()
})

t.test('the size budget: observations rotate out first, then violations alone → refused (AuditFullError budget), nothing dropped', async (t) => {
  const dir = tempDir(t)
  const maxBytes = lineBytes * 20
  const maxTotalBytes = lineBytes * 100
  const log = await AuditLog.open({ dir, maxBytes, keepFiles: 10, maxTotalBytes, log: silent() })
  // Control: 10× the budget of mostly observations is accepted; the budget is met by rotating them out.
  for (let b = 0; b < 40; b++) await log.appendBatch(mixedRange(b * 10 + 1, b * 10 + 11))
  const st = log.stats()
  t.ok(st.currentBytes + st.olderBytes <= maxTotalBytes, `within the budget: ${st.currentBytes + st.olderBytes} ≤ ${maxTotalBytes}`)
  t.equal((await replayAll(log)).filter((r) => r.signal.type === 'egress_denied').length, 40, 'no violation lost')
  // Now violations only: they fill the budget and the next batch is refused.
  let n = 10_000
  let refused: unknown
  for (let i = 0; i < 100 && !refused; i++) {
    await log.appendBatch([signal(n++), signal(n++)]).catch((err: unknown) => (refused = err))
  }
  t.match(refused, { code: 'HANGAR_AUDIT_FULL', reason: 'budget' })
  t.equal(log.healthy, true, 'the log stays healthy (a refusal, not a failure)')
  const all = await replayAll(log)
  const stored = all.filter((r) => r.signal.type === 'egress_denied').length
  t.equal(stored, 40 + (n - 10_000 - 2), 'every accepted violation is still there, the refused batch is not')
  t.ok(log.stats().refused.budget >= 1)
  await t.rejects(log.appendBatch([signal(n++)]), { code: 'HANGAR_AUDIT_FULL' }, 'still refused while full')
  await log.close()
})

t.test('a crash between writing a kept file and deleting its rotated file: each line replayed once', async (t) => {
  const dir = tempDir(t)
  let log = await AuditLog.open({ dir, maxBytes: lineBytes * 10, keepFiles: 5, log: silent() })
  for (let b = 0; b < 3; b++) await log.appendBatch(mixedRange(b * 10 + 1, b * 10 + 11))
  await log.close()
  // A partial kept file beside a complete rotated file, as the compaction leaves them when it dies.
  const rotated = readdirSync(dir).find((f) => /^audit-\d+\.jsonl$/.test(f))!
  const base = Number(/\d+/.exec(rotated)![0])
  writeFileSync(join(dir, keptFileName(base)), JSON.stringify({ schema: 'hangar.audit-kept/v1', base, lines: 10, received_until: new Date().toISOString(), seqs: [base + 9] }) + '\n' + encodeLines([mixed(base + 9)]))
  log = await AuditLog.open({ dir, maxBytes: lineBytes * 10, keepFiles: 5, log: silent() })
  const seqs = (await replayAll(log)).map((r) => r.seq)
  t.same(seqs, Array.from({ length: 30 }, (_, i) => i + 1), 'no duplicate, no gap')
  await log.close()
})

t.test('a real full disk (tmpfs): ENOSPC is refused as disk_full, undone, and appends resume once there is room', async (t) => {
  const dir = tempDir(t)
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', mnt])
  t.teardown(() => execFileSync('umount', ['-l', mnt]))
  writeFileSync(join(mnt, 'ballast'), Buffer.alloc(32 * 1024))
  const audit = join(mnt, 'audit')
  const log = await AuditLog.open({ dir: audit, maxBytes: 1024 * 1024, log: silent() })
  let n = 1
  let refused: unknown
  for (let i = 0; i < 1000 && !refused; i++) await log.appendBatch([mixed(n++ * 10)]).catch((err: unknown) => (refused = err))
  t.match(refused, { code: 'HANGAR_AUDIT_FULL', reason: 'disk_full' })
  t.equal(log.healthy, true, 'undone, not failed')
  t.equal(log.stats().refused.disk_full, 1)
  t.equal((await replayAll(log)).length, n - 2, 'every acknowledged record is there, the refused one is not')
  rmSync(join(mnt, 'ballast'))
  t.same(await log.appendBatch([mixed(n * 10)]), { firstSeq: n - 1, count: 1 }, 'room again: the next batch is stored with the next number')
  await log.close()
})

t.test('the index keeps evicted violations queryable (archive below the window); evicted observations are not (control)', async (t) => {
  const index = new SignalIndex({ maxSignals: 100 })
  let seq = 0
  for (let n = 1; n <= 2000; n++) index.add(++seq, mixed(n)) // violations every 10th: 200 of them
  t.equal(index.inMemory, 100)
  t.equal(index.archived, 100, 'the archive is bounded by maxSignals too')
  const first = index.query({ type: 'egress_denied', limit: 1 })
  t.equal(first.signals[0]?.id, mixed(910).id, 'oldest archived violation: the 100 newest evicted ones (910..1900) are kept')
  t.equal(index.query({ type: 'egress_allowed', limit: 1 }).signals[0]?.id, mixed(1901).id, 'control: evicted observations are gone from memory')
  // Paging through archive + window, both orders: every violation in memory once, in order.
  for (const order of ['asc', 'desc'] as const) {
    const ids: string[] = []
    let cursor: number | undefined
    for (let page = 0; page < 100; page++) {
      const r = index.query({ type: 'egress_denied', order, limit: 7, ...(cursor !== undefined && (order === 'asc' ? { after: cursor } : { before: cursor })) })
      ids.push(...r.signals.map((s) => s.id))
      if (!r.has_more || r.next_cursor === null) break
      cursor = r.next_cursor
    }
    const want = Array.from({ length: 110 }, (_, i) => mixed(910 + i * 10).id)
    t.same(ids, order === 'asc' ? want : [...want].reverse(), `${order}: 100 archived + 10 in the window, no gap, no duplicate`)
  }
})

t.test('merged kept files: a crash after the merge and before the rotated file is deleted replays each line once', async (t) => {
  const dir = tempDir(t)
  const maxBytes = lineBytes * 10
  let log = await AuditLog.open({ dir, maxBytes, keepFiles: 1, log: silent() })
  for (let b = 0; b < 6; b++) await log.appendBatch(mixedRange(b * 10 + 1, b * 10 + 11))
  await log.close()
  const rotated = readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f))
  t.equal(rotated.length, 1)
  const copy = readFileSync(join(dir, rotated[0]!))
  // Merge it by hand the way a prune would, then put the rotated file back: the crash window.
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 0, log: silent() })
  await log.close()
  t.same(readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f)), [], 'merged and deleted')
  writeFileSync(join(dir, rotated[0]!), copy)
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 5, log: silent() })
  const seqs = (await replayAll(log)).map((r) => r.seq)
  t.same(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'ascending, no duplicate')
  t.same(seqs.filter((q) => q % 10 === 0), [10, 20, 30, 40, 50, 60], 'every violation once')
  await log.close()
  log = await AuditLog.open({ dir, maxBytes, keepFiles: 0, log: silent() })
  t.same(readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f)), [], 'the next prune deletes the already-merged rotated file')
  t.same((await replayAll(log)).filter((r) => r.signal.type === 'egress_denied').map((r) => r.seq), [10, 20, 30, 40, 50, 60])
  await log.close()
})

t.test('a kept file spans at most a day of receipts, so old violations expire on time next to fresh ones', async (t) => {
  const dir = tempDir(t)
  const maxBytes = lineBytes * 10
  let log = await AuditLog.open({ dir, maxBytes, keepFiles: 10, log: silent() })
  for (let b = 0; b < 5; b++) await log.appendBatch(mixedRange(b * 10 + 1, b * 10 + 11))
  await log.close()
  const rotated = readdirSync(dir).filter((f) => /^audit-\d+\.jsonl$/.test(f)).sort()
  t.equal(rotated.length, 4)
  const old = new Date(Date.now() - 3 * DAY)
  for (const f of rotated.slice(0, 2)) utimesSync(join(dir, f), old, old) // received three days ago
  const clock = { now: Date.now() }
  const open = () => AuditLog.open({ dir, maxBytes: lineBytes * 100, keepFiles: 0, retentionMs: 90 * DAY, now: () => clock.now, log: silent() })
  log = await open()
  await log.close()
  const kept = readdirSync(dir).filter((f) => f.startsWith('kept-')).sort()
  t.equal(kept.length, 2, `two kept files: the old receipts and the fresh ones (${kept.join(' ')})`)
  clock.now = Date.now() + 89 * DAY // the old ones are past 90 days, the fresh ones are not
  log = await open()
  const left = (await replayAll(log)).filter((r) => r.signal.type === 'egress_denied').map((r) => r.seq)
  t.same(left, [30, 40, 50], 'the violations received three days earlier expired, the others stay')
  t.equal(log.stats().expiredSignals, 2)
  await log.close()
})
