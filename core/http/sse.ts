/**
 * Server-Sent Events for the MCP ingress (Streamable HTTP carries server→client messages as SSE
 * events whose `data` is one JSON-RPC message): a writer over a Node `ServerResponse` and a reader
 * over an upstream body. Wire format: WHATWG HTML, "Server-sent events" §9.2
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { ERROR_CODES, HangarError } from '../errors.js'

/** One SSE event. */
export interface SseEvent {
  /** `id:` field: the event id (for `Last-Event-ID`). No CR, LF or NUL. */
  id?: string
  /** `event:` field: the event type (MCP uses the default, `message`). No CR or LF. */
  event?: string
  /** `data:` field(s): any text; line breaks (CRLF, LF, CR) become one `data:` line each. */
  data: string
  /** `retry:` field: the reconnection time the client should use, ms (a non-negative integer). */
  retry?: number
}

/** Options of {@link SseWriter}. */
export interface SseWriterOptions {
  /**
   * Interval of `: keepalive` comments while nothing else was written, ms; 0 disables. Default
   * 15000 (as the MCP SDK). Writers with the same interval share one unref'd timer (one per
   * interval, not one per stream), so a stream that stays silent gets its first keepalive between
   * one and two intervals after its last write.
   */
  keepaliveMs?: number
}

/** Default interval of keepalive comments, ms (the MCP SDK's `DEFAULT_SSE_KEEP_ALIVE_MS`). */
export const DEFAULT_SSE_KEEPALIVE_MS = 15_000

/**
 * The SSE response headers: `text/event-stream`, `no-cache` (RFC 9111 §5.2.2.4, plus
 * `no-transform` so no intermediary recompresses or buffers), `X-Accel-Buffering: no` (nginx and
 * compatible proxies otherwise buffer the stream).
 */
export const SSE_HEADERS: Readonly<OutgoingHttpHeaders> = Object.freeze({
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
})

const KEEPALIVE = ': keepalive\n\n'

/**
 * The keepalive sweep: one unref'd interval timer per distinct interval, ticking every writer
 * registered for it. A timer per stream (a `setInterval` and its `clearInterval` for every
 * tools/call answered over SSE) showed in the sidecar's profile; a sweep costs a Set insert.
 */
class KeepaliveSweep {
  readonly #writers = new Set<SseWriter>()
  readonly #timer: NodeJS.Timeout

  constructor(
    every: number,
    private readonly onEmpty: () => void,
  ) {
    this.#timer = setInterval(() => {
      for (const w of this.#writers) w.tick()
    }, every)
    this.#timer.unref()
  }

  add(w: SseWriter): void {
    this.#writers.add(w)
  }

  delete(w: SseWriter): void {
    if (this.#writers.delete(w) && this.#writers.size === 0) {
      clearInterval(this.#timer)
      this.onEmpty()
    }
  }
}

const sweeps = new Map<number, KeepaliveSweep>()

function sweepFor(every: number): KeepaliveSweep {
  let s = sweeps.get(every)
  if (!s) {
    s = new KeepaliveSweep(every, () => sweeps.delete(every))
    sweeps.set(every, s)
  }
  return s
}

/**
 * Writes an SSE stream to a `ServerResponse`: {@link open} sends the head, {@link event} writes
 * one event, {@link close} ends it.
 *
 * Writes within one turn of the event loop go out together: the first write of a turn corks the
 * socket and a `process.nextTick` uncorks it, so a head, the events parsed from one upstream
 * chunk and the stream's end leave in one `writev` rather than one syscall each (on loopback
 * every send also runs the receiver's TCP input). Nothing waits past the current turn.
 *
 * Backpressure: {@link event} returns `res.write`'s result; on `false`, await {@link drained}
 * before writing more. Keepalives are skipped while the socket is backed up or after any other
 * write within the interval.
 */
export class SseWriter {
  private readonly res: ServerResponse
  private readonly keepaliveMs: number
  private sweep: KeepaliveSweep | undefined
  private corked = false
  private wrote = false
  private isClosed = false
  private opened = false
  private onClosed!: () => void
  /** Resolves once the response is closed, by {@link close} or by the client going away. */
  readonly done: Promise<void>

  constructor(res: ServerResponse, opts: SseWriterOptions = {}) {
    this.res = res
    this.keepaliveMs = opts.keepaliveMs ?? DEFAULT_SSE_KEEPALIVE_MS
    this.done = new Promise<void>((r) => (this.onClosed = r))
    res.once('close', () => {
      this.isClosed = true
      this.stopTimer()
      this.onClosed()
    })
  }

