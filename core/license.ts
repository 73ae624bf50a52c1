/**
 * License keys for the enterprise modules, checked offline (docs/licensing.md). Pure: no I/O, no
 * clock or environment of its own (the caller passes `now`, the key and the provider count).
 *
 * A license key is two base64url strings (RFC 4648 §5, no padding) joined by a dot:
 *
 *     <base64url(payload JSON bytes)>.<base64url(Ed25519 signature of those bytes)>
 *
 * The payload is `{ licensee, expires, max_providers, features, issued?, id? }` (see
 * {@link LicensePayload}); unknown keys are refused. The signature is Ed25519 (RFC 8032) over
 * the exact payload bytes, verified with `node:crypto` against the product's embedded public
 * key (core/license-key.ts) unless a caller passes another.
 *
 * This runs before any enterprise code is loaded, which is why it lives in core.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import type { LicenseState } from './ports.js'
import { LICENSE_PUBLIC_KEY_PEM } from './license-key.js'

/** The enterprise features this release knows (what the community grant enables: all of them). */
export const ENTERPRISE_FEATURES = ['compliance_export', 'identity', 'rbac', 'deviation_detection'] as const

/** The community grant covers fewer than this many configured providers (MCP servers). */
export const COMMUNITY_PROVIDER_LIMIT = 5

/** Longest license key accepted, in characters (a real one is a few hundred). */
export const MAX_LICENSE_KEY_LENGTH = 8192

/** The reason given when there is no key and the community grant does not apply. */
export const NO_KEY_REASON = 'no license key found, using defaults'

const rfc3339 = z.string().datetime({ offset: true, message: 'expected an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z' })

/** The signed document (zod schema; unknown keys are errors). */
export const LicensePayloadSchema = z.object({
  /** Who the license is issued to. */
  licensee: z.string().trim().min(1).max(200),
  /** RFC 3339 date-time after which the license is refused. */
  expires: rfc3339,
  /** The most providers a config may name under this license. */
  max_providers: z.number().int().positive().max(1_000_000),
  /** Feature names the license enables (names this release does not know are kept and ignored). */
  features: z.array(z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'expected a feature name (lowercase letters, digits, _ . -)')).max(64),
  /** RFC 3339 date-time of issue (informational). */
  issued: rfc3339.optional(),
  /** The licensor's identifier of this license (informational). */
  id: z.string().min(1).max(128).optional(),
}).strict()

/** The signed document of a license key. */
export type LicensePayload = z.infer<typeof LicensePayloadSchema>

/** What {@link verifyLicense} needs besides the key. */
export interface VerifyOptions {
  /** The trusted Ed25519 public key (a KeyObject, or SPKI PEM text). Default: the embedded product key. */
  publicKey?: KeyObject | string
  /** The time the license is checked at. */
  now: Date
  /** How many providers the configuration names. */
  providers: number
}

let embedded: KeyObject | undefined

/** The product's embedded public key as a KeyObject (parsed once). */
export function embeddedPublicKey(): KeyObject {
  embedded ??= createPublicKey(LICENSE_PUBLIC_KEY_PEM)
  return embedded
}

function ed25519(key: KeyObject | string): KeyObject {
  const k = typeof key === 'string' ? createPublicKey(key) : key
  if (k.asymmetricKeyType !== 'ed25519') throw new TypeError(`license public key: expected an Ed25519 key, got ${k.asymmetricKeyType ?? k.type}`)
  return k
}

/** Decodes strict, canonical, unpadded base64url; `undefined` when `s` is anything else. */
function base64url(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined
  const b = Buffer.from(s, 'base64url')
  // Non-canonical encodings (stray trailing bits, a length of 4n+1) decode lossily: refuse them.
  return b.toString('base64url') === s ? b : undefined
}

const refused = (reason: string, extra: Partial<LicenseState> = {}): LicenseState => ({ mode: 'unlicensed', features: [], ...extra, reason })

/** `malformed license key: <what>`. */
const malformed = (what: string): LicenseState => refused(`malformed license key: ${what}`)

/**
 * Checks a license key: its form, its signature against the trusted public key, its payload,
 * its expiry and its provider limit, in that order (the payload is parsed only once the
 * signature holds, so nothing unsigned is ever interpreted).
 *
 * @param key the license key (leading and trailing white space is ignored).
 * @returns `mode: 'licensed'` with licensee, expiry (RFC 3339, as signed), max providers and
 *   features; or `mode: 'unlicensed'`, no features, and `reason` one of
 *   `malformed license key: <what>`, `bad signature: the license key was not signed by the MCP Hangar license key`,
 *   `license expired on <expires>` or `<N> providers configured, the license allows <M>`
 *   (the last two keep the licensee, expiry and limit).
 * @throws TypeError only when `o.publicKey` is not an Ed25519 public key (a programming error).
 */
