/**
 * The audit log (DESIGN.md §7): every accepted signal as one JSON line, appended and fsynced
 * before the aggregator answers 202. It is the first SIEM feed and the store's only persistence:
 * the index and the dedup set are rebuilt from it at start-up ({@link AuditLog.replayBatches}).
 *
 * Files (see audit-files.ts): `<dir>/audit.jsonl` is appended to; when a batch would take it past
 * `maxBytes` it is renamed to `audit-<first seq>.jsonl` (rename-and-create, the logrotate `create`
 * way, so a shipper tailing by name follows it) and a new `audit.jsonl` is started.
 *
 * Retention (docs/signals.md, "Retention"): the newest `keepFiles` rotated files are kept whole.
 * An older one is compacted into `kept-<base>.jsonl` (audit-kept.ts): its violation records
 * (`retain`, default signals/retention.ts `isRetained`) stay, its observations are rotated out. A
 * kept file is deleted by the retention sweep (at open, after each rotation, hourly) once
 * `retentionMs` has passed since its last line was received. Rotated-out observations are gone
 * for the SIEM and for the rebuild too: after a restart the dedup set, the counters and the
 * queries no longer know them.
 *
 * Size budget (`maxTotalBytes`, the whole directory): before a batch would pass it, expired kept
 * files are swept, then rotated files are compacted oldest first (even inside `keepFiles`), then
 * the current file is rotated and compacted. If the retained records alone still leave no room,
 * the batch is refused with {@link AuditFullError} (`budget`; the API answers 507) and nothing
 * retained is deleted. A write failing with ENOSPC or EDQUOT is undone and refused the same way
 * (`disk_full`). Refusals are counted in {@link AuditLogStats}.
 *
 * Sequence numbers: every line has one, `seq` = the base of its file + its line index, starting
 * at 1. They are stable across restarts (a file's base is in its name, the current file's in
 * state.json), never reused, and survive the deletion of old files; a corrupt line keeps its
 * number (it is just not a signal), so later numbers do not shift.
 *
 * Appends are group-committed: while one write + fdatasync is in flight, later batches queue; the
 * next write takes every queued batch that fits (one write, one fdatasync for all of them). A batch
 * is never split: all of its lines go in one write to one file. A failed write or fsync is undone
 * (ftruncate back to the size before it), so a rejected batch leaves nothing behind; if even that
 * fails, the log refuses every later append ({@link AuditLog.healthy} false) until restarted.
 *
 * Torn tail: on open, a current file ending in a partial line or in garbage lines (a power cut
 * during a write that was never acknowledged) is cut back to its last valid line. The cut bytes
 * are saved to `audit.jsonl.torn-<offset>` and one warning names the file and the offset.
 */
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../core/log.js'
import type { Signal } from '../../signals/types.js'
import { isRetained } from '../../signals/retention.js'
import { fsyncDir } from '../../core/atomic-write.js'
import { CURRENT_FILE, listRotated, readState, rotatedFileName, saveTornBytes, writeState } from './audit-files.js'
import { listKept, readKeptHeader, replayKept, type KeptHeader } from './audit-kept.js'
import { AuditRetention, DEFAULT_RETENTION_MS } from './audit-retention.js'
import { encodeLines, findTornTail, parseAuditLine } from './audit-lines.js'
import { AuditFullError, AuditOpenError, AuditWriteError, StoreClosedError } from './errors.js'
import { countLines, readLineBatches } from './line-reader.js'

/** Default `maxBytes`: 100 MiB. */
export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024
/** Default `keepFiles`: 10 rotated files. */
export const DEFAULT_KEEP_FILES = 10
export { DEFAULT_RETENTION_MS } from './audit-retention.js'
/** One group commit writes at most this many bytes (more queued batches wait for the next). */
const MAX_GROUP_BYTES = 8 * 1024 * 1024
/** The torn-tail scan looks at most this far back from the end of the file. */
const MAX_TAIL_WINDOW = 64 * 1024 * 1024
/** Corrupt lines logged one by one per replay; the rest only counted (and summed up in one line). */
const MAX_CORRUPT_LOGGED = 100

