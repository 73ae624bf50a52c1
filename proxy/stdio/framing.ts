/**
 * MCP stdio framing (spec 2025-06-18 and 2025-11-25, "Transports/stdio"): JSON-RPC messages are
 * delimited by newlines and MUST NOT contain embedded newlines; stdout carries only MCP messages,
 * stderr is logging. Pure: bytes in, lines and messages out.
 *
 * Peers are not always clean: some servers print a banner or a stray `console.log` to stdout, so a
 * line that is not a JSON-RPC 2.0 object is reported as noise (the caller logs and skips it)
 * rather than treated as fatal. A line longer than the limit (16 MiB by default) is fatal on
 * stdout: an unbounded line would otherwise grow the sidecar's memory without end.
 */
import type { JsonRpcMessage } from '../types.js'

/** Default longest stdout line (one JSON-RPC message), bytes: 16 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024

/** A line exceeded the splitter's `maxLineBytes` in `error` mode. */
export class LineTooLongError extends Error {
  constructor(readonly maxLineBytes: number, readonly seenBytes: number) {
    super(`line longer than ${maxLineBytes} bytes (${seenBytes} bytes without a newline)`)
    this.name = 'LineTooLongError'
  }
}

/** Options of {@link LineSplitter}. */
export interface LineSplitterOptions {
  /** Longest line, bytes, excluding its `\n` (and including a `\r` before it). */
  maxLineBytes: number
  /**
   * What a longer line does: `error` throws {@link LineTooLongError} from {@link LineSplitter.push}
   * (the splitter is then unusable); `truncate` returns its first `maxLineBytes` bytes as one line
   * and drops the rest up to the next newline (for stderr, where losing a tail is harmless).
   */
  overflow: 'error' | 'truncate'
}

/**
 * Splits a byte stream into lines at `\n`; a `\r` before the `\n` is removed (CRLF). Bytes are
 * kept until their line is complete, so a UTF-8 character split over chunks decodes whole.
 */
export class LineSplitter {
  #parts: Buffer[] = []
  #length = 0
  #skipping = false

  constructor(private readonly opts: LineSplitterOptions) {}

  /** Bytes held for the line not yet terminated. */
  get pendingBytes(): number {
    return this.#length
  }

  /**
   * Adds a chunk; returns the lines it completed, without their terminators.
   * @throws LineTooLongError in `error` mode when a line exceeds `maxLineBytes`
   */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = []
    const max = this.opts.maxLineBytes
    let start = 0
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl)
      start = nl + 1
      if (this.#skipping) {
        this.#skipping = false
        continue
      }
      const total = this.#length + piece.length
      let line = this.#parts.length === 0 ? piece : Buffer.concat([...this.#parts, piece], total)
      this.#parts = []
      this.#length = 0
      if (total > max) {
        if (this.opts.overflow === 'error') throw new LineTooLongError(max, total)
        line = line.subarray(0, max)
      }
      lines.push(stripCr(line))
    }
    if (start < chunk.length && !this.#skipping) {
      const rest = chunk.subarray(start)
      const total = this.#length + rest.length
      if (total > max) {
        if (this.opts.overflow === 'error') throw new LineTooLongError(max, total)
        lines.push(Buffer.concat([...this.#parts, rest], total).subarray(0, max))
        this.#parts = []
        this.#length = 0
        this.#skipping = true
      } else {
        this.#parts.push(rest)
        this.#length = total
      }
    }
    return lines
  }

  /** The stream ended: returns the last, unterminated line if there is one (CR stripped). */
  end(): Buffer | undefined {
    const skipping = this.#skipping
    this.#skipping = false
    if (this.#length === 0 || skipping) {
      this.#parts = []
      this.#length = 0
      return undefined
    }
    const line = Buffer.concat(this.#parts, this.#length)
    this.#parts = []
    this.#length = 0
    return stripCr(line)
  }
}

function stripCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line
}

/** The outcome of {@link parseMessageLine}. `blank` lines (only whitespace) are skipped silently. */
export type ParsedLine =
  | { kind: 'message'; message: JsonRpcMessage }
  | { kind: 'blank' }
  | { kind: 'noise'; reason: string }

/**
 * Parses one stdout line as a JSON-RPC 2.0 message: a JSON object with `jsonrpc: "2.0"` and either
 * a string `method` (request, notification) or a `result`/`error` member (response). Anything
 * else — not JSON, an array (batches were removed in MCP 2025-06-18), another version — is
 * `noise`. Deeper shape checks (ids, params) are the multiplexer's. Pure.
 */
export function parseMessageLine(line: string): ParsedLine {
  if (line.trim() === '') return { kind: 'blank' }
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch (err) {
    return { kind: 'noise', reason: `not JSON (${(err as Error).message})` }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { kind: 'noise', reason: Array.isArray(v) ? 'a JSON array (JSON-RPC batches are not used by MCP)' : `a JSON ${v === null ? 'null' : typeof v}, not an object` }
  }
  const o = v as Record<string, unknown>
  if (o.jsonrpc !== '2.0') return { kind: 'noise', reason: 'a JSON object without "jsonrpc": "2.0"' }
  if (typeof o.method !== 'string' && !('result' in o) && !('error' in o)) {
    return { kind: 'noise', reason: 'a JSON-RPC object that is neither a request, a notification nor a response' }
  }
  return { kind: 'message', message: v as JsonRpcMessage }
}

/**
 * One message as a stdio frame: compact JSON and `\n`. `JSON.stringify` escapes control
 * characters inside strings, so the frame never holds an embedded newline (spec requirement).
 */
export function encodeMessage(message: JsonRpcMessage): string {
  return JSON.stringify(message) + '\n'
}

/** `s` cut to at most `max` UTF-16 units, with `…(+N chars)` when it was longer (for logs). */
export function truncateForLog(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(+${s.length - max} chars)`
}
