/**
 * The sidecar's durable signal spool: a segmented write-ahead log of JSON lines, shipped in order
 * by signals/shipper.ts (docs/signals.md §Delivery: "on any failure … a disk spool that it replays in order;
 * nothing is dropped silently (a full spool drops oldest and counts it)").
 *
 * Layout in `dir`:
 * - `spool-<seq, 12 digits>.jsonl`: segments, one signal per line; the last one is appended to and
 *   rotated when the next line would take it past `segmentBytes`.
 * - `spool.cursor`: `{"segment":N,"offset":B}`, the first unshipped line; replaced atomically
 *   (write `spool.cursor.tmp`, fsync, rename, fsync the directory) after each acknowledged batch.
 *   Segments wholly before the cursor are deleted.
 *
 * Durability: {@link Spool.append} writes the line with a synchronous `write(2)`, so once it
 * returns the line is in the kernel page cache and survives a SIGKILL of the process. fsync is
 * group-committed for power loss: every `fsyncIntervalMs` and whenever {@link Spool.sync} is
 * called (the shipper calls it before each batch). A power cut can lose the last
 * `fsyncIntervalMs` of signals and tear the last line.
 *
 * Recovery on open: resume at the cursor (an unreadable cursor restarts at the oldest segment:
 * duplicates, which the aggregator's id dedup absorbs, never loss); a torn last line of a
 * segment (no trailing newline, or not JSON) is logged, reported in {@link Spool.recovered} and
 * truncated away so appends stay line-aligned. An unparsable line in the middle is found by
 * {@link Spool.readBatch}, skipped, logged and reported once.
 *
 * Bound: when the segment files would exceed `maxBytes`, the oldest segments are dropped whole
 * (never the one being written); {@link Spool.append} returns what was dropped so the caller can
 * count it and emit a `signals_dropped` signal. Lines of a dropped segment that an in-flight batch
 * was already carrying are counted as dropped too (an over-count, never an under-count).
 *
 * One process per directory: the spool takes no lock, so two sidecars must not share a dir.
 * The spool is single-threaded state: call it from one event loop only.
 */
