// Reading spool batches (signals/spool-read.ts, through Spool.readBatch): the byte budget, an
// oversized first line alone, an unparsable middle line skipped and reported once. Real files.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Spool } from '../../signals/spool.js'
import { segmentName } from '../../signals/spool-format.js'
import { captureLogger, ids, range, signal, tempDir } from './helpers.js'

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
