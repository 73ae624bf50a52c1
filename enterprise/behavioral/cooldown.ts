/**
 * Bounds the signals of a deviation detector: per class and key (a destination, a name, a tool,
 * `calls`, …) the first occurrence is signalled and opens a cooldown; repeats inside it are
 * counted, not signalled, and one roll-up reports them when it ends. Per class, at most
 * `maxPerCooldown` distinct keys are signalled per cooldown period; more keys are folded into the
 * class's own roll-up (key `*`), so a burst of never-seen names (DNS tunnelling) costs a bounded
 * number of signals. Memory is bounded too: at most {@link MAX_OPEN} open keys.
 */
import type { DeviationClass } from '../../config/deviation-schema.js'

/** Open cooldowns kept at once; a new key beyond them is folded into its class's roll-up. */
export const MAX_OPEN = 4096

/** One open cooldown, and what its roll-up will say. */
export interface Cooldown {
  cls: DeviationClass
  key: string
  /** When it was opened and when it ends, ms since the epoch. */
  opened: number
  until: number
  /** Occurrences counted, not signalled. */
  suppressed: number
  /** Distinct keys folded in (the class roll-up `*` only). */
  keys: number
  /** The last suppressed occurrence, ms since the epoch (0: none). */
  last: number
  /** The largest observed figure among the suppressed occurrences (rates), else the last one. */
  observed: unknown
  /** The baseline figure of the last occurrence. */
  baseline: unknown
}

/** The outcome of {@link Cooldowns.hit}. */
export interface Hit {
  /** `signal`: signal it now; `suppressed`: counted for a roll-up. */
  outcome: 'signal' | 'suppressed'
  /** The key's previous cooldown, ended (not swept yet) with suppressed repeats: its roll-up, to signal first. */
  ended?: Cooldown
}

/** See the file comment. */
export class Cooldowns {
  readonly #open = new Map<string, Cooldown>()
  /** Per class: the start of its current period and the keys signalled in it. */
  readonly #budget = new Map<DeviationClass, { start: number; n: number }>()

  /**
   * @param cooldownMs how long repeats of one key are counted, not signalled, ms (0: every occurrence is signalled)
   * @param maxPerCooldown distinct keys signalled per class per `cooldownMs`
   */
  constructor(readonly cooldownMs: number, readonly maxPerCooldown: number) {}

  /** Open cooldowns (tests, status). */
  get size(): number {
    return this.#open.size
  }

  /**
   * One occurrence of class `cls` for `key` at `now` (ms since the epoch).
   * @param observed the figure seen (the roll-up keeps the largest number, else the latest value)
   * @param baseline the baseline figure it was compared with
   */
  hit(cls: DeviationClass, key: string, now: number, observed?: unknown, baseline?: unknown): Hit {
    if (this.cooldownMs === 0) return { outcome: 'signal' }
    const id = cls + '\u0000' + key
    const open = this.#open.get(id)
    if (open !== undefined && now < open.until) {
      this.#count(open, now, observed, baseline)
      return { outcome: 'suppressed' }
    }
    if (open !== undefined) this.#open.delete(id)
    const ended = open !== undefined && open.suppressed > 0 ? open : undefined
    const b = this.#budget.get(cls)
    if (b === undefined || now - b.start >= this.cooldownMs) this.#budget.set(cls, { start: now, n: 1 })
    else if (b.n >= this.maxPerCooldown || this.#open.size >= MAX_OPEN) {
      const all = cls + '\u0000*'
      let folded = this.#open.get(all)
      if (folded === undefined) {
        folded = { cls, key: '*', opened: now, until: b.start + this.cooldownMs, suppressed: 0, keys: 0, last: 0, observed: undefined, baseline: undefined }
        this.#open.set(all, folded)
      }
      folded.keys++
      this.#count(folded, now, observed, baseline)
      return { outcome: 'suppressed', ...(ended && { ended }) }
    } else b.n++
    this.#open.set(id, { cls, key, opened: now, until: now + this.cooldownMs, suppressed: 0, keys: 0, last: 0, observed: undefined, baseline: undefined })
    return { outcome: 'signal', ...(ended && { ended }) }
  }

  #count(c: Cooldown, now: number, observed: unknown, baseline: unknown): void {
    c.suppressed++
    c.last = now
    c.observed = typeof observed === 'number' && typeof c.observed === 'number' ? Math.max(observed, c.observed) : observed
    c.baseline = baseline
  }

  /**
   * Ends the cooldowns due at `now` (every one when `all`), and returns those with suppressed
   * occurrences: the roll-ups to signal.
   */
  sweep(now: number, all = false): Cooldown[] {
    const out: Cooldown[] = []
    for (const [id, c] of this.#open) {
      if (!all && now < c.until) continue
      this.#open.delete(id)
      if (c.suppressed > 0) out.push(c)
    }
    return out
  }
}
