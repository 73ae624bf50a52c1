// Address classification (policy/address-class.ts): every always-denied range of docs/egress.md
// at its first and last address and one address outside, metadata endpoints, IPv6 prefixes that
// embed IPv4, and the 2000::/3 global-unicast boundary. Addresses here are strings in a table:
// nothing is dialled.
import fc from 'fast-check'
import t from 'tap'
import { ADDRESS_CLASS_TEXT, classifyAddress, classifyIPv4Int, classifyIPv6Words } from '../../policy/address-class.js'
import { ipv4ToInt, ipv6Words, parseIpLiteral } from '../../policy/ip.js'
import { v4Int, v4Text, v6Text, v6Words } from './address-arbitraries.js'
import type { AddressClass } from '../../policy/egress-types.js'

interface RangeCase {
  range: string
  first: string
  last: string
  cls: AddressClass
  /** Addresses just outside, with their class. */
  outside: Array<[string, AddressClass]>
}

const V4_RANGES: RangeCase[] = [
  { range: '0.0.0.0/8 (this network)', first: '0.0.0.0', last: '0.255.255.255', cls: 'unspecified', outside: [['1.0.0.0', 'global']] },
  { range: '10.0.0.0/8', first: '10.0.0.0', last: '10.255.255.255', cls: 'private', outside: [['9.255.255.255', 'global'], ['11.0.0.0', 'global']] },
  { range: '100.64.0.0/10 (CGNAT)', first: '100.64.0.0', last: '100.127.255.255', cls: 'cgnat', outside: [['100.63.255.255', 'global'], ['100.128.0.0', 'global']] },
  { range: '127.0.0.0/8', first: '127.0.0.0', last: '127.255.255.255', cls: 'loopback', outside: [['126.255.255.255', 'global'], ['128.0.0.0', 'global']] },
  { range: '169.254.0.0/16', first: '169.254.0.0', last: '169.254.255.255', cls: 'link_local', outside: [['169.253.255.255', 'global'], ['169.255.0.0', 'global']] },
  { range: '172.16.0.0/12', first: '172.16.0.0', last: '172.31.255.255', cls: 'private', outside: [['172.15.255.255', 'global'], ['172.32.0.0', 'global']] },
  { range: '192.0.0.0/24 (IETF protocol assignments)', first: '192.0.0.0', last: '192.0.0.255', cls: 'ietf_protocol', outside: [['191.255.255.255', 'global'], ['192.0.1.0', 'global']] },
  { range: '192.0.2.0/24 (TEST-NET-1)', first: '192.0.2.0', last: '192.0.2.255', cls: 'documentation', outside: [['192.0.1.255', 'global'], ['192.0.3.0', 'global']] },
  { range: '192.88.99.0/24 (6to4 relay)', first: '192.88.99.0', last: '192.88.99.255', cls: '6to4', outside: [['192.88.98.255', 'global'], ['192.88.100.0', 'global']] },
  { range: '192.168.0.0/16', first: '192.168.0.0', last: '192.168.255.255', cls: 'private', outside: [['192.167.255.255', 'global'], ['192.169.0.0', 'global']] },
  { range: '198.18.0.0/15 (benchmarking)', first: '198.18.0.0', last: '198.19.255.255', cls: 'benchmarking', outside: [['198.17.255.255', 'global'], ['198.20.0.0', 'global']] },
  { range: '198.51.100.0/24 (TEST-NET-2)', first: '198.51.100.0', last: '198.51.100.255', cls: 'documentation', outside: [['198.51.99.255', 'global'], ['198.51.101.0', 'global']] },
  { range: '203.0.113.0/24 (TEST-NET-3)', first: '203.0.113.0', last: '203.0.113.255', cls: 'documentation', outside: [['203.0.112.255', 'global'], ['203.0.114.0', 'global']] },
  { range: '224.0.0.0/4 (multicast)', first: '224.0.0.0', last: '239.255.255.255', cls: 'multicast', outside: [['223.255.255.255', 'global'], ['240.0.0.0', 'reserved']] },
  { range: '240.0.0.0/4 (reserved)', first: '240.0.0.0', last: '255.255.255.254', cls: 'reserved', outside: [['239.255.255.255', 'multicast'], ['255.255.255.255', 'broadcast']] },
  { range: '255.255.255.255/32 (broadcast)', first: '255.255.255.255', last: '255.255.255.255', cls: 'broadcast', outside: [['255.255.255.254', 'reserved']] },
  { range: '169.254.169.254/32 (metadata)', first: '169.254.169.254', last: '169.254.169.254', cls: 'metadata', outside: [['169.254.169.253', 'link_local'], ['169.254.169.255', 'link_local']] },
  { range: '100.100.100.200/32 (Alibaba metadata)', first: '100.100.100.200', last: '100.100.100.200', cls: 'metadata', outside: [['100.100.100.199', 'cgnat'], ['100.100.100.201', 'cgnat']] },
]

