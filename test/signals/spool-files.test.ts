// The spool's segment scan (signals/spool-files.ts scanSegment, through Spool.open): a torn last
// line after a crash is detected, logged, reported and truncated. Real files in temp dirs.
import t from 'tap'
import { appendFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Spool } from '../../signals/spool.js'
import { segmentName } from '../../signals/spool-format.js'
import { captureLogger, ids, range, signal, tempDir } from './helpers.js'

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
