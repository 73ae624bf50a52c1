/**
 * The aggregator's dedup set of signal ids (docs/signals.md: "the aggregator deduplicates on it").
 * It holds every id of the retained audit history, so it is sized for millions of ids.
 *
 * Memory: a signal id is a UUIDv7 in its canonical lowercase text form (36 characters). In a
 * `Set<string>` each costs ≈ 117 bytes of V8 heap (measured, Node 20: the string with its header
 * plus the hash-table entry). Here a canonical id is kept as its 128 bits in an
 * open-addressing table of four `Uint32Array` words per slot, at most 70 % full, so 16 bytes per
 * slot and 23–46 bytes per id (1 million ids: 33.5 MB measured), outside the V8 heap, instead of
 * ≈ 117 MB. Ids that are not lowercase canonical UUIDs (or the nil UUID, whose all-zero bits
 * mark an empty slot) go to a plain `Set<string>` beside it; equality is exact string equality
 * either way (`0190…` and `0190…` upper-cased are two ids, as they are two strings).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const WORDS = 4
const MAX_LOAD = 0.7
const MIN_SLOTS = 1024

/** The 128 bits of a lowercase canonical UUID as 4 words, or null (not canonical, or the nil UUID). */
export function uuidWords(id: string): [number, number, number, number] | null {
  if (id.length !== 36 || !UUID.test(id)) return null
  const w0 = parseInt(id.slice(0, 8), 16)
  const w1 = parseInt(id.slice(9, 13) + id.slice(14, 18), 16)
  const w2 = parseInt(id.slice(19, 23) + id.slice(24, 28), 16)
  const w3 = parseInt(id.slice(28, 36), 16)
  if ((w0 | w1 | w2 | w3) === 0) return null
  return [w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0]
}

// murmur3's 32-bit finaliser over the words; UUIDv7's leading 48 bits are a timestamp, so all four
// words are mixed in (the random ones make most of the spread).
function hash(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w3 ^ 0x9e3779b9, 0x85ebca6b) ^ w2
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ w1
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ w0
  h ^= h >>> 15
  h = Math.imul(h, 0x2c1b3c6d)
  h ^= h >>> 12
  return h >>> 0
}

/** A grow-only set of signal ids (no delete: the store only forgets ids by restarting). */
export class IdSet {
  #table: Uint32Array
  #mask: number
  #count = 0
  readonly #other = new Set<string>()

  /** @param expected ids expected, to size the table up front (it grows by doubling anyway). */
  constructor(expected = 0) {
    let slots = MIN_SLOTS
    while (slots * MAX_LOAD < expected) slots *= 2
    this.#table = new Uint32Array(slots * WORDS)
    this.#mask = slots - 1
  }

  /** Number of ids held. */
  get size(): number {
    return this.#count + this.#other.size
  }

  /** Bytes of the compact table (the fallback set's strings are not counted). */
  get tableBytes(): number {
    return this.#table.byteLength
  }

  has(id: string): boolean {
    const w = uuidWords(id)
    if (!w) return this.#other.has(id)
    return this.#find(this.#table, this.#mask, w[0], w[1], w[2], w[3]) < 0
  }

  /** Adds `id`; true when it was not there before. */
  add(id: string): boolean {
    const w = uuidWords(id)
    if (!w) {
      if (this.#other.has(id)) return false
      this.#other.add(id)
      return true
    }
    const at = this.#find(this.#table, this.#mask, w[0], w[1], w[2], w[3])
    if (at < 0) return false
    this.#put(this.#table, at, w[0], w[1], w[2], w[3])
    this.#count++
    if (this.#count > (this.#mask + 1) * MAX_LOAD) this.#grow()
    return true
  }

  /** The slot holding the id → -1; else the empty slot where it would go (word index). */
  #find(t: Uint32Array, mask: number, w0: number, w1: number, w2: number, w3: number): number {
    let slot = hash(w0, w1, w2, w3) & mask
    for (;;) {
      const i = slot * WORDS
      const a = t[i]!, b = t[i + 1]!, c = t[i + 2]!, d = t[i + 3]!
      if ((a | b | c | d) === 0) return i
      if (a === w0 && b === w1 && c === w2 && d === w3) return -1
      slot = (slot + 1) & mask
    }
  }

  #put(t: Uint32Array, i: number, w0: number, w1: number, w2: number, w3: number): void {
    t[i] = w0
    t[i + 1] = w1
    t[i + 2] = w2
    t[i + 3] = w3
  }

  #grow(): void {
    const old = this.#table
    const slots = (this.#mask + 1) * 2
    const t = new Uint32Array(slots * WORDS)
    const mask = slots - 1
    for (let i = 0; i < old.length; i += WORDS) {
      const w0 = old[i]!, w1 = old[i + 1]!, w2 = old[i + 2]!, w3 = old[i + 3]!
      if ((w0 | w1 | w2 | w3) === 0) continue
      this.#put(t, this.#find(t, mask, w0, w1, w2, w3), w0, w1, w2, w3)
    }
    this.#table = t
    this.#mask = mask
  }
}
