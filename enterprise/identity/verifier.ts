/**
 * The OIDC bearer-token verifier (core/ports.ts `TokenVerifier`): a compact JWS (RFC 7515 §7.1)
 * signed by one of the configured issuers.
 *
 * Order of checks (docs/identity.md §What is verified):
 * 1. size: at most {@link MAX_TOKEN_CHARS} characters (`malformed`);
 * 2. the unverified header and payload are decoded only to pick the issuer: `iss` must equal one
 *    configured `issuer` exactly (`issuer`); nothing else is read before the signature is checked;
 * 3. `jose.jwtVerify` against that issuer only: the header `alg` must be one of the issuer's
 *    `algorithms` (RS256, ES256, EdDSA; `none` and HMAC are never accepted, which also closes the
 *    RS256→HS256 key-confusion attack), the signature must verify with a key of the issuer's JWK
 *    Set (an unknown `kid` fetches the set again, within the cooldown), `iss` and `aud` (RFC 7519
 *    §4.1.1, §4.1.3) must match, `exp` is required and `exp`/`nbf` are checked with `clock_skew_s`
 *    of tolerance (RFC 7519 §4.1.4, §4.1.5);
 * 4. the caller: subject, groups, extra claims (enterprise/identity/claims.ts).
 * A JWK Set that cannot be fetched refuses the token (`jwks_unavailable`): fail closed.
 *
 * Verified tokens are cached by SHA-256 digest, so a client that sends the same token on every
 * request pays for one signature check: at most {@link CACHE_ENTRIES} entries (the oldest is
 * dropped first), each kept until the token's `exp` and at most {@link CACHE_TTL_MS} (so a key
 * the issuer withdraws stops being trusted within that time). Refusals are not cached.
 */
import { hash } from 'node:crypto'
import { createRequire } from 'node:module'
import type * as Prom from 'prom-client'
import type { Counter, Registry } from 'prom-client'
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose'
import { oidcListSchema, type OidcIssuerConfig } from '../../config/identity-schema.js'
import type { Logger } from '../../core/log.js'
import type { TokenRefusal, TokenVerdict, TokenVerifier, VerifiedCaller, VerifierContext } from '../../core/ports.js'
import { callerFromPayload, type ClaimRules } from './claims.js'
import { fileKeySource, remoteKeySource, type KeySource } from './jwks.js'

// The Counter class alone, not prom-client's index (its default collectors cost the sidecar memory).
const CounterImpl = createRequire(import.meta.url)('prom-client/lib/counter') as typeof Prom.Counter

/**
 * Longest token verified, characters (12 KiB; larger ones are `malformed`): room for an issuer
 * that lists a few hundred groups, and below Node's 16 KiB limit on a request's header section,
 * so the ingress itself answers an oversized token with its 401.
 */
export const MAX_TOKEN_CHARS = 12_288
/** Verified tokens remembered. */
export const CACHE_ENTRIES = 1024
/** Longest a verified token is remembered, ms. */
export const CACHE_TTL_MS = 60_000

/** Metric names (docs/identity.md §Metrics). */
export const TOKENS_METRIC = 'mcp_hangar_auth_tokens_total'
export const JWKS_METRIC = 'mcp_hangar_auth_jwks_fetches_total'

interface Issuer {
  cfg: OidcIssuerConfig
  keys: KeySource
  rules: ClaimRules
  audience: string[]
}

interface Cached {
  caller: VerifiedCaller
  /** ms since the epoch. */
  until: number
}

/** The outcome metrics of one verifier. */
interface Metrics {
  tokens: Counter<'surface' | 'outcome' | 'reason'>
  jwks: Counter<'issuer' | 'outcome'>
}

