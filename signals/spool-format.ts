/**
 * Pure parts of the signal spool (signals/spool.ts): file names, the cursor format, line
 * scanning over buffers, the drop-oldest decision, and reading a spooled line. No I/O here.
 */
import type { Signal } from './types.js'

/** One segment file as the spool tracks it. */
export interface Segment {
  seq: number
  /** File size in bytes as written by this process (or found on open). */
  size: number
  /** Unshipped lines in the segment (for the head: after the cursor). */
  lines: number
}

/** Position of the first unshipped signal: segment sequence number and byte offset in it. */
export interface Cursor {
  segment: number
  offset: number
}

/** Name of the cursor file inside the spool directory. */
export const CURSOR_FILE = 'spool.cursor'
/** Name an earlier version wrote the cursor under before its rename; removed on open when found. */
export const CURSOR_TMP_FILE = 'spool.cursor.tmp'

/**
 * True for a temporary file of a cursor write that a crash left behind: {@link CURSOR_TMP_FILE},
 * or the `spool.cursor.<decimal hash>` name the atomic writer (core/atomic-write.ts, through
 * write-file-atomic) gives its temporary file.
 */
export function isCursorTmpName(name: string): boolean {
  return name === CURSOR_TMP_FILE || /^spool\.cursor\.\d+$/.test(name)
}

const SEGMENT_RE = /^spool-(\d{12})\.jsonl$/
const MAX_SEQ = 999_999_999_999

/**
 * File name of segment `seq`: `spool-<seq, 12 digits>.jsonl`, so names sort like numbers.
 * @throws RangeError when `seq` is not an integer 1…999 999 999 999
 */
export function segmentName(seq: number): string {
  if (!Number.isInteger(seq) || seq < 1 || seq > MAX_SEQ) throw new RangeError(`segment sequence out of range: ${seq}`)
  return `spool-${String(seq).padStart(12, '0')}.jsonl`
}

/** The sequence number of a segment file name, or undefined for any other name. */
export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name)
  if (!m) return undefined
  const seq = Number(m[1])
  return seq >= 1 ? seq : undefined
}

/** The cursor file's content: one JSON line `{"segment":N,"offset":B}`. */
export function formatCursor(c: Cursor): string {
  return JSON.stringify({ segment: c.segment, offset: c.offset }) + '\n'
}

/** Parses the cursor file's content; undefined when it is not exactly a valid cursor. */
export function parseCursor(text: string): Cursor | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const { segment, offset } = v as Record<string, unknown>
  if (!Number.isInteger(segment) || (segment as number) < 1 || (segment as number) > MAX_SEQ) return undefined
  if (!Number.isInteger(offset) || (offset as number) < 0) return undefined
  return { segment: segment as number, offset: offset as number }
}

/** Orders two cursors: negative when `a` is before `b`, 0 when equal. */
export function compareCursor(a: Cursor, b: Cursor): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset
}

/** Number of `\n` bytes in `buf[start, end)`. */
export function countNewlines(buf: Uint8Array, start = 0, end = buf.length): number {
  let n = 0
  let i = start
  for (;;) {
    const j = buf.indexOf(0x0a, i)
    if (j < 0 || j >= end) return n
    n++
    i = j + 1
  }
}

/**
 * How many of the oldest segments to drop so that `incoming` more bytes fit in `maxBytes`.
 * The last segment (the one being appended to) is never dropped.
 * @param sizes bytes of each segment, oldest first
 * @returns the number of segments to drop from the front (0 when everything fits)
 */
export function segmentsToDrop(sizes: readonly number[], incoming: number, maxBytes: number): number {
  let total = incoming
  for (const s of sizes) total += s
  let n = 0
  while (total > maxBytes && n < sizes.length - 1) {
    total -= sizes[n] ?? 0
    n++
  }
  return n
}

/**
 * The signal `time` of a spooled line, read without parsing the whole line (the spool writes
 * `schema`, `id`, `time` first). Undefined when the prefix holds no `"time"` field.
 */
export function timeOfLine(prefix: string): string | undefined {
  const m = /"time":"([^"]{1,40})"/.exec(prefix)
  return m?.[1]
}

/** A spooled line as a signal object, or undefined when it is not a JSON object. */
export function parseLine(text: string): Signal | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Signal) : undefined
  } catch {
    return undefined
  }
}
