// core/license.ts: license keys signed with a key pair of the test's own, checked through the
// same verifyLicense the CLI uses (the public key passed in). Every refusal reason with a control
// that the same key is accepted where it should be, tampered payloads and signatures, the expiry
// instant, the provider limit, the community grant at 4 and 5 providers, and fuzzed malformed
// input (never a throw, never licensed).
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { COMMUNITY_PROVIDER_LIMIT, ENTERPRISE_FEATURES, LicensePayloadSchema, MAX_LICENSE_KEY_LENGTH, NO_KEY_REASON, decideLicense, embeddedPublicKey, signLicense, verifyLicense, type LicensePayload } from '../../core/license.js'
import { LICENSE_PUBLIC_KEY_PEM } from '../../core/license-key.js'

const pair = generateKeyPairSync('ed25519')
const other = generateKeyPairSync('ed25519')
const NOW = new Date('2027-06-01T12:00:00Z')
const PAYLOAD: LicensePayload = { licensee: 'Acme Corp', expires: '2028-01-01T00:00:00Z', max_providers: 10, features: ['compliance_export'], issued: '2027-01-01T00:00:00Z', id: 'lic-001' }
const opts = (o: Partial<{ now: Date; providers: number; publicKey: KeyObject | string }> = {}) => ({ publicKey: pair.publicKey, now: NOW, providers: 3, ...o })
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
/** Signs arbitrary bytes (bypassing the schema) with the test key. */
const rawKey = (bytes: Buffer, key: KeyObject = pair.privateKey) => `${bytes.toString('base64url')}.${sign(null, bytes, key).toString('base64url')}`

t.test('a key signed by the trusted key verifies: licensed with its terms', async (t) => {
  const key = signLicense(PAYLOAD, pair.privateKey)
  t.match(key, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/, '<base64url payload>.<base64url 64-byte signature>')
  t.strictSame(verifyLicense(key, opts()), { mode: 'licensed', licensee: 'Acme Corp', expires: '2028-01-01T00:00:00Z', max_providers: 10, features: ['compliance_export'] })
  t.equal(verifyLicense(`  ${key}\n`, opts()).mode, 'licensed', 'surrounding white space (a key pasted with its newline) is ignored')
  t.equal(verifyLicense(key, opts({ publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string })).mode, 'licensed', 'the public key as PEM text')
  t.strictSame(verifyLicense(signLicense({ licensee: 'Min', expires: '2028-01-01T00:00:00+02:00', max_providers: 1, features: [] }, pair.privateKey), opts({ providers: 1 })),
    { mode: 'licensed', licensee: 'Min', expires: '2028-01-01T00:00:00+02:00', max_providers: 1, features: [] }, 'optional fields left out, an offset date-time, no features')
})

t.test('bad signature: another key pair, a tampered payload, a tampered signature', async (t) => {
  const key = signLicense(PAYLOAD, pair.privateKey)
  const [payload, signature] = key.split('.') as [string, string]
  const BAD = 'bad signature: the license key was not signed by the MCP Hangar license key'
  t.strictSame(verifyLicense(signLicense(PAYLOAD, other.privateKey), opts()), { mode: 'unlicensed', features: [], reason: BAD }, 'signed by a key that is not trusted')
  t.equal(verifyLicense(key, opts({ publicKey: other.publicKey })).reason, BAD, 'the same key against a different trusted key')
  // Tampered payload: raise the provider limit, change the licensee, extend the expiry; the signature is the original's.
  for (const change of [{ max_providers: 1000 }, { licensee: 'Mallory' }, { expires: '2099-01-01T00:00:00Z' }, { features: ['compliance_export', 'rbac'] }]) {
    const forged = `${b64({ ...PAYLOAD, ...change })}.${signature}`
    t.strictSame(verifyLicense(forged, opts()), { mode: 'unlicensed', features: [], reason: BAD }, `payload changed: ${JSON.stringify(change)}`)
  }
  // The same document with different JSON white space is different bytes: the signature covers the bytes.
  t.equal(verifyLicense(`${b64(JSON.stringify(PAYLOAD, null, 1))}.${signature}`, opts()).reason, BAD, 're-serialised payload')
  // Tampered signature: every byte position flipped in turn (sampled), and a signature of zeros.
  const sig = Buffer.from(signature, 'base64url')
  for (const i of [0, 1, 31, 32, 62, 63]) {
    const s = Buffer.from(sig)
    s[i]! ^= 0x01
    t.equal(verifyLicense(`${payload}.${s.toString('base64url')}`, opts()).reason, BAD, `signature byte ${i} flipped`)
  }
  t.equal(verifyLicense(`${payload}.${Buffer.alloc(64).toString('base64url')}`, opts()).reason, BAD, 'a signature of zeros')
  t.equal(verifyLicense(`${payload}.${signature}`, opts()).mode, 'licensed', 'control: the untouched pair verifies')
})

