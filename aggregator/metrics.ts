/**
 * The aggregator's own metrics (prefix `mcp_hangar_aggregator_`), on its own registry with
 * prom-client's default process collectors (the aggregator is not memory-tight like a sidecar).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

export interface AggregatorMetrics {
  registry: Registry
  /** `aggregator_signal_batches_total{outcome}`: `accepted`, `too_large`, `bad_request`, `unsupported_media_type`, `unauthorized`, `unavailable` (audit write failed), `insufficient_storage` (507: no room). */
  batches: Counter<'outcome'>
  /** `aggregator_signals_total{outcome}`: `accepted`, `duplicate`, `rejected`. */
  signals: Counter<'outcome'>
  /** `aggregator_heartbeats_total{outcome}`: `accepted`, `bad_request`, `too_many_providers`. */
  heartbeats: Counter<'outcome'>
  /** `aggregator_signal_streams`: open `GET /v1/signals/stream` readers. */
  streams: Gauge
  /** `aggregator_policy_polls`: long polls waiting. */
  policyPolls: Gauge
  /** `aggregator_providers{state}`: providers by derived state (set on scrape). */
  providers: Gauge<'state'>
  /** `aggregator_quarantines_total{by}`: quarantines issued (`api`, `mcp`, `violation`). */
  quarantines: Counter<'by'>
  /**
   * `aggregator_audit_refusals_total{reason}`: signal batches refused with 507 for lack of room:
   * `budget` (retained records fill `audit_max_total_bytes`) or `disk_full` (ENOSPC/EDQUOT).
   */
  auditRefusals: Counter<'reason'>
  /**
   * `aggregator_audit_released_total{reason}`: audit records given up on purpose: `rotated_out`
   * (observations, and unreadable lines, of files beyond `audit_keep_files` or the budget) and
   * `expired` (violation records past `audit_retention_days`).
   */
  auditReleased: Counter<'reason'>
  /**
   * `mcp_hangar_enterprise_feature_disabled{feature}`: 1 while a configured enterprise feature
   * (`export`: SIEM export sinks; `rbac`: `aggregator.auth`) does not run because no license enables the enterprise modules.
   */
  enterpriseFeatureDisabled: Gauge<'feature'>
  /** `aggregator_admin_actions_total{action}`: admin actions under RBAC (`quarantine`, `approve`, `key_create`, `key_revoke`). */
  adminActions: Counter<'action'>
  /** `aggregator_access_denied_total{required_role}`: requests and tool calls refused with 403 for a role below the one needed. */
  accessDenied: Counter<'required_role'>
  /** `aggregator_access_denied_suppressed_total`: refusals folded into a roll-up instead of an `admin_action_denied` record each. */
  deniedSuppressed: Counter
  /** `aggregator_admin_audit_failures_total`: the aggregator's own audit records the store refused (audit log full or failing). */
  adminAuditFailures: Counter
}

const P = 'mcp_hangar_aggregator_'

/** A fresh registry with the aggregator's metrics. */
export function createAggregatorMetrics(): AggregatorMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: P })
  const r = [registry]
  return {
    registry,
    batches: new Counter({ name: `${P}signal_batches_total`, help: 'POST /v1/signals batches by outcome.', labelNames: ['outcome'], registers: r }),
    signals: new Counter({ name: `${P}signals_total`, help: 'Signals received by outcome.', labelNames: ['outcome'], registers: r }),
    heartbeats: new Counter({ name: `${P}heartbeats_total`, help: 'Sidecar heartbeats by outcome.', labelNames: ['outcome'], registers: r }),
    streams: new Gauge({ name: `${P}signal_streams`, help: 'Open signal stream (SSE) readers.', registers: r }),
    policyPolls: new Gauge({ name: `${P}policy_polls`, help: 'Sidecar policy long polls waiting.', registers: r }),
    providers: new Gauge({ name: `${P}providers`, help: 'Providers by derived state.', labelNames: ['state'], registers: r }),
    quarantines: new Counter({ name: `${P}quarantines_total`, help: 'Quarantines issued, by origin.', labelNames: ['by'], registers: r }),
    auditRefusals: new Counter({ name: `${P}audit_refusals_total`, help: 'Signal batches refused with 507 for lack of audit room, by reason.', labelNames: ['reason'], registers: r }),
    enterpriseFeatureDisabled: new Gauge({ name: 'mcp_hangar_enterprise_feature_disabled', help: 'Configured enterprise features that do not run without a license (1 = disabled).', labelNames: ['feature'], registers: r }),
    adminActions: new Counter({ name: `${P}admin_actions_total`, help: 'Admin actions under RBAC, by action.', labelNames: ['action'], registers: r }),
    accessDenied: new Counter({ name: `${P}access_denied_total`, help: 'Requests and tool calls refused for a role below the one needed, by that role.', labelNames: ['required_role'], registers: r }),
    deniedSuppressed: new Counter({ name: `${P}access_denied_suppressed_total`, help: 'Refusals folded into a roll-up admin_action_denied record.', registers: r }),
    adminAuditFailures: new Counter({ name: `${P}admin_audit_failures_total`, help: 'The aggregator\'s own audit records the store refused.', registers: r }),
    auditReleased: new Counter({ name: `${P}audit_released_total`, help: 'Audit records given up on purpose: observations rotated out, violation records expired.', labelNames: ['reason'], registers: r }),
  }
}
