/**
 * The one address-prefix matcher: an ordered table of prefixes (IPv4 `a.b.c.d/n`, IPv6 `v6/n`),
 * each carrying a value, where the first prefix that contains an address wins. It backs both the
 * always-denied address classes (address-class.ts) and the `cidr` egress rules (cidr.ts).
 *
 * The lookup runs on the hot path (every CONNECT target and every DNS answer), so it compares
 * precomputed integer masks rather than calling `node:net` `BlockList.check`, which parses its
 * string argument into a `SocketAddress` on every call (about 2 µs against tens of ns here);
 * the property tests hold this matcher to `BlockList` over random prefixes and addresses.
 *
 * Families: an IPv4 prefix contains IPv4 addresses; an IPv6 prefix contains IPv6 addresses and,
 * only when written in IPv4-mapped form (`::ffff:a.b.c.d/n`, n ≥ 96, RFC 4291 §2.5.5.2), also the
 * IPv4 addresses it maps: `::/0` means "every IPv6 address", not also every IPv4 one. An IPv6
 * address given as mapped words (the strict parser unmaps those, so only a hand-built value) is
 * looked up as the IPv4 address it carries when the table is built with `unmap: true` (the
 * address classes), and as IPv6 words, which only IPv6 prefixes contain, otherwise (cidr rules).
 */
import { ipv4ToInt, ipv6Words } from './ip.js'
import type { IpAddress } from './egress-types.js'

/**
 * One prefix, in network form (host bits cleared), as 128 bits: an IPv4 prefix `a.b.c.d/n` is held
 * as `::ffff:a.b.c.d/(96 + n)` with `written: 4`. `bits` is 0–128.
 */
export interface Prefix {
  /** The family the prefix was written in. */
  readonly written: 4 | 6
  readonly bits: number
  /** Eight 16-bit words. */
  readonly words: readonly number[]
}

/** True when the eight 16-bit words are an IPv4-mapped IPv6 address (`::ffff:0:0/96`). */
export function isMappedWords(w: readonly number[]): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff
}

/** The IPv4 network mask of a prefix length (0–32) as an unsigned 32-bit integer. */
export function v4Mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
}

/** Eight 16-bit words with every bit past `bits` (0–128) cleared. */
export function v6Network(words: readonly number[], bits: number): number[] {
  return words.map((w, i) => {
    const take = Math.max(0, Math.min(16, bits - 16 * i))
    return take === 0 ? 0 : w & (0xffff << (16 - take)) & 0xffff
  })
}

/**
 * The prefix of `address` (dotted quad or RFC 4291 text, unbracketed) and `bits` (counted in the
 * family the text is written in), host bits cleared. The caller has validated both parts.
 * @throws Error when the address text is not an IP address or `bits` is out of range.
 */
export function prefixOf(address: string, bits: number): Prefix {
  if (!Number.isInteger(bits) || bits < 0) throw new Error(`prefix length ${bits} out of range`)
  if (!address.includes(':')) {
    if (bits > 32 || !/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) throw new Error(`"${address}/${bits}" is not an IPv4 prefix`)
    const n = (ipv4ToInt(address) & v4Mask(bits)) >>> 0
    return { written: 4, bits: 96 + bits, words: [0, 0, 0, 0, 0, 0xffff, n >>> 16, n & 0xffff] }
  }
  const words = ipv6Words(address)
  if (!words || bits > 128) throw new Error(`"${address}/${bits}" is not an IPv6 prefix`)
  return { written: 6, bits, words: v6Network(words, bits) }
}

/** The IPv4 prefix (network integer, length 0–32) a prefix contains, or null when it contains none. */
function v4Part(p: Prefix): { base: number; bits: number } | null {
  if (p.bits < 96 || !isMappedWords(p.words)) return null
  return { base: ((p.words[6]! << 16) | p.words[7]!) >>> 0, bits: p.bits - 96 }
}

/** Parses `address/bits` text written by us (tables in code). @throws Error on bad text. */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/')
  if (slash === -1) throw new Error(`"${text}" has no prefix length`)
  return prefixOf(text.slice(0, slash), Number(text.slice(slash + 1)))
}

/**
 * An ordered prefix table: `lookup` returns the value of the first entry whose prefix contains the
 * address, or undefined. Built once (config load, module load), read on the hot path; IPv4 lookups
 * allocate nothing.
 */
export class PrefixTable<T> {
  readonly #v4Base: Uint32Array
  readonly #v4Mask: Uint32Array
  readonly #v4Value: T[]
  /** Per IPv6 entry: 8 masks then 8 masked words. */
  readonly #v6: Uint16Array
  readonly #v6Words: Uint8Array
  readonly #v6Value: T[]
  readonly #unmap: boolean

  /**
   * @param entries prefixes (Prefix, or `address/bits` text) with their values, first match wins.
   * @param options.unmap look IPv4-mapped IPv6 words up as the IPv4 address they carry (default true).
   * @throws Error when a text prefix is malformed.
   */
  constructor(entries: ReadonlyArray<readonly [Prefix | string, T]>, options: { unmap?: boolean } = {}) {
    this.#unmap = options.unmap ?? true
    const v4: Array<[number, number, T]> = []
    const v6: Array<[readonly number[], number, T]> = []
    for (const [raw, value] of entries) {
      const p = typeof raw === 'string' ? parsePrefix(raw) : raw
      const inV4 = v4Part(p)
      if (inV4) v4.push([inV4.base, v4Mask(inV4.bits), value])
      if (p.written === 6) v6.push([p.words, p.bits, value])
    }
    this.#v4Base = Uint32Array.from(v4, (e) => e[0])
    this.#v4Mask = Uint32Array.from(v4, (e) => e[1])
    this.#v4Value = v4.map((e) => e[2])
    this.#v6 = new Uint16Array(v6.length * 16)
    this.#v6Words = new Uint8Array(v6.length)
    v6.forEach(([words, bits], i) => {
      const masks = v6Network([0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff], bits)
      for (let j = 0; j < 8; j++) {
        this.#v6[i * 16 + j] = masks[j]!
        this.#v6[i * 16 + 8 + j] = words[j]!
      }
      this.#v6Words[i] = Math.ceil(bits / 16)
    })
    this.#v6Value = v6.map((e) => e[2])
  }

  /** First value whose prefix contains the IPv4 address `n` (unsigned 32-bit integer). */
  lookupV4(n: number): T | undefined {
    const base = this.#v4Base
    const mask = this.#v4Mask
    for (let i = 0; i < base.length; i++) if (((n & mask[i]!) >>> 0) === base[i]) return this.#v4Value[i]
    return undefined
  }

  /**
   * First value whose prefix contains the IPv6 address given as eight 16-bit words (mapped words:
   * see `unmap`).
   */
  lookupV6(w: readonly number[]): T | undefined {
    if (this.#unmap && isMappedWords(w)) return this.lookupV4(((w[6]! << 16) | w[7]!) >>> 0)
    const t = this.#v6
    const count = this.#v6Words
    outer: for (let i = 0; i < count.length; i++) {
      const at = i * 16
      for (let j = 0; j < count[i]!; j++) if ((w[j]! & t[at + j]!) !== t[at + 8 + j]) continue outer
      return this.#v6Value[i]
    }
    return undefined
  }

  /** First value whose prefix contains a strictly parsed address; undefined for malformed IPv6 text. */
  lookup(addr: IpAddress): T | undefined {
    if (addr.family === 4) return this.lookupV4(ipv4ToInt(addr.ip))
    const words = ipv6Words(addr.ip)
    return words ? this.lookupV6(words) : undefined
  }
}
