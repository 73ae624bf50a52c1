/**
 * The MCP ingress of one provider (`providers.<name>.listen`): MCP Streamable HTTP (spec
 * 2025-06-18 and 2025-11-25, "Transports"). It does the HTTP-level checks in the order a
 * request meets them, then hands the request to the provider's backend:
 *
 * 1. path (`/mcp`) → 404;
 * 2. `Origin` (DNS-rebinding protection, the spec's "Security Warning") → 403; an allowed
 *    `Origin` gets CORS: a preflight is answered 204 here, other responses carry
 *    `Access-Control-Allow-Origin` (proxy/http/cors.ts);
 * 3. bearer token, when `ingress.auth_tokens` or `ingress.auth.oidc` is set → 401 with
 *    `WWW-Authenticate: Bearer` (RFC 6750 §3). With `ingress.auth.oidc` a token is accepted when it
 *    equals an `auth_tokens` entry (the caller is then named as without identity, unverified) or
 *    when the identity module verifies it as a JWT of a configured issuer (the caller is its
 *    verified subject, with its groups and claims); a refused JWT answers `error="invalid_token"`
 *    with an `error_description` naming why (docs/identity.md);
 * 4. method: POST, GET, DELETE; anything else → 405 with `Allow`;
 * 5. `Mcp-Session-Id` syntax and `MCP-Protocol-Version` → 400; `Accept` → 406;
 * 6. POST: `Content-Type` → 415, body size → 413, JSON (depth-limited) → 400 with -32700,
 *    JSON-RPC shape → 400 with -32600 when nothing in the body is valid.
 *
 * Every refusal has a JSON-RPC error body (id null), as the MCP SDK's own server answers.
 * Node's HTTP parser (llhttp) already refuses conflicting Content-Length/Transfer-Encoding
 * (RFC 9112 §6.3) with 400 before any of this runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { IngressConfig } from '../../config/schema.js'
import type { IngressRejectReason } from '../../core/errors.js'
import { listen } from '../../core/listen.js'
import type { Logger } from '../../core/log.js'
import type { ProxyMetrics } from '../../core/metrics.js'
import { bearerToken, callerOf, checkBearer, compileTokens, invalidToken, MISSING_BEARER, tokenMatches, type TokenSet } from '../../core/http/auth.js'
import type { TokenVerifier, VerifiedCaller } from '../../core/ports.js'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { BodyError, checkContentEncoding, checkContentType, readBody } from '../../core/http/body.js'
import { corsResponseHeaders, preflight } from '../http/cors.js'
import { checkAccept, checkProtocolVersion, checkSessionId } from '../http/headers.js'
import { parseBody } from '../http/jsonrpc.js'
import { checkOrigin, compileOrigins, type OriginPolicy } from '../http/origin.js'
import { httpError, refusal, refuse, type Refusal } from '../../core/http/respond.js'
import { RPC, type CallContext } from '../types.js'
import type { IngressBackend, IngressRequest } from './backend.js'

export interface IngressServerOptions {
  provider: string
  ingress: IngressConfig
  backend: IngressBackend
  log: Logger
  metrics?: ProxyMetrics
  /** The MCP endpoint path. Default `/mcp`. */
  path?: string
  /**
   * The bearer-JWT verifier of `ingress.auth.oidc` (built by the identity module). Required when
   * `ingress.auth` is set, ignored otherwise.
   */
  verifier?: TokenVerifier
}

/** One provider's MCP Streamable HTTP listener. */
export class IngressServer {
  readonly #server: Server
  readonly #origins: OriginPolicy
  readonly #tokens: TokenSet
  readonly #path: string
  readonly #verifier: TokenVerifier | undefined

