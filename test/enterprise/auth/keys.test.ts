/**
 * enterprise/auth/keys.ts: the API key store on a real data dir. Keys are `hk_<8 hex>_<43>`, the
 * file (0600) holds a salted scrypt hash with its parameters and never the secret; a check finds
 * the record by id, refuses revoked and expired keys before hashing, verifies in constant time,
 * remembers a verified key (the next check costs a SHA-256, not a scrypt: both measured), shares
 * one computation among concurrent checks of the same key, and bounds the waiting ones;
 * `last_used` is written in batches, never per check; a damaged file stops the start naming it.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { API_KEY_RE, KeyInputError, KeyStore, KEYS_SCHEMA, SCRYPT_PARAMS } from '../../../enterprise/auth/keys.js'

/** Cheap scrypt for tests that are not about its cost (N = 2^10). */
const CHEAP = { N: 1024, r: 8, p: 1, keylen: 32 }

async function open(t: Test, o: Partial<Parameters<typeof KeyStore.open>[0]> = {}) {
  const dir = t.testdir({})
  const s = await KeyStore.open({ dataDir: dir, scrypt: CHEAP, ...o })
  t.teardown(() => s.close())
  return { s, dir, file: join(dir, 'auth', 'keys.json') }
}

t.test('create: the key printed once, the file holds its salted scrypt hash and parameters, mode 0600', async (t) => {
  const { s, file } = await open(t)
  const { key, info } = await s.create({ name: 'ci', role: 'operator' }, 'token:admin')
  t.match(key, API_KEY_RE)
  t.equal(key.slice(0, 11), info.id, 'the id is the start of the key')
  t.match(info, { name: 'ci', role: 'operator', created_by: 'token:admin' })
  t.equal(info.expires, undefined)
  const text = readFileSync(file, 'utf8')
  t.notOk(text.includes(key.slice(12)), 'the secret is not in the file')
  const doc = JSON.parse(text)
  t.equal(doc.schema, KEYS_SCHEMA)
  t.match(doc.keys[0].hash, { alg: 'scrypt', N: 1024, r: 8, p: 1, keylen: 32 })
  t.equal(Buffer.from(doc.keys[0].hash.salt, 'base64').length, 16, '16-byte salt')
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(statSync(join(file, '..')).mode & 0o777, 0o700)
  const two = await s.create({ name: 'ci-2', role: 'operator' }, 'x')
  t.not(JSON.parse(readFileSync(file, 'utf8')).keys[1].hash.salt, doc.keys[0].hash.salt, 'each key its own salt')
  t.not(two.info.id, info.id)
  t.same(SCRYPT_PARAMS, { N: 16384, r: 8, p: 1, keylen: 32 }, 'the default parameters')
})

t.test('create refuses bad input with KeyInputError naming the field', async (t) => {
  const { s } = await open(t)
  await s.create({ name: 'ci', role: 'viewer' }, 'x')
  await t.rejects(s.create({ name: 'ci', role: 'admin' }, 'x'), { name: 'Error', message: /name: a key named "ci" exists/ })
  const bad = await s.create({ name: '-bad', role: 'admin' }, 'x').catch((e: unknown) => e)
  t.ok(bad instanceof KeyInputError && bad.status === 400, 'a KeyInputError (status 400)')
  await t.rejects(s.create({ name: 'a b', role: 'admin' }, 'x'), /name: expected/)
  await t.rejects(s.create({ name: 'ok', role: 'root' as never }, 'x'), /role: expected one of viewer, operator, admin/)
  await t.rejects(s.create({ name: 'ok', role: 'admin', expires: new Date(Date.now() - 1000).toISOString() }, 'x'), /expires: must be .* in the future/)
  const e = await s.create({ name: 'ok', role: 'admin', expires: new Date(Date.now() + 60_000).toISOString() }, 'x')
  t.ok(e.info.expires, 'control: a future expiry is taken')
  const revoked = await s.create({ name: 'again', role: 'viewer' }, 'x')
  await s.revoke(revoked.info.id, 'x')
  t.ok((await s.create({ name: 'again', role: 'viewer' }, 'x')).key, 'a revoked key\'s name can be used again')
})

