/**
 * The console's client of the aggregator API. The credential (an API key, an OIDC token or an
 * admin token) is kept in sessionStorage for the tab's life and sent only as an
 * `Authorization: Bearer` header (RFC 6750 §2.1), never in a URL. Actions are POSTs carrying that
 * header: no cookie is ever used, so a page on another origin cannot make the browser act (no CSRF).
 */

const TOKEN_KEY = 'mcp-hangar.console.token'

/** The stored credential, or undefined before the user gave one. */
export function getToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined
}

/** Stores (or, with undefined, forgets) the credential for this tab. */
export function setToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
  else sessionStorage.removeItem(TOKEN_KEY)
}

/** An API answer other than 2xx: `status` and the aggregator's `{error: {code, message}}`. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** The headers of every API call: the bearer credential, when there is one. */
export function authHeaders(): Record<string, string> {
  const token = getToken()
  return token ? { Authorization: `Bearer ${token}` } : {}
}

/**
 * Calls the aggregator API on this origin. @returns the parsed JSON body.
 * @throws ApiError on a non-2xx answer, with the server's message.
 */
export async function api<T>(path: string, init: { method?: 'GET' | 'POST'; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: { ...authHeaders(), ...(init.body !== undefined && { 'Content-Type': 'application/json' }) },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
    credentials: 'omit',
    cache: 'no-store',
  })
  const text = await res.text()
  let body: unknown
  try {
    body = text ? JSON.parse(text) : {}
  } catch {
    body = {}
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } }).error
    throw new ApiError(res.status, err?.code ?? 'error', err?.message ?? `${res.status} ${res.statusText}`)
  }
  return body as T
}

/** The user roles, lowest first (each includes the ones before it). */
export const ROLES = ['viewer', 'operator', 'admin'] as const
export type Role = (typeof ROLES)[number]

/** `GET /v1/whoami`. */
export interface Whoami {
  id: string
  name: string
  role: Role
  via: string
  rbac: boolean
}

/** True when `held` is at least `needed`. */
export function canAct(held: Role | undefined, needed: Role): boolean {
  return held !== undefined && ROLES.indexOf(held) >= ROLES.indexOf(needed)
}

/** A signal as the aggregator stores it (the fields the console shows). */
export interface Signal {
  id: string
  time: string
  kind: string
  type: string
  severity: string
  action: string
  enforcement_mode: string
  provider: string
  sidecar_id: string
  destination?: { host?: string; ip?: string; port?: number; protocol: string }
  isolation?: string
  tool?: string
  caller?: string
  rule?: string
  reason: string
  trace_id?: string
}

/** One provider of `GET /v1/providers`. */
export interface Provider {
  name: string
  state: string
  configured: boolean
  quarantined: boolean
  quarantine_reason?: string
  policy_version: number
  last_heartbeat?: string
  isolation?: string
  sidecar?: { sidecar_id: string; version: string; provider_state?: string }
  violations_total: number
  last_violation?: Signal
}
