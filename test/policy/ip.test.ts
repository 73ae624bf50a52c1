// Strict IP-literal parsing (policy/ip.ts, docs/egress.md §Names and IP literals): only dotted-quad decimal IPv4 and
// RFC 4291 IPv6 text are IPs; every inet_aton shorthand is refused; IPv4-mapped IPv6 is unmapped;
// output is RFC 5952 canonical text.
import t from 'tap'
import { formatIPv6, ipv4ToInt, ipv6Words, parseIpLiteral } from '../../policy/ip.js'

interface IpCase {
  case: string
  input: string
  /** null: not an IP literal. */
  expected: { ip: string; family: 4 | 6 } | null
}

const IPV4: IpCase[] = [
  { case: 'dotted quad', input: '127.0.0.1', expected: { ip: '127.0.0.1', family: 4 } },
  { case: 'all zeros', input: '0.0.0.0', expected: { ip: '0.0.0.0', family: 4 } },
  { case: 'all ones', input: '255.255.255.255', expected: { ip: '255.255.255.255', family: 4 } },
  { case: 'single zero parts are not leading zeros', input: '10.0.0.0', expected: { ip: '10.0.0.0', family: 4 } },
  // inet_aton forms: every one of them means 127.0.0.1 to getaddrinfo/WHATWG, none is an IP here.
  { case: 'inet_aton: one 32-bit decimal number', input: '2130706433', expected: null },
  { case: 'inet_aton: octal first part', input: '0177.0.0.1', expected: null },
  { case: 'inet_aton: hex first part, two parts', input: '0x7f.1', expected: null },
  { case: 'inet_aton: two parts', input: '127.1', expected: null },
  { case: 'inet_aton: three parts', input: '127.0.1', expected: null },
  { case: 'inet_aton: one 32-bit hex number', input: '0x7f000001', expected: null },
  { case: 'inet_aton: one 32-bit octal number', input: '017700000001', expected: null },
  { case: 'inet_aton: hex parts', input: '0x7f.0x0.0x0.0x1', expected: null },
  { case: 'leading zero in a later part', input: '127.0.0.01', expected: null },
  { case: 'leading zero in the first part', input: '01.2.3.4', expected: null },
  { case: 'trailing dot', input: '127.0.0.1.', expected: null },
  { case: 'leading space', input: ' 127.0.0.1', expected: null },
  { case: 'trailing newline', input: '127.0.0.1\n', expected: null },
  { case: 'trailing NUL', input: '127.0.0.1\u0000', expected: null },
  { case: 'part above 255', input: '256.0.0.1', expected: null },
  { case: 'five parts', input: '1.2.3.4.5', expected: null },
  { case: 'empty part', input: '1..3.4', expected: null },
  { case: 'sign', input: '+1.2.3.4', expected: null },
  { case: 'fullwidth digits', input: '１２７.０.０.１', expected: null },
  { case: 'CIDR suffix', input: '1.2.3.4/32', expected: null },
  { case: 'port suffix', input: '1.2.3.4:80', expected: null },
  { case: 'IPv4 in brackets is not an RFC 3986 IP-literal', input: '[127.0.0.1]', expected: null },
  { case: 'empty string', input: '', expected: null },
]

const IPV6: IpCase[] = [
  { case: 'unspecified', input: '::', expected: { ip: '::', family: 6 } },
  { case: 'loopback', input: '::1', expected: { ip: '::1', family: 6 } },
  { case: 'full form is compressed', input: '2001:0db8:0000:0000:0000:0000:0000:0001', expected: { ip: '2001:db8::1', family: 6 } },
  { case: 'uppercase is lowercased', input: '2001:DB8::A', expected: { ip: '2001:db8::a', family: 6 } },
  { case: 'all eight groups, no zeros', input: '1:2:3:4:5:6:7:8', expected: { ip: '1:2:3:4:5:6:7:8', family: 6 } },
  { case: 'all zeros spelled out', input: '0:0:0:0:0:0:0:0', expected: { ip: '::', family: 6 } },
  { case: 'trailing zeros', input: '1:0:0:0:0:0:0:0', expected: { ip: '1::', family: 6 } },
  { case: ':: standing for one group is accepted on input', input: '1:2:3:4:5:6:7::', expected: { ip: '1:2:3:4:5:6:7:0', family: 6 } },
  { case: 'redundant zero groups next to ::', input: '::0:0:1', expected: { ip: '::1', family: 6 } },
  { case: 'bracketed', input: '[::1]', expected: { ip: '::1', family: 6 } },
  { case: 'bracketed, full form', input: '[2001:db8:0:0:0:0:0:1]', expected: { ip: '2001:db8::1', family: 6 } },
  { case: 'link-local', input: 'fe80::1', expected: { ip: 'fe80::1', family: 6 } },
  // Embedded IPv4 in the last 32 bits.
  { case: 'embedded dotted quad', input: '64:ff9b::127.0.0.1', expected: { ip: '64:ff9b::7f00:1', family: 6 } },
  { case: 'eight groups with embedded quad', input: '1:2:3:4:5:6:1.2.3.4', expected: { ip: '1:2:3:4:5:6:102:304', family: 6 } },
  { case: 'IPv4-compatible ::a.b.c.d stays IPv6', input: '::127.0.0.1', expected: { ip: '::7f00:1', family: 6 } },
  { case: 'IPv4-translated ::ffff:0:a.b.c.d stays IPv6', input: '::ffff:0:127.0.0.1', expected: { ip: '::ffff:0:7f00:1', family: 6 } },
  // IPv4-mapped is unmapped to IPv4.
  { case: 'mapped ::ffff:a.b.c.d is unmapped', input: '::ffff:127.0.0.1', expected: { ip: '127.0.0.1', family: 4 } },
  { case: 'mapped in hex is unmapped', input: '::ffff:7f00:1', expected: { ip: '127.0.0.1', family: 4 } },
  { case: 'mapped, uppercase', input: '::FFFF:169.254.169.254', expected: { ip: '169.254.169.254', family: 4 } },
  { case: 'mapped, spelled out', input: '0:0:0:0:0:ffff:a00:1', expected: { ip: '10.0.0.1', family: 4 } },
  { case: 'mapped, bracketed', input: '[::ffff:10.0.0.1]', expected: { ip: '10.0.0.1', family: 4 } },
  { case: 'mapped unspecified', input: '::ffff:0.0.0.0', expected: { ip: '0.0.0.0', family: 4 } },
  // Refused forms.
  { case: 'zone id', input: 'fe80::1%eth0', expected: null },
  { case: 'zone id, bracketed', input: '[fe80::1%25eth0]', expected: null },
  { case: 'nine groups', input: '1:2:3:4:5:6:7:8:9', expected: null },
  { case: ':: with eight groups besides', input: '1:2:3:4:5:6:7:8::', expected: null },
  { case: 'two ::', input: '1::2::3', expected: null },
  { case: 'group of five hex digits', input: '00000::1', expected: null },
  { case: 'non-hex digit', input: '2001:db8::g', expected: null },
  { case: 'single leading colon', input: ':1::1', expected: null },
  { case: 'single trailing colon', input: '1::1:', expected: null },
  { case: 'unclosed bracket', input: '[::1', expected: null },
  { case: 'bracket with port', input: '[::1]:80', expected: null },
  { case: 'leading space', input: ' ::1', expected: null },
  { case: 'trailing space', input: '::1 ', expected: null },
  { case: 'embedded quad with a leading zero', input: '::ffff:1.2.3.04', expected: null },
  { case: 'embedded quad with three parts', input: '::ffff:1.2.3', expected: null },
  { case: 'embedded quad not last', input: '::1.2.3.4:5', expected: null },
  { case: 'embedded quad making nine groups', input: '1:2:3:4:5:6:7:1.2.3.4', expected: null },
]

