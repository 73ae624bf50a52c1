/**
 * The aggregator's API keys (docs/rbac.md §API keys): created, listed, revoked and checked here,
 * kept in `<data_dir>/auth/keys.json` (mode 0600, written atomically with core/atomic-write.ts).
 *
 * A key is `hk_<id>_<secret>`: `<id>` 8 lowercase hex digits (random; the prefix id, safe to log
 * and shown by `keys list`), `<secret>` 32 random bytes in base64url (43 characters, 256 bits).
 * It is shown once, when created; the file keeps only its scrypt hash (RFC 7914; node:crypto
 * `scrypt`) of the whole key with a 16-byte random salt and the parameters it was made with
 * (`N`, `r`, `p`, `keylen`), so stronger defaults later still verify old keys.
 *
 * A check finds the record by the id, refuses a revoked or expired key at once (no hash computed:
 * a revoked key being replayed costs nothing), then compares the scrypt hash of the presented key
 * with the stored one in constant time (`crypto.timingSafeEqual`). scrypt costs tens of ms on
 * purpose, so a key that verified is remembered: the SHA-256 of the key per id (at most
 * {@link KeyStoreOptions.cacheSize}), and the next request compares SHA-256 digests in constant
 * time (microseconds). Revoking drops it from the memory. At most
 * {@link KeyStoreOptions.maxConcurrentHashes} scrypt computations run at once and at most 256
 * wait; beyond that a check is refused (a flood of wrong secrets for a known id cannot queue
 * unbounded work). Concurrent checks of the same key share one computation.
 *
 * `last_used` is updated in memory on every successful check and written with the next change,
 * or by a timer every {@link KeyStoreOptions.flushMs} (default 60 s) when it changed, and on
 * close: never a write per request.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from '../../core/atomic-write.js'
import { ROLES, type ApiKeyInfo, type Role } from '../../core/ports.js'

/**
 * The scrypt parameters of new keys: N = 2^14, r = 8, p = 1 (16 MiB; the parameters Percival's
 * scrypt paper gives for interactive logins), a 32-byte hash. The secret itself has 256 bits, so
 * a stolen key file is not brute-forced whatever the cost; scrypt keeps the file's hashes from
 * being anything cheaper to attack than the keys.
 */
export const SCRYPT_PARAMS = Object.freeze({ N: 16_384, r: 8, p: 1, keylen: 32 })

/** The file's schema tag. */
export const KEYS_SCHEMA = 'hangar.api-keys/v1'

/** What a key looks like: `hk_` + 8 hex id + `_` + 43 base64url characters. */
export const API_KEY_RE = /^hk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/

/** Key names: 1–64 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Keys neither revoked nor expired, at most. */
export const MAX_ACTIVE_KEYS = 1000
/** Key records kept (revoked and expired ones stay for the record), at most. */
export const MAX_STORED_KEYS = 10_000
/** Checks waiting for a scrypt computation, at most. */
const MAX_WAITING_HASHES = 256

