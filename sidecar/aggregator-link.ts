/**
 * The sidecar's side of the control plane: it heartbeats to the
 * aggregator every `intervalMs` (`POST /v1/sidecars/heartbeat`) and follows the provider's policy
 * with a long poll (`GET /v1/policy/{name}?version=N&wait=S`), so a quarantine issued at the
 * aggregator reaches the sidecar in well under a second. What a new policy means is decided by
 * {@link policyActions}; the caller applies it (QuarantineSwitch, Inspector).
 *
 * Baselines: when {@link SidecarLinkOptions.baseline} is given, a heartbeat carries the
 * provider's baseline (`baseline`) if its `revision` (or `started`) differs from the last one the
 * aggregator accepted and at least `baselineIntervalMs` passed since a baseline was last sent
 * (the first one goes at once). A baseline the aggregator refuses (400, 413) is logged once per
 * streak and not sent again until it changes; the heartbeat is then re-sent at once without it.
 *
 * An unreachable aggregator changes nothing locally: the sidecar keeps enforcing its configured
 * profile and its current quarantine state (the aggregator is not a single point of failure for
 * enforcement), retries with capped backoff, and logs the outage once per streak.
 */
import { Backoff, EQUAL_JITTER } from '../core/backoff.js'
import { Agent, request } from 'undici'
import type { Logger } from '../core/log.js'
import type { Baseline } from '../policy/baseline-schema.js'
import { HEARTBEAT_INTERVAL_MS, type Heartbeat } from '../aggregator/registry.js'
import type { ProviderPolicy } from '../aggregator/policy.js'
import { policyActions, type PolicyActions } from './policy-actions.js'

export interface SidecarLinkOptions {
  /** The aggregator's base URL (`aggregator.url`). */
  url: string
  /** A signal token (`aggregator.signal_tokens`), sent as `Authorization: Bearer`. */
  token?: string
  provider: string
  sidecarId: string
  version: string
  /** The sidecar's current state for the next heartbeat. */
  status(): Pick<Heartbeat, 'state' | 'quarantined'> & Partial<Pick<Heartbeat, 'tools_digest' | 'profile_digest' | 'mcp_url' | 'provider_state'>>
  /** Applies a new policy (called once per new version, in order). */
  apply(actions: PolicyActions, policy: ProviderPolicy): void
  log: Logger
  /** Heartbeat period, ms. Default 10 000. */
  intervalMs?: number
  /** Long-poll wait the sidecar asks for, seconds. Default 30. */
  pollWaitS?: number
  /**
   * The provider's current baseline (the sidecar's recorder), or undefined while there is none.
   * Called before every heartbeat; should be cheap (return the recorder's current document).
   */
  baseline?: () => Baseline | undefined
  /** Least time between two heartbeats that carry a baseline, ms. Default {@link BASELINE_INTERVAL_MS}. */
  baselineIntervalMs?: number
}

/** Default {@link SidecarLinkOptions.baselineIntervalMs}, ms. */
export const BASELINE_INTERVAL_MS = 30_000

/** Retry delays of a failed policy poll: 250 ms doubling to 30 s, each drawn from [d/2, d). */
const POLL_BACKOFF = { initialMs: 250, capMs: 30_000, jitter: EQUAL_JITTER } as const

/** What identifies a baseline's content: equal revisions of one recording are equal baselines. */
const baselineKey = (b: Baseline): string => `${b.started}#${b.revision}`

/** Heartbeat loop and policy follower. `start()` once, `stop()` on shutdown. */
export class SidecarLink {
  readonly #o: SidecarLinkOptions
  readonly #agent = new Agent({ keepAliveTimeout: 60_000, connections: 4 })
  #policy: ProviderPolicy | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #abort = new AbortController()
  #pollDown = false
  #beatDown = false
  /** {@link baselineKey} of the last baseline the aggregator accepted / refused. */
  #baselineAccepted: string | undefined
  #baselineRefused: string | undefined
  /** A refusal was logged and no baseline was accepted since. */
  #baselineRefusalLogged = false
  #baselineFailLogged = false
  /** When a baseline was last sent, ms since the epoch. */
  #baselineSentAt: number | undefined

  constructor(o: SidecarLinkOptions) {
    this.#o = o
  }

  /** The last policy applied, if any. */
  get policy(): ProviderPolicy | undefined {
    return this.#policy
  }

