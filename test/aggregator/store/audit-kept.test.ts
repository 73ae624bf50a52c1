// aggregator/store/audit-kept.ts: compacting a rotated audit file into a kept file (violations
// only, sequence numbers preserved, bytes as written), merging consecutive compactions within a
// size and a one-day span, crash leftovers, and the retention sweep on received_until.
import { readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { rotatedFileName } from '../../../aggregator/store/audit-files.js'
import { encodeLines } from '../../../aggregator/store/audit-lines.js'
import { KEPT_SCHEMA, MERGE_SPAN_MS, compactRotated, keptFileName, listKept, readKeptHeader, replayKept, sweepKept, type KeptMeta } from '../../../aggregator/store/audit-kept.js'
import type { Signal } from '../../../signals/types.js'
import { signal } from '../../fixtures/aggregator/signals.js'

const DAY = 24 * 3600 * 1000
const isViolation = (s: Signal) => s.kind === 'violation'
/** Signal n: odd = violation, even = observation. */
const mixed = (n: number) => (n % 2 ? signal(n) : signal(n, { kind: 'observation', type: 'egress_allowed', severity: 'info' }))

/** Writes rotated file `base` with signals base..base+count-1 (and optional extra raw lines), mtime `mtimeMs`. */
function rotated(dir: string, base: number, count: number, mtimeMs: number, extra = ''): string {
  const name = rotatedFileName(base)
  writeFileSync(join(dir, name), encodeLines(Array.from({ length: count }, (_, i) => mixed(base + i))) + extra)
  utimesSync(join(dir, name), mtimeMs / 1000, mtimeMs / 1000)
  return name
}

async function replay(path: string) {
  const h = await readKeptHeader(path)
  const out: Array<{ seq: number; id: string }> = []
  for await (const b of replayKept(path, h)) for (const r of b) out.push({ seq: r.seq, id: r.signal.id })
  return out
}

t.test('keptFileName and listKept', async (t) => {
  t.equal(keptFileName(7), 'kept-000000000007.jsonl')
  const dir = t.testdir({ [keptFileName(30)]: '', [keptFileName(4)]: '', 'kept-1.jsonl.tmp': '', [rotatedFileName(1)]: '' })
  t.strictSame(await listKept(dir), [{ name: keptFileName(4), base: 4 }, { name: keptFileName(30), base: 30 }])
})

t.test('compaction keeps the violations with their sequence numbers and bytes, deletes the rotated file', async (t) => {
  const dir = t.testdir({})
  const mtime = Date.UTC(2025, 5, 1)
  const name = rotated(dir, 11, 6, mtime)
  const before = readFileSync(join(dir, name))
  const c = await compactRotated(dir, name, 11, isViolation)
  t.strictSame({ kept: c.kept, dropped: c.dropped, bytesBefore: c.bytesBefore, keptFile: c.keptFile }, { kept: 3, dropped: 3, bytesBefore: before.length, keptFile: keptFileName(11) })
  t.strictSame(readdirSync(dir), [keptFileName(11)], 'rotated file gone, no temp file')
  const path = join(dir, keptFileName(11))
  t.equal(c.bytesAfter, readFileSync(path).length)
  const h = await readKeptHeader(path)
  t.strictSame(h, { schema: KEPT_SCHEMA, base: 11, lines: 6, received_until: new Date(mtime).toISOString(), seqs: [11, 13, 15] })
  t.strictSame(await replay(path), [11, 13, 15].map((n) => ({ seq: n, id: signal(n).id })))
  const lines = readFileSync(path, 'utf8').split('\n').slice(1, 4)
  t.strictSame(lines, [11, 13, 15].map((n) => JSON.stringify(signal(n))), 'kept lines byte for byte')
})

t.test('unreadable lines are counted as dropped and still take a sequence number', async (t) => {
  const dir = t.testdir({})
  const name = rotatedFileName(1)
  writeFileSync(join(dir, name), 'garbage\n' + encodeLines([signal(2)]) + '{"schema":"x"}\n' + encodeLines([signal(4)]))
  const c = await compactRotated(dir, name, 1, isViolation)
  t.equal(c.kept, 2)
  t.equal(c.dropped, 2)
  t.strictSame((await readKeptHeader(join(dir, keptFileName(1)))).seqs, [2, 4])
})

t.test('nothing kept and nothing to extend: no kept file, the rotated file deleted', async (t) => {
  const dir = t.testdir({})
  const name = rotated(dir, 1, 4, Date.now())
  const c = await compactRotated(dir, name, 1, () => false)
  t.strictSame(c, { kept: 0, dropped: 4, bytesBefore: c.bytesBefore, bytesAfter: 0 })
  t.strictSame(readdirSync(dir), [])
})

t.test('consecutive compactions merge into the newest kept file within mergeBytes and the day span', async (t) => {
  const dir = t.testdir({})
  const t0 = Date.UTC(2025, 5, 1)
  await compactRotated(dir, rotated(dir, 1, 4, t0), 1, isViolation, 1 << 20)
  const c = await compactRotated(dir, rotated(dir, 5, 4, t0 + 3600_000), 5, isViolation, 1 << 20)
  t.equal(c.keptFile, keptFileName(1), 'merged into the earlier kept file')
  t.strictSame(readdirSync(dir), [keptFileName(1)])
  const h = await readKeptHeader(join(dir, keptFileName(1)))
  t.strictSame({ base: h.base, lines: h.lines, seqs: h.seqs, from: h.received_from, until: h.received_until }, { base: 1, lines: 8, seqs: [1, 3, 5, 7], from: new Date(t0).toISOString(), until: new Date(t0 + 3600_000).toISOString() })
  t.strictSame((await replay(join(dir, keptFileName(1)))).map((r) => r.seq), [1, 3, 5, 7])
})

t.test('no merge: mergeBytes 0, a gap in sequence numbers, or past the one-day span', async (t) => {
  const t0 = Date.UTC(2025, 5, 1)
  const cases: Array<[string, number, number, number]> = [
    // name, second base, second mtime, mergeBytes
    ['mergeBytes 0', 5, t0 + 1000, 0],
    ['a gap (lines 5..8 missing)', 9, t0 + 1000, 1 << 20],
    ['past MERGE_SPAN_MS', 5, t0 + MERGE_SPAN_MS + 1000, 1 << 20],
    ['too big for mergeBytes', 5, t0 + 1000, 900],
  ]
  for (const [name, base, mtime, mergeBytes] of cases) {
    const dir = t.testdir({})
    await compactRotated(dir, rotated(dir, 1, 4, t0), 1, isViolation, mergeBytes)
    const c = await compactRotated(dir, rotated(dir, base, 4, mtime), base, isViolation, mergeBytes)
    t.equal(c.keptFile, keptFileName(base), `${name}: a new kept file`)
    t.strictSame((await listKept(dir)).map((k) => k.base), [1, base], name)
  }
})

t.test('merge with nothing kept still extends the kept file (its line count covers the rotated file)', async (t) => {
  const dir = t.testdir({})
  const t0 = Date.UTC(2025, 5, 1)
  await compactRotated(dir, rotated(dir, 1, 4, t0), 1, isViolation, 1 << 20)
  const c = await compactRotated(dir, rotated(dir, 5, 4, t0 + 1000), 5, () => false, 1 << 20)
  t.equal(c.kept, 0)
  t.equal(c.keptFile, keptFileName(1))
  t.equal((await readKeptHeader(join(dir, keptFileName(1)))).lines, 8)
})

t.test('a crash after the merge, before the deletion: the rotated file is just deleted', async (t) => {
  const dir = t.testdir({})
  const t0 = Date.UTC(2025, 5, 1)
  await compactRotated(dir, rotated(dir, 1, 4, t0), 1, isViolation, 1 << 20)
  await compactRotated(dir, rotated(dir, 5, 4, t0 + 1000), 5, isViolation, 1 << 20)
  const keptBefore = readFileSync(join(dir, keptFileName(1)), 'utf8')
  rotated(dir, 5, 4, t0 + 1000) // the rotated file back, as a crash would have left it
  const c = await compactRotated(dir, rotatedFileName(5), 5, isViolation, 1 << 20)
  t.strictSame({ kept: c.kept, dropped: c.dropped, bytesAfter: c.bytesAfter }, { kept: 0, dropped: 0, bytesAfter: 0 })
  t.strictSame(readdirSync(dir), [keptFileName(1)])
  t.equal(readFileSync(join(dir, keptFileName(1)), 'utf8'), keptBefore, 'kept file unchanged')
})

t.test('readKeptHeader refuses a file whose line 1 is not a header, naming the file', async (t) => {
  const header = { schema: KEPT_SCHEMA, base: 1, lines: 2, received_until: '2025-01-01T00:00:00.000Z', seqs: [1] }
  const dir = t.testdir({
    empty: '',
    garbage: 'nope\n',
    wrongSchema: JSON.stringify({ ...header, schema: 'x' }) + '\n',
    noSeqs: JSON.stringify({ ...header, seqs: 'x' }) + '\n',
    badBase: JSON.stringify({ ...header, base: 1.5 }) + '\n',
    ok: JSON.stringify(header) + '\n',
  })
  for (const f of ['empty', 'garbage', 'wrongSchema', 'noSeqs', 'badBase']) await t.rejects(readKeptHeader(join(dir, f)), new RegExp(`${f}: not a kept audit file`), f)
  t.strictSame(await readKeptHeader(join(dir, 'ok')), header, 'control')
})

t.test('sweepKept deletes kept files past retention (on received_until), keeps the rest, reports unreadable ones', async (t) => {
  const dir = t.testdir({})
  const t0 = Date.UTC(2025, 5, 1)
  await compactRotated(dir, rotated(dir, 1, 4, t0), 1, isViolation)
  await compactRotated(dir, rotated(dir, 5, 4, t0 + 2 * DAY), 5, isViolation)
  writeFileSync(join(dir, keptFileName(100)), 'not a header\n')
  const errors: string[] = []
  const cache = new Map<string, KeptMeta>()
  const keptBytes = readFileSync(join(dir, keptFileName(1))).length
  // 7-day retention, now = t0 + 8 days: the first (until t0) is past, the second (until t0+2d) not
  const s = await sweepKept(dir, 7 * DAY, t0 + 8 * DAY, (f) => errors.push(f), cache)
  t.strictSame(s, { files: 1, signals: 2, bytes: keptBytes })
  t.strictSame((await listKept(dir)).map((k) => k.base), [5, 100])
  t.strictSame(errors, [join(dir, keptFileName(100))])
  t.strictSame([...cache.keys()], [keptFileName(5)], 'cache holds the kept file still there')
  // exactly at the boundary: not yet past (strictly more than retention)
  const edge = await sweepKept(dir, 7 * DAY, t0 + 9 * DAY, () => {}, cache)
  t.equal(edge.files, 0, 'received_until + retention == now is kept')
  const later = await sweepKept(dir, 7 * DAY, t0 + 9 * DAY + 1, () => {}, cache)
  t.equal(later.files, 1)
  t.equal(cache.size, 0)
})

t.test('sweepKept uses the cache rather than re-reading headers, and prunes entries of deleted files', async (t) => {
  const dir = t.testdir({})
  const t0 = Date.UTC(2025, 5, 1)
  await compactRotated(dir, rotated(dir, 1, 2, t0), 1, isViolation)
  const cache = new Map<string, KeptMeta>([[keptFileName(1), { receivedUntilMs: t0 + 100 * DAY, kept: 1 }], ['kept-000000000999.jsonl', { receivedUntilMs: 0, kept: 5 }]])
  const s = await sweepKept(dir, DAY, t0 + 10 * DAY, () => {}, cache)
  t.equal(s.files, 0, 'the cached (later) time decided, not the header')
  t.strictSame([...cache.keys()], [keptFileName(1)], 'entry of a missing file pruned')
})
