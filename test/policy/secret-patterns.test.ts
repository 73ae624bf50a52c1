// Secret detection in tools/call arguments (policy/secret-patterns.ts; docs/mcp-ingress.md §Inspection). Every sample
// below is an obviously fake value; the non-AWS ones are assembled from pieces so that secret
// scanners reading this file do not flag it. Findings never carry the secret itself.
import t from 'tap'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import {
  compileSecretPatterns,
  scanArguments,
  SECRET_PATTERN_NAMES,
  SECRET_PATTERNS,
  type Finding,
  type SecretPatternName,
} from '../../policy/secret-patterns.js'

const ALL = compileSecretPatterns(SECRET_PATTERN_NAMES)
const MAX = 262144

const SAMPLES: Array<{ pattern: SecretPatternName; case: string; secret: string }> = [
  { pattern: 'aws-keys', case: 'AWS documented example key id', secret: 'AKIAIOSFODNN7EXAMPLE' },
  { pattern: 'aws-keys', case: 'STS temporary key id', secret: ['ASIA', 'IOSFODNN7EXAMPLE'].join('') },
  { pattern: 'pem-blocks', case: 'RSA private key', secret: ['-----BEGIN RSA ', 'PRIVATE KEY-----\nMIIfakefake\n-----END RSA PRIVATE KEY-----'].join('') },
  { pattern: 'pem-blocks', case: 'PKCS#8 private key', secret: ['-----BEGIN ', 'PRIVATE KEY-----\nMIIfake'].join('') },
  { pattern: 'pem-blocks', case: 'OpenSSH private key', secret: ['-----BEGIN OPENSSH ', 'PRIVATE KEY-----'].join('') },
  { pattern: 'pem-blocks', case: 'encrypted private key', secret: ['-----BEGIN ENCRYPTED ', 'PRIVATE KEY-----'].join('') },
  { pattern: 'github-tokens', case: 'classic PAT', secret: ['ghp', '_', 'FAKE0'.repeat(7), 'x'].join('') },
  { pattern: 'github-tokens', case: 'app installation token', secret: ['ghs', '_', 'fake1'.repeat(7), 'Y'].join('') },
  { pattern: 'github-tokens', case: 'fine-grained PAT', secret: ['github', '_pat_', 'FAKE0'.repeat(4), '11', '_', 'fake'.repeat(14), 'xyz'].join('') },
  { pattern: 'jwt', case: 'HS256 token', secret: ['eyJhbGciOiJIUzI1NiJ9', 'eyJzdWIiOiJmYWtlIn0', 'ZmFrZS1zaWduYXR1cmU'].join('.') },
  { pattern: 'slack-tokens', case: 'bot token', secret: ['xox', 'b-', '000000000000-000000000000-', 'FAKEfakeFAKEfake'].join('') },
  { pattern: 'slack-tokens', case: 'user token', secret: ['xox', 'p-', '0000000000-FAKEFAKE'].join('') },
  { pattern: 'stripe-keys', case: 'live secret key', secret: ['sk', '_live_', 'FAKE'.repeat(6)].join('') },
  { pattern: 'stripe-keys', case: 'live restricted key', secret: ['rk', '_live_', 'fake'.repeat(8)].join('') },
  { pattern: 'google-api-keys', case: 'API key', secret: ['AI', 'za', 'FAKE_fake-'.repeat(3), 'FAKEF'].join('') },
]

