/**
 * Classification of an address into the always-denied classes (the smokescreen `classifyAddr`
 * model: a pure function over an IP returning an enum). Only `global` is allowed by default;
 * `loopback` is allowed with `loopback_allowed`; an explicit `cidr` rule overrides any class
 * (egress.ts). The ranges are one ordered prefix table (prefix.ts). Sources: IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890),
 * RFC 6052 (NAT64), RFC 8215 (64:ff9b:1::/48), RFC 3056 (6to4), RFC 4380 (Teredo),
 * RFC 9637 (3fff::/20), cloud metadata endpoints (AWS, GCP, Azure, Alibaba).
 */
import { ipv6Words } from './ip.js'
import { PrefixTable, isMappedWords } from './prefix.js'
import type { AddressClass, IpAddress } from './egress-types.js'

/**
 * The always-denied ranges with their class, most specific first (the first match wins). IPv4 and
 * IPv6 rows never contain the same address (an IPv4-mapped IPv6 address is looked up as IPv4).
 * Besides these, every IPv6 address outside 2000::/3 is `reserved` ({@link classifyIPv6Words}).
 * Read by the classifier below and by whatever must mirror the sidecar's refusals elsewhere (the
 * Kubernetes NetworkPolicy's `except` lists, k8s/networkpolicy.ts).
 */
export const ALWAYS_DENIED_RANGES: ReadonlyArray<readonly [cidr: string, cls: Exclude<AddressClass, 'global'>]> = Object.freeze([
  ['169.254.169.254/32', 'metadata'], // AWS/GCP/Azure/OpenStack instance metadata
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud metadata
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'ietf_protocol'],
  ['192.0.2.0/24', 'documentation'],
  ['192.31.196.0/24', 'ietf_protocol'], // AS112
  ['192.52.193.0/24', 'ietf_protocol'], // AMT
  ['192.88.99.0/24', '6to4'], // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['192.175.48.0/24', 'ietf_protocol'], // AS112 direct delegation
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'metadata'], // AWS IMDS over IPv6
  ['::ffff:0:0:0/96', 'reserved'], // IPv4-translated (RFC 2765)
  ['::/96', 'ipv4_compatible'], // deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
  ['64:ff9b::/96', 'nat64'],
  ['64:ff9b:1::/48', 'nat64'],
  ['100::/64', 'discard'],
  ['2001::/32', 'teredo'],
  ['2001:db8::/32', 'documentation'],
  ['2001:2::/48', 'benchmarking'],
  ['2001::/23', 'ietf_protocol'],
  ['2002::/16', '6to4'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'ietf_protocol'], // SRv6 SIDs (RFC 9602)
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'private'], // deprecated site-local
  ['ff00::/8', 'multicast'],
] as const)

/** The only IPv6 range of global unicast addresses (RFC 4291 §2.4); outside it every address is `reserved`. */
export const IPV6_GLOBAL_UNICAST = '2000::/3'

const TABLE = new PrefixTable<AddressClass>(ALWAYS_DENIED_RANGES)

/** Classifies an IPv4 address given as an unsigned 32-bit integer. */
export function classifyIPv4Int(n: number): AddressClass {
  return TABLE.lookupV4(n) ?? 'global'
}

/**
 * Classifies an IPv6 address given as eight 16-bit words. An IPv4-mapped address (`::ffff:a.b.c.d`,
 * normally unmapped by the parser already) is classified as the IPv4 address it carries.
 */
export function classifyIPv6Words(words: readonly number[]): AddressClass {
  if (isMappedWords(words)) return TABLE.lookupV6(words) ?? 'global'
  const cls = TABLE.lookupV6(words)
  if (cls) return cls
  // Only 2000::/3 is global unicast (RFC 4291 §2.4); everything else is unallocated or special.
  if ((words[0]! & 0xe000) !== 0x2000) return 'reserved'
  return 'global'
}

/**
 * Classifies a strictly parsed address. Pure; allocation-free for IPv4.
 * @returns `global` or the always-denied class it falls in.
 */
export function classifyAddress(addr: IpAddress): AddressClass {
  if (addr.family === 4) return TABLE.lookup(addr) ?? 'global'
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
