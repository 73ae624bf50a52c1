/**
 * Secret detection in `tools/call` arguments (docs/mcp-ingress.md §Inspection; profile `capabilities.arguments`).
 * A catalogue of named detectors, each a regex with the public source of its token format, and a
 * walker that tests every string of the arguments (object keys too) and measures their JSON size
 * against `max_payload_bytes`. Pure: no I/O, no state.
 *
 * Findings never carry a secret: the preview is the first four characters of the match and `…`,
 * and a path segment made of an object key that itself matched a pattern is redacted the same way.
 *
 * Every regex is anchored on a token boundary by a lookbehind, so a start inside a run of token
 * characters is rejected at once and a scan stays linear in the length of the string (no ReDoS on
 * e.g. `eyJeyJeyJ…`). None has the `g` or `y` flag: `exec` is stateless and the objects are shared.
 */
import { ERROR_CODES, HangarError } from '../core/errors.js'

/** One named detector of the catalogue. */
export interface SecretPattern {
  /** The name a profile lists under `capabilities.arguments.secret_patterns`. */
  readonly name: SecretPatternName
  /** What it finds, in one sentence. */
  readonly description: string
  /** Where the token format is documented. */
  readonly source: string
  /** The detector; stateless (no `g`/`y` flag). */
  readonly regex: RegExp
}

/** The names of every detector in {@link SECRET_PATTERNS}. */
export const SECRET_PATTERN_NAMES = [
  'aws-keys',
  'pem-blocks',
  'github-tokens',
  'jwt',
  'slack-tokens',
  'stripe-keys',
  'google-api-keys',
] as const

/** A detector name a profile may list. */
export type SecretPatternName = (typeof SECRET_PATTERN_NAMES)[number]

/**
 * The catalogue of detectors, by name.
 *
 * - `aws-keys`: an access key id, `AKIA` (long-term) or `ASIA` (STS temporary) then 16 upper-case
 *   letters or digits, 20 characters in all, not inside a longer alphanumeric run.
 * - `pem-blocks`: the armour line of a PEM private key, `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |…]PRIVATE KEY-----`
 *   (also PGP's `PRIVATE KEY BLOCK`). Public keys and certificates are not secrets and are not found.
 * - `github-tokens`: `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` then 36 alphanumerics, or a fine-grained
 *   `github_pat_` then 82 characters of `[A-Za-z0-9_]`.
 * - `jwt`: three base64url segments separated by dots, the first (the JSON header) starting `eyJ`;
 *   each segment at least 10 characters. Unsigned (`alg: none`, empty signature) tokens are not found.
 * - `slack-tokens`: `xoxa-`, `xoxb-`, `xoxp-`, `xoxo-`, `xoxs-`, `xoxr-` then at least 10 characters of `[A-Za-z0-9-]`.
 * - `stripe-keys`: live secret and restricted keys, `sk_live_`/`rk_live_` then at least 24 alphanumerics.
 *   Test-mode keys (`sk_test_`) grant no access to money and are not found.
 * - `google-api-keys`: `AIza` then exactly 35 characters of `[A-Za-z0-9_-]` (39 in all).
 */
