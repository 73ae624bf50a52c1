/**
 * Keeps a provider's baseline on disk at `<sidecar.data_dir>/baseline.json`, so a sidecar restart
 * continues the baseline instead of starting over.
 *
 * - {@link loadBaselineFile} reads it back at start. A file that is not a valid
 *   `hangar.baseline/v1` document (a crash mid-write cannot cause one: writes are atomic) is moved
 *   aside to `baseline.json.invalid-<ms>` and recording starts fresh; nothing is thrown.
 * - {@link BaselineKeeper} writes the recorder's snapshot every `flushIntervalMs` when its
 *   revision changed, and once more on {@link BaselineKeeper.close}. Each write replaces the file
 *   atomically and durably (core/atomic-write.ts, mode 0600), so a reader sees the old or the new
 *   document, never half of one. One write at a time; a failed write is
 *   logged (once per streak) and retried at the next interval.
 *
 * The file's size is bounded by the recorder's limits (see docs/baseline.md for the measured
 * worst case); it is rewritten whole, never appended to.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../core/atomic-write.js'
import type { Logger } from '../../core/log.js'
import type { BaselineRecorder } from './recorder.js'
import { parseBaseline, type Baseline } from '../../policy/baseline-schema.js'

/** The baseline file of a data dir. */
export function baselinePath(dataDir: string): string {
  return join(dataDir, 'baseline.json')
}

/**
 * Reads `<dataDir>/baseline.json`.
 * @returns the baseline, or undefined when there is none, it is invalid (moved aside and
 *   logged) or it belongs to another provider (logged, left in place)
 */
export function loadBaselineFile(dataDir: string, provider: string, log: Logger): Baseline | undefined {
  const path = baselinePath(dataDir)
  if (!existsSync(path)) return undefined
  let b: Baseline
  try {
    b = parseBaseline(JSON.parse(readFileSync(path, 'utf8')))
  } catch (err) {
    const aside = `${path}.invalid-${Date.now()}`
    try {
      renameSync(path, aside)
    } catch {
      /* left in place; overwritten by the next write */
    }
    log.warn({ path, moved_to: aside, err: (err as Error).message }, 'the baseline file is unreadable; recording starts fresh')
    return undefined
  }
  if (b.provider !== provider) {
    log.warn({ path, file_provider: b.provider, provider }, 'the baseline file belongs to another provider; recording starts fresh (the file will be overwritten)')
    return undefined
  }
  return b
}

/** Options of {@link BaselineKeeper}. */
export interface BaselineKeeperOptions {
  recorder: BaselineRecorder
  dataDir: string
  log: Logger
  /** ms between checks for a changed revision. Default 5000. */
  flushIntervalMs?: number
}

/** Writes the recorder's baseline to disk while the sidecar runs; see the file comment. */
export class BaselineKeeper {
  readonly #o: BaselineKeeperOptions
  readonly #path: string
  #saved = -1
  #writing: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #failing = false

  constructor(o: BaselineKeeperOptions) {
    this.#o = o
    this.#path = baselinePath(o.dataDir)
  }

  /** Starts the periodic writes. */
  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#o.flushIntervalMs ?? 5000)
    this.#timer.unref()
  }

  /** Writes the baseline now if it changed since the last write; resolves when it is on disk (or failed, logged). */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing.then(() => this.flush())
    const rev = this.#o.recorder.revision
    if (rev === this.#saved) return Promise.resolve()
    const p = this.#write(rev).finally(() => {
      this.#writing = undefined
    })
    this.#writing = p
    return p
  }

  async #write(rev: number): Promise<void> {
    const text = JSON.stringify(this.#o.recorder.snapshot())
    try {
      await mkdir(this.#o.dataDir, { recursive: true })
      await writeFileAtomic(this.#path, text, { mode: 0o600 })
      this.#saved = rev
      if (this.#failing) this.#o.log.info({ path: this.#path }, 'baseline written again')
      this.#failing = false
    } catch (err) {
      if (!this.#failing) this.#o.log.warn({ path: this.#path, err: (err as Error).message }, 'cannot write the baseline; retrying every interval')
      this.#failing = true
    }
  }

  /** Stops the timer and writes a last time. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }
}
