/**
 * The client→provider half of inspection for one HTTP POST: every message of the body goes
 * through the provider's Inspector; what it refuses is answered by the sidecar, the rest is
 * forwarded. Shared by the remote and stdio backends.
 *
 * With tracing on (a {@link TraceScope}), every message gets its span before inspection
 * (proxy/trace/tracer.ts): a refused or forwarded notification's span ends here, a forwarded
 * request's span is returned in {@link InspectedPost.spans} for the backend to end with the
 * response (or the failure), like its ticket.
 */
import type { CallTicket, ClientVerdict, Inspector } from '../inspect/inspector.js'
import type { RequestSpan, TraceScope } from '../trace/tracer.js'
import { isRequest, type CallContext, type JsonRpcErrorResponse, type JsonRpcId, type JsonRpcMessage, type JsonRpcRequest, type JsonRpcResponse } from '../types.js'

export interface InspectedPost {
  /** Messages to send to the provider, in body order. */
  forward: JsonRpcMessage[]
  /** Answers the sidecar gives itself (refused calls, invalid batch elements). */
  replies: JsonRpcErrorResponse[]
  /** Forwarded requests by their (client) id: for response inspection. */
  requests: Map<JsonRpcId, JsonRpcRequest>
  /** Forwarded tool calls' tickets by request id: finished when the response passes. */
  tickets: Map<JsonRpcId, CallTicket>
  /** Forwarded requests' open spans by request id (empty when tracing is off): ended when the response passes. */
  spans: Map<JsonRpcId, RequestSpan>
}

/** An empty {@link InspectedPost} (a GET stream's: no request of its own). */
export function emptyInspectedPost(): InspectedPost {
  return { forward: [], replies: [], requests: new Map(), tickets: new Map(), spans: new Map() }
}

/**
 * A batch that repeats a request id: only one response can be paired with it, so the earlier
 * request is over as far as the sidecar can tell: its ticket is finished (its concurrency slot
 * must not leak) and its span ended.
 */
function dropRepeated(out: InspectedPost, id: JsonRpcId): void {
  out.tickets.get(id)?.finish(undefined, 'unavailable')
  out.tickets.delete(id)
  out.spans.get(id)?.end(undefined, 'duplicate_id')
  out.spans.delete(id)
}

function apply(out: InspectedPost, original: JsonRpcMessage, v: ClientVerdict, span: RequestSpan | undefined): void {
  if (v.action === 'reply') {
    // A refused notification gets no answer (JSON-RPC 2.0 §4.1: "The Server MUST NOT reply to a Notification").
    if ('id' in original) out.replies.push(v.response)
    if (span) {
      if (v.decision) span.decided(v.decision)
      span.end(v.response)
    }
    return
  }
  out.forward.push(v.message)
  if (span && v.alerts?.[0]) span.decided(v.alerts[0])
  if (isRequest(v.message)) {
    const id = v.message.id
    if (out.requests.has(id)) dropRepeated(out, id)
    out.requests.set(id, v.message)
    if (v.ticket) out.tickets.set(id, v.ticket)
    if (span) out.spans.set(id, span)
  } else {
    span?.end()
  }
}

/**
 * Runs each message through the inspector. Synchronous verdicts are applied in place; only
 * waiting ones (concurrency queue, a tools/list fetch) make it async. `trace`: the POST's trace
 * scope when tracing is on (each message then gets a span, and the Inspector's signals carry
 * its ids).
 */
export function inspectPost(
  inspector: Inspector,
  messages: readonly JsonRpcMessage[],
  invalid: readonly JsonRpcErrorResponse[],
  ctx: CallContext,
  trace?: TraceScope,
): InspectedPost | Promise<InspectedPost> {
  const out: InspectedPost = { forward: [], replies: [...invalid], requests: new Map(), tickets: new Map(), spans: new Map() }
  const spans = trace ? messages.map((m) => trace.start(m, ctx)) : undefined
  const verdicts = messages.map((m, i) => {
    const span = spans?.[i]
    return inspector.onClientMessage(m, span ? span.withIds(ctx) : ctx)
  })
  if (!verdicts.some((v) => v instanceof Promise)) {
    verdicts.forEach((v, i) => apply(out, messages[i]!, v as ClientVerdict, spans?.[i]))
    return out
  }
  return Promise.all(verdicts).then(
    (vs) => {
      vs.forEach((v, i) => apply(out, messages[i]!, v, spans?.[i]))
      return out
    },
    (err: unknown) => {
      for (const s of spans ?? []) s?.end(undefined, 'internal_error')
      throw err
    },
  )
}

/** The answer to request `id` passed (or `response` undefined: it failed with `failure`): finishes its ticket and ends its span. */
export function settle(insp: Pick<InspectedPost, 'tickets' | 'spans'>, id: JsonRpcId, response: JsonRpcResponse | undefined, failure?: 'timeout' | 'unavailable'): void {
  const t = insp.tickets.get(id)
  if (t) {
    insp.tickets.delete(id)
    t.finish(response, failure)
  }
  const s = insp.spans.get(id)
  if (s) {
    insp.spans.delete(id)
    s.end(response, response === undefined ? (failure ?? 'unavailable') : undefined)
  }
}

/** Every request still open failed with `failure`: tickets finished, spans ended. */
export function settleAll(insp: Pick<InspectedPost, 'tickets' | 'spans'>, failure: 'timeout' | 'unavailable', spanFailure: string = failure): void {
  for (const t of insp.tickets.values()) t.finish(undefined, failure)
  insp.tickets.clear()
  for (const s of insp.spans.values()) s.end(undefined, spanFailure)
  insp.spans.clear()
}