export const SECRET_PATTERNS: Readonly<Record<SecretPatternName, SecretPattern>> = Object.freeze({
  'aws-keys': {
    name: 'aws-keys',
    description: 'AWS access key id (AKIA… long-term, ASIA… temporary)',
    source: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids',
    regex: /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/,
  },
  'pem-blocks': {
    name: 'pem-blocks',
    description: 'PEM-armoured private key (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP)',
    source: 'RFC 7468 §2 (textual encoding), §10-11 (PRIVATE KEY, ENCRYPTED PRIVATE KEY); RFC 4880 §6.2 (PGP armour)',
    regex: /-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----/,
  },
  'github-tokens': {
    name: 'github-tokens',
    description: 'GitHub token: classic/OAuth/user-to-server/server-to-server/refresh (gh?_) or fine-grained (github_pat_)',
    source: 'https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/',
    regex: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])|github_pat_[A-Za-z0-9_]{82}(?![A-Za-z0-9_]))/,
  },
  jwt: {
    name: 'jwt',
    description: 'JSON Web Token (signed JWS compact serialisation)',
    source: 'RFC 7519 §3, RFC 7515 §7.1 (compact serialisation); a JSON header base64url-encodes to "eyJ"',
    regex: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/,
  },
  'slack-tokens': {
    name: 'slack-tokens',
    description: 'Slack token (bot, user, app, refresh, legacy workspace)',
    source: 'https://api.slack.com/authentication/token-types',
    regex: /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}/,
  },
  'stripe-keys': {
    name: 'stripe-keys',
    description: 'Stripe live secret or restricted API key',
    source: 'https://docs.stripe.com/keys',
    regex: /(?<![A-Za-z0-9_])[sr]k_live_[A-Za-z0-9]{24,}/,
  },
  'google-api-keys': {
    name: 'google-api-keys',
    description: 'Google Cloud / Firebase API key',
    source: 'https://cloud.google.com/docs/authentication/api-keys',
    regex: /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/,
  },
})

/** Kinds of finding that are not a secret pattern: limits the walker enforces. */
export type LimitFindingKind = 'payload_too_large' | 'nesting_too_deep' | 'scan_limit_exceeded'

/**
 * One thing found in the arguments. `path` is dotted with `[i]` indices (`a.b[2]`, `''` for the
 * root, `["odd key"]` for a key that is not an identifier). `preview` is redacted: never the secret.
 * For a limit finding, `preview` says what was exceeded.
 */
export interface Finding {
  pattern: SecretPatternName | LimitFindingKind
  path: string
  preview: string
}

/** Limits of {@link scanArguments}; both defaults suit any real tool call. */
export interface ScanOptions {
  /** Deepest nesting of objects and arrays walked (root = 0); deeper → `nesting_too_deep`. Default 64. */
  maxDepth?: number
  /** Most values (of any type, keys included) visited; more → `scan_limit_exceeded`. Default 100 000. */
  maxNodes?: number
}

/**
 * Resolves profile names to detectors, in the order given, without duplicates.
 * @throws HangarError `HANGAR_CONFIG_INVALID` naming the unknown pattern and listing the known ones.
 */
export function compileSecretPatterns(names: readonly string[]): readonly SecretPattern[] {
  const out: SecretPattern[] = []
  for (const name of names) {
    if (!Object.hasOwn(SECRET_PATTERNS, name)) {
      throw new HangarError(
        ERROR_CODES.CONFIG_INVALID,
        `unknown secret pattern "${name}"; known patterns: ${SECRET_PATTERN_NAMES.join(', ')}`,
      )
    }
    const pattern = SECRET_PATTERNS[name as SecretPatternName]
    if (!out.includes(pattern)) out.push(pattern)
  }
  return Object.freeze(out)
}

