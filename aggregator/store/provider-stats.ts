/**
 * Per-provider counters for GET /v1/providers and `hangar_list`: how many signals and violations
 * each provider has in the retained audit history (they are rebuilt by the replay, so they cover
 * exactly what the audit files on disk hold), violations by type, and the newest violation.
 */
import type { Signal } from '../../signals/types.js'

/** The counters of one provider. "Newest" is by sequence number (arrival), not by `time`. */
export interface ProviderStats {
  provider: string
  /** Stored signals of every kind. */
  signals: number
  /** Stored signals of kind `violation`. */
  violations: number
  /** Violations by `type` (`egress_denied`: 3, …). */
  violations_by_type: Record<string, number>
  /** Sequence number and `time` of the newest stored signal. */
  last_seq: number
  last_time: string
  /** The newest stored violation, or null. */
  last_violation: Signal | null
}

/** Accumulates {@link ProviderStats} signal by signal. The number of providers is not bounded (every name an authenticated sidecar sends). */
export class ProviderCounters {
  readonly #by = new Map<string, ProviderStats>()

  /** Counts one stored signal (call in ascending `seq` order). */
  add(seq: number, s: Signal): void {
    let p = this.#by.get(s.provider)
    if (!p) {
      p = { provider: s.provider, signals: 0, violations: 0, violations_by_type: Object.create(null) as Record<string, number>, last_seq: 0, last_time: '', last_violation: null }
      this.#by.set(s.provider, p)
    }
    p.signals++
    p.last_seq = seq
    p.last_time = s.time
    if (s.kind === 'violation') {
      p.violations++
      p.violations_by_type[s.type] = (p.violations_by_type[s.type] ?? 0) + 1
      p.last_violation = s
    }
  }

  /** A copy of one provider's counters, or undefined when it has no stored signal. */
  get(provider: string): ProviderStats | undefined {
    const p = this.#by.get(provider)
    return p && copy(p)
  }

  /** Copies of every provider's counters, by name. */
  all(): ProviderStats[] {
    return [...this.#by.values()].sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0)).map(copy)
  }
}

function copy(p: ProviderStats): ProviderStats {
  return { ...p, violations_by_type: { ...p.violations_by_type } }
}
