// Opening the signal spool after a crash (signals/spool-recover.ts): the atomic cursor and a
// leftover temporary file of its write, a corrupt cursor replayed from the oldest segment, a
// cursor past the end of its segment. Real files in temp dirs.
import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Spool } from '../../signals/spool.js'
import { formatCursor } from '../../signals/spool-format.js'
import { captureLogger, idOf, ids, range, signal, tempDir } from './helpers.js'

t.test('cursor writes are atomic: no tmp file left, a leftover tmp is ignored, a corrupt cursor replays from the oldest', async (t) => {
  const dir = tempDir(t)
  let sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  for (let i = 0; i < 4; i++) sp.append(signal(i))
  const b = sp.readBatch(2, 1 << 20)
  await sp.ack(b.end)
  const tmpFiles = () => readdirSync(dir).filter((n) => n.startsWith('spool.cursor.'))
  t.same(tmpFiles(), [], 'tmp renamed away')
  t.equal(readFileSync(join(dir, 'spool.cursor'), 'utf8'), formatCursor(b.end))
  await sp.close()

  // A crash in the middle of a cursor write leaves a half-written tmp (the atomic writer's
  // `spool.cursor.<hash>`, or `spool.cursor.tmp` of an earlier version): the old cursor stands.
  writeFileSync(join(dir, 'spool.cursor.tmp'), '{"segment":1,"off')
  writeFileSync(join(dir, 'spool.cursor.2807013614'), '{"segment":9,"off')
  sp = Spool.open(dir, { fsyncIntervalMs: 0 })
  t.same(tmpFiles(), [], 'leftover tmp files removed')
  t.same(ids(sp.readBatch(100, 1 << 20)), range(2, 4), 'resumed at the last complete cursor')
  await sp.close()

  writeFileSync(join(dir, 'spool.cursor'), 'garbage')
  const cap = captureLogger()
  sp = Spool.open(dir, { fsyncIntervalMs: 0, log: cap.log })
  t.same(ids(sp.readBatch(100, 1 << 20)), range(0, 4), 'corrupt cursor: replay from the oldest segment (duplicates, not loss)')
  t.ok(cap.has(/unreadable cursor file/), 'logged')
  await sp.close()
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
