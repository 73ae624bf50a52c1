/**
 * The `file` transport: records appended to a file, one per line, fsynced before a batch counts as
 * sent, rotated by size (`<path>` → `<path>.1` → … → `<path>.<keep_files>`, the oldest deleted;
 * the logrotate `rotate N` naming), so a log shipper tailing `<path>` by name follows it.
 */
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fsyncDir } from '../../../core/atomic-write.js'
import { TransportError, type ExportRecord, type SendResult, type Transport } from './types.js'

export interface FileTransportOptions {
  path: string
  /** Rotation size, bytes: a batch that would take the file past it goes to a new file. */
  rotateBytes: number
  /** Rotated files kept. */
  keepFiles: number
}

/** Appends batches to a rotating file. */
export class FileTransport implements Transport {
  readonly name = 'file'
  #fh: FileHandle | undefined
  #size = 0

  constructor(private readonly o: FileTransportOptions) {}

  async #open(): Promise<FileHandle> {
    if (this.#fh) return this.#fh
    await mkdir(dirname(this.o.path), { recursive: true })
    this.#fh = await open(this.o.path, 'a', 0o640)
    this.#size = (await this.#fh.stat()).size
    return this.#fh
  }

  async #rotate(): Promise<void> {
    await this.#fh?.close()
    this.#fh = undefined
    const p = this.o.path
    await unlink(`${p}.${this.o.keepFiles}`).catch(() => {})
    for (let n = this.o.keepFiles - 1; n >= 1; n--) {
      try {
        await stat(`${p}.${n}`)
        await rename(`${p}.${n}`, `${p}.${n + 1}`)
      } catch { /* not there */ }
    }
    await rename(p, `${p}.1`)
    await fsyncDir(dirname(p))
  }

  /**
   * Appends the batch (one write, one fsync).
   * @throws TransportError `file` when the file cannot be opened, written or synced.
   */
  async send(batch: readonly ExportRecord[]): Promise<SendResult> {
    const data = Buffer.from(batch.map((r) => r.text + '\n').join(''), 'utf8')
    try {
      let fh = await this.#open()
      if (this.#size > 0 && this.#size + data.length > this.o.rotateBytes) {
        await this.#rotate()
        fh = await this.#open()
      }
      await fh.write(data)
      await fh.datasync()
      this.#size += data.length
    } catch (err) {
      await this.#fh?.close().catch(() => {})
      this.#fh = undefined
      throw new TransportError('file', `${this.o.path}: ${(err as Error).message}`)
    }
    return { rejected: [] }
  }

  async close(): Promise<void> {
    const fh = this.#fh
    this.#fh = undefined
    await fh?.close()
  }
}
