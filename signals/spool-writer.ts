/**
 * The writing end of the signal spool (signals/spool.ts): appends lines to the tail segment with a
 * synchronous `write(2)` (in the page cache, so they survive a SIGKILL, once the call returns),
 * rotates to a new segment, and group-commits fsync for power loss: the data with `fdatasync`,
 * and the directory when a segment file was created. A failed write leaves no partial line behind
 * when it can truncate it, and the next append uses a fresh file.
 */
import { fdatasync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { fsyncDir } from '../core/atomic-write.js'
import type { Logger } from '../core/log.js'
import { SPOOL_ERROR_CODES, SpoolError } from './spool-error.js'
import { closeFd } from './spool-files.js'
import { segmentName, type Segment } from './spool-format.js'

/** Appends to the tail segment and fsyncs (see the file comment). */
export class SegmentWriter {
  readonly #dir: string
  readonly #log: Logger
  #fd: number
  #broken = false
  #dirty = false
  #dirDirty: boolean
  #chain: Promise<void> = Promise.resolve()

  /**
   * @param fd the tail segment, opened for appending
   * @param dirDirty true when a segment file was created and the directory is not yet fsynced
   */
  constructor(dir: string, fd: number, dirDirty: boolean, log: Logger) {
    this.#dir = dir
    this.#fd = fd
    this.#dirDirty = dirDirty
    this.#log = log
  }

  /**
   * Appends `line` (ending with a newline) to the last segment of `segs`; first starts a new
   * segment (pushed onto `segs`) when the line would take a non-empty tail past `segmentBytes`, or
   * after a failed write. Updates the tail's `size` and `lines`.
   * @throws SpoolError `HANGAR_SPOOL_IO` when a segment cannot be created or the line cannot be
   *   written (the line is then not in the spool)
   */
  append(segs: Segment[], line: Buffer, segmentBytes: number): void {
    if (this.#broken) this.#replaceTail(segs)
    let tail = segs[segs.length - 1] as Segment
    if (tail.size > 0 && tail.size + line.length > segmentBytes) {
      this.#rotate(segs)
      tail = segs[segs.length - 1] as Segment
    }
    let off = 0
    try {
      while (off < line.length) off += writeSync(this.#fd, line, off, line.length - off)
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
    tail.size += line.length
    tail.lines++
    this.#dirty = true
  }

  /**
   * fsyncs everything appended so far (data, and the directory when a segment was created).
   * @returns resolves when done; errors are logged, never thrown
   */
  sync(): Promise<void> {
    const data = this.#dirty
    const dir = this.#dirDirty
    if (!data && !dir) return this.#chain
    const fd = this.#fd
    this.#dirty = false
    this.#dirDirty = false
    this.#chain = this.#chain.then(async () => {
      if (data) await this.#fdatasync(fd)
      if (dir) await this.#fsyncDir()
    })
    return this.#chain
  }

  /** Closes the tail's file after the fsyncs queued so far. Call {@link sync} first. */
  close(): Promise<void> {
    const fd = this.#fd
    this.#chain = this.#chain.then(() => closeFd(fd))
    return this.#chain
  }

  #path(seq: number): string {
    return join(this.#dir, segmentName(seq))
  }

  /** After a failed write: reopen the tail if it is still empty, else start a new segment. */
  #replaceTail(segs: Segment[]): void {
    const tail = segs[segs.length - 1] as Segment
    if (tail.size > 0) {
      this.#rotate(segs)
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
    this.#chain = this.#chain.then(() => closeFd(old))
  }

  /** Starts segment `tail + 1`; the old one is fsynced and closed in the background. */
  #rotate(segs: Segment[]): void {
    const seq = (segs[segs.length - 1] as Segment).seq + 1
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
    segs.push({ seq, size: 0, lines: 0 })
    this.#chain = this.#chain.then(async () => {
      if (wasDirty) await this.#fdatasync(old)
      await closeFd(old)
    })
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
      await fsyncDir(this.#dir)
    } catch (err) {
      this.#log.warn({ err, dir: this.#dir }, 'signal spool: fsync of the directory failed')
    }
  }
}
