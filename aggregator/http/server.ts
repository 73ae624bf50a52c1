/**
 * The aggregator's HTTP listener (`aggregator.listen`, default 127.0.0.1:8000). Every request is
 * routed through the route table (aggregator/http/routes.ts), which gives each route the role it
 * needs; docs/rbac.md has the table.
 *
 * Without RBAC (the enterprise access module not loaded, or `aggregator.auth` not configured) the
 * static tokens decide, as they always have:
 *
 * | route role | token |
 * |---|---|
 * | `signal` (`POST /v1/signals`, `POST /v1/sidecars/heartbeat`, `GET /v1/policy/{name}`) | signal token only |
 * | `viewer`, `operator`, `admin` (queries, control, export, status, keys) | admin token only |
 * | `/mcp` | admin token (or `aggregator.mcp_tokens`) |
 * | `public` (`GET /health`, `/ready`, `/metrics`) | none |
 *
 * The classes do not overlap: an admin token is refused on the ingest endpoints (an admin must not
 * be able to forge audit records a SIEM trusts as sidecar output), and a signal token is refused
 * on queries, control and `/mcp` (a sidecar, or a provider that stole its token, must not read
 * the audit trail or lift its own quarantine). The config refuses a token listed in two classes.
 * An empty token list opens that class of endpoints (a loopback-only development setup; the
 * CLI warns when the listener is not loopback). A wrong or missing token, or one of the other
 * class → 401 and nothing is read or written. `/v1/keys` answers 501 after the admin token.
 *
 * Under RBAC a user route needs a credential whose role is at least the route's: an API key or
 * an OIDC JWT (the access module maps it to a principal), a static admin token (role `admin`), or
 * on `/mcp` only an `mcp_tokens` entry (role `operator`). No credential, a wrong one, a signal
 * token → 401 (`admin_tokens: []` opens nothing then); a valid one whose role is too low → 403
 * `forbidden` naming the role needed and held, and an `admin_action_denied` record. The signal
 * routes keep their tokens as above; a user credential there is a 403 too (it authenticated, but
 * no user role may ingest).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { listen } from '../../core/listen.js'
import type { Logger } from '../../core/log.js'
import type { AccessControl, ExportSinkStatus, Principal } from '../../core/ports.js'
import { bearerToken, checkBearer, compileTokens, type TokenSet } from '../../core/http/auth.js'
import type { AdminAudit } from '../admin-audit.js'
import type { BaselineBook } from '../baselines.js'
import type { AggregatorMetrics } from '../metrics.js'
import type { PolicyBook } from '../policy.js'
import type { SidecarRegistry } from '../registry.js'
import type { AggregatorService } from '../service.js'
import { approve, getBaseline, getProvider, heartbeat, listProviders, policy, quarantine, type ControlOutcome } from './control.js'
import { createKey, listKeys, revokeKey } from './keys.js'
import { authorize, sendError, sendJson, unauthorized } from './reply.js'
import { matchRoute, roleSatisfies, type RouteId, type RouteSpec } from './routes.js'
import { getSignals, postSignals, streamSignals } from './signals.js'
import { defaultUiDir, redirectUi, serveUi } from './ui.js'

/** RBAC: the running access control and the audit of its decisions. */
export interface AggregatorRbac {
  access: AccessControl
  audit: AdminAudit
}

