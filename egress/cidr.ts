/**
 * CIDR rules (`capabilities.network.egress[i].cidr`). Parsed and validated with `ip-cidr`;
 * matched with integer compares (hot path: every resolved answer).
 */
import IPCIDR from 'ip-cidr'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { ipv4ToInt, ipv6Words, parseIpLiteral } from './ip.js'
import type { CidrRange, IpAddress } from './types.js'

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
  const addr = parseIpLiteral(text.slice(0, slash))
  const len = text.slice(slash + 1)
  if (!addr || text.slice(0, slash).startsWith('[')) bad('the address part is not a canonical IP address')
  if (!/^\d{1,3}$/.test(len)) bad('the prefix length is not a number')
  const bits = Number(len)
  const a = addr as IpAddress
  // An IPv4-mapped address was unmapped by the parser; its prefix counts in IPv6 bits.
  const family = text.slice(0, slash).includes(':') ? 6 : 4
  const max = family === 4 ? 32 : 128
  if (bits > max) bad(`the prefix length exceeds ${max}`)
  if (!IPCIDR.isValidCIDR(text)) bad('rejected by the CIDR parser')
  const network = new IPCIDR(text).start() as string
  const canonicalNetwork = parseIpLiteral(network)?.ip ?? network
  if (family === 4 && canonicalNetwork !== a.ip) bad(`host bits are set; use "${canonicalNetwork}/${bits}"`)
  if (family === 4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    const base = (ipv4ToInt(a.ip) & mask) >>> 0
    return {
      source: `${a.ip}/${bits}`,
      family: 4,
      contains: (x) => x.family === 4 && ((ipv4ToInt(x.ip) & mask) >>> 0) === base,
    }
  }
  const words = ipv6Words(text.slice(0, slash))!
  for (let i = 0, left = bits; i < 8; i++, left -= 16) {
    const take = Math.max(0, Math.min(16, left))
    const mask = take === 0 ? 0 : (0xffff << (16 - take)) & 0xffff
    if ((words[i]! & ~mask & 0xffff) !== 0) bad(`host bits are set; use "${network}/${bits}"`)
  }
  return {
    source: `${text.slice(0, slash).toLowerCase()}/${bits}`,
    family: 6,
    contains: (x) => {
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

function mappedWords(ip4: string): number[] {
  const n = ipv4ToInt(ip4)
  return [0, 0, 0, 0, 0, 0xffff, n >>> 16, n & 0xffff]
}
