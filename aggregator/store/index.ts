/**
 * The aggregator's in-memory index of stored signals, fed in `seq` order by the audit log's
 * replay at start-up and by every durable append after it. It holds:
 * - the dedup set: every id of the retained audit history (id-set.ts; ≈ 33 bytes per id, so
 *   1 million ids ≈ 33 MB). It is bounded only by what the audit files hold (`maxBytes` ×
 *   (`keepFiles` + 1)); with the defaults (1.1 GB of audit log, ~500 bytes a signal) ≈ 2.4 million
 *   ids ≈ 80 MB.
 * - the memory window: the newest `maxSignals` signals (default 100,000) as objects, for queries
 *   and for the SSE backlog. Older signals are only in the audit log on disk: a query reaching
 *   below the window says so (`partial`), a subscriber resuming below it is told of the gap. A
 *   parsed signal costs ≈ 1.3× its JSON line on the heap (measured: 605 bytes for a typical
 *   460-byte egress_denied line), so the default window is ≈ 60 MB; lower `maxSignals` on small
 *   hosts, or raise it for longer SSE resumption and query reach.
 * - the violation archive: violation records (signals/retention.ts) evicted from the window stay
 *   queryable here, the newest `maxSignals` of them, so a flood of observations cannot push the
 *   first violation out of reach of `GET /v1/signals`. Queries read the archive and the window as
 *   one sequence (the archive holds only sequence numbers below the window's).
 * - per-provider counters (provider-stats.ts) over the whole retained history.
 * - `lastSeq`: the highest sequence number assigned.
 * Filtering and paging are the pure functions of query.ts.
 */
import { isRetained } from '../../signals/retention.js'
import type { Signal } from '../../signals/types.js'
import { IdSet } from './id-set.js'
import { ProviderCounters, type ProviderStats } from './provider-stats.js'
import { firstAfter, normalizeQuery, selectPage, type Evicted, type IndexedSignal, type QueryResult, type SignalQuery } from './query.js'

/** Default size of the memory window, in signals. */
export const DEFAULT_MAX_SIGNALS = 100_000

export interface SignalIndexOptions {
  /** Signals kept in memory for queries and SSE backlogs (default 100,000, at least 1). */
  maxSignals?: number
  /** Ids expected (the replay's estimate), to size the dedup table up front. */
  expectedIds?: number
}

/** What {@link SignalIndex.after} returns: the next entries and what was evicted below them. */
export interface AfterResult {
  entries: IndexedSignal[]
  /** Highest sequence number no longer in memory (0 when nothing was evicted). */
  evictedThrough: number
}

/** The index. Single-threaded; every method is synchronous. */
export class SignalIndex {
  readonly #maxSignals: number
  readonly #ids: IdSet
  readonly #providers = new ProviderCounters()
  // The window: entries[from..] in ascending seq; compacted when `from` passes maxSignals.
  #entries: IndexedSignal[] = []
  #from = 0
  #lastSeq = 0
  readonly #evicted: Evicted = { throughSeq: 0, maxTimeMs: -Infinity }
  // Violation records evicted from the window: archive[archFrom..], ascending seq.
  #archive: IndexedSignal[] = []
  #archFrom = 0

