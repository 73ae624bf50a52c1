/**
 * fast-check arbitraries of IP addresses for the prefix-matcher properties: uniform addresses plus
 * addresses at and around the edges of the given prefixes (first, last, one either side), where a
 * mask error would show.
 */
import fc from 'fast-check'
import { formatIPv6, ipv6Words as ipv6WordsOf } from '../../policy/ip.js'

/** Dotted-quad text of an unsigned 32-bit integer. */
export function v4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`
}

/** IPv4 addresses as unsigned 32-bit integers, near the edges of `prefixes` (`a.b.c.d/n`) or uniform. */
export function v4Int(prefixes: readonly string[]): fc.Arbitrary<number> {
  const edges = prefixes.flatMap((p) => {
    const [ip, len] = p.split('/') as [string, string]
    const base = ip.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0
    const host = Number(len) === 0 ? 0xffffffff : (2 ** (32 - Number(len)) - 1) >>> 0
    return [base, (base | host) >>> 0]
  })
  const near = fc.tuple(fc.constantFrom(...edges), fc.integer({ min: -2, max: 2 })).map(([e, d]) => (e + d) >>> 0)
  return fc.oneof(fc.nat({ max: 0xffffffff }), near)
}

/**
 * IPv6 addresses as eight 16-bit words: uniform, near the edges of `prefixes` (`v6/n`, the words
 * past the prefix random or all-zero / all-one), IPv4-mapped, IPv4-compatible, and with a first
 * word around the 2000::/3 boundary.
 */
export function v6Words(prefixes: readonly string[]): fc.Arbitrary<number[]> {
  const parsed = prefixes.map((p) => {
    const [ip, len] = p.split('/') as [string, string]
    const words = ipv6WordsOf(ip)
    if (!words) throw new Error(`test table error: ${p}`)
    return [words, Number(len)] as const
  })
  const word = fc.integer({ min: 0, max: 0xffff })
  const uniform = fc.array(word, { minLength: 8, maxLength: 8 })
  const tail = fc.oneof(uniform, fc.constant([0, 0, 0, 0, 0, 0, 0, 0]), fc.constant(new Array<number>(8).fill(0xffff)))
  const near = fc.tuple(fc.constantFrom(...parsed), tail, fc.integer({ min: -1, max: 1 })).map(([[words, bits], rest, d]) => {
    const out = words.map((w, i) => {
      const take = Math.max(0, Math.min(16, bits - 16 * i))
      const mask = take === 0 ? 0 : (0xffff << (16 - take)) & 0xffff
      return (w & mask) | (rest[i]! & ~mask & 0xffff)
    })
    // Step one address outside the range now and then, in the last word the prefix covers.
    const at = Math.min(7, Math.max(0, Math.ceil(bits / 16) - 1))
    out[at] = (out[at]! + d) & 0xffff
    return out
  })
  const mapped = fc.tuple(word, word).map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b])
  const compatible = fc.tuple(word, word).map(([a, b]) => [0, 0, 0, 0, 0, 0, a, b])
  const firstWord = fc.tuple(fc.integer({ min: 0x1ffe, max: 0x4001 }), uniform).map(([f, rest]) => [f, ...rest.slice(1)])
  return fc.oneof(uniform, near, mapped, compatible, firstWord)
}

/** RFC 5952 text of eight words (mapped words stay hex: the parser unmaps them). */
export function v6Text(words: readonly number[]): string {
  return formatIPv6(words)
}
