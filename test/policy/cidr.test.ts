// CIDR rules (policy/cidr.ts): strict address part, network form required (the error suggests it),
// prefix bounds, contains() at the range boundaries, IPv4 against IPv6 ranges.
import t from 'tap'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { compileCidr } from '../../policy/cidr.js'
import { parseIpLiteral } from '../../policy/ip.js'
import type { IpAddress } from '../../policy/egress-types.js'

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
