/**
 * Every code MCP Hangar emits, in one place, each documented here and in docs/errors.md (a test
 * keeps the two in step):
 *  - {@link ERROR_CODES}: the `code` of every {@link HangarError} (typed errors; users and tests
 *    match on `code`, never on the message: the undici convention, `UND_ERR_*`);
 *  - {@link JSON_RPC_ERROR_CODES}: the JSON-RPC `error.code` numbers the MCP sidecar answers with;
 *  - {@link INGRESS_REJECT_REASONS}: why the MCP ingress refused a request at the HTTP level (the
 *    `reason` label of `mcp_hangar_ingress_rejected_total`);
 *  - {@link AGGREGATOR_API_ERROR_CODES}: the `error.code` of the aggregator API's JSON errors.
 */

/** Every stable error code the project throws (the `code` of a {@link HangarError}). */
export const ERROR_CODES = {
  /** The configuration (or a profile file) failed validation; `ConfigError.issues` names every bad field. */
  CONFIG_INVALID: 'HANGAR_CONFIG_INVALID',
  /** The config file or a `profile:` file does not exist. */
  CONFIG_NOT_FOUND: 'HANGAR_CONFIG_NOT_FOUND',
  /** `up` could not build a provider's network namespace, veth pair or nftables rules. */
  ISOLATION_FAILED: 'HANGAR_ISOLATION_FAILED',
  /** `up`: the aggregator or a sidecar did not become ready, or kept exiting. */
  UP_FAILED: 'HANGAR_UP_FAILED',
  /** A command-line option has a value the command cannot use. */
  USAGE: 'HANGAR_USAGE',
  /** A `${VAR}` in the configuration names an unset environment variable. */
  CONFIG_ENV_UNSET: 'HANGAR_CONFIG_ENV_UNSET',
  /** `--provider NAME` is not under `providers:`. */
  PROVIDER_UNKNOWN: 'HANGAR_PROVIDER_UNKNOWN',
  /** A host glob is not one of the three accepted forms, or spans a public suffix. */
  GLOB_INVALID: 'HANGAR_GLOB_INVALID',
  /** A `cidr:` is malformed or has host bits set. */
  CIDR_INVALID: 'HANGAR_CIDR_INVALID',
  /** An upstream resolver answered SERVFAIL/REFUSED or could not be reached (the egress proxy answers 502). */
  DNS_FAILED: 'HANGAR_DNS_FAILED',
  /** No upstream resolver answered within `limits.dns_timeout_ms` (the egress proxy answers 504). */
  DNS_TIMEOUT: 'HANGAR_DNS_TIMEOUT',
  /** The name does not exist or has no A/AAAA records (the egress proxy answers 502). */
  DNS_NO_ADDRESS: 'HANGAR_DNS_NO_ADDRESS',
  /** The upstream TCP connect exceeded `limits.connect_timeout_ms` (504). */
  DIAL_TIMEOUT: 'HANGAR_DIAL_TIMEOUT',
  /** The upstream refused or reset the connection (502). */
  DIAL_FAILED: 'HANGAR_DIAL_FAILED',
  /** A listener could not bind its address (in use, not permitted, not an IP). */
  LISTEN_FAILED: 'HANGAR_LISTEN_FAILED',
  /** An MCP request body exceeds `ingress.max_body_bytes` (answered 413). */
  BODY_TOO_LARGE: 'HANGAR_BODY_TOO_LARGE',
  /** The client aborted an MCP request body, or it could not be read (answered 400). */
  BODY_ABORTED: 'HANGAR_BODY_ABORTED',
  /** A remote provider's SSE stream buffered more than its bound without completing an event. */
  SSE_EVENT_TOO_LARGE: 'HANGAR_SSE_EVENT_TOO_LARGE',
  /** A provider cannot serve: circuit open, start failed, exited, not started, or stopped. */
  PROVIDER_UNAVAILABLE: 'HANGAR_PROVIDER_UNAVAILABLE',
  /** A request the sidecar itself sent to a stdio provider was not answered in time. */
  PROVIDER_TIMEOUT: 'HANGAR_PROVIDER_TIMEOUT',
  /** A stdio provider answered a request the sidecar itself sent with a JSON-RPC error. */
  PROVIDER_RPC_ERROR: 'HANGAR_PROVIDER_RPC_ERROR',
  /** The aggregator could not write and fsync a signal batch to its audit log; nothing of it was kept. */
  AUDIT_WRITE_FAILED: 'HANGAR_AUDIT_WRITE_FAILED',
  /** The aggregator could not open its audit directory or file at start. */
  AUDIT_OPEN_FAILED: 'HANGAR_AUDIT_OPEN_FAILED',
  /** The audit log has no room: retained records fill its size budget, or the disk is full. */
  AUDIT_FULL: 'HANGAR_AUDIT_FULL',
  /** An operation reached the signal store (or its audit log) after it was closed. */
  STORE_CLOSED: 'HANGAR_STORE_CLOSED',
  /** A `GET /v1/signals` parameter is invalid. */
  QUERY_INVALID: 'HANGAR_QUERY_INVALID',
  /** The sidecar could not open, create or write its signal spool. */
  SPOOL_IO: 'HANGAR_SPOOL_IO',
  /** The signal spool was used after it was closed. */
  SPOOL_CLOSED: 'HANGAR_SPOOL_CLOSED',
  /** A baseline file or answer is not a `hangar.baseline/v1` document. */
  BASELINE_INVALID: 'HANGAR_BASELINE_INVALID',
  /** No baseline could be read: missing file, none for the provider, or the source unreachable. */
  BASELINE_UNAVAILABLE: 'HANGAR_BASELINE_UNAVAILABLE',
  /** `images build`: Docker is missing or does not answer, the installation lacks what an image needs, or a build failed. */
  IMAGE_BUILD_FAILED: 'HANGAR_IMAGE_BUILD_FAILED',
  /** `images build --push`: the registry refused or could not be reached. */
  IMAGE_PUSH_FAILED: 'HANGAR_IMAGE_PUSH_FAILED',
} as const