const b64 = z.string().regex(/^[A-Za-z0-9+/]+=*$/)
const iso = z.string().datetime({ offset: true })
const storedSchema = z.object({
  id: z.string().regex(/^hk_[0-9a-f]{8}$/),
  name: z.string().regex(KEY_NAME_RE),
  role: z.enum(ROLES),
  created: iso,
  created_by: z.string().min(1).max(512),
  expires: iso.optional(),
  last_used: iso.optional(),
  revoked: iso.optional(),
  revoked_by: z.string().min(1).max(512).optional(),
  hash: z.object({
    alg: z.literal('scrypt'),
    N: z.number().int().min(1024).max(1 << 22).refine((n) => (n & (n - 1)) === 0, 'a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    keylen: z.number().int().min(16).max(64),
    salt: b64,
    hash: b64,
  }).strict(),
}).strict()
const fileSchema = z.object({ schema: z.literal(KEYS_SCHEMA), keys: z.array(storedSchema).max(MAX_STORED_KEYS) }).strict()

type StoredKey = z.infer<typeof storedSchema>

/** An error the caller can fix (a taken name, a bad expiry): the API answers 400 with its message. */
export class KeyInputError extends Error {
  readonly status = 400
}

export interface KeyStoreOptions {
  /** The aggregator's data dir: the file is `<dataDir>/auth/keys.json`. */
  dataDir: string
  /** Verified keys remembered (SHA-256 per id). Default 1024. */
  cacheSize?: number
  /** scrypt computations at once. Default 2. */
  maxConcurrentHashes?: number
  /** How often a changed `last_used` is written, ms. Default 60 000. */
  flushMs?: number
  /** scrypt parameters of new keys (tests use cheaper ones). Default {@link SCRYPT_PARAMS}. */
  scrypt?: { N: number; r: number; p: number; keylen: number }
  /** Clock, ms since the epoch (tests). */
  now?: () => number
}

/** The outcome of {@link KeyStore.check}. */
export type KeyCheck = { ok: true; info: ApiKeyInfo } | { ok: false; error: string }

function scrypt(password: Buffer, salt: Buffer, keylen: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, o, (err, key) => (err ? reject(err) : resolve(key))))
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/** The public part of a record. */
function infoOf(k: StoredKey): ApiKeyInfo {
  return {
    id: k.id, name: k.name, role: k.role, created: k.created, created_by: k.created_by,
    ...(k.expires && { expires: k.expires }), ...(k.last_used && { last_used: k.last_used }), ...(k.revoked && { revoked: k.revoked }),
  }
}

/** The API keys of one aggregator. Open it with {@link KeyStore.open}. */
export class KeyStore {
  readonly file: string
  readonly #o: KeyStoreOptions
  readonly #keys = new Map<string, StoredKey>()
  /** Ids of keys being created (their hash is being computed). */
  readonly #pendingIds = new Set<string>()
  /** id → SHA-256 of the key that verified (insertion order = least recently used first). */
  readonly #verified = new Map<string, Buffer>()
  /** SHA-256 hex of a key → its scrypt check in flight. */
  readonly #inflight = new Map<string, Promise<boolean>>()
  #running = 0
  readonly #waiting: (() => void)[] = []
  #dirty = false
  #writing: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  #closed = false

  private constructor(o: KeyStoreOptions) {
    this.#o = o
    this.file = join(o.dataDir, 'auth', 'keys.json')
  }

