/**
 * The store behind the port the aggregator's service uses (aggregator/store-api.ts): an adapter,
 * so the HTTP API and the MCP tools see exactly that interface while the store keeps its own.
 *
 * Queries through the port are newest-first (`hangar_violations` promises "recent violations,
 * newest first", and GET /v1/signals shares it): `cursor` is an opaque string (the sequence
 * number of the last signal of the previous page), and the next page holds the signals below it,
 * so paging is stable while signals arrive (they land above page one, never inside a page). On the
 * last page `next_cursor` is absent. A `cursor` that is not one of ours is a QueryError
 * (`HANGAR_QUERY_INVALID`, `param: 'cursor'`): answer 400.
 */
import type { Signal, SignalKind, Severity } from '../../signals/types.js'
import type { ProviderStats, QueryFilter, QueryPage, SignalStorePort } from '../store-api.js'
import { QueryError } from './errors.js'
import type { SignalStore } from './store.js'

/** Adapts a {@link SignalStore} to the service's port. */
export class StorePort implements SignalStorePort {
  constructor(readonly store: SignalStore) {}

  ingest(signals: Signal[]): Promise<{ accepted: number; duplicates: number }> {
    return this.store.ingest(signals)
  }

  /**
   * One page, newest first.
   * @throws QueryError (`HANGAR_QUERY_INVALID`) for an unknown cursor or another invalid parameter.
   */
  query(f: QueryFilter): QueryPage {
    let before: number | undefined
    if (f.cursor !== undefined) {
      before = /^\d{1,15}$/.test(f.cursor) ? Number(f.cursor) : NaN
      if (!Number.isSafeInteger(before)) throw new QueryError('cursor', 'not a next_cursor of this aggregator')
    }
    const r = this.store.query({
      order: 'desc',
      ...(f.provider !== undefined && { provider: f.provider }),
      ...(f.type !== undefined && { type: f.type }),
      ...(f.kind !== undefined && { kind: f.kind as SignalKind }),
      ...(f.severity !== undefined && { severity: f.severity as Severity }),
      ...(f.since !== undefined && { since: f.since }),
      ...(before !== undefined && { before }),
      ...(f.limit !== undefined && { limit: f.limit }),
    })
    return r.has_more && r.next_cursor !== null ? { signals: r.signals, next_cursor: String(r.next_cursor) } : { signals: r.signals }
  }

  /** See {@link SignalStore.subscribe}; the callback gets `(seq, signal)`. */
  subscribe(afterSeq: number, onSignal: (seq: number, signal: Signal) => void): () => void {
    return this.store.subscribe(afterSeq, (signal, seq) => onSignal(seq, signal))
  }

  /** Violation counters of a provider; zeros for one without stored signals. */
  providerStats(provider: string): ProviderStats {
    const p = this.store.provider(provider)
    if (!p) return { violations: {}, violations_total: 0 }
    return { violations: p.violations_by_type, violations_total: p.violations, ...(p.last_violation && { last_violation: p.last_violation }) }
  }

  /** Signals stored (ids in the dedup set: the whole retained history). */
  get size(): number {
    return this.store.stats().ids
  }

  get lastSeq(): number {
    return this.store.lastSeq
  }

  close(): Promise<void> {
    return this.store.close()
  }
}