/** The redacted form of a matched secret: its first four characters and `…`. */
export function redact(secret: string): string {
  return `${secret.slice(0, 4)}…`
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const MAX_KEY_IN_PATH = 64

/**
 * Walks every string of `args` (object keys included) and tests it against `patterns`; reports at
 * most one finding per string and pattern. Also measures the JSON (UTF-8) size of `args` as
 * `JSON.stringify` would write it and reports `payload_too_large` first when it exceeds
 * `maxPayloadBytes`; secrets are still reported after it. Nesting deeper than `maxDepth` or more
 * than `maxNodes` values stop the walk with `nesting_too_deep` / `scan_limit_exceeded` (fail
 * closed: what was not scanned is reported, never silently passed). Cycles are walked once.
 */
export function scanArguments(
  args: unknown,
  patterns: readonly SecretPattern[],
  maxPayloadBytes: number,
  options: ScanOptions = {},
): Finding[] {
  const maxDepth = options.maxDepth ?? 64
  const maxNodes = options.maxNodes ?? 100_000
  const findings: Finding[] = []
  const seen = new WeakSet<object>()
  let nodes = 0
  let size = 0
  let stopped = false

  /** The redacted first match of each pattern in `s`. */
  const match = (s: string): Array<{ name: SecretPatternName; preview: string }> => {
    const out: Array<{ name: SecretPatternName; preview: string }> = []
    for (const p of patterns) {
      const m = p.regex.exec(s)
      if (m) out.push({ name: p.name, preview: redact(m[0]) })
    }
    return out
  }
  const report = (hits: ReadonlyArray<{ name: SecretPatternName; preview: string }>, path: string): void => {
    for (const h of hits) findings.push({ pattern: h.name, path, preview: h.preview })
  }

  const jsonBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s))

  const keySegment = (key: string, redacted: string | undefined): string => {
    if (redacted !== undefined) return `[${redacted}]`
    const k = key.length > MAX_KEY_IN_PATH ? `${key.slice(0, MAX_KEY_IN_PATH)}…` : key
    return IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`
  }

  const walk = (value: unknown, path: string, depth: number, inArray: boolean): void => {
    if (stopped) return
    if (++nodes > maxNodes) {
      findings.push({ pattern: 'scan_limit_exceeded', path, preview: `more than ${maxNodes} values` })
      stopped = true
      return
    }
    switch (typeof value) {
      case 'string':
        size += jsonBytes(value)
        report(match(value), path)
        return
      case 'number':
        size += Number.isFinite(value) ? String(value).length : 4
        return
      case 'boolean':
        size += value ? 4 : 5
        return
      case 'object':
        break
      default:
        // undefined, functions, symbols: JSON writes null in an array and omits them elsewhere
        // (objects skip them before calling walk). BigInt cannot be serialised; count its digits.
        size += typeof value === 'bigint' ? String(value).length : inArray ? 4 : 0
        return
    }
    if (value === null) {
      size += 4
      return
    }
    if (seen.has(value)) return
    seen.add(value)
    if (depth >= maxDepth) {
      findings.push({ pattern: 'nesting_too_deep', path, preview: `nesting deeper than ${maxDepth}` })
      stopped = true
      return
    }
    if (Array.isArray(value)) {
      size += 2 + Math.max(0, value.length - 1)
      for (let i = 0; i < value.length && !stopped; i++) walk(value[i], `${path}[${i}]`, depth + 1, true)
      return
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === 'function') {
      // Date and friends: measure and scan what JSON would write.
      walk(toJSON.call(value), path, depth, inArray)
      return
    }
    size += 2
    let members = 0
    for (const key of Object.keys(value)) {
      if (stopped) return
      const child = (value as Record<string, unknown>)[key]
      const kind = typeof child
      if (kind === 'undefined' || kind === 'function' || kind === 'symbol') continue
      if (++nodes > maxNodes) {
        findings.push({ pattern: 'scan_limit_exceeded', path, preview: `more than ${maxNodes} values` })
        stopped = true
        return
      }
      size += jsonBytes(key) + 1 + (members++ > 0 ? 1 : 0)
      // A key that is itself a secret is redacted in the path of its finding and of everything below it.
      const hits = match(key)
      const segment = keySegment(key, hits[0]?.preview)
      const childPath = path === '' ? segment.replace(/^\./, '') : path + segment
      report(hits, childPath)
      walk(child, childPath, depth + 1, false)
    }
  }

  walk(args, '', 0, false)
  if (size > maxPayloadBytes) {
    findings.unshift({
      pattern: 'payload_too_large',
      path: '',
      preview: `${stopped ? 'more than ' : ''}${size} bytes > max_payload_bytes ${maxPayloadBytes}`,
    })
  }
  return findings
}