function metricsOn(registry: Registry): Metrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make()
  const r = [registry]
  return {
    tokens: get(TOKENS_METRIC, () => new CounterImpl({ name: TOKENS_METRIC, help: 'Bearer JWTs checked by the identity module, by surface, outcome (accepted, refused) and reason (the refusal reason; none or cached when accepted).', labelNames: ['surface', 'outcome', 'reason'], registers: r })),
    jwks: get(JWKS_METRIC, () => new CounterImpl({ name: JWKS_METRIC, help: 'JWK Set fetches by issuer and outcome (ok, error).', labelNames: ['issuer', 'outcome'], registers: r })),
  }
}

/** `error_description` must fit an RFC 6750 §3 quoted string: printable ASCII without `"` and `\`. */
export function describeSafely(s: string): string {
  const out = s.replace(/[^\x20-\x7e]|["\\]/g, '?')
  return out.length > 200 ? `${out.slice(0, 199)}…`.replace('…', '.') : out
}

const refuse = (reason: TokenRefusal, description: string): TokenVerdict => ({ ok: false, reason, description: describeSafely(description) })

/**
 * Maps an error from `jwtVerify` to a refusal. `jose` names claim failures by claim; a key that
 * matches no `kid` of a freshly fetched set is a signature failure (the token was not signed by
 * the issuer); a fetch that failed or timed out is `jwks_unavailable`.
 */
export function refusalOf(err: unknown): TokenVerdict {
  if (err instanceof errors.JWTExpired) return refuse('expired', 'the token has expired')
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return refuse('not_yet_valid', 'the token is not valid yet (nbf)')
    if (err.claim === 'iss') return refuse('issuer', 'the token was not issued by a trusted issuer')
    if (err.claim === 'aud') return refuse('audience', 'the token is not meant for this audience')
    return refuse('claims', `the ${err.claim} claim is missing or invalid`)
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return refuse('algorithm', 'the token is signed with an algorithm this issuer is not trusted for')
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('signature', 'the token signature does not verify')
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return refuse('signature', 'no key of the issuer matches the token')
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return refuse('malformed', 'the token is not a valid JWT')
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return refuse('jwks_unavailable', 'the issuer keys cannot be fetched')
  if (err instanceof errors.JWKInvalid) return refuse('signature', 'the matching issuer key is unusable')
  return refuse('jwks_unavailable', 'the issuer keys cannot be fetched')
}

/** The token verifier of one surface (the ingress, or the aggregator). */
export class OidcVerifier implements TokenVerifier {
  readonly #issuers = new Map<string, Issuer>()
  readonly #cache = new Map<string, Cached>()
  readonly #metrics: Metrics | undefined
  readonly #surface: VerifierContext['surface']
  readonly #log: Logger
  readonly #now: () => number

  /**
   * @param ctx `issuers` is an `oidc` list (config/identity-schema.ts), parsed again here.
   * @param now clock, ms since the epoch (tests)
   * @throws Error naming `<surface>.auth.oidc[i]…` when an entry is invalid or its keys cannot be used
   */
  constructor(ctx: VerifierContext, now: () => number = Date.now) {
    const base = ctx.surface === 'ingress' ? 'ingress.auth.oidc' : 'aggregator.auth.oidc'
    const parsed = oidcListSchema.safeParse(ctx.issuers)
    if (!parsed.success) {
      const i = parsed.error.issues[0]
      throw new Error(`${[base, ...(i?.path ?? [])].map((p, n) => (typeof p === 'number' ? `[${p}]` : n ? `.${p}` : p)).join('')}: ${i?.message ?? 'invalid'}`)
    }
    this.#surface = ctx.surface
    this.#log = ctx.log
    this.#now = now
    this.#metrics = ctx.registry ? metricsOn(ctx.registry as Registry) : undefined
    const opened: KeySource[] = []
    try {
      parsed.data.forEach((cfg, i) => {
        const at = `${base}[${i}]`
        const keys = cfg.jwks_file !== undefined
          ? fileKeySource(cfg.jwks_file, at)
          : remoteKeySource({
            uri: cfg.jwks_uri!, timeoutMs: cfg.jwks_timeout_ms, cacheMs: cfg.jwks_cache_ms, cooldownMs: cfg.jwks_cooldown_ms,
            ...(cfg.ca_file !== undefined && { caFile: cfg.ca_file }),
            onFetch: (outcome) => {
              this.#metrics?.jwks.inc({ issuer: cfg.issuer, outcome })
              if (outcome === 'error') this.#log.warn({ issuer: cfg.issuer, surface: this.#surface }, 'JWK Set fetch failed: tokens of this issuer are refused until it succeeds')
            },
          }, at)
        opened.push(keys)
        const audience = Array.isArray(cfg.audience) ? cfg.audience : [cfg.audience]
        this.#issuers.set(cfg.issuer, { cfg, keys, audience, rules: { issuer: cfg.issuer, subjectClaim: cfg.subject_claim, groupsClaim: cfg.groups_claim, claims: cfg.claims } })
      })
    } catch (err) {
      for (const k of opened) void k.close()
      throw err
    }
  }

  /** The number of verified tokens remembered (tests, status). */
  get cached(): number {
    return this.#cache.size
  }

  async verify(token: string): Promise<TokenVerdict> {
    let verdict: TokenVerdict | Cached
    try {
      verdict = await this.#verify(token)
    } catch (err) {
      verdict = refusalOf(err)
    }
    if ('until' in verdict) {
      this.#metrics?.tokens.inc({ surface: this.#surface, outcome: 'accepted', reason: 'cached' })
      return { ok: true, caller: verdict.caller }
    }
    if (verdict.ok) this.#metrics?.tokens.inc({ surface: this.#surface, outcome: 'accepted', reason: 'none' })
    else {
      this.#metrics?.tokens.inc({ surface: this.#surface, outcome: 'refused', reason: verdict.reason })
      this.#log.debug({ surface: this.#surface, reason: verdict.reason }, `bearer token refused: ${verdict.description}`)
    }
    return verdict
  }

  /** The verdict, or the cache entry that answered for a remembered verified token. */
  async #verify(token: string): Promise<TokenVerdict | Cached> {
    if (token.length > MAX_TOKEN_CHARS) return refuse('malformed', `the token is longer than ${MAX_TOKEN_CHARS} characters`)
    const key = hash('sha256', token, 'base64')
    const now = this.#now()
    const hit = this.#cache.get(key)
    if (hit) {
      if (hit.until > now) return hit
      this.#cache.delete(key)
    }
    let iss: unknown
    let alg: unknown
    try {
      alg = decodeProtectedHeader(token).alg
      iss = decodeJwt(token).iss
    } catch {
      return refuse('malformed', 'the token is not a valid JWT')
    }
    const issuer = typeof iss === 'string' ? this.#issuers.get(iss) : undefined
    if (!issuer) return refuse('issuer', 'the token was not issued by a trusted issuer')
    if (typeof alg !== 'string' || !(issuer.cfg.algorithms as readonly string[]).includes(alg)) {
      return refuse('algorithm', 'the token is signed with an algorithm this issuer is not trusted for')
    }
    const { payload } = await jwtVerify(token, issuer.keys.getKey, {
      issuer: issuer.cfg.issuer,
      audience: issuer.audience,
      algorithms: issuer.cfg.algorithms,
      clockTolerance: issuer.cfg.clock_skew_s,
      requiredClaims: ['exp'],
      currentDate: new Date(now),
    })
    const r = callerFromPayload(payload as Record<string, unknown>, issuer.rules)
    if (!r.ok) return refuse('claims', r.description)
    const until = Math.min((payload.exp as number) * 1000, now + CACHE_TTL_MS)
    if (until > now) {
      if (this.#cache.size >= CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!)
      this.#cache.set(key, { caller: r.caller, until })
    }
    return { ok: true, caller: r.caller }
  }

  close(): void {
    this.#cache.clear()
    for (const i of this.#issuers.values()) void i.keys.close()
  }
}