t.test('expired: refused from the expiry instant on, keeping the terms; accepted just before', async (t) => {
  const key = signLicense({ ...PAYLOAD, expires: '2027-06-01T12:00:00Z' }, pair.privateKey)
  t.strictSame(verifyLicense(key, opts({ now: new Date('2027-06-01T12:00:00Z') })), { mode: 'unlicensed', licensee: 'Acme Corp', expires: '2027-06-01T12:00:00Z', max_providers: 10, features: [], reason: 'license expired on 2027-06-01T12:00:00Z' })
  t.equal(verifyLicense(key, opts({ now: new Date('2030-01-01T00:00:00Z') })).reason, 'license expired on 2027-06-01T12:00:00Z')
  t.equal(verifyLicense(key, opts({ now: new Date('2027-06-01T11:59:59.999Z') })).mode, 'licensed', 'control: one millisecond earlier')
  const offset = signLicense({ ...PAYLOAD, expires: '2027-06-01T14:00:00+02:00' }, pair.privateKey)
  t.equal(verifyLicense(offset, opts()).reason, 'license expired on 2027-06-01T14:00:00+02:00', 'an offset is honoured (14:00+02:00 is 12:00Z)')
})

t.test('over the provider limit: N providers configured, the license allows M; at the limit accepted', async (t) => {
  const key = signLicense({ ...PAYLOAD, max_providers: 5 }, pair.privateKey)
  t.strictSame(verifyLicense(key, opts({ providers: 6 })), { mode: 'unlicensed', licensee: 'Acme Corp', expires: '2028-01-01T00:00:00Z', max_providers: 5, features: [], reason: '6 providers configured, the license allows 5' })
  t.equal(verifyLicense(key, opts({ providers: 5 })).mode, 'licensed', 'control: exactly at the limit')
  t.equal(verifyLicense(key, opts({ providers: 0 })).mode, 'licensed')
  const expiredAndOver = signLicense({ ...PAYLOAD, issued: undefined, expires: '2020-01-01T00:00:00Z', max_providers: 1 }, pair.privateKey)
  t.equal(verifyLicense(expiredAndOver, opts({ providers: 9 })).reason, 'license expired on 2020-01-01T00:00:00Z', 'expiry is reported before the limit')
})

t.test('malformed: the form, the encoding, the signature length, the payload (each named)', async (t) => {
  const good = signLicense(PAYLOAD, pair.privateKey)
  const [p, s] = good.split('.') as [string, string]
  const cases: Array<[string, string]> = [
    ['', 'malformed license key: empty'],
    ['   \n', 'malformed license key: empty'],
    [p, 'malformed license key: expected <payload>.<signature> (two base64url parts joined by a dot), got 1 part(s)'],
    [`${p}.${s}.${s}`, 'malformed license key: expected <payload>.<signature> (two base64url parts joined by a dot), got 3 part(s)'],
    [`.${s}`, 'malformed license key: the payload is not canonical unpadded base64url'],
    [`${p}.`, 'malformed license key: the signature is not canonical unpadded base64url'],
    [`${p}==.${s}`, 'malformed license key: the payload is not canonical unpadded base64url'],
    [`${p.replace(/.$/, '+')}.${s}`, 'malformed license key: the payload is not canonical unpadded base64url'],
    [`${p}.${s.slice(0, -1)}!`, 'malformed license key: the signature is not canonical unpadded base64url'],
    [`${p}.${s}B`, 'malformed license key: the signature is not canonical unpadded base64url'],
    [`${p}.${s}A`, 'malformed license key: the signature is 65 bytes, an Ed25519 signature is 64'],
    [`${p}.${s.slice(0, -2)}`, 'malformed license key: the signature is 63 bytes, an Ed25519 signature is 64'],
    [`${p}.${Buffer.alloc(65).toString('base64url')}`, 'malformed license key: the signature is 65 bytes, an Ed25519 signature is 64'],
    [`${'A'.repeat(MAX_LICENSE_KEY_LENGTH)}.${s}`, `malformed license key: ${MAX_LICENSE_KEY_LENGTH + 87} characters, at most ${MAX_LICENSE_KEY_LENGTH}`],
  ]
  for (const [key, reason] of cases) t.strictSame(verifyLicense(key, opts()), { mode: 'unlicensed', features: [], reason }, JSON.stringify(key.slice(0, 40)))
  // A non-canonical last character (stray low bits) decodes to the same bytes: refused, not silently accepted.
  const last = s.at(-1)!
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const twin = alphabet[(alphabet.indexOf(last) & ~0x0f) | ((alphabet.indexOf(last) + 1) & 0x0f)]!
  t.equal(Buffer.from(s.slice(0, -1) + twin, 'base64url').equals(Buffer.from(s, 'base64url')), true, 'control: node decodes the twin to the same bytes')
  t.equal(verifyLicense(`${p}.${s.slice(0, -1)}${twin}`, opts()).reason, 'malformed license key: the signature is not canonical unpadded base64url')
})