  /**
   * Sends the response head ({@link SSE_HEADERS} plus `headers`, e.g. `Mcp-Session-Id`) at once,
   * so a client sees its stream open before any event, and starts the keepalive timer.
   * Idempotent: a second call does nothing.
   * @param status HTTP status. Default 200.
   * @throws Error `ERR_HTTP_HEADERS_SENT` when something else already sent the head.
   */
  open(headers?: OutgoingHttpHeaders, status = 200): void {
    if (this.opened || this.closed) return
    this.res.writeHead(status, headers ? { ...SSE_HEADERS, ...lowerKeys(headers) } : SSE_HEADERS)
    this.opened = true
    this.batch()
    this.res.flushHeaders()
    this.wrote = true
    this.startTimer()
  }

  /** Corks the response until the end of this turn of the event loop (see the class notes). */
  private batch(): void {
    if (this.corked) return
    this.corked = true
    this.res.cork()
    process.nextTick(() => {
      this.corked = false
      this.res.uncork()
    })
  }

  /** True once the stream is closed (by {@link close} or the client); writes are then ignored. */
  get closed(): boolean {
    return this.isClosed || this.res.writableEnded || this.res.destroyed
  }

  /**
   * Writes one event (opening the stream first if {@link open} was not called).
   * @returns false when the socket is backed up (await {@link drained}) or the stream is closed
   *   (nothing written; see {@link closed}).
   * @throws TypeError when `id` holds CR, LF or NUL, `event` holds CR or LF, or `retry` is not a
   *   non-negative integer (they would break the framing).
   */
  event(event: SseEvent): boolean {
    if (this.closed) return false
    const text = formatEvent(event)
    if (!this.opened) this.open()
    this.wrote = true
    this.batch()
    return this.res.write(text)
  }

  /** Writes a comment line (`: text`), ignored by clients. Line breaks in `text` become spaces. */
  comment(text: string): boolean {
    if (this.closed) return false
    if (!this.opened) this.open()
    this.wrote = true
    this.batch()
    return this.res.write(`: ${text.replace(/[\r\n]/g, ' ')}\n\n`)
  }

  /** Resolves when the socket can take more (at once if it can), or when the stream closes. */
  drained(): Promise<void> {
    if (this.closed || !this.res.writableNeedDrain) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done)
        this.res.off('close', done)
        resolve()
      }
      this.res.on('drain', done)
      this.res.on('close', done)
    })
  }

  /** Ends the stream (idempotent; opens it first if never opened) and clears the keepalive timer. */
  close(): void {
    this.stopTimer()
    if (this.res.writableEnded || this.res.destroyed) return
    if (!this.opened) this.open()
    this.stopTimer()
    this.batch()
    this.res.end()
  }

  private startTimer(): void {
    const every = this.keepaliveMs
    if (!(every > 0) || !Number.isFinite(every) || this.sweep) return
    this.sweep = sweepFor(Math.min(Math.round(every), 2 ** 31 - 1))
    this.sweep.add(this)
  }

  /** One keepalive round (called by the sweep): a comment unless something was written since the last round. @internal */
  tick(): void {
    if (this.closed) return this.stopTimer()
    if (this.wrote || this.res.writableNeedDrain) {
      this.wrote = false
      return
    }
    this.res.write(KEEPALIVE)
  }

  private stopTimer(): void {
    this.sweep?.delete(this)
    this.sweep = undefined
  }
}

function lowerKeys(h: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const k in h) out[k.toLowerCase()] = h[k]
  return out
}

const LINE_BREAK = /\r\n|\r|\n/

/**
 * The wire form of one event: `id:`, `event:`, `retry:`, then one `data:` line per line of
 * `data`, then a blank line. Data without line breaks (every `JSON.stringify` output) is written
 * as is, without splitting.
 * @throws TypeError on an `id`/`event`/`retry` that would break the framing (see {@link SseWriter.event}).
 */
export function formatEvent(e: SseEvent): string {
  let out = ''
  if (e.id !== undefined) {
    if (/[\r\n\0]/.test(e.id)) throw new TypeError('SSE id must not contain CR, LF or NUL')
    out += `id: ${e.id}\n`
  }
  if (e.event !== undefined) {
    if (/[\r\n]/.test(e.event)) throw new TypeError('SSE event type must not contain CR or LF')
    out += `event: ${e.event}\n`
  }
  if (e.retry !== undefined) {
    if (!Number.isSafeInteger(e.retry) || e.retry < 0) throw new TypeError('SSE retry must be a non-negative integer (ms)')
    out += `retry: ${e.retry}\n`
  }
  const d = e.data
  if (d.indexOf('\n') === -1 && d.indexOf('\r') === -1) return `${out}data: ${d}\n\n`
  for (const line of d.split(LINE_BREAK)) out += `data: ${line}\n`
  return out + '\n'
}

