/**
 * The ingress backend of `mode: remote`: each client HTTP request is forwarded to the provider's
 * Streamable HTTP endpoint and the answer is inspected on its way back, whether it is a JSON
 * body or an SSE stream. The provider owns the session (`Mcp-Session-Id` passes through), the
 * event ids (`Last-Event-ID` resumption works end to end) and the HTTP status codes; the
 * sidecar only removes or answers what its policy refuses.
 */
import type { ServerResponse } from 'node:http'
import type { Logger } from '../../core/log.js'
import type { ProxyMetrics } from '../../core/metrics.js'
import { classifyMessage } from '../http/jsonrpc.js'
import { httpError, json, jsonText } from '../../core/http/respond.js'
import { SseReader, SseWriter } from '../../core/http/sse.js'
import type { Inspector } from '../inspect/inspector.js'
import type { McpTracer } from '../trace/tracer.js'
import { cancelOnClientClose, type Cancel } from '../upstream/cancel.js'
import type { RemoteUpstream, UpstreamResponse } from '../upstream/remote.js'
import { emptyInspectedPost, inspectPost, settle, settleAll, type InspectedPost } from './client-batch.js'
import { listAllTools } from '../list-tools.js'
import type { IngressBackend, IngressRequest, PostBody } from './backend.js'
import { isResponse, mayUseSession, RPC, rpcError, sessionOwner, type CallContext, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '../types.js'

export interface RemoteBackendOptions {
  provider: string
  upstream: RemoteUpstream
  inspector: Inspector
  log: Logger
  metrics?: ProxyMetrics
  /** A POST's stream is ended with JSON-RPC errors for what is still unanswered after this, ms. */
  requestTimeoutMs: number
  /** SSE comment keepalive towards the client, ms. */
  keepaliveMs?: number
  /** Request spans (proxy/trace/); undefined = tracing off. */
  tracer?: McpTracer
}

/** The hangar's own request ids (tools/list fetches) never collide with a client's. */
let ownIds = 0

/** Sessions whose verified owner a remote backend remembers. */
const MAX_OWNED_SESSIONS = 100_000

export class RemoteBackend implements IngressBackend {
  readonly #sessions = new Set<string>()
  /** Per session, the headers of its latest request: the sidecar's own tools/list uses them. */
  readonly #lastHeaders = new Map<string, Record<string, string>>()
  /**
   * The verified caller that opened each session (`sessionOwner`): only it may use the session.
   * At most {@link MAX_OWNED_SESSIONS}, the oldest forgotten first (a forgotten session is then
   * bound to no one, as without identity).
   */
  readonly #owners = new Map<string, string>()

  constructor(private readonly o: RemoteBackendOptions) {}

  get sessions(): number {
    return this.#sessions.size
  }

  /** False (and a 404 sent) when the request names a session a different verified caller opened. */
  #mayUse(r: IngressRequest): boolean {
    const sid = r.ctx.sessionId
    if (sid === undefined || mayUseSession(this.#owners.get(sid), r.ctx)) return true
    this.o.log.info({ provider: this.o.provider, session: sid, caller: r.ctx.caller, caller_verified: r.ctx.callerVerified === true }, 'session used by another caller than the verified one that opened it: refused as not found')
    httpError(r.res, 404, RPC.INVALID_REQUEST, 'session not found (it ended or never existed): initialize again')
    return false
  }

  async post(r: IngressRequest, body: PostBody): Promise<void> {
    if (!this.#mayUse(r)) return
    const { inspector } = this.o
    const headers = this.o.upstream.headersFor(r.req.headers)
    if (r.ctx.sessionId) this.#lastHeaders.set(r.ctx.sessionId, headers)
    const insp = await inspectPost(inspector, body.messages, body.invalid, r.ctx, this.o.tracer?.scope(r))
    if (insp.forward.length === 0) return this.#answerAlone(r.res, body.batch, insp)
    // Always the re-serialised messages, never the raw bytes: with duplicate keys the provider's
    // JSON parser might read another value than the one inspected (JSON.parse: last one wins).
    const payload = JSON.stringify(body.batch ? insp.forward : insp.forward[0])
    let up: UpstreamResponse
    const abort = cancelOnClientClose(r.res)
    try {
      up = await this.o.upstream.request('POST', headers, payload, abort)
    } catch (err) {
      this.#finishAll(insp, abort.aborted ? 'cancelled' : 'unavailable')
      return this.#upstreamFailed(r.res, err)
    }
    const sid = up.headers['mcp-session-id']
    if (sid && !this.#sessions.has(sid)) {
      this.#sessions.add(sid)
      this.o.metrics?.sessions.inc({ provider: this.o.provider })
      const owner = sessionOwner(r.ctx)
      if (owner !== undefined && !r.ctx.sessionId) {
        if (this.#owners.size >= MAX_OWNED_SESSIONS) this.#owners.delete(this.#owners.keys().next().value!)
        this.#owners.set(sid, owner)
      }
    }
    if (sid && !r.ctx.sessionId) for (const span of insp.spans.values()) span.setSession(sid)
    const ctx: CallContext = sid && !r.ctx.sessionId ? { ...r.ctx, sessionId: sid } : r.ctx
    const type = up.headers['content-type'] ?? ''
    const bodiless = up.status === 202 || up.status === 204
    if (up.status < 200 || up.status >= 300 || bodiless || (!type.startsWith('text/event-stream') && !type.startsWith('application/json'))) {
      // Not a JSON-RPC answer (202/204 for notifications and responses, whatever Content-Type
      // the provider put on them; 4xx/5xx): passed through untouched.
      this.#finishAll(insp, up.status >= 300 ? String(up.status) : 'unavailable')
      if (insp.replies.length > 0 && up.status === 202) {
        await up.body.dump()
        return json(r.res, 200, body.batch ? insp.replies : insp.replies[0], passHeaders(up))
      }
      return pipeThrough(r.res, up)
    }
    if (type.startsWith('application/json')) return this.#jsonAnswer(r.res, up, body.batch, insp, ctx)
    return this.#sseAnswer(r.res, up, insp, ctx, abort)
  }

  async get(r: IngressRequest): Promise<void> {
    if (!this.#mayUse(r)) return
    const abort = cancelOnClientClose(r.res)
    let up: UpstreamResponse
    try {
      up = await this.o.upstream.request('GET', this.o.upstream.headersFor(r.req.headers), undefined, abort)
    } catch (err) {
      return this.#upstreamFailed(r.res, err)
    }
    if (up.status !== 200 || !(up.headers['content-type'] ?? '').startsWith('text/event-stream')) return pipeThrough(r.res, up)
    return this.#sseAnswer(r.res, up, emptyInspectedPost(), r.ctx, abort)
  }

  async delete(r: IngressRequest): Promise<void> {
    if (!this.#mayUse(r)) return
    let up: UpstreamResponse
    try {
      up = await this.o.upstream.request('DELETE', this.o.upstream.headersFor(r.req.headers), undefined)
    } catch (err) {
      return this.#upstreamFailed(r.res, err)
    }
    const sid = r.ctx.sessionId
    if (sid && up.status >= 200 && up.status < 300 && this.#sessions.delete(sid)) this.o.metrics?.sessions.dec({ provider: this.o.provider })
    if (sid) this.#lastHeaders.delete(sid)
    if (sid && up.status >= 200 && up.status < 300) this.#owners.delete(sid)
    return pipeThrough(r.res, up)
  }

  /**
   * The provider's current tools, every page, fetched within the client's session (the
   * Inspector's `toolsSource`: a tools/call named a tool whose definition was never seen).
   */
  async listTools(ctx: CallContext): Promise<unknown[]> {
    const last = ctx.sessionId ? this.#lastHeaders.get(ctx.sessionId) : undefined
    const headers = { ...last, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    return listAllTools(async (cursor) => {
      const id = `hangar-tools-${++ownIds}`
      const req: JsonRpcRequest = { jsonrpc: '2.0', id, method: 'tools/list', ...(cursor !== undefined && { params: { cursor } }) }
      const msg = await responseFrom(await this.o.upstream.request('POST', headers, JSON.stringify(req)), id)
      return msg && 'result' in msg ? msg.result : {}
    })
  }

  async close(): Promise<void> {
    await this.o.upstream.close()
  }

  #answerAlone(res: ServerResponse, batch: boolean, insp: InspectedPost): void {
    if (insp.replies.length === 0) return void res.writeHead(202).end()
    json(res, 200, batch ? insp.replies : insp.replies[0])
  }

  #upstreamFailed(res: ServerResponse, err: unknown): void {
    const e = err as { code?: string; name?: string; message?: string }
    if (res.headersSent || res.destroyed) return void res.destroy()
    const timeout = e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT'
    this.o.log.warn({ provider: this.o.provider, err: e.message, code: e.code }, 'remote provider unreachable')
    httpError(res, timeout ? 504 : 502, RPC.PROVIDER_UNAVAILABLE, `provider ${this.o.provider} is unreachable: ${e.code ?? e.message ?? 'error'}`)
  }

  /**
   * Inspects one provider message. `rewrite`: send the re-serialised message rather than the
   * provider's bytes (it changed, or it is one the client must read exactly as inspected).
   */
  #inspectServer(msg: JsonRpcMessage, insp: InspectedPost, ctx: CallContext): { out: JsonRpcMessage; rewrite: boolean } {
    const request = isResponse(msg) && msg.id !== null ? insp.requests.get(msg.id) : undefined
    const out = this.o.inspector.onServerMessage(msg, request, ctx)
    const rewrite = out !== msg || request?.method === 'tools/list'
    if (isResponse(msg) && msg.id !== null) settle(insp, msg.id, out as JsonRpcResponse)
    return { out, rewrite }
  }

  async #jsonAnswer(res: ServerResponse, up: UpstreamResponse, batch: boolean, insp: InspectedPost, ctx: CallContext): Promise<void> {
    const raw = await up.body.text()
    let value: unknown
    try {
      value = JSON.parse(raw)
    } catch {
      this.#finishAll(insp, 'invalid_response')
      return httpError(res, 502, RPC.PROVIDER_UNAVAILABLE, `provider ${this.o.provider} sent a body that is not JSON`)
    }
    const items = Array.isArray(value) ? value : [value]
    let changed = insp.replies.length > 0
    const out: unknown[] = []
    for (const item of items) {
      const msg = classifyMessage(item)
      if (!msg.ok) {
        out.push(item)
        continue
      }
      const inspected = this.#inspectServer(msg.message, insp, ctx)
      if (inspected.rewrite) changed = true
      out.push(inspected.out)
    }
    this.#finishAll(insp)
    if (!changed) return jsonText(res, up.status, raw, passHeaders(up))
    out.push(...insp.replies)
    json(res, up.status, batch || out.length > 1 ? out : out[0], passHeaders(up))
  }

  async #sseAnswer(res: ServerResponse, up: UpstreamResponse, insp: InspectedPost, ctx: CallContext, abort: Cancel): Promise<void> {
    const w = new SseWriter(res, { keepaliveMs: this.o.keepaliveMs ?? 15_000 })
    w.open(passHeaders(up))
    for (const reply of insp.replies) w.event({ data: JSON.stringify(reply) })
    const timer = insp.tickets.size > 0 || insp.requests.size > 0
      ? setTimeout(() => {
          for (const [id, t] of insp.tickets) {
            t.finish(undefined, 'timeout')
            w.event({ data: JSON.stringify(rpcError(id, RPC.PROVIDER_UNAVAILABLE, `provider ${this.o.provider} did not answer within ${this.o.requestTimeoutMs} ms`)) })
          }
          insp.tickets.clear()
          settleAll(insp, 'timeout')
          abort.abort()
        }, this.o.requestTimeoutMs)
      : undefined
    try {
      for await (const ev of new SseReader(up.body)) {
        let data = ev.data
        if (data !== '') {
          let value: unknown
          try {
            value = JSON.parse(data)
          } catch {
            value = undefined
          }
          const msg = value === undefined ? undefined : classifyMessage(value)
          if (msg?.ok) {
            const inspected = this.#inspectServer(msg.message, insp, ctx)
            if (inspected.rewrite) data = JSON.stringify(inspected.out)
          }
        }
        if (!w.event({ ...(ev.id !== undefined && { id: ev.id }), ...(ev.event !== undefined && { event: ev.event }), ...(ev.retry !== undefined && { retry: ev.retry }), data })) {
          await w.drained()
        }
      }
    } catch (err) {
      if (!abort.aborted) this.o.log.warn({ provider: this.o.provider, err: (err as Error).message }, 'provider stream failed')
    } finally {
      if (timer) clearTimeout(timer)
      this.#finishAll(insp, abort.aborted ? 'cancelled' : 'unavailable')
      w.close()
    }
  }

  /**
   * Requests whose response never came (stream ended, provider failed, client gone): tool calls'
   * outcome `unavailable`; spans end with `spanFailure` as `error.type`.
   */
  #finishAll(insp: InspectedPost, spanFailure = 'unavailable'): void {
    settleAll(insp, 'unavailable', spanFailure)
  }
}

function passHeaders(up: UpstreamResponse): Record<string, string> {
  const h: Record<string, string> = {}
  for (const [k, v] of Object.entries(up.headers)) if (k !== 'content-type' && k !== 'cache-control') h[k] = v
  return h
}

/** Streams a provider response to the client unchanged (status, the passed headers, body). */
async function pipeThrough(res: ServerResponse, up: UpstreamResponse): Promise<void> {
  res.writeHead(up.status, up.headers)
  try {
    for await (const chunk of up.body) if (!res.write(chunk)) await new Promise((ok) => res.once('drain', ok))
  } catch {
    /* client or provider went away */
  }
  res.end()
}

/** The response with `id` in a JSON or SSE answer. */
async function responseFrom(up: UpstreamResponse, id: string): Promise<JsonRpcResponse | undefined> {
  const type = up.headers['content-type'] ?? ''
  const pick = (v: unknown): JsonRpcResponse | undefined => {
    for (const item of Array.isArray(v) ? v : [v]) {
      const m = classifyMessage(item)
      if (m.ok && isResponse(m.message) && m.message.id === id) return m.message
    }
    return undefined
  }
  if (type.startsWith('application/json')) return pick(JSON.parse(await up.body.text()))
  if (!type.startsWith('text/event-stream')) {
    await up.body.dump()
    return undefined
  }
  for await (const ev of new SseReader(up.body)) {
    try {
      const found = pick(JSON.parse(ev.data))
      if (found) {
        await up.body.dump().catch(() => undefined)
        return found
      }
    } catch {
      /* not JSON: skip */
    }
  }
  return undefined
}
