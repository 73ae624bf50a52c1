/**
 * The one place that loads the OpenTelemetry packages at run time. They are loaded through
 * `createRequire` (their CommonJS builds), never with a static `import`, so that:
 *
 * - the bundled CLI (scripts/bundle.mjs) keeps them out of dist/mcp-hangar.mjs (esbuild inlines
 *   static and dynamic imports, not `createRequire` calls): a sidecar without
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` parses none of the API, SDK, gRPC and protobuf code (measured
 *   on the bundled CLI, idle: RSS unchanged with tracing off, +7 MB with it on);
 * - nothing is loaded until tracing is switched on: each getter loads its package on first use.
 *
 * Only types are imported statically. The same pattern as core/metrics.ts (prom-client).
 */
import { createRequire } from 'node:module'
import type * as Api from '@opentelemetry/api'
import type * as Core from '@opentelemetry/core'
import type * as Resources from '@opentelemetry/resources'
import type * as SdkTrace from '@opentelemetry/sdk-trace'
import type * as GrpcExporter from '@opentelemetry/exporter-trace-otlp-grpc'
import type * as Grpc from '@grpc/grpc-js'

const load = createRequire(import.meta.url)

/** `@opentelemetry/api`: context, span kinds, status codes. */
export function otelApi(): typeof Api {
  return load('@opentelemetry/api') as typeof Api
}

/** `@opentelemetry/core`: the W3C Trace Context propagator, key-pair parsing. */
export function otelCore(): typeof Core {
  return load('@opentelemetry/core') as typeof Core
}

/** `@opentelemetry/resources`. */
export function otelResources(): typeof Resources {
  return load('@opentelemetry/resources') as typeof Resources
}

/** `@opentelemetry/sdk-trace`: the tracer provider, batch processor and samplers. */
export function otelSdkTrace(): typeof SdkTrace {
  return load('@opentelemetry/sdk-trace') as typeof SdkTrace
}

/** `@opentelemetry/exporter-trace-otlp-grpc`. */
export function otelGrpcExporter(): typeof GrpcExporter {
  return load('@opentelemetry/exporter-trace-otlp-grpc') as typeof GrpcExporter
}

/**
 * `@grpc/grpc-js` as the exporter itself resolves it (its `Metadata` carries the OTLP headers).
 * Resolved from the exporter's own package so the class is the one the exporter checks against.
 */
export function exporterGrpc(): typeof Grpc {
  const exporter = createRequire(load.resolve('@opentelemetry/exporter-trace-otlp-grpc'))
  return createRequire(exporter.resolve('@opentelemetry/otlp-grpc-exporter-base'))('@grpc/grpc-js') as typeof Grpc
}
