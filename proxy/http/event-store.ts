/**
 * Bounded replay for `Last-Event-ID` (Streamable HTTP, "Resumability and Redelivery": event ids
 * are assigned per stream and act "as a cursor within that particular stream"; on a GET with
 * `Last-Event-ID` the server "MAY use this header to replay messages that would have been sent
 * after the last event ID, on the stream that was disconnected, and to resume the stream from
 * that point", and "MUST NOT replay messages that would have been delivered on a different
 * stream"). One store per client session. Pure: no I/O, no timers.
 *
 * Event ids are `<streamId>_<n>`, where `n` counts appends (and {@link EventStore.mark}s) over the
 * whole store, so an id never repeats, not even for a stream id reused after
 * {@link EventStore.dropStream}. Clients treat them as opaque.
 *
 * The store holds at most `maxEvents` events over all its streams (`ingress.replay_events`); the
 * oldest are evicted first. Replay after an id is refused (undefined) when an event the client
 * has not seen was evicted: a partial replay would silently lose messages.
 */
import type { JsonRpcMessage } from '../types.js'

/** One stored event: its id and its message. */
export interface StoredEvent<M> {
  readonly id: string
  readonly message: M
}

/** The answer to a `Last-Event-ID`: the stream it belongs to and the events after it, oldest first. */
export interface Replay<M> {
  streamId: string
  events: StoredEvent<M>[]
}

interface Entry<M> extends StoredEvent<M> {
  readonly n: number
  readonly stream: StreamState<M>
}

interface StreamState<M> {
  readonly id: string
  /** Numbers at or below this belong to an earlier incarnation of the stream id. */
  readonly base: number
  /** The highest number issued to this stream. */
  last: number
  /** The highest number of this stream evicted; replay after a lower one has a gap. */
  evicted: number
  readonly events: Queue<Entry<M>>
  dropped: boolean
}

/** Largest decimal event number accepted in an id (2^53 − 1 has 16 digits). */
const MAX_DIGITS = 16

/**
 * Per-session replay buffer, generic in the stored message (a parsed JSON-RPC message, or its
 * serialised text).
 */
export class EventStore<M = JsonRpcMessage> {
  private readonly max: number
  private readonly streams = new Map<string, StreamState<M>>()
  /** Every live (and some dropped) entry in append order: the eviction order. */
  private readonly fifo = new Queue<Entry<M>>()
  private counter = 0
  private live = 0
  private stale = 0

