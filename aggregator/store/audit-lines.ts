/**
 * The audit log's line format, as pure functions: one `hangar.signal/v1` signal per line, JSON,
 * `\n`-terminated (JSON.stringify escapes every newline inside strings, so a signal is always
 * exactly one line). Also the torn-tail rule used when the current file is opened after a crash.
 */
import { SIGNAL_SCHEMA, type Signal } from '../../signals/types.js'

/** Encodes signals as audit lines: one JSON object and `\n` each. */
export function encodeLines(signals: readonly Signal[]): string {
  let out = ''
  for (const s of signals) out += JSON.stringify(s) + '\n'
  return out
}

/**
 * Decodes one audit line (without its `\n`). Returns null for anything that is not a JSON object
 * with the fields the store relies on (`schema` = `hangar.signal/v1`, string `id`, `time`,
 * `provider`, `type`, `kind`, `severity`): the log holds only validated signals, so a line failing
 * this is damage (a torn write, a flipped bit), not a signal.
 */
export function parseAuditLine(text: string): Signal | null {
  if (text.length < 2 || text.charCodeAt(0) !== 0x7b /* { */) return null
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null
  const s = o as Record<string, unknown>
  if (s.schema !== SIGNAL_SCHEMA) return null
  for (const k of ['id', 'time', 'provider', 'type', 'kind', 'severity'] as const) {
    if (typeof s[k] !== 'string') return null
  }
  return o as Signal
}

/** Where a torn tail starts: `cut` (absolute byte offset; = file size when the tail is clean). */
export interface TornTail {
  cut: number
  /**
   * False when the window did not reach back far enough to be sure (the last valid line's start
   * lies before the window): read a bigger window and ask again. Always true for a window at 0.
   */
  settled: boolean
}

/**
 * Finds a torn tail in the last bytes of the current audit file. A write that was never fsynced
 * (power cut, SIGKILL mid-write on some file systems) can leave a last line without its `\n`, or
 * whole lines of garbage (zero-filled blocks) at the end. The torn tail is: the bytes after the
 * last `\n`, plus every complete line before them that {@link parseAuditLine} rejects, back to the
 * last valid line. Such bytes were never acknowledged (the acknowledgement waits for the fsync),
 * so cutting them loses no accepted signal. A cut is always at a line start, so appends after it
 * stay line-aligned.
 *
 * @param window the last `window.length` bytes of the file.
 * @param windowStart the file offset of `window[0]` (0 when the window is the whole file).
 */
export function findTornTail(window: Buffer, windowStart: number): TornTail {
  const lastNl = window.lastIndexOf(0x0a)
  if (lastNl === -1) return windowStart === 0 ? { cut: 0, settled: true } : { cut: windowStart + window.length, settled: false }
  let end = lastNl + 1 // relative; always just after a `\n`
  while (end > 0) {
    const prevNl = end >= 2 ? window.lastIndexOf(0x0a, end - 2) : -1
    if (prevNl === -1 && windowStart > 0) {
      // This line starts before the window: it cannot be judged from here.
      return { cut: windowStart + end, settled: false }
    }
    const lineStart = prevNl + 1
    if (parseAuditLine(window.toString('utf8', lineStart, end - 1)) !== null) break
    end = lineStart
  }
  return { cut: windowStart + end, settled: true }
}
