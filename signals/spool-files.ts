/**
 * File helpers of the signal spool (signals/spool.ts): positioned reads of segment files (a byte
 * range, one line, the start of the last line), line counts and signal times of a range, and the
 * scan that finds and cuts a torn last line after a crash. Synchronous apart from
 * {@link closeFd}: the spool runs them inline, once per batch or at open.
 */
import { close as closeFdCb, closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs'
import { SPOOL_ERROR_CODES, SpoolError } from './spool-error.js'
import { countNewlines, parseLine, timeOfLine } from './spool-format.js'

const MiB = 1024 * 1024
/** Chunk of a sequential read, bytes. */
export const SCAN_CHUNK = MiB
/** A last line longer than this is not JSON-checked on open (it is checked when read). */
const LAST_LINE_CHECK_BYTES = MiB

/**
 * Opens segment file `path` (sequence `seq`) for reading.
 * @throws SpoolError `HANGAR_SPOOL_IO` naming the segment
 */
export function openSegmentForRead(path: string, seq: number): number {
  try {
    return openSync(path, 'r')
  } catch (err) {
    throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_IO, `cannot read spool segment ${seq}: ${(err as Error).message}`, { cause: err })
  }
}

/** Bytes `[start, end)` of `fd` as UTF-8 ('' for an empty range; shorter when the file is). */
export function readRange(fd: number, start: number, end: number): string {
  if (end <= start) return ''
  const buf = Buffer.allocUnsafe(end - start)
  const n = readSync(fd, buf, 0, end - start, start)
  return buf.toString('utf8', 0, n)
}

/** The line starting at `offset` (without its newline), or undefined when no newline ends it before `size`. */
export function readLine(fd: number, offset: number, size: number): string | undefined {
  const parts: Buffer[] = []
  for (let pos = offset; pos < size; ) {
    const buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, size - pos))
    const n = readSync(fd, buf, 0, buf.length, pos)
    if (n === 0) break
    const nl = buf.indexOf(0x0a)
    if (nl >= 0 && nl < n) {
      parts.push(buf.subarray(0, nl))
      return Buffer.concat(parts).toString('utf8')
    }
    parts.push(buf.subarray(0, n))
    pos += n
  }
  return undefined
}

/** Start offset of the last complete line in `[from, end)` (`end` just after its newline). */
function lastLineStart(fd: number, from: number, end: number): number | undefined {
  const start = Math.max(from, end - LAST_LINE_CHECK_BYTES)
  const buf = Buffer.allocUnsafe(end - start)
  const n = readSync(fd, buf, 0, end - start, start)
  const prev = n >= 2 ? buf.lastIndexOf(0x0a, n - 2) : -1 // a negative offset would count from the end
  if (prev >= 0) return start + prev + 1
  return start === from ? from : undefined
}

/**
 * Newlines (lines) of segment file `path` in bytes `[from, to)`.
 * @throws SpoolError `HANGAR_SPOOL_IO` when the file cannot be opened
 */
export function countLines(path: string, seq: number, from: number, to: number): number {
  if (to <= from) return 0
  const fd = openSegmentForRead(path, seq)
  try {
    let n = 0
    const buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, to - from))
    for (let pos = from; pos < to; ) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos)
      if (got === 0) break
      n += countNewlines(buf, 0, got)
      pos += got
    }
    return n
  } finally {
    closeSync(fd)
  }
}

/** `time` of the first and last line of segment file `path` (`size` bytes) from `from`; best effort, never throws on open. */
export function lineTimes(path: string, size: number, from: number): { first?: string; last?: string } {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return {}
  }
  try {
    const first = timeOfLine(readRange(fd, from, Math.min(size, from + 4096)).split('\n', 1)[0] ?? '')
    const tail = readRange(fd, Math.max(from, size - 65_536), size).replace(/\n$/, '')
    const last = timeOfLine(tail.slice(tail.lastIndexOf('\n') + 1))
    return { ...(first && { first }), ...(last && { last }) }
  } finally {
    closeSync(fd)
  }
}

/** What {@link scanSegment} found. */
export interface SegmentScan {
  /** File size after the cut, bytes. */
  size: number
  /** Complete lines from `from`. */
  lines: number
  /** The scan's start: the requested `from`, or the file size when that was past the end. */
  from: number
  /** The torn last line cut away, when there was one: lines lost (1 or 2), bytes cut, `time` of the oldest when readable. */
  torn?: { lines: number; bytes: number; oldestTime?: string }
}

/**
 * Counts the lines of segment file `path` from `from` and truncates a torn last line: bytes after
 * the last newline, and a last complete line that is not a JSON object.
 * @throws the file system error (the caller reports it as `HANGAR_SPOOL_IO`)
 */
export function scanSegment(path: string, from: number): SegmentScan {
  const fd = openSync(path, 'r+')
  try {
    const size = fstatSync(fd).size
    from = Math.min(from, size)
    let lines = 0
    let end = from // after the last newline
    const buf = Buffer.allocUnsafe(SCAN_CHUNK)
    for (let pos = from; pos < size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos)
      if (n === 0) break
      lines += countNewlines(buf, 0, n)
      const last = buf.lastIndexOf(0x0a, n - 1)
      if (last >= 0) end = pos + last + 1
      pos += n
    }
    let torn = 0
    let cut = end
    let oldest: string | undefined
    if (end < size) {
      torn++
      oldest = timeOfLine(readRange(fd, end, Math.min(size, end + 4096)))
    }
    if (lines > 0) {
      const start = lastLineStart(fd, from, end)
      if (start !== undefined && parseLine(readRange(fd, start, end - 1)) === undefined) {
        torn++
        lines--
        cut = start
        oldest = timeOfLine(readRange(fd, start, Math.min(end, start + 4096)))
      }
    }
    if (cut >= size) return { size, lines, from }
    ftruncateSync(fd, cut)
    return { size: cut, lines, from, torn: { lines: torn, bytes: size - cut, ...(oldest && { oldestTime: oldest }) } }
  } finally {
    closeSync(fd)
  }
}

/** Closes `fd` in the background; resolves when done, errors ignored. */
export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => closeFdCb(fd, () => resolve()))
}
