/**
 * DNS tunnelling checks shared by every egress path (DNS forwarder, CONNECT, absolute-form HTTP,
 * transparent Host/SNI), so one name gets one verdict wherever it shows up.
 *
 * Two checks:
 *  - **shape** ({@link tunnelSuspicion}, pure): the part of a name a wildcard leaves free is
 *    judged by its length, its number of labels and the distribution of its characters. Tunnels
 *    (iodine, dnscat2, DNSExfiltrator, and letters-only encodings such as hex mapped to `a`–`p`
 *    or lowercase base32 without digits) put data there as long labels that do not read like
 *    the words and ids of real host names.
 *  - **budget** ({@link SubdomainBudget}, stateful, bounded): unique subdomains per registrable
 *    domain (public suffix list, private entries included) per window. A tunnel needs a new name
 *    for every message, so even short, word-like labels run out of budget.
 */
import { loadTransient } from '../core/transient-module.js'

/** Limits of the shape check (characters, labels, bits). */
export const TUNNEL_LIMITS = {
  /** Free (wildcard-matched) part longer than this is suspect. */
  maxFreeLength: 100,
  /** A single free label this long is suspect whatever its content. */
  maxLabelLength: 52,
  /** More free labels than this is suspect. */
  maxFreeLabels: 6,
  /** A free label at least this long is checked for randomness. */
  randomLabelMinLength: 24,
  /** Shannon entropy (bits/char) at or above which a long label counts as random. */
  randomEntropy: 3.7,
  /** A run of letters and digits (between dots, "-" and "_") this long is checked for encoded data. */
  encodedRunMinLength: 8,
  /** Encoded-looking characters across all free labels at or above which the name is suspect. */
  maxEncodedChars: 40,
  /** A letters-only run this long is scored against English letter pairs ({@link letterPairCost}). */
  letterRunMinLength: 12,
  /** Mean cost (bits per letter pair) at or above which a letters-only run counts as encoded data. */
  letterCostEncoded: 5.2,
  /** A letters-only run at least this long … */
  randomLetterRunMinLength: 16,
  /** … with a mean cost at or above this is suspect on its own. */
  letterCostRandom: 5.4,
  /** A digits-only run this long counts as encoded data (decimal-encoded payloads). */
  digitRunMinLength: 12,
} as const

/**
 * −log2 P(b | a) of English letter pairs in half-bit steps (one base-36 digit per pair, row `a`
 * then column `b`, 26 × 26). Estimated from about 320,000 words of English technical prose
 * (package READMEs) with add-one smoothing. Random letters (hex mapped to a–p, base32 without
 * digits) cost about 6–8 bits per pair; compound words and abbreviations used in host names
 * (`mycompanyproductionbackups` 4.0, `githubusercontent` 2.9, `cdnjscloudflare` 5.0) less.
 */
const PAIR_COST =
  'ib89kf9kahe686nam675bbffbi6feg5jgk97j6ih6gk8ag6lml8f7idi7lm6ak8aho4hn9c6apiofn8fg93fci6jjbdf6emb8cafiico8e87badiegkaa6hbb568icd9dn6jch77km5ilajg4jm8ba7okobmagfj3hd85kh8e8ahk89c9gimff6kkm2kjo6nmheh8kmae59plofocd9aa9aqkme8947bma66kbpfoe7jki4jiceiiijh9fjj2iabdlih6dfd2bcf6hiffbcfjg7fcigjfg8eg94ggh5ge5jj6fog999ego9o49fc4kbl7cjaaf76nibhbflndl8h767c6jaidcgd7apj65cdkndleaa8g9dnfhe974b8p5b98bafkj5jif5jhf9kh79f79o667agjhftceghfjfgdggdffghgh9g1hgieg7fac4eah6mdbba7go988adgpbraj9f4fj97nfdfg79kd849dghbq8jcf6gj46nneei78r798boej9nb8cc7acn8nj786i9o567fnnjnl4kkh2l9l6njmhhcjmighhjmjlk6hke7ic64khfi87im98ikk8klm5f8e7fgf8hkfbfd5gfd4iiid9j9ccebeehbhh99744ke79hddkjh7fde3fdd6gcaef8hddcidegee6'
const PAIR = Uint8Array.from(PAIR_COST, (c) => parseInt(c, 36))

/**
 * Mean cost in bits per letter pair of a run of lowercase letters `a`–`z` (at least 2), under
 * the English letter-pair model above. Higher is less word-like.
 */
