/**
 * Which audit records the aggregator must keep for the configured retention, and which may be
 * rotated out first. Pure: a rule over the signal's own fields.
 */
import type { Signal } from './types.js'

const KEPT_SEVERITIES: ReadonlySet<string> = new Set(['medium', 'high', 'critical'])
/** Types about the audit trail itself: losing them would hide that something was lost or folded. */
const AUDIT_ACCOUNTING: ReadonlySet<string> = new Set(['signals_suppressed', 'signals_dropped'])

/**
 * True when a signal is a violation record the audit log keeps for `audit_retention_days`
 * (docs/signals.md, "Retention"): severity `medium` or above; kind `violation`; a type ending in
 * `_denied`, `_violation` or `_bypass_attempt`; a type naming drift or quarantine
 * (`tool_definition_drift`, `quarantine_triggered`, `quarantine_released`); or a record of the
 * audit trail's own losses (`signals_suppressed`, `signals_dropped`). Everything else is an
 * observation, which may rotate out before that.
 */
export function isRetained(s: Pick<Signal, 'type' | 'kind' | 'severity'>): boolean {
  if (KEPT_SEVERITIES.has(s.severity) || s.kind === 'violation') return true
  const t = s.type
  return t.endsWith('_denied') || t.endsWith('_violation') || t.endsWith('_bypass_attempt') || t.includes('drift') || t.includes('quarantine') || AUDIT_ACCOUNTING.has(t)
}
