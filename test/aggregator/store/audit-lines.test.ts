// The audit line format and the torn-tail rule (aggregator/store/audit-lines.ts), table-driven.
import t from 'tap'
import { encodeLines, findTornTail, parseAuditLine } from '../../../aggregator/store/audit-lines.js'
import { signal } from '../../fixtures/aggregator/signals.js'

const line = (n: number) => JSON.stringify(signal(n)) + '\n'

t.test('encodeLines: one JSON object and one newline per signal, newlines inside strings escaped', async (t) => {
  const s = signal(1, { reason: 'two\nlines\u2028and more' })
  const text = encodeLines([s, signal(2)])
  t.equal(text.split('\n').length, 3, 'two lines and the final newline')
  t.ok(text.endsWith('\n'))
  t.same(parseAuditLine(text.split('\n')[0]!), s, 'round trip')
  t.equal(encodeLines([]), '')
})

t.test('parseAuditLine accepts stored signals and rejects everything else', async (t) => {
  t.same(parseAuditLine(line(7).trimEnd()), signal(7))
  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['{', 'truncated JSON'],
    [line(7).slice(0, 60), 'torn half line'],
    ['[1,2]', 'an array'],
    ['"x"', 'a string'],
    ['\0\0\0\0', 'zero bytes'],
    [JSON.stringify({ ...signal(1), schema: 'other/v1' }), 'another schema'],
    [JSON.stringify({ ...signal(1), id: 5 }), 'id not a string'],
    [JSON.stringify({ ...signal(1), provider: undefined }), 'no provider'],
    [JSON.stringify({ ...signal(1), time: null }), 'time null'],
  ]
  for (const [text, why] of bad) t.equal(parseAuditLine(text), null, why)
})

t.test('findTornTail on a whole file (window at offset 0)', async (t) => {
  const good = line(1) + line(2)
  const cases: Array<[string, string, number]> = [
    ['clean file', good, good.length],
    ['empty file', '', 0],
    ['partial last line (no newline)', good + line(3).slice(0, 40), good.length],
    ['garbage complete last line', good + 'not json\n', good.length],
    ['zero-filled blocks at the end, no newline', good + '\0'.repeat(4096), good.length],
    ['several garbage lines then a partial one', good + '\0\0\n{"x":1}\n' + line(3).slice(0, 10), good.length],
    ['only a partial line', line(1).slice(0, 30), 0],
    ['only garbage lines', 'x\ny\n', 0],
    ['a lone newline', '\n', 0],
    ['a corrupt line before a valid last line is not the tail', line(1) + 'garbage\n' + line(2), line(1).length + 'garbage\n'.length + line(2).length],
  ]
  for (const [why, text, cut] of cases) {
    t.same(findTornTail(Buffer.from(text), 0), { cut, settled: true }, why)
  }
})

t.test('findTornTail on a window that starts inside the file', async (t) => {
  const head = line(1) + line(2)
  const text = head + line(3) + line(4).slice(0, 25)
  // The window holds the end of line 2, line 3 and the torn part: line 3 is valid, settled.
  const start = head.length - 10
  t.same(findTornTail(Buffer.from(text.slice(start)), start), { cut: head.length + line(3).length, settled: true })
  // A window holding only garbage cannot be settled: the caller must look further back.
  const g = head + 'x'.repeat(50) + '\n' + 'y'.repeat(20)
  const gs = head.length + 5
  const r = findTornTail(Buffer.from(g.slice(gs)), gs)
  t.equal(r.settled, false, 'the start of the garbage line is outside the window')
  t.equal(r.cut, head.length + 51, 'known so far: from the last newline on')
  const none = findTornTail(Buffer.from('z'.repeat(30)), 100)
  t.same(none, { cut: 130, settled: false }, 'no newline at all in the window')
})
