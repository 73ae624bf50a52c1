/**
 * DNS-rebinding protection of the MCP ingress (Streamable HTTP, "Security Warning": "Servers MUST
 * validate the Origin header on all incoming connections to prevent DNS rebinding attacks";
 * spec 2025-11-25: an invalid Origin → 403 Forbidden). Pure: no I/O.
 *
 * Rule (`ingress.allowed_origins`, docs/configuration.md):
 * - no `Origin` header → allowed: only browsers send it, and non-browser clients cannot be
 *   rebound;
 * - list absent → loopback origins only: `http` or `https`, host `localhost`, `127.0.0.1` or
 *   `[::1]`, any port;
 * - `*` in the list → any origin, `null` included;
 * - otherwise the origin must equal an entry after normalisation (RFC 6454 §6.2 serialisation:
 *   scheme and host lowercase, IDN as punycode, IPv6 compressed, default port dropped);
 * - `Origin: null` (sandboxed frames, `file:`, redirects; RFC 6454 §7.3) is refused unless `*`;
 * - an empty list refuses every request that carries an `Origin`.
 */
import { ConfigError } from '../../core/errors.js'
import { PASSED, refusal, type Check } from '../../core/http/respond.js'

/** A compiled `allowed_origins`. Build it with {@link compileOrigins}. */
export interface OriginPolicy {
  /** `*` was listed: every origin passes. */
  readonly any: boolean
  /** No list was given: loopback origins pass. */
  readonly loopback: boolean
  /** Normalised `scheme://host[:port]` entries. */
  readonly exact: ReadonlySet<string>
}

const LOOPBACK = /^https?:\/\/(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/

/**
 * Compiles `ingress.allowed_origins`.
 * @param list the configured entries; undefined → loopback origins only.
 * @param path where the list lives, for error messages (e.g. `providers.fetch.ingress.allowed_origins`).
 * @throws ConfigError `HANGAR_CONFIG_INVALID` naming every entry that is not `*` nor a
 *   `scheme://host[:port]` origin (a path, query, fragment, credentials, or the literal `null`).
 */
export function compileOrigins(list: readonly string[] | undefined, path = 'ingress.allowed_origins'): OriginPolicy {
  if (list === undefined) return { any: false, loopback: true, exact: new Set() }
  const exact = new Set<string>()
  const issues: Array<{ path: string; message: string }> = []
  let any = false
  list.forEach((entry, i) => {
    if (entry === '*') {
      any = true
      return
    }
    const origin = normalizeOrigin(entry.endsWith('/') ? entry.slice(0, -1) : entry)
    if (origin === undefined) {
      issues.push({ path: `${path}[${i}]`, message: `"${entry}" is not an origin: write scheme://host[:port] (e.g. "https://app.example.com"), or "*" for any` })
    } else exact.add(origin)
  })
  if (issues.length) throw new ConfigError(path, issues)
  return { any, loopback: false, exact }
}

/**
 * The RFC 6454 serialisation of an origin written as `scheme://host[:port]`, or undefined when
 * `value` is not one (`null`, a path, query, fragment, credentials, no host).
 * `http`/`https`/`ws`/`wss` go through the WHATWG URL parser (lowercase, punycode, default port
 * dropped, IPv6 compressed); other schemes (`vscode-webview://…`) are only lowercased.
 */
export function normalizeOrigin(value: string): string | undefined {
  const sep = value.indexOf('://')
  if (sep <= 0) return undefined
  const scheme = value.slice(0, sep).toLowerCase()
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return undefined
  const rest = value.slice(sep + 3)
  if (rest.length === 0 || /[/?#@\\\s]/.test(rest)) return undefined
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'ws' && scheme !== 'wss') return `${scheme}://${rest.toLowerCase()}`
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  return `${scheme}://${url.host}`
}

const FORBIDDEN = refusal(403, 'origin', 'Forbidden: Origin not allowed')

/**
 * Checks a request's `Origin` header against the policy (rule at the top of this file).
 * Browsers send serialised origins, so the common case is one Set lookup; other spellings are
 * normalised first.
 * @returns {@link PASSED}, or a 403 refusal (`origin`).
 */
export function checkOrigin(policy: OriginPolicy, origin: string | undefined): Check {
  if (origin === undefined || policy.any) return PASSED
  if (origin === 'null') return FORBIDDEN
  if (policy.loopback) {
    if (LOOPBACK.test(origin)) return PASSED
    const n = normalizeOrigin(origin)
    return n !== undefined && LOOPBACK.test(n) ? PASSED : FORBIDDEN
  }
  if (policy.exact.has(origin)) return PASSED
  const n = normalizeOrigin(origin)
  return n !== undefined && policy.exact.has(n) ? PASSED : FORBIDDEN
}
