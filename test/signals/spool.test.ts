// The durable signal spool (signals/spool.ts): append/read/ack across reopen, segment rotation
// and deletion, the atomic cursor, crash recovery (torn last line, corrupt middle line, cursor
// past the end), the maxBytes bound with drop-oldest, and write errors. Real files in temp dirs.
import t from 'tap'
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Spool } from '../../signals/spool.js'
import { SpoolError } from '../../signals/spool-error.js'
import { countNewlines, formatCursor, parseCursor, parseSegmentName, segmentName, segmentsToDrop, timeOfLine } from '../../signals/spool-format.js'
import { captureLogger, idOf, signal, tempDir } from './helpers.js'

const ids = (b: { signals: Array<{ id: string }> }) => b.signals.map((s) => s.id)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => idOf(from + i))
const segments = (dir: string) => readdirSync(dir).filter((n) => parseSegmentName(n) !== undefined).sort()

t.test('pure helpers: segment names, cursor format, newline count, drop decision, line time', async (t) => {
  t.equal(segmentName(1), 'spool-000000000001.jsonl')
  t.equal(parseSegmentName('spool-000000000042.jsonl'), 42)
  for (const bad of ['spool-42.jsonl', 'spool-000000000000.jsonl', 'spool-000000000001.json', 'x', 'spool.cursor']) t.equal(parseSegmentName(bad), undefined, bad)
  t.throws(() => segmentName(0), RangeError)
  t.same(parseCursor(formatCursor({ segment: 3, offset: 120 })), { segment: 3, offset: 120 })
  for (const bad of ['', '{', '{"segment":0,"offset":0}', '{"segment":1,"offset":-1}', '{"segment":1.5,"offset":0}', '[1,2]', 'null']) t.equal(parseCursor(bad), undefined, bad)
  t.equal(countNewlines(Buffer.from('a\nb\n\nc')), 3)
  t.equal(countNewlines(Buffer.from('a\nb\n\nc'), 2, 4), 1)
  t.equal(segmentsToDrop([100, 100, 100], 50, 400), 0, 'fits')
  t.equal(segmentsToDrop([100, 100, 100], 150, 400), 1, 'one over: the oldest goes')
  t.equal(segmentsToDrop([100, 100, 100], 1000, 400), 2, 'never the last (written) segment')
  t.equal(timeOfLine(JSON.stringify(signal(5))), '2025-01-01T00:00:00.005Z')
  t.equal(timeOfLine('{"schema":"x"'), undefined)
})

t.test('append, read and ack across a reopen: order kept, nothing lost, nothing repeated', async (t) => {
  const dir = tempDir(t)
  let sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  for (let i = 0; i < 5; i++) t.equal(sp.append(signal(i)), undefined)
  t.equal(sp.pending, 5)
  const b1 = sp.readBatch(3, 1 << 20)
  t.same(ids(b1), range(0, 3))
  t.same(ids(sp.readBatch(3, 1 << 20)), range(0, 3), 'reading does not move the cursor')
  t.same(b1.lines.map((l) => JSON.parse(l).id), range(0, 3), 'lines are the spooled JSON')
  t.ok(b1.more, 'more lines after the batch')
  await sp.ack(b1.end)
  t.equal(sp.pending, 2)
  await sp.close()
  t.throws(() => sp.append(signal(9)), { code: 'HANGAR_SPOOL_CLOSED' })

  sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  t.equal(sp.pending, 2, 'pending survives the reopen')
  sp.append(signal(5))
  const b2 = sp.readBatch(100, 1 << 20)
  t.same(ids(b2), range(3, 6), 'resumes at the cursor, then the new signal')
  t.notOk(b2.more)
  await sp.ack(b2.end)
  t.equal(sp.pending, 0)
  t.same(ids(sp.readBatch(100, 1 << 20)), [], 'nothing left')
  await sp.ack(b1.end) // a stale end (before the cursor) is ignored
  t.equal(sp.pending, 0)
  await sp.close()
})

t.test('readBatch honours maxBytes, and returns an oversized first line alone', async (t) => {
  const dir = tempDir(t)
  const sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  t.teardown(() => sp.close())
  for (let i = 0; i < 10; i++) sp.append(signal(i))
  const lineBytes = Buffer.byteLength(JSON.stringify(signal(0))) + 1
  const b = sp.readBatch(100, lineBytes * 3 + 5)
  t.same(ids(b), range(0, 3), 'three lines fit')
  t.ok(b.bytes <= lineBytes * 3 + 5)
  const one = sp.readBatch(100, 10)
  t.same(ids(one), range(0, 1), 'first line longer than maxBytes: returned alone')
})

