/**
 * `session_mode: shared`: many client sessions over one provider process. The sidecar is the
 * provider's one MCP client (it sent `initialize` itself, proxy/stdio/provider.ts) and every
 * client session is multiplexed over that connection (docs/mcp-ingress.md §Session modes).
 *
 * Ids. A client request gets a fresh integer id on the provider side (`upstream id`); the
 * response is mapped back to the session and the client's own id. `params._meta.progressToken`
 * is rewritten the same way (two sessions may use the same token), and
 * `notifications/cancelled.params.requestId` follows its request. A request the provider sends
 * to a client (sampling, roots, elicitation) gets an id of the session's own (`h<n>`), mapped back
 * when the client answers.
 *
 * Routing of provider→client messages (the rule for the ambiguous cases, documented in
 * docs/ARCHITECTURE.md "Shared sessions"):
 * - responses: to the session that owns the request;
 * - `notifications/progress`: to the owner of the progress token;
 * - `notifications/cancelled` (the provider gives up on a request it sent): to the session
 *   that request went to;
 * - `notifications/resources/updated`: to the sessions subscribed to that URI (resources/subscribe);
 * - every other notification (`list_changed`, `notifications/message`, …): to every session;
 * - a request (`sampling/createMessage`, `roots/list`, `elicitation/create`, …): the stdio wire
 *   carries no link to the client request that caused it, so it goes to the session that has a
 *   request in flight and, among several, to the one whose in-flight request started last
 *   (a provider asks while it works on a call); with none in flight, to the most recently active
 *   session. Only sessions whose `initialize` declared the matching capability (sampling, roots,
 *   elicitation) are candidates; with no candidate the provider gets -32601. `ping` is answered
 *   by the sidecar itself.
 * Such a request is delivered as related to the chosen session's newest in-flight request, so it
 * travels on that POST's SSE stream (Streamable HTTP: messages "related to the originating
 * client request").
 */
import type { Logger } from '../../core/log.js'
import {
  isNotification,
  isRequest,
  rpcError,
  RPC,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../types.js'

/** One client session as the multiplexer sees it. */
export interface MuxClient {
  readonly sessionId: string
  /** The `capabilities` the client declared in its `initialize` (sampling, roots, elicitation…). */
  readonly capabilities: Record<string, unknown>
  /**
   * Delivers a provider→client message. `related`: the client request (its own id) this message
   * belongs to, when there is one; the ingress puts it on that request's stream.
   */
  deliver(msg: JsonRpcMessage, related: JsonRpcId | undefined): void
}

/** What the multiplexer needs of the provider connection. */
export interface MuxUpstream {
  send(msg: JsonRpcMessage): void
}

interface Pending {
  client: MuxClient
  clientId: JsonRpcId
  method: string
  request: JsonRpcRequest
  progressToken?: string | number
  startedAt: number
  seq: number
}

interface ServerRequest {
  client: MuxClient
  upstreamId: JsonRpcId
}

/** Capability a provider→client request needs in the client's `initialize`. */
const NEEDS: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
  'elicitation/create': 'elicitation',
}

/**
 * The id/route bookkeeping of shared mode. Synchronous and I/O-free apart from the two
 * callbacks, so every routing rule is unit-tested without a process.
 */
export class SharedMux {
  readonly #clients = new Map<string, MuxClient>()
  readonly #lastActive = new Map<string, number>()
  readonly #pending = new Map<number, Pending>()
  /** Provider-side progress token → owner. */
  readonly #progress = new Map<string, { client: MuxClient; token: string | number }>()
  /** Session-side id `h<n>` of a provider→client request → where it came from. */
  readonly #serverRequests = new Map<string, ServerRequest>()
  /** URI → sessions subscribed. */
  readonly #subscriptions = new Map<string, Set<string>>()
  #nextId = 1
  #nextServerId = 1
  #seq = 0

