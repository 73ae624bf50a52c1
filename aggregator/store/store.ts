/**
 * The aggregator's signal store: the audit log (durable, the SIEM feed) + the in-memory index
 * (dedup, queries, counters) + live subscriptions (SSE). docs/signals.md §Delivery: delivery from sidecars
 * is at-least-once; the id dedup here makes the store exactly-once.
 *
 * - {@link SignalStore.open} replays the audit log into the index: the dedup set, the counters and
 *   the sequence numbers come back exactly as before the restart (a sequence number is a line's
 *   position in the audit history, so a client's Last-Event-ID stays valid).
 * - {@link SignalStore.ingest} drops ids already stored (or repeated in the batch), appends the
 *   rest durably, and only then indexes them and wakes subscribers. An id that is in flight in
 *   another batch waits for that batch: a duplicate when it is stored, retried here when it failed.
 *
 * Signals reach the store already validated (signals/validate.ts); it checks no schema.
 */
import { join } from 'node:path'
import type { Logger } from '../../core/log.js'
import type { Signal } from '../../signals/types.js'
import { AuditLog, type AuditLogStats } from './audit-log.js'
import { StoreClosedError } from './errors.js'
import { SignalIndex } from './index.js'
import type { ProviderStats } from './provider-stats.js'
import type { QueryResult, SignalQuery } from './query.js'
import { Subscriptions, type OnSignal, type SubscribeOptions } from './subscriptions.js'

export interface StoreOptions {
  /** The data directory (`aggregator.data_dir`); the audit log lives in `<dir>/audit/`. */
  dir: string
  /** Rotation size of `audit.jsonl` in bytes (default 100 MiB). */
  maxBytes?: number
  /** Rotated audit files kept whole (default 10); older ones keep only their violation records (audit-log.ts). */
  keepFiles?: number
  /** Violation records are kept at least this long after they were received, ms (default 90 days). */
  retentionMs?: number
  /** Budget of the audit directory, bytes (default: none); beyond it batches are refused (AuditFullError). */
  maxTotalBytes?: number
  /** Told how many records were rotated out and how many expired (metrics). */
  onRelease?: (r: { dropped: number; expired: number }) => void
  /** Signals kept in memory for queries and SSE backlogs (default 100,000). */
  maxSignals?: number
  log: Logger
}

/** The outcome of {@link SignalStore.ingest}. */
export interface StoreIngestCounts {
  /** Signals newly stored (durable before this resolved). */
  accepted: number
  /** Signals whose id was already stored, or repeated earlier in the same batch. */
  duplicates: number
}

/** Counters for /metrics, /ready and tests. */
export interface StoreStats {
  audit: AuditLogStats
  /** Ids in the dedup set (= stored signals in the retained history). */
  ids: number
  /** Bytes of the dedup table. */
  idBytes: number
  /** Signals in the memory window. */
  inMemory: number
  lastSeq: number
  /** Lines found by the last replay whose id was already stored (skipped). */
  replayDuplicates: number
  subscribers: number
}

/** The store. Create with {@link SignalStore.open} (or {@link openStore}). */
export class SignalStore {
  readonly #log: AuditLog
  readonly #index: SignalIndex
  readonly #subs: Subscriptions
  readonly #logger: Logger
  readonly #inflight = new Map<string, Promise<unknown>>()
  #replayDuplicates = 0
  #closed = false

  private constructor(log: AuditLog, index: SignalIndex, logger: Logger) {
    this.#log = log
    this.#index = index
    this.#logger = logger
    this.#subs = new Subscriptions(index)
  }

