/**
 * Classification of an address into the always-denied set of docs/egress.md §Always-denied addresses (the smokescreen
 * `classifyAddr` model: a pure function over an IP returning an enum). Only `global` is allowed
 * by default; `loopback` is allowed with `loopback_allowed`; an explicit `cidr` rule overrides
 * any class (egress.ts). Sources: IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890),
 * RFC 6052 (NAT64), RFC 8215 (64:ff9b:1::/48), RFC 3056 (6to4), RFC 4380 (Teredo),
 * RFC 9637 (3fff::/20), cloud metadata endpoints (AWS, GCP, Azure, Alibaba).
 */
import { ipv4ToInt, ipv6Words } from './ip.js'
import type { AddressClass, IpAddress } from './egress-types.js'

interface V4Range { base: number; mask: number; cls: AddressClass }
interface V6Range { words: number[]; bits: number; cls: AddressClass }

function v4(cidr: string, cls: AddressClass): V4Range {
  const [ip, len] = cidr.split('/') as [string, string]
  const bits = Number(len)
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  return { base: (ipv4ToInt(ip) & mask) >>> 0, mask, cls }
}

function v6(cidr: string, cls: AddressClass): V6Range {
  const [ip, len] = cidr.split('/') as [string, string]
  return { words: ipv6Words(ip)!, bits: Number(len), cls }
}

// Most specific first: the first match wins.
const V4_TABLE: readonly V4Range[] = [
  v4('169.254.169.254/32', 'metadata'), // AWS/GCP/Azure/OpenStack instance metadata
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud metadata
  v4('255.255.255.255/32', 'broadcast'),
  v4('0.0.0.0/8', 'unspecified'), // "this network"; 0.0.0.0 reaches the local host on Linux
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'cgnat'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link_local'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'ietf_protocol'),
  v4('192.0.2.0/24', 'documentation'),
  v4('192.31.196.0/24', 'ietf_protocol'), // AS112
  v4('192.52.193.0/24', 'ietf_protocol'), // AMT
  v4('192.88.99.0/24', '6to4'), // deprecated 6to4 relay anycast
  v4('192.168.0.0/16', 'private'),
  v4('192.175.48.0/24', 'ietf_protocol'), // AS112 direct delegation
  v4('198.18.0.0/15', 'benchmarking'),
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'),
]

const V6_TABLE: readonly V6Range[] = [
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('fd00:ec2::254/128', 'metadata'), // AWS IMDS over IPv6
  v6('::ffff:0:0:0/96', 'reserved'), // IPv4-translated (RFC 2765)
  v6('::/96', 'ipv4_compatible'), // deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
  v6('64:ff9b::/96', 'nat64'),
  v6('64:ff9b:1::/48', 'nat64'),
  v6('100::/64', 'discard'),
  v6('2001::/32', 'teredo'),
  v6('2001:db8::/32', 'documentation'),
  v6('2001:2::/48', 'benchmarking'),
  v6('2001::/23', 'ietf_protocol'),
  v6('2002::/16', '6to4'),
  v6('3fff::/20', 'documentation'),
  v6('5f00::/16', 'ietf_protocol'), // SRv6 SIDs (RFC 9602)
  v6('fc00::/7', 'private'),
  v6('fe80::/10', 'link_local'),
  v6('fec0::/10', 'private'), // deprecated site-local
  v6('ff00::/8', 'multicast'),
]

function v6Matches(words: readonly number[], r: V6Range): boolean {
  let bits = r.bits
  for (let i = 0; i < 8 && bits > 0; i++) {
    const take = Math.min(16, bits)
    const mask = (0xffff << (16 - take)) & 0xffff
    if ((words[i]! & mask) !== (r.words[i]! & mask)) return false
    bits -= take
  }
  return true
}

/** Classifies an IPv4 address given as an unsigned 32-bit integer. */
export function classifyIPv4Int(n: number): AddressClass {
  for (const r of V4_TABLE) if (((n & r.mask) >>> 0) === r.base) return r.cls
  return 'global'
}

/**
 * Classifies an IPv6 address given as eight 16-bit words. An IPv4-mapped address (`::ffff:a.b.c.d`,
 * normally unmapped by the parser already) is classified as the IPv4 address it carries.
 */
export function classifyIPv6Words(words: readonly number[]): AddressClass {
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return classifyIPv4Int(((words[6]! << 16) | words[7]!) >>> 0)
  }
  for (const r of V6_TABLE) if (v6Matches(words, r)) return r.cls
  // Only 2000::/3 is global unicast (RFC 4291 §2.4); everything else is unallocated or special.
  if ((words[0]! & 0xe000) !== 0x2000) return 'reserved'
  return 'global'
}

/**
 * Classifies a strictly parsed address. Pure; allocation-free for IPv4.
 * @returns `global` or the always-denied class it falls in.
 */
export function classifyAddress(addr: IpAddress): AddressClass {
  if (addr.family === 4) return classifyIPv4Int(ipv4ToInt(addr.ip))
  const words = ipv6Words(addr.ip)
  return words ? classifyIPv6Words(words) : 'reserved'
}

/** Human phrase for a class, used in decision reasons. */
export const ADDRESS_CLASS_TEXT: Readonly<Record<AddressClass, string>> = {
  global: 'a global unicast address',
  unspecified: 'the unspecified / this-network range (0.0.0.0/8, ::)',
  loopback: 'a loopback address',
  link_local: 'a link-local address',
  metadata: 'a cloud metadata endpoint',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved range',
  private: 'a private range',
  cgnat: 'the carrier-grade NAT range (100.64.0.0/10)',
  benchmarking: 'a benchmarking range (198.18.0.0/15)',
  documentation: 'a documentation range',
  ietf_protocol: 'an IETF protocol assignment range',
  nat64: 'a NAT64 prefix embedding IPv4',
  '6to4': 'a 6to4 prefix embedding IPv4',
  teredo: 'a Teredo prefix embedding IPv4',
  ipv4_compatible: 'an IPv4-compatible IPv6 address',
  discard: 'the IPv6 discard prefix',
}
