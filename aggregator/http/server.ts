/**
 * The aggregator's HTTP listener (`aggregator.listen`, default 127.0.0.1:8000): routes of
 * docs/aggregator.md §API and who may call them.
 *
 * | route | token |
 * |---|---|
 * | `POST /v1/signals`, `POST /v1/sidecars/heartbeat`, `GET /v1/policy/{name}` | signal token only |
 * | `GET /v1/signals[/stream]`, `GET /v1/providers[/{name}]`, `GET /v1/providers/{name}/baseline`, `POST /v1/providers/{name}/quarantine\|approve`, `GET /v1/export`, `GET /v1/status` | admin token only |
 * | `/mcp` | admin token (or `aggregator.mcp_tokens`) |
 * | `GET /health`, `/ready`, `/metrics` | none |
 *
 * The classes do not overlap: an admin token is refused on the ingest endpoints (an admin must not
 * be able to forge audit records a SIEM trusts as sidecar output), and a signal token is refused
 * on queries, control and `/mcp` (a sidecar, or a provider that stole its token, must not read
 * the audit trail or lift its own quarantine). The config refuses a token listed in two classes.
 * An empty token list opens that class of endpoints (a loopback-only development setup; the
 * CLI warns when the listener is not loopback). A wrong or missing token, or one of the other
 * class → 401 and nothing is read or written.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { listen } from '../../core/listen.js'
import type { Logger } from '../../core/log.js'
import type { ExportSinkStatus } from '../../core/ports.js'
import { compileTokens, type TokenSet } from '../../core/http/auth.js'
import type { BaselineBook } from '../baselines.js'
import type { AggregatorMetrics } from '../metrics.js'
import type { PolicyBook } from '../policy.js'
import type { SidecarRegistry } from '../registry.js'
import type { AggregatorService } from '../service.js'
import { approve, getBaseline, getProvider, heartbeat, listProviders, policy, quarantine } from './control.js'
import { authorize, sendError, sendJson } from './reply.js'
import { getSignals, postSignals, streamSignals } from './signals.js'

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
  /** Serves `/mcp` (aggregator/mcp/endpoint.ts); undefined = 404. */
  mcp?: (req: IncomingMessage, res: ServerResponse) => Promise<void>
  /** False while starting or stopping → `/ready` 503. */
  ready(): boolean
  /** Every export sink's state (`GET /v1/export`); none when absent. */
  exportStatus?: () => ExportSinkStatus[]
  /** What runs with less than configured (`GET /v1/status`). */
  degraded?: () => readonly string[]
}

const PROVIDER_ROUTE = /^\/v1\/providers\/([A-Za-z0-9][A-Za-z0-9_-]{0,62})(?:\/(quarantine|approve|baseline))?$/
const POLICY_ROUTE = /^\/v1\/policy\/([A-Za-z0-9][A-Za-z0-9_-]{0,62})$/

export class AggregatorHttp {
  readonly server: Server
  readonly #o: AggregatorHttpOptions
  readonly #signal: TokenSet
  readonly #admin: TokenSet
  readonly #mcp: TokenSet

  constructor(o: AggregatorHttpOptions) {
    this.#o = o
    this.#admin = compileTokens(o.adminTokens)
    this.#signal = compileTokens(o.signalTokens)
    this.#mcp = o.adminTokens.length || o.mcpTokens?.length ? compileTokens([...o.adminTokens, ...(o.mcpTokens ?? [])]) : compileTokens([])
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

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.#o
    const url = new URL(req.url ?? '/', 'http://aggregator')
    const path = url.pathname
    const m = req.method ?? 'GET'
    const only = (method: string): boolean => {
      if (m === method) return true
      req.resume()
      sendError(res, 405, 'method_not_allowed', `${path} accepts ${method}`, {}, { Allow: method })
      return false
    }
    if (path === '/health') return only('GET') ? sendJson(res, 200, { status: 'ok' }) : undefined
    if (path === '/ready') return only('GET') ? (o.ready() ? sendJson(res, 200, { status: 'ready' }) : sendError(res, 503, 'unavailable', 'not ready')) : undefined
    if (path === '/metrics') {
      if (!only('GET')) return
      for (const s of ['ready', 'degraded', 'quarantined', 'unreachable']) o.metrics.providers.set({ state: s }, 0)
      for (const p of o.service.providers()) o.metrics.providers.inc({ state: p.state })
      const text = await o.metrics.registry.metrics()
      res.writeHead(200, { 'Content-Type': o.metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) })
      return void res.end(text)
    }
    if (path === '/v1/signals') {
      if (m === 'POST') {
        if (!this.#gate(req, res, this.#signal)) return void o.metrics.batches.inc({ outcome: 'unauthorized' })
        return postSignals(req, res, o.service, o.metrics, o.log)
      }
      if (!only('GET') || !this.#gate(req, res, this.#admin)) return
      return getSignals(res, url.searchParams, o.service)
    }
    if (path === '/v1/signals/stream') {
      if (!only('GET') || !this.#gate(req, res, this.#admin)) return
      return streamSignals(req, res, url.searchParams, o.service, o.metrics)
    }
    if (path === '/v1/export') {
      if (!only('GET') || !this.#gate(req, res, this.#admin)) return
      return sendJson(res, 200, { sinks: o.exportStatus?.() ?? [] })
    }
    if (path === '/v1/status') {
      if (!only('GET') || !this.#gate(req, res, this.#admin)) return
      const degraded = [...(o.degraded?.() ?? [])]
      return sendJson(res, 200, { status: degraded.length ? 'degraded' : 'ok', ready: o.ready(), degraded })
    }
    if (path === '/v1/sidecars/heartbeat') {
      if (!only('POST') || !this.#gate(req, res, this.#signal)) return
      return heartbeat(req, res, o.registry, o.baselines, o.metrics)
    }
    if (path === '/v1/providers') {
      if (!only('GET') || !this.#gate(req, res, this.#admin)) return
      return listProviders(res, o.service)
    }
    const pm = PROVIDER_ROUTE.exec(path)
    if (pm) {
      const [, name, action] = pm as unknown as [string, string, string | undefined]
      if (!action) return only('GET') && this.#gate(req, res, this.#admin) ? getProvider(res, name, o.service) : undefined
      if (action === 'baseline') return only('GET') && this.#gate(req, res, this.#admin) ? getBaseline(res, name, o.service) : undefined
      if (!only('POST') || !this.#gate(req, res, this.#admin)) return
      return action === 'quarantine' ? quarantine(req, res, name, o.service, o.metrics) : approve(req, res, name, o.service)
    }
    const pol = POLICY_ROUTE.exec(path)
    if (pol) {
      if (!only('GET') || !this.#gate(req, res, this.#signal)) return
      return policy(req, res, pol[1]!, url.searchParams, o.policy, o.metrics)
    }
    if (path === '/mcp' && o.mcp) {
      if (!this.#gate(req, res, this.#mcp)) return
      return o.mcp(req, res)
    }
    req.resume()
    sendError(res, 404, 'not_found', `no route ${m} ${path}`)
  }

  #gate(req: IncomingMessage, res: ServerResponse, tokens: TokenSet): boolean {
    if (authorize(req, res, tokens)) return true
    req.resume()
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
