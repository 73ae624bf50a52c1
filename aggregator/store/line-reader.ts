/**
 * Reads a JSON-lines file in chunks: the lines of each chunk come out together (one await per
 * chunk, not per line, which matters when millions of lines are replayed at start-up).
 */
import { createReadStream } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'

/** One line: its byte offset in the file and its text without the `\n`. */
export interface Line {
  offset: number
  text: string
  /** False for a last line that has no `\n`. */
  terminated: boolean
}

const CHUNK = 1 << 20

/**
 * The lines of `path` up to byte `end` (exclusive; default: the end of the file), in batches.
 * A last fragment without `\n` is yielded with `terminated: false`.
 */
export async function* readLineBatches(path: string, end?: number): AsyncGenerator<Line[]> {
  if (end === 0) return
  const stream = createReadStream(path, { highWaterMark: CHUNK, ...(end !== undefined ? { end: end - 1 } : {}) })
  let carry: Buffer[] = []
  let lineStart = 0 // file offset of the first byte of the current (unfinished) line
  let pos = 0 // file offset of the current chunk's first byte
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const out: Line[] = []
    let from = 0
    for (;;) {
      const nl = chunk.indexOf(0x0a, from)
      if (nl === -1) break
      let text: string
      if (carry.length) {
        carry.push(chunk.subarray(from, nl))
        text = Buffer.concat(carry).toString('utf8')
        carry = []
      } else {
        text = chunk.toString('utf8', from, nl)
      }
      out.push({ offset: lineStart, text, terminated: true })
      from = nl + 1
      lineStart = pos + from
    }
    if (from < chunk.length) carry.push(chunk.subarray(from))
    pos += chunk.length
    if (out.length) yield out
  }
  if (carry.length) yield [{ offset: lineStart, text: Buffer.concat(carry).toString('utf8'), terminated: false }]
}

/** Lines in the first `size` bytes of an open file: its `\n`s, plus one for a fragment after the last. */
export async function countLines(fh: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)))
  let n = 0
  let pos = 0
  let last = 0x0a
  while (pos < size) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos)
    if (bytesRead === 0) break
    for (let i = buf.indexOf(0x0a, 0); i !== -1 && i < bytesRead; i = buf.indexOf(0x0a, i + 1)) n++
    last = buf[bytesRead - 1]!
    pos += bytesRead
  }
  return last === 0x0a ? n : n + 1
}