export function letterPairCost(run: string): number {
  let sum = 0
  for (let i = 1; i < run.length; i++) sum += PAIR[(run.charCodeAt(i - 1) - 97) * 26 + run.charCodeAt(i) - 97]!
  return sum / 2 / (run.length - 1)
}

/**
 * Letter↔digit switches in `s`. Encoded data (hex, base32) switches often; words and names
 * (`mycompanyproductionbackups`, `eu-west-1`, `backups2024`) hardly ever.
 */
function classSwitches(s: string): number {
  let n = 0
  for (let i = 1; i < s.length; i++) {
    const a = s.charCodeAt(i - 1) <= 57
    const b = s.charCodeAt(i) <= 57
    if (a !== b) n++
  }
  return n
}

const LETTERS = /^[a-z]+$/
const DIGITS = /^[0-9]+$/

/** Encoded-looking characters of one run of `[a-z0-9]`, and a sentence when the run alone is damning. */
function judgeRun(run: string): { encoded: number; why: string | null } {
  const L = TUNNEL_LIMITS
  if (run.length >= L.encodedRunMinLength && classSwitches(run) >= 2) return { encoded: run.length, why: null }
  if (run.length >= L.letterRunMinLength && LETTERS.test(run)) {
    const cost = letterPairCost(run)
    if (run.length >= L.randomLetterRunMinLength && cost >= L.letterCostRandom) {
      return { encoded: run.length, why: `a ${run.length}-letter run that does not read like words (${cost.toFixed(2)} bits per letter pair)` }
    }
    return { encoded: cost >= L.letterCostEncoded ? run.length : 0, why: null }
  }
  if (run.length >= L.digitRunMinLength && DIGITS.test(run)) return { encoded: run.length, why: null }
  return { encoded: 0, why: null }
}

/**
 * Returns a sentence when `free` (the lowercase labels a glob left free, dot-separated) looks
 * like a DNS tunnel, else null. Pure. Heuristic by design: real hosts under a wildcard have
 * short labels, word-like letters, or short ids; tunnels fill labels with encoded data.
 * Checked: total length, label count, label length, hex and high-entropy labels, runs mixing
 * letters and digits, letters-only runs scored against English letter pairs, long digit runs.
 */
export function tunnelSuspicion(free: string): string | null {
  if (free === '') return null
  const L = TUNNEL_LIMITS
  if (free.length > L.maxFreeLength) return `${free.length} characters of subdomain`
  const labels = free.split('.')
  if (labels.length > L.maxFreeLabels) return `${labels.length} subdomain labels`
  let encoded = 0
  for (const l of labels) {
    if (l.length >= L.maxLabelLength) return `a ${l.length}-character label`
    const runs = l.split(/[-_]/).filter((w) => w.length > 0)
    for (const r of runs) {
      const j = judgeRun(r)
      if (j.why) return j.why
      encoded += j.encoded
    }
    if (l.length >= L.randomLabelMinLength) {
      if (/^[0-9a-f]+$/.test(l)) return `a ${l.length}-character hex label`
      const longestWord = Math.max(...runs.map((w) => w.length))
      const h = entropy(l)
      // Random base32/base36 mixes digits in; a long run of letters only is judged above.
      if (longestWord >= L.randomLabelMinLength && h >= L.randomEntropy && classSwitches(l) >= 2) {
        return `a ${l.length}-character random-looking label (entropy ${h.toFixed(2)} bits/char)`
      }
    }
  }
  if (encoded >= L.maxEncodedChars) return `${encoded} characters of encoded-looking labels`
  return null
}

function entropy(s: string): number {
  const counts = new Map<number, number>()
  for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1)
  let h = 0
  for (const c of counts.values()) {
    const p = c / s.length
    h -= p * Math.log2(p)
  }
  return h
}

/** `network.subdomain_budget` compiled: unique subdomains per registrable domain per window. */
export interface SubdomainBudgetLimits {
  /** New subdomains admitted per registrable domain per window. */
  maxNames: number
  /** Window length, ms. */
  windowMs: number
}

/** A name's place in the budget ({@link SubdomainBudget.keyOf}): its domain and its subdomain's hash. */
export interface BudgetKey {
  readonly domain: string
  readonly hash: number
}

/** Outcome of {@link SubdomainBudget.admit} for a name that is over budget. */
export interface BudgetExceeded {
  /** The registrable domain (or private public suffix) the name counts against. */
  domain: string
  /** A sentence for the decision's reason. */
  reason: string
}

