/**
 * The sidecar's durable signal spool: a segmented write-ahead log of JSON lines, shipped in order
 * by signals/shipper.ts ("on any failure … a disk spool that it replays in order; nothing is
 * dropped silently (a full spool drops oldest and counts it)").
 *
 * Layout in `dir`:
 * - `spool-<seq, 12 digits>.jsonl`: segments, one signal per line; the last one is appended to and
 *   rotated when the next line would take it past `segmentBytes`.
 * - `spool.cursor`: `{"segment":N,"offset":B}`, the first unshipped line; replaced atomically
 *   (core/atomic-write.ts: temporary file, fsync, rename, fsync of the directory) after each
 *   acknowledged batch. Segments wholly before the cursor are deleted.
 *
 * Durability (signals/spool-writer.ts): {@link Spool.append} writes the line with a synchronous
 * `write(2)`, so once it returns the line is in the kernel page cache and survives a SIGKILL of
 * the process. fsync is group-committed for power loss: every `fsyncIntervalMs` and whenever
 * {@link Spool.sync} is called (the shipper calls it before each batch). A power cut can lose the
 * last `fsyncIntervalMs` of signals and tear the last line.
 *
 * Recovery on open (signals/spool-recover.ts): resume at the cursor; a torn last line is
 * reported in {@link Spool.recovered} and truncated away. An unparsable line in the middle is
 * found by {@link Spool.readBatch} (signals/spool-read.ts), skipped, logged and reported once.
 *
 * Bound: when the segment files would exceed `maxBytes`, the oldest segments are dropped whole
 * (never the one being written); {@link Spool.append} returns what was dropped so the caller can
 * count it and emit a `signals_dropped` signal. Lines of a dropped segment that an in-flight batch
 * was already carrying are counted as dropped too (an over-count, never an under-count).
 *
 * One process per directory: the spool takes no lock, so two sidecars must not share a dir.
 * The spool is single-threaded state: call it from one event loop only.
 */
import { unlinkSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../core/atomic-write.js'
import { silentLogger, type Logger } from '../core/log.js'
import type { Signal } from './types.js'
import { SPOOL_ERROR_CODES, SpoolError } from './spool-error.js'
import { countLines, lineTimes } from './spool-files.js'
import { compareCursor, CURSOR_FILE, formatCursor, segmentName, segmentsToDrop, type Cursor, type Segment } from './spool-format.js'
import { readSegments } from './spool-read.js'
import { recoverSpool } from './spool-recover.js'
import type { SpoolBatch, SpoolDrop, SpoolOptions } from './spool-types.js'
import { SegmentWriter } from './spool-writer.js'

export type { Cursor } from './spool-format.js'

const MiB = 1024 * 1024

/** The durable, segmented write-ahead spool of one sidecar. */
export class Spool {
  readonly #dir: string
  readonly #segmentBytes: number
  readonly #maxBytes: number
  readonly #log: Logger
  #segs: Segment[] = []
  #cursor: Cursor = { segment: 1, offset: 0 }
  #writer!: SegmentWriter
  #pending = 0
  #closed = false
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
      const r = recoverSpool(dir, s.#log)
      s.#segs = r.segments
      s.#cursor = r.cursor
      s.#pending = r.pending
      s.#writer = new SegmentWriter(dir, r.fd, r.dirDirty, s.#log)
      s.recovered.push(...r.recovered)
    } catch (err) {
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
    this.#writer.append(this.#segs, Buffer.from(JSON.stringify(signal) + '\n'), this.#segmentBytes)
    this.#pending++
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
    const from = { ...this.#cursor }
    const r = readSegments({ segments: this.#segs, path: (seq) => this.#path(seq), markCorrupt: (seq, offset, bytes) => this.#markCorrupt(seq, offset, bytes) }, from, max, maxBytes)
    this.#lastRead = { from, end: { ...r.end }, endCount: r.endCount }
    const tail = this.#tail()
    const more = r.end.segment !== tail.seq || r.end.offset < tail.size
    return { signals: r.signals, lines: r.lines, bytes: r.bytes, end: r.end, corrupt: r.corrupt > 0 ? { reason: 'corrupt', count: r.corrupt } : undefined, more }
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
    else endCount = countLines(this.#path(endSeg.seq), endSeg.seq, endSeg.seq === this.#cursor.segment ? this.#cursor.offset : 0, end.offset)
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
    return this.#writer.sync()
  }

  /** Stops the fsync timer, fsyncs, waits for the cursor file, closes the files. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    if (this.#timer) clearInterval(this.#timer)
    await this.sync()
    this.#closed = true
    await this.#writer.close()
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

  /** Records an unparsable line; true the first time this position is seen. */
  #markCorrupt(seq: number, offset: number, bytes: number): boolean {
    const key = `${seq}:${offset}`
    if (this.#corruptSeen.has(key)) return false
    if (this.#corruptSeen.size > 10_000) this.#corruptSeen.clear()
    this.#corruptSeen.add(key)
    this.#log.warn({ dir: this.#dir, segment: seq, offset, bytes }, 'signal spool: unparsable line skipped (counted as dropped)')
    return true
  }

  /** Drops the `n` oldest segments (spool full). */
  #dropOldest(n: number): SpoolDrop | undefined {
    let count = 0
    let oldest: string | undefined
    let newest: string | undefined
    for (const s of this.#segs.slice(0, n)) {
      const from = s.seq === this.#cursor.segment ? this.#cursor.offset : 0
      if (s.lines > 0) {
        const t = lineTimes(this.#path(s.seq), s.size, from)
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

  /** Queues an atomic cursor write (coalesced), then deletes `removed` segments. */
  #persistCursor(removed: number[]): Promise<void> {
    this.#toDelete.push(...removed)
    if (this.#cursorQueued) return this.#cursorQueued
    const run = this.#cursorChain.then(async () => {
      this.#cursorQueued = undefined
      const c = { ...this.#cursor }
      const del = this.#toDelete.splice(0)
      try {
        await writeFileAtomic(join(this.#dir, CURSOR_FILE), formatCursor(c))
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
}