const V6_RANGES: RangeCase[] = [
  { range: '::/128 (unspecified)', first: '::', last: '::', cls: 'unspecified', outside: [['::2', 'ipv4_compatible']] },
  { range: '::1/128 (loopback)', first: '::1', last: '::1', cls: 'loopback', outside: [['::2', 'ipv4_compatible']] },
  { range: '::/96 (IPv4-compatible)', first: '::2', last: '::ffff:ffff', cls: 'ipv4_compatible', outside: [['::1:0:0', 'reserved']] },
  { range: '::ffff:0:0:0/96 (IPv4-translated)', first: '::ffff:0:0:0', last: '::ffff:0:ffff:ffff', cls: 'reserved', outside: [['::1:0:0:0', 'reserved']] },
  { range: '64:ff9b::/96 (NAT64)', first: '64:ff9b::', last: '64:ff9b::ffff:ffff', cls: 'nat64', outside: [['64:ff9b::1:0:0', 'reserved'], ['64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved']] },
  { range: '64:ff9b:1::/48 (local NAT64)', first: '64:ff9b:1::', last: '64:ff9b:1:ffff:ffff:ffff:ffff:ffff', cls: 'nat64', outside: [['64:ff9b:2::', 'reserved'], ['64:ff9b:0:ffff::', 'reserved']] },
  { range: '100::/64 (discard)', first: '100::', last: '100::ffff:ffff:ffff:ffff', cls: 'discard', outside: [['100:0:0:1::', 'reserved']] },
  { range: '2001::/32 (Teredo)', first: '2001::', last: '2001:0:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'teredo', outside: [['2001:1::', 'ietf_protocol'], ['2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'global']] },
  { range: '2001::/23 (IETF protocol assignments)', first: '2001:1::', last: '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'ietf_protocol', outside: [['2001:200::', 'global']] },
  { range: '2001:2::/48 (benchmarking)', first: '2001:2::', last: '2001:2:0:ffff:ffff:ffff:ffff:ffff', cls: 'benchmarking', outside: [['2001:2:1::', 'ietf_protocol']] },
  { range: '2001:db8::/32 (documentation)', first: '2001:db8::', last: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'documentation', outside: [['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', 'global'], ['2001:db9::', 'global']] },
  { range: '2002::/16 (6to4)', first: '2002::', last: '2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: '6to4', outside: [['2003::', 'global']] },
  { range: '3fff::/20 (documentation)', first: '3fff::', last: '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'documentation', outside: [['3fff:1000::', 'global'], ['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'global']] },
  { range: '5f00::/16 (SRv6)', first: '5f00::', last: '5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'ietf_protocol', outside: [['5f01::', 'reserved']] },
  { range: 'fc00::/7 (unique local)', first: 'fc00::', last: 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'private', outside: [['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'], ['fe00::', 'reserved']] },
  { range: 'fe80::/10 (link-local)', first: 'fe80::', last: 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'link_local', outside: [['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'], ['fec0::', 'private']] },
  { range: 'fec0::/10 (site-local)', first: 'fec0::', last: 'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'private', outside: [['ff00::', 'multicast']] },
  { range: 'ff00::/8 (multicast)', first: 'ff00::', last: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'multicast', outside: [['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private']] },
  { range: 'fd00:ec2::254/128 (AWS metadata)', first: 'fd00:ec2::254', last: 'fd00:ec2::254', cls: 'metadata', outside: [['fd00:ec2::253', 'private'], ['fd00:ec2::255', 'private']] },
  // Global unicast is 2000::/3 only.
  { range: '2000::/3 (global unicast)', first: '2000::', last: '3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', cls: 'global', outside: [['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'], ['4000::', 'reserved']] },
]

function cls(text: string): AddressClass {
  const a = parseIpLiteral(text)
  if (!a) throw new Error(`test table error: ${text} is not an IP literal`)
  return classifyAddress(a)
}

for (const [family, table] of [['IPv4', V4_RANGES], ['IPv6', V6_RANGES]] as const) {
  t.test(`${family} ranges at their first, last and one-outside addresses`, async (t) => {
    for (const r of table) {
      t.equal(cls(r.first), r.cls, `${r.range}: first ${r.first}`)
      t.equal(cls(r.last), r.cls, `${r.range}: last ${r.last}`)
      for (const [addr, expected] of r.outside) t.equal(cls(addr), expected, `${r.range}: outside ${addr}`)
    }
  })
}

t.test('IPv6 prefixes that embed an IPv4 address are denied whatever the IPv4 is', async (t) => {
  const cases: Array<{ case: string; input: string; expected: AddressClass }> = [
    { case: 'NAT64 of 127.0.0.1', input: '64:ff9b::127.0.0.1', expected: 'nat64' },
    { case: 'NAT64 of a global address', input: '64:ff9b::8.8.8.8', expected: 'nat64' },
    { case: 'NAT64 of 169.254.169.254', input: '64:ff9b::a9fe:a9fe', expected: 'nat64' },
    { case: 'local-use NAT64 of 10.0.0.1', input: '64:ff9b:1::a00:1', expected: 'nat64' },
    { case: '6to4 of 127.0.0.1', input: '2002:7f00:1::', expected: '6to4' },
    { case: '6to4 of 169.254.169.254', input: '2002:a9fe:a9fe::1', expected: '6to4' },
    { case: 'Teredo', input: '2001:0:4136:e378:8000:63bf:3fff:fdd2', expected: 'teredo' },
    { case: 'IPv4-compatible 127.0.0.1', input: '::127.0.0.1', expected: 'ipv4_compatible' },
    { case: 'IPv4-compatible 8.8.8.8', input: '::8.8.8.8', expected: 'ipv4_compatible' },
    { case: 'IPv4-translated', input: '::ffff:0:10.0.0.1', expected: 'reserved' },
  ]
  for (const c of cases) t.equal(cls(c.input), c.expected, `${c.case}: ${c.input}`)
})

t.test('IPv4-mapped IPv6 is unmapped before classifying', async (t) => {
  const cases: Array<{ case: string; input: string; expected: AddressClass }> = [
    { case: 'mapped loopback', input: '::ffff:127.0.0.1', expected: 'loopback' },
    { case: 'mapped metadata', input: '::ffff:169.254.169.254', expected: 'metadata' },
    { case: 'mapped private', input: '::ffff:10.1.2.3', expected: 'private' },
    { case: 'mapped unspecified', input: '::ffff:0.0.0.0', expected: 'unspecified' },
    { case: 'mapped, hex form', input: '::ffff:a9fe:a9fe', expected: 'metadata' },
    { case: 'mapped global', input: '::ffff:8.8.8.8', expected: 'global' },
  ]
  for (const c of cases) {
    t.equal(parseIpLiteral(c.input)?.family, 4, `${c.case}: the parser unmaps ${c.input}`)
    t.equal(cls(c.input), c.expected, `${c.case}: ${c.input}`)
    // Defence in depth: mapped words that reach the classifier directly classify as their IPv4.
    t.equal(classifyIPv6Words(ipv6Words(c.input)!), c.expected, `${c.case}: classifyIPv6Words on the mapped words`)
  }
  t.equal(classifyAddress({ ip: '::ffff:7f00:1', family: 6 }), 'loopback', 'an un-unmapped IpAddress is still loopback')
})

t.test('global examples', async (t) => {
  const cases = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2001:4860:4860::8888', '2a00:1450:4001:80b::200e']
  for (const c of cases) t.equal(cls(c), 'global', c)
})

t.test('a malformed IPv6 IpAddress is never global', async (t) => {
  t.equal(classifyAddress({ ip: 'not-an-ip', family: 6 }), 'reserved', 'unparseable → reserved')
})

t.test('every class has a phrase for decision reasons', async (t) => {
  const all: AddressClass[] = ['global', 'unspecified', 'loopback', 'link_local', 'metadata', 'multicast', 'broadcast', 'reserved', 'private', 'cgnat', 'benchmarking', 'documentation', 'ietf_protocol', 'nat64', '6to4', 'teredo', 'ipv4_compatible', 'discard']
  for (const c of all) t.match(ADDRESS_CLASS_TEXT[c], /\w+/, c)
})

// ---- The classifier before it moved onto the shared prefix table (prefix.ts), kept verbatim as
// the oracle: the table-driven classifier must classify every address exactly as this one did.
const ORACLE = (() => {
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
  const V4_TABLE: readonly V4Range[] = [
    v4('169.254.169.254/32', 'metadata'), v4('100.100.100.200/32', 'metadata'), v4('255.255.255.255/32', 'broadcast'),
    v4('0.0.0.0/8', 'unspecified'), v4('10.0.0.0/8', 'private'), v4('100.64.0.0/10', 'cgnat'), v4('127.0.0.0/8', 'loopback'),
    v4('169.254.0.0/16', 'link_local'), v4('172.16.0.0/12', 'private'), v4('192.0.0.0/24', 'ietf_protocol'),
    v4('192.0.2.0/24', 'documentation'), v4('192.31.196.0/24', 'ietf_protocol'), v4('192.52.193.0/24', 'ietf_protocol'),
    v4('192.88.99.0/24', '6to4'), v4('192.168.0.0/16', 'private'), v4('192.175.48.0/24', 'ietf_protocol'),
    v4('198.18.0.0/15', 'benchmarking'), v4('198.51.100.0/24', 'documentation'), v4('203.0.113.0/24', 'documentation'),
    v4('224.0.0.0/4', 'multicast'), v4('240.0.0.0/4', 'reserved'),
  ]
  const V6_TABLE: readonly V6Range[] = [
    v6('::/128', 'unspecified'), v6('::1/128', 'loopback'), v6('fd00:ec2::254/128', 'metadata'), v6('::ffff:0:0:0/96', 'reserved'),
    v6('::/96', 'ipv4_compatible'), v6('64:ff9b::/96', 'nat64'), v6('64:ff9b:1::/48', 'nat64'), v6('100::/64', 'discard'),
    v6('2001::/32', 'teredo'), v6('2001:db8::/32', 'documentation'), v6('2001:2::/48', 'benchmarking'), v6('2001::/23', 'ietf_protocol'),
    v6('2002::/16', '6to4'), v6('3fff::/20', 'documentation'), v6('5f00::/16', 'ietf_protocol'), v6('fc00::/7', 'private'),
    v6('fe80::/10', 'link_local'), v6('fec0::/10', 'private'), v6('ff00::/8', 'multicast'),
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
  function classifyIPv4Int(n: number): AddressClass {
    for (const r of V4_TABLE) if (((n & r.mask) >>> 0) === r.base) return r.cls
    return 'global'
  }
  function classifyIPv6Words(words: readonly number[]): AddressClass {
    if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
      return classifyIPv4Int(((words[6]! << 16) | words[7]!) >>> 0)
    }
    for (const r of V6_TABLE) if (v6Matches(words, r)) return r.cls
    if ((words[0]! & 0xe000) !== 0x2000) return 'reserved'
    return 'global'
  }
  const V4_PREFIXES = ['169.254.169.254/32', '100.100.100.200/32', '255.255.255.255/32', '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24', '192.31.196.0/24', '192.52.193.0/24', '192.88.99.0/24', '192.168.0.0/16', '192.175.48.0/24', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4']
  const V6_PREFIXES = ['::/128', '::1/128', 'fd00:ec2::254/128', '::ffff:0:0:0/96', '::/96', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/32', '2001:db8::/32', '2001:2::/48', '2001::/23', '2002::/16', '3fff::/20', '5f00::/16', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8', '2000::/3']
  return { classifyIPv4Int, classifyIPv6Words, V4_PREFIXES, V6_PREFIXES }
})()

const RUNS = 20_000
const SEED = 20261207

t.test('property: the prefix-table classifier agrees with the previous classifier on every IPv4 address', async (t) => {
  const details = fc.check(
    fc.property(v4Int(ORACLE.V4_PREFIXES), (n) => {
      const expected = ORACLE.classifyIPv4Int(n)
      const text = v4Text(n)
      return classifyIPv4Int(n) === expected && cls(text) === expected && classifyIPv6Words([0, 0, 0, 0, 0, 0xffff, n >>> 16, n & 0xffff]) === expected
    }),
    { seed: SEED, numRuns: RUNS },
  )
  t.notOk(details.failed, details.failed ? fc.defaultReportMessage(details) ?? 'failed' : 'no counterexample')
  t.equal(details.numRuns, RUNS, `${RUNS} addresses checked`)
})

t.test('property: the prefix-table classifier agrees with the previous classifier on every IPv6 address', async (t) => {
  const details = fc.check(
    fc.property(v6Words(ORACLE.V6_PREFIXES), (words) => {
      const expected = ORACLE.classifyIPv6Words(words)
      const text = v6Text(words)
      // The text path goes through the strict parser (which unmaps mapped words) and classifyAddress.
      return classifyIPv6Words(words) === expected && cls(text) === expected && classifyAddress({ ip: text, family: 6 }) === expected
    }),
    { seed: SEED, numRuns: RUNS },
  )
  t.notOk(details.failed, details.failed ? fc.defaultReportMessage(details) ?? 'failed' : 'no counterexample')
  t.equal(details.numRuns, RUNS, `${RUNS} addresses checked`)
})

t.test('control: the oracle comparison notices a classifier that differs', async (t) => {
  // A classifier that forgets the metadata row must be caught by the same property.
  const broken = (n: number): AddressClass => (n === 0xa9fea9fe ? 'link_local' : classifyIPv4Int(n))
  const details = fc.check(
    fc.property(v4Int(ORACLE.V4_PREFIXES), (n) => broken(n) === ORACLE.classifyIPv4Int(n)),
    { seed: SEED, numRuns: RUNS },
  )
  t.ok(details.failed, 'the property fails on a classifier that differs at one address')
  t.equal(details.counterexample?.[0], 0xa9fea9fe, 'and shrinks to 169.254.169.254')
})
