/**
 * The sidecar's admin listener (`sidecar.admin`, :9901, loopback by default):
 * - `GET /health` — 200 while the process runs (liveness);
 * - `GET /ready` — 200 once every listener is bound and not shutting down, else 503;
 * - `GET /metrics` — Prometheus text format (prom-client);
 * - `GET /v1/status` — provider, enforcement mode, quarantine state, bound listeners (JSON);
 * - `GET /v1/baseline` — the provider's behavioral baseline (`hangar.baseline/v1`,
 *   policy/baseline-schema.ts); 404 when the sidecar records none (`sidecar.baseline.enabled:
 *   false`). It names destinations, tools and argument keys, so it needs the bearer token when
 *   admin tokens are configured;
 * - `POST /v1/quarantine {"reason": string}` / `POST /v1/release {"reason"?: string}` — switch
 *   quarantine at run time. When admin tokens are configured these need `Authorization: Bearer`.
 */
import { listen } from '../core/listen.js'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { compileTokens, checkBearer, type TokenSet } from '../core/http/auth.js'
import { apiJson as send } from '../core/http/respond.js'
import type { Registry } from 'prom-client'
import type { QuarantineSwitch } from '../policy/quarantine.js'

export interface AdminHooks {
  registry: Registry
  enforcement: QuarantineSwitch
  ready(): boolean
  status(): Record<string, unknown>
  /** Bearer tokens accepted on POST endpoints and `GET /v1/baseline`; empty = no token needed (bind to loopback!). */
  tokens: readonly string[]
  /** The current baseline document; undefined = `GET /v1/baseline` answers 404. */
  baseline?: () => unknown
}

const MAX_BODY_BYTES = 16 * 1024

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim()
      if (text === '') return resolve({})
      try {
        const v = JSON.parse(text) as unknown
        if (v && typeof v === 'object' && !Array.isArray(v)) resolve(v as Record<string, unknown>)
        else reject(new Error('expected a JSON object'))
      } catch {
        reject(new Error('malformed JSON'))
      }
    })
    req.on('error', reject)
  })
}

export class AdminServer {
  readonly server: Server
  readonly #tokens: TokenSet

  constructor(private readonly hooks: AdminHooks) {
    this.#tokens = compileTokens(hooks.tokens)
    this.server = createServer((req, res) => void this.#handle(req, res).catch((err: Error) => send(res, 500, { error: err.message })))
    this.server.headersTimeout = 5000
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    const h = this.hooks
    if (req.method === 'GET' && path === '/health') return send(res, 200, { status: 'ok' })
    if (req.method === 'GET' && path === '/ready') return h.ready() ? send(res, 200, { status: 'ready' }) : send(res, 503, { status: 'not ready' })
    if (req.method === 'GET' && path === '/metrics') {
      const text = await h.registry.metrics()
      res.writeHead(200, { 'Content-Type': h.registry.contentType })
      res.end(text)
      return
    }
    if (req.method === 'GET' && path === '/v1/status') return send(res, 200, h.status())
    if (req.method === 'GET' && path === '/v1/baseline') {
      if (!checkBearer(this.#tokens, req.headers.authorization).ok) return send(res, 401, { error: 'missing or wrong bearer token' })
      if (!h.baseline) return send(res, 404, { error: 'this sidecar records no baseline (sidecar.baseline.enabled: false)' })
      return send(res, 200, h.baseline())
    }
    if (req.method === 'POST' && (path === '/v1/quarantine' || path === '/v1/release')) {
      if (!checkBearer(this.#tokens, req.headers.authorization).ok) return send(res, 401, { error: 'missing or wrong bearer token' })
      let body: Record<string, unknown>
      try {
        body = await readJson(req)
      } catch (err) {
        return send(res, 400, { error: (err as Error).message })
      }
      const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.trim().slice(0, 500) : undefined
      if (path === '/v1/quarantine') {
        if (!reason) return send(res, 400, { error: 'field "reason" (string) is required' })
        const changed = h.enforcement.quarantine(reason, 'api')
        return send(res, 200, { quarantined: true, changed })
      }
      const changed = h.enforcement.release(reason ?? 'released by the admin API', 'api')
      return send(res, 200, { quarantined: false, changed })
    }
    send(res, 404, { error: `no route ${req.method} ${path}` })
  }

  /** @returns the bound port. @throws HangarError `HANGAR_LISTEN_FAILED` */
  listen(host: string, port: number): Promise<number> {
    return listen(this.server, { host, port })
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((r) => this.server.close(() => r()))
  }
}