  constructor(private readonly o: IngressServerOptions) {
    if (o.ingress.auth && !o.verifier) {
      throw new HangarError(ERROR_CODES.CONFIG_INVALID, `providers.${o.provider}.ingress.auth: bearer JWTs cannot be verified without the identity module`)
    }
    this.#verifier = o.ingress.auth ? o.verifier : undefined
    this.#origins = compileOrigins(o.ingress.allowed_origins)
    this.#tokens = compileTokens(o.ingress.auth_tokens)
    this.#path = o.path ?? '/mcp'
    this.#server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#crashed(res, err))
    })
    this.#server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      else socket.destroy()
    })
  }

  /**
   * Binds the listener.
   * @returns the bound port
   * @throws HangarError `HANGAR_LISTEN_FAILED`
   */
  listen(host: string, port: number): Promise<number> {
    return listen(this.#server, { host, port, what: `MCP ingress of ${this.o.provider}` })
  }

  async close(): Promise<void> {
    await new Promise<void>((done) => {
      this.#server.close(() => done())
      this.#server.closeAllConnections()
    })
  }

  #refuse(res: ServerResponse, r: Refusal): void {
    this.o.metrics?.ingressRejected.inc({ provider: this.o.provider, reason: r.reason })
    refuse(res, r)
  }

  #reject(res: ServerResponse, reason: IngressRejectReason, status: number, code: number, message: string, headers?: Record<string, string>): void {
    this.#refuse(res, refusal(status, reason, message, headers, code))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if ((q < 0 ? url : url.slice(0, q)) !== this.#path) return this.#reject(res, 'bad_request', 404, RPC.INVALID_REQUEST, `not found: the MCP endpoint is ${this.#path}`)
    const origin = checkOrigin(this.#origins, req.headers.origin)
    if (!origin.ok) return this.#refuse(res, origin)
    if (req.headers.origin !== undefined) {
      // Before authentication: browsers send preflights without credentials (Fetch, "CORS protocol").
      const pre = preflight(req.method ?? '', req.headers.origin, headerValue(req, 'access-control-request-method'), headerValue(req, 'access-control-request-headers'))
      if (pre) return void res.writeHead(pre.status, pre.headers).end()
      const cors = corsResponseHeaders(req.headers.origin)
      for (const k in cors) res.setHeader(k, cors[k]!)
    }
    let verified: VerifiedCaller | undefined
    if (this.#verifier) {
      const token = bearerToken(req.headers.authorization)
      if (token === undefined) {
        const bare = req.headers.authorization?.trim().toLowerCase() === 'bearer'
        return this.#refuse(res, bare ? invalidToken('the bearer token is empty') : MISSING_BEARER)
      }
      if (!tokenMatches(this.#tokens, token)) {
        const v = await this.#verifier.verify(token)
        if (!v.ok) return this.#refuse(res, invalidToken(v.description))
        verified = v.caller
      }
    } else {
      const auth = checkBearer(this.#tokens, req.headers.authorization)
      if (!auth.ok) return this.#refuse(res, auth)
    }
    const method = req.method ?? ''
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return this.#reject(res, 'bad_request', 405, RPC.INVALID_REQUEST, `method ${method} not allowed`, { Allow: 'GET, POST, DELETE' })
    }
    const sid = headerValue(req, 'mcp-session-id')
    const sidCheck = checkSessionId(sid)
    if (!sidCheck.ok) return this.#refuse(res, sidCheck)
    const pv = checkProtocolVersion(headerValue(req, 'mcp-protocol-version'))
    if (!pv.ok) return this.#refuse(res, pv)
    const accept = checkAccept(method, req.headers.accept)
    if (!accept.ok) return this.#refuse(res, accept)
    if (method === 'POST') {
      const ct = checkContentType(req.headers['content-type'])
      if (!ct.ok) return this.#refuse(res, ct)
      const ce = checkContentEncoding(req.headers['content-encoding'])
      if (!ce.ok) return this.#refuse(res, ce)
    }

    const ctx: CallContext = {}
    if (sid !== undefined) ctx.sessionId = sid
    if (verified) {
      ctx.caller = verified.subject
      ctx.callerVerified = true
      ctx.callerIssuer = verified.issuer
      if (verified.groups.length > 0) ctx.callerGroups = verified.groups
      if (Object.keys(verified.claims).length > 0) ctx.callerClaims = verified.claims
    } else {
      const caller = callerOf(req.headers)
      if (caller !== undefined) ctx.caller = caller
    }
    const r: IngressRequest = { req, res, ctx, protocolVersion: pv.version }
    if (method === 'GET') return this.o.backend.get(r)
    if (method === 'DELETE') return this.o.backend.delete(r)

    let raw: Buffer
    try {
      raw = await readBody(req, this.o.ingress.max_body_bytes)
    } catch (err) {
      if (err instanceof BodyError) return this.#refuse(res, err.refusal)
      throw err
    }
    const parsed = parseBody(raw.toString('utf8'), this.o.ingress.max_json_depth)
    if (!parsed.ok) return this.#reject(res, 'bad_request', 400, parsed.error.error.code, parsed.error.error.message)
    if (parsed.messages.length === 0) {
      const first = parsed.invalid[0]
      return this.#reject(res, 'bad_request', 400, first?.error.code ?? RPC.INVALID_REQUEST, first?.error.message ?? 'empty batch')
    }
    this.o.metrics?.mcpMessages.inc({ provider: this.o.provider, direction: 'client_to_server' }, parsed.messages.length)
    return this.o.backend.post(r, { raw, batch: parsed.batch, messages: parsed.messages, invalid: parsed.invalid })
  }

  #crashed(res: ServerResponse, err: unknown): void {
    this.o.log.error({ provider: this.o.provider, err: (err as Error).message, stack: (err as Error).stack }, 'MCP ingress request failed')
    if (!res.headersSent && !res.destroyed) httpError(res, 500, RPC.INTERNAL_ERROR, 'internal error in the sidecar')
    else res.destroy()
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}