t.test('segments rotate at segmentBytes; a batch spans them; shipped segments are deleted', async (t) => {
  const dir = tempDir(t)
  const sp = Spool.open(dir, { segmentBytes: 1024, maxBytes: 1 << 20, fsyncIntervalMs: 0 })
  for (let i = 0; i < 20; i++) sp.append(signal(i, 200))
  const segs = segments(dir)
  t.ok(segs.length >= 5, `rotated into ${segs.length} segments`)
  for (const s of segs) t.ok(statSync(join(dir, s)).size <= 1024, `${s} within segmentBytes`)
  const b = sp.readBatch(12, 1 << 20)
  t.same(ids(b), range(0, 12), 'read across segments in order')
  await sp.ack(b.end)
  const after = segments(dir)
  t.ok(after.length < segs.length, 'fully shipped segments deleted')
  t.ok(sp.cursor.segment >= b.end.segment, 'cursor at the acked end (or the next segment when the end closes one)')
  t.equal(after[0], segmentName(sp.cursor.segment), 'the cursor segment is the oldest left')
  t.same(parseCursor(readFileSync(join(dir, 'spool.cursor'), 'utf8')), sp.cursor, 'cursor file holds the cursor')
  const rest = sp.readBatch(100, 1 << 20)
  t.same(ids(rest), range(12, 20))
  await sp.ack(rest.end)
  t.equal(sp.pending, 0)
  t.equal(segments(dir).length, 1, 'only the segment being written is left')
  await sp.close()
})

t.test('cursor writes are atomic: no tmp file left, a leftover tmp is ignored, a corrupt cursor replays from the oldest', async (t) => {
  const dir = tempDir(t)
  let sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  for (let i = 0; i < 4; i++) sp.append(signal(i))
  const b = sp.readBatch(2, 1 << 20)
  await sp.ack(b.end)
  t.notOk(existsSync(join(dir, 'spool.cursor.tmp')), 'tmp renamed away')
  t.equal(readFileSync(join(dir, 'spool.cursor'), 'utf8'), formatCursor(b.end))
  await sp.close()

  // A crash in the middle of a cursor write leaves a half-written tmp: the old cursor stands.
  writeFileSync(join(dir, 'spool.cursor.tmp'), '{"segment":1,"off')
  sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  t.notOk(existsSync(join(dir, 'spool.cursor.tmp')), 'leftover tmp removed')
  t.same(ids(sp.readBatch(100, 1 << 20)), range(2, 4), 'resumed at the last complete cursor')
  await sp.close()

  writeFileSync(join(dir, 'spool.cursor'), 'garbage')
  const cap = captureLogger()
  sp = Spool.open(dir, { fsyncIntervalMs: 0, log: cap.log })
  t.same(ids(sp.readBatch(100, 1 << 20)), range(0, 4), 'corrupt cursor: replay from the oldest segment (duplicates, not loss)')
  t.ok(cap.has(/unreadable cursor file/), 'logged')
  await sp.close()
})

t.test('a torn last line (power cut) is detected, logged, reported and truncated; appends stay line-aligned', async (t) => {
  for (const torn of ['{"schema":"hangar.signal/v1","id":"0190', '{"schema":"hangar.signal/v1","id":"0190\n', '\0\0\0\0\0\0\0\0']) {
    const dir = tempDir(t)
    let sp = Spool.open(dir, { fsyncIntervalMs: 0 })
    for (let i = 0; i < 3; i++) sp.append(signal(i))
    await sp.close()
    const file = join(dir, segmentName(1))
    const goodSize = statSync(file).size
    appendFileSync(file, torn)
    const cap = captureLogger()
    sp = Spool.open(dir, { fsyncIntervalMs: 0, log: cap.log })
    t.same(sp.recovered.map((d) => [d.reason, d.count]), [['torn', 1]], `${JSON.stringify(torn)}: reported once`)
    t.ok(cap.has(/torn last line/), 'logged')
    t.equal(statSync(file).size, goodSize, 'truncated back to the last whole line')
    t.equal(sp.pending, 3)
    sp.append(signal(3))
    const b = sp.readBatch(100, 1 << 20)
    t.same(ids(b), range(0, 4), 'all whole lines and the new one, in order')
    t.equal(b.corrupt, undefined, 'no corrupt line left behind')
    await sp.close()
  }
})