export interface AuditLogOptions {
  /** The audit directory (`<data_dir>/audit`); created when missing. */
  dir: string
  /** Rotate before a batch would take `audit.jsonl` past this many bytes (default 100 MiB). A single batch larger than this gets a file of its own. */
  maxBytes?: number
  /** Rotated files kept whole (default 10; 0 keeps none); older ones keep only their violation records. */
  keepFiles?: number
  /** Violation records are kept at least this long after they were received, ms (default 90 days). */
  retentionMs?: number
  /** Budget of the whole audit directory, bytes (default: no budget, only the disk); at least 2 × `maxBytes`. */
  maxTotalBytes?: number
  /** Which records outlive `keepFiles` (default signals/retention.ts `isRetained`). */
  retain?: (s: Signal) => boolean
  /** Wall clock of the retention sweep, ms since the epoch (tests). */
  now?: () => number
  /** Told how many records were rotated out (`dropped`) and expired by the retention sweep (`expired`). */
  onRelease?: (r: { dropped: number; expired: number }) => void
  log: Logger
  /**
   * Called synchronously, in log order, once a batch is durable and before its
   * {@link AuditLog.appendBatch} promise resolves: `firstSeq` is the sequence number of its first
   * signal, the rest follow one by one. An exception here is logged, never undoes the append.
   */
  onCommit?: (firstSeq: number, signals: readonly Signal[]) => void
}

/** What an append made durable. */
export interface AppendResult {
  /** Sequence number of the batch's first signal (the others follow); for an empty batch, the next free one. */
  firstSeq: number
  count: number
}

/** One replayed signal with its sequence number. */
export interface ReplayedSignal {
  seq: number
  signal: Signal
}

/** Counters for /metrics and tests. */
export interface AuditLogStats {
  /** Sequence number the next appended signal gets. */
  nextSeq: number
  /** Bytes in `audit.jsonl`. */
  currentBytes: number
  /** Rotated files on disk. */
  rotatedFiles: number
  /** Batches made durable since open. */
  batches: number
  /** write + fdatasync rounds since open (≤ batches: group commit). */
  commits: number
  bytesWritten: number
  /** Batches rejected because a write or fsync failed. */
  failedBatches: number
  /** Lines skipped by replays because they are not signals. */
  corruptLines: number
  /** Bytes cut from a torn tail at open (0 when the file was clean). */
  tornBytes: number
  /** Kept files on disk (violation records of compacted rotated files). */
  keptFiles: number
  /** Bytes of rotated and kept files (the current file is `currentBytes`). */
  olderBytes: number
  /** Records rotated out (observations, unreadable lines) since open. */
  droppedLines: number
  /** Retained records deleted by the retention sweep since open. */
  expiredSignals: number
  /** Batches refused for lack of room since open, by reason. */
  refused: { budget: number; disk_full: number }
}

interface Pending {
  signals: readonly Signal[]
  bytes: Buffer
  resolve: (r: AppendResult) => void
  reject: (e: Error) => void
}

/** The append-only, size-rotated, fsynced JSON-lines audit log. Create with {@link AuditLog.open}. */
export class AuditLog {
  readonly dir: string
  readonly #maxBytes: number
  readonly #keepFiles: number
  readonly #log: Logger
  readonly #onCommit: AuditLogOptions['onCommit']
  #fh: FileHandle
  #size: number
  #currentBase: number
  #nextSeq: number
  #queue: Pending[] = []
  #writing = false
  #drain: Promise<void> = Promise.resolve()
  #failed: Error | null = null
  #closed = false
  readonly #retention: AuditRetention
  readonly #maxTotalBytes: number
  readonly #stats = { batches: 0, commits: 0, bytesWritten: 0, failedBatches: 0, corruptLines: 0, tornBytes: 0, refused: { budget: 0, disk_full: 0 } }

