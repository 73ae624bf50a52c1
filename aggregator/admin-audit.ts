/**
 * The aggregator's own audit records under RBAC (docs/rbac.md §What is audited): every admin action
 * (quarantine, approve, API key create and revoke) is an `admin_action` signal naming the actor,
 * and every refused one (a role below the route's or tool's) an `admin_action_denied` signal.
 * They go through the same store as the sidecars' signals (audit log first, fsynced, then the
 * index), so SIEMs, `GET /v1/signals` and the export see them like any other.
 *
 * Fields: `sidecar_id` `aggregator`; `provider` the provider acted on (quarantine, approve), else
 * {@link AGGREGATOR_PROVIDER}, which no configured provider can be named (provider names have no
 * `:`); every denial carries {@link AGGREGATOR_PROVIDER} so an operator's refused attempt does not
 * count as a violation of the provider itself (its name is in `details.provider`). `caller` is the
 * principal's name, `caller_verified` true (the credential was checked), `enforcement_mode`
 * `block`; `details.principal` is the principal id and `details.via` how it authenticated.
 *
 * Denials are rate-limited per principal: the first {@link AdminAuditOptions.deniedPerWindow}
 * (default 10) within {@link AdminAuditOptions.windowMs} (default 60 000 ms) are recorded one by
 * one; the rest are counted and recorded as one roll-up `admin_action_denied` with
 * `details.suppressed` when the window ends, so a script hammering a forbidden route costs the
 * audit log one line a minute, and nothing is lost silently.
 */
import type { Logger } from '../core/log.js'
import type { Principal } from '../core/ports.js'
import { buildSignal } from '../signals/build.js'
import type { Signal } from '../signals/types.js'
import type { AdminActionName, RouteRole } from './http/routes.js'
import type { AggregatorMetrics } from './metrics.js'

/** The `provider` of the aggregator's own signals that concern no provider. */
export const AGGREGATOR_PROVIDER = 'hangar:aggregator'
/** The `sidecar_id` of the aggregator's own signals. */
export const AGGREGATOR_SIDECAR_ID = 'aggregator'

/** Principals tracked by the denial rate limit; more share one bucket. */
const MAX_TRACKED_PRINCIPALS = 1024

export interface AdminAuditOptions {
  /** Stores signals durably (AggregatorService.ingest). */
  ingest: (signals: Signal[]) => Promise<unknown>
  log: Logger
  metrics: AggregatorMetrics
  /** Denials recorded one by one per principal and window. Default 10. */
  deniedPerWindow?: number
  /** The denial window, ms. Default 60 000. */
  windowMs?: number
  /** Clock, ms since the epoch (tests). */
  now?: () => number
}

/** What was done, for an `admin_action` signal. */
export interface AdminActionRecord {
  action: AdminActionName
  /** `POST /v1/providers/{name}/quarantine`, or the tool (`hangar_quarantine`). */
  via: { route: string } | { tool: string }
  /** The provider acted on (quarantine, approve). */
  provider?: string
  /** One sentence: what and why. */
  reason: string
  details?: Record<string, unknown>
}

/** What was refused, for an `admin_action_denied` signal. */
export interface DeniedRecord {
  /** `METHOD /path`, or the tool name. */
  via: { route: string } | { tool: string }
  required: RouteRole
  /** The provider the refused request named, if any. */
  provider?: string
}

interface Bucket {
  principal: Principal
  start: number
  count: number
  suppressed: number
  last?: DeniedRecord
}

/** Records the aggregator's own `admin_action` and `admin_action_denied` signals. */
export class AdminAudit {
  readonly #o: AdminAuditOptions
  readonly #buckets = new Map<string, Bucket>()
  readonly #timer: NodeJS.Timeout
  readonly #pending = new Set<Promise<unknown>>()

  constructor(o: AdminAuditOptions) {
    this.#o = o
    this.#timer = setInterval(() => this.#sweep(false), Math.max(1000, Math.floor((o.windowMs ?? 60_000) / 4)))
    this.#timer.unref()
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now()
  }

