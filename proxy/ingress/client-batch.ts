/**
 * The client→provider half of inspection for one HTTP POST: every message of the body goes
 * through the provider's Inspector; what it refuses is answered by the sidecar, the rest is
 * forwarded. Shared by the remote and stdio backends.
 */
import type { CallTicket, ClientVerdict, Inspector } from '../inspect/inspector.js'
import { isRequest, type CallContext, type JsonRpcErrorResponse, type JsonRpcId, type JsonRpcMessage, type JsonRpcRequest } from '../types.js'

export interface InspectedPost {
  /** Messages to send to the provider, in body order. */
  forward: JsonRpcMessage[]
  /** Answers the sidecar gives itself (refused calls, invalid batch elements). */
  replies: JsonRpcErrorResponse[]
  /** Forwarded requests by their (client) id: for response inspection. */
  requests: Map<JsonRpcId, JsonRpcRequest>
  /** Forwarded tool calls' tickets by request id: finished when the response passes. */
  tickets: Map<JsonRpcId, CallTicket>
}

function apply(out: InspectedPost, original: JsonRpcMessage, v: ClientVerdict): void {
  if (v.action === 'reply') {
    // A refused notification gets no answer (JSON-RPC 2.0 §4.1: "The Server MUST NOT reply to a Notification").
    if ('id' in original) out.replies.push(v.response)
    return
  }
  out.forward.push(v.message)
  if (isRequest(v.message)) {
    out.requests.set(v.message.id, v.message)
    if (v.ticket) out.tickets.set(v.message.id, v.ticket)
  }
}

/**
 * Runs each message through the inspector. Synchronous verdicts are applied in place; only
 * waiting ones (concurrency queue, a tools/list fetch) make it async.
 */
export function inspectPost(
  inspector: Inspector,
  messages: readonly JsonRpcMessage[],
  invalid: readonly JsonRpcErrorResponse[],
  ctx: CallContext,
): InspectedPost | Promise<InspectedPost> {
  const out: InspectedPost = { forward: [], replies: [...invalid], requests: new Map(), tickets: new Map() }
  const verdicts = messages.map((m) => inspector.onClientMessage(m, ctx))
  if (!verdicts.some((v) => v instanceof Promise)) {
    verdicts.forEach((v, i) => apply(out, messages[i]!, v as ClientVerdict))
    return out
  }
  return Promise.all(verdicts).then((vs) => {
    vs.forEach((v, i) => apply(out, messages[i]!, v))
    return out
  })
}