interface Window {
  start: number
  /** 32-bit hashes of the subdomains admitted in this window (at most maxNames). */
  names: Set<number>
}

type Tldts = typeof import('tldts')
let tldts: Tldts | undefined

/**
 * The registrable domain a name counts against and its subdomain part, or null when the name
 * has nothing a tunnel could vary (it is itself a registrable domain under an ICANN suffix, a
 * public suffix, or an IP). Uses the public suffix list with private entries (`tldts`): for
 * `x.y.github.io` the domain is `y.github.io`; a name that is itself a domain under a private
 * suffix (`<data>.githubusercontent.com`) counts against that suffix.
 */
export function budgetKey(name: string): { domain: string; sub: string } | null {
  tldts ??= loadTransient<Tldts>('tldts')
  const r = tldts.parse(name, { allowPrivateDomains: true, extractHostname: false })
  if (r.isIp || !r.domain) return null
  if (r.subdomain) return { domain: r.domain, sub: r.subdomain }
  if (r.isPrivate && r.publicSuffix && r.domainWithoutSuffix) return { domain: r.publicSuffix, sub: r.domainWithoutSuffix }
  return null
}

/** FNV-1a, 32 bits: subdomains are kept as hashes (bounded memory per domain). */
function hash32(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** Registrable domains tracked at once. Beyond, a new domain is refused until a window ends (fail closed). */
export const BUDGET_MAX_DOMAINS = 1024

/**
 * Counts unique subdomains per registrable domain in fixed windows and refuses new ones past
 * the budget. A name admitted once stays admitted for the rest of its window (repeats are free),
 * so a workload that reuses its names is never affected. Memory is bounded: at most
 * {@link BUDGET_MAX_DOMAINS} domains, each with at most `maxNames` 32-bit hashes.
 * One instance is shared by the DNS forwarder and the connector of a provider.
 */
export class SubdomainBudget {
  readonly #windows = new Map<string, Window>()
  readonly #clock: () => number

  /**
   * @param limits budget and window
   * @param clock monotonic ms; default performance.now (tests inject one)
   */
  constructor(readonly limits: SubdomainBudgetLimits, clock?: () => number) {
    this.#clock = clock ?? (() => performance.now())
  }

  /** Domains currently tracked (for tests and status). */
  get size(): number {
    return this.#windows.size
  }

  /**
   * Counts `name` (normalised: lowercase, no trailing dot) against its registrable domain.
   * @returns null when admitted (or not budgeted: see {@link budgetKey}), else why not
   */
  admit(name: string): BudgetExceeded | null {
    const k = this.keyOf(name)
    return k === null ? null : this.admitKey(k)
  }

  /**
   * The budget key of a name (a public-suffix lookup, about a microsecond), for callers that
   * keep it with a memoised decision and call {@link admitKey} per request (a map and a set lookup).
   * @returns null when the name is not budgeted ({@link budgetKey})
   */
  keyOf(name: string): BudgetKey | null {
    const k = budgetKey(name)
    return k === null ? null : { domain: k.domain, hash: hash32(k.sub) }
  }

  /**
   * Counts a key from {@link keyOf} in the current window of its domain.
   * @returns null when admitted (new, or already admitted in this window), else why not
   */
  admitKey(k: BudgetKey): BudgetExceeded | null {
    const now = this.#clock()
    const { maxNames, windowMs } = this.limits
    let w = this.#windows.get(k.domain)
    if (w !== undefined && now - w.start >= windowMs) {
      w.start = now
      w.names.clear()
    }
    if (w === undefined) {
      if (this.#windows.size >= BUDGET_MAX_DOMAINS && !this.#evictExpired(now)) {
        return { domain: k.domain, reason: `more than ${BUDGET_MAX_DOMAINS} registrable domains with new subdomains within ${windowMs / 1000} s` }
      }
      w = { start: now, names: new Set() }
      this.#windows.set(k.domain, w)
    }
    const h = k.hash
    if (w.names.has(h)) return null
    if (w.names.size >= maxNames) {
      return { domain: k.domain, reason: `more than ${maxNames} unique subdomains of ${k.domain} within ${windowMs / 1000} s (network.subdomain_budget)` }
    }
    w.names.add(h)
    return null
  }

  /** Drops windows that ended; true when at least one was dropped. */
  #evictExpired(now: number): boolean {
    const before = this.#windows.size
    for (const [d, w] of this.#windows) if (now - w.start >= this.limits.windowMs) this.#windows.delete(d)
    return this.#windows.size < before
  }
}
