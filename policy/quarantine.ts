/**
 * The provider's run-time enforcement state: quarantine on/off. Decisions read it
 * synchronously; the admin API, the aggregator's policy push (sidecar/aggregator-link.ts) and `quarantine`-mode
 * violations switch it. A switch emits `quarantine_triggered` / `quarantine_released`.
 */
import { EventEmitter } from 'node:events'
import type { EnforcementState } from './egress-types.js'

export interface QuarantineChange {
  quarantined: boolean
  reason: string
  /** Who switched it: `api`, `violation`, `aggregator`, `config`. */
  by: string
}

/** Holds {@link EnforcementState}; emits `change` with a {@link QuarantineChange}. */
export class EnforcementController extends EventEmitter<{ change: [QuarantineChange] }> {
  readonly state: EnforcementState = { quarantined: false }

  /** Quarantines the provider (idempotent: a second call does not emit). */
  quarantine(reason: string, by: string): boolean {
    if (this.state.quarantined) return false
    this.state.quarantined = true
    this.state.quarantineReason = reason
    this.emit('change', { quarantined: true, reason, by })
    return true
  }

  /** Lifts the quarantine (idempotent). */
  release(reason: string, by: string): boolean {
    if (!this.state.quarantined) return false
    this.state.quarantined = false
    delete this.state.quarantineReason
    this.emit('change', { quarantined: false, reason, by })
    return true
  }
}
