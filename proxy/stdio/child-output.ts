/**
 * What a provider child writes, the same for a process (proxy/stdio/child.ts) and a container
 * (proxy/stdio/container-child.ts): stdout split into JSON-RPC messages per MCP "Transports/stdio"
 * (non-JSON-RPC lines logged at warn and skipped; a line over `maxLineBytes` stops the reading and
 * reports the overflow, after which the caller kills the child), stderr lines logged at debug with
 * the last {@link STDERR_TAIL_LINES} kept to explain an exit.
 */
import type { Logger } from '../../core/log.js'
import type { JsonRpcMessage } from '../types.js'
import { DEFAULT_MAX_LINE_BYTES, LineSplitter, LineTooLongError, parseMessageLine, truncateForLog } from './framing.js'

/** Lines of stderr kept to explain an exit. */
export const STDERR_TAIL_LINES = 20
/** Longest stderr line logged and kept, bytes (longer lines are truncated). */
export const STDERR_LINE_MAX_BYTES = 2048
/** Longest noise line preview in the warning, characters. */
const NOISE_PREVIEW_CHARS = 200

/** Options of {@link ChildOutput}. */
export interface ChildOutputOptions {
  /** Provider name, for logs. */
  name: string
  log?: Logger
  /** Longest stdout line, bytes; default 16 MiB. */
  maxLineBytes?: number
  /** Extra log fields (the pid of a process). */
  logFields?: () => Record<string, unknown>
  onMessage: (message: JsonRpcMessage) => void
  /** A stdout line was too long: nothing more is read from stdout. */
  onOverflow: (err: LineTooLongError) => void
}

/** Splits and interprets a child's stdout and stderr (see the file comment). */
export class ChildOutput {
  readonly #o: ChildOutputOptions
  readonly #stdout: LineSplitter
  readonly #stderr = new LineSplitter({ maxLineBytes: STDERR_LINE_MAX_BYTES, overflow: 'truncate' })
  readonly #tail: string[] = []
  #overflowed = false

  constructor(o: ChildOutputOptions) {
    this.#o = o
    this.#stdout = new LineSplitter({ maxLineBytes: o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, overflow: 'error' })
  }

  /** The last stderr lines (≤ 20), oldest first. */
  get stderrTail(): readonly string[] {
    return this.#tail
  }

  stdout(chunk: Buffer): void {
    if (this.#overflowed) return
    let lines: Buffer[]
    try {
      lines = this.#stdout.push(chunk)
    } catch (err) {
      if (!(err instanceof LineTooLongError)) throw err
      this.#overflowed = true
      this.#o.onOverflow(err)
      return
    }
    for (const l of lines) this.#line(l)
  }

  stdoutEnd(): void {
    const l = this.#overflowed ? undefined : this.#stdout.end()
    if (l) this.#line(l)
  }

  stderr(chunk: Buffer): void {
    for (const l of this.#stderr.push(chunk)) this.#stderrLine(l)
  }

  stderrEnd(): void {
    const l = this.#stderr.end()
    if (l) this.#stderrLine(l)
  }

  #line(buf: Buffer): void {
    const line = buf.toString('utf8')
    const parsed = parseMessageLine(line)
    if (parsed.kind === 'message') this.#o.onMessage(parsed.message)
    else if (parsed.kind === 'noise') {
      this.#o.log?.warn({ provider: this.#o.name, ...this.#o.logFields?.(), reason: parsed.reason, line: truncateForLog(line, NOISE_PREVIEW_CHARS) }, 'provider wrote a non-JSON-RPC line to stdout; skipped')
    }
  }

  #stderrLine(buf: Buffer): void {
    const line = buf.toString('utf8')
    this.#tail.push(line)
    if (this.#tail.length > STDERR_TAIL_LINES) this.#tail.shift()
    this.#o.log?.debug({ provider: this.#o.name, ...this.#o.logFields?.(), stderr: line }, 'provider stderr')
  }
}

/** Resolves true when `exited` settles within `ms`, false on timeout. */
export async function settlesWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([exited.then(() => true as const), timedOut])
  } finally {
    clearTimeout(timer)
  }
}