  #headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.#o.token ? { authorization: `Bearer ${this.#o.token}` } : {}) }
  }

  start(): void {
    void this.#beat()
    void this.#pollLoop()
  }

  /** The baseline the next heartbeat should carry, if any (rules at the top of this file). */
  #baselineToShip(): { baseline: Baseline; key: string } | undefined {
    if (!this.#o.baseline) return undefined
    // Checked first: building the document (up to a few MiB) is the costly part.
    if (this.#baselineSentAt !== undefined && Date.now() - this.#baselineSentAt < (this.#o.baselineIntervalMs ?? BASELINE_INTERVAL_MS)) return undefined
    let b: Baseline | undefined
    try {
      b = this.#o.baseline()
    } catch (err) {
      if (!this.#baselineFailLogged) this.#o.log.warn({ err: (err as Error).message }, 'cannot read the baseline to ship; heartbeating without it')
      this.#baselineFailLogged = true
      return undefined
    }
    if (!b) return undefined
    const key = baselineKey(b)
    if (key === this.#baselineAccepted || key === this.#baselineRefused) return undefined
    return { baseline: b, key }
  }

  async #post(body: Heartbeat, interval: number): Promise<{ status: number; text: string }> {
    const res = await request(new URL('/v1/sidecars/heartbeat', this.#o.url), {
      method: 'POST', headers: this.#headers(), body: JSON.stringify(body), dispatcher: this.#agent,
      headersTimeout: interval, bodyTimeout: interval, signal: this.#abort.signal,
    })
    return { status: res.statusCode, text: await res.body.text() }
  }

  async #beat(): Promise<void> {
    if (this.#stopped) return
    const interval = this.#o.intervalMs ?? HEARTBEAT_INTERVAL_MS
    const body: Heartbeat = {
      provider: this.#o.provider,
      sidecar_id: this.#o.sidecarId,
      version: this.#o.version,
      policy_version: this.#policy?.version ?? 0,
      interval_ms: interval,
      ...this.#o.status(),
    }
    try {
      const ship = this.#baselineToShip()
      let r: { status: number; text: string }
      if (ship) {
        this.#baselineSentAt = Date.now()
        r = await this.#post({ ...body, baseline: ship.baseline }, interval)
        if (r.status < 300) {
          this.#baselineAccepted = ship.key
          this.#baselineRefused = undefined
          this.#baselineRefusalLogged = false
          this.#o.log.debug({ revision: ship.baseline.revision }, 'baseline shipped to the aggregator')
        } else if (r.status === 400 || r.status === 413) {
          this.#baselineRefused = ship.key
          if (!this.#baselineRefusalLogged) {
            this.#o.log.warn({ status: r.status, err: r.text.slice(0, 300), revision: ship.baseline.revision, url: this.#o.url },
              'aggregator refused the baseline; heartbeating without it until it changes')
          }
          this.#baselineRefusalLogged = true
          r = await this.#post(body, interval) // the heartbeat itself, now without the baseline
        }
      } else {
        r = await this.#post(body, interval)
      }
      if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 200)}`)
      if (this.#beatDown) this.#o.log.info('aggregator heartbeat accepted again')
      this.#beatDown = false
    } catch (err) {
      if (!this.#stopped && !this.#beatDown) this.#o.log.warn({ err: (err as Error).message, url: this.#o.url }, 'aggregator heartbeat failed; retrying every interval')
      this.#beatDown = true
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#beat(), interval)
  }

  async #pollLoop(): Promise<void> {
    const backoff = new Backoff(POLL_BACKOFF)
    const wait = this.#o.pollWaitS ?? 30
    while (!this.#stopped) {
      try {
        const url = new URL(`/v1/policy/${encodeURIComponent(this.#o.provider)}`, this.#o.url)
        url.searchParams.set('version', String(this.#policy?.version ?? 0))
        url.searchParams.set('wait', String(this.#policy ? wait : 0))
        const res = await request(url, {
          method: 'GET', headers: this.#headers(), dispatcher: this.#agent,
          headersTimeout: (wait + 10) * 1000, bodyTimeout: (wait + 10) * 1000, signal: this.#abort.signal,
        })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
        const next = JSON.parse(text) as ProviderPolicy
        if (typeof next.version !== 'number' || typeof next.quarantined !== 'boolean' || typeof next.approvals !== 'number') throw new Error('malformed policy answer')
        if (this.#pollDown) this.#o.log.info('aggregator policy poll answered again')
        this.#pollDown = false
        backoff.reset()
        const prev = this.#policy
        if (!prev || next.version > prev.version) {
          this.#policy = next
          this.#o.apply(policyActions(prev, next), next)
        }
      } catch (err) {
        if (this.#stopped) break
        if (!this.#pollDown) this.#o.log.warn({ err: (err as Error).message, url: this.#o.url }, 'aggregator policy poll failed; keeping the current policy and retrying')
        this.#pollDown = true
        await new Promise((r) => setTimeout(r, backoff.next()))
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#abort.abort()
    await this.#agent.close().catch(() => {})
  }
}
