/**
 * CIDR rules (`capabilities.network.egress[i].cidr`). Parsed strictly (ip.ts), cross-checked with
 * `ip-cidr`; the network form is computed here; matched with integer compares (hot path: every
 * resolved answer).
 */
import { createRequire } from 'node:module'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { formatIPv6, ipv4ToInt, ipv6Words, parseIpLiteral } from './ip.js'
import type { CidrRange, IpAddress } from './egress-types.js'

/**
 * Compiles `a.b.c.d/n` or `v6/n`.
 * @throws HangarError `HANGAR_CIDR_INVALID` (bad syntax, or host bits set: suggests the network form).
 */
export function compileCidr(text: string): CidrRange {
  const bad = (why: string): never => {
    throw new HangarError(ERROR_CODES.CIDR_INVALID, `"${text}" is not a valid CIDR: ${why}`)
  }
  const slash = text.indexOf('/')
  if (slash === -1) bad('expected address/prefix-length, e.g. "10.20.0.0/16"')
  const addrText = text.slice(0, slash)
  const addr = parseIpLiteral(addrText)
  const len = text.slice(slash + 1)
  if (!addr || addrText.startsWith('[')) bad('the address part is not a canonical IP address')
  if (!/^\d{1,3}$/.test(len)) bad('the prefix length is not a number')
  const bits = Number(len)
  if (len.length > 1 && len.startsWith('0')) bad(`the prefix length has a leading zero; use "${addrText}/${bits}"`)
  const a = addr as IpAddress
  // An IPv4-mapped address was unmapped by the parser; its prefix counts in IPv6 bits.
  const family = addrText.includes(':') ? 6 : 4
  const max = family === 4 ? 32 : 128
  if (bits > max) bad(`the prefix length exceeds ${max}`)
  if (!ipCidr().isValidCIDR(text)) bad('rejected by the CIDR parser')
  if (family === 4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    const base = (ipv4ToInt(a.ip) & mask) >>> 0
    if (base !== ipv4ToInt(a.ip)) bad(`host bits are set; use "${intToIPv4(base)}/${bits}"`)
    return {
      source: `${a.ip}/${bits}`,
      family: 4,
      contains: (x) => x.family === 4 && ((ipv4ToInt(x.ip) & mask) >>> 0) === base,
    }
  }
  const words = ipv6Words(addrText)!
  const network = words.map((w, i) => {
    const take = Math.max(0, Math.min(16, bits - 16 * i))
    return take === 0 ? 0 : w & (0xffff << (16 - take)) & 0xffff
  })
  if (network.some((w, i) => w !== words[i])) bad(`host bits are set; use "${ipv6Text(network)}/${bits}"`)
  const mappedRange = bits >= 96 && words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff
  return {
    source: `${ipv6Text(words)}/${bits}`,
    family: 6,
    contains: (x) => {
      // An IPv4 address is in a v6 range only when the range lies inside ::ffff:0:0/96 (written in
      // mapped form): `::/0` means "every IPv6 address", not also every IPv4 one.
      if (x.family === 4 && !mappedRange) return false
      const w = x.family === 6 ? ipv6Words(x.ip) : mappedWords(x.ip)
      if (!w) return false
      let left = bits
      for (let i = 0; i < 8 && left > 0; i++, left -= 16) {
        const take = Math.min(16, left)
        const mask = (0xffff << (16 - take)) & 0xffff
        if ((w[i]! & mask) !== (words[i]! & mask)) return false
      }
      return true
    },
  }
}

function intToIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`
}

/** RFC 5952 text; an IPv4-mapped prefix keeps its dotted quad (`::ffff:10.0.0.0`, RFC 5952 §5). */
function ipv6Text(w: readonly number[]): string {
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${intToIPv4(((w[6]! << 16) | w[7]!) >>> 0)}`
  }
  return formatIPv6(w)
}

function mappedWords(ip4: string): number[] {
  const n = ipv4ToInt(ip4)
  return [0, 0, 0, 0, 0, 0xffff, n >>> 16, n & 0xffff]
}

type IpCidrClass = typeof import('ip-cidr').default
let ipCidrClass: IpCidrClass | undefined

/**
 * ip-cidr, loaded on the first CIDR rule (require of an ES module, Node ≥ 20.19): a provider
 * without cidr rules does not carry it (~5 MB of the sidecar's idle memory budget).
 */
function ipCidr(): IpCidrClass {
  ipCidrClass ??= (createRequire(import.meta.url)('ip-cidr') as { default: IpCidrClass }).default
  return ipCidrClass
}