/**
 * JSON-RPC `error.code` numbers the MCP sidecar answers with: the reserved codes of JSON-RPC 2.0
 * §5.1, and MCP Hangar's own in the implementation-defined server-error range (-32000 to -32099).
 */
export const JSON_RPC_ERROR_CODES = {
  /** Transport-level refusal (the bodies of HTTP 4xx answers; the MCP SDK's code for them). */
  TRANSPORT_ERROR: -32000,
  /** Invalid JSON was received (also: nesting deeper than `ingress.max_json_depth`). */
  PARSE_ERROR: -32700,
  /** Not a valid Request object. */
  INVALID_REQUEST: -32600,
  /** The method does not exist or is not available. */
  METHOD_NOT_FOUND: -32601,
  /** Invalid method parameters: tool arguments failing the tool's inputSchema. */
  INVALID_PARAMS: -32602,
  /** An internal error of the sidecar or the provider. */
  INTERNAL_ERROR: -32603,
  /** Tool access denied by policy: denied tool, secret in arguments, quarantine, drift hold. */
  POLICY_DENIED: -32001,
  /** Rate limit or concurrency limit hit. */
  RATE_LIMITED: -32002,
  /** The provider is unavailable: circuit open, failed to start, exited, or timed out. */
  PROVIDER_UNAVAILABLE: -32003,
} as const

/**
 * Why the MCP ingress refused a request at the HTTP level, with the statuses it answers: the
 * `reason` label of `mcp_hangar_ingress_rejected_total`.
 */
export const INGRESS_REJECT_REASONS = {
  /** 401: no bearer token, or not one of `ingress.auth` tokens. */
  auth: [401],
  /** 403: an `Origin` header not in `ingress.allowed_origins` (DNS-rebinding defence). */
  origin: [403],
  /** 413: the body exceeds `ingress.max_body_bytes`. */
  body_too_large: [413],
  /** 400: an aborted or unreadable body; 404: a path other than the MCP endpoint; 405: a method other than GET, POST, DELETE. */
  bad_request: [400, 404, 405],
  /** 406: an `Accept` header without the media types the transport requires. */
  not_acceptable: [406],
  /** 415: a `Content-Type` other than `application/json`, a charset other than UTF-8, or a `Content-Encoding`. */
  unsupported_media_type: [415],
  /** 400: an `MCP-Protocol-Version` the sidecar does not support. */
  protocol_version: [400],
  /** 400: a malformed `Mcp-Session-Id`. */
  session: [400],
} as const satisfies Record<string, readonly number[]>

/** A key of {@link INGRESS_REJECT_REASONS}. */
export type IngressRejectReason = keyof typeof INGRESS_REJECT_REASONS

/** The `error.code` of the aggregator API's JSON errors (`{"error": {"code", "message"}}`), with the status. */
export const AGGREGATOR_API_ERROR_CODES = {
  /** 400: malformed JSON, a wrong envelope, a bad query parameter. */
  bad_request: 400,
  /** 401: a missing or wrong bearer token. */
  unauthorized: 401,
  /** 403: an authenticated principal whose role is below the one the route or tool needs (RBAC). */
  forbidden: 403,
  /** 404: no such route, provider or baseline. */
  not_found: 404,
  /** 405: the route exists, the method does not. */
  method_not_allowed: 405,
  /** 413: the body exceeds the endpoint's limit. */
  payload_too_large: 413,
  /** 415: a body that is not `application/json`. */
  unsupported_media_type: 415,
  /** 429: a heartbeat of one more unconfigured provider than the registry keeps. */
  too_many_providers: 429,
  /** 500: a bug; logged. */
  internal: 500,
  /** 501: the route needs an enterprise module that is not loaded or not configured (API keys without RBAC). */
  not_implemented: 501,
  /** 503: shutting down, or the audit log could not be written. */
  unavailable: 503,
  /** 507: the audit log has no room. */
  insufficient_storage: 507,
} as const satisfies Record<string, number>

/** A key of {@link AGGREGATOR_API_ERROR_CODES}. */
export type AggregatorApiErrorCode = keyof typeof AGGREGATOR_API_ERROR_CODES

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES]

/** Base class of every error the project throws on purpose. */
export class HangarError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** One invalid field of the configuration: `path` is dotted with `[i]` indices. */
export interface ConfigIssue {
  path: string
  message: string
}

/**
 * The configuration failed validation. `issues` names every bad field; the message lists them
 * one per line as `path: message`.
 */
export class ConfigError extends HangarError {
  readonly issues: readonly ConfigIssue[]
  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(
      ERROR_CODES.CONFIG_INVALID,
      `invalid configuration in ${source}:\n` + issues.map((i) => `  ${i.path}: ${i.message}`).join('\n'),
    )
    this.issues = issues
  }
}
