/**
 * The OTLP/gRPC trace pipeline of one sidecar: `@opentelemetry/sdk-trace`'s TracerProvider with a
 * BatchSpanProcessor feeding `@opentelemetry/exporter-trace-otlp-grpc`, and the {@link McpTracer}
 * the MCP ingress uses. Loaded only when traces are on (cli/sidecar.ts imports this module
 * dynamically; the OpenTelemetry packages come through proxy/trace/otel.ts).
 *
 * The data path never waits for the collector: ending a span only appends it to the processor's
 * queue (at most `maxQueueSize` spans; more are dropped), batches leave every `scheduledDelayMs`
 * or when 512 are queued, and each export has its own deadline. A failing export is logged (at
 * most once a minute, with the count) and its spans dropped; MCP traffic is unaffected.
 * {@link OtlpTracing.shutdown} flushes what is queued, bounded by a timeout, so the last spans of
 * a stopping sidecar are not lost and an unreachable collector cannot hold the stop.
 *
 * Resource: `service.name` (`OTEL_SERVICE_NAME`, default `mcp-hangar-sidecar`),
 * `service.instance.id` = the sidecar id, `service.version`, `hangar.provider`, and the SDK's
 * `telemetry.sdk.*`.
 */
import type { ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, Sampler, SpanExporter } from '@opentelemetry/sdk-trace'
import type { Logger } from '../../core/log.js'
import type { OtlpTraceConfig, SamplerSpec } from './config.js'
import { exporterGrpc, otelCore, otelGrpcExporter, otelResources, otelSdkTrace } from './otel.js'
import { McpTracer } from './tracer.js'

export interface OtlpTracingOptions {
  /** Endpoint, headers, service name and sampler (proxy/trace/config.ts). */
  config: OtlpTraceConfig
  /** `hangar.provider`. */
  provider: string
  /** `service.instance.id`: the sidecar id. */
  sidecarId: string
  /** `service.version`. */
  serviceVersion: string
  log: Logger
  /** Longest time a finished span waits before its batch is exported, ms. Default 5000 (the SDK's `OTEL_BSP_SCHEDULE_DELAY` default). */
  scheduledDelayMs?: number
  /** Deadline of one export, ms. Default 10 000 (the `OTEL_EXPORTER_OTLP_TIMEOUT` default). */
  exportTimeoutMs?: number
  /** Spans kept waiting for export; later ones are dropped. Default 2048. */
  maxQueueSize?: number
  /** Replaces the OTLP/gRPC exporter (tests). */
  exporter?: SpanExporter
}

/** A running trace pipeline. */
export interface OtlpTracing {
  /** Hand it to McpSidecar (`tracer` option). */
  readonly tracer: McpTracer
  /** Exports every finished span now; true when that succeeded within `timeoutMs` (default 5000). Never rejects. */
  forceFlush(timeoutMs?: number): Promise<boolean>
  /**
   * Flushes and stops the pipeline; waits at most `timeoutMs` (default 5000), then gives up on
   * what is unsent (logged). Later spans are dropped. Idempotent; never rejects.
   */
  shutdown(timeoutMs?: number): Promise<void>
}

/** Longest attribute value kept on a span (a resource URI, an error message), characters. */
const MAX_ATTRIBUTE_LENGTH = 1024
/** At most one export-failure line per this many ms. */
const FAILURE_LOG_INTERVAL_MS = 60_000

/** Builds the SDK sampler of a {@link SamplerSpec}. */
function buildSampler(spec: SamplerSpec): Sampler {
  const sdk = otelSdkTrace()
  const root = spec.root === 'always_on' ? new sdk.AlwaysOnSampler() : spec.root === 'always_off' ? new sdk.AlwaysOffSampler() : new sdk.TraceIdRatioBasedSampler(spec.ratio)
  return spec.parentBased ? new sdk.ParentBasedSampler({ root }) : root
}