t.test('IPv4 literals: dotted-quad decimal only', async (t) => {
  for (const c of IPV4) t.strictSame(parseIpLiteral(c.input), c.expected, `${c.case}: ${JSON.stringify(c.input)}`)
})

t.test('IPv6 literals: RFC 4291 text, RFC 5952 output, mapped unmapped', async (t) => {
  for (const c of IPV6) t.strictSame(parseIpLiteral(c.input), c.expected, `${c.case}: ${JSON.stringify(c.input)}`)
})

t.test('formatIPv6 is RFC 5952 canonical', async (t) => {
  const cases: Array<{ case: string; words: number[]; expected: string }> = [
    { case: 'longest zero run compressed', words: [0x2001, 0xdb8, 0, 0, 1, 0, 0, 0], expected: '2001:db8:0:0:1::' },
    { case: 'leftmost run on a tie', words: [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], expected: '2001:db8::1:0:0:1' },
    { case: 'a single zero group is not compressed', words: [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], expected: '2001:db8:0:1:1:1:1:1' },
    { case: 'leading zeros of a group dropped, lowercase', words: [0x2001, 0x0db8, 0, 0, 0, 0, 0xabcd, 0x000f], expected: '2001:db8::abcd:f' },
    { case: 'all zeros', words: [0, 0, 0, 0, 0, 0, 0, 0], expected: '::' },
    { case: 'leading run', words: [0, 0, 0, 0, 0, 0, 0, 1], expected: '::1' },
    { case: 'trailing run', words: [0xfe80, 0, 0, 0, 0, 0, 0, 0], expected: 'fe80::' },
    { case: 'no zeros', words: [1, 2, 3, 4, 5, 6, 7, 8], expected: '1:2:3:4:5:6:7:8' },
    { case: 'longer later run wins', words: [1, 0, 0, 2, 0, 0, 0, 3], expected: '1:0:0:2::3' },
  ]
  for (const c of cases) t.equal(formatIPv6(c.words), c.expected, c.case)
})

t.test('ipv6Words parses to eight 16-bit words', async (t) => {
  t.strictSame(ipv6Words('::'), [0, 0, 0, 0, 0, 0, 0, 0], '::')
  t.strictSame(ipv6Words('2001:db8::1'), [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 'compressed')
  t.strictSame(ipv6Words('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304], 'embedded quad')
  t.equal(ipv6Words('1.2.3.4'), null, 'IPv4 text is not IPv6')
  t.equal(ipv6Words('1:2:3:4:5:6:7'), null, 'seven groups without ::')
})

t.test('ipv4ToInt is unsigned', async (t) => {
  const cases: Array<[string, number]> = [
    ['0.0.0.0', 0],
    ['127.0.0.1', 2130706433],
    ['255.255.255.255', 4294967295],
    ['128.0.0.0', 2147483648],
  ]
  for (const [ip, n] of cases) t.equal(ipv4ToInt(ip), n, ip)
})

t.test('canonical output is a fixed point of the parser', async (t) => {
  for (const c of [...IPV4, ...IPV6]) {
    if (!c.expected) continue
    t.strictSame(parseIpLiteral(c.expected.ip), c.expected, `${c.case}: ${c.expected.ip} parses to itself`)
  }
})