t.test('concurrent creations of one name: exactly one key is made', async (t) => {
  const { s, file } = await open(t)
  const all = await Promise.allSettled(Array.from({ length: 8 }, () => s.create({ name: 'ci', role: 'admin' }, 'x')))
  t.equal(all.filter((r) => r.status === 'fulfilled').length, 1, 'one made')
  t.ok(all.filter((r) => r.status === 'rejected').every((r) => /a key named "ci" exists/.test(String((r as PromiseRejectedResult).reason))), 'the others refused')
  t.equal(JSON.parse(readFileSync(file, 'utf8')).keys.length, 1, 'one record on disk')
  const distinct = await Promise.all(Array.from({ length: 8 }, (_, i) => s.create({ name: `k${i}`, role: 'viewer' }, 'x')))
  t.equal(new Set(distinct.map((d) => d.info.id)).size, 8, 'concurrent creations of different names: eight ids')
  t.equal(JSON.parse(readFileSync(file, 'utf8')).keys.length, 9, 'all on disk (the writes are serialised, the last has them all)')
})

t.test('check: right key accepted; a wrong secret, an unknown id, a malformed key refused; revoked and expired refused', async (t) => {
  let now = Date.now()
  const { s } = await open(t, { now: () => now })
  const { key, info } = await s.create({ name: 'ci', role: 'admin', expires: new Date(now + 60_000).toISOString() }, 'x')
  t.match(await s.check(key), { ok: true, info: { id: info.id, role: 'admin' } })
  const wrong = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')
  t.same(await s.check(wrong), { ok: false, error: `invalid API key ${info.id}` }, 'one character off')
  t.match(await s.check(key), { ok: true }, 'the right key still works after a wrong one')
  t.match(await s.check('hk_deadbeef_' + 'x'.repeat(43)), { ok: false, error: 'unknown API key hk_deadbeef' })
  t.match(await s.check('hk_short'), { ok: false, error: /malformed/ })
  t.match(await s.check(key + 'x'), { ok: false, error: /malformed/ })
  now += 61_000
  t.match(await s.check(key), { ok: false, error: /expired at/ }, 'expired, even though it is remembered as verified')
  now -= 61_000
  await s.revoke(info.id, 'x')
  t.match(await s.check(key), { ok: false, error: /was revoked at/ }, 'revoked at once')
  t.equal(await s.revoke('hk_00000000', 'x'), false, 'an unknown id')
  t.equal(await s.revoke(info.id, 'y'), true, 'revoking twice is fine')
  t.equal(s.list()[0]!.revoked !== undefined, true)
})

t.test('cost per request: a verified key is remembered (SHA-256 compare) instead of scrypt each time', async (t) => {
  const { s } = await open(t, { scrypt: SCRYPT_PARAMS })
  const { key } = await s.create({ name: 'ci', role: 'viewer' }, 'x')
  const t0 = process.hrtime.bigint()
  t.equal((await s.check(key)).ok, true)
  const first = Number(process.hrtime.bigint() - t0) / 1e6
  const n = 2000
  const t1 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) if (!(await s.check(key)).ok) t.fail('refused')
  const cached = Number(process.hrtime.bigint() - t1) / 1e6 / n
  t.comment(`first check (scrypt N=2^14, r=8, p=1): ${first.toFixed(1)} ms; remembered: ${(cached * 1000).toFixed(1)} µs per check`)
  t.ok(first > 5, `the first check computes scrypt (${first.toFixed(1)} ms)`)
  t.ok(cached * 20 < first, `a remembered key is checked at least 20× faster (${(cached * 1000).toFixed(1)} µs)`)
  const wrong = key.slice(0, -2) + (key.endsWith('zz') ? 'yy' : 'zz')
  t.match(await s.check(wrong), { ok: false, error: /invalid API key/ }, 'a wrong secret for a remembered id is refused (its digest differs from the verified one)')
  t.equal((await s.check(key)).ok, true, 'and the remembered key stays good')
})

