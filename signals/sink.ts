/**
 * Where signals go. The sidecar's decision code calls {@link SignalSink.emit} and never waits:
 * a sink must not block the data path. The aggregator shipper (signals/shipper.ts) is one
 * implementation; {@link JsonLinesSink} writes JSON lines to a file or stdout.
 */
import { createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs'
import { dirname } from 'node:path'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { Signal } from './types.js'

/** The port every signal producer writes to. */
export interface SignalSink {
  /** Accepts one signal; never throws, never blocks the caller. */
  emit(signal: Signal): void
  /** Flushes what is buffered; resolves when it is written (or handed on). */
  flush(): Promise<void>
  /** Flushes and releases resources. */
  close(): Promise<void>
}

/**
 * Writes each signal as one JSON line (to a file path, or to stdout with `-`).
 *
 * The file is opened when the sink is made, so a path that cannot be written (a directory, no
 * permission) fails the sidecar's start instead of its first signal. A write that fails later
 * (disk full, EIO) never reaches the caller: the sink reports it once on stderr, drops every
 * later line and counts them in {@link JsonLinesSink.dropped}.
 * @throws HangarError `HANGAR_CONFIG_INVALID` naming the path when the file cannot be opened for appending
 */
export class JsonLinesSink implements SignalSink {
  readonly #out: WriteStream | NodeJS.WriteStream
  readonly #owned: boolean
  #failed = false
  #dropped = 0
  constructor(target: string) {
    if (target === '-') {
      this.#out = process.stdout
      this.#owned = false
    } else {
      let fd: number
      try {
        mkdirSync(dirname(target), { recursive: true })
        fd = openSync(target, 'a', 0o600)
      } catch (err) {
        throw new HangarError(ERROR_CODES.CONFIG_INVALID, `signal log ${target} cannot be opened for appending: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
      }
      this.#out = createWriteStream(target, { fd })
      this.#owned = true
      this.#out.on('error', (err: NodeJS.ErrnoException) => {
        if (this.#failed) return
        this.#failed = true
        process.stderr.write(`mcp-hangar: signal log ${target} failed (${err.code ?? err.message}); later signals to it are dropped and counted\n`)
      })
    }
  }
  /** Lines dropped because the file failed (0 while it works). */
  get dropped(): number {
    return this.#dropped
  }
  emit(signal: Signal): void {
    if (this.#failed) {
      this.#dropped++
      return
    }
    this.#out.write(JSON.stringify(signal) + '\n')
  }
  /** Resolves once every earlier line is written (a write's callback runs after all before it), or at once after a failure. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#failed || this.#out.writableLength === 0) return resolve()
      this.#out.write('', () => resolve())
    })
  }
  async close(): Promise<void> {
    await this.flush()
    if (this.#owned && !this.#failed) await new Promise<void>((resolve) => (this.#out as WriteStream).end(() => resolve()))
    else if (this.#owned) (this.#out as WriteStream).destroy()
  }
}

/** Keeps signals in memory (tests, the admin endpoint's recent view). Bounded: oldest dropped. */
export class MemorySink implements SignalSink {
  readonly signals: Signal[] = []
  readonly #max: number
  #waiters: Array<{ pred: (s: Signal) => boolean; resolve: (s: Signal) => void }> = []
  constructor(max = 100_000) {
    this.#max = max
  }
  emit(signal: Signal): void {
    this.signals.push(signal)
    if (this.signals.length > this.#max) this.signals.shift()
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred(signal)) return true
      w.resolve(signal)
      return false
    })
  }
  /** Resolves with the first signal (already emitted or future) that satisfies `pred`. */
  waitFor(pred: (s: Signal) => boolean, timeoutMs = 5000): Promise<Signal> {
    const have = this.signals.find(pred)
    if (have) return Promise.resolve(have)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching signal within ${timeoutMs} ms`)), timeoutMs)
      this.#waiters.push({ pred, resolve: (s) => { clearTimeout(t); resolve(s) } })
    })
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Sends every signal to several sinks. */
export class TeeSink implements SignalSink {
  constructor(private readonly sinks: SignalSink[]) {}
  emit(signal: Signal): void {
    for (const s of this.sinks) s.emit(signal)
  }
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush()))
  }
  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()))
  }
}
