/**
 * The W3C Trace Context of a client message (https://www.w3.org/TR/trace-context/), parsed by
 * `@opentelemetry/core`'s `W3CTraceContextPropagator`:
 *
 * - from `params._meta.traceparent` / `params._meta.tracestate`: the MCP conventions' carrier
 *   ("Instrumentations SHOULD propagate trace context inside MCP request `params._meta`"; the
 *   server "SHOULD use context extracted from MCP `params._meta` as a parent for MCP server span");
 * - from the HTTP `traceparent` / `tracestate` headers: the transport's context, which the
 *   conventions record as a span link, never as the parent ("MCP and underlying transport
 *   contexts are independent").
 *
 * Invalid values are ignored, as W3C Trace Context §3.2 requires (the span then starts a new
 * trace, and the `tracestate` of an unparsable `traceparent` is not read): version `ff`, an
 * all-zero trace-id or parent-id, upper-case or non-hex characters, wrong lengths, and extra
 * fields after a version `00` value; a higher version's extra fields are allowed ("Versioning of
 * traceparent": parse the fields this version knows).
 */
import type { IncomingHttpHeaders } from 'node:http'
import type * as Api from '@opentelemetry/api'
import type { Context, SpanContext, TextMapGetter } from '@opentelemetry/api'
import type { W3CTraceContextPropagator } from '@opentelemetry/core'
import { otelApi, otelCore } from './otel.js'

/** Reads the string fields of a `_meta` object by their exact key; anything else is absent. */
const META_GETTER: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key]
    return typeof v === 'string' ? v : undefined
  },
}

/** Reads Node's request headers (names already lower-case; repeated `tracestate` headers are merged by the propagator). */
const HEADER_GETTER: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
}

/** Extracts remote span contexts; one per tracer (loads the OpenTelemetry API and core on construction). */
export class TraceContextReader {
  readonly #api: typeof Api
  readonly #propagator: W3CTraceContextPropagator

  constructor() {
    this.#api = otelApi()
    this.#propagator = new (otelCore().W3CTraceContextPropagator)()
  }

  /**
   * The client's span context from a message's `params._meta` (`isRemote: true`, with its
   * `traceState`), or undefined when `_meta` carries no valid `traceparent`.
   */
  fromMeta(params: Record<string, unknown> | undefined): SpanContext | undefined {
    const meta = params?._meta
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return undefined
    return this.#extract(meta as Record<string, unknown>, META_GETTER)
  }

  /** The span context of the HTTP request's `traceparent`/`tracestate` headers, or undefined. */
  fromHeaders(headers: IncomingHttpHeaders): SpanContext | undefined {
    if (headers.traceparent === undefined) return undefined
    return this.#extract(headers, HEADER_GETTER)
  }

  /** A context whose parent span is `parent` (a root context when undefined), for `Tracer.startSpan`. */
  parentContext(parent: SpanContext | undefined): Context {
    const api = this.#api
    return parent ? api.trace.setSpanContext(api.ROOT_CONTEXT, parent) : api.ROOT_CONTEXT
  }

  #extract<C>(carrier: C, getter: TextMapGetter<C>): SpanContext | undefined {
    const api = this.#api
    const sc = api.trace.getSpanContext(this.#propagator.extract(api.ROOT_CONTEXT, carrier, getter))
    return sc && api.isSpanContextValid(sc) ? sc : undefined
  }
}
