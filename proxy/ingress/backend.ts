/**
 * What the MCP ingress (proxy/ingress/server.ts) hands a request to once it has passed the
 * HTTP-level checks (path, Origin, bearer token, Accept, MCP-Protocol-Version, body size, JSON).
 * Two implementations: remote-backend.ts (`mode: remote`) and stdio-backend.ts (`mode: subprocess`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CallContext, JsonRpcErrorResponse, JsonRpcMessage } from '../types.js'

export interface IngressRequest {
  req: IncomingMessage
  res: ServerResponse
  /** Session (the request's `Mcp-Session-Id`), caller and trace ids. */
  ctx: CallContext
  /** The request's MCP-Protocol-Version, or the default when absent. */
  protocolVersion: string
}

/** A parsed POST body. */
export interface PostBody {
  /** The body as received (forwarded as is when inspection changes nothing). */
  raw: Buffer
  /** True for a JSON array (JSON-RPC batch; spec 2025-03-26). */
  batch: boolean
  /** The well-formed messages, in order. */
  messages: JsonRpcMessage[]
  /** Answers for the malformed elements of a batch (-32600, with their ids when readable). */
  invalid: JsonRpcErrorResponse[]
}

export interface IngressBackend {
  post(r: IngressRequest, body: PostBody): Promise<void>
  get(r: IngressRequest): Promise<void>
  delete(r: IngressRequest): Promise<void>
  /** Open client sessions. */
  readonly sessions: number
  close(): Promise<void>
}
