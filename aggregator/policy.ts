/**
 * The aggregator's policy book: per provider, whether it is quarantined and a version number that
 * grows on every change. Sidecars long-poll `GET /v1/policy/{name}?version=N&wait=30`
 * (DESIGN.md §7) and apply each new version: quarantined → deny every tool call and all egress;
 * a new approval → lift the quarantine and clear drift holds. The book is persisted (atomic
 * and durable replace of `<data_dir>/policy.json`, core/atomic-write.ts) so a quarantine outlives an aggregator restart.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { writeFileAtomicSync } from '../core/atomic-write.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'

/** One provider's policy as sidecars receive it. */
export interface ProviderPolicy {
  provider: string
  /** Grows by one on every change; 0 = never changed. */
  version: number
  quarantined: boolean
  /** Why it is quarantined (or why it was last released). */
  reason?: string
  /** Who made the last change: `api`, `mcp` (hangar_quarantine/hangar_approve), `violation`. */
  by?: string
  /** RFC 3339 time of the last change. */
  changed_at?: string
  /**
   * Approvals so far. A sidecar that sees this grow clears its drift and undeclared-tool holds
   * (`hangar_approve`), even when the provider was not quarantined.
   */
  approvals: number
}

const fileSchema = z.object({
  version: z.literal(1),
  providers: z.record(z.object({
    version: z.number().int().min(0),
    quarantined: z.boolean(),
    reason: z.string().optional(),
    by: z.string().optional(),
    changed_at: z.string().optional(),
    approvals: z.number().int().min(0),
  })),
})

interface Waiter {
  after: number
  resolve: (p: ProviderPolicy) => void
  timer: NodeJS.Timeout
}

export interface PolicyBookOptions {
  /** Where the book is persisted; undefined = memory only (tests). */
  file?: string
  clock?: () => Date
}

/** Policies by provider name, with long-poll waiters. */
export class PolicyBook {
  readonly #policies = new Map<string, ProviderPolicy>()
  readonly #waiters = new Map<string, Set<Waiter>>()
  readonly #file: string | undefined
  readonly #clock: () => Date

  /** @throws HangarError `HANGAR_CONFIG_INVALID` when the persisted file is unreadable JSON of the wrong shape. */
  constructor(opts: PolicyBookOptions = {}) {
    this.#file = opts.file
    this.#clock = opts.clock ?? (() => new Date())
    if (this.#file) this.#load(this.#file)
  }

  #load(file: string): void {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    const parsed = fileSchema.safeParse(safeJson(text))
    if (!parsed.success) throw new HangarError(ERROR_CODES.CONFIG_INVALID, `${file}: not a policy book (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? 'malformed JSON'})`)
    for (const [provider, p] of Object.entries(parsed.data.providers)) this.#policies.set(provider, { provider, ...p })
  }

  #persist(): void {
    if (!this.#file) return
    const body = { version: 1, providers: Object.fromEntries([...this.#policies].map(([k, { provider: _p, ...rest }]) => [k, rest])) }
    mkdirSync(dirname(this.#file), { recursive: true })
    writeFileAtomicSync(this.#file, JSON.stringify(body, null, 2) + '\n')
  }

  /** The provider's current policy (version 0, not quarantined, when never changed). */
  get(provider: string): ProviderPolicy {
    return this.#policies.get(provider) ?? { provider, version: 0, quarantined: false, approvals: 0 }
  }

  /** Every provider with a recorded policy. */
  list(): ProviderPolicy[] {
    return [...this.#policies.values()]
  }

  #change(provider: string, next: Omit<ProviderPolicy, 'provider' | 'version' | 'changed_at'>): ProviderPolicy {
    const cur = this.get(provider)
    const p: ProviderPolicy = { provider, ...next, version: cur.version + 1, changed_at: this.#clock().toISOString() }
    this.#policies.set(provider, p)
    this.#persist()
    const ws = this.#waiters.get(provider)
    if (ws) {
      for (const w of ws) {
        clearTimeout(w.timer)
        w.resolve(p)
      }
      this.#waiters.delete(provider)
    }
    return p
  }

  /**
   * Quarantines the provider. Idempotent: an already quarantined provider keeps its version
   * (sidecars have nothing new to apply) and its first reason.
   * @returns the policy and whether it changed.
   */
  quarantine(provider: string, reason: string, by: string): { policy: ProviderPolicy; changed: boolean } {
    const cur = this.get(provider)
    if (cur.quarantined) return { policy: cur, changed: false }
    return { policy: this.#change(provider, { quarantined: true, reason, by, approvals: cur.approvals }), changed: true }
  }

  /**
   * Approves the provider: lifts a quarantine and counts an approval, which makes its sidecar
   * clear drift and undeclared-tool holds. Always a new version.
   */
  approve(provider: string, reason: string, by: string): ProviderPolicy {
    const cur = this.get(provider)
    return this.#change(provider, { quarantined: false, reason, by, approvals: cur.approvals + 1 })
  }

  /**
   * Resolves with the policy as soon as its version is greater than `after`, or with the current
   * policy after `waitMs` (long poll). Resolves at once when it already is. `cancel()` (the
   * client went away) resolves it at once with the current policy.
   */
  wait(provider: string, after: number, waitMs: number): { promise: Promise<ProviderPolicy>; cancel(): void } {
    const cur = this.get(provider)
    if (cur.version > after || waitMs <= 0) return { promise: Promise.resolve(cur), cancel: () => {} }
    let waiter!: Waiter
    const promise = new Promise<ProviderPolicy>((resolve) => {
      waiter = {
        after,
        resolve,
        timer: setTimeout(() => {
          this.#waiters.get(provider)?.delete(waiter)
          resolve(this.get(provider))
        }, waitMs),
      }
    })
    let set = this.#waiters.get(provider)
    if (!set) this.#waiters.set(provider, (set = new Set()))
    set.add(waiter)
    return {
      promise,
      cancel: () => {
        clearTimeout(waiter.timer)
        if (this.#waiters.get(provider)?.delete(waiter)) waiter.resolve(this.get(provider))
      },
    }
  }

  /** Long polls waiting now (a metric and a test hook). */
  get waiting(): number {
    let n = 0
    for (const s of this.#waiters.values()) n += s.size
    return n
  }

  /** Releases every waiter with the current policy (shutdown). */
  close(): void {
    for (const [provider, ws] of this.#waiters) {
      for (const w of ws) {
        clearTimeout(w.timer)
        w.resolve(this.get(provider))
      }
    }
    this.#waiters.clear()
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}