  /**
   * @param maxEvents events kept over all streams (`ingress.replay_events`); 0 keeps none (ids are
   *   still issued, and replay works only when nothing was missed).
   * @throws RangeError when `maxEvents` is not a non-negative integer.
   */
  constructor(maxEvents: number) {
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 0) throw new RangeError(`maxEvents must be a non-negative integer, got ${maxEvents}`)
    this.max = maxEvents
  }

  /** Events held now, over all streams. */
  get size(): number {
    return this.live
  }

  /**
   * Stores `message` as the next event of `streamId`, evicting the oldest events of the session
   * beyond `maxEvents`.
   * @param streamId visible ASCII (0x21–0x7E), as it becomes part of the SSE `id:`.
   * @returns the event id to send in the SSE `id:` field.
   * @throws TypeError when `streamId` is empty or holds other characters.
   */
  append(streamId: string, message: M): string {
    const s = this.stream(streamId)
    const n = ++this.counter
    s.last = n
    const e: Entry<M> = { id: `${streamId}_${n}`, message, n, stream: s }
    s.events.push(e)
    this.fifo.push(e)
    this.live++
    while (this.live > this.max) this.evictOldest()
    return e.id
  }

  /**
   * Issues an event id for `streamId` without storing an event: for a priming event (spec
   * 2025-11-25: the server "SHOULD immediately send an SSE event consisting of an event ID and an
   * empty data field") that carries no message. Replay after it returns what follows it.
   * @throws TypeError as {@link append}.
   */
  mark(streamId: string): string {
    const s = this.stream(streamId)
    const n = ++this.counter
    s.last = n
    return `${streamId}_${n}`
  }

  /**
   * The stream id an event id names, when that stream is known to the store; undefined for
   * unknown or malformed ids. (For checking a resumed stream has no live connection.)
   */
  streamOf(eventId: string): string | undefined {
    const p = parseEventId(eventId)
    if (p === undefined) return undefined
    const s = this.streams.get(p.streamId)
    return s !== undefined && p.n > s.base && p.n <= s.last ? s.id : undefined
  }

  /**
   * The events of the stream named by `lastEventId` that follow it, oldest first (possibly none).
   * @returns undefined when the id is malformed, names no live stream of this store, was never
   *   issued, or when an event after it was evicted (the caller answers 400 or 404, as the spec
   *   allows, and the client starts afresh).
   */
  replayAfter(lastEventId: string): Replay<M> | undefined {
    const p = parseEventId(lastEventId)
    if (p === undefined) return undefined
    const s = this.streams.get(p.streamId)
    if (s === undefined || p.n <= s.base || p.n > s.last || p.n < s.evicted) return undefined
    const events: StoredEvent<M>[] = []
    const q = s.events
    // Events are in number order: find the first one after p.n from the end (replays are short).
    let i = q.length
    while (i > 0 && q.at(i - 1).n > p.n) i--
    for (; i < q.length; i++) {
      const e = q.at(i)
      events.push({ id: e.id, message: e.message })
    }
    return { streamId: s.id, events }
  }

  /** Forgets a stream and its events (the stream ended and will not be resumed). */
  dropStream(streamId: string): void {
    const s = this.streams.get(streamId)
    if (s === undefined) return
    this.streams.delete(streamId)
    s.dropped = true
    this.live -= s.events.length
    this.stale += s.events.length
    s.events.clear()
    // Dropped entries stay in the FIFO until evicted; compact when they dominate.
    if (this.stale > 64 && this.stale > this.live) {
      this.fifo.retain((e) => !e.stream.dropped)
      this.stale = 0
    }
  }

  /** Forgets every stream and event (the session ended). Issued ids never repeat. */
  clear(): void {
    this.streams.clear()
    this.fifo.clear()
    this.live = 0
    this.stale = 0
  }

  private stream(streamId: string): StreamState<M> {
    let s = this.streams.get(streamId)
    if (s === undefined) {
      if (!isStreamId(streamId)) throw new TypeError(`stream id must be visible ASCII (0x21-0x7E): ${JSON.stringify(streamId)}`)
      s = { id: streamId, base: this.counter, last: this.counter, evicted: 0, events: new Queue(), dropped: false }
      this.streams.set(streamId, s)
    }
    return s
  }

  private evictOldest(): void {
    for (;;) {
      const e = this.fifo.shift()
      if (e === undefined) return
      if (e.stream.dropped) {
        this.stale--
        continue
      }
      e.stream.events.shift()
      e.stream.evicted = e.n
      this.live--
      return
    }
  }
}

function isStreamId(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}

/** Splits `<streamId>_<n>` at its last `_`; undefined unless `n` is 1–16 decimal digits. */
export function parseEventId(id: string): { streamId: string; n: number } | undefined {
  const u = id.lastIndexOf('_')
  if (u <= 0) return undefined
  const digits = id.length - u - 1
  if (digits === 0 || digits > MAX_DIGITS) return undefined
  let n = 0
  for (let i = u + 1; i < id.length; i++) {
    const c = id.charCodeAt(i) - 0x30
    if (c < 0 || c > 9) return undefined
    n = n * 10 + c
  }
  return Number.isSafeInteger(n) ? { streamId: id.slice(0, u), n } : undefined
}

/** A FIFO queue over an array with a moving head: O(1) push and shift, compacted as it drains. */
class Queue<T> {
  private items: T[] = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(v: T): void {
    this.items.push(v)
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined
    const v = this.items[this.head]!
    this.items[this.head++] = undefined as T
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return v
  }

  /** The i-th element from the head (0 ≤ i < length). */
  at(i: number): T {
    return this.items[this.head + i]!
  }

  clear(): void {
    this.items = []
    this.head = 0
  }

  retain(keep: (v: T) => boolean): void {
    const next: T[] = []
    for (let i = this.head; i < this.items.length; i++) if (keep(this.items[i]!)) next.push(this.items[i]!)
    this.items = next
    this.head = 0
  }
}
