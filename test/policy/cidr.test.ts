// CIDR rules (policy/cidr.ts): strict address part, network form required (the error suggests it),
// prefix bounds, contains() at the range boundaries, IPv4 against IPv6 ranges.
import { createRequire } from 'node:module'
import fc from 'fast-check'
import t from 'tap'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { compileCidr } from '../../policy/cidr.js'
import { formatIPv6, ipv4ToInt, ipv6Words, parseIpLiteral } from '../../policy/ip.js'
import type { CidrRange, IpAddress } from '../../policy/egress-types.js'
import { v4Int, v4Text, v6Text, v6Words } from './address-arbitraries.js'
import { runModule } from '../helpers/child.js'

function ip(text: string): IpAddress {
  const a = parseIpLiteral(text)
  if (!a) throw new Error(`test table error: ${text}`)
  return a
}

t.test('valid CIDRs compile to their canonical source', async (t) => {
  const cases: Array<{ input: string; source: string; family: 4 | 6 }> = [
    { input: '10.20.0.0/16', source: '10.20.0.0/16', family: 4 },
    { input: '10.0.0.0/8', source: '10.0.0.0/8', family: 4 },
    { input: '0.0.0.0/0', source: '0.0.0.0/0', family: 4 },
    { input: '1.2.3.4/32', source: '1.2.3.4/32', family: 4 },
    { input: '::/0', source: '::/0', family: 6 },
    { input: '::1/128', source: '::1/128', family: 6 },
    { input: '2001:db8::/32', source: '2001:db8::/32', family: 6 },
    { input: '2001:DB8:0:0::/32', source: '2001:db8::/32', family: 6 },
    { input: '2001:db8:8000::/33', source: '2001:db8:8000::/33', family: 6 },
    { input: 'fe80::/10', source: 'fe80::/10', family: 6 },
    { input: 'fe80::/9', source: 'fe80::/9', family: 6 },
    { input: '64:ff9b::/96', source: '64:ff9b::/96', family: 6 },
    { input: '::ffff:10.0.0.0/104', source: '::ffff:10.0.0.0/104', family: 6 },
  ]
  for (const c of cases) {
    const r = compileCidr(c.input)
    t.equal(r.source, c.source, `${c.input}: source`)
    t.equal(r.family, c.family, `${c.input}: family`)
  }
})

t.test('invalid CIDRs: HANGAR_CIDR_INVALID with a message that suggests the fix', async (t) => {
  const cases: Array<{ case: string; input: string; message: RegExp }> = [
    { case: 'IPv4 host bits set', input: '10.20.0.1/16', message: /host bits are set; use "10\.20\.0\.0\/16"/ },
    { case: 'IPv4 host bits set, /0', input: '10.0.0.0/0', message: /host bits are set; use "0\.0\.0\.0\/0"/ },
    { case: 'IPv4 host bits set, odd prefix', input: '192.168.1.129/25', message: /use "192\.168\.1\.128\/25"/ },
    { case: 'IPv6 host bits set: compressed suggestion', input: '2001:db8::1/32', message: /host bits are set; use "2001:db8::\/32"/ },
    { case: 'IPv6 host bits set, /0', input: '2001:db8::/0', message: /use "::\/0"/ },
    { case: 'IPv6 host bits set, partial group', input: 'fe80::/8', message: /host bits are set; use "fe00::\/8"/ },
    { case: 'mapped host bits set', input: '::ffff:10.0.0.1/104', message: /use "::ffff:10\.0\.0\.0\/104"/ },
    { case: 'mapped with a short prefix', input: '::ffff:10.0.0.0/8', message: /use "::\/8"/ },
    { case: 'no prefix', input: '10.0.0.0', message: /expected address\/prefix-length, e\.g\. "10\.20\.0\.0\/16"/ },
    { case: 'empty prefix', input: '10.0.0.0/', message: /prefix length is not a number/ },
    { case: 'negative prefix', input: '10.0.0.0/-1', message: /prefix length is not a number/ },
    { case: 'exponent prefix', input: '10.0.0.0/1e1', message: /prefix length is not a number/ },
    { case: 'trailing space', input: '10.0.0.0/8 ', message: /prefix length is not a number/ },
    { case: 'two prefixes', input: '10.0.0.0/8/8', message: /prefix length is not a number/ },
    { case: 'leading-zero prefix', input: '10.0.0.0/08', message: /leading zero; use "10\.0\.0\.0\/8"/ },
    { case: 'IPv4 prefix above 32', input: '10.0.0.0/33', message: /exceeds 32/ },
    { case: 'IPv6 prefix above 128', input: '::1/129', message: /exceeds 128/ },
    { case: 'non-canonical IPv4 (octal)', input: '010.0.0.0/8', message: /not a canonical IP address/ },
    { case: 'non-canonical IPv4 (short)', input: '10/8', message: /not a canonical IP address/ },
    { case: 'bracketed IPv6', input: '[::1]/128', message: /not a canonical IP address/ },
    { case: 'a name', input: 'example.com/24', message: /not a canonical IP address/ },
    { case: 'empty', input: '', message: /expected address\/prefix-length/ },
  ]
  for (const c of cases) {
    let err: unknown
    try {
      compileCidr(c.input)
    } catch (e) {
      err = e
    }
    t.type(err, HangarError, `${c.case}: throws HangarError`)
    t.equal((err as HangarError | undefined)?.code, ERROR_CODES.CIDR_INVALID, `${c.case}: code`)
    t.match((err as Error | undefined)?.message ?? '', c.message, `${c.case}: message`)
  }
})

