/**
 * What the aggregator's HTTP API, MCP tools and service need from the signal store
 * (aggregator/store/): durable ingestion with dedup, queries with a stable cursor, live
 * subscription from a sequence number, and per-provider violation statistics.
 */
import type { Signal } from '../signals/types.js'

/** Filter of `GET /v1/signals` and `hangar_violations`. */
export interface QueryFilter {
  provider?: string
  type?: string
  kind?: string
  severity?: string
  /** RFC 3339: signals at or after this time. */
  since?: string
  /** Paging cursor from a previous page's `next_cursor`. */
  cursor?: string
  /** Page size, 1–1000. Default 100. */
  limit?: number
}

export interface QueryPage {
  signals: Signal[]
  /** Pass as `cursor` for the next page; absent on the last page. */
  next_cursor?: string
}

export interface ProviderStats {
  /** Violation counts by signal type. */
  violations: Record<string, number>
  violations_total: number
  last_violation?: Signal
}

export interface SignalStorePort {
  /** Appends the new (non-duplicate) signals durably (fsynced) before resolving. */
  ingest(signals: Signal[]): Promise<{ accepted: number; duplicates: number }>
  query(f: QueryFilter): QueryPage
  /**
   * Delivers every stored signal after sequence `afterSeq` (0 = from the oldest in memory), then
   * live ones, in order, without gaps or duplicates. @returns unsubscribe.
   */
  subscribe(afterSeq: number, onSignal: (seq: number, signal: Signal) => void): () => void
  providerStats(provider: string): ProviderStats
  /** Signals stored (in the index), and the last sequence number. */
  readonly size: number
  readonly lastSeq: number
  close(): Promise<void>
}