  private constructor(opts: AuditLogOptions, fh: FileHandle, size: number, currentBase: number, currentLines: number, tornBytes: number) {
    this.dir = opts.dir
    this.#maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
    this.#keepFiles = opts.keepFiles ?? DEFAULT_KEEP_FILES
    this.#log = opts.log
    this.#onCommit = opts.onCommit
    this.#fh = fh
    this.#size = size
    this.#currentBase = currentBase
    this.#nextSeq = currentBase + currentLines
    this.#stats.tornBytes = tornBytes
    this.#maxTotalBytes = opts.maxTotalBytes ?? Infinity
    this.#retention = new AuditRetention({
      dir: opts.dir, keepFiles: this.#keepFiles, mergeBytes: this.#maxBytes, retentionMs: opts.retentionMs ?? DEFAULT_RETENTION_MS, maxTotalBytes: this.#maxTotalBytes,
      retain: opts.retain ?? isRetained, now: opts.now ?? Date.now, log: opts.log, ...(opts.onRelease && { onRelease: opts.onRelease }),
    })
  }

  /**
   * Opens (creating when needed) the audit log in `opts.dir`: repairs a torn tail of
   * `audit.jsonl`, works out the next sequence number, prunes rotated files beyond `keepFiles`.
   * @throws AuditOpenError (`HANGAR_AUDIT_OPEN_FAILED`) when the directory or file cannot be used.
   * @throws RangeError for a `maxBytes` below 1 or a negative `keepFiles`.
   */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
    const keepFiles = opts.keepFiles ?? DEFAULT_KEEP_FILES
    if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 1)) throw new RangeError(`maxBytes must be a whole number of bytes ≥ 1, got ${maxBytes}`)
    if (!(Number.isSafeInteger(keepFiles) && keepFiles >= 0)) throw new RangeError(`keepFiles must be a whole number ≥ 0, got ${keepFiles}`)
    if (opts.retentionMs !== undefined && !(opts.retentionMs > 0)) throw new RangeError(`retentionMs must be > 0, got ${opts.retentionMs}`)
    if (opts.maxTotalBytes !== undefined && !(opts.maxTotalBytes >= 2 * maxBytes)) throw new RangeError(`maxTotalBytes must be at least 2 × maxBytes (${2 * maxBytes}), got ${opts.maxTotalBytes}`)
    const path = join(opts.dir, CURRENT_FILE)
    let fh: FileHandle
    try {
      await mkdir(opts.dir, { recursive: true })
      const existed = await stat(path).then(() => true, () => false)
      fh = await open(path, 'a+')
      if (!existed) await fsyncDir(opts.dir)
    } catch (err) {
      throw new AuditOpenError(`cannot open the audit log in ${opts.dir}: ${(err as Error).message}`, { cause: err })
    }
    try {
      const torn = await repairTornTail(fh, path, opts.log)
      const size = (await fh.stat()).size
      const currentLines = await countLines(fh, size)
      const rotated = await listRotated(opts.dir)
      let base = (await readState(opts.dir)) ?? 1
      const newest = rotated.at(-1)
      const newestKept = (await listKept(opts.dir)).at(-1)
      if (newest && newest.base >= base && !(newestKept && newestKept.base > newest.base)) {
        // state.json predates the newest rotation (a crash between the rename and the state
        // write, or state.json lost): the current file starts right after that rotated file.
        const rfh = await open(join(opts.dir, newest.name), 'r')
        try {
          base = newest.base + (await countLines(rfh, (await rfh.stat()).size))
        } finally {
          await rfh.close()
        }
      } else if (newestKept && newestKept.base >= base) {
        // The same, when the newest rotated file was already compacted: its header has its span.
        const h = await readKeptHeader(join(opts.dir, newestKept.name))
        base = h.base + h.lines
      }
      const log = new AuditLog(opts, fh, size, base, currentLines, torn)
      await log.#retention.recount()
      await log.#retention.prune()
      return log
    } catch (err) {
      await fh.close().catch(() => {})
      if (err instanceof AuditOpenError) throw err
      throw new AuditOpenError(`cannot open the audit log in ${opts.dir}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** False once a failed write could not be undone: every append is refused from then on. */
  get healthy(): boolean {
    return this.#failed === null && !this.#closed
  }

  /** The sequence number the next appended signal will get. */
  get nextSeq(): number {
    return this.#nextSeq
  }

  stats(): AuditLogStats {
    return { nextSeq: this.#nextSeq, currentBytes: this.#size, ...this.#retention.stats(), ...this.#stats, refused: { ...this.#stats.refused } }
  }

  /**
   * Appends the signals as one group of lines and resolves once they are written and fdatasynced
   * (only then may the caller acknowledge them). Concurrent calls are queued and committed in call
   * order, several per fsync. The signals are serialised at once (later mutation does not matter).
   * @throws AuditWriteError (`HANGAR_AUDIT_WRITE_FAILED`) when the write or fsync failed (nothing of
   *   the batch is kept) or the log is failed; StoreClosedError after {@link close}.
   */
  appendBatch(signals: readonly Signal[]): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new StoreClosedError('audit log'))
    if (this.#failed) return Promise.reject(new AuditWriteError(`audit log is failed: ${this.#failed.message}`, { cause: this.#failed }))
    if (signals.length === 0) return Promise.resolve({ firstSeq: this.#nextSeq, count: 0 })
    const bytes = Buffer.from(encodeLines(signals), 'utf8')
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ signals, bytes, resolve, reject })
      if (!this.#writing) {
        this.#writing = true
        this.#drain = this.#run()
      }
    })
  }

  /**
   * The writer loop; never rejects (an unexpected error fails the log and every queued batch).
   * `#writing` is cleared in the same synchronous step that finds the queue empty, so a batch
   * queued by a continuation of the last resolved one always starts a new loop.
   */
  async #run(): Promise<void> {
    try {
      await this.#commitQueued()
    } catch (err) {
      this.#failed = err instanceof Error ? err : new Error(String(err))
      this.#log.fatal({ err }, 'audit log: writer failed; refusing appends until restart')
      const e = new AuditWriteError(`audit log is failed: ${this.#failed.message}`, { cause: err })
      for (const p of this.#queue.splice(0)) p.reject(e)
      this.#writing = false
    }
  }

  async #commitQueued(): Promise<void> {
    for (;;) {
      if (this.#queue.length === 0) {
        this.#writing = false
        return
      }
      if (this.#failed) {
        const e = new AuditWriteError(`audit log is failed: ${this.#failed.message}`, { cause: this.#failed })
        for (const p of this.#queue.splice(0)) p.reject(e)
        continue
      }
      const first = this.#queue[0]!
      if (this.#size > 0 && this.#size + first.bytes.length > this.#maxBytes) await this.#rotate()
      if (!this.#fits(first.bytes.length) && !(await this.#retention.makeRoom(first.bytes.length, () => this.#size, () => this.#rotateForRoom()))) {
        this.#queue.shift()
        this.#stats.refused.budget++
        first.reject(new AuditFullError('budget', `the audit log has no room for ${first.bytes.length} bytes: retained records fill audit_max_total_bytes (${this.#maxTotalBytes}); nothing was written`))
        continue
      }
      // Take whole batches while they fit in this file and the budget (the first always goes).
      let n = 1
      let bytes = first.bytes.length
      while (n < this.#queue.length) {
        const next = this.#queue[n]!.bytes.length
        if (this.#size + bytes + next > this.#maxBytes || bytes + next > MAX_GROUP_BYTES || !this.#fits(bytes + next)) break
        bytes += next
        n++
      }
      const group = this.#queue.splice(0, n)
      const buf = n === 1 ? first.bytes : Buffer.concat(group.map((p) => p.bytes), bytes)
      const before = this.#size
      try {
        await writeAll(this.#fh, buf)
        await this.#fh.datasync()
      } catch (err) {
        await this.#undo(before, err)
        const code = (err as NodeJS.ErrnoException).code
        // A full disk is a refusal (507) only when the undo worked; otherwise the log is failed.
        const full = (code === 'ENOSPC' || code === 'EDQUOT') && this.#failed === null
        if (full) this.#stats.refused.disk_full += group.length
        const e = full
          ? new AuditFullError('disk_full', `the disk under ${this.dir} is full (${code}); the batch was not stored`, { cause: err })
          : new AuditWriteError(`audit log write failed, the batch was not stored: ${(err as Error).message}`, { cause: err })
        this.#stats.failedBatches += group.length
        for (const p of group) p.reject(e)
        continue
      }
      this.#size += buf.length
      this.#stats.commits++
      this.#stats.batches += group.length
      this.#stats.bytesWritten += buf.length
      const results: AppendResult[] = []
      for (const p of group) {
        const firstSeq = this.#nextSeq
        this.#nextSeq += p.signals.length
        results.push({ firstSeq, count: p.signals.length })
        if (this.#onCommit) {
          try {
            this.#onCommit(firstSeq, p.signals)
          } catch (err) {
            this.#log.error({ err }, 'audit log: commit hook failed')
          }
        }
      }
      group.forEach((p, i) => p.resolve(results[i]!))
    }
  }

  /** Cuts the file back to `size` after a failed write; when that fails too, the log is failed. */
  async #undo(size: number, cause: unknown): Promise<void> {
    try {
      await this.#fh.truncate(size)
      await this.#fh.datasync()
      this.#log.error({ err: cause, file: join(this.dir, CURRENT_FILE), offset: size }, 'audit log: write failed; batch rolled back')
    } catch (err) {
      this.#failed = cause instanceof Error ? cause : new Error(String(cause))
      this.#log.fatal({ err, cause, file: join(this.dir, CURRENT_FILE), offset: size }, 'audit log: write failed and could not be rolled back; refusing appends until restart')
    }
  }

  /** True when `n` more bytes keep the directory within `maxTotalBytes`. */
  #fits(n: number): boolean {
    return this.#retention.fits(this.#size, n)
  }

  /** Rotates for the size budget: @returns the base of the file rotated out, or null when it was not. */
  async #rotateForRoom(): Promise<number | null> {
    const base = this.#currentBase
    await this.#rotate()
    return this.#currentBase !== base ? base : null
  }

  /** Renames `audit.jsonl` to `audit-<base>.jsonl` and starts a new one, then prunes. */
  async #rotate(): Promise<void> {
    const current = join(this.dir, CURRENT_FILE)
    const rotatedName = rotatedFileName(this.#currentBase)
    try {
      await this.#fh.close()
      await rename(current, join(this.dir, rotatedName))
    } catch (err) {
      // Could not rotate: keep appending to the current file (it grows past maxBytes).
      this.#log.error({ err, file: current }, 'audit log: rotation failed; appending to the current file')
      this.#fh = await open(current, 'a+')
      return
    }
    this.#fh = await open(current, 'a+')
    this.#size = 0
    this.#currentBase = this.#nextSeq
    try {
      await writeState(this.dir, this.#currentBase) // also fsyncs the directory (rename + create)
    } catch (err) {
      this.#log.error({ err }, 'audit log: could not write state.json; the next open derives the base from the rotated file')
    }
    this.#log.info({ file: join(this.dir, rotatedName), next_seq: this.#nextSeq }, 'audit log rotated')
    await this.#retention.prune()
  }

  /**
   * Every signal in the log, oldest rotated file first, then `audit.jsonl` (up to its size when
   * the replay starts), in batches (one per read chunk). Lines that are not signals are skipped,
   * counted in `corruptLines` and logged with file and byte offset (the first 100 one by one).
   * Meant for the rebuild at start-up, before appends.
   */
  async *replayBatches(): AsyncGenerator<ReplayedSignal[]> {
    type Source = { path: string; base: number; end?: number; kept?: KeptHeader }
    // A crash during a compaction can leave a rotated file beside the kept file that has its
    // lines (audit-kept.ts): each sequence number is read once.
    const rotated = await listRotated(this.dir)
    const bases = new Set(rotated.map((f) => f.base))
    const kept: Source[] = []
    for (const k of await listKept(this.dir)) {
      if (bases.has(k.base)) continue // the rotated file with the same base is complete
      const path = join(this.dir, k.name)
      try {
        kept.push({ path, base: k.base, kept: await readKeptHeader(path) })
      } catch (err) {
        this.#log.error({ err, file: path }, 'audit log: unreadable kept file skipped by the rebuild')
      }
    }
    const merged = (base: number): boolean => kept.some((k) => k.base < base && base < k.base + k.kept!.lines)
    const files: Source[] = [...rotated.filter((f) => !merged(f.base)).map((f) => ({ path: join(this.dir, f.name), base: f.base })), ...kept]
    files.sort((a, b) => a.base - b.base)
    files.push({ path: join(this.dir, CURRENT_FILE), base: this.#currentBase, end: this.#size })
    let logged = 0
    let corrupt = 0
    for (const f of files) {
      if (f.kept) {
        yield* replayKept(f.path, f.kept)
        continue
      }
      let index = 0
      try {
        for await (const lines of readLineBatches(f.path, f.end)) {
          const out: ReplayedSignal[] = []
          for (const line of lines) {
            const seq = f.base + index++
            const signal = parseAuditLine(line.text)
            if (signal) {
              out.push({ seq, signal })
              continue
            }
            corrupt++
            this.#stats.corruptLines++
            if (logged++ < MAX_CORRUPT_LOGGED) this.#log.warn({ file: f.path, offset: line.offset, seq, bytes: Buffer.byteLength(line.text) }, 'audit log: corrupt line skipped')
          }
          if (out.length) yield out
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue // pruned meanwhile
        throw err
      }
    }
    if (corrupt > MAX_CORRUPT_LOGGED) this.#log.warn({ corrupt_lines: corrupt, logged: MAX_CORRUPT_LOGGED }, 'audit log: more corrupt lines skipped than logged')
  }

  /** {@link replayBatches}, one signal at a time. */
  async *replay(): AsyncGenerator<ReplayedSignal> {
    for await (const batch of this.replayBatches()) yield* batch
  }

  /** Waits for queued appends, then closes the file. Later appends are refused. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#retention.close()
    while (this.#writing) await this.#drain
    await this.#fh.close()
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null)
    if (bytesWritten <= 0) throw new Error('write returned 0 bytes')
    off += bytesWritten
  }
}

/**
 * Cuts a torn tail off the current file (see {@link findTornTail}), saving the bytes to
 * `<file>.torn-<offset>` and logging one warning. Also makes sure a non-empty file ends with `\n`
 * (a line longer than the scan window is closed off as one corrupt line). Returns the bytes cut.
 */
async function repairTornTail(fh: FileHandle, path: string, log: Logger): Promise<number> {
  const size = (await fh.stat()).size
  if (size === 0) return 0
  let windowSize = Math.min(size, 1 << 20)
  let torn = findTornTail(await readAt(fh, size - windowSize, windowSize), size - windowSize)
  while (!torn.settled && windowSize < Math.min(size, MAX_TAIL_WINDOW)) {
    windowSize = Math.min(size, windowSize * 4, MAX_TAIL_WINDOW)
    torn = findTornTail(await readAt(fh, size - windowSize, windowSize), size - windowSize)
  }
  let cut = torn.cut
  if (cut < size) {
    const bytes = await readAt(fh, cut, size - cut)
    const copy = await saveTornBytes(path, cut, bytes)
    await fh.truncate(cut)
    await fh.datasync()
    log.warn({ file: path, offset: cut, bytes: size - cut, copy }, 'audit log: torn tail detected and cut off (never acknowledged)')
  }
  if (cut > 0 && (await readAt(fh, cut - 1, 1))[0] !== 0x0a) {
    await fh.write('\n')
    await fh.datasync()
    log.warn({ file: path, offset: cut }, 'audit log: last line longer than the scan window; closed with a newline (it will be skipped as corrupt)')
    cut += 1
  }
  return size - Math.min(size, cut)
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  let off = 0
  while (off < length) {
    const { bytesRead } = await fh.read(buf, off, length - off, position + off)
    if (bytesRead === 0) break
    off += bytesRead
  }
  return buf.subarray(0, off)
}
