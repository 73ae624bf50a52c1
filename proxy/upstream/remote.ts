/**
 * `mode: remote`: the provider is another Streamable HTTP server (`endpoint`). The sidecar
 * forwards each client HTTP request to it over a keep-alive undici pool and hands the response
 * back for inspection. Sessions pass through: `Mcp-Session-Id` is the provider's own.
 *
 * Headers forwarded (MCP Streamable HTTP, spec 2025-06-18 / 2025-11-25 "Transports"):
 * Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, traceparent,
 * tracestate, User-Agent, and Authorization unless the ingress itself checks bearer tokens (then
 * the token was for the sidecar, not for the provider). Hop-by-hop headers (RFC 9110 §7.6.1)
 * are never forwarded.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { Pool, type Dispatcher } from 'undici'
import type { Cancel } from './cancel.js'

/** Request headers passed to the provider. */
const FORWARDED = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'traceparent', 'tracestate', 'user-agent'] as const

/** Response headers passed back to the client (everything else is the sidecar's to set). */
export const RESPONSE_HEADERS = ['content-type', 'mcp-session-id', 'cache-control', 'www-authenticate', 'retry-after', 'allow'] as const

export interface RemoteUpstreamOptions {
  /** The provider's Streamable HTTP URL (`providers.<name>.endpoint`). */
  endpoint: string
  /** Forward the client's `Authorization` header (false when the ingress authenticates clients itself). */
  forwardAuthorization: boolean
  /** Connections kept to the provider. Default 64. */
  connections?: number
  /** Time to the response headers, ms. Default 30000. */
  headersTimeoutMs?: number
  /** Time to connect, ms. Default 10000. */
  connectTimeoutMs?: number
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string>
  body: Dispatcher.ResponseData['body']
}

/** One keep-alive pool to the remote provider. */
export class RemoteUpstream {
  readonly #pool: Pool
  readonly #path: string
  readonly #forwardAuth: boolean

  constructor(opts: RemoteUpstreamOptions) {
    const url = new URL(opts.endpoint)
    this.#path = `${url.pathname}${url.search}`
    this.#forwardAuth = opts.forwardAuthorization
    this.#pool = new Pool(url.origin, {
      connections: opts.connections ?? 64,
      pipelining: 1,
      headersTimeout: opts.headersTimeoutMs ?? 30_000,
      // Streams (SSE) stay open as long as the provider keeps them; JSON-RPC timeouts are ours.
      bodyTimeout: 0,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      keepAliveTimeout: 30_000,
    })
  }

  /** The headers sent upstream for a client request. */
  headersFor(client: IncomingHttpHeaders, extra?: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {}
    for (const h of FORWARDED) {
      const v = client[h]
      if (typeof v === 'string') out[h] = v
    }
    if (this.#forwardAuth && typeof client.authorization === 'string') out.authorization = client.authorization
    if (extra) Object.assign(out, extra)
    return out
  }

  /**
   * Sends one request to the provider.
   * @param body the (possibly rewritten) JSON body of a POST
   * @param signal aborts the request and its body (client went away; proxy/upstream/cancel.ts)
   * @throws undici errors (connect refused, timeouts): the caller answers 502/504
   */
  async request(method: 'POST' | 'GET' | 'DELETE', headers: Record<string, string>, body: Buffer | string | undefined, signal?: Cancel): Promise<UpstreamResponse> {
    const r = await this.#pool.request({ path: this.#path, method, headers, body, signal })
    const h: Record<string, string> = {}
    for (const k of RESPONSE_HEADERS) {
      const v = r.headers[k]
      if (typeof v === 'string') h[k] = v
      else if (Array.isArray(v)) h[k] = v.join(', ')
    }
    return { status: r.statusCode, headers: h, body: r.body }
  }

  async close(): Promise<void> {
    await this.#pool.close().catch(() => undefined)
  }
}