const NEAR_MISSES: Array<{ pattern: SecretPatternName; case: string; text: string }> = [
  { pattern: 'aws-keys', case: 'one character short', text: 'AKIAIOSFODNN7EXAMPL' },
  { pattern: 'aws-keys', case: 'one character long', text: 'AKIAIOSFODNN7EXAMPLEX' },
  { pattern: 'aws-keys', case: 'inside a longer run', text: 'XAKIAIOSFODNN7EXAMPLE' },
  { pattern: 'aws-keys', case: 'wrong prefix', text: 'AKIBIOSFODNN7EXAMPLE' },
  { pattern: 'aws-keys', case: 'lower case', text: 'akiaiosfodnn7example' },
  { pattern: 'pem-blocks', case: 'public key', text: '-----BEGIN PUBLIC KEY-----\nMIIB' },
  { pattern: 'pem-blocks', case: 'certificate', text: '-----BEGIN CERTIFICATE-----\nMIIB' },
  { pattern: 'pem-blocks', case: 'prose', text: 'paste your private key here' },
  { pattern: 'github-tokens', case: '35 characters', text: ['ghp', '_', 'FAKE0'.repeat(7)].join('') },
  { pattern: 'github-tokens', case: 'unknown prefix', text: ['ghx', '_', 'FAKE0'.repeat(7), 'x'].join('') },
  { pattern: 'github-tokens', case: 'fine-grained, too short', text: ['github', '_pat_', 'FAKE'.repeat(10)].join('') },
  { pattern: 'jwt', case: 'unsigned token', text: ['eyJhbGciOiJub25lIn0', 'eyJzdWIiOiJmYWtlIn0', ''].join('.') },
  { pattern: 'jwt', case: 'short segments', text: 'eyJ.abc.def' },
  { pattern: 'jwt', case: 'a version number', text: 'release 1.22.333' },
  { pattern: 'slack-tokens', case: 'unknown token type', text: ['xox', 'z-', '000000000000-FAKE'].join('') },
  { pattern: 'slack-tokens', case: 'too short', text: ['xox', 'b-', 'short'].join('') },
  { pattern: 'stripe-keys', case: 'test-mode key', text: ['sk', '_test_', 'FAKE'.repeat(6)].join('') },
  { pattern: 'stripe-keys', case: 'publishable key', text: ['pk', '_live_', 'FAKE'.repeat(6)].join('') },
  { pattern: 'stripe-keys', case: '23 characters', text: ['sk', '_live_', 'FAKE'.repeat(5), 'FAK'].join('') },
  { pattern: 'google-api-keys', case: '34 characters', text: ['AI', 'za', 'FAKE_fake-'.repeat(3), 'FAKE'].join('') },
  { pattern: 'google-api-keys', case: '36 characters', text: ['AI', 'za', 'FAKE_fake-'.repeat(3), 'FAKEFA'].join('') },
]

type SubTest = Parameters<Parameters<typeof t.test>[0]>[0]

/** The whole findings list must never contain the secret. */
function assertNoLeak(t: SubTest, findings: readonly Finding[], secret: string): void {
  t.notOk(JSON.stringify(findings).includes(secret), 'the secret appears nowhere in the findings')
  for (const f of findings) t.ok(f.preview.length <= 5 || f.pattern === 'payload_too_large', `preview ${JSON.stringify(f.preview)} is short`)
}

t.test('the catalogue documents every named pattern', async (t) => {
  t.strictSame(Object.keys(SECRET_PATTERNS).sort(), [...SECRET_PATTERN_NAMES].sort())
  for (const name of SECRET_PATTERN_NAMES) {
    const p = SECRET_PATTERNS[name]
    t.equal(p.name, name)
    t.ok(p.description.length > 10 && p.source.length > 10, `${name} has a description and a source`)
    t.notOk(p.regex.global || p.regex.sticky, `${name} regex is stateless`)
  }
})

t.test('compileSecretPatterns', async (t) => {
  t.strictSame(compileSecretPatterns(['jwt', 'aws-keys', 'jwt']).map((p) => p.name), ['jwt', 'aws-keys'], 'order kept, duplicates dropped')
  t.strictSame(compileSecretPatterns([]), [])
  for (const bad of ['aws', 'AWS-KEYS', 'toString', '__proto__', '']) {
    let caught: unknown
    try {
      compileSecretPatterns(['jwt', bad])
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof HangarError, `unknown ${JSON.stringify(bad)} throws a HangarError`)
    t.equal((caught as HangarError).code, ERROR_CODES.CONFIG_INVALID)
    t.ok((caught as Error).message.includes(`"${bad}"`) && (caught as Error).message.includes('aws-keys, pem-blocks'), 'names the pattern and the known ones')
  }
})

