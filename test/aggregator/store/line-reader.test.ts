// aggregator/store/line-reader.ts: JSON-lines read in 1 MiB chunks with each line's byte offset, a
// last fragment without "\n" marked, an end bound; and the line count of an open file's prefix.
import { writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { countLines, readLineBatches, type Line } from '../../../aggregator/store/line-reader.js'

/** Every line of `path`; throws when a batch is empty (the reader yields only non-empty batches). */
async function all(path: string, end?: number): Promise<{ lines: Line[]; batches: number }> {
  const lines: Line[] = []
  let batches = 0
  for await (const b of readLineBatches(path, end)) {
    batches++
    if (b.length === 0) throw new Error('an empty batch')
    lines.push(...b)
  }
  return { lines, batches }
}

t.test('lines with their byte offsets; multi-byte text counted in bytes', async (t) => {
  const dir = t.testdir({ f: 'a\nbé\n\nlast' })
  const { lines } = await all(join(dir, 'f'))
  t.strictSame(lines, [
    { offset: 0, text: 'a', terminated: true },
    { offset: 2, text: 'bé', terminated: true },
    { offset: 6, text: '', terminated: true },
    { offset: 7, text: 'last', terminated: false },
  ])
})

t.test('an empty file and end = 0 give nothing', async (t) => {
  const dir = t.testdir({ f: '', g: 'x\n' })
  t.strictSame((await all(join(dir, 'f'))).lines, [])
  t.strictSame((await all(join(dir, 'g'), 0)).lines, [], 'end 0')
})

t.test('end bounds the read (exclusive): a line cut by it is an unterminated fragment', async (t) => {
  const dir = t.testdir({ f: 'one\ntwo\nthree\n' })
  const f = join(dir, 'f')
  t.strictSame((await all(f, 8)).lines.map((l) => [l.text, l.terminated]), [['one', true], ['two', true]])
  t.strictSame((await all(f, 6)).lines.map((l) => [l.text, l.terminated]), [['one', true], ['tw', false]])
})

t.test('lines spanning chunk boundaries (1 MiB) are joined, with the right offsets, and a multi-byte char split across chunks survives', async (t) => {
  const MiB = 1 << 20
  // line 1 ends 3 bytes before the boundary; line 2 straddles it with a 2-byte char split over it
  const l1 = 'x'.repeat(MiB - 4)
  const l2 = 'ab' + 'é'.repeat(10) + 'y'.repeat(MiB)
  const l3 = 'z'
  const dir = t.testdir({})
  const f = join(dir, 'big')
  writeFileSync(f, `${l1}\n${l2}\n${l3}\n`)
  const { lines, batches } = await all(f)
  t.equal(lines.length, 3)
  t.equal(lines[0]!.text, l1)
  t.equal(lines[1]!.text, l2, 'straddling line intact')
  t.equal(lines[1]!.offset, Buffer.byteLength(l1) + 1)
  t.equal(lines[2]!.offset, Buffer.byteLength(l1) + 1 + Buffer.byteLength(l2) + 1)
  t.ok(batches >= 2, `several batches (${batches})`)
})

t.test('countLines: newlines, plus one for a trailing fragment, within size', async (t) => {
  const dir = t.testdir({ a: 'x\ny\n', b: 'x\ny', c: '', d: '\n\n\n' })
  const count = async (name: string, size?: number) => {
    const fh = await open(join(dir, name), 'r')
    try {
      return await countLines(fh, size ?? (await fh.stat()).size)
    } finally {
      await fh.close()
    }
  }
  t.equal(await count('a'), 2)
  t.equal(await count('b'), 2, 'fragment counted')
  t.equal(await count('c'), 0)
  t.equal(await count('d'), 3)
  t.equal(await count('a', 3), 2, 'prefix "x\\ny": one newline and a fragment')
  t.equal(await count('a', 2), 1, 'prefix "x\\n"')
})

t.test('countLines across the chunk size', async (t) => {
  const dir = t.testdir({})
  const f = join(dir, 'big')
  const line = 'q'.repeat(999) + '\n'
  writeFileSync(f, line.repeat(2100) + 'tail') // ~2 MiB
  const fh = await open(f, 'r')
  t.teardown(() => fh.close())
  t.equal(await countLines(fh, (await fh.stat()).size), 2101)
})