/** The codes of {@link SseStreamError} (members of core/errors.ts `ERROR_CODES`). */
export const SSE_ERROR_CODES = {
  /** An upstream SSE stream buffered more than `maxBufferChars` without completing an event. */
  SSE_EVENT_TOO_LARGE: ERROR_CODES.SSE_EVENT_TOO_LARGE,
} as const

/** An upstream SSE stream could not be read (`code` is one of {@link SSE_ERROR_CODES}). */
export class SseStreamError extends HangarError {
  constructor(code: (typeof SSE_ERROR_CODES)[keyof typeof SSE_ERROR_CODES], message: string) {
    super(code, message)
  }
}

/** Options of {@link SseReader}. */
export interface SseReaderOptions {
  /**
   * Most characters buffered for one incomplete line or event; more → {@link SseStreamError}
   * `HANGAR_SSE_EVENT_TOO_LARGE`. Default 16 Mi characters.
   */
  maxBufferChars?: number
}

/**
 * Reads SSE events from an upstream body (an undici response body, any
 * `AsyncIterable<Uint8Array>`), with eventsource-parser for the line grammar and a streaming
 * `TextDecoder` so a UTF-8 character split across chunks decodes whole (invalid bytes become
 * U+FFFD, as the WHATWG spec decodes; a leading BOM is dropped).
 *
 * Each yielded event carries its own `id` only when the event had an `id:` field; the last id seen
 * is kept in {@link lastEventId} (the `Last-Event-ID` to resume with). A `retry:` field is attached
 * to the next dispatched event and kept in {@link retry}. Comments and unknown fields are ignored;
 * an incomplete event at the end of the stream is dropped (WHATWG §9.2.6). Single use.
 * @throws SseStreamError from iteration when an event outgrows `maxBufferChars`; errors of the body
 *   propagate as they are.
 */
export class SseReader implements AsyncIterable<SseEvent> {
  /** The last `id:` received (the WHATWG "last event ID"), or undefined. */
  lastEventId: string | undefined
  /** The last `retry:` received, ms, or undefined. */
  retry: number | undefined
  private readonly body: AsyncIterable<Uint8Array>
  private readonly maxBufferChars: number
  private started = false

  constructor(body: AsyncIterable<Uint8Array>, opts: SseReaderOptions = {}) {
    this.body = body
    this.maxBufferChars = opts.maxBufferChars ?? 16 * 1024 * 1024
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SseEvent> {
    if (this.started) throw new TypeError('SseReader is single use')
    this.started = true
    const queue: SseEvent[] = []
    let pendingRetry: number | undefined
    let failure: SseStreamError | undefined
    const parser = createParser({
      maxBufferSize: this.maxBufferChars,
      onEvent: (m: EventSourceMessage) => {
        const e: SseEvent = { data: m.data }
        if (m.id !== undefined) {
          e.id = m.id
          this.lastEventId = m.id
        }
        if (m.event !== undefined) e.event = m.event
        if (pendingRetry !== undefined) {
          e.retry = pendingRetry
          pendingRetry = undefined
        }
        queue.push(e)
      },
      onRetry: (ms: number) => {
        this.retry = ms
        pendingRetry = ms
      },
      onError: (err) => {
        if (err.type === 'max-buffer-size-exceeded') {
          failure = new SseStreamError(SSE_ERROR_CODES.SSE_EVENT_TOO_LARGE, `SSE event exceeds ${this.maxBufferChars} characters`)
        }
      },
    })
    const decoder = new TextDecoder('utf-8')
    // A CR ends a line at once (WHATWG §9.2.5: CRLF, LF or CR); an LF right after it belongs to it.
    // eventsource-parser holds a chunk-final CR until a later chunk with a line break arrives (it
    // might be the start of a CRLF), which delays or, at the end of the stream, drops an event
    // ended by CR CR. So a chunk-final CR is fed as CRLF and a following chunk's leading LF skipped.
    let skipLf = false
    const feed = (text: string) => {
      if (text === '') return
      if (skipLf && text.charCodeAt(0) === 0x0a) text = text.slice(1)
      skipLf = text.charCodeAt(text.length - 1) === 0x0d
      if (text !== '') parser.feed(skipLf ? `${text}\n` : text)
    }
    for await (const chunk of this.body) {
      feed(decoder.decode(chunk, { stream: true }))
      if (failure) throw failure
      for (let i = 0; i < queue.length; i++) yield queue[i]!
      queue.length = 0
    }
    feed(decoder.decode())
    if (failure) throw failure
    for (let i = 0; i < queue.length; i++) yield queue[i]!
  }
}