  #signal(input: Omit<Parameters<typeof buildSignal>[1], 'enforcement_mode'>, provider: string): Signal {
    return buildSignal({ provider, sidecar_id: AGGREGATOR_SIDECAR_ID }, { ...input, enforcement_mode: 'block' }, new Date(this.#now()))
  }

  /**
   * Stores an `admin_action` signal for an action `actor` has done. Never throws.
   * @returns true once the record is durable; false when the store refused it (the error is
   *   logged and counted in `mcp_hangar_aggregator_admin_audit_failures_total`).
   */
  async action(actor: Principal, a: AdminActionRecord): Promise<boolean> {
    const s = this.#signal({
      kind: 'lifecycle', type: 'admin_action', action: 'allowed', caller: actor.name, caller_verified: actor.via !== 'open', reason: a.reason,
      details: { action: a.action, principal: actor.id, via: actor.via, role: actor.role, ...a.via, ...(a.provider && { provider: a.provider }), ...a.details },
    }, a.provider ?? AGGREGATOR_PROVIDER)
    this.#o.metrics.adminActions.inc({ action: a.action })
    return this.#store(s, a.action)
  }

  /**
   * Records that `actor` was refused (rate-limited per principal, see the top of this file).
   * Fire and forget: never throws, never waits for the disk.
   */
  denied(actor: Principal, d: DeniedRecord): void {
    this.#o.metrics.accessDenied.inc({ required_role: d.required })
    const now = this.#now()
    const window = this.#o.windowMs ?? 60_000
    const key = this.#buckets.has(actor.id) || this.#buckets.size < MAX_TRACKED_PRINCIPALS ? actor.id : '*'
    let b = this.#buckets.get(key)
    if (b && now - b.start >= window) {
      this.#flush(key, b)
      b = undefined
    }
    if (!b) {
      b = { principal: actor, start: now, count: 0, suppressed: 0 }
      this.#buckets.set(key, b)
    }
    b.count++
    if (b.count > (this.#o.deniedPerWindow ?? 10)) {
      b.suppressed++
      b.last = d
      this.#o.metrics.deniedSuppressed.inc()
      return
    }
    const where = 'route' in d.via ? d.via.route : `tool ${d.via.tool}`
    const s = this.#signal({
      kind: 'violation', type: 'admin_action_denied', action: 'blocked', caller: actor.name, caller_verified: actor.via !== 'open',
      reason: `${actor.name} (role ${actor.role}) was refused ${where}: it needs ${d.required === 'signal' ? 'a signal token (sidecar ingest)' : `role ${d.required}`}`,
      details: { principal: actor.id, via: actor.via, role: actor.role, required_role: d.required, ...d.via, ...(d.provider && { provider: d.provider }) },
    }, AGGREGATOR_PROVIDER)
    this.#track(this.#store(s, 'denied'))
  }

  /** Ends the windows that are over (all of them when `all`), recording their roll-ups. */
  #sweep(all: boolean): void {
    const now = this.#now()
    const window = this.#o.windowMs ?? 60_000
    for (const [k, b] of this.#buckets) if (all || now - b.start >= window) this.#flush(k, b)
  }

  #flush(key: string, b: Bucket): void {
    this.#buckets.delete(key)
    if (!b.suppressed) return
    const now = this.#now()
    const who = key === '*' ? 'principals beyond the tracked limit' : b.principal.name
    const s = this.#signal({
      kind: 'violation', type: 'admin_action_denied', action: 'blocked', ...(key !== '*' && { caller: b.principal.name, caller_verified: b.principal.via !== 'open' }),
      reason: `${b.suppressed} more refused actions by ${who} within ${Math.round((now - b.start) / 1000)} s were folded into this record`,
      details: {
        suppressed: b.suppressed, window_start: new Date(b.start).toISOString(), window_end: new Date(now).toISOString(),
        ...(key !== '*' && { principal: b.principal.id, via: b.principal.via, role: b.principal.role }),
        ...(b.last && { last_required_role: b.last.required, ...('route' in b.last.via ? { last_route: b.last.via.route } : { last_tool: b.last.via.tool }) }),
      },
    }, AGGREGATOR_PROVIDER)
    this.#track(this.#store(s, 'denied'))
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p)
    void p.finally(() => this.#pending.delete(p))
  }

  async #store(s: Signal, what: string): Promise<boolean> {
    try {
      await this.#o.ingest([s])
      return true
    } catch (err) {
      this.#o.metrics.adminAuditFailures.inc()
      this.#o.log.error({ err: (err as Error).message, type: s.type, what, caller: s.caller }, 'the aggregator could not store its own audit record')
      return false
    }
  }

  /** Records the open roll-ups, waits for the records in flight, stops the timer. Idempotent. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    this.#sweep(true)
    await Promise.all([...this.#pending])
  }
}