t.test('each pattern finds its secret: alone, embedded, nested deep, in arrays, in keys', async (t) => {
  for (const s of SAMPLES) {
    const preview = `${s.secret.slice(0, 4)}…`
    const layouts: Array<{ layout: string; args: unknown; path: string }> = [
      { layout: 'top-level value', args: { token: s.secret }, path: 'token' },
      { layout: 'embedded in text', args: { text: `use this: ${s.secret} (thanks)` }, path: 'text' },
      { layout: 'nested deep', args: { a: { b: { c: { d: [0, { e: s.secret }] } } } }, path: 'a.b.c.d[1].e' },
      { layout: 'in an array', args: { list: ['x', 'y', s.secret] }, path: 'list[2]' },
      { layout: 'root array', args: [s.secret], path: '[0]' },
      { layout: 'odd key', args: { 'my header': { 'x-api-key': s.secret } }, path: '["my header"]["x-api-key"]' },
      { layout: 'root string', args: s.secret, path: '' },
      { layout: 'in a key', args: { wrap: { [s.secret]: true } }, path: `wrap[${preview}]` },
    ]
    for (const l of layouts) {
      const findings = scanArguments(l.args, ALL, MAX)
      t.strictSame(findings, [{ pattern: s.pattern, path: l.path, preview }], `${s.pattern} (${s.case}): ${l.layout}`)
      assertNoLeak(t, findings, s.secret)
    }
    // Only the listed patterns run.
    const others = compileSecretPatterns(SECRET_PATTERN_NAMES.filter((n) => n !== s.pattern))
    t.strictSame(scanArguments({ v: s.secret }, others, MAX), [], `${s.case}: not found when ${s.pattern} is not listed`)
  }
})

t.test('a secret key redacts the paths of everything below it', async (t) => {
  const aws = 'AKIAIOSFODNN7EXAMPLE'
  const google = ['AI', 'za', 'FAKE_fake-'.repeat(3), 'FAKEF'].join('')
  const findings = scanArguments({ outer: { [aws]: { inner: google } } }, ALL, MAX)
  t.strictSame(findings, [
    { pattern: 'aws-keys', path: 'outer[AKIA…]', preview: 'AKIA…' },
    { pattern: 'google-api-keys', path: 'outer[AKIA…].inner', preview: 'AIza…' },
  ])
  assertNoLeak(t, findings, aws)
  assertNoLeak(t, findings, google)
})

t.test('several secrets in one payload are all reported, in walk order', async (t) => {
  const args = { a: SAMPLES[0]!.secret, b: [SAMPLES[9]!.secret, `${SAMPLES[6]!.secret} and ${SAMPLES[14]!.secret}`] }
  t.strictSame(scanArguments(args, ALL, MAX).map((f) => `${f.pattern}@${f.path}`), [
    'aws-keys@a', 'jwt@b[0]', 'github-tokens@b[1]', 'google-api-keys@b[1]',
  ])
})

t.test('near-misses are not found', async (t) => {
  for (const n of NEAR_MISSES) {
    t.strictSame(scanArguments({ v: n.text, [n.text]: [n.text] }, ALL, MAX), [], `${n.pattern}: ${n.case}`)
  }
  t.strictSame(scanArguments({ n: 1, b: true, z: null, u: undefined, d: new Date(0) }, ALL, MAX), [], 'non-strings')
})