export interface AggregatorHttpOptions {
  service: AggregatorService
  registry: SidecarRegistry
  policy: PolicyBook
  /** Receives the baselines heartbeats carry. */
  baselines: BaselineBook
  metrics: AggregatorMetrics
  log: Logger
  signalTokens: readonly string[]
  adminTokens: readonly string[]
  /** Tokens for `/mcp` besides the admin tokens. */
  mcpTokens?: readonly string[]
  /** Serves `/mcp` (aggregator/mcp/endpoint.ts), with the principal under RBAC; undefined = 404. */
  mcp?: (req: IncomingMessage, res: ServerResponse, principal?: Principal) => Promise<void>
  /** False while starting or stopping → `/ready` 503. */
  ready(): boolean
  /** Every export sink's state (`GET /v1/export`); none when absent. */
  exportStatus?: () => ExportSinkStatus[]
  /** What runs with less than configured (`GET /v1/status`). */
  degraded?: () => readonly string[]
  /** RBAC; absent = the static tokens decide (top of this file). */
  rbac?: AggregatorRbac
  /** Without RBAC: why `/v1/keys` is not available (the 501 message). */
  keysUnavailable?: string
  /** The built console served at `/ui/` (aggregator/http/ui.ts); default: dist/ui/ when built. */
  uiDir?: string
}

/** One routed request. */
interface Call {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
  /** The principal under RBAC (absent on public and signal routes, and without RBAC). */
  principal?: Principal
}

/** The principals of the static tokens under RBAC. */
const STATIC_ADMIN: Principal = Object.freeze({ id: 'token:admin', name: 'admin token', role: 'admin', via: 'static_token' })
const STATIC_MCP: Principal = Object.freeze({ id: 'token:mcp', name: 'mcp token', role: 'operator', via: 'static_token' })

export class AggregatorHttp {
  readonly server: Server
  readonly #o: AggregatorHttpOptions
  readonly #signal: TokenSet
  readonly #admin: TokenSet
  readonly #mcp: TokenSet
  readonly #mcpOnly: TokenSet
  readonly #handlers: Record<RouteId, (c: Call) => void | Promise<void>>

  readonly #uiDir: string | undefined

