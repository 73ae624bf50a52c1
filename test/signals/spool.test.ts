// The durable signal spool (signals/spool.ts): append/read/ack across reopen, segment rotation
// and deletion, the maxBytes bound with drop-oldest, bad options, and an unwritable location.
// Real files in temp dirs.
import t from 'tap'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Spool } from '../../signals/spool.js'
import { parseCursor, parseSegmentName, segmentName } from '../../signals/spool-format.js'
import { ids, range, signal, tempDir } from './helpers.js'

const segments = (dir: string) => readdirSync(dir).filter((n) => parseSegmentName(n) !== undefined).sort()

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