t.test('malformed payloads are reported only once signed (nothing unsigned is interpreted), each naming the field', async (t) => {
  const signed: Array<[Buffer, RegExp]> = [
    [Buffer.from('not json'), /^malformed license key: the payload is not UTF-8 JSON \(/],
    [Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), /^malformed license key: the payload is not UTF-8 JSON \(/],
    [Buffer.from('[]'), /^malformed license key: payload: Expected object, received array$/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, tier: 'gold' })), /^malformed license key: payload: unknown key\(s\) tier$/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, licensee: '' })), /^malformed license key: licensee: /],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, licensee: undefined })), /^malformed license key: licensee: Required$/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, expires: '2028-01-01' })), /^malformed license key: expires: expected an RFC 3339 date-time/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, expires: 'next year' })), /^malformed license key: expires: expected an RFC 3339 date-time/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, max_providers: 0 })), /^malformed license key: max_providers: /],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, max_providers: 2.5 })), /^malformed license key: max_providers: /],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, max_providers: '10' })), /^malformed license key: max_providers: Expected number, received string$/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, features: 'compliance_export' })), /^malformed license key: features: Expected array, received string$/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, features: ['Compliance Export'] })), /^malformed license key: features\.0: expected a feature name/],
    [Buffer.from(JSON.stringify({ ...PAYLOAD, issued: '2029-01-01T00:00:00Z' })), /^malformed license key: issued \(2029-01-01T00:00:00Z\) is after expires \(2028-01-01T00:00:00Z\)$/],
  ]
  for (const [bytes, reason] of signed) {
    const r = verifyLicense(rawKey(bytes), opts())
    t.equal(r.mode, 'unlicensed')
    t.match(r.reason, reason, bytes.toString('latin1').slice(0, 60))
    t.strictSame(r.features, [])
    // The same bytes signed by an untrusted key: a bad signature, never a statement about the content.
    t.equal(verifyLicense(rawKey(bytes, other.privateKey), opts()).reason, 'bad signature: the license key was not signed by the MCP Hangar license key')
  }
  t.throws(() => signLicense({ ...PAYLOAD, max_providers: -1 }, pair.privateKey), { name: 'ZodError' }, 'signLicense refuses an invalid payload')
  t.equal(LicensePayloadSchema.safeParse(PAYLOAD).success, true, 'control: the reference payload is valid')
})

t.test('the community grant: no key and 4 providers → community with every feature; 5 → no license key found', async (t) => {
  t.equal(COMMUNITY_PROVIDER_LIMIT, 5)
  for (const key of [undefined, '', '  ']) {
    t.strictSame(decideLicense({ key, providers: 4 }), { mode: 'community', features: [...ENTERPRISE_FEATURES] }, `key ${JSON.stringify(key)}, 4 providers`)
    t.strictSame(decideLicense({ key, providers: 0 }).mode, 'community')
    t.strictSame(decideLicense({ key, providers: 5 }), { mode: 'unlicensed', features: [], reason: `${NO_KEY_REASON}: 5 providers configured, the community grant covers fewer than 5` }, `key ${JSON.stringify(key)}, 5 providers`)
    t.equal(decideLicense({ key, providers: 50 }).mode, 'unlicensed')
  }
  t.ok(ENTERPRISE_FEATURES.includes('compliance_export'))
})

