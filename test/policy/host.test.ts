// Host normalisation (policy/host.ts, docs/egress.md §Names and IP literals): lowercase, one trailing dot stripped,
// IDNA → punycode, strict LDH labels; inet_aton forms and anything the WHATWG parser would turn
// into an address are malformed, never IPs and never names.
import t from 'tap'
import { parseTarget, splitHostPort } from '../../policy/host.js'

interface HostCase {
  case: string
  input: string
  /** `name:<host>`, `ip:<address>`, or `malformed` (then `why` matches the reason). */
  expected: string
  why?: RegExp
}

const l63 = 'a'.repeat(63)
const l64 = 'a'.repeat(64)
// 126 × "a." + "a" = 253 characters; one more label character = 254.
const n253 = 'a.'.repeat(126) + 'a'
const n254 = 'a.'.repeat(126) + 'ab'

const CASES: HostCase[] = [
  // Case and trailing dots.
  { case: 'lowercased', input: 'Api.GitHub.COM', expected: 'name:api.github.com' },
  { case: 'one trailing dot stripped', input: 'example.com.', expected: 'name:example.com' },
  { case: 'two trailing dots are malformed', input: 'example.com..', expected: 'malformed', why: /invalid label ""/ },
  { case: 'ideographic full stop counts as the one trailing dot', input: 'example.com。', expected: 'name:example.com' },
  { case: 'a dot then a fullwidth full stop are two trailing dots', input: 'example.com。.', expected: 'malformed', why: /more than one dot/ },
  { case: 'a lone dot', input: '.', expected: 'malformed' },
  { case: 'leading dot (empty label)', input: '.example.com', expected: 'malformed', why: /invalid label ""/ },
  { case: 'empty label in the middle', input: 'a..example.com', expected: 'malformed', why: /invalid label ""/ },
  { case: 'empty', input: '', expected: 'malformed', why: /empty host/ },
  // IDNA.
  { case: 'Unicode to punycode', input: 'bücher.de', expected: 'name:xn--bcher-kva.de' },
  { case: 'Unicode uppercase folded', input: 'BÜCHER.DE', expected: 'name:xn--bcher-kva.de' },
  { case: 'homograph: Cyrillic а in аpple.com is not apple.com', input: 'аpple.com', expected: 'name:xn--pple-43d.com' },
  { case: 'homograph: all-Cyrillic аррӏе.com', input: 'аррӏе.com', expected: 'name:xn--80ak6aa92e.com' },
  { case: 'punycode input kept', input: 'xn--pple-43d.com', expected: 'name:xn--pple-43d.com' },
  { case: 'punycode input lowercased', input: 'XN--PPLE-43D.COM', expected: 'name:xn--pple-43d.com' },
  { case: 'invalid punycode label', input: 'xn--zz.com', expected: 'malformed', why: /punycode/ },
  { case: 'empty punycode label', input: 'xn--.com', expected: 'malformed' },
  { case: 'fullwidth letters map to ASCII', input: 'ＥＸＡＭＰＬＥ.com', expected: 'name:example.com' },
  { case: 'fullwidth full stop maps to a dot', input: 'example．com', expected: 'name:example.com' },
  { case: 'emoji domain', input: '😀.com', expected: 'name:xn--e28h.com' },
  { case: 'sharp s is kept (non-transitional)', input: 'faß.de', expected: 'name:xn--fa-hia.de' },
  // Numbers that the WHATWG host parser would turn into 127.0.0.1: never an IP, never a name.
  { case: 'fullwidth digits and dots', input: '１２７.０.０.１', expected: 'malformed', why: /numeric address under IDNA/ },
  { case: 'ideographic full stops between digits', input: '127。0。0。1', expected: 'malformed', why: /numeric address under IDNA/ },
  { case: 'circled digits', input: '①②⑦.0.0.1', expected: 'malformed' },
  { case: 'Unicode label with a numeric last label', input: 'bücher.123', expected: 'malformed' },
  { case: 'inet_aton decimal', input: '2130706433', expected: 'malformed', why: /numeric last label/ },
  { case: 'inet_aton octal', input: '0177.0.0.1', expected: 'malformed', why: /numeric last label/ },
  { case: 'inet_aton hex two parts', input: '0x7f.1', expected: 'malformed', why: /numeric last label/ },
  { case: 'inet_aton two parts', input: '127.1', expected: 'malformed', why: /numeric last label/ },
  { case: 'inet_aton hex number', input: '0x7f000001', expected: 'malformed', why: /numeric last label/ },
  { case: 'inet_aton uppercase hex', input: '0X7F000001', expected: 'malformed', why: /numeric last label/ },
  { case: 'inet_aton long octal', input: '017700000001', expected: 'malformed', why: /numeric last label/ },
  { case: 'IP with a trailing dot', input: '127.0.0.1.', expected: 'malformed', why: /numeric last label/ },
  { case: 'name with a hex last label', input: 'evil.0x7f', expected: 'malformed', why: /numeric last label/ },
  { case: 'name with a bare 0x last label', input: 'evil.0x', expected: 'malformed', why: /numeric last label/ },
  { case: 'name with a numeric TLD', input: 'evil.123', expected: 'malformed', why: /numeric last label/ },
  { case: 'numeric first label is a name', input: '123.example.com', expected: 'name:123.example.com' },
  { case: '0x-like but not hex is a name', input: 'foo.0xg', expected: 'name:foo.0xg' },
  // IP literals.
  { case: 'dotted quad', input: '10.1.2.3', expected: 'ip:10.1.2.3' },
  { case: 'bracketed IPv6', input: '[::1]', expected: 'ip:::1' },
  { case: 'bare IPv6', input: '2001:DB8::1', expected: 'ip:2001:db8::1' },
  { case: 'mapped IPv6 unmapped', input: '[::ffff:127.0.0.1]', expected: 'ip:127.0.0.1' },
  { case: 'bracketed IPv4', input: '[127.0.0.1]', expected: 'malformed', why: /not a valid IPv6 literal/ },
  { case: 'bracketed garbage', input: '[evil.com]', expected: 'malformed', why: /not a valid IPv6 literal/ },
  { case: 'zone id', input: 'fe80::1%eth0', expected: 'malformed' },
  // Characters.
  { case: 'percent-encoding', input: 'ex%61mple.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'percent-encoded dot', input: 'example%2ecom', expected: 'malformed', why: /characters not allowed/ },
  { case: 'underscore allowed', input: '_dmarc.example.com', expected: 'name:_dmarc.example.com' },
  { case: 'underscore inside a label', input: 'my_host.example.com', expected: 'name:my_host.example.com' },
  { case: 'userinfo', input: 'user@example.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'userinfo smuggling another host', input: 'allowed.com@evil.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'port', input: 'example.com:443', expected: 'malformed', why: /characters not allowed/ },
  { case: 'space inside', input: 'exa mple.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'leading space', input: ' example.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'trailing newline', input: 'example.com\n', expected: 'malformed', why: /characters not allowed/ },
  { case: 'tab', input: 'example\t.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'NUL', input: 'example.com\u0000.evil.net', expected: 'malformed', why: /characters not allowed/ },
  { case: 'slash', input: 'example.com/path', expected: 'malformed', why: /characters not allowed/ },
  { case: 'backslash', input: 'example.com\\evil.net', expected: 'malformed', why: /characters not allowed/ },
  { case: 'wildcard', input: '*.example.com', expected: 'malformed', why: /characters not allowed/ },
  { case: 'fullwidth @', input: 'a＠b.com', expected: 'malformed' },
  { case: 'fullwidth colon', input: 'a：80.com', expected: 'malformed' },
  { case: 'fullwidth percent', input: 'a％41.com', expected: 'malformed' },
  { case: 'fullwidth solidus', input: 'a／b.com', expected: 'malformed' },
  { case: 'ideographic space', input: 'a　b.com', expected: 'malformed' },
  { case: 'leading hyphen', input: '-a.example.com', expected: 'malformed', why: /invalid label "-a"/ },
  { case: 'trailing hyphen', input: 'a-.example.com', expected: 'malformed', why: /invalid label "a-"/ },
  { case: 'inner double hyphen is LDH', input: 'a--b.example.com', expected: 'name:a--b.example.com' },
  // Lengths.
  { case: '63-character label', input: `${l63}.com`, expected: `name:${l63}.com` },
  { case: '64-character label', input: `${l64}.com`, expected: 'malformed', why: /invalid label/ },
  { case: 'Unicode label whose punycode exceeds 63', input: `${'ü'.repeat(60)}.com`, expected: 'malformed', why: /invalid label/ },
  { case: '253-character name', input: n253, expected: `name:${n253}` },
  { case: '253-character name with a trailing dot', input: `${n253}.`, expected: `name:${n253}` },
  { case: '254-character name', input: n254, expected: 'malformed', why: /longer than 253/ },
  { case: 'very long input', input: 'a'.repeat(5000), expected: 'malformed', why: /longer than 253/ },
  // Single-label names are names (the resolver decides; the policy must name them).
  { case: 'single label', input: 'localhost', expected: 'name:localhost' },
  { case: 'fullwidth localhost', input: 'ｌｏｃａｌｈｏｓｔ', expected: 'name:localhost' },
]

function show(input: string): { text: string; reason: string } {
  const r = parseTarget(input)
  if (!r.ok) return { text: 'malformed', reason: r.reason }
  return { text: `${r.target.kind}:${r.target.host}`, reason: '' }
}

t.test('parseTarget table', async (t) => {
  for (const c of CASES) {
    const got = show(c.input)
    t.equal(got.text, c.expected, `${c.case}: ${JSON.stringify(c.input)}`)
    if (c.why) t.match(got.reason, c.why, `${c.case}: reason`)
  }
})

t.test('an IP target carries the parsed address', async (t) => {
  const r = parseTarget('::ffff:169.254.169.254')
  t.ok(r.ok, 'parsed')
  if (r.ok) {
    t.equal(r.target.kind, 'ip', 'kind ip')
    t.strictSame(r.target.kind === 'ip' ? r.target.address : null, { ip: '169.254.169.254', family: 4 }, 'unmapped address')
  }
})

t.test('homograph never equals the Latin name', async (t) => {
  const latin = parseTarget('apple.com')
  const cyrillic = parseTarget('аpple.com')
  t.ok(latin.ok && cyrillic.ok, 'both parse')
  if (latin.ok && cyrillic.ok) t.not(cyrillic.target.host, latin.target.host, 'different canonical names')
})

t.test('normalisation is idempotent', async (t) => {
  for (const c of CASES) {
    if (!c.expected.startsWith('name:')) continue
    const once = c.expected.slice(5)
    t.equal(show(once).text, c.expected, `${c.case}: ${once} normalises to itself`)
  }
})

t.test('splitHostPort', async (t) => {
  const cases: Array<{ case: string; input: string; expected: { host: string; port: number } | null }> = [
    { case: 'name and port', input: 'example.com:8443', expected: { host: 'example.com', port: 8443 } },
    { case: 'default port', input: 'example.com', expected: { host: 'example.com', port: 443 } },
    { case: 'bracketed IPv6 with port', input: '[::1]:80', expected: { host: '::1', port: 80 } },
    { case: 'bracketed IPv6 without port', input: '[::1]', expected: { host: '::1', port: 443 } },
    { case: 'bare IPv6 is ambiguous', input: '::1:80', expected: null },
    { case: 'port 0', input: 'example.com:0', expected: null },
    { case: 'port 65536', input: 'example.com:65536', expected: null },
    { case: 'empty port', input: 'example.com:', expected: null },
    { case: 'signed port', input: 'example.com:+1', expected: null },
    { case: 'hex port', input: 'example.com:0x50', expected: null },
    { case: 'junk after bracket', input: '[::1]x', expected: null },
    { case: 'unclosed bracket', input: '[::1:80', expected: null },
    { case: 'empty host', input: ':80', expected: null },
  ]
  for (const c of cases) t.strictSame(splitHostPort(c.input, 443), c.expected, c.case)
})