/** Wraps an exporter to log failed exports (throttled) and the recovery after them. */
function reportingExporter(inner: SpanExporter, o: { log: Logger; provider: string; endpoint: string }): SpanExporter {
  const SUCCESS = otelCore().ExportResultCode.SUCCESS
  let failed = 0
  let lastLog = -Infinity
  let failing = false
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      inner.export(spans, (result) => {
        if (result.code !== SUCCESS) {
          failed += 1
          failing = true
          const now = Date.now()
          if (now - lastLog >= FAILURE_LOG_INTERVAL_MS) {
            lastLog = now
            o.log.warn({ provider: o.provider, endpoint: o.endpoint, failed_exports: failed, err: result.error?.message }, 'trace export to the OTLP collector failed; those spans are dropped (MCP traffic is not affected)')
            failed = 0
          }
        } else if (failing) {
          failing = false
          o.log.info({ provider: o.provider, endpoint: o.endpoint }, 'trace export to the OTLP collector works again')
        }
        done(result)
      })
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  }
}

function timeout(ms: number): { promise: Promise<'timeout'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined
  const promise = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
    timer.unref()
  })
  return { promise, cancel: () => clearTimeout(timer) }
}

/**
 * Starts the OTLP/gRPC trace pipeline (nothing is sent until the first span ends; an unreachable
 * collector is only noticed, and logged, at the first export).
 */
export function startOtlpTracing(o: OtlpTracingOptions): OtlpTracing {
  const sdk = otelSdkTrace()
  const { resourceFromAttributes, defaultResource } = otelResources()
  const { config, log } = o
  const exportTimeoutMs = o.exportTimeoutMs ?? 10_000
  let exporter = o.exporter
  if (!exporter) {
    let metadata
    if (Object.keys(config.headers).length > 0) {
      metadata = new (exporterGrpc().Metadata)()
      for (const [k, v] of Object.entries(config.headers)) metadata.set(k, v)
    }
    exporter = new (otelGrpcExporter().OTLPTraceExporter)({ url: config.endpoint, timeoutMillis: exportTimeoutMs, ...(metadata && { metadata }) })
  }
  const processor = new sdk.BatchSpanProcessor({
    exporter: reportingExporter(exporter, { log, provider: o.provider, endpoint: config.endpoint }),
    scheduledDelayMillis: o.scheduledDelayMs ?? 5000,
    exportTimeoutMillis: exportTimeoutMs,
    maxQueueSize: o.maxQueueSize ?? 2048,
    maxExportBatchSize: 512,
  })
  const resource = defaultResource().merge(resourceFromAttributes({
    'service.name': config.serviceName,
    'service.instance.id': o.sidecarId,
    'service.version': o.serviceVersion,
    'hangar.provider': o.provider,
  }))
  const provider = new sdk.TracerProvider({
    resource,
    sampler: buildSampler(config.sampler),
    spanProcessors: [processor],
    spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE_LENGTH },
  })
  const tracer = new McpTracer({ tracer: provider.getTracer('mcp-hangar', o.serviceVersion), provider: o.provider, log })
  log.info({ provider: o.provider, endpoint: config.endpoint, service: config.serviceName, sampler: config.sampler }, 'exporting traces over OTLP/gRPC')
  let stopped: Promise<void> | undefined
  return {
    tracer,
    async forceFlush(timeoutMs = 5000): Promise<boolean> {
      try {
        await provider.forceFlush({ timeoutMillis: timeoutMs })
        return true
      } catch {
        return false
      }
    },
    shutdown(timeoutMs = 5000): Promise<void> {
      stopped ??= (async () => {
        const t = timeout(timeoutMs)
        const r = await Promise.race([provider.shutdown().then(() => 'done' as const, (err: unknown) => err), t.promise])
        t.cancel()
        if (r === 'timeout') log.warn({ provider: o.provider, endpoint: config.endpoint, timeout_ms: timeoutMs }, 'trace export did not finish in time at shutdown; unsent spans are dropped')
        else if (r !== 'done') log.warn({ provider: o.provider, endpoint: config.endpoint, err: (r as Error)?.message ?? String(r) }, 'trace export failed at shutdown; unsent spans are dropped')
      })()
      return stopped
    },
  }
}
