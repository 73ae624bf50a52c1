/**
 * Reading a batch of the signal spool (signals/spool.ts): whole lines from the cursor, across
 * segments, up to a count and a byte budget, without moving the cursor. Unparsable lines are
 * skipped and reported through the caller; a segment that ends without a newline (only after a
 * failed write) is skipped whole, the tail segment never.
 */
import { closeSync, readSync } from 'node:fs'
import { openSegmentForRead, readLine } from './spool-files.js'
import { parseLine, type Cursor, type Segment } from './spool-format.js'
import type { Signal } from './types.js'

/** Where and how {@link readSegments} reads. */
export interface ReadContext {
  /** The segments, oldest first; the last one is the tail being appended to. */
  segments: readonly Segment[]
  /** Path of segment file `seq`. */
  path: (seq: number) => string
  /** Records an unparsable line (`bytes` long at `offset` of segment `seq`); true the first time this position is seen. */
  markCorrupt: (seq: number, offset: number, bytes: number) => boolean
}

/** What {@link readSegments} read. */
export interface ReadResult {
  signals: Signal[]
  /** Their JSON lines (without the newline), same order. */
  lines: string[]
  /** Sum of the lines' UTF-8 bytes plus one separator each. */
  bytes: number
  /** Where the batch ends. */
  end: Cursor
  /** Lines (parsed or not) between the start of `end.segment` (or the cursor, in the cursor's segment) and `end`. */
  endCount: number
  /** Unparsable lines met for the first time. */
  corrupt: number
}

/**
 * Reads up to `max` signals from `from`.
 * @param max most signals (≥ 1)
 * @param maxBytes most {@link ReadResult.bytes}; the first line is returned even when longer
 * @throws SpoolError `HANGAR_SPOOL_IO` when a segment cannot be opened
 */
export function readSegments(ctx: ReadContext, from: Cursor, max: number, maxBytes: number): ReadResult {
  const segs = ctx.segments
  const signals: Signal[] = []
  const lines: string[] = []
  let bytes = 0
  let corrupt = 0
  let endCount = 0
  const pos = { ...from }
  let i = segs.findIndex((s) => s.seq === pos.segment)
  let full = false
  while (!full && i >= 0 && i < segs.length && signals.length < max) {
    const seg = segs[i] as Segment
    if (pos.offset >= seg.size) {
      if (i === segs.length - 1) break
      i++
      pos.segment = (segs[i] as Segment).seq
      pos.offset = 0
      endCount = 0
      continue
    }
    const fd = openSegmentForRead(ctx.path(seg.seq), seg.seq)
    try {
      while (pos.offset < seg.size && signals.length < max) {
        const remaining = seg.size - pos.offset
        const want = Math.min(remaining, Math.max(maxBytes - bytes, 0) + 1)
        const buf = Buffer.allocUnsafe(want)
        const n = readSync(fd, buf, 0, want, pos.offset)
        let p = 0
        while (signals.length < max) {
          const nl = buf.indexOf(0x0a, p)
          if (nl < 0 || nl >= n) break
          const len = nl - p
          if (signals.length > 0 && bytes + len + 1 > maxBytes) {
            full = true
            break
          }
          const text = buf.toString('utf8', p, nl)
          const parsed = parseLine(text)
          if (parsed) {
            signals.push(parsed)
            lines.push(text)
            bytes += len + 1
          } else if (ctx.markCorrupt(seg.seq, pos.offset, len)) corrupt++
          pos.offset += len + 1
          endCount++
          p = nl + 1
        }
        if (full || signals.length >= max) break
        if (p > 0) continue // whole lines consumed; read on from the new offset
        // No complete line in the chunk.
        if (n >= remaining) {
          // A segment that ends without a newline: only a non-tail segment after a failed write
          // (the tail's tracked size always ends a line; never spin on it).
          if (i === segs.length - 1) {
            full = true
            break
          }
          if (ctx.markCorrupt(seg.seq, pos.offset, remaining)) corrupt++
          pos.offset = seg.size
          endCount++
          break
        }
        if (signals.length > 0) {
          full = true
          break
        }
        // The first line alone is longer than maxBytes: return it alone.
        const text = readLine(fd, pos.offset, seg.size)
        if (text === undefined) break
        const parsed = parseLine(text)
        if (parsed) {
          signals.push(parsed)
          lines.push(text)
          bytes += Buffer.byteLength(text) + 1
        } else if (ctx.markCorrupt(seg.seq, pos.offset, Buffer.byteLength(text))) corrupt++
        pos.offset += Buffer.byteLength(text) + 1
        endCount++
        full = parsed !== undefined
      }
    } finally {
      closeSync(fd)
    }
  }
  return { signals, lines, bytes, end: { ...pos }, endCount, corrupt }
}