import {
  closeSync, fdatasync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, writeSync, close as closeFdCb,
} from 'node:fs'
import { open as openP, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { silentLogger, type Logger } from '../core/log.js'
import type { Signal } from './types.js'
import { SPOOL_ERROR_CODES, SpoolError } from './spool-error.js'
import {
  CURSOR_FILE, CURSOR_TMP_FILE, compareCursor, countNewlines, formatCursor, parseCursor, parseSegmentName, segmentName, segmentsToDrop, timeOfLine,
  type Cursor,
} from './spool-format.js'

export type { Cursor } from './spool-format.js'

/** Options of {@link Spool.open}. */
export interface SpoolOptions {
  /** Rotate a segment when the next line would take it past this many bytes. Default 4 MiB. */
  segmentBytes?: number
  /** Most bytes of segment files; beyond it the oldest segments are dropped. ≥ 2 × segmentBytes. Default 64 MiB. */
  maxBytes?: number
  /** Group-commit interval of fsync, ms; 0 = only when {@link Spool.sync} is called. Default 1000. */
  fsyncIntervalMs?: number
  log?: Logger
}

/** Signals the spool lost, by cause (each becomes a metric and a `signals_dropped` signal). */
export interface SpoolDrop {
  /** `spool_full`: oldest segment dropped; `corrupt`: an unparsable line skipped; `torn`: a partial last line truncated after a crash. */
  reason: 'spool_full' | 'corrupt' | 'torn'
  /** Signals (lines) lost. */
  count: number
  /** `time` of the first and last lost signal, when readable. */
  oldest_time?: string
  newest_time?: string
}

/** One batch read from the cursor by {@link Spool.readBatch}. */
export interface SpoolBatch {
  /** The parsed signals, oldest first. */
  signals: Signal[]
  /** Their JSON lines as spooled (without the newline), same order. */
  lines: string[]
  /** Sum of the lines' UTF-8 bytes plus one separator each. */
  bytes: number
  /** Where the batch ends: pass it to {@link Spool.ack} once the batch is acknowledged. */
  end: Cursor
  /** Unparsable lines met in this range for the first time (skipped; acknowledged with the batch). */
  corrupt: SpoolDrop | undefined
  /** True when lines remain after `end` (the batch was capped by `max` or `maxBytes`). */
  more: boolean
}

interface Segment {
  seq: number
  /** File size in bytes as written by this process (or found on open). */
  size: number
  /** Unshipped lines in the segment (for the head: after the cursor). */
  lines: number
}

const MiB = 1024 * 1024
/** A last line longer than this is not JSON-checked on open (it is checked when read). */
const LAST_LINE_CHECK_BYTES = MiB
const SCAN_CHUNK = MiB

/** The durable, segmented write-ahead spool of one sidecar. */
export class Spool {
  readonly #dir: string
  readonly #segmentBytes: number
  readonly #maxBytes: number
  readonly #log: Logger
  #segs: Segment[] = []
  #cursor: Cursor = { segment: 1, offset: 0 }
  #fd = -1
  #broken = false
  #pending = 0
  #dirty = false
  #dirDirty = false
  #closed = false
  #syncChain: Promise<void> = Promise.resolve()
  #cursorChain: Promise<void> = Promise.resolve()
  #cursorQueued: Promise<void> | undefined
  #toDelete: number[] = []
  #timer: NodeJS.Timeout | undefined
  #lastRead: { from: Cursor; end: Cursor; endCount: number } | undefined
  #corruptSeen = new Set<string>()
  /** What open found lost in a crash (torn last lines); empty when nothing was. */
  readonly recovered: SpoolDrop[] = []

  private constructor(dir: string, segmentBytes: number, maxBytes: number, log: Logger) {
    this.#dir = dir
    this.#segmentBytes = segmentBytes
    this.#maxBytes = maxBytes
    this.#log = log
  }

  /**
   * Opens (creating if needed) the spool in `dir` and recovers it after a crash (see the top of
   * this file). Synchronous: it runs once at start.
   * @throws RangeError for bad options; SpoolError `HANGAR_SPOOL_IO` when the directory or a
   *   segment cannot be created, read or opened for appending.
   */
  static open(dir: string, opts: SpoolOptions = {}): Spool {
    const segmentBytes = opts.segmentBytes ?? 4 * MiB
    const maxBytes = opts.maxBytes ?? 64 * MiB
    const interval = opts.fsyncIntervalMs ?? 1000
    if (!Number.isInteger(segmentBytes) || segmentBytes < 1) throw new RangeError(`spool segmentBytes must be a positive integer, got ${segmentBytes}`)
    if (!Number.isInteger(maxBytes) || maxBytes < 2 * segmentBytes) throw new RangeError(`spool maxBytes must be at least 2 × segmentBytes (${2 * segmentBytes}), got ${maxBytes}`)
    if (!(interval >= 0) || !Number.isFinite(interval)) throw new RangeError(`spool fsyncIntervalMs must be ≥ 0, got ${interval}`)
    const s = new Spool(dir, segmentBytes, maxBytes, opts.log ?? silentLogger())
    try {
      s.#recover()
    } catch (err) {
      if (s.#fd >= 0) closeSync(s.#fd)
      if (err instanceof SpoolError) throw err
      throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_IO, `cannot open the signal spool in ${dir}: ${(err as Error).message}`, { cause: err })
    }
    if (interval > 0) {
      s.#timer = setInterval(() => void s.sync(), interval)
      s.#timer.unref()
    }
    return s
  }

  /** Signals waiting in the spool (appended, not yet acknowledged or dropped). */
  get pending(): number {
    return this.#pending
  }

  /** Bytes of all segment files (the quantity bounded by `maxBytes`). */
  get bytes(): number {
    let n = 0
    for (const s of this.#segs) n += s.size
    return n
  }

  /** Bytes of unshipped lines (from the cursor to the end). */
  get pendingBytes(): number {
    return this.bytes - this.#cursor.offset
  }

  /** The position of the first unshipped line. */
  get cursor(): Cursor {
    return { ...this.#cursor }
  }

  /**
   * Appends one signal as a JSON line with a synchronous write (see the top of this file), then
   * drops the oldest segments if the spool is over `maxBytes`.
   * @returns what was dropped to make room, or undefined
   * @throws SpoolError `HANGAR_SPOOL_IO` when the line could not be written (the signal is not in
   *   the spool; a partial line is truncated away and the next append uses a fresh file), or
   *   `HANGAR_SPOOL_CLOSED` after close.
   */
  append(signal: Signal): SpoolDrop | undefined {
    this.#assertOpen()
    const buf = Buffer.from(JSON.stringify(signal) + '\n')
    if (this.#broken) this.#replaceTail()
    let tail = this.#tail()
    if (tail.size > 0 && tail.size + buf.length > this.#segmentBytes) {
      this.#rotate()
      tail = this.#tail()
    }
    let off = 0
    try {
      while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off)
    } catch (err) {
      if (off > 0) {
        try {
          ftruncateSync(this.#fd, tail.size)
        } catch {
          // the partial line stays past tail.size: never read, and reported as torn on the next open
        }
      }
      this.#broken = true
      throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_IO, `signal spool write failed: ${(err as Error).message}`, { cause: err })
    }
    tail.size += buf.length
    tail.lines++
    this.#pending++
    this.#dirty = true
    const n = segmentsToDrop(this.#segs.map((s) => s.size), 0, this.#maxBytes)
    return n > 0 ? this.#dropOldest(n) : undefined
  }

  /**
   * Reads up to `max` signals from the cursor, across segments, without moving the cursor: a
   * failed delivery just reads the same batch again.
   * @param max most signals (≥ 1)
   * @param maxBytes most {@link SpoolBatch.bytes}; the first line is returned even when longer
   * @returns the batch; `signals` is empty when nothing is pending (or only unparsable lines were)
   */
  readBatch(max: number, maxBytes: number): SpoolBatch {
    this.#assertOpen()
    const signals: Signal[] = []
    const lines: string[] = []
    let bytes = 0
    let corrupt = 0
    let endCount = 0
    const from = { ...this.#cursor }
    const pos = { ...this.#cursor }
    let i = this.#segs.findIndex((s) => s.seq === pos.segment)
    let full = false
    while (!full && i >= 0 && i < this.#segs.length && signals.length < max) {
      const seg = this.#segs[i] as Segment
      if (pos.offset >= seg.size) {
        if (i === this.#segs.length - 1) break
        i++
        pos.segment = (this.#segs[i] as Segment).seq
        pos.offset = 0
        endCount = 0
        continue
      }
      const fd = this.#openRead(seg.seq)
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
            } else if (this.#markCorrupt(seg.seq, pos.offset, len)) corrupt++
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
            if (i === this.#segs.length - 1) {
              full = true
              break
            }
            if (this.#markCorrupt(seg.seq, pos.offset, remaining)) corrupt++
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
          } else if (this.#markCorrupt(seg.seq, pos.offset, Buffer.byteLength(text))) corrupt++
          pos.offset += Buffer.byteLength(text) + 1
          endCount++
          full = parsed !== undefined
        }
      } finally {
        closeSync(fd)
      }
    }
    this.#lastRead = { from, end: { ...pos }, endCount }
    const tail = this.#tail()
    const more = pos.segment !== tail.seq || pos.offset < tail.size
    return { signals, lines, bytes, end: { ...pos }, corrupt: corrupt > 0 ? { reason: 'corrupt', count: corrupt } : undefined, more }
  }

  /**
   * Marks everything before `end` (from {@link SpoolBatch.end}) as shipped: moves the cursor,
   * persists it atomically, then deletes segments wholly before it. An `end` at or before the
   * cursor (a batch overtaken by a drop) is ignored.
   * @returns resolves when the cursor file is written (a write error is logged, not thrown: at
   *   worst the batch is shipped again after a restart, and the aggregator deduplicates it)
   * @throws RangeError when `end` is past the data written
   */
  ack(end: Cursor): Promise<void> {
    this.#assertOpen()
    if (compareCursor(end, this.#cursor) <= 0) return this.#cursorChain
    const idx = this.#segs.findIndex((s) => s.seq === end.segment)
    const endSeg = this.#segs[idx]
    if (!endSeg || end.offset > endSeg.size) throw new RangeError(`spool ack past the written data: ${end.segment}:${end.offset}`)
    const last = this.#lastRead
    let endCount: number
    if (last && compareCursor(last.from, this.#cursor) === 0 && compareCursor(last.end, end) === 0) endCount = last.endCount
    else endCount = this.#countLines(endSeg.seq, endSeg.seq === this.#cursor.segment ? this.#cursor.offset : 0, end.offset)
    const removed: number[] = []
    for (let k = 0; k < idx; k++) {
      const s = this.#segs[k] as Segment
      this.#pending -= s.lines
      removed.push(s.seq)
    }
    this.#segs.splice(0, idx)
    const n = Math.min(endCount, endSeg.lines)
    endSeg.lines -= n
    this.#pending -= n
    this.#cursor = { ...end }
    if (end.offset >= endSeg.size && this.#segs.length > 1) {
      this.#pending -= endSeg.lines
      removed.push(endSeg.seq)
      this.#segs.shift()
      this.#cursor = { segment: (this.#segs[0] as Segment).seq, offset: 0 }
    }
    this.#lastRead = undefined
    return this.#persistCursor(removed)
  }

  /**
   * fsyncs everything appended so far (data, and the directory when a segment was created).
   * @returns resolves when done; errors are logged, never thrown
   */
  sync(): Promise<void> {
    const data = this.#dirty
    const dir = this.#dirDirty
    if (!data && !dir) return this.#syncChain
    const fd = this.#fd
    this.#dirty = false
    this.#dirDirty = false
    this.#syncChain = this.#syncChain.then(async () => {
      if (data) await this.#fdatasync(fd)
      if (dir) await this.#fsyncDir()
    })
    return this.#syncChain
  }

  /** Stops the fsync timer, fsyncs, waits for the cursor file, closes the files. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    if (this.#timer) clearInterval(this.#timer)
    await this.sync()
    this.#closed = true
    const fd = this.#fd
    this.#syncChain = this.#syncChain.then(() => closeFd(fd))
    await this.#syncChain
    await this.#cursorChain
  }

  #assertOpen(): void {
    if (this.#closed) throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_CLOSED, 'the signal spool is closed')
  }

  #tail(): Segment {
    return this.#segs[this.#segs.length - 1] as Segment
  }

  #path(seq: number): string {
    return join(this.#dir, segmentName(seq))
  }

  #openRead(seq: number): number {
    try {
      return openSync(this.#path(seq), 'r')
    } catch (err) {
      throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_IO, `cannot read spool segment ${seq}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Records an unparsable line; true the first time this position is seen. */
  #markCorrupt(seq: number, offset: number, bytes: number): boolean {
    const key = `${seq}:${offset}`
    if (this.#corruptSeen.has(key)) return false
    if (this.#corruptSeen.size > 10_000) this.#corruptSeen.clear()
    this.#corruptSeen.add(key)
    this.#log.warn({ dir: this.#dir, segment: seq, offset, bytes }, 'signal spool: unparsable line skipped (counted as dropped)')
    return true
  }

  /** Recovery on open (see the top of this file). */
  #recover(): void {
    mkdirSync(this.#dir, { recursive: true })
    const names = readdirSync(this.#dir)
    if (names.includes(CURSOR_TMP_FILE)) unlinkSync(join(this.#dir, CURSOR_TMP_FILE))
    let seqs = names.map(parseSegmentName).filter((s): s is number => s !== undefined).sort((a, b) => a - b)
    let cursor: Cursor | undefined
    let text: string | undefined
    try {
      text = readFileSync(join(this.#dir, CURSOR_FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (text !== undefined) {
      cursor = parseCursor(text)
      if (!cursor) this.#log.warn({ dir: this.#dir }, 'signal spool: unreadable cursor file; replaying from the oldest segment (the aggregator drops duplicates)')
    }
    // Segments wholly before the cursor were shipped; a crash came before their deletion.
    if (cursor) {
      const c = cursor
      for (const seq of seqs.filter((s) => s < c.segment)) unlinkSync(this.#path(seq))
      seqs = seqs.filter((s) => s >= c.segment)
    }
    const first = seqs[0]
    if (first === undefined) {
      const seq = cursor ? cursor.segment + (cursor.offset > 0 ? 1 : 0) : 1
      this.#cursor = { segment: seq, offset: 0 }
      this.#segs = [{ seq, size: 0, lines: 0 }]
      this.#fd = openSync(this.#path(seq), 'a')
      this.#dirDirty = true
      return
    }
    this.#cursor = cursor && cursor.segment === first ? cursor : { segment: first, offset: 0 }
    for (const seq of seqs) {
      const head = seq === this.#cursor.segment
      const r = this.#scan(seq, head ? this.#cursor.offset : 0)
      if (head && r.from < this.#cursor.offset) {
        this.#log.warn({ dir: this.#dir, segment: seq, offset: this.#cursor.offset, size: r.size }, 'signal spool: cursor past the end of its segment (data lost in a power cut); resuming at the end')
        this.#cursor = { segment: seq, offset: r.from }
      }
      this.#segs.push({ seq, size: r.size, lines: r.lines })
      this.#pending += r.lines
    }
    this.#fd = openSync(this.#path(this.#tail().seq), 'a')
  }

  /**
   * Counts the lines of one segment from `from` and cuts a torn last line (no newline, or not
   * JSON), reporting it in {@link recovered}.
   */
  #scan(seq: number, from: number): { size: number; lines: number; from: number } {
    const fd = openSync(this.#path(seq), 'r+')
    try {
      let size = fstatSync(fd).size
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
      if (cut < size) {
        ftruncateSync(fd, cut)
        this.#log.warn({ dir: this.#dir, segment: seq, bytes: size - cut, lines: torn }, 'signal spool: torn last line (crash or power cut) skipped and truncated')
        this.recovered.push({ reason: 'torn', count: torn, ...(oldest && { oldest_time: oldest, newest_time: oldest }) })
        size = cut
      }
      return { size, lines, from }
    } finally {
      closeSync(fd)
    }
  }

  #countLines(seq: number, from: number, to: number): number {
    if (to <= from) return 0
    const fd = this.#openRead(seq)
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

  /** After a failed write: reopen the tail if it is still empty, else start a new segment. */
  #replaceTail(): void {
    const tail = this.#tail()
    if (tail.size > 0) {
      this.#rotate()
      return
    }
    let fd: number
    try {
      fd = openSync(this.#path(tail.seq), 'a')
    } catch (err) {
      throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_IO, `cannot reopen spool segment ${tail.seq}: ${(err as Error).message}`, { cause: err })
    }
    const old = this.#fd
    this.#fd = fd
    this.#broken = false
    this.#syncChain = this.#syncChain.then(() => closeFd(old))
  }

  /** Starts segment `tail + 1`; the old one is fsynced and closed in the background. */
  #rotate(): void {
    const seq = this.#tail().seq + 1
    let fd: number
    try {
      fd = openSync(this.#path(seq), 'a')
    } catch (err) {
      this.#broken = true
      throw new SpoolError(SPOOL_ERROR_CODES.SPOOL_IO, `cannot create spool segment ${seq}: ${(err as Error).message}`, { cause: err })
    }
    const old = this.#fd
    const wasDirty = this.#dirty
    this.#fd = fd
    this.#broken = false
    this.#dirty = false
    this.#dirDirty = true
    this.#segs.push({ seq, size: 0, lines: 0 })
    this.#syncChain = this.#syncChain.then(async () => {
      if (wasDirty) await this.#fdatasync(old)
      await closeFd(old)
    })
  }

  /** Drops the `n` oldest segments (spool full). */
  #dropOldest(n: number): SpoolDrop | undefined {
    let count = 0
    let oldest: string | undefined
    let newest: string | undefined
    for (const s of this.#segs.slice(0, n)) {
      const from = s.seq === this.#cursor.segment ? this.#cursor.offset : 0
      if (s.lines > 0) {
        const t = this.#lineTimes(s, from)
        oldest ??= t.first
        newest = t.last ?? newest
        count += s.lines
      }
      this.#pending -= s.lines
      try {
        unlinkSync(this.#path(s.seq))
      } catch (err) {
        this.#log.warn({ err, segment: s.seq }, 'signal spool: cannot delete a dropped segment')
      }
    }
    this.#segs.splice(0, n)
    this.#cursor = { segment: (this.#segs[0] as Segment).seq, offset: 0 }
    this.#lastRead = undefined
    void this.#persistCursor([])
    if (count === 0) return undefined
    this.#log.warn({ dir: this.#dir, dropped: count, oldest_time: oldest, newest_time: newest, max_bytes: this.#maxBytes }, 'signal spool full: oldest unshipped signals dropped')
    return { reason: 'spool_full', count, ...(oldest && { oldest_time: oldest }), ...(newest && { newest_time: newest }) }
  }

  /** `time` of the first and last line of a segment from `from` (best effort). */
  #lineTimes(s: Segment, from: number): { first?: string; last?: string } {
    let fd: number
    try {
      fd = openSync(this.#path(s.seq), 'r')
    } catch {
      return {}
    }
    try {
      const first = timeOfLine(readRange(fd, from, Math.min(s.size, from + 4096)).split('\n', 1)[0] ?? '')
      const tail = readRange(fd, Math.max(from, s.size - 65_536), s.size).replace(/\n$/, '')
      const last = timeOfLine(tail.slice(tail.lastIndexOf('\n') + 1))
      return { ...(first && { first }), ...(last && { last }) }
    } finally {
      closeSync(fd)
    }
  }

  /** Queues an atomic cursor write (coalesced), then deletes `removed` segments. */
  #persistCursor(removed: number[]): Promise<void> {
    this.#toDelete.push(...removed)
    if (this.#cursorQueued) return this.#cursorQueued
    const run = this.#cursorChain.then(async () => {
      this.#cursorQueued = undefined
      const c = { ...this.#cursor }
      const del = this.#toDelete.splice(0)
      try {
        await writeAtomic(this.#dir, CURSOR_FILE, CURSOR_TMP_FILE, formatCursor(c))
      } catch (err) {
        this.#log.warn({ err, dir: this.#dir }, 'signal spool: cannot write the cursor file (a restart may ship some signals again)')
      }
      for (const seq of del) {
        await unlink(this.#path(seq)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') this.#log.warn({ err, segment: seq }, 'signal spool: cannot delete a shipped segment')
        })
      }
    })
    this.#cursorQueued = run
    this.#cursorChain = run
    return run
  }

  #fdatasync(fd: number): Promise<void> {
    return new Promise((resolve) =>
      fdatasync(fd, (err) => {
        if (err) this.#log.warn({ err, dir: this.#dir }, 'signal spool: fdatasync failed')
        resolve()
      }),
    )
  }

  async #fsyncDir(): Promise<void> {
    try {
      const h = await openP(this.#dir, 'r')
      try {
        await h.sync()
      } finally {
        await h.close()
      }
    } catch (err) {
      this.#log.warn({ err, dir: this.#dir }, 'signal spool: fsync of the directory failed')
    }
  }
}

/** A spooled line as a signal object, or undefined when it is not a JSON object. */
function parseLine(text: string): Signal | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Signal) : undefined
  } catch {
    return undefined
  }
}

function readRange(fd: number, start: number, end: number): string {
  if (end <= start) return ''
  const buf = Buffer.allocUnsafe(end - start)
  const n = readSync(fd, buf, 0, end - start, start)
  return buf.toString('utf8', 0, n)
}

/** The line starting at `offset` (without its newline), or undefined when no newline ends it before `size`. */
function readLine(fd: number, offset: number, size: number): string | undefined {
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

/** Writes `name` atomically: tmp file, fsync, rename, fsync of the directory. */
async function writeAtomic(dir: string, name: string, tmpName: string, text: string): Promise<void> {
  const tmp = join(dir, tmpName)
  const h = await openP(tmp, 'w')
  try {
    await h.writeFile(text)
    await h.sync()
  } finally {
    await h.close()
  }
  await rename(tmp, join(dir, name))
  const d = await openP(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => closeFdCb(fd, () => resolve()))
}
