/**
 * One OpenTelemetry SERVER span per client JSON-RPC request or notification through the MCP
 * ingress (the `mcp.server` span of the MCP semantic conventions; names and attributes in
 * attributes.ts, trace context in context.ts).
 *
 * Life of a span: the backend opens a {@link TraceScope} per HTTP POST (its protocol version,
 * HTTP version, client address and `traceparent` header); proxy/ingress/client-batch.ts starts
 * a span for each message before the Inspector sees it, so the span covers inspection, queueing
 * for a concurrency slot and the provider's work. A refused message's span ends at once with the
 * error the client gets; a forwarded notification's span ends when it is sent; a forwarded
 * request's span is carried next to its CallTicket and ended by the backend on every path: its
 * response passes, the request times out, the provider fails or the session ends. `end` is
 * idempotent.
 *
 * Parent: the client's context from `params._meta.traceparent` (a root span without it); the HTTP
 * `traceparent` header, when valid and different, becomes a span link. The tracer is any
 * `@opentelemetry/api` `Tracer` (otlp.ts builds the OTLP/gRPC one; tests use an in-memory one).
 * Tracing never fails a message: an exception inside it is logged once and the span dropped.
 */
import type { IncomingMessage } from 'node:http'
import type * as Api from '@opentelemetry/api'
import type { Link, Span, SpanContext, Tracer } from '@opentelemetry/api'
import type { Logger } from '../../core/log.js'
import type { InspectorDecision } from '../inspect/inspector.js'
import type { CallContext, JsonRpcMessage, JsonRpcResponse } from '../types.js'
import { ATTR, decisionAttributes, describeOutcome, describeRequest, withCaller, type SpanScopeInfo } from './attributes.js'
import { TraceContextReader } from './context.js'
import { otelApi } from './otel.js'

/** The span of one client request or notification. Every method is safe to call after `end`. */
export interface RequestSpan {
  /** The span's W3C trace id (32 hex digits): the parent's when the client sent one. */
  readonly traceId: string
  /** The span's id (16 hex digits). */
  readonly spanId: string
  /** `ctx` with this span's ids, for the signals raised while it is open (`trace_id`, `span_id`). */
  withIds(ctx: CallContext): CallContext
  /** Records the session id once known (an `initialize` answered with `Mcp-Session-Id`). */
  setSession(sessionId: string): void
  /** Records an Inspector decision; the first one sets `hangar.decision`/`hangar.rule`/`hangar.violation`. */
  decided(decision: InspectorDecision): void
  /**
   * Ends the span with the `response` the client got, or with `failure` (`error.type`: `timeout`,
   * `unavailable`, `cancelled`) when none came. A notification ends with neither. Idempotent.
   */
  end(response?: JsonRpcResponse, failure?: string): void
}

/** What the ingress knows of one HTTP request. */
export interface IngressHttpInfo {
  /** The request's `MCP-Protocol-Version` (or the default assumed). */
  protocolVersion: string
  req: Pick<IncomingMessage, 'headers' | 'httpVersion' | 'socket'>
}

export interface McpTracerOptions {
  /** Any `@opentelemetry/api` tracer. */
  tracer: Tracer
  /** `hangar.provider`. */
  provider: string
  /** The MCP conventions' opt-in: resource URIs as span name targets. Default false. */
  resourceUriInName?: boolean
  /** Where a failure of tracing itself is logged (once). */
  log?: Logger
}

/** Starts request spans for one provider's ingress (see the file comment). */
export class McpTracer {
  readonly #o: McpTracerOptions
  readonly #api: typeof Api
  readonly #reader = new TraceContextReader()
  #failed = false

  constructor(opts: McpTracerOptions) {
    this.#o = opts
    this.#api = otelApi()
  }

  /** The scope of one HTTP request: spans of its messages share its HTTP attributes and link. */
  scope(http: IngressHttpInfo): TraceScope {
    const { req } = http
    let link: SpanContext | undefined
    try {
      link = this.#reader.fromHeaders(req.headers)
    } catch (err) {
      this.failed(err)
    }
    const info: SpanScopeInfo = {
      provider: this.#o.provider,
      protocolVersion: http.protocolVersion,
      httpVersion: req.httpVersion,
      ...(req.socket?.remoteAddress !== undefined && { clientAddress: req.socket.remoteAddress }),
      ...(req.socket?.remotePort !== undefined && { clientPort: req.socket.remotePort }),
      ...(this.#o.resourceUriInName && { resourceUriInName: true }),
    }
    return new TraceScope(this, info, link)
  }

  /** @internal */
  startSpan(msg: JsonRpcMessage, ctx: CallContext, info: SpanScopeInfo, link: SpanContext | undefined): RequestSpan | undefined {
    if (!('method' in msg)) return undefined // a client's response to a server request: no span of its own
    try {
      const d = describeRequest(msg, withCaller(ctx.sessionId ? { ...info, sessionId: ctx.sessionId } : info, ctx))
      const parent = this.#reader.fromMeta(msg.params)
      const links: Link[] | undefined = link && !(parent && parent.traceId === link.traceId && parent.spanId === link.spanId) ? [{ context: link }] : undefined
      const span = this.#o.tracer.startSpan(d.name, { kind: this.#api.SpanKind.SERVER, attributes: d.attributes, ...(links && { links }) }, this.#reader.parentContext(parent))
      return new SpanHandle(span, msg.method, this.#api.SpanStatusCode.ERROR, (err) => this.failed(err))
    } catch (err) {
      this.failed(err)
      return undefined
    }
  }

  /** @internal */
  failed(err: unknown): void {
    if (this.#failed) return
    this.#failed = true
    this.#o.log?.warn({ provider: this.#o.provider, err: (err as Error)?.message ?? String(err) }, 'tracing failed; the message is served, its span is dropped')
  }
}

/** The spans of one HTTP request's messages. */
export class TraceScope {
  constructor(
    private readonly tracer: McpTracer,
    private readonly info: SpanScopeInfo,
    private readonly link: SpanContext | undefined,
  ) {}

  /** Starts the span of a client message; undefined for a response (not a request of its own). */
  start(msg: JsonRpcMessage, ctx: CallContext): RequestSpan | undefined {
    return this.tracer.startSpan(msg, ctx, this.info, this.link)
  }
}

class SpanHandle implements RequestSpan {
  #ended = false
  #decided = false

  constructor(
    private readonly span: Span,
    private readonly method: string,
    private readonly errorCode: Api.SpanStatusCode,
    private readonly onError: (err: unknown) => void,
  ) {}

  get traceId(): string {
    return this.span.spanContext().traceId
  }

  get spanId(): string {
    return this.span.spanContext().spanId
  }

  withIds(ctx: CallContext): CallContext {
    const sc = this.span.spanContext()
    return { ...ctx, traceId: sc.traceId, spanId: sc.spanId }
  }

  setSession(sessionId: string): void {
    if (!this.#ended) this.span.setAttribute(ATTR.MCP_SESSION_ID, sessionId)
  }

  decided(decision: InspectorDecision): void {
    if (this.#ended || this.#decided) return
    this.#decided = true
    this.span.setAttributes(decisionAttributes(decision))
  }

  end(response?: JsonRpcResponse, failure?: string): void {
    if (this.#ended) return
    this.#ended = true
    try {
      const o = describeOutcome(this.method, response, failure)
      this.span.setAttributes(o.attributes)
      if (o.error) this.span.setStatus({ code: this.errorCode, ...(o.error.message !== undefined && { message: o.error.message }) })
    } catch (err) {
      this.onError(err)
    }
    this.span.end()
  }
}
