// The writing end of the signal spool (signals/spool-writer.ts, through Spool.append, sync and
// close): a write error is HANGAR_SPOOL_IO and the spool works again once the disk does; no file
// descriptor is left open across rotations, syncs and reads. Real files in temp dirs.
import t from 'tap'
import { readdirSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { Spool } from '../../signals/spool.js'
import { SpoolError } from '../../signals/spool-error.js'
import { segmentName } from '../../signals/spool-format.js'
import { idOf, ids, signal, tempDir } from './helpers.js'

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