t.test('contains() at the boundaries', async (t) => {
  const cases: Array<{ cidr: string; inside: string[]; outside: string[] }> = [
    { cidr: '10.20.0.0/16', inside: ['10.20.0.0', '10.20.255.255', '10.20.1.2'], outside: ['10.19.255.255', '10.21.0.0', '10.0.0.1'] },
    { cidr: '192.168.1.128/25', inside: ['192.168.1.128', '192.168.1.255'], outside: ['192.168.1.127', '192.168.2.0'] },
    { cidr: '1.2.3.4/32', inside: ['1.2.3.4'], outside: ['1.2.3.3', '1.2.3.5'] },
    { cidr: '0.0.0.0/0', inside: ['0.0.0.0', '255.255.255.255', '127.0.0.1'], outside: ['::1', '2001:db8::1'] },
    { cidr: '128.0.0.0/1', inside: ['128.0.0.0', '255.255.255.255'], outside: ['127.255.255.255'] },
    { cidr: '2001:db8::/32', inside: ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'], outside: ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db9::'] },
    { cidr: '2001:db8:8000::/33', inside: ['2001:db8:8000::', '2001:db8:ffff::1'], outside: ['2001:db8:7fff:ffff:ffff:ffff:ffff:ffff'] },
    { cidr: 'fd00:ec2::/120', inside: ['fd00:ec2::', 'fd00:ec2::ff'], outside: ['fd00:ec2::100'] },
    { cidr: '::1/128', inside: ['::1'], outside: ['::', '::2'] },
  ]
  for (const c of cases) {
    const r = compileCidr(c.cidr)
    for (const a of c.inside) t.equal(r.contains(ip(a)), true, `${c.cidr} contains ${a}`)
    for (const a of c.outside) t.equal(r.contains(ip(a)), false, `${c.cidr} does not contain ${a}`)
  }
})

t.test('IPv4 rules against IPv4-mapped IPv6 addresses, and IPv6 rules against IPv4', async (t) => {
  const v4 = compileCidr('10.20.0.0/16')
  t.equal(v4.contains(ip('::ffff:10.20.0.1')), true, 'a v4 rule matches a mapped address (the parser unmaps it)')
  t.equal(v4.contains(ip('::ffff:10.21.0.1')), false, 'a v4 rule does not match a mapped address outside it')
  t.equal(v4.contains(ip('::10.20.0.1')), false, 'an IPv4-compatible address is IPv6, not in a v4 rule')
  t.equal(v4.contains(ip('64:ff9b::10.20.0.1')), false, 'a NAT64 address is IPv6, not in a v4 rule')
  t.equal(v4.contains({ ip: '::ffff:a14:1', family: 6 }), false, 'an un-unmapped IPv6 object never matches a v4 rule (fail closed)')

  const mapped = compileCidr('::ffff:10.0.0.0/104')
  t.equal(mapped.contains(ip('10.0.0.1')), true, 'a rule written in mapped form matches the IPv4 address')
  t.equal(mapped.contains(ip('10.255.255.255')), true, 'upper boundary')
  t.equal(mapped.contains(ip('11.0.0.0')), false, 'outside')

  const all6 = compileCidr('::/0')
  t.equal(all6.contains(ip('2001:db8::1')), true, '::/0 matches every IPv6 address')
  t.equal(all6.contains(ip('127.0.0.1')), false, '::/0 does not also match IPv4 loopback')
  t.equal(all6.contains(ip('169.254.169.254')), false, '::/0 does not also match IPv4 metadata')
  t.equal(compileCidr('::/8').contains(ip('10.0.0.1')), false, '::/8 does not match IPv4')
})

