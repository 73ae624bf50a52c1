// Pure parts of the signal spool (signals/spool-format.ts): segment names, the cursor format,
// newline counts, the drop-oldest decision, the time of a line.
import t from 'tap'
import { countNewlines, formatCursor, parseCursor, parseSegmentName, segmentName, segmentsToDrop, timeOfLine } from '../../signals/spool-format.js'
import { signal } from './helpers.js'

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
