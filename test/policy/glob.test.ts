// Host globs (policy/glob.ts; smokescreen's rules): exact, "*.x" (subdomains only), ".x" (apex and
// subdomains). Anything else is HANGAR_GLOB_INVALID at load, with a message that suggests the fix.
// Matching is on a label boundary only.
import t from 'tap'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { compileHostGlob, matchHost } from '../../policy/glob.js'
import { parseTarget } from '../../policy/host.js'
import type { HostPattern } from '../../policy/egress-types.js'

t.test('accepted globs compile to their normalised form', async (t) => {
  const cases: Array<{ case: string; glob: string; expected: HostPattern }> = [
    { case: 'exact', glob: 'api.example.com', expected: { source: 'api.example.com', kind: 'exact', base: 'api.example.com' } },
    { case: 'subdomains', glob: '*.example.com', expected: { source: '*.example.com', kind: 'subdomains', base: 'example.com' } },
    { case: 'apex and subdomains', glob: '.example.com', expected: { source: '.example.com', kind: 'apex_and_subdomains', base: 'example.com' } },
    { case: 'uppercase and trailing dot normalised', glob: '*.GitHubUserContent.COM.', expected: { source: '*.githubusercontent.com', kind: 'subdomains', base: 'githubusercontent.com' } },
    { case: 'leading-dot form with trailing dot', glob: '.Example.com.', expected: { source: '.example.com', kind: 'apex_and_subdomains', base: 'example.com' } },
    { case: 'Unicode glob to punycode', glob: '*.bücher.de', expected: { source: '*.xn--bcher-kva.de', kind: 'subdomains', base: 'xn--bcher-kva.de' } },
    { case: 'Unicode homograph glob stays distinct', glob: '.аpple.com', expected: { source: '.xn--pple-43d.com', kind: 'apex_and_subdomains', base: 'xn--pple-43d.com' } },
    { case: 'single-label exact name', glob: 'localhost', expected: { source: 'localhost', kind: 'exact', base: 'localhost' } },
    { case: 'exact IPv4 literal', glob: '10.0.0.5', expected: { source: '10.0.0.5', kind: 'exact', base: '10.0.0.5' } },
    { case: 'exact IPv6 literal, bracketed', glob: '[2001:DB8::1]', expected: { source: '2001:db8::1', kind: 'exact', base: '2001:db8::1' } },
  ]
  for (const c of cases) t.strictSame({ ...compileHostGlob(c.glob) }, c.expected, `${c.case}: ${JSON.stringify(c.glob)}`)
})

t.test('rejected globs: HANGAR_GLOB_INVALID with a message that suggests the fix', async (t) => {
  const cases: Array<{ case: string; glob: string; suggests: RegExp }> = [
    { case: 'bare star', glob: '*', suggests: /list the hosts instead/ },
    { case: 'star dot', glob: '*.', suggests: /names no domain; write e\.g\. "\*\.example\.com"/ },
    { case: 'star glued to a label', glob: '*x.com', suggests: /use "\*\.x\.com" \(subdomains\) or "\.x\.com"/ },
    { case: 'star glued to a longer name', glob: '*example.com', suggests: /use "\*\.example\.com"/ },
    { case: 'star in the middle', glob: 'a.*.x.com', suggests: /use "\*\.x\.com"/ },
    { case: 'trailing star', glob: 'x.*', suggests: /name the domain, e\.g\. "\*\.example\.com"/ },
    { case: 'double star', glob: '**.x.com', suggests: /use "\*\.x\.com"/ },
    { case: 'two wildcard labels', glob: '*.*.x.com', suggests: /use "\*\.x\.com"/ },
    { case: 'wildcard over a TLD', glob: '*.com', suggests: /top-level domain "com".*name the registrable domain/ },
    { case: 'leading dot over a TLD', glob: '.com', suggests: /top-level domain "com".*name the registrable domain/ },
    { case: 'wildcard over a single label', glob: '*.localhost', suggests: /name the registrable domain/ },
    { case: 'empty', glob: '', suggests: /names no domain/ },
    { case: 'lone dot', glob: '.', suggests: /names no domain/ },
    { case: 'star dot dot', glob: '*..x.com', suggests: /invalid label ""/ },
    { case: 'wildcard over an IPv4 literal', glob: '*.10.0.0.1', suggests: /use a "cidr" rule \(e\.g\. cidr: "10\.0\.0\.1\/32"\)/ },
    { case: 'leading dot over an IPv4 literal', glob: '.10.0.0.1', suggests: /use a "cidr" rule/ },
    { case: 'star inside an IPv4 literal', glob: '10.0.0.*', suggests: /use a "cidr" rule/ },
    { case: 'star inside an IPv6 literal', glob: '2001:db8::*', suggests: /use a "cidr" rule/ },
    { case: 'wildcard over an IPv6 literal', glob: '*.[::1]', suggests: /use a "cidr" rule \(e\.g\. cidr: "::1\/128"\)/ },
    { case: 'non-canonical IPv4', glob: '127.1', suggests: /numeric last label/ },
    { case: 'inet_aton decimal', glob: '2130706433', suggests: /numeric last label/ },
    { case: 'a port', glob: 'api.example.com:443', suggests: /characters not allowed/ },
    { case: 'a URL', glob: 'https://api.example.com', suggests: /characters not allowed/ },
    { case: 'leading space', glob: ' *.x.com', suggests: /only a leading "\*\."/ },
    { case: 'two trailing dots', glob: '*.x.com..', suggests: /invalid label ""/ },
    { case: 'percent-encoded', glob: '*.ex%61mple.com', suggests: /characters not allowed/ },
  ]
  for (const c of cases) {
    let err: unknown
    try {
      compileHostGlob(c.glob)
    } catch (e) {
      err = e
    }
    t.type(err, HangarError, `${c.case}: throws HangarError`)
    t.equal((err as HangarError | undefined)?.code, ERROR_CODES.GLOB_INVALID, `${c.case}: code`)
    t.match((err as Error | undefined)?.message ?? '', `"${c.glob}" is not a valid host glob`, `${c.case}: names the glob`)
    t.match((err as Error | undefined)?.message ?? '', c.suggests, `${c.case}: suggests the fix`)
  }
})

