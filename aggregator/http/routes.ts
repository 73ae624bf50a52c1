/**
 * The aggregator's route table: every route of its HTTP API with the role it needs. The server
 * (aggregator/http/server.ts) routes only through this table, so a route cannot exist without a
 * role, and docs/rbac.md's table is checked against it by a test.
 *
 * Roles (`Role` of core/ports.ts; each includes the ones before it):
 * - `public`: no credential (`/health`, `/ready`, `/metrics`, and the console's static files under
 *   `/ui/`, which hold no data: the console reads everything through the `/v1/*` routes with the
 *   user's own credential);
 * - `signal`: the sidecars' class (`aggregator.signal_tokens`): ingest, heartbeats, policy polls.
 *   It is separate from the user roles: a signal token never satisfies a user role, and no user
 *   credential (API key, OIDC login, static admin token) opens a signal route, so no operator can
 *   forge records a SIEM trusts as sidecar output;
 * - `viewer`: read signals, providers, baselines, status;
 * - `operator`: + quarantine and approve;
 * - `admin`: + API keys and the SIEM export state.
 *
 * Without RBAC (no enterprise module or no `aggregator.auth`) the static tokens decide as they
 * always did: `signal` routes take `signal_tokens`, every user role takes `admin_tokens`, and the
 * routes marked `mcpTokens` also take `mcp_tokens` (docs/rbac.md).
 */
import { ROLES, type Role } from '../../core/ports.js'

/** The role a route or tool needs: a user role, the sidecars' `signal` class, or none (`public`). */
export type RouteRole = 'public' | 'signal' | Role

/** Every role a route may need, in the order docs list them. */
export const ROUTE_ROLES: readonly RouteRole[] = Object.freeze(['public', 'signal', ...ROLES])

/** What an admin action route does (the `details.action` of its `admin_action` signal). */
export type AdminActionName = 'quarantine' | 'approve' | 'key_create' | 'key_revoke'

/** One route. */
export interface RouteSpec {
  /** The handler's name in the server. */
  readonly id: string
  /** `*`: every method (the MCP Streamable HTTP endpoint takes GET, POST and DELETE). */
  readonly method: 'GET' | 'POST' | 'DELETE' | '*'
  /** The path, with `{name}` (a provider name), `{id}` (an API key id) or `{file}` (a console file name) placeholders. */
  readonly path: string
  readonly role: RouteRole
  /** Without RBAC, `aggregator.mcp_tokens` are accepted here too (with RBAC: as an `operator` here only). */
  readonly mcpTokens?: true
  /** The admin action the route performs, audited as an `admin_action` signal under RBAC. */
  readonly action?: AdminActionName
  /** One line for docs/rbac.md. */
  readonly what: string
}

