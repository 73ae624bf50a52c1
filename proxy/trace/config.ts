/**
 * Whether and how the sidecar exports traces, decided from the standard OpenTelemetry variables
 * (read by core/env.ts, {@link OtelEnv}): the OpenTelemetry specification's "OTLP Exporter
 * Configuration" and "Environment Variable Specification" (General SDK Configuration).
 *
 * - Off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the
 *   signal-specific one wins); `OTEL_SDK_DISABLED=true` turns it off regardless. Off costs
 *   nothing: no OpenTelemetry module is loaded.
 * - The endpoint is used as given (OTLP/gRPC takes no path). `http://` means plaintext,
 *   `https://` TLS; without a scheme the exporter library decides from
 *   `OTEL_EXPORTER_OTLP_INSECURE` (it reads its TLS variables itself).
 * - Headers: `OTEL_EXPORTER_OTLP_HEADERS`, then `OTEL_EXPORTER_OTLP_TRACES_HEADERS` over it
 *   (W3C Baggage format, percent-decoded by `@opentelemetry/core`).
 * - Sampler: `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`; default `parentbased_always_on`
 *   (the specification's default). An unknown name or a bad ratio is reported and the default
 *   used, as the specification asks ("MUST NOT fail"; "SHOULD log a warning").
 */
import type { OtelEnv } from '../../core/env.js'
import { otelCore } from './otel.js'

/** `service.name` when `OTEL_SERVICE_NAME` is unset. */
export const DEFAULT_SERVICE_NAME = 'mcp-hangar-sidecar'

/** A sampler as the specification names them: `root` for spans without a parent, optionally parent-based. */
export interface SamplerSpec {
  /** `always_on`, `always_off`, or `ratio` (TraceIdRatioBased with {@link SamplerSpec.ratio}). */
  root: 'always_on' | 'always_off' | 'ratio'
  /** 0…1; meaningful for `ratio`. */
  ratio: number
  /** Follow a parent's sampled flag (`parentbased_*`). */
  parentBased: boolean
}

/** The trace export configuration; undefined from {@link traceConfigFromEnv} means off. */
export interface OtlpTraceConfig {
  /** The collector, e.g. `http://127.0.0.1:4317`. */
  endpoint: string
  /** gRPC metadata sent with every export. */
  headers: Record<string, string>
  serviceName: string
  sampler: SamplerSpec
}

const DEFAULT_SAMPLER: SamplerSpec = { root: 'always_on', ratio: 1, parentBased: true }

/**
 * The sampler named by `OTEL_TRACES_SAMPLER` (+ `_ARG`). Pure.
 * @param warn told about an unknown name or an invalid argument (the default is used instead).
 */
export function samplerFromEnv(name: string | undefined, arg: string | undefined, warn: (message: string) => void): SamplerSpec {
  if (name === undefined) return DEFAULT_SAMPLER
  const n = name.toLowerCase()
  let ratio = 1
  if (n === 'traceidratio' || n === 'parentbased_traceidratio') {
    const r = arg === undefined ? 1 : Number(arg)
    if (arg !== undefined && (arg.trim() === '' || !Number.isFinite(r) || r < 0 || r > 1)) {
      warn(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(arg)} is not a ratio between 0 and 1; using 1`)
    } else {
      ratio = r
    }
  }
  switch (n) {
    case 'always_on': return { root: 'always_on', ratio: 1, parentBased: false }
    case 'always_off': return { root: 'always_off', ratio: 0, parentBased: false }
    case 'traceidratio': return { root: 'ratio', ratio, parentBased: false }
    case 'parentbased_always_on': return DEFAULT_SAMPLER
    case 'parentbased_always_off': return { root: 'always_off', ratio: 0, parentBased: true }
    case 'parentbased_traceidratio': return { root: 'ratio', ratio, parentBased: true }
    default:
      warn(`OTEL_TRACES_SAMPLER=${JSON.stringify(name)} is not supported (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio); using parentbased_always_on`)
      return DEFAULT_SAMPLER
  }
}

/**
 * The trace export configuration, or undefined when traces are off (no endpoint, or
 * `OTEL_SDK_DISABLED=true`). Loads `@opentelemetry/core` only when an endpoint is set.
 * @param warn told about ignored values (bad sampler settings).
 */
export function traceConfigFromEnv(env: OtelEnv, warn: (message: string) => void): OtlpTraceConfig | undefined {
  const endpoint = env.tracesEndpoint ?? env.endpoint
  if (endpoint === undefined || env.sdkDisabled) return undefined
  const { parseKeyPairsIntoRecord } = otelCore()
  return {
    endpoint,
    headers: { ...parseKeyPairsIntoRecord(env.headers), ...parseKeyPairsIntoRecord(env.tracesHeaders) },
    serviceName: env.serviceName ?? DEFAULT_SERVICE_NAME,
    sampler: samplerFromEnv(env.sampler, env.samplerArg, warn),
  }
}
