/**
 * CIDR rules (`capabilities.network.egress[i].cidr`). Parsed strictly (ip.ts), cross-checked with
 * `ip-address`, with an error that names the fix; matched by the one prefix matcher (prefix.ts:
 * integer compares, the hot path of every resolved answer).
 */
import { createRequire } from 'node:module'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { formatIPv6, ipv4ToInt, ipv6Words, parseIpLiteral } from './ip.js'
import { PrefixTable, isMappedWords, prefixOf, v4Mask, v6Network } from './prefix.js'
import type { CidrRange, IpAddress } from './egress-types.js'

/**
 * Compiles `a.b.c.d/n` or `v6/n`. An IPv6 range inside `::ffff:0:0/96` written in mapped form
 * (`::ffff:10.0.0.0/104`) also contains the IPv4 addresses it maps; any other IPv6 range (even
 * `::/0`) contains no IPv4 address, and an IPv4 range no IPv6 address (nor an IPv6 value holding
 * mapped words, which the parser never produces: fail closed).
 * @throws HangarError `HANGAR_CIDR_INVALID` (bad syntax, refused by `ip-address`, or host bits set:
 *   suggests the network form).
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
  if (!libraryAccepts(text, family)) bad('rejected by the CIDR parser')
  let source: string
  if (family === 4) {
    const base = (ipv4ToInt(a.ip) & v4Mask(bits)) >>> 0
    if (base !== ipv4ToInt(a.ip)) bad(`host bits are set; use "${intToIPv4(base)}/${bits}"`)
    source = `${a.ip}/${bits}`
  } else {
    const words = ipv6Words(addrText)!
    const network = v6Network(words, bits)
    if (network.some((w, i) => w !== words[i])) bad(`host bits are set; use "${ipv6Text(network)}/${bits}"`)
    source = `${ipv6Text(words)}/${bits}`
  }
  const table = new PrefixTable([[prefixOf(addrText, bits), true]], { unmap: false })
  return { source, family, contains: (x) => table.lookup(x) === true }
}

function intToIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`
}

/** RFC 5952 text; an IPv4-mapped prefix keeps its dotted quad (`::ffff:10.0.0.0`, RFC 5952 §5). */
function ipv6Text(w: readonly number[]): string {
  if (isMappedWords(w)) return `::ffff:${intToIPv4(((w[6]! << 16) | w[7]!) >>> 0)}`
  return formatIPv6(w)
}

type IpAddressModule = typeof import('ip-address')
let ipAddress: IpAddressModule | undefined

/**
 * True when `ip-address` (the parser behind most Node CIDR tools) reads `text` as a `family` range.
 * Loaded on the first CIDR rule, so a provider without cidr rules does not carry it. It is a
 * CommonJS package: `require` gives the same module under Node, the bundle and every TypeScript
 * loader (an ES-module wrapper such as `ip-cidr` broke under tsx, whose interop hid its default
 * import and made every CIDR look invalid).
 */
function libraryAccepts(text: string, family: 4 | 6): boolean {
  ipAddress ??= createRequire(import.meta.url)('ip-address') as IpAddressModule
  try {
    // The constructors throw AddressError on anything they do not read as an address/prefix.
    return (family === 4 ? new ipAddress.Address4(text) : new ipAddress.Address6(text)).subnetMask >= 0
  } catch {
    return false
  }
}