const ROUTE_LIST = Object.freeze([
  { id: 'health', method: 'GET', path: '/health', role: 'public', what: 'liveness' },
  { id: 'ready', method: 'GET', path: '/ready', role: 'public', what: 'readiness (503 while starting or stopping)' },
  { id: 'metrics', method: 'GET', path: '/metrics', role: 'public', what: 'Prometheus metrics' },
  { id: 'ui_root', method: 'GET', path: '/ui', role: 'public', what: 'redirect to /ui/' },
  { id: 'ui', method: 'GET', path: '/ui/', role: 'public', what: "the console's page (static, no data)" },
  { id: 'ui_file', method: 'GET', path: '/ui/{file}', role: 'public', what: "the console's static files (no data)" },
  { id: 'signals_post', method: 'POST', path: '/v1/signals', role: 'signal', what: 'signal ingest (sidecars)' },
  { id: 'heartbeat', method: 'POST', path: '/v1/sidecars/heartbeat', role: 'signal', what: 'sidecar heartbeats (and baselines)' },
  { id: 'policy', method: 'GET', path: '/v1/policy/{name}', role: 'signal', what: 'policy long poll (sidecars)' },
  { id: 'signals_get', method: 'GET', path: '/v1/signals', role: 'viewer', what: 'query signals' },
  { id: 'signals_stream', method: 'GET', path: '/v1/signals/stream', role: 'viewer', what: 'signal stream (SSE)' },
  { id: 'providers', method: 'GET', path: '/v1/providers', role: 'viewer', what: 'list providers' },
  { id: 'provider', method: 'GET', path: '/v1/providers/{name}', role: 'viewer', what: 'one provider' },
  { id: 'baseline', method: 'GET', path: '/v1/providers/{name}/baseline', role: 'viewer', what: "a provider's baseline" },
  { id: 'whoami', method: 'GET', path: '/v1/whoami', role: 'viewer', what: 'the caller: principal and role' },
  { id: 'status', method: 'GET', path: '/v1/status', role: 'viewer', what: 'what runs degraded' },
  { id: 'quarantine', method: 'POST', path: '/v1/providers/{name}/quarantine', role: 'operator', action: 'quarantine', what: 'quarantine a provider' },
  { id: 'approve', method: 'POST', path: '/v1/providers/{name}/approve', role: 'operator', action: 'approve', what: "lift a quarantine, approve a provider's tools" },
  { id: 'export', method: 'GET', path: '/v1/export', role: 'admin', what: 'SIEM export sinks and their state' },
  { id: 'keys_list', method: 'GET', path: '/v1/keys', role: 'admin', what: 'list API keys (never their secrets)' },
  { id: 'keys_create', method: 'POST', path: '/v1/keys', role: 'admin', action: 'key_create', what: 'create an API key (shown once)' },
  { id: 'key_revoke', method: 'DELETE', path: '/v1/keys/{id}', role: 'admin', action: 'key_revoke', what: 'revoke an API key' },
  { id: 'mcp', method: '*', path: '/mcp', role: 'viewer', mcpTokens: true, what: 'the hangar_* MCP tools (each tool checks its own role)' },
] as const satisfies readonly RouteSpec[])

/** The id of a route of {@link ROUTES}. */
export type RouteId = (typeof ROUTE_LIST)[number]['id']

/** The routes of the aggregator API (docs/aggregator.md §API), in matching order. */
export const ROUTES: readonly (RouteSpec & { readonly id: RouteId })[] = ROUTE_LIST

/** A `{name}` segment: a provider name as the config spells it. */
const NAME = '([A-Za-z0-9][A-Za-z0-9_-]{0,62})'
/** An `{id}` segment: an API key id (unknown ids are the handler's 404). */
const ID = '([A-Za-z0-9_-]{1,64})'
/** A `{file}` segment: one file name of the console (no slash, no leading dot: no traversal). */
const FILE = '([A-Za-z0-9][A-Za-z0-9_.-]{0,127})'

interface Compiled { route: RouteSpec & { id: RouteId }; re: RegExp; params: string[] }

const COMPILED: readonly Compiled[] = ROUTES.map((route) => {
  const params: string[] = []
  const src = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(name|id|file)\}/g, (_m, p: string) => {
    params.push(p)
    return p === 'name' ? NAME : p === 'id' ? ID : FILE
  })
  return { route, re: new RegExp(`^${src}$`), params }
})

/** The outcome of {@link matchRoute}. */
export type RouteMatch =
  | { route: RouteSpec & { id: RouteId }; params: Record<string, string> }
  /** The path exists, the method does not: answer 405 with `Allow`. */
  | { allow: string[] }
  /** No such path: 404. */
  | undefined

/**
 * The route for a request. A path template's placeholders only match their own shape (a provider
 * name, a key id), so `/v1/providers/../x` matches nothing.
 */
export function matchRoute(method: string, path: string): RouteMatch {
  const allow: string[] = []
  for (const c of COMPILED) {
    const m = c.re.exec(path)
    if (!m) continue
    if (c.route.method !== '*' && c.route.method !== method) {
      allow.push(c.route.method)
      continue
    }
    return { route: c.route, params: Object.fromEntries(c.params.map((p, i) => [p, m[i + 1]!])) }
  }
  return allow.length ? { allow } : undefined
}

/**
 * True when a principal holding `held` may use something that needs `required`: the user roles
 * are ordered (`viewer` < `operator` < `admin`); `public` needs nothing; `signal` is never
 * satisfied by a user role.
 */
export function roleSatisfies(held: Role, required: RouteRole): boolean {
  if (required === 'public') return true
  if (required === 'signal') return false
  return ROLES.indexOf(held) >= ROLES.indexOf(required)
}