  constructor(
    private readonly upstream: MuxUpstream,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  get sessions(): number {
    return this.#clients.size
  }

  /** Requests forwarded and not yet answered. */
  get inFlight(): number {
    return this.#pending.size
  }

  attach(client: MuxClient): void {
    this.#clients.set(client.sessionId, client)
    this.#lastActive.set(client.sessionId, this.clock())
  }

  /**
   * Removes a session: its requests still in flight are cancelled at the provider
   * (`notifications/cancelled`, MCP "Cancellation") and forgotten.
   */
  detach(sessionId: string): void {
    const client = this.#clients.get(sessionId)
    if (!client) return
    this.#clients.delete(sessionId)
    this.#lastActive.delete(sessionId)
    for (const [id, p] of this.#pending) {
      if (p.client !== client) continue
      this.#forget(id, p)
      this.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'client session closed' } })
    }
    for (const [hid, r] of this.#serverRequests) {
      if (r.client !== client) continue
      this.#serverRequests.delete(hid)
      this.upstream.send(rpcError(r.upstreamId, RPC.INTERNAL_ERROR, 'the client session that was asked has closed'))
    }
    for (const set of this.#subscriptions.values()) set.delete(sessionId)
  }

  /**
   * A client→provider message of `sessionId`. Requests are re-id'd and forwarded; responses to
   * provider requests are mapped back; `notifications/initialized` is absorbed (the sidecar
   * initialized the provider itself).
   * @returns the upstream id a request was given (for timeouts), else undefined
   */
  fromClient(sessionId: string, msg: JsonRpcMessage): number | undefined {
    const client = this.#clients.get(sessionId)
    if (!client) throw new Error(`unknown session ${sessionId}`)
    this.#lastActive.set(sessionId, this.clock())
    if (isRequest(msg)) return this.#clientRequest(client, msg)
    if (isNotification(msg)) {
      if (msg.method === 'notifications/initialized') return undefined
      if (msg.method === 'notifications/cancelled') {
        const rid = (msg.params as { requestId?: JsonRpcId } | undefined)?.requestId
        const up = this.#upstreamIdOf(client, rid)
        if (up === undefined) return undefined // already answered: nothing to cancel
        this.#forget(up, this.#pending.get(up)!)
        this.upstream.send({ ...msg, params: { ...msg.params, requestId: up } })
        return undefined
      }
      this.upstream.send(msg)
      return undefined
    }
    // A response to a request the provider sent to this client.
    const key = String(msg.id)
    const r = this.#serverRequests.get(key)
    if (!r || r.client !== client) {
      this.log.warn({ session: sessionId, id: msg.id }, 'client answered a request it was not sent; dropped')
      return undefined
    }
    this.#serverRequests.delete(key)
    this.upstream.send({ ...msg, id: r.upstreamId } as JsonRpcResponse)
    return undefined
  }

  #clientRequest(client: MuxClient, msg: JsonRpcRequest): number {
    const id = this.#nextId++
    const p: Pending = { client, clientId: msg.id, method: msg.method, request: msg, startedAt: this.clock(), seq: this.#seq++ }
    let params = msg.params
    const meta = params?._meta as Record<string, unknown> | undefined
    const token = meta?.progressToken
    if (typeof token === 'string' || typeof token === 'number') {
      p.progressToken = token
      const upToken = `p${id}`
      this.#progress.set(upToken, { client, token })
      params = { ...params, _meta: { ...meta, progressToken: upToken } }
    }
    if (msg.method === 'resources/subscribe' || msg.method === 'resources/unsubscribe') {
      const uri = (params as { uri?: unknown } | undefined)?.uri
      if (typeof uri === 'string') this.#subscribe(client.sessionId, uri, msg.method === 'resources/subscribe')
    }
    this.#pending.set(id, p)
    this.upstream.send(params === undefined ? { jsonrpc: '2.0', id, method: msg.method } : { jsonrpc: '2.0', id, method: msg.method, params })
    return id
  }

  #subscribe(sessionId: string, uri: string, on: boolean): void {
    let set = this.#subscriptions.get(uri)
    if (on) {
      if (!set) this.#subscriptions.set(uri, (set = new Set()))
      set.add(sessionId)
    } else set?.delete(sessionId)
  }

  #upstreamIdOf(client: MuxClient, clientId: JsonRpcId | undefined): number | undefined {
    if (clientId === undefined) return undefined
    for (const [id, p] of this.#pending) if (p.client === client && p.clientId === clientId) return id
    return undefined
  }

  #forget(id: number, p: Pending): void {
    this.#pending.delete(id)
    if (p.progressToken !== undefined) this.#progress.delete(`p${id}`)
  }

  /** The request behind an upstream id still in flight (for the inspector and timeouts). */
  pending(upstreamId: number): { sessionId: string; clientId: JsonRpcId; request: JsonRpcRequest } | undefined {
    const p = this.#pending.get(upstreamId)
    return p && { sessionId: p.client.sessionId, clientId: p.clientId, request: p.request }
  }

  /**
   * Fails a request still in flight with a JSON-RPC error to its client (timeout, provider gone)
   * and cancels it at the provider when `cancel` is set.
   */
  fail(upstreamId: number, code: number, message: string, cancel: boolean): void {
    const p = this.#pending.get(upstreamId)
    if (!p) return
    this.#forget(upstreamId, p)
    if (cancel) this.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: upstreamId, reason: message } })
    p.client.deliver(rpcError(p.clientId, code, message), p.clientId)
  }

  /** Fails every request in flight (the provider exited). */
  failAll(code: number, message: string): void {
    for (const id of [...this.#pending.keys()]) this.fail(id, code, message, false)
    // Requests the provider sent to clients: nobody is left to take the answers.
    this.#serverRequests.clear()
  }

  /** A provider→client message. */
  fromServer(msg: JsonRpcMessage): void {
    if (isRequest(msg)) return this.#serverRequest(msg)
    if (isNotification(msg)) return this.#serverNotification(msg)
    const id = typeof msg.id === 'number' ? msg.id : Number(msg.id)
    const p = this.#pending.get(id)
    if (!p) {
      this.log.debug({ id: msg.id }, 'response for no request in flight (cancelled or timed out); dropped')
      return
    }
    this.#forget(id, p)
    p.client.deliver({ ...msg, id: p.clientId } as JsonRpcResponse, p.clientId)
  }

  #serverNotification(msg: JsonRpcMessage & { method: string; params?: Record<string, unknown> }): void {
    const params = msg.params
    if (msg.method === 'notifications/progress') {
      const t = params?.progressToken
      const owner = t === undefined ? undefined : this.#progress.get(String(t))
      if (!owner) return
      const related = this.#relatedOf(owner.client, t)
      owner.client.deliver({ ...msg, params: { ...params, progressToken: owner.token } }, related)
      return
    }
    if (msg.method === 'notifications/cancelled') {
      const rid = params?.requestId
      for (const [hid, r] of this.#serverRequests) {
        if (r.upstreamId !== rid) continue
        this.#serverRequests.delete(hid)
        r.client.deliver({ ...msg, params: { ...params, requestId: hid } }, undefined)
      }
      return
    }
    if (msg.method === 'notifications/resources/updated') {
      const uri = params?.uri
      const subs = typeof uri === 'string' ? this.#subscriptions.get(uri) : undefined
      if (subs && subs.size > 0) {
        for (const s of subs) this.#clients.get(s)?.deliver(msg, undefined)
        return
      }
    }
    for (const c of this.#clients.values()) c.deliver(msg, undefined)
  }

  #relatedOf(client: MuxClient, upToken: unknown): JsonRpcId | undefined {
    const id = typeof upToken === 'string' && upToken.startsWith('p') ? Number(upToken.slice(1)) : NaN
    const p = this.#pending.get(id)
    return p && p.client === client ? p.clientId : undefined
  }

  #serverRequest(msg: JsonRpcRequest): void {
    if (msg.method === 'ping') {
      this.upstream.send({ jsonrpc: '2.0', id: msg.id, result: {} })
      return
    }
    const need = NEEDS[msg.method]
    const capable = (c: MuxClient) => need === undefined || c.capabilities[need] !== undefined
    // Newest in-flight request of a capable session.
    let best: Pending | undefined
    for (const p of this.#pending.values()) {
      if (capable(p.client) && (!best || p.seq > best.seq)) best = p
    }
    let client = best?.client
    if (!client) {
      let at = -Infinity
      for (const c of this.#clients.values()) {
        const t = this.#lastActive.get(c.sessionId) ?? 0
        if (capable(c) && t > at) {
          at = t
          client = c
        }
      }
    }
    if (!client) {
      this.upstream.send(rpcError(msg.id, RPC.METHOD_NOT_FOUND, `no client session can answer ${msg.method}${need ? ` (none declared the ${need} capability)` : ''}`))
      return
    }
    const hid = `h${this.#nextServerId++}`
    this.#serverRequests.set(hid, { client, upstreamId: msg.id })
    client.deliver({ ...msg, id: hid }, best?.client === client ? best.clientId : undefined)
  }
}
