/**
 * Strict IP-literal parsing (docs/egress.md §Names and IP literals). Only dotted-quad decimal IPv4 (no leading zeros,
 * no fewer than four parts) and RFC 4291 IPv6 text are IPs. `2130706433`, `0177.0.0.1`,
 * `0x7f.1` and `127.1` are **not** IPs: inet_aton would accept them, we never do, and
 * host.ts rejects them as malformed names so they never reach a resolver either.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is unmapped to IPv4.
 */
import { isIPv4, isIPv6 } from 'node:net'
import type { IpAddress } from './egress-types.js'

/**
 * Parses an IP literal. `[v6]` brackets are accepted (IPv6 only: `[127.0.0.1]` is not an
 * RFC 3986 IP-literal). Zone ids (`%eth0`) are refused. Returns null if not an IP.
 */
export function parseIpLiteral(raw: string): IpAddress | null {
  let s = raw
  const bracketed = s.startsWith('[') && s.endsWith(']')
  if (bracketed) s = s.slice(1, -1)
  if (isIPv4(s)) return bracketed ? null : { ip: s, family: 4 }
  if (s.includes('%') || !isIPv6(s)) return null
  const words = ipv6Words(s)
  if (!words) return null
  // ::ffff:0:0/96 (IPv4-mapped) → IPv4.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return { ip: v4FromWords(words[6]!, words[7]!), family: 4 }
  }
  return { ip: formatIPv6(words), family: 6 }
}

/** IPv4 text → unsigned 32-bit integer. Caller guarantees a valid dotted quad. */
export function ipv4ToInt(ip: string): number {
  let n = 0
  let part = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46) {
      n = n * 256 + part
      part = 0
    } else part = part * 10 + (c - 48)
  }
  return (n * 256 + part) >>> 0
}

/** IPv6 text → eight 16-bit words, or null. Accepts an embedded dotted quad in the last 32 bits. */
export function ipv6Words(s: string): number[] | null {
  let text = s
  const lastColon = text.lastIndexOf(':')
  if (lastColon === -1) return null
  const last = text.slice(lastColon + 1)
  if (last.includes('.')) {
    // Embedded dotted quad in the low 32 bits: rewrite it as two hex words.
    if (!isIPv4(last)) return null
    const n = ipv4ToInt(last)
    text = text.slice(0, lastColon + 1) + (n >>> 16).toString(16) + ':' + (n & 0xffff).toString(16)
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const parse = (h: string): number[] | null => {
    if (h === '') return []
    const out: number[] = []
    for (const p of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null
      out.push(parseInt(p, 16))
    }
    return out
  }
  const head = parse(halves[0]!)
  const rest = halves.length === 2 ? parse(halves[1]!) : []
  if (!head || !rest) return null
  if (halves.length === 1) return head.length === 8 ? head : null
  const fill = 8 - head.length - rest.length
  if (fill < 1) return null
  return [...head, ...new Array<number>(fill).fill(0), ...rest]
}

function v4FromWords(hi: number, lo: number): string {
  return `${hi >>> 8}.${hi & 0xff}.${lo >>> 8}.${lo & 0xff}`
}

/** RFC 5952 canonical text: lowercase, longest zero run (≥ 2 words) compressed, leftmost on ties. */
export function formatIPv6(words: readonly number[]): string {
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (bestStart === -1) return hex.join(':')
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':')
}