export function verifyLicense(key: string, o: VerifyOptions): LicenseState {
  const publicKey = ed25519(o.publicKey ?? embeddedPublicKey())
  if (typeof key !== 'string') return malformed(`expected a string, got ${typeof key}`)
  const text = key.trim()
  if (text === '') return malformed('empty')
  if (text.length > MAX_LICENSE_KEY_LENGTH) return malformed(`${text.length} characters, at most ${MAX_LICENSE_KEY_LENGTH}`)
  const parts = text.split('.')
  if (parts.length !== 2) return malformed(`expected <payload>.<signature> (two base64url parts joined by a dot), got ${parts.length} part(s)`)
  const payload = base64url(parts[0]!)
  if (!payload) return malformed('the payload is not canonical unpadded base64url')
  const signature = base64url(parts[1]!)
  if (!signature) return malformed('the signature is not canonical unpadded base64url')
  if (signature.length !== 64) return malformed(`the signature is ${signature.length} bytes, an Ed25519 signature is 64`)
  if (!verify(null, payload, publicKey, signature)) return refused('bad signature: the license key was not signed by the MCP Hangar license key')
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload))
  } catch (e) {
    return malformed(`the payload is not UTF-8 JSON (${(e as Error).message})`)
  }
  const parsed = LicensePayloadSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const path = issue.path.length ? issue.path.join('.') : 'payload'
    return malformed(`${path}: ${issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message}`)
  }
  const p = parsed.data
  if (p.issued !== undefined && Date.parse(p.issued) > Date.parse(p.expires)) return malformed(`issued (${p.issued}) is after expires (${p.expires})`)
  const terms = { licensee: p.licensee, expires: p.expires, max_providers: p.max_providers }
  if (o.now.getTime() >= Date.parse(p.expires)) return refused(`license expired on ${p.expires}`, terms)
  if (o.providers > p.max_providers) return refused(`${o.providers} providers configured, the license allows ${p.max_providers}`, terms)
  return { mode: 'licensed', ...terms, features: [...p.features] }
}

/**
 * Signs a payload into a license key (the licensor's side; tests sign with their own key pair).
 * @param privateKey an Ed25519 private key.
 * @throws ZodError when the payload does not match {@link LicensePayloadSchema}.
 */
export function signLicense(payload: LicensePayload, privateKey: KeyObject | string): string {
  const bytes = Buffer.from(JSON.stringify(LicensePayloadSchema.parse(payload)), 'utf8')
  return `${bytes.toString('base64url')}.${sign(null, bytes, privateKey).toString('base64url')}`
}

/** What {@link decideLicense} decides from. */
export interface LicenseInput {
  /** `MCP_LICENSE_KEY` (undefined or empty: no key). */
  key: string | undefined
  /** How many providers the configuration names. */
  providers: number
  /** Default: now. */
  now?: Date
  /** Default: the embedded product key. */
  publicKey?: KeyObject | string
}

/**
 * What the enterprise modules may do in this process:
 * - a key that verifies: `licensed` with its features;
 * - no key and fewer than {@link COMMUNITY_PROVIDER_LIMIT} providers: `community`, every
 *   feature of {@link ENTERPRISE_FEATURES} (the Additional Use Grant of enterprise/LICENSE.BSL);
 * - otherwise `unlicensed`, no features, and the reason (a refused key never falls back to
 *   the community grant: the refusal stays visible).
 *
 * Never throws: an unexpected failure is `unlicensed` with `license check failed: <message>`.
 */
export function decideLicense(i: LicenseInput): LicenseState {
  try {
    const now = i.now ?? new Date()
    if (i.key === undefined || i.key.trim() === '') {
      if (i.providers < COMMUNITY_PROVIDER_LIMIT) return { mode: 'community', features: [...ENTERPRISE_FEATURES] }
      return refused(`${NO_KEY_REASON}: ${i.providers} providers configured, the community grant covers fewer than ${COMMUNITY_PROVIDER_LIMIT}`)
    }
    return verifyLicense(i.key, { now, providers: i.providers, ...(i.publicKey !== undefined && { publicKey: i.publicKey }) })
  } catch (e) {
    return refused(`license check failed: ${(e as Error)?.message ?? String(e)}`)
  }
}