t.test('decideLicense: a key decides (never the community grant), with the embedded key by default', async (t) => {
  const key = signLicense(PAYLOAD, pair.privateKey)
  t.equal(decideLicense({ key, providers: 2, now: NOW, publicKey: pair.publicKey }).mode, 'licensed', 'trusted key passed in')
  t.equal(decideLicense({ key, providers: 2, now: NOW, publicKey: pair.publicKey }).licensee, 'Acme Corp')
  const refusedKey = decideLicense({ key, providers: 2, now: NOW })
  t.strictSame(refusedKey, { mode: 'unlicensed', features: [], reason: 'bad signature: the license key was not signed by the MCP Hangar license key' }, 'a test-signed key against the embedded key: refused even with 2 providers (no community fallback)')
  t.equal(decideLicense({ key: 'garbage', providers: 1 }).mode, 'unlicensed', 'a malformed key with 1 provider stays refused')
  const expired = signLicense({ ...PAYLOAD, issued: '2019-01-01T00:00:00Z', expires: '2020-01-01T00:00:00Z' }, pair.privateKey)
  t.equal(decideLicense({ key: expired, providers: 1, now: NOW, publicKey: pair.publicKey }).reason, 'license expired on 2020-01-01T00:00:00Z')
  t.equal(decideLicense({ key, providers: 11, now: NOW, publicKey: pair.publicKey }).reason, '11 providers configured, the license allows 10')
  // Never throws: a public key that is not Ed25519 is reported, not thrown.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
  t.throws(() => verifyLicense(key, opts({ publicKey: rsa })), /expected an Ed25519 key, got rsa/, 'verifyLicense throws on a wrong key type (programming error)')
  t.strictSame(decideLicense({ key, providers: 2, now: NOW, publicKey: rsa }), { mode: 'unlicensed', features: [], reason: 'license check failed: license public key: expected an Ed25519 key, got rsa' })
})

t.test('the embedded key: an Ed25519 public key, and no private key in it', async (t) => {
  t.equal(embeddedPublicKey().asymmetricKeyType, 'ed25519')
  t.equal(embeddedPublicKey().type, 'public')
  t.notMatch(LICENSE_PUBLIC_KEY_PEM, /PRIVATE/)
  t.not(embeddedPublicKey().export({ format: 'der', type: 'spki' }).toString('hex'), pair.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'), 'not the test key')
})

t.test('fuzz: any string, any bytes, any JSON never throws and is never licensed unless signed', async (t) => {
  const check = (key: string) => {
    const r = verifyLicense(key, opts())
    if (r.mode !== 'unlicensed' || r.features.length !== 0 || typeof r.reason !== 'string') throw new Error(`unexpected ${JSON.stringify(r)} for ${JSON.stringify(key)}`)
    const d = decideLicense({ key, providers: 1, now: NOW })
    if (d.mode === 'licensed' || (key.trim() !== '' && d.mode !== 'unlicensed')) throw new Error(`decideLicense ${JSON.stringify(d)} for ${JSON.stringify(key)}`)
  }
  t.doesNotThrow(() => fc.assert(fc.property(fc.string({ maxLength: 300 }), check), { numRuns: 2000 }), 'any string')
  t.doesNotThrow(() => fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), check), { numRuns: 1000 }), 'any unicode string')
  // Well-formed base64url pairs with random content (the signature does not verify).
  t.doesNotThrow(() => fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 0, maxLength: 80 }), (a, b) => check(`${Buffer.from(a).toString('base64url')}.${Buffer.from(b).toString('base64url')}`)), { numRuns: 1000 }), 'base64url pairs')
  // Random JSON documents signed by the trusted key: never throws; licensed only when the schema holds.
  t.doesNotThrow(() => fc.assert(fc.property(fc.jsonValue(), (v) => {
    const r = verifyLicense(rawKey(Buffer.from(JSON.stringify(v) ?? 'null')), opts())
    const valid = LicensePayloadSchema.safeParse(v).success
    if (!valid && r.mode !== 'unlicensed') throw new Error(`licensed an invalid payload ${JSON.stringify(v)}`)
    if (!valid && !/^malformed license key: /.test(r.reason ?? '')) throw new Error(`reason ${r.reason} for ${JSON.stringify(v)}`)
  }), { numRuns: 1000 }), 'signed random JSON')
  // Mutations of a valid key (one character replaced) are refused.
  const good = signLicense(PAYLOAD, pair.privateKey)
  t.doesNotThrow(() => fc.assert(fc.property(fc.nat({ max: good.length - 1 }), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ '), (i, c) => {
    const mutated = good.slice(0, i) + c + good.slice(i + 1)
    if (mutated === good) return
    const r = verifyLicense(mutated, opts())
    // A replacement that keeps the same decoded bytes is impossible once non-canonical input is refused.
    if (r.mode === 'licensed') throw new Error(`mutation at ${i} to ${c} still verifies`)
  }), { numRuns: 2000 }), 'one character of a valid key replaced')
  t.equal(verifyLicense(good, opts()).mode, 'licensed', 'control: the unmutated key verifies')
})