  /** @throws RangeError when `maxSignals` is not a whole number ≥ 1. */
  constructor(opts: SignalIndexOptions = {}) {
    this.#maxSignals = opts.maxSignals ?? DEFAULT_MAX_SIGNALS
    if (!Number.isSafeInteger(this.#maxSignals) || this.#maxSignals < 1) throw new RangeError(`maxSignals must be a whole number ≥ 1, got ${opts.maxSignals}`)
    this.#ids = new IdSet(opts.expectedIds ?? 0)
  }

  /** True when a signal with this id is stored. */
  has(id: string): boolean {
    return this.#ids.has(id)
  }

  /** The highest sequence number assigned (0 for an empty store). */
  get lastSeq(): number {
    return this.#lastSeq
  }

  /** Ids in the dedup set. */
  get ids(): number {
    return this.#ids.size
  }

  /** Bytes of the dedup table. */
  get idBytes(): number {
    return this.#ids.tableBytes
  }

  /** Signals in the memory window. */
  get inMemory(): number {
    return this.#entries.length - this.#from
  }

  /** The sequence number of the oldest signal in memory, or null when the window is empty. */
  get oldestInMemory(): number | null {
    return this.inMemory > 0 ? this.#entries[this.#from]!.seq : null
  }

  /**
   * Adds a stored signal. Returns false, changing nothing but `lastSeq`, when its id is already
   * stored (a duplicate line found by the replay).
   * @throws RangeError when `seq` is not above {@link lastSeq} (the index is fed in log order).
   */
  add(seq: number, signal: Signal): boolean {
    if (!(seq > this.#lastSeq)) throw new RangeError(`seq ${seq} is not above the last one (${this.#lastSeq})`)
    this.#lastSeq = seq
    if (!this.#ids.add(signal.id)) return false
    this.#entries.push({ seq, timeMs: Date.parse(signal.time), signal })
    this.#providers.add(seq, signal)
    if (this.#entries.length - this.#from > this.#maxSignals) this.#evictOne()
    return true
  }

  /** Raises {@link lastSeq} to `seq` (sequence numbers of lines that were not stored signals). */
  advanceTo(seq: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq
  }

  /** Violation records kept in the archive below the window. */
  get archived(): number {
    return this.#archive.length - this.#archFrom
  }

  #evictOne(): void {
    const e = this.#entries[this.#from]!
    if (isRetained(e.signal)) {
      this.#archive.push(e)
      if (this.#archive.length - this.#archFrom > this.#maxSignals) {
        this.#archive[this.#archFrom++] = undefined as unknown as IndexedSignal
        if (this.#archFrom >= this.#maxSignals) {
          this.#archive = this.#archive.slice(this.#archFrom)
          this.#archFrom = 0
        }
      }
    }
    this.#evicted.throughSeq = e.seq
    if (e.timeMs > this.#evicted.maxTimeMs) this.#evicted.maxTimeMs = e.timeMs
    this.#entries[this.#from] = undefined as unknown as IndexedSignal // let it be collected before compaction
    this.#from++
    if (this.#from >= this.#maxSignals) {
      this.#entries = this.#entries.slice(this.#from)
      this.#from = 0
    }
  }

  /**
   * One page of signals (query.ts: oldest-first by default, stable under concurrent appends).
   * @throws QueryError (`HANGAR_QUERY_INVALID`) for invalid parameters.
   */
  query(q: SignalQuery): QueryResult {
    const n = normalizeQuery(q)
    if (this.archived === 0) return selectPage(this.#entries, this.#from, n, this.#lastSeq, this.#evicted)
    // The archive and the window as one sequence: archive seqs are all below `floor`.
    const floor = this.oldestInMemory ?? this.#lastSeq + 1
    const below = { ...n, before: Math.min(n.before, floor) }
    const window = (over: typeof n) => selectPage(this.#entries, this.#from, over, this.#lastSeq, this.#evicted)
    const archive = (over: typeof n) => selectPage(this.#archive, this.#archFrom, over, floor - 1, this.#evicted)
    if (n.order === 'asc') {
      const a = n.after < floor - 1 ? archive(below) : { signals: [], seqs: [], next_cursor: n.after, has_more: false, partial: false }
      if (a.signals.length >= n.limit) return { ...a, next_cursor: a.seqs[a.seqs.length - 1]!, has_more: true }
      const w = window({ ...n, limit: n.limit - a.signals.length })
      return { signals: [...a.signals, ...w.signals], seqs: [...a.seqs, ...w.seqs], next_cursor: w.next_cursor, has_more: w.has_more, partial: a.partial || w.partial }
    }
    const w = n.before > floor ? window(n) : { signals: [], seqs: [], next_cursor: null, has_more: false, partial: false }
    if (w.has_more) return w
    if (w.signals.length >= n.limit) return { ...w, next_cursor: w.seqs[w.seqs.length - 1]!, has_more: true }
    const a = archive({ ...below, limit: n.limit - w.signals.length })
    return { signals: [...w.signals, ...a.signals], seqs: [...w.seqs, ...a.seqs], next_cursor: a.next_cursor, has_more: a.has_more, partial: a.partial }
  }

  /** Up to `max` entries with `seq` above `seq`, in order, and the highest evicted seq (for gap detection). */
  after(seq: number, max: number): AfterResult {
    const i = firstAfter(this.#entries, this.#from, seq)
    return { entries: this.#entries.slice(i, i + max), evictedThrough: this.#evicted.throughSeq }
  }

  /** Counters of one provider, or undefined when it has no stored signal. */
  provider(name: string): ProviderStats | undefined {
    return this.#providers.get(name)
  }

  /** Counters of every provider with a stored signal, by name. */
  providers(): ProviderStats[] {
    return this.#providers.all()
  }
}