t.test('concurrent checks of one key share one scrypt; the wait is bounded', async (t) => {
  const { s } = await open(t, { scrypt: SCRYPT_PARAMS, maxConcurrentHashes: 1 })
  const { key, info } = await s.create({ name: 'ci', role: 'viewer' }, 'x')
  const t0 = Date.now()
  const all = await Promise.all(Array.from({ length: 50 }, () => s.check(key)))
  t.ok(all.every((r) => r.ok), '50 concurrent checks of a cold key pass')
  t.ok(Date.now() - t0 < 50 * 20, `in ${Date.now() - t0} ms: one computation, not fifty`)
  // 300 different wrong secrets at once for a key not yet verified: at most 256 wait, the rest are refused at once.
  const cold = await s.create({ name: 'cold', role: 'viewer' }, 'x')
  t.not(cold.info.id, info.id)
  const flood = await Promise.all(Array.from({ length: 300 }, (_, i) => s.check(`${cold.info.id}_${String(i).padStart(43, 'q')}`)))
  t.ok(flood.every((r) => !r.ok))
  t.ok(flood.some((r) => !r.ok && /too many API key checks/.test(r.error)), 'the overflow is refused without queueing')
  t.equal((await s.check(key)).ok, true, 'the right key still works')
})

t.test('last_used: in memory at once, written by the timer or on close, never per check', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'auth', 'keys.json')
  const s = await KeyStore.open({ dataDir: dir, scrypt: CHEAP, flushMs: 200 })
  const { key, info } = await s.create({ name: 'ci', role: 'viewer' }, 'x')
  const before = statSync(file).mtimeMs
  for (let i = 0; i < 50; i++) await s.check(key)
  t.ok(s.list()[0]!.last_used, 'listed at once')
  t.equal(statSync(file).mtimeMs, before, 'fifty checks, no write')
  t.equal(JSON.parse(readFileSync(file, 'utf8')).keys[0].last_used, undefined)
  await new Promise((r) => setTimeout(r, 400))
  t.ok(JSON.parse(readFileSync(file, 'utf8')).keys[0].last_used, 'the timer wrote it')
  await s.check(key)
  await s.close()
  const again = await KeyStore.open({ dataDir: dir, scrypt: CHEAP })
  t.teardown(() => again.close())
  t.equal(again.list()[0]!.last_used, s.list()[0]!.last_used, 'close wrote the last one; a restart reads it')
  t.equal((await again.check(key)).ok, true, 'the key works after a restart')
  t.equal(again.list()[0]!.id, info.id)
})

t.test('a damaged key file stops the start, naming the file and the field', async (t) => {
  const dir = t.testdir({ auth: { 'keys.json': '{not json' } })
  await t.rejects(KeyStore.open({ dataDir: dir }), new RegExp(`${join(dir, 'auth', 'keys.json')}: not JSON`))
  writeFileSync(join(dir, 'auth', 'keys.json'), JSON.stringify({ schema: KEYS_SCHEMA, keys: [{ id: 'hk_1', name: 'x' }] }))
  await t.rejects(KeyStore.open({ dataDir: dir }), /keys\.0\.id/)
  writeFileSync(join(dir, 'auth', 'keys.json'), JSON.stringify({ schema: KEYS_SCHEMA, keys: [], extra: 1 }))
  await t.rejects(KeyStore.open({ dataDir: dir }), /Unrecognized key/)
  writeFileSync(join(dir, 'auth', 'keys.json'), JSON.stringify({ schema: KEYS_SCHEMA, keys: [] }))
  const s = await KeyStore.open({ dataDir: dir })
  t.same(s.list(), [], 'control: an empty key file opens')
  await s.close()
})

t.test('the check trusts only the stored hash: a hash replaced in the file refuses the real key', async (t) => {
  const { s, dir, file } = await open(t)
  const { key } = await s.create({ name: 'ci', role: 'viewer' }, 'x')
  await s.close()
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  doc.keys[0].hash.hash = Buffer.alloc(32).toString('base64')
  writeFileSync(file, JSON.stringify(doc))
  const again = await KeyStore.open({ dataDir: dir, scrypt: CHEAP })
  t.teardown(() => again.close())
  t.match(await again.check(key), { ok: false, error: /invalid API key/ }, 'a replaced hash refuses the real key')
})