  /**
   * Loads the key file (none yet: no keys) and starts the `last_used` timer.
   * @throws Error naming the file and the field when it does not parse (the aggregator does not
   *   start on a damaged key file rather than run without its keys).
   */
  static async open(o: KeyStoreOptions): Promise<KeyStore> {
    const s = new KeyStore(o)
    await mkdir(join(o.dataDir, 'auth'), { recursive: true, mode: 0o700 })
    let text: string | undefined
    try {
      text = await readFile(s.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${s.file}: cannot read the API key file: ${(err as Error).message}`)
    }
    if (text !== undefined) {
      let raw: unknown
      try {
        raw = JSON.parse(text)
      } catch (err) {
        throw new Error(`${s.file}: not JSON (${(err as Error).message}); restore it from a backup or move it away to start with no keys`)
      }
      const parsed = fileSchema.safeParse(raw)
      if (!parsed.success) {
        const i = parsed.error.issues[0]!
        throw new Error(`${s.file}: ${i.path.join('.') || '(file)'}: ${i.message}`)
      }
      for (const k of parsed.data.keys) s.#keys.set(k.id, k)
    }
    s.#timer = setInterval(() => void s.flush().catch(() => {}), o.flushMs ?? 60_000)
    s.#timer.unref()
    return s
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now()
  }

  #active(k: StoredKey, now = this.#now()): boolean {
    return !k.revoked && (!k.expires || Date.parse(k.expires) > now)
  }

  /** Every key, newest first, without secrets or hashes. */
  list(): ApiKeyInfo[] {
    return [...this.#keys.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0)).map(infoOf)
  }

  /**
   * Creates a key and writes the file before it returns.
   * @param o.expires RFC 3339; absent = never expires.
   * @returns the key (shown once) and its record.
   * @throws KeyInputError for a bad or taken name (among keys neither revoked nor expired), a bad
   *   role, an expiry not in the future, or too many keys; Error when the file cannot be written
   *   (the key is then not created).
   */
  async create(o: { name: string; role: Role; expires?: string }, createdBy: string): Promise<{ key: string; info: ApiKeyInfo }> {
    this.#assertOpen()
    if (!KEY_NAME_RE.test(o.name)) throw new KeyInputError(`name: expected 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${JSON.stringify(o.name.slice(0, 80))}`)
    if (!(ROLES as readonly string[]).includes(o.role)) throw new KeyInputError(`role: expected one of ${ROLES.join(', ')}, got ${JSON.stringify(o.role)}`)
    if (o.expires !== undefined && !(Date.parse(o.expires) > this.#now())) throw new KeyInputError(`expires: must be an RFC 3339 time in the future, got ${JSON.stringify(o.expires)}`)
    this.#assertRoom(o.name, this.#now())
    // The hash first; the checks above are repeated with no await between them and the insertion,
    // so two concurrent creations cannot both take one name. The id is reserved meanwhile.
    let id: string
    do id = `hk_${randomBytes(4).toString('hex')}`
    while (this.#keys.has(id) || this.#pendingIds.has(id))
    this.#pendingIds.add(id)
    const key = `${id}_${randomBytes(32).toString('base64url')}`
    const params = this.#o.scrypt ?? SCRYPT_PARAMS
    const salt = randomBytes(16)
    let rec: StoredKey
    try {
      const hash = await scrypt(Buffer.from(key, 'utf8'), salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: maxmem(params) })
      const now = this.#now()
      this.#assertRoom(o.name, now)
      rec = {
        id, name: o.name, role: o.role, created: new Date(now).toISOString(), created_by: createdBy,
        ...(o.expires !== undefined && { expires: new Date(o.expires).toISOString() }),
        hash: { alg: 'scrypt', ...params, salt: salt.toString('base64'), hash: hash.toString('base64') },
      }
    } finally {
      this.#pendingIds.delete(id)
    }
    this.#keys.set(id, rec)
    try {
      await this.#save()
    } catch (err) {
      this.#keys.delete(id)
      throw err
    }
    return { key, info: infoOf(rec) }
  }

  /** @throws KeyInputError when `name` is taken by an active key, or the key limits are reached. */
  #assertRoom(name: string, now: number): void {
    const active = [...this.#keys.values()].filter((k) => this.#active(k, now))
    if (active.some((k) => k.name === name)) throw new KeyInputError(`name: a key named "${name}" exists; revoke it first or choose another name (rotation: create "${name}-2", switch, revoke the old one)`)
    if (active.length >= MAX_ACTIVE_KEYS) throw new KeyInputError(`too many keys: at most ${MAX_ACTIVE_KEYS} may be active; revoke unused ones`)
    if (this.#keys.size >= MAX_STORED_KEYS) throw new KeyInputError(`too many key records (${MAX_STORED_KEYS}); remove old revoked ones from ${this.file} while the aggregator is stopped`)
  }

  /**
   * Revokes a key (at once: the next request with it is refused) and writes the file. Revoking a
   * revoked key changes nothing.
   * @returns false when no such key exists. @throws Error when the file cannot be written (the key is revoked in memory all the same).
   */
  async revoke(id: string, revokedBy: string): Promise<boolean> {
    this.#assertOpen()
    const k = this.#keys.get(id)
    if (!k) return false
    this.#verified.delete(id)
    if (k.revoked) return true
    k.revoked = new Date(this.#now()).toISOString()
    k.revoked_by = revokedBy
    await this.#save()
    return true
  }

  /** Checks a presented API key (rules at the top of this file). Never throws. */
  async check(key: string): Promise<KeyCheck> {
    const m = API_KEY_RE.exec(key)
    if (!m) return { ok: false, error: 'malformed API key (expected hk_<8 hex>_<43 characters>)' }
    const id = `hk_${m[1]!}`
    const k = this.#keys.get(id)
    if (!k) return { ok: false, error: `unknown API key ${id}` }
    if (k.revoked) return { ok: false, error: `API key ${id} was revoked at ${k.revoked}` }
    const now = this.#now()
    if (k.expires && Date.parse(k.expires) <= now) return { ok: false, error: `API key ${id} expired at ${k.expires}` }
    const digest = sha256(key)
    const cached = this.#verified.get(id)
    let ok: boolean
    if (cached) {
      ok = timingSafeEqual(cached, digest)
      if (ok) {
        this.#verified.delete(id)
        this.#verified.set(id, cached)
      }
    } else {
      const tag = digest.toString('hex')
      let p = this.#inflight.get(tag)
      if (!p) {
        if (this.#waiting.length >= MAX_WAITING_HASHES) return { ok: false, error: 'too many API key checks in progress; retry' }
        p = this.#verify(key, k).finally(() => this.#inflight.delete(tag))
        this.#inflight.set(tag, p)
      }
      ok = await p
      // Revoked while the hash was computed: refused.
      if (ok && k.revoked) return { ok: false, error: `API key ${id} was revoked at ${k.revoked}` }
      if (ok) {
        this.#verified.set(id, digest)
        if (this.#verified.size > (this.#o.cacheSize ?? 1024)) this.#verified.delete(this.#verified.keys().next().value!)
      }
    }
    if (!ok) return { ok: false, error: `invalid API key ${id}` }
    k.last_used = new Date(now).toISOString()
    this.#dirty = true
    return { ok: true, info: infoOf(k) }
  }

  async #verify(key: string, k: StoredKey): Promise<boolean> {
    await this.#slot()
    try {
      const h = k.hash
      const expected = Buffer.from(h.hash, 'base64')
      const got = await scrypt(Buffer.from(key, 'utf8'), Buffer.from(h.salt, 'base64'), h.keylen, { N: h.N, r: h.r, p: h.p, maxmem: maxmem(h) })
      return got.length === expected.length && timingSafeEqual(got, expected)
    } catch {
      return false
    } finally {
      this.#running--
      this.#waiting.shift()?.()
    }
  }

  #slot(): Promise<void> {
    if (this.#running < (this.#o.maxConcurrentHashes ?? 2)) {
      this.#running++
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiting.push(() => {
      this.#running++
      resolve()
    }))
  }

  /** Writes the file when a `last_used` changed since the last write. */
  async flush(): Promise<void> {
    if (this.#dirty) await this.#save()
  }

  /** Writes the whole file (serialised: the last write wins with everything before it). */
  #save(): Promise<void> {
    this.#dirty = false
    const run = async (): Promise<void> => {
      const doc = { schema: KEYS_SCHEMA, keys: [...this.#keys.values()] }
      await writeFileAtomic(this.file, JSON.stringify(doc, null, 1) + '\n', { mode: 0o600 })
    }
    const p = this.#writing.then(run, run)
    this.#writing = p.catch(() => {
      this.#dirty = true
    })
    return p
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the API key store is closed')
  }

  /** Writes a changed `last_used`, stops the timer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    await this.#writing
    await this.flush().catch(() => {})
  }
}

/** The memory scrypt needs for these parameters, with room (node refuses above `maxmem`). */
function maxmem(p: { N: number; r: number; p: number }): number {
  return 128 * p.N * p.r * (p.p + 1) + 1024 * 1024
}
