/**
 * The provider's quarantine switch: on or off. (Not to be confused with the enforcement MODE,
 * `capabilities.enforcement_mode`, which says what a violation does, nor with a signal's
 * `enforcement` block, which records the action taken.) Decisions read it synchronously; the admin API, the aggregator's policy push (sidecar/aggregator-link.ts) and `quarantine`-mode
 * violations switch it. A switch emits `quarantine_triggered` / `quarantine_released`.
 */
import { EventEmitter } from 'node:events'
import type { QuarantineState } from './egress-types.js'

export interface QuarantineChange {
  quarantined: boolean
  reason: string
  /** Who switched it: `api`, `violation`, `aggregator`, `config`. */
  by: string
}

/** The quarantine switch of one provider: holds {@link QuarantineState}; emits `change` with a {@link QuarantineChange}. */
export class QuarantineSwitch extends EventEmitter<{ change: [QuarantineChange] }> {
  readonly state: QuarantineState = { quarantined: false }

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
