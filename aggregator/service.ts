/**
 * The aggregator's operations, shared by its HTTP API (aggregator/http/) and its MCP tools
 * (aggregator/mcp/tools.ts) so both say the same thing: the provider list with derived states,
 * one provider's details, its latest behavioral baseline, violation queries, quarantine and
 * approval (which go to the policy book and reach sidecars through their long poll), and signal
 * ingestion, which also applies
 * "quarantine is triggered by any violation of a provider whose enforcement_mode is quarantine"
 * (issue 4) at the aggregator, so the quarantine is recorded centrally and survives restarts.
 */
import type { Logger } from '../core/log.js'
import type { Isolation, Signal } from '../signals/types.js'
import type { BaselineBook, StoredBaseline } from './baselines.js'
import type { PolicyBook, ProviderPolicy } from './policy.js'
import { deriveState, type Heartbeat, type ProviderStatus, type SidecarRegistry } from './registry.js'
import type { ProviderStats, QueryFilter, QueryPage, SignalStorePort } from './store-api.js'

/** One provider as `GET /v1/providers` and `hangar_list` show it. */
export interface ProviderView {
  name: string
  state: ProviderStatus
  /** Known from hangar.yaml (as opposed to only from heartbeats). */
  configured: boolean
  quarantined: boolean
  quarantine_reason?: string
  policy_version: number
  last_heartbeat?: string
  /** How the provider's egress is confined, from its last heartbeat (`netns`, `cooperative`). */
  isolation?: Isolation
  sidecar?: Pick<Heartbeat, 'sidecar_id' | 'version' | 'tools_digest' | 'profile_digest' | 'provider_state' | 'policy_version'>
  violations: ProviderStats['violations']
  violations_total: number
  last_violation?: Signal
}

export interface AggregatorServiceOptions {
  store: SignalStorePort
  registry: SidecarRegistry
  policy: PolicyBook
  /** The latest baseline per provider (shipped with heartbeats). */
  baselines: BaselineBook
  /** Provider names from hangar.yaml. */
  configured: readonly string[]
  log: Logger
}

/** Result of {@link AggregatorService.ingest}. */
export interface IngestOutcome {
  accepted: number
  duplicates: number
  /** Providers quarantined by this batch (a signal with `action: quarantined`). */
  quarantined: string[]
}

export class AggregatorService {
  constructor(private readonly o: AggregatorServiceOptions) {}

  /** Every provider configured or heard from, sorted by name. */
  providers(): ProviderView[] {
    const names = new Set([...this.o.configured, ...this.o.registry.names(), ...this.o.policy.list().map((p) => p.provider)])
    return [...names].sort().map((n) => this.provider(n)!)
  }

  /** One provider, or undefined when neither configured nor ever heard from. */
  provider(name: string): ProviderView | undefined {
    const entry = this.o.registry.get(name)
    const policy = this.o.policy.get(name)
    const configured = this.o.configured.includes(name)
    if (!entry && !configured && policy.version === 0) return undefined
    const stats = this.o.store.providerStats(name)
    const hb = entry?.heartbeat
    return {
      name,
      state: deriveState(entry, policy.quarantined, this.o.registry.now()),
      configured,
      quarantined: policy.quarantined || hb?.quarantined === true,
      ...(policy.quarantined && policy.reason ? { quarantine_reason: policy.reason } : {}),
      policy_version: policy.version,
      ...(entry ? { last_heartbeat: new Date(entry.at).toISOString() } : {}),
      ...(hb?.isolation ? { isolation: hb.isolation } : {}),
      ...(hb
        ? { sidecar: { sidecar_id: hb.sidecar_id, version: hb.version, policy_version: hb.policy_version, ...pick(hb, ['tools_digest', 'profile_digest', 'provider_state']) } }
        : {}),
      violations: stats.violations,
      violations_total: stats.violations_total,
      ...(stats.last_violation ? { last_violation: stats.last_violation } : {}),
    }
  }

  /**
   * The latest baseline the provider's sidecar shipped, if any (for `GET …/baseline` and
   * `hangar_baseline`). Also known after a restart, before the provider heartbeats again.
   */
  baseline(name: string): StoredBaseline | undefined {
    return this.o.baselines.get(name)
  }

  /** The sidecar's MCP ingress URL from its last heartbeat. */
  mcpUrl(name: string): string | undefined {
    return this.o.registry.get(name)?.heartbeat.mcp_url
  }

  policyOf(name: string): ProviderPolicy {
    return this.o.policy.get(name)
  }

  quarantine(name: string, reason: string, by: string): { policy: ProviderPolicy; changed: boolean } {
    const r = this.o.policy.quarantine(name, reason, by)
    if (r.changed) this.o.log.warn({ provider: name, reason, by }, 'provider quarantined')
    return r
  }

  approve(name: string, reason: string, by: string): ProviderPolicy {
    const p = this.o.policy.approve(name, reason, by)
    this.o.log.info({ provider: name, reason, by }, 'provider approved')
    return p
  }

  /** Live signals after sequence `after` (see {@link SignalStorePort.subscribe}). */
  subscribe(after: number, onSignal: (seq: number, s: Signal) => void): () => void {
    return this.o.store.subscribe(after, onSignal)
  }

  /** Signals matching a filter, one page. */
  query(f: QueryFilter): QueryPage {
    return this.o.store.query(f)
  }

  /**
   * Stores a validated batch (durably, before it resolves) and quarantines every provider that
   * reported a quarantine of its own (`action: quarantined`), unless the quarantine was lifted
   * after that signal's time by an approval (a late batch must not re-quarantine).
   */
  async ingest(signals: Signal[]): Promise<IngestOutcome> {
    const r = await this.o.store.ingest(signals)
    const quarantined: string[] = []
    for (const s of signals) {
      if (s.action !== 'quarantined' && s.type !== 'quarantine_triggered') continue
      if (s.type === 'quarantine_triggered' && (s.details as { by?: unknown } | undefined)?.by !== 'violation') continue
      const p = this.o.policy.get(s.provider)
      if (p.quarantined || (p.changed_at && p.changed_at > s.time)) continue
      const { changed } = this.quarantine(s.provider, `${s.type}: ${s.reason}`, 'violation')
      if (changed) quarantined.push(s.provider)
    }
    return { ...r, quarantined }
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}
