/**
 * What a sidecar does when it receives a policy version from the aggregator (pure). The rules:
 * - only a newer version counts (long polls may answer with the version the sidecar has);
 * - `quarantined: true` → quarantine the provider (every tool call and all egress denied);
 * - more `approvals` than before → lift the quarantine (whatever caused it: the aggregator, an
 *   admin, or a `quarantine`-mode violation seen by this sidecar) and clear drift and
 *   undeclared-tool holds. A policy that is merely unquarantined does not lift a quarantine the
 *   sidecar imposed itself: the aggregator may not have ingested that violation yet.
 * - the first policy a sidecar sees after start sets its baseline: approvals given before it
 *   started do not clear holds found after.
 */
import type { ProviderPolicy } from '../aggregator/policy.js'

export interface PolicyActions {
  /** Quarantine with this reason. */
  quarantine?: string
  /** Lift the quarantine and approve held tools, with this reason. */
  approve?: string
}

export function policyActions(prev: ProviderPolicy | undefined, next: ProviderPolicy): PolicyActions {
  if (prev && next.version <= prev.version) return {}
  if (next.quarantined) return { quarantine: next.reason ?? 'quarantined by the aggregator' }
  if (prev && next.approvals > prev.approvals) return { approve: next.reason ?? 'approved by the aggregator' }
  return {}
}
