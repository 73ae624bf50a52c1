/**
 * isRetained (signals/retention.ts): which audit records are violation records kept for
 * audit_retention_days. Checked over the whole signal catalogue, and over made-up types for each
 * rule (severity, kind, suffixes, drift/quarantine, the audit trail's own losses) with controls.
 */
import t from 'tap'
import { isRetained } from '../../signals/retention.js'
import { SIGNAL_TYPES, type Severity, type SignalKind } from '../../signals/types.js'

const s = (type: string, kind: SignalKind = 'observation', severity: Severity = 'info') => ({ type, kind, severity })

t.test('the catalogue: every type at its default severity', async (t) => {
  const kept = Object.entries(SIGNAL_TYPES).filter(([type, v]) => isRetained(s(type, 'observation', v.severity))).map(([type]) => type).sort()
  const dropped = Object.keys(SIGNAL_TYPES).filter((type) => !kept.includes(type)).sort()
  t.same(dropped, ['dns_allowed', 'egress_allowed', 'egress_closed', 'provider_state_changed', 'rate_limited', 'sidecar_started', 'sidecar_stopped', 'tool_called'], 'only observations and low-severity bookkeeping may rotate out')
})

t.test('severity medium and above, or kind violation, are kept whatever the type', async (t) => {
  for (const sev of ['medium', 'high', 'critical'] as const) t.ok(isRetained(s('custom_event', 'observation', sev)), `severity ${sev}`)
  for (const sev of ['info', 'low'] as const) t.notOk(isRetained(s('custom_event', 'observation', sev)), `control: severity ${sev}`)
  t.ok(isRetained(s('custom_event', 'violation', 'info')), 'kind violation')
  for (const kind of ['enforcement', 'lifecycle', 'observation'] as const) t.notOk(isRetained(s('custom_event', kind, 'low')), `control: kind ${kind}`)
})

t.test('type rules: _denied, _violation, _bypass_attempt suffixes; drift; quarantine; the audit accounting types', async (t) => {
  for (const type of ['x_denied', 'x_violation', 'x_bypass_attempt', 'schema_drift_seen', 'quarantine_anything', 'pre_quarantine', 'signals_suppressed', 'signals_dropped']) {
    t.ok(isRetained(s(type)), `${type} kept at info`)
  }
  for (const type of ['denied_x', 'violation_x', 'bypass_attempt_x', 'signals_emitted', 'tool_called', 'x_allowed']) {
    t.notOk(isRetained(s(type)), `control: ${type} may rotate out`)
  }
})
