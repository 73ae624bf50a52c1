/**
 * The ingress backend of `mode: subprocess`: the sidecar is the Streamable HTTP server and the
 * provider a stdio child (proxy/stdio/provider.ts). The sidecar issues the session ids, answers
 * `initialize` from the provider's own InitializeResult, and streams each POST's answers as SSE
 * (spec 2025-06-18 "Sending Messages to the Server": the server MAY answer a POST with an SSE
 * stream carrying the responses and the messages related to its requests), with event ids for
 * `Last-Event-ID` resumption (proxy/http/event-store.ts).
 *
 * `session_mode: shared`: one process, every session multiplexed over it (proxy/mux/shared.ts).
 * `session_mode: per_session`: one process per session (at most `max_sessions`), started with the
 * client's own `initialize` parameters, stopped when the session is deleted.
 */
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Logger } from '../../core/log.js'
import type { ProxyMetrics } from '../../core/metrics.js'
import { EventStore } from '../http/event-store.js'
import { httpError, json } from '../../core/http/respond.js'
import { SseWriter } from '../../core/http/sse.js'
import type { CallTicket, Inspector } from '../inspect/inspector.js'
import { SharedMux, type MuxClient } from '../mux/shared.js'
import type { StdioProvider } from '../stdio/provider.js'
import type { McpTracer, RequestSpan } from '../trace/tracer.js'
import {
  isRequest,
  isResponse,
  RPC,
  SUPPORTED_PROTOCOL_VERSIONS,
  rpcError,
  mayUseSession,
  requestContext,
  sessionOwner,
  type CallContext,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../types.js'
import type { IngressBackend, IngressRequest, PostBody } from './backend.js'
import { inspectPost, settle, settleAll } from './client-batch.js'

/**
 * `retry:` of the priming event, ms: how long a client waits before it reconnects with
 * Last-Event-ID after a dropped stream (spec 2025-11-25: the server SHOULD send it).
 */
export const SSE_RETRY_MS = 1000

/**
 * The protocol version a client session gets (spec "Lifecycle/Version Negotiation": a server that
 * supports the requested version MUST answer with it). The provider negotiated its version with
 * the sidecar (in shared mode, once for all sessions), so the client gets the version it asked for
 * when the sidecar's ingress speaks it and it is not newer than the provider's; otherwise the
 * provider's. Versions are dates: string order is time order.
 */
export function clientVersion(requested: string, provider: string): string {
  return (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(requested) && requested <= provider ? requested : provider
}

/** `initialize` params as a client sends them (MCP "Lifecycle/Initialization"). */
export interface InitializeParams {
  protocolVersion: string
  capabilities: Record<string, unknown>
  clientInfo: { name: string; version: string }
}

export interface StdioBackendOptions {
  provider: string
  sessionMode: 'shared' | 'per_session'
  maxSessions: number
  /**
   * Creates a provider process object (not started). `shared`: called once, with undefined (the
   * sidecar's own initialize parameters). `per_session`: once per session with the client's.
   */
  createProvider(init: InitializeParams | undefined): StdioProvider
  inspector: Inspector
  log: Logger
  metrics?: ProxyMetrics
  requestTimeoutMs: number
  /** Events kept per session for Last-Event-ID. */
  replayEvents: number
  keepaliveMs?: number
  /** Request spans (proxy/trace/); undefined = tracing off. */
  tracer?: McpTracer
}

/** A POST's SSE answer: open until every forwarded request has its response. */
interface PostStream {
  id: string
  writer: SseWriter | undefined
  /** Client request ids still unanswered. */
  open: Set<JsonRpcId>
  requests: Map<JsonRpcId, JsonRpcRequest>
  tickets: Map<JsonRpcId, CallTicket>
  /** Open request spans (empty when tracing is off). */
  spans: Map<JsonRpcId, RequestSpan>
  timers: Map<JsonRpcId, NodeJS.Timeout>
  releases: Map<JsonRpcId, () => void>
  /** The context of the POST (its caller decides what its answers may show: tools/list). */
  ctx: CallContext
}

/** The process (and multiplexer) a session runs on. */
interface Runner {
  provider: StdioProvider
  mux: SharedMux
}

class Session implements MuxClient {
  readonly streams = new Map<JsonRpcId, PostStream>()
  standalone: SseWriter | undefined
  readonly events: EventStore
  readonly ctx: CallContext
  /** The protocol version agreed in this session's `initialize` (the result the client received). */
  protocolVersion = ''
  /** The verified caller that opened the session (`sessionOwner`); only it may use the session. */
  owner: string | undefined

  constructor(
    readonly sessionId: string,
    readonly capabilities: Record<string, unknown>,
    readonly runner: Runner,
    private readonly backend: StdioBackend,
    replayEvents: number,
  ) {
    this.events = new EventStore(replayEvents)
    this.ctx = { sessionId }
  }

  deliver(msg: JsonRpcMessage, related: JsonRpcId | undefined): void {
    this.backend.deliver(this, msg, related)
  }
}

export class StdioBackend implements IngressBackend {
  readonly #sessions = new Map<string, Session>()
  /** per_session initializes under way (their process is starting): they count for max_sessions. */
  #opening = 0
  #shared: Runner | undefined

  constructor(private readonly o: StdioBackendOptions) {}

  get sessions(): number {
    return this.#sessions.size
  }

  /** Every process this backend runs (one in shared mode). */
  get providers(): StdioProvider[] {
    if (this.#shared) return [this.#shared.provider]
    return [...new Set([...this.#sessions.values()].map((s) => s.runner.provider))]
  }

  #runner(init: InitializeParams | undefined): Runner {
    if (this.o.sessionMode === 'shared' && this.#shared) return this.#shared
    const provider = this.o.createProvider(this.o.sessionMode === 'shared' ? undefined : init)
    const mux = new SharedMux(provider, this.o.log)
    provider.on('message', (m: JsonRpcMessage) => {
      this.o.metrics?.mcpMessages.inc({ provider: this.o.provider, direction: 'server_to_client' })
      mux.fromServer(m)
    })
    provider.on('exit', (e: { expected: boolean; code: number | null; signal: string | null; stderrTail?: string[] }) => {
      if (e.expected && mux.inFlight === 0) return
      const why = `provider ${this.o.provider} exited (${e.signal ?? `code ${e.code}`})${e.stderrTail?.length ? `: ${e.stderrTail.at(-1)}` : ''}`
      mux.failAll(RPC.PROVIDER_UNAVAILABLE, why)
    })
    const r = { provider, mux }
    if (this.o.sessionMode === 'shared') this.#shared = r
    return r
  }

  async post(r: IngressRequest, body: PostBody): Promise<void> {
    const init = body.messages.find((m) => isRequest(m) && m.method === 'initialize') as JsonRpcRequest | undefined
    if (init) return this.#initialize(r, body, init)
    const session = this.#session(r)
    if (!session) return
    const ctx = requestContext(session.ctx, r.ctx)
    const insp = await inspectPost(this.o.inspector, body.messages, body.invalid, ctx, this.o.tracer?.scope(r))
    const requests = insp.forward.filter(isRequest)
    if (requests.length === 0) {
      for (const m of insp.forward) {
        this.#send(session, m)
        this.#cancelled(session, m)
      }
      if (insp.replies.length === 0) return void r.res.writeHead(202).end()
      return json(r.res, 200, body.batch ? insp.replies : insp.replies[0])
    }
    try {
      await session.runner.provider.ensureStarted()
    } catch (err) {
      const e = err as { message: string; retryAfterMs?: number }
      const failed = requests.map((q) => {
        const answer = rpcError(q.id, RPC.PROVIDER_UNAVAILABLE, e.message)
        settle(insp, q.id, answer, 'unavailable')
        return answer
      })
      const errors = [...insp.replies, ...failed]
      return json(r.res, 200, body.batch ? errors : errors[0], e.retryAfterMs ? { 'Retry-After': String(Math.ceil(e.retryAfterMs / 1000)) } : undefined)
    }
    const stream: PostStream = { id: randomUUID().slice(0, 8), writer: undefined, open: new Set(), requests: new Map(), tickets: insp.tickets, spans: insp.spans, timers: new Map(), releases: new Map(), ctx }
    const writer = new SseWriter(r.res, { keepaliveMs: this.o.keepaliveMs ?? 15_000 })
    writer.open({ 'Mcp-Session-Id': session.sessionId })
    stream.writer = writer
    // Priming event (spec 2025-11-25, Transports §"Resumability and Redelivery"): an id with empty
    // data, so a drop before the first message is resumable. Older clients would choke on the
    // empty data, so only for sessions that agreed on 2025-11-25 or later (whatever a later
    // request's MCP-Protocol-Version header says).
    if (session.protocolVersion >= '2025-11-25') writer.event({ id: session.events.mark(stream.id), data: '', retry: SSE_RETRY_MS })
    r.res.once('close', () => {
      // The client went away: the stream's events stay in the store for a resumed GET.
      if (stream.writer === writer) stream.writer = undefined
    })
    for (const reply of insp.replies) this.#write(session, stream, reply)
    for (const m of insp.forward) {
      if (!isRequest(m)) {
        this.#send(session, m)
        this.#cancelled(session, m)
        continue
      }
      stream.open.add(m.id)
      stream.requests.set(m.id, m)
      session.streams.set(m.id, stream)
      stream.releases.set(m.id, session.runner.provider.hold())
      const upId = this.#send(session, m)
      if (upId !== undefined) {
        stream.timers.set(m.id, setTimeout(() => {
          session.runner.mux.fail(upId, RPC.PROVIDER_UNAVAILABLE, `provider ${this.o.provider} did not answer within ${this.o.requestTimeoutMs} ms`, true)
        }, this.o.requestTimeoutMs))
      }
    }
  }

  /**
   * A client's `notifications/cancelled` (spec 2025-06-18, Utilities/Cancellation): the request
   * is over for the sidecar too — its concurrency slot, timer and span are released now, and a
   * late response from the provider is dropped (see `deliver`). The stream closes once nothing
   * else is open on it.
   */
  #cancelled(session: Session, m: JsonRpcMessage): void {
    if (!('method' in m) || m.method !== 'notifications/cancelled') return
    const rid = (m.params as { requestId?: JsonRpcId } | undefined)?.requestId
    const stream = rid === undefined ? undefined : session.streams.get(rid)
    if (!stream || rid === undefined || !stream.open.has(rid)) return
    const ticket = stream.tickets.get(rid)
    stream.tickets.delete(rid)
    ticket?.finish(undefined, 'unavailable')
    const span = stream.spans.get(rid)
    stream.spans.delete(rid)
    span?.end(undefined, 'cancelled')
    clearTimeout(stream.timers.get(rid))
    stream.timers.delete(rid)
    stream.releases.get(rid)?.()
    stream.releases.delete(rid)
    stream.open.delete(rid)
    session.streams.delete(rid)
    if (stream.open.size === 0) {
      stream.writer?.close()
      stream.writer = undefined
    }
  }

  #send(session: Session, m: JsonRpcMessage): number | undefined {
    session.runner.provider.touch()
    return session.runner.mux.fromClient(session.sessionId, m)
  }

  /** `initialize` is answered here, never inspected: its span (tracing on) is opened and ended here too. */
  async #initialize(r: IngressRequest, body: PostBody, init: JsonRpcRequest): Promise<void> {
    const span = this.o.tracer?.scope(r).start(init, r.ctx)
    try {
      await this.#initializeSession(r, body, init, span)
    } finally {
      span?.end(undefined, 'unavailable') // no-op when the answer already ended it
    }
  }

  async #initializeSession(r: IngressRequest, body: PostBody, init: JsonRpcRequest, span: RequestSpan | undefined): Promise<void> {
    if (body.batch || body.messages.length > 1) {
      span?.end(undefined, '400')
      return httpError(r.res, 400, RPC.INVALID_REQUEST, 'initialize must be sent alone, not in a batch')
    }
    if (r.ctx.sessionId) {
      span?.end(undefined, '400')
      return httpError(r.res, 400, RPC.INVALID_REQUEST, 'initialize must not carry an Mcp-Session-Id')
    }
    if (this.o.sessionMode === 'per_session' && this.#sessions.size + this.#opening >= this.o.maxSessions) {
      span?.end(undefined, '503')
      return httpError(r.res, 503, RPC.PROVIDER_UNAVAILABLE, `provider ${this.o.provider} has reached max_sessions (${this.o.maxSessions})`, { 'Retry-After': '5' })
    }
    const p = (init.params ?? {}) as Partial<InitializeParams>
    const params: InitializeParams = {
      protocolVersion: typeof p.protocolVersion === 'string' ? p.protocolVersion : r.protocolVersion,
      capabilities: p.capabilities && typeof p.capabilities === 'object' ? p.capabilities : {},
      clientInfo: p.clientInfo && typeof p.clientInfo === 'object' ? p.clientInfo : { name: 'unknown', version: '0' },
    }
    const runner = this.#runner(params)
    this.#opening++
    try {
      await runner.provider.ensureStarted()
    } catch (err) {
      const e = err as { message: string; retryAfterMs?: number }
      if (this.o.sessionMode === 'per_session') void runner.provider.stop('start failed')
      const answer = rpcError(init.id, RPC.PROVIDER_UNAVAILABLE, e.message)
      span?.end(answer)
      return json(r.res, 200, answer, e.retryAfterMs ? { 'Retry-After': String(Math.ceil(e.retryAfterMs / 1000)) } : undefined)
    } finally {
      this.#opening--
    }
    const result = runner.provider.initializeResult
    if (!result) {
      const answer = rpcError(init.id, RPC.PROVIDER_UNAVAILABLE, `provider ${this.o.provider} has no initialize result`)
      span?.end(answer)
      return json(r.res, 200, answer)
    }
    const sid = randomUUID()
    const session = new Session(sid, params.capabilities, runner, this, this.o.replayEvents)
    if (r.ctx.caller) session.ctx.caller = r.ctx.caller
    session.owner = sessionOwner(r.ctx)
    if (r.ctx.callerVerified) Object.assign(session.ctx, { callerIssuer: r.ctx.callerIssuer, callerVerified: true, ...(r.ctx.callerGroups && { callerGroups: r.ctx.callerGroups }), ...(r.ctx.callerClaims && { callerClaims: r.ctx.callerClaims }) })
    const providerVersion = typeof (result as { protocolVersion?: unknown }).protocolVersion === 'string' ? (result as { protocolVersion: string }).protocolVersion : params.protocolVersion
    session.protocolVersion = clientVersion(params.protocolVersion, providerVersion)
    this.#sessions.set(sid, session)
    runner.mux.attach(session)
    this.o.metrics?.sessions.set({ provider: this.o.provider }, this.#sessions.size)
    const answer: JsonRpcResponse = { jsonrpc: '2.0', id: init.id, result: session.protocolVersion === providerVersion ? result : { ...result, protocolVersion: session.protocolVersion } }
    span?.setSession(sid)
    span?.end(answer)
    json(r.res, 200, answer, { 'Mcp-Session-Id': sid })
  }

  /** The request's session, or an answer already sent (400 missing, 404 unknown: spec "Session Management"). */
  #session(r: IngressRequest): Session | undefined {
    const sid = r.ctx.sessionId
    if (!sid) {
      httpError(r.res, 400, RPC.INVALID_REQUEST, 'Mcp-Session-Id header is required (send initialize first)')
      return undefined
    }
    const s = this.#sessions.get(sid)
    if (s && !mayUseSession(s.owner, r.ctx)) {
      // Answered as an unknown session: the id tells another caller nothing.
      this.o.log.info({ provider: this.o.provider, session: sid, caller: r.ctx.caller, caller_verified: r.ctx.callerVerified === true }, 'session used by another caller than the verified one that opened it: refused as not found')
    } else if (s) return s
    httpError(r.res, 404, RPC.INVALID_REQUEST, 'session not found (it ended or never existed): initialize again')
    return undefined
  }

  /** A provider→client message for `session` (called by the multiplexer). */
  deliver(session: Session, msg: JsonRpcMessage, related: JsonRpcId | undefined): void {
    const stream = related === undefined ? undefined : session.streams.get(related)
    if (isResponse(msg) && stream && msg.id !== null && stream.open.has(msg.id)) {
      const id = msg.id
      const request = stream.requests.get(id)
      const out = this.o.inspector.onServerMessage(msg, request, stream.ctx)
      settle(stream, id, out as JsonRpcResponse)
      clearTimeout(stream.timers.get(id))
      stream.timers.delete(id)
      stream.releases.get(id)?.()
      stream.releases.delete(id)
      stream.open.delete(id)
      session.streams.delete(id)
      this.#write(session, stream, out)
      if (stream.open.size === 0) {
        stream.writer?.close()
        stream.writer = undefined
      }
      return
    }
    if (isResponse(msg)) {
      // The request was cancelled, timed out or its stream is gone: nobody waits for this answer.
      this.o.log.debug({ provider: this.o.provider, session: session.sessionId, id: msg.id }, 'response to a request no longer open; dropped')
      return
    }
    const out = this.o.inspector.onServerMessage(msg, undefined, session.ctx)
    if (stream) return this.#write(session, stream, out)
    // Stored even with no GET stream connected, so a GET with Last-Event-ID replays it.
    const id = session.events.append('standalone', out)
    if (session.standalone) {
      if (!session.standalone.event({ id, data: JSON.stringify(out) })) this.o.log.debug({ session: session.sessionId }, 'standalone stream backpressure')
      return
    }
    this.o.log.debug({ provider: this.o.provider, session: session.sessionId, method: 'method' in msg ? msg.method : undefined }, 'no GET stream connected; message kept for Last-Event-ID replay')
  }

  #write(session: Session, stream: PostStream, msg: JsonRpcMessage): void {
    const id = session.events.append(stream.id, msg)
    stream.writer?.event({ id, data: JSON.stringify(msg) })
  }

  async get(r: IngressRequest): Promise<void> {
    const session = this.#session(r)
    if (!session) return
    const last = r.req.headers['last-event-id']
    if (typeof last === 'string' && last !== '') {
      const replay = session.events.replayAfter(last)
      if (!replay) return httpError(r.res, 400, RPC.INVALID_REQUEST, `Last-Event-ID ${last} is unknown or too old to replay`)
      const writer = new SseWriter(r.res, { keepaliveMs: this.o.keepaliveMs ?? 15_000 })
      writer.open({ 'Mcp-Session-Id': session.sessionId })
      for (const ev of replay.events) writer.event({ id: ev.id, data: JSON.stringify(ev.message) })
      const stream = [...session.streams.values()].find((s) => s.id === replay.streamId)
      if (stream) {
        // A POST stream still waiting for responses continues on this connection.
        stream.writer = writer
        r.res.once('close', () => {
          if (stream.writer === writer) stream.writer = undefined
        })
        return
      }
      if (replay.streamId === 'standalone') {
        session.standalone?.close() // a resumption replaces a connection the sidecar still thinks open
        return this.#standalone(session, writer, r.res)
      }
      return writer.close()
    }
    if (session.standalone) return httpError(r.res, 409, RPC.INVALID_REQUEST, 'only one GET stream per session is allowed')
    const writer = new SseWriter(r.res, { keepaliveMs: this.o.keepaliveMs ?? 15_000 })
    writer.open({ 'Mcp-Session-Id': session.sessionId })
    this.#standalone(session, writer, r.res)
  }

  #standalone(session: Session, writer: SseWriter, res: ServerResponse): void {
    session.standalone = writer
    res.once('close', () => {
      if (session.standalone === writer) session.standalone = undefined
    })
  }

  async delete(r: IngressRequest): Promise<void> {
    const session = this.#session(r)
    if (!session) return
    this.#end(session)
    r.res.writeHead(200).end()
  }

  #end(session: Session): void {
    this.#sessions.delete(session.sessionId)
    session.runner.mux.detach(session.sessionId)
    for (const s of new Set(session.streams.values())) {
      for (const t of s.timers.values()) clearTimeout(t)
      for (const rel of s.releases.values()) rel()
      settleAll(s, 'unavailable')
      s.writer?.close()
    }
    session.streams.clear()
    session.standalone?.close()
    session.standalone = undefined
    if (this.o.sessionMode === 'per_session') void session.runner.provider.stop('session deleted')
    this.o.metrics?.sessions.set({ provider: this.o.provider }, this.#sessions.size)
  }

  async close(): Promise<void> {
    for (const s of [...this.#sessions.values()]) this.#end(s)
    await Promise.allSettled(this.providers.map((p) => p.stop('sidecar stopping')))
  }
}