t.test('a mapped-form range whose first octet is one digit is read like any other mapped range', async (t) => {
  const one = compileCidr('::ffff:1.0.0.0/104')
  t.equal(one.source, '::ffff:1.0.0.0/104')
  t.equal(one.contains(ip('1.2.3.4')), true, 'it contains the IPv4 addresses it maps')
  t.equal(one.contains(ip('2.0.0.1')), false)
  t.equal(compileCidr('::ffff:10.0.0.0/104').contains(ip('10.9.9.9')), true, 'control: the two-digit form, accepted before too')
  t.throws(() => compileCidr('::ffff:1.0.0.1/104'), /host bits are set; use "::ffff:1\.0\.0\.0\/104"/, 'host bits still refused, with the fix')
})

t.test('the same answers under tsx (the dev loader): a valid range compiles, an invalid one is refused', async (t) => {
  // ip-cidr (an ES-module wrapper over ip-address) read every CIDR as invalid under tsx's interop;
  // the cross-check now uses ip-address, a CommonJS package every loader reads alike.
  const root = new URL('../../', import.meta.url).pathname
  const r = await runModule(`import { compileCidr } from ${JSON.stringify(root + 'policy/cidr.ts')}
const out = {}
for (const c of ['127.0.0.1/32', '10.0.0.0/8', '2001:db8::/32', '::ffff:10.0.0.0/104']) out[c] = compileCidr(c).source
let refused = ''
try { compileCidr('10.0.0.1/8') } catch (e) { refused = e.message }
console.log(JSON.stringify({ out, refused }))`, root)
  t.equal(r.code, 0, r.err)
  const got = JSON.parse(r.out) as { out: Record<string, string>; refused: string }
  t.same(got.out, { '127.0.0.1/32': '127.0.0.1/32', '10.0.0.0/8': '10.0.0.0/8', '2001:db8::/32': '2001:db8::/32', '::ffff:10.0.0.0/104': '::ffff:10.0.0.0/104' }, 'under tsx, as under the test loader')
  t.match(got.refused, /host bits are set; use "10\.0\.0\.0\/8"/, 'control: a range with host bits is still refused')
})

