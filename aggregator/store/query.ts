/**
 * Queries over the in-memory window of signals (GET /v1/signals, `hangar_violations`), as pure
 * functions: {@link normalizeQuery} checks the parameters, {@link selectPage} pages a sorted
 * window. No state and no I/O here; index.ts owns the window.
 *
 * Order and paging: results are oldest-first (ascending `seq`) by default, so paging is stable
 * while signals arrive: new signals only ever get higher sequence numbers, so they land after the
 * last page, never inside a page already read; a client that reached the end keeps polling with
 * the `next_cursor` it got (the way SIEM pull connectors tail an API). `order: 'desc'` gives
 * newest-first ("the last 20 violations"), paged with `before`. `after` and `before` are exclusive
 * sequence-number bounds and work in both orders.
 */
import type { Severity, Signal, SignalKind } from '../../signals/types.js'
import { QueryError } from './errors.js'

/** Default page size. */
export const DEFAULT_LIMIT = 100
/** Largest page; a bigger `limit` is clamped to it. */
export const MAX_LIMIT = 1000

/** One signal in the index with its sequence number and its `time` in ms since the epoch. */
export interface IndexedSignal {
  seq: number
  timeMs: number
  signal: Signal
}

/** A filter value: one value, or any of several. */
export type OneOrMany<T extends string> = T | readonly T[]

/** The parameters of a query, as the HTTP layer passes them (all optional). */
export interface SignalQuery {
  provider?: OneOrMany<string>
  type?: OneOrMany<string>
  kind?: OneOrMany<SignalKind>
  severity?: OneOrMany<Severity>
  /** RFC 3339 time: only signals whose `time` is at or after it. */
  since?: string
  /** Sequence-number cursor: only signals with a higher `seq` (the `next_cursor` of an ascending page). */
  after?: number
  /** Only signals with a lower `seq` (the `next_cursor` of a descending page). */
  before?: number
  /** `asc` (default: oldest first) or `desc` (newest first). */
  order?: 'asc' | 'desc'
  /** Page size, default 100, clamped to 1000. */
  limit?: number
}

/** A checked query: sets for the filters, `since` in ms. */
export interface NormalizedQuery {
  provider: ReadonlySet<string> | null
  type: ReadonlySet<string> | null
  kind: ReadonlySet<string> | null
  severity: ReadonlySet<string> | null
  sinceMs: number | null
  after: number
  before: number
  order: 'asc' | 'desc'
  limit: number
}

/** One page. `seqs[i]` is the sequence number of `signals[i]` (the SSE event id of the same signal). */
export interface QueryResult {
  signals: Signal[]
  seqs: number[]
  /**
   * Pass as `after` (asc) or `before` (desc) for the next page. Ascending, it is never null: at the
   * end it is the highest sequence number examined, so polling with it returns only newer signals.
   * Descending, it is null once the oldest signal in memory was reached.
   */
  next_cursor: number | null
  /** True when the page is full and more signals may match. */
  has_more: boolean
  /**
   * True when the range asked for reaches below the memory window and signals evicted from memory
   * may match: those are only in the audit log on disk.
   */
  partial: boolean
}