  /**
   * Opens the audit log in `<dir>/audit/` and rebuilds the index from it (oldest file first).
   * Logs one info line with what was replayed.
   * @throws AuditOpenError (`HANGAR_AUDIT_OPEN_FAILED`) when the audit log cannot be opened or read;
   *   RangeError for invalid sizes.
   */
  static async open(opts: StoreOptions): Promise<SignalStore> {
    const index = new SignalIndex({ maxSignals: opts.maxSignals })
    const opened: { store?: SignalStore } = {} // set once the replay is done (no appends before)
    const log = await AuditLog.open({
      dir: join(opts.dir, 'audit'),
      maxBytes: opts.maxBytes,
      keepFiles: opts.keepFiles,
      ...(opts.retentionMs !== undefined && { retentionMs: opts.retentionMs }),
      ...(opts.maxTotalBytes !== undefined && { maxTotalBytes: opts.maxTotalBytes }),
      ...(opts.onRelease && { onRelease: opts.onRelease }),
      log: opts.log,
      onCommit: (firstSeq, signals) => {
        const st = opened.store
        if (st) st.#commit(firstSeq, signals)
      },
    })
    const s = new SignalStore(log, index, opts.log)
    const started = Date.now()
    try {
      let outOfOrder = 0
      for await (const batch of log.replayBatches()) {
        for (const r of batch) {
          // Only files edited or copied by hand can number lines out of order; skip, never crash.
          if (r.seq <= index.lastSeq) {
            if (outOfOrder++ === 0) opts.log.warn({ seq: r.seq, last_seq: index.lastSeq, id: r.signal.id }, 'audit log: line numbered out of order (files renamed by hand?); skipped')
            continue
          }
          if (!index.add(r.seq, r.signal)) s.#replayDuplicates++
        }
      }
      if (outOfOrder > 1) opts.log.warn({ lines: outOfOrder }, 'audit log: lines skipped as out of order')
    } catch (err) {
      await log.close().catch(() => {})
      throw err
    }
    index.advanceTo(log.nextSeq - 1)
    opened.store = s
    const st = log.stats()
    opts.log.info(
      { dir: log.dir, signals: index.ids, last_seq: index.lastSeq, corrupt_lines: st.corruptLines, torn_bytes: st.tornBytes, duplicate_lines: s.#replayDuplicates, rotated_files: st.rotatedFiles, ms: Date.now() - started },
      'signal store rebuilt from the audit log',
    )
    return s
  }

  /** Called by the audit log, in log order, when a batch is durable. */
  #commit(firstSeq: number, signals: readonly Signal[]): void {
    for (let i = 0; i < signals.length; i++) {
      if (!this.#index.add(firstSeq + i, signals[i]!)) this.#logger.error({ id: signals[i]!.id, seq: firstSeq + i }, 'signal store: duplicate id reached the audit log')
    }
    this.#subs.notify()
  }

  /**
   * Stores the signals that are new: resolves once they are in the audit log and fsynced (answer
   * 202 after it), with how many were new and how many duplicates. Order within the batch is kept.
   * @throws AuditWriteError (`HANGAR_AUDIT_WRITE_FAILED`) when the append failed: none of this
   *   call's new signals was kept, the sender should retry (answer 503); AuditFullError
   *   (`HANGAR_AUDIT_FULL`) when the audit log has no room (answer 507); StoreClosedError after
   *   {@link close}.
   */
  async ingest(signals: readonly Signal[]): Promise<StoreIngestCounts> {
    if (this.#closed) throw new StoreClosedError()
    const fresh: Signal[] = []
    const waiting = new Map<Promise<unknown>, Signal[]>()
    const seen = new Set<string>()
    let duplicates = 0
    for (const s of signals) {
      if (seen.has(s.id) || this.#index.has(s.id)) {
        duplicates++
        continue
      }
      seen.add(s.id)
      const other = this.#inflight.get(s.id)
      if (other) {
        const list = waiting.get(other)
        if (list) list.push(s)
        else waiting.set(other, [s])
        continue
      }
      fresh.push(s)
    }
    let accepted = 0
    if (fresh.length > 0) {
      const p = this.#log.appendBatch(fresh)
      for (const s of fresh) this.#inflight.set(s.id, p)
      try {
        await p
        accepted = fresh.length
      } finally {
        for (const s of fresh) if (this.#inflight.get(s.id) === p) this.#inflight.delete(s.id)
      }
    }
    for (const [p, list] of waiting) {
      const stored = await p.then(() => true, () => false)
      if (stored) {
        duplicates += list.length
        continue
      }
      const again = await this.ingest(list) // the other batch failed: these are ours to store
      accepted += again.accepted
      duplicates += again.duplicates
    }
    return { accepted, duplicates }
  }

  /** True when a signal with this id is stored. */
  has(id: string): boolean {
    return this.#index.has(id)
  }

  /**
   * One page of stored signals still in memory (query.ts: filters, oldest-first by default,
   * `after`/`before` cursors, limit default 100, max 1000).
   * @throws QueryError (`HANGAR_QUERY_INVALID`) for invalid parameters.
   */
  query(q: SignalQuery = {}): QueryResult {
    return this.#index.query(q)
  }

  /**
   * Subscribes to stored signals after `afterSeq` (the SSE Last-Event-ID; 0 for everything in
   * memory): the backlog from memory, then live ones, in order, without gaps or duplicates
   * (subscriptions.ts). Returns unsubscribe.
   * @throws StoreClosedError after {@link close}; RangeError for an `afterSeq` that is not a whole number ≥ 0.
   */
  subscribe(afterSeq: number, onSignal: OnSignal, opts?: SubscribeOptions): () => void {
    if (this.#closed) throw new StoreClosedError()
    return this.#subs.subscribe(afterSeq, onSignal, opts)
  }

  /**
   * Like {@link subscribe}, but without gaps: signals after `afterSeq` that memory no longer holds
   * are read from the audit files first (rotated, kept and current, oldest first), then the
   * memory subscription takes over; if a slow reader falls below the memory window again, the
   * files are read again from where it was. `onSignal` may return a promise (the next signal waits).
   * Observations the audit retention already rotated out are gone and not delivered.
   * @returns unsubscribe (idempotent). @throws StoreClosedError after {@link close}.
   */
  follow(afterSeq: number, onSignal: (seq: number, signal: Signal) => void | Promise<void>, onError: (err: unknown) => void = () => {}): () => void {
    if (this.#closed) throw new StoreClosedError()
    let ended = false
    let unsub: (() => void) | undefined
    const run = async (from: number): Promise<void> => {
      let cursor = from
      for (;;) {
        if (ended || this.#closed) return
        const floor = (this.#index.oldestInMemory ?? this.#index.lastSeq + 1) - 1 // highest seq only on disk
        if (cursor >= floor) break
        read: for await (const batch of this.#log.replayBatches()) {
          for (const r of batch) {
            if (ended) return
            if (r.seq <= cursor) continue
            if (r.seq > floor) break read
            await onSignal(r.seq, r.signal)
            cursor = r.seq
          }
        }
        cursor = Math.max(cursor, floor)
      }
      unsub = this.#subs.subscribe(cursor, (s, seq) => onSignal(seq, s), {
        onGap: (gapFrom) => {
          unsub?.()
          if (!ended) run(gapFrom - 1).catch(onError)
        },
        onError,
      })
    }
    run(afterSeq).catch(onError)
    return () => {
      ended = true
      unsub?.()
    }
  }

  /** Counters of one provider (GET /v1/providers/{name}), or undefined when it has no stored signal. */
  provider(name: string): ProviderStats | undefined {
    return this.#index.provider(name)
  }

  /** Counters of every provider with stored signals (GET /v1/providers), by name. */
  providers(): ProviderStats[] {
    return this.#index.providers()
  }

  /** The highest sequence number assigned (0 for an empty store). */
  get lastSeq(): number {
    return this.#index.lastSeq
  }

  /** False when closed or when the audit log refuses appends (for /ready). */
  get healthy(): boolean {
    return !this.#closed && this.#log.healthy
  }

  stats(): StoreStats {
    return {
      audit: this.#log.stats(),
      ids: this.#index.ids,
      idBytes: this.#index.idBytes,
      inMemory: this.#index.inMemory,
      lastSeq: this.#index.lastSeq,
      replayDuplicates: this.#replayDuplicates,
      subscribers: this.#subs.size,
    }
  }

  /** Refuses new ingests, waits for appends in flight, ends subscriptions, closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#log.close()
    this.#subs.closeAll()
  }
}

/** `open({dir, maxBytes, keepFiles, maxSignals, log})`: {@link SignalStore.open}. */
export function openStore(opts: StoreOptions): Promise<SignalStore> {
  return SignalStore.open(opts)
}