/** Normalises like the decision path does before matching. */
function host(raw: string): string {
  const p = parseTarget(raw)
  if (!p.ok) throw new Error(`test table error: ${raw}: ${p.reason}`)
  return p.target.host
}

t.test('matching on a label boundary only', async (t) => {
  const cases: Array<{ glob: string; host: string; expected: boolean }> = [
    // *.x.com: subdomains only.
    { glob: '*.x.com', host: 'a.x.com', expected: true },
    { glob: '*.x.com', host: 'a.b.x.com', expected: true },
    { glob: '*.x.com', host: 'x.com', expected: false },
    { glob: '*.x.com', host: 'evil-x.com', expected: false },
    { glob: '*.x.com', host: 'evilx.com', expected: false },
    { glob: '*.x.com', host: 'x.com.evil.net', expected: false },
    { glob: '*.x.com', host: 'a.x.com.evil.net', expected: false },
    { glob: '*.x.com', host: 'x.co', expected: false },
    { glob: '*.x.com', host: 'com', expected: false },
    { glob: '*.x.com', host: 'A.X.COM.', expected: true },
    // .x.com: apex and subdomains.
    { glob: '.x.com', host: 'x.com', expected: true },
    { glob: '.x.com', host: 'a.x.com', expected: true },
    { glob: '.x.com', host: 'a.b.x.com', expected: true },
    { glob: '.x.com', host: 'evil-x.com', expected: false },
    { glob: '.x.com', host: 'evilx.com', expected: false },
    { glob: '.x.com', host: 'x.com.evil.net', expected: false },
    // exact.
    { glob: 'x.com', host: 'x.com', expected: true },
    { glob: 'x.com', host: 'X.Com.', expected: true },
    { glob: 'x.com', host: 'a.x.com', expected: false },
    { glob: 'x.com', host: 'x.com.evil.net', expected: false },
    { glob: 'api.x.com', host: 'x.com', expected: false },
    // Unicode globs and homographs.
    { glob: '*.bücher.de', host: 'shop.bücher.de', expected: true },
    { glob: '*.bücher.de', host: 'shop.xn--bcher-kva.de', expected: true },
    { glob: '*.bücher.de', host: 'shop.bucher.de', expected: false },
    { glob: 'apple.com', host: 'аpple.com', expected: false },
    { glob: '.apple.com', host: 'www.аpple.com', expected: false },
    { glob: '.apple.com', host: 'www.xn--pple-43d.com', expected: false },
    { glob: '.аpple.com', host: 'apple.com', expected: false },
    // Suffix confusion with the wildcard's base inside a longer label.
    { glob: '*.githubusercontent.com', host: 'raw.githubusercontent.com', expected: true },
    { glob: '*.githubusercontent.com', host: 'evilgithubusercontent.com', expected: false },
    { glob: '*.githubusercontent.com', host: 'raw.githubusercontent.com.attacker.io', expected: false },
  ]
  for (const c of cases) t.equal(matchHost(compileHostGlob(c.glob), host(c.host)), c.expected, `${c.glob} vs ${c.host}`)
})

t.test('a wildcard over an ICANN public suffix is rejected; private PSL entries are one operator and allowed', async (t) => {
  for (const g of ['*.co.uk', '.co.uk', '*.com.au', '.org.uk']) {
    t.throws(() => compileHostGlob(g), { code: 'HANGAR_GLOB_INVALID', message: /is a public suffix/ }, g)
  }
  for (const g of ['*.githubusercontent.com', '*.example.co.uk', '.s3.amazonaws.com', '*.bench.test']) {
    t.equal(compileHostGlob(g).source, g, g)
  }
})
