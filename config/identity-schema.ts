/**
 * `ingress.auth.oidc` and `aggregator.auth.oidc`: the OIDC issuers whose bearer JWTs the identity
 * module verifies (docs/identity.md). Every object is strict: a typo in an authentication setting
 * must be a load error naming its path, never a silently weaker check.
 */
import { z } from 'zod'
import { num } from '../policy/coerce.js'

/** The JWS algorithms accepted (RFC 7518 §3.3 RS256, §3.4 ES256; RFC 8037 EdDSA). `none` and HMAC never are. */
export const OIDC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const

/** A claim name: 1–64 characters, no control characters. */
const claimName = z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/, 'expected a claim name (visible ASCII, e.g. "groups")')

/** One trusted issuer. */
export const oidcIssuerSchema = z
  .object({
    /** The `iss` value tokens must carry, exactly (OpenID Connect Core §2). */
    issuer: z.string().url(),
    /** The `aud` value(s) accepted: a token must name at least one (RFC 7519 §4.1.3). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Where the issuer's JWK Set is served (https; http only on a loopback host). */
    jwks_uri: z.string().url().refine((u) => /^https:\/\//i.test(u) || /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//i.test(u), 'expected an https:// URL (http:// only for a loopback host)').optional(),
    /** A JWK Set file (`{"keys":[…]}`), read at start: for an issuer the sidecar cannot reach. */
    jwks_file: z.string().min(1).optional(),
    /** A PEM CA bundle that verifies the `jwks_uri` server (a private issuer). Default: Node's roots. */
    ca_file: z.string().min(1).optional(),
    /** Algorithms accepted from this issuer. Default all of RS256, ES256, EdDSA. */
    algorithms: z.array(z.enum(OIDC_ALGORITHMS)).min(1).default([...OIDC_ALGORITHMS]),
    /** Tolerance on `exp`, `nbf` and `iat`, seconds. Default 60. */
    clock_skew_s: num(z.number().int().min(0).max(600)).default(60),
    /** The claim that names the caller. Default `sub`. */
    subject_claim: claimName.default('sub'),
    /** The claim that lists the caller's groups (a string or a list of strings). Default `groups`. */
    groups_claim: claimName.default('groups'),
    /** Further claims copied onto the caller (signals' `details.caller_claims`, span attributes). */
    claims: z.array(claimName).max(16).default([]),
    /** How long a fetched JWK Set is used before it is fetched again, ms. Default 600000 (10 min). */
    jwks_cache_ms: num(z.number().int().min(1000).max(86_400_000)).default(600_000),
    /** Shortest time between two fetches (an unknown `kid` triggers one), ms. Default 30000. */
    jwks_cooldown_ms: num(z.number().int().min(0).max(3_600_000)).default(30_000),
    /** Time allowed for a JWK Set fetch, ms. Default 5000. */
    jwks_timeout_ms: num(z.number().int().min(100).max(60_000)).default(5000),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.jwks_uri === undefined) === (o.jwks_file === undefined)) ctx.addIssue({ code: 'custom', path: ['jwks_uri'], message: 'give exactly one of jwks_uri or jwks_file' })
    if (o.ca_file !== undefined && o.jwks_uri === undefined) ctx.addIssue({ code: 'custom', path: ['ca_file'], message: 'ca_file verifies the jwks_uri server; there is no jwks_uri' })
  })
export type OidcIssuerConfig = z.infer<typeof oidcIssuerSchema>

/** A list of issuers; two entries with the same `issuer` are refused (which keys would win?). */
export const oidcListSchema = z
  .array(oidcIssuerSchema)
  .min(1)
  .superRefine((list, ctx) => {
    const seen = new Set<string>()
    list.forEach((o, i) => {
      if (seen.has(o.issuer)) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `issuer "${o.issuer}" is listed twice` })
      seen.add(o.issuer)
    })
  })

/** `ingress.auth`: verified caller identity on the MCP ingress (an enterprise protection). */
export const ingressAuthSchema = z
  .object({
    /** Issuers whose JWTs are accepted as bearer tokens; the verified subject becomes `caller`. */
    oidc: oidcListSchema,
  })
  .strict()
export type IngressAuthConfig = z.infer<typeof ingressAuthSchema>
