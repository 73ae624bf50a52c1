/**
 * The audit log's retention (rules in audit-log.ts, "Retention" and "Size budget"; file formats in
 * audit-kept.ts): which rotated files are compacted, when kept files expire, how big the older
 * files are, and how room is made under the size budget. The AuditLog owns the current file and
 * calls in here; every method logs its own errors and never throws.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../core/log.js'
import type { Signal } from '../../signals/types.js'
import { listRotated, rotatedFileName } from './audit-files.js'
import { compactRotated, listKept, sweepKept, type KeptMeta } from './audit-kept.js'

/** Default `retentionMs`: 90 days. */
export const DEFAULT_RETENTION_MS = 90 * 24 * 3600 * 1000
/** How often the retention sweep runs besides rotations, ms (1 hour). */
const SWEEP_INTERVAL_MS = 3600 * 1000
/** After a failed attempt to make room, batches are refused at once for this long, ms. */
const FULL_BACKOFF_MS = 1000

export interface RetentionOptions {
  dir: string
  keepFiles: number
  /** Kept files grow by merging up to this size, bytes (the audit log's `maxBytes`). */
  mergeBytes: number
  retentionMs: number
  maxTotalBytes: number
  retain: (s: Signal) => boolean
  now: () => number
  log: Logger
  onRelease?: (r: { dropped: number; expired: number }) => void
}

/** Counters of the retention, for AuditLogStats. */
export interface RetentionStats {
  rotatedFiles: number
  keptFiles: number
  olderBytes: number
  droppedLines: number
  expiredSignals: number
}

/** The retention of one audit directory. */
export class AuditRetention {
  readonly #o: RetentionOptions
  readonly #keptMeta = new Map<string, KeptMeta>()
  readonly #timer: NodeJS.Timeout
  #fullUntil = 0
  readonly #stats: RetentionStats = { rotatedFiles: 0, keptFiles: 0, olderBytes: 0, droppedLines: 0, expiredSignals: 0 }

  constructor(o: RetentionOptions) {
    this.#o = o
    this.#timer = setInterval(() => void this.#maintain(() => this.#sweep()), SWEEP_INTERVAL_MS)
    this.#timer.unref()
  }

  stats(): RetentionStats {
    return { ...this.#stats }
  }

  /** True when `n` more bytes, with `current` bytes in the current file, stay within `maxTotalBytes`. */
  fits(current: number, n: number): boolean {
    return current + this.#stats.olderBytes + n <= this.#o.maxTotalBytes
  }

  /** Compacts rotated files beyond `keepFiles`, then sweeps expired kept files, then recounts. */
  async prune(): Promise<void> {
    await this.#maintain(async () => {
      const rotated = await listRotated(this.#o.dir)
      for (const f of rotated.slice(0, Math.max(0, rotated.length - this.#o.keepFiles))) await this.#compact(f.name, f.base)
      await this.#sweep()
    })
  }

  /**
   * Makes room for `n` bytes: expired kept files, then rotated files oldest first, then the
   * current file (`rotate()` renames it and returns its base, or null when it could not) are
   * given up; never a retained record within the retention. `current()` is the current file's size.
   * @returns whether `n` bytes fit now.
   */
  async makeRoom(n: number, current: () => number, rotate: () => Promise<number | null>): Promise<boolean> {
    const o = this.#o
    if (o.now() < this.#fullUntil) return false
    await this.#maintain(() => this.#sweep())
    for (const f of await listRotated(o.dir).catch(() => [])) {
      if (this.fits(current(), n)) return true
      await this.#maintain(() => this.#compact(f.name, f.base))
    }
    if (!this.fits(current(), n) && current() > 0) {
      const base = await rotate()
      if (base !== null) await this.#maintain(() => this.#compact(rotatedFileName(base), base))
    }
    if (this.fits(current(), n)) return true
    this.#fullUntil = o.now() + FULL_BACKOFF_MS
    o.log.error({ dir: o.dir, need: n, used: current() + this.#stats.olderBytes, max_total_bytes: o.maxTotalBytes }, 'audit log: retained records fill the size budget; refusing batches (507)')
    return false
  }

  /** Re-reads the number and size of the rotated and kept files. */
  async recount(): Promise<void> {
    const rotated = await listRotated(this.#o.dir)
    const kept = await listKept(this.#o.dir)
    let bytes = 0
    for (const f of [...rotated, ...kept]) bytes += await stat(join(this.#o.dir, f.name)).then((s) => s.size, () => 0)
    this.#stats.rotatedFiles = rotated.length
    this.#stats.keptFiles = kept.length
    this.#stats.olderBytes = bytes
  }

  /** Stops the hourly sweep. */
  close(): void {
    clearInterval(this.#timer)
  }

  /** Runs a maintenance step, logging (never throwing) its error, then recounts the files. */
  async #maintain(fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (err) {
      this.#o.log.error({ err }, 'audit log: retention maintenance failed')
    }
    await this.recount().catch((err: unknown) => this.#o.log.error({ err }, 'audit log: could not size its files'))
  }

  /** Compacts one rotated file into a kept file (audit-kept.ts). */
  async #compact(name: string, base: number): Promise<void> {
    const c = await compactRotated(this.#o.dir, name, base, this.#o.retain, this.#o.mergeBytes)
    if (c.keptFile) this.#keptMeta.delete(c.keptFile)
    this.#stats.droppedLines += c.dropped
    this.#released(c.dropped, 0)
    this.#o.log.info({ file: join(this.#o.dir, name), kept: c.kept, rotated_out: c.dropped, bytes_before: c.bytesBefore, bytes_after: c.bytesAfter }, 'audit log: observations rotated out, violation records kept')
  }

  /** Deletes kept files past the retention. */
  async #sweep(): Promise<void> {
    const o = this.#o
    const r = await sweepKept(o.dir, o.retentionMs, o.now(), (file, err) => o.log.error({ err, file }, 'audit log: unreadable kept file left in place'), this.#keptMeta)
    if (r.files === 0) return
    this.#stats.expiredSignals += r.signals
    this.#released(0, r.signals)
    o.log.info({ files: r.files, signals: r.signals, bytes: r.bytes, retention_ms: o.retentionMs }, 'audit log: retention sweep deleted expired violation records')
  }

  #released(dropped: number, expired: number): void {
    if (!this.#o.onRelease || (dropped === 0 && expired === 0)) return
    try {
      this.#o.onRelease({ dropped, expired })
    } catch (err) {
      this.#o.log.error({ err }, 'audit log: release hook failed')
    }
  }
}
