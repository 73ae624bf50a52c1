/**
 * The caller a verified JWT names: subject, groups and the configured extra claims, read from the
 * payload `jose` has already verified. Pure: no I/O.
 *
 * Rules (docs/identity.md §What is verified):
 * - subject: the issuer's `subject_claim` (`sub` by default, RFC 7519 §4.1.2), a string of 1–128
 *   printable ASCII characters (0x20–0x7E) without surrounding spaces; anything else refuses the
 *   token (`claims`): a caller that cannot be written into a signal unchanged is not a caller.
 * - groups: the issuer's `groups_claim`, a string (one group) or a list of strings, each 1–128
 *   printable ASCII; absent = no groups. Any other shape, or more than {@link MAX_GROUPS} groups,
 *   refuses the token: dropping groups could let a caller escape a deny rule aimed at one of them.
 * - extra claims: each configured name present as a string, number or boolean is copied as a
 *   string (at most {@link MAX_CLAIM_CHARS} characters); a list keeps its first
 *   {@link MAX_CLAIM_ITEMS} scalar items. Objects and other shapes are left out (never refused:
 *   extra claims only describe, they decide nothing).
 */
import type { VerifiedCaller } from '../../core/ports.js'

/** Most groups a token may carry (more refuses it). */
export const MAX_GROUPS = 256
/** Longest subject and group name, characters. */
export const MAX_NAME_CHARS = 128
/** Longest extra claim value kept, characters. */
export const MAX_CLAIM_CHARS = 256
/** Most items of a list-valued extra claim kept. */
export const MAX_CLAIM_ITEMS = 16

/** How one issuer names its callers (from its `oidc` entry). */
export interface ClaimRules {
  issuer: string
  subjectClaim: string
  groupsClaim: string
  claims: readonly string[]
}

/** The caller, or why the payload names none (one sentence for `error_description`). */
export type CallerResult = { ok: true; caller: VerifiedCaller } | { ok: false; description: string }

/** True when `s` is 1..max printable ASCII characters (0x20–0x7E) with no leading or trailing space. */
export function isPrintableName(s: string, max = MAX_NAME_CHARS): boolean {
  const n = s.length
  if (n === 0 || n > max || s[0] === ' ' || s[n - 1] === ' ') return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) return false
  }
  return true
}

/**
 * Reads the caller from a verified payload (rules at the top of this file). Never throws.
 * @param payload the JWT claims set `jwtVerify` returned
 */
export function callerFromPayload(payload: Record<string, unknown>, rules: ClaimRules): CallerResult {
  const sub = payload[rules.subjectClaim]
  if (typeof sub !== 'string' || !isPrintableName(sub)) {
    return { ok: false, description: `the ${rules.subjectClaim} claim must be 1-${MAX_NAME_CHARS} printable ASCII characters` }
  }
  const groups = groupsOf(payload[rules.groupsClaim])
  if (groups === undefined) {
    return { ok: false, description: `the ${rules.groupsClaim} claim must be a string or a list of at most ${MAX_GROUPS} strings of 1-${MAX_NAME_CHARS} printable ASCII characters` }
  }
  const claims: Record<string, string | string[]> = {}
  for (const name of rules.claims) {
    const v = claimValue(payload[name])
    if (v !== undefined) claims[name] = v
  }
  return { ok: true, caller: { subject: sub, issuer: rules.issuer, groups, claims } }
}

/** The groups of a claim value, deduplicated in order; undefined when the shape is refused. */
function groupsOf(v: unknown): string[] | undefined {
  if (v === undefined) return []
  const list = typeof v === 'string' ? [v] : v
  if (!Array.isArray(list) || list.length > MAX_GROUPS) return undefined
  const out = new Set<string>()
  for (const g of list) {
    if (typeof g !== 'string' || !isPrintableName(g)) return undefined
    out.add(g)
  }
  return [...out]
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > MAX_CLAIM_CHARS ? v.slice(0, MAX_CLAIM_CHARS) : v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return undefined
}

function claimValue(v: unknown): string | string[] | undefined {
  if (!Array.isArray(v)) return scalar(v)
  const out: string[] = []
  for (const item of v) {
    if (out.length >= MAX_CLAIM_ITEMS) break
    const s = scalar(item)
    if (s !== undefined) out.push(s)
  }
  return out
}
