/**
 * The sidecar registry: what each provider's sidecar last said about itself in
 * `POST /v1/sidecars/heartbeat` (every {@link HEARTBEAT_INTERVAL_MS}), and the provider state
 * the aggregator derives from it for `GET /v1/providers[/NAME]` (docs/aggregator.md §API):
 * `quarantined` (policy or sidecar says so) › `unreachable` (3 heartbeats missed) › the
 * sidecar's own `ready` / `degraded`.
 */
import { z } from 'zod'
import { baselineSchema } from '../policy/baseline-schema.js'

/** How often sidecars heartbeat, ms (every 10 s; docs/aggregator.md §API). */
export const HEARTBEAT_INTERVAL_MS = 10_000
/** Missed heartbeats after which a provider is `unreachable`. */
export const MISSED_HEARTBEATS = 3

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:<64 hex>"')

/** Body of `POST /v1/sidecars/heartbeat`. */
export const heartbeatSchema = z
  .object({
    provider: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'provider names are letters, digits, "-" and "_"'),
    sidecar_id: z.string().min(1).max(128),
    version: z.string().min(1).max(64),
    /** The sidecar's view: `ready` or `degraded` (provider DEGRADED/DEAD, breaker open, a listener down). */
    state: z.enum(['ready', 'degraded']),
    quarantined: z.boolean().default(false),
    /** Digest over the provider's current tool definitions (sorted pins). */
    tools_digest: digest.optional(),
    /** Digest of the effective capabilities profile. */
    profile_digest: digest.optional(),
    /** The policy version the sidecar has applied. */
    policy_version: z.number().int().min(0).default(0),
    /** Where the sidecar's MCP ingress listens, as the aggregator can reach it (for `hangar_call`). */
    mcp_url: z.string().url().optional(),
    /** Provider lifecycle state (COLD, READY, …) for display. */
    provider_state: z.string().max(32).optional(),
    /** How the provider's egress is confined (see `Signal.isolation`); absent = not said. */
    isolation: z.enum(['netns', 'container', 'k8s', 'cooperative']).optional(),
    /** Heartbeat period the sidecar uses, ms; the unreachable deadline is 3 of these. */
    interval_ms: z.number().int().min(100).max(3_600_000).default(HEARTBEAT_INTERVAL_MS),
    /**
     * The provider's behavioral baseline (`hangar.baseline/v1`), sent now and then (not with
     * every heartbeat: sidecar/aggregator-link.ts). Its `provider` must be the heartbeat's. Kept by the
     * aggregator's `BaselineBook` (baselines.ts), not by the registry.
     */
    baseline: baselineSchema.optional(),
  })
  .strict()
  .superRefine((hb, ctx) => {
    if (hb.baseline && hb.baseline.provider !== hb.provider)
      ctx.addIssue({ code: 'custom', path: ['baseline', 'provider'], message: `must be the heartbeat's provider "${hb.provider}", not "${hb.baseline.provider}"` })
  })

export type Heartbeat = z.infer<typeof heartbeatSchema>

/** What `GET /v1/providers` says of one provider. */
export type ProviderStatus = 'ready' | 'degraded' | 'quarantined' | 'unreachable'

interface Entry {
  heartbeat: Heartbeat
  /** ms since epoch of the last heartbeat. */
  at: number
}

/** Pure: the state shown for a provider. `policyQuarantined` comes from the policy book. */
export function deriveState(entry: { heartbeat: Heartbeat; at: number } | undefined, policyQuarantined: boolean, now: number): ProviderStatus {
  if (policyQuarantined || entry?.heartbeat.quarantined) return 'quarantined'
  if (!entry || now - entry.at > MISSED_HEARTBEATS * entry.heartbeat.interval_ms) return 'unreachable'
  return entry.heartbeat.state
}

/** Providers the registry tracks that are not in the config (a flood of invented names stops here). */
export const MAX_UNCONFIGURED_PROVIDERS = 256

/** Last heartbeat per provider (the newest sidecar wins when two report the same provider). */
export class SidecarRegistry {
  readonly #entries = new Map<string, Entry>()
  readonly #clock: () => number
  readonly #configured: ReadonlySet<string>
  #unconfigured = 0

  /**
   * @param configured provider names of the config: always accepted; other names only while
   *   fewer than {@link MAX_UNCONFIGURED_PROVIDERS} of them are known.
   */
  constructor(clock: () => number = Date.now, configured: readonly string[] = []) {
    this.#clock = clock
    this.#configured = new Set(configured)
  }

  /**
   * Records a heartbeat (already validated with {@link heartbeatSchema}). Its `baseline`, if
   * any, is not kept here (the BaselineBook keeps the latest one).
   * @returns false, recording nothing, for a new unconfigured provider beyond
   *   {@link MAX_UNCONFIGURED_PROVIDERS} (the caller answers 429).
   */
  beat(hb: Heartbeat): boolean {
    const known = this.#entries.has(hb.provider)
    if (!known && !this.#configured.has(hb.provider)) {
      if (this.#unconfigured >= MAX_UNCONFIGURED_PROVIDERS) return false
      this.#unconfigured++
    }
    const { baseline: _baseline, ...rest } = hb
    this.#entries.set(hb.provider, { heartbeat: rest, at: this.#clock() })
    return true
  }

  /** The last heartbeat of a provider and when it came (ms), if any. */
  get(provider: string): { heartbeat: Heartbeat; at: number } | undefined {
    return this.#entries.get(provider)
  }

  /** Providers that ever heartbeated. */
  names(): string[] {
    return [...this.#entries.keys()]
  }

  now(): number {
    return this.#clock()
  }
}