t.test('an unparsable line in the middle is skipped, reported once, and acknowledged with its batch', async (t) => {
  const dir = tempDir(t)
  const lines = [signal(0), signal(1)].map((s) => JSON.stringify(s)).concat(['{not json', '[1,2]'], [signal(2), signal(3)].map((s) => JSON.stringify(s)))
  writeFileSync(join(dir, segmentName(1)), lines.join('\n') + '\n')
  const cap = captureLogger()
  const sp = Spool.open(dir, { fsyncIntervalMs: 0, log: cap.log })
  t.teardown(() => sp.close())
  t.equal(sp.pending, 6, 'every line counts until read')
  const b = sp.readBatch(100, 1 << 20)
  t.same(ids(b), range(0, 4), 'the valid signals, in order')
  t.same(b.corrupt, { reason: 'corrupt', count: 2 })
  t.equal(cap.lines.filter((l) => /unparsable line/.test(String(l.msg))).length, 2, 'one log line each')
  t.equal(sp.readBatch(100, 1 << 20).corrupt, undefined, 'a re-read does not report them again')
  await sp.ack(b.end)
  t.equal(sp.pending, 0)
})

t.test('a cursor past the end of its segment (data lost in a power cut) resumes at the end', async (t) => {
  const dir = tempDir(t)
  let sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  for (let i = 0; i < 2; i++) sp.append(signal(i))
  await sp.close()
  writeFileSync(join(dir, 'spool.cursor'), formatCursor({ segment: 1, offset: 1_000_000 }))
  const cap = captureLogger()
  sp = Spool.open(dir, { fsyncIntervalMs: 0, log: cap.log })
  t.ok(cap.has(/cursor past the end/))
  t.equal(sp.pending, 0)
  sp.append(signal(2))
  t.same(ids(sp.readBatch(10, 1 << 20)), [idOf(2)], 'appends after it are read')
  await sp.close()
})

t.test('over maxBytes the oldest segment is dropped whole and reported with its count and times', async (t) => {
  const dir = tempDir(t)
  const sp = Spool.open(dir, { segmentBytes: 1024, maxBytes: 4096, fsyncIntervalMs: 0 })
  t.teardown(() => sp.close())
  const drops = []
  let i = 0
  for (; i < 40; i++) {
    const d = sp.append(signal(i, 200))
    if (d) drops.push({ at: i, ...d })
    t.ok(sp.bytes <= 4096 + 1024, `bytes bounded after append ${i}`)
  }
  t.ok(drops.length > 0, 'drops happened')
  const first = drops[0]!
  t.equal(first.reason, 'spool_full')
  t.equal(first.oldest_time, signal(0).time, 'oldest dropped is the first signal')
  t.equal(first.newest_time, signal(first.count - 1).time, 'newest dropped is the last of that segment')
  const dropped = drops.reduce((n, d) => n + d.count, 0)
  t.equal(sp.pending, 40 - dropped, 'pending = appended - dropped')
  const b = sp.readBatch(1000, 1 << 20)
  t.same(ids(b), range(dropped, 40), 'what is left is the newest suffix, in order')
})

t.test('a write error throws HANGAR_SPOOL_IO and leaves the spool usable once the disk works', async (t) => {
  const dir = tempDir(t)
  symlinkSync('/dev/full', join(dir, segmentName(1))) // every write: ENOSPC
  const sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  t.teardown(() => sp.close())
  t.throws(() => sp.append(signal(0)), { code: 'HANGAR_SPOOL_IO' })
  try {
    sp.append(signal(0))
  } catch (err) {
    t.ok(err instanceof SpoolError, 'a SpoolError')
  }
  t.equal(sp.pending, 0, 'a failed append is not pending')
  rmSync(join(dir, segmentName(1))) // the disk "recovers": the segment becomes a regular file
  t.equal(sp.append(signal(1)), undefined)
  t.same(ids(sp.readBatch(10, 1 << 20)), [idOf(1)])
})

t.test('bad options are RangeErrors', async (t) => {
  const dir = tempDir(t)
  t.throws(() => Spool.open(dir, { segmentBytes: 0 }), RangeError)
  t.throws(() => Spool.open(dir, { segmentBytes: 1024, maxBytes: 2047 }), RangeError)
  t.throws(() => Spool.open(dir, { fsyncIntervalMs: -1 }), RangeError)
})

t.test('an unwritable spool location is HANGAR_SPOOL_IO at open', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'file'), 'x')
  t.throws(() => Spool.open(join(dir, 'file', 'spool')), { code: 'HANGAR_SPOOL_IO' })
})

t.test('close() leaves no file descriptor open, across rotations, syncs and reads', async (t) => {
  const fds = () => readdirSync('/proc/self/fd').length
  const dir = tempDir(t)
  const before = fds()
  const sp = Spool.open(dir, { segmentBytes: 1024, maxBytes: 1 << 20, fsyncIntervalMs: 5 })
  for (let i = 0; i < 30; i++) sp.append(signal(i, 200))
  await sp.sync()
  const b = sp.readBatch(10, 1 << 20)
  await sp.ack(b.end)
  await new Promise((r) => setTimeout(r, 30)) // a few group-commit ticks
  await sp.close()
  await sp.close() // idempotent
  t.equal(fds(), before)
})