  constructor(o: AggregatorHttpOptions) {
    this.#o = o
    this.#uiDir = o.uiDir ?? defaultUiDir()
    this.#admin = compileTokens(o.adminTokens)
    this.#signal = compileTokens(o.signalTokens)
    this.#mcpOnly = compileTokens(o.mcpTokens ?? [])
    this.#mcp = o.adminTokens.length || o.mcpTokens?.length ? compileTokens([...o.adminTokens, ...(o.mcpTokens ?? [])]) : compileTokens([])
    this.#handlers = this.#makeHandlers()
    this.server = createServer((req, res) => {
      this.#route(req, res).catch((err: Error) => {
        o.log.error({ err: err.message, stack: err.stack, url: req.url }, 'aggregator request failed')
        if (!res.headersSent) sendError(res, 500, 'internal', 'internal error')
        else res.destroy()
      })
    })
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 0 // long polls and streams
    this.server.keepAliveTimeout = 65_000
  }

  /** The handler of every route id: a route of the table without one does not compile. */
  #makeHandlers(): Record<RouteId, (c: Call) => void | Promise<void>> {
    const o = this.#o
    const keys = (c: Call, run: (access: AggregatorRbac) => void | Promise<void>): void | Promise<void> => {
      if (o.rbac && c.principal) return run(o.rbac)
      c.req.resume()
      sendError(c.res, 501, 'not_implemented', o.keysUnavailable ?? 'API keys need RBAC: the enterprise module with the rbac license feature, and aggregator.auth in the config')
    }
    const audited = (c: Call, action: 'quarantine' | 'approve', name: string) => async (r: ControlOutcome): Promise<void> => {
      if (!o.rbac || !c.principal) return
      const p = c.principal
      await o.rbac.audit.action(p, {
        action, via: { route: `POST /v1/providers/{name}/${action}` }, provider: name,
        reason: `${p.name} ${action === 'quarantine' ? 'quarantined' : 'approved'} provider ${name}: ${r.reason}`,
        details: { policy_version: r.policy_version, ...(r.changed !== undefined && { changed: r.changed }) },
      })
    }
    return {
      health: ({ res }) => sendJson(res, 200, { status: 'ok' }),
      ready: ({ res }) => (o.ready() ? sendJson(res, 200, { status: 'ready' }) : sendError(res, 503, 'unavailable', 'not ready')),
      metrics: async ({ res }) => {
        for (const s of ['ready', 'degraded', 'quarantined', 'unreachable']) o.metrics.providers.set({ state: s }, 0)
        for (const p of o.service.providers()) o.metrics.providers.inc({ state: p.state })
        const text = await o.metrics.registry.metrics()
        res.writeHead(200, { 'Content-Type': o.metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) })
        res.end(text)
      },
      ui_root: ({ req, res }) => redirectUi(req, res),
      ui: ({ req, res }) => serveUi(req, res, 'index.html', this.#uiDir),
      ui_file: ({ req, res, params }) => serveUi(req, res, params.file!, this.#uiDir),
      whoami: ({ res, principal }) => sendJson(res, 200, principal
        ? { id: principal.id, name: principal.name, role: principal.role, via: principal.via, rbac: true }
        // Without RBAC the admin token opens every user route: it acts as an admin.
        : { id: 'token:admin', name: 'admin token', role: 'admin', via: 'static_token', rbac: false }),
      signals_post: ({ req, res }) => postSignals(req, res, o.service, o.metrics, o.log),
      heartbeat: ({ req, res }) => heartbeat(req, res, o.registry, o.baselines, o.metrics),
      policy: ({ req, res, url, params }) => policy(req, res, params.name!, url.searchParams, o.policy, o.metrics),
      signals_get: ({ res, url }) => getSignals(res, url.searchParams, o.service),
      signals_stream: ({ req, res, url }) => streamSignals(req, res, url.searchParams, o.service, o.metrics),
      providers: ({ res }) => listProviders(res, o.service),
      provider: ({ res, params }) => getProvider(res, params.name!, o.service),
      baseline: ({ res, params }) => getBaseline(res, params.name!, o.service),
      status: ({ res }) => {
        const degraded = [...(o.degraded?.() ?? [])]
        sendJson(res, 200, { status: degraded.length ? 'degraded' : 'ok', ready: o.ready(), degraded })
      },
      quarantine: (c) => quarantine(c.req, c.res, c.params.name!, o.service, o.metrics, audited(c, 'quarantine', c.params.name!)),
      approve: (c) => approve(c.req, c.res, c.params.name!, o.service, audited(c, 'approve', c.params.name!)),
      export: ({ res }) => sendJson(res, 200, { sinks: o.exportStatus?.() ?? [] }),
      keys_list: (c) => keys(c, (r) => listKeys(c.res, r.access)),
      keys_create: (c) => keys(c, (r) => createKey(c.req, c.res, r.access, c.principal!, r.audit)),
      key_revoke: (c) => keys(c, (r) => revokeKey(c.req, c.res, c.params.id!, r.access, c.principal!, r.audit)),
      mcp: (c) => {
        if (!o.mcp) {
          c.req.resume()
          return sendError(c.res, 404, 'not_found', `no route ${c.req.method ?? 'GET'} ${c.url.pathname}`)
        }
        return o.mcp(c.req, c.res, c.principal)
      },
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://aggregator')
    const path = url.pathname
    const m = req.method ?? 'GET'
    const hit = matchRoute(m, path)
    if (!hit || 'allow' in hit) {
      req.resume()
      if (!hit) return sendError(res, 404, 'not_found', `no route ${m} ${path}`)
      return sendError(res, 405, 'method_not_allowed', `${path} accepts ${hit.allow.join(', ')}`, {}, { Allow: hit.allow.join(', ') })
    }
    const { route, params } = hit
    const gate = this.#o.rbac ? await this.#rbacGate(req, res, route) : this.#staticGate(req, res, route)
    if (gate === false) {
      req.resume()
      if (route.id === 'signals_post') this.#o.metrics.batches.inc({ outcome: 'unauthorized' })
      return
    }
    return this.#handlers[route.id]({ req, res, url, params, ...(gate && { principal: gate }) })
  }

  /** Without RBAC: the token class of the route's role (top of this file). @returns false when refused (written). */
  #staticGate(req: IncomingMessage, res: ServerResponse, route: RouteSpec): null | false {
    if (route.role === 'public') return null
    const tokens = route.role === 'signal' ? this.#signal : route.mcpTokens ? this.#mcp : this.#admin
    return authorize(req, res, tokens) ? null : false
  }

  /**
   * Under RBAC: the principal of the request, checked against the route's role.
   * @returns the principal (user routes), null (public and signal routes), or false when refused (401/403 written).
   */
  async #rbacGate(req: IncomingMessage, res: ServerResponse, route: RouteSpec): Promise<Principal | null | false> {
    if (route.role === 'public') return null
    const auth = req.headers.authorization
    const token = bearerToken(auth)
    if (route.role === 'signal') {
      if (checkBearer(this.#signal, auth).ok) return null
      const who = token === undefined ? undefined : await this.#principal(token, route)
      if (who && 'principal' in who) return this.#forbid(req, res, route, who.principal)
      return authorize(req, res, this.#signal) ? null : false
    }
    if (token === undefined) return unauthorized(res, auth !== undefined && auth.trim().toLowerCase() === 'bearer', 'Unauthorized: a bearer token is required (an API key, an OIDC token or an admin token)')
    const who = await this.#principal(token, route)
    if (!who) return unauthorized(res, true, 'Unauthorized: invalid bearer token')
    if ('error' in who) return unauthorized(res, true, `Unauthorized: ${who.error}`, who.error)
    if (!roleSatisfies(who.principal.role, route.role)) return this.#forbid(req, res, route, who.principal)
    return who.principal
  }

  /**
   * Who a bearer token is: a signal token is no one (it never satisfies a user role); a static
   * admin token is {@link STATIC_ADMIN}; an `mcp_tokens` entry is {@link STATIC_MCP} on `/mcp`
   * only; anything else is for the access module (API keys, OIDC).
   */
  async #principal(token: string, route: RouteSpec): Promise<{ principal: Principal } | { error: string } | undefined> {
    const bearer = `Bearer ${token}`
    const inSet = (set: TokenSet): boolean => set.digests.length > 0 && checkBearer(set, bearer).ok
    if (inSet(this.#signal)) return undefined
    if (inSet(this.#admin)) return { principal: STATIC_ADMIN }
    if (inSet(this.#mcpOnly)) return route.mcpTokens ? { principal: STATIC_MCP } : undefined
    return this.#o.rbac!.access.authenticate(token)
  }

  /** 403 `forbidden` naming the role needed and held, and an `admin_action_denied` record. */
  #forbid(req: IncomingMessage, res: ServerResponse, route: RouteSpec, p: Principal): false {
    const name = /^\/v1\/providers\/([^/]+)/.exec(new URL(req.url ?? '/', 'http://aggregator').pathname)?.[1]
    this.#o.rbac!.audit.denied(p, { via: { route: `${route.method === '*' ? req.method ?? 'GET' : route.method} ${route.path}` }, required: route.role, ...(name && { provider: name }) })
    const needs = route.role === 'signal' ? 'a signal token (sidecar ingest); no user role may call it' : `role ${route.role}`
    sendError(res, 403, 'forbidden', `Forbidden: ${route.method === '*' ? '' : `${route.method} `}${route.path} needs ${needs}; ${p.name} holds role ${p.role}`, { required_role: route.role, role: p.role })
    return false
  }

  /** @returns the bound port. @throws HangarError `HANGAR_LISTEN_FAILED` */
  listen(host: string, port: number): Promise<number> {
    return listen(this.server, { host, port })
  }

  /** Stops accepting, ends long polls and streams, closes idle connections. */
  async close(): Promise<void> {
    this.#o.policy.close()
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}
