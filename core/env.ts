/**
 * The one place that reads `process.env` (STYLE.md: all environment variables live in one file).
 * Everything else receives these values as arguments.
 */

/** Environment variables the project reads, with their meaning. */
export interface HangarEnv {
  /** `MCP_CONFIG`: path of hangar.yaml when `-c` is not given. */
  configPath: string | undefined
  /** `MCP_HTTP_HOST` / `MCP_HTTP_PORT`: override of the aggregator listen address. */
  httpHost: string | undefined
  httpPort: number | undefined
  /** `MCP_LOG_LEVEL`: pino level (`trace`…`fatal`, `silent`); default `info`. */
  logLevel: string
  /** `MCP_JSON_LOGS`: `true`/`1` → JSON lines on stdout; otherwise a short human format. */
  jsonLogs: boolean
  /** `MCP_LICENSE_KEY`: the enterprise license key (core/license.ts, docs/licensing.md). */
  licenseKey: string | undefined
  /** `MCP_HANGAR_ADMIN_KEY`: the credential `mcp-hangar keys` presents to the aggregator (an admin API key or admin token). */
  adminKey: string | undefined
  /** `CI`: true under continuous integration (tests needing root/Docker must run, not skip). */
  ci: boolean
  /** `HANGAR_HOST_ACCESS`: host access a Compose file granted the sidecar's provider (JSON, written by `compose inject`). */
  hostAccess: string | undefined
  /** OpenTelemetry trace export (docs/configuration.md "OpenTelemetry traces"); raw values, parsed by proxy/trace/config.ts. */
  otel: OtelEnv
}

/**
 * The standard OpenTelemetry SDK variables the sidecar honours (OpenTelemetry specification,
 * "Environment Variable Specification" and "OTLP Exporter Configuration"). Traces are exported
 * only when an endpoint is set. Empty values count as unset.
 */
export interface OtelEnv {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: the OTLP/gRPC collector (`http://host:4317`; `https://` for TLS). */
  endpoint: string | undefined
  /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the same for traces only; wins over `endpoint`. */
  tracesEndpoint: string | undefined
  /** `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,key2=value2` (values percent-encoded), sent as gRPC metadata. */
  headers: string | undefined
  /** `OTEL_EXPORTER_OTLP_TRACES_HEADERS`: the same for traces only; merged over `headers`. */
  tracesHeaders: string | undefined
  /** `OTEL_SERVICE_NAME`: `service.name` (default `mcp-hangar-sidecar`). */
  serviceName: string | undefined
  /** `OTEL_TRACES_SAMPLER`: `parentbased_always_on` (default), `always_on`, `always_off`, `traceidratio`, `parentbased_always_off`, `parentbased_traceidratio`. */
  sampler: string | undefined
  /** `OTEL_TRACES_SAMPLER_ARG`: the ratio of the `*traceidratio` samplers, 0…1 (default 1). */
  samplerArg: string | undefined
  /** `OTEL_SDK_DISABLED`: `true` turns tracing off even with an endpoint. */
  sdkDisabled: boolean
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim())
}

/** Reads the environment once. `env` is injectable for tests. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): HangarEnv {
  const port = env.MCP_HTTP_PORT !== undefined ? Number(env.MCP_HTTP_PORT) : undefined
  return {
    configPath: env.MCP_CONFIG || undefined,
    httpHost: env.MCP_HTTP_HOST || undefined,
    httpPort: port !== undefined && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined,
    logLevel: env.MCP_LOG_LEVEL || 'info',
    jsonLogs: truthy(env.MCP_JSON_LOGS),
    licenseKey: env.MCP_LICENSE_KEY || undefined,
    adminKey: env.MCP_HANGAR_ADMIN_KEY?.trim() || undefined,
    ci: truthy(env.CI),
    hostAccess: env.HANGAR_HOST_ACCESS || undefined,
    otel: {
      endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || undefined,
      tracesEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || undefined,
      headers: env.OTEL_EXPORTER_OTLP_HEADERS?.trim() || undefined,
      tracesHeaders: env.OTEL_EXPORTER_OTLP_TRACES_HEADERS?.trim() || undefined,
      serviceName: env.OTEL_SERVICE_NAME?.trim() || undefined,
      sampler: env.OTEL_TRACES_SAMPLER?.trim() || undefined,
      samplerArg: env.OTEL_TRACES_SAMPLER_ARG?.trim() || undefined,
      // The specification's boolean: only a case-insensitive "true" is true.
      sdkDisabled: env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true',
    },
  }
}

/** The raw environment, for `${VAR}` substitution in the config loader only. */
export function rawEnv(): Readonly<Record<string, string | undefined>> {
  return process.env
}

/**
 * Variables a provider process inherits from the sidecar before its configured `env`: what a
 * program needs to run (like the MCP SDK's `getDefaultEnvironment`), never the sidecar's whole
 * environment, which holds tokens. Proxy variables are set by `up` (core/proxy-env.ts), not inherited.
 */
export const PROVIDER_INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'] as const

/** The values of {@link PROVIDER_INHERITED_ENV} that are set. */
export function providerEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of PROVIDER_INHERITED_ENV) {
    const v = env[k]
    if (v !== undefined && !v.startsWith('()')) out[k] = v
  }
  return out
}
