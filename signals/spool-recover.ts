/**
 * Opening the signal spool after a crash (signals/spool.ts).
 *
 * Resume at the cursor. An unreadable cursor restarts at the oldest segment: duplicates, which the
 * aggregator's id dedup absorbs, never loss. Segments wholly before the cursor were shipped (a
 * crash came before their deletion) and are deleted; a temporary file of a cursor write is
 * removed. A torn last line of a segment (no trailing newline, or not JSON) is logged, reported
 * and truncated away so that appends stay line-aligned. A cursor past the end of its segment (data
 * lost in a power cut) resumes at the end.
 */
import { mkdirSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../core/log.js'
import { scanSegment } from './spool-files.js'
import { CURSOR_FILE, isCursorTmpName, parseCursor, parseSegmentName, segmentName, type Cursor, type Segment } from './spool-format.js'
import type { SpoolDrop } from './spool-types.js'

/** The spool's state after {@link recoverSpool}. */
export interface RecoveredSpool {
  /** Segments, oldest first; the last is the tail, open for appending as `fd`. */
  segments: Segment[]
  cursor: Cursor
  /** Unshipped lines in all segments. */
  pending: number
  /** The tail segment, opened for appending. */
  fd: number
  /** True when a segment file was created (the directory needs an fsync). */
  dirDirty: boolean
  /** Torn last lines found and cut (reason `torn`). */
  recovered: SpoolDrop[]
}

/**
 * Creates `dir` if needed and recovers the spool in it (see the file comment). Synchronous.
 * @throws the file system error (the caller reports it as `HANGAR_SPOOL_IO`)
 */
export function recoverSpool(dir: string, log: Logger): RecoveredSpool {
  const path = (seq: number): string => join(dir, segmentName(seq))
  mkdirSync(dir, { recursive: true })
  const names = readdirSync(dir)
  for (const name of names.filter(isCursorTmpName)) unlinkSync(join(dir, name))
  let seqs = names.map(parseSegmentName).filter((s): s is number => s !== undefined).sort((a, b) => a - b)
  let cursor: Cursor | undefined
  let text: string | undefined
  try {
    text = readFileSync(join(dir, CURSOR_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (text !== undefined) {
    cursor = parseCursor(text)
    if (!cursor) log.warn({ dir }, 'signal spool: unreadable cursor file; replaying from the oldest segment (the aggregator drops duplicates)')
  }
  // Segments wholly before the cursor were shipped; a crash came before their deletion.
  if (cursor) {
    const c = cursor
    for (const seq of seqs.filter((s) => s < c.segment)) unlinkSync(path(seq))
    seqs = seqs.filter((s) => s >= c.segment)
  }
  const first = seqs[0]
  if (first === undefined) {
    const seq = cursor ? cursor.segment + (cursor.offset > 0 ? 1 : 0) : 1
    return { segments: [{ seq, size: 0, lines: 0 }], cursor: { segment: seq, offset: 0 }, pending: 0, fd: openSync(path(seq), 'a'), dirDirty: true, recovered: [] }
  }
  let at: Cursor = cursor && cursor.segment === first ? cursor : { segment: first, offset: 0 }
  const segments: Segment[] = []
  const recovered: SpoolDrop[] = []
  let pending = 0
  for (const seq of seqs) {
    const head = seq === at.segment
    const r = scanSegment(path(seq), head ? at.offset : 0)
    if (r.torn) {
      log.warn({ dir, segment: seq, bytes: r.torn.bytes, lines: r.torn.lines }, 'signal spool: torn last line (crash or power cut) skipped and truncated')
      const t = r.torn.oldestTime
      recovered.push({ reason: 'torn', count: r.torn.lines, ...(t && { oldest_time: t, newest_time: t }) })
    }
    if (head && r.from < at.offset) {
      log.warn({ dir, segment: seq, offset: at.offset, size: r.size }, 'signal spool: cursor past the end of its segment (data lost in a power cut); resuming at the end')
      at = { segment: seq, offset: r.from }
    }
    segments.push({ seq, size: r.size, lines: r.lines })
    pending += r.lines
  }
  const tail = segments[segments.length - 1] as Segment
  return { segments, cursor: at, pending, fd: openSync(path(tail.seq), 'a'), dirDirty: false, recovered }
}