t.test('payload size: JSON bytes as JSON.stringify writes them, payload_too_large over the limit', async (t) => {
  const payloads: Array<{ case: string; args: unknown }> = [
    { case: 'flat object', args: { url: 'https://example.com', depth: 3, ok: true, nothing: null } },
    { case: 'unicode and escapes', args: { text: 'héllo "wörld" \\ \n\t \u0001 😀', 'kéy': ['ü'] } },
    { case: 'numbers', args: [0, -1.5, 1e21, 1e-7, Number.NaN, Infinity, 123456789] },
    { case: 'undefined and functions', args: { a: undefined, b: () => 1, c: [undefined, () => 1], d: 1 } },
    { case: 'date', args: { when: new Date(0) } },
    { case: 'empty containers', args: { o: {}, a: [], s: '' } },
    { case: 'root string', args: 'plain' },
  ]
  for (const p of payloads) {
    const bytes = Buffer.byteLength(JSON.stringify(p.args))
    t.strictSame(scanArguments(p.args, ALL, bytes), [], `${p.case}: exactly ${bytes} bytes is allowed`)
    const over = scanArguments(p.args, ALL, bytes - 1)
    t.equal(over.length, 1, `${p.case}: one byte over`)
    t.match(over[0], { pattern: 'payload_too_large', path: '', preview: `${bytes} bytes > max_payload_bytes ${bytes - 1}` })
  }
  const big = { blob: 'x'.repeat(300_000), key: 'AKIAIOSFODNN7EXAMPLE' }
  t.strictSame(scanArguments(big, ALL, MAX).map((f) => f.pattern), ['payload_too_large', 'aws-keys'], 'oversized payloads are still scanned; the size finding comes first')
})

t.test('depth and size guards fail closed', async (t) => {
  const nest = (depth: number, leaf: unknown): unknown => {
    let v: unknown = leaf
    for (let i = 0; i < depth; i++) v = { n: v }
    return v
  }
  const secret = 'AKIAIOSFODNN7EXAMPLE'
  t.strictSame(scanArguments(nest(60, secret), ALL, 1e9).map((f) => f.pattern), ['aws-keys'], 'found 60 levels down')
  const deep = scanArguments(nest(100, secret), ALL, 1e9)
  t.equal(deep.length, 1)
  t.match(deep[0], { pattern: 'nesting_too_deep', preview: 'nesting deeper than 64' })
  t.equal(deep[0]!.path, Array(64).fill('n').join('.'), 'the path names where the walk stopped')
  t.strictSame(scanArguments(nest(100, secret), ALL, 1e9, { maxDepth: 200 }).map((f) => f.pattern), ['aws-keys'], 'maxDepth is configurable')
  t.doesNotThrow(() => scanArguments(nest(200_000, 'x'), ALL, 1e9), 'very deep nesting does not overflow the stack')

  const wide = Array.from({ length: 50 }, (_, i) => `v${i}`)
  const limited = scanArguments({ wide, after: secret }, ALL, 1e9, { maxNodes: 20 })
  t.strictSame(limited.map((f) => f.pattern), ['scan_limit_exceeded'], 'too many values: reported, walk stopped')

  const cyclic: Record<string, unknown> = { k: secret }
  cyclic.self = cyclic
  t.strictSame(scanArguments(cyclic, ALL, 1e9).map((f) => f.pattern), ['aws-keys'], 'cycles are walked once')
})

t.test('scanning is linear: adversarial strings do not backtrack', async (t) => {
  const adversarial = [
    'eyJ'.repeat(100_000),
    `eyJ${'a'.repeat(300_000)}`,
    `eyJaaaaaaaaaa.${'b'.repeat(300_000)}`,
    '-----BEGIN '.repeat(30_000),
    'AIza'.repeat(75_000),
    'ghp_'.repeat(75_000),
    'xoxb'.repeat(75_000),
    `xoxb-${'-'.repeat(5)}!`.repeat(30_000),
  ]
  const started = performance.now()
  for (const s of adversarial) t.strictSame(scanArguments({ s }, ALL, 1e9), [])
  t.ok(performance.now() - started < 2000, `scanned ${adversarial.length} × ~300 KB in ${Math.round(performance.now() - started)} ms`)
})