// ---- compileCidr before it moved onto the shared prefix table (prefix.ts), kept verbatim as the
// oracle (it cross-checked with ip-cidr, which is why that package is loaded here).
const oracleCompileCidr = (() => {
  const ipCidr = (createRequire(import.meta.url)('ip-cidr') as { default: { isValidCIDR(s: string): boolean } }).default
  const intToIPv4 = (n: number): string => `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`
  const ipv6Text = (w: readonly number[]): string => {
    if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
      return `::ffff:${intToIPv4(((w[6]! << 16) | w[7]!) >>> 0)}`
    }
    return formatIPv6(w)
  }
  const mappedWords = (ip4: string): number[] => {
    const n = ipv4ToInt(ip4)
    return [0, 0, 0, 0, 0, 0xffff, n >>> 16, n & 0xffff]
  }
  return function compileCidr(text: string): CidrRange {
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
    const family = addrText.includes(':') ? 6 : 4
    const max = family === 4 ? 32 : 128
    if (bits > max) bad(`the prefix length exceeds ${max}`)
    if (!ipCidr.isValidCIDR(text)) bad('rejected by the CIDR parser')
    if (family === 4) {
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
      const base = (ipv4ToInt(a.ip) & mask) >>> 0
      if (base !== ipv4ToInt(a.ip)) bad(`host bits are set; use "${intToIPv4(base)}/${bits}"`)
      return { source: `${a.ip}/${bits}`, family: 4, contains: (x) => x.family === 4 && ((ipv4ToInt(x.ip) & mask) >>> 0) === base }
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
})()

/** compileCidr's outcome as data: the error message, or the source, family and a containment test. */
function outcome(compile: (s: string) => CidrRange, text: string): { error: string } | { range: CidrRange } {
  try {
    return { range: compile(text) }
  } catch (e) {
    return { error: `${(e as HangarError).code}: ${(e as Error).message}` }
  }
}

const SEED = 20261207
const RUNS = 3000
const word = fc.integer({ min: 0, max: 0xffff })
/** CIDR texts: network form most of the time (accepted), host bits set or mapped form otherwise. */
const cidrText = fc.oneof(
  fc.tuple(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 33 }), fc.boolean()).map(([n, bits, net]) => {
    const mask = bits === 0 || bits > 32 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    return `${v4Text(net && bits <= 32 ? (n & mask) >>> 0 : n)}/${bits}`
  }),
  fc.tuple(fc.array(word, { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 129 }), fc.boolean()).map(([w, bits, net]) => {
    const words = net ? w.map((x, i) => { const take = Math.max(0, Math.min(16, bits - 16 * i)); return take === 0 ? 0 : x & (0xffff << (16 - take)) & 0xffff }) : w
    return `${formatIPv6(words)}/${bits}`
  }),
  fc.tuple(fc.nat({ max: 0xffffffff }), fc.integer({ min: 80, max: 128 }), fc.boolean()).map(([n, bits, net]) => {
    const v4bits = Math.max(0, bits - 96)
    const mask = v4bits === 0 ? 0 : (0xffffffff << (32 - v4bits)) >>> 0
    return `::ffff:${v4Text(net ? (n & mask) >>> 0 : n)}/${bits}`
  }),
)

t.test('property: compileCidr accepts, refuses and matches exactly as the previous implementation', async (t) => {
  const address = fc.oneof(
    v4Int(['10.0.0.0/8', '0.0.0.0/0', '192.168.1.128/25']).map((n): IpAddress => parseIpLiteral(v4Text(n))!),
    v6Words(['::/0', '2001:db8::/32', '::ffff:0:0/96', 'fe80::/10']).map((w): IpAddress => parseIpLiteral(v6Text(w))!),
    // Hand-built IPv6 values the parser never produces (mapped words kept): both must fail closed alike.
    fc.tuple(word, word).map(([a, b]): IpAddress => ({ ip: `::ffff:${a.toString(16)}:${b.toString(16)}`, family: 6 })),
  )
  let accepted = 0
  const details = fc.check(
    fc.property(cidrText, fc.array(address, { minLength: 1, maxLength: 8 }), (text, addrs) => {
      const now = outcome(compileCidr, text)
      const before = outcome(oracleCompileCidr, text)
      if ('error' in before || 'error' in now) {
        if (JSON.stringify(now) === JSON.stringify(before)) return true
        // One known difference: ip-cidr read a mapped form whose first octet is one digit
        // (::ffff:1.0.0.0/104) as IPv4 and refused it ("rejected by the CIDR parser") while it took
        // ::ffff:10.0.0.0/104; ip-address reads both as IPv6, so such a range is now judged like any
        // other (accepted, or refused for its real fault). Checked on its own below.
        if ('error' in before && /rejected by the CIDR parser$/.test(before.error) && /^::ffff:\d\./.test(text)) return 'range' in now || now.error.startsWith(`${ERROR_CODES.CIDR_INVALID}: `)
        return false
      }
      accepted++
      // Addresses inside the range too, not only random ones: its own network address.
      const own = parseIpLiteral(text.slice(0, text.indexOf('/')))!
      return now.range.source === before.range.source && now.range.family === before.range.family &&
        [own, ...addrs].every((a) => now.range.contains(a) === before.range.contains(a))
    }),
    { seed: SEED, numRuns: RUNS },
  )
  t.notOk(details.failed, details.failed ? fc.defaultReportMessage(details) ?? 'failed' : 'no counterexample')
  t.ok(accepted > RUNS / 3, `${accepted} of ${RUNS} CIDRs accepted and matched against random addresses`)
})