/** What the window has forgotten: the highest evicted `seq` and the latest `time` among evicted signals. */
export interface Evicted {
  throughSeq: number
  maxTimeMs: number
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

function toSet(param: string, v: OneOrMany<string> | undefined): ReadonlySet<string> | null {
  if (v === undefined) return null
  const list = typeof v === 'string' ? [v] : v
  if (list.length === 0) return null
  for (const x of list) if (typeof x !== 'string' || x === '') throw new QueryError(param, 'must be a non-empty string')
  return new Set(list)
}

function cursor(param: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined
  if (!Number.isSafeInteger(v) || v < 0) throw new QueryError(param, `must be a whole number ≥ 0, got ${v}`)
  return v
}

/**
 * Checks and normalises a query.
 * @throws QueryError (`HANGAR_QUERY_INVALID`, `param` set) for a `since` that is not RFC 3339, a
 *   cursor that is not a whole number ≥ 0, a `limit` that is not a whole number ≥ 1, an unknown
 *   `order` or an empty filter value.
 */
export function normalizeQuery(q: SignalQuery): NormalizedQuery {
  let sinceMs: number | null = null
  if (q.since !== undefined) {
    sinceMs = RFC3339.test(q.since) ? Date.parse(q.since) : NaN
    if (!Number.isFinite(sinceMs)) throw new QueryError('since', `must be an RFC 3339 time (2025-01-31T12:00:00Z), got ${JSON.stringify(q.since)}`)
  }
  let limit = DEFAULT_LIMIT
  if (q.limit !== undefined) {
    if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw new QueryError('limit', `must be a whole number ≥ 1, got ${q.limit}`)
    limit = Math.min(q.limit, MAX_LIMIT)
  }
  const order = q.order ?? 'asc'
  if (order !== 'asc' && order !== 'desc') throw new QueryError('order', `must be asc or desc, got ${JSON.stringify(order)}`)
  return {
    provider: toSet('provider', q.provider),
    type: toSet('type', q.type),
    kind: toSet('kind', q.kind),
    severity: toSet('severity', q.severity),
    sinceMs,
    after: cursor('after', q.after) ?? 0,
    before: cursor('before', q.before) ?? Number.MAX_SAFE_INTEGER,
    order,
    limit,
  }
}

/** True when the signal passes the query's filters (not its cursors). */
export function matches(e: IndexedSignal, q: NormalizedQuery): boolean {
  const s = e.signal
  if (q.provider && !q.provider.has(s.provider)) return false
  if (q.type && !q.type.has(s.type)) return false
  if (q.kind && !q.kind.has(s.kind)) return false
  if (q.severity && !q.severity.has(s.severity)) return false
  if (q.sinceMs !== null && !(e.timeMs >= q.sinceMs)) return false
  return true
}

/** Index of the first entry in `entries[from..]` with `seq > seq`, or `entries.length`. Entries are sorted by seq. */
export function firstAfter(entries: readonly IndexedSignal[], from: number, seq: number): number {
  let lo = from
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (entries[mid]!.seq > seq) hi = mid
    else lo = mid + 1
  }
  return lo
}

/**
 * One page of `entries[from..]` (sorted by ascending seq) for a normalised query.
 * @param head the highest sequence number the store has assigned (for an ascending `next_cursor`
 *   when nothing is in memory).
 * @param evicted what the window has forgotten, to tell whether the answer is `partial`.
 */
export function selectPage(entries: readonly IndexedSignal[], from: number, q: NormalizedQuery, head: number, evicted: Evicted): QueryResult {
  const signals: Signal[] = []
  const seqs: number[] = []
  const take = (e: IndexedSignal) => {
    signals.push(e.signal)
    seqs.push(e.seq)
  }
  const evictedInRange = evicted.throughSeq > q.after && (q.sinceMs === null || evicted.maxTimeMs >= q.sinceMs)
  if (q.order === 'asc') {
    let i = firstAfter(entries, from, q.after)
    for (; i < entries.length && signals.length < q.limit; i++) {
      const e = entries[i]!
      if (e.seq >= q.before) break
      if (matches(e, q)) take(e)
    }
    const more = i < entries.length && entries[i]!.seq < q.before
    if (more) return { signals, seqs, next_cursor: seqs[seqs.length - 1]!, has_more: true, partial: evictedInRange }
    const examined = Math.min(Math.max(head, i > from ? entries[i - 1]!.seq : 0), q.before - 1)
    return { signals, seqs, next_cursor: Math.max(q.after, examined), has_more: false, partial: evictedInRange }
  }
  let i = firstAfter(entries, from, q.before - 1) - 1
  for (; i >= from && signals.length < q.limit; i--) {
    const e = entries[i]!
    if (e.seq <= q.after) break
    if (matches(e, q)) take(e)
  }
  const more = i >= from && entries[i]!.seq > q.after
  if (more) return { signals, seqs, next_cursor: seqs[seqs.length - 1]!, has_more: true, partial: false }
  return { signals, seqs, next_cursor: null, has_more: false, partial: evictedInRange }
}
