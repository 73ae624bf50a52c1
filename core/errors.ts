/**
 * Typed errors with stable codes. Users and tests match on `code`, never on the message
 * (the undici convention: `UND_ERR_*`). Every code is listed in docs/errors.md.
 */

/** Every stable error code the project throws. */
export const ERROR_CODES = {
  CONFIG_INVALID: 'HANGAR_CONFIG_INVALID',
  CONFIG_NOT_FOUND: 'HANGAR_CONFIG_NOT_FOUND',
  ISOLATION_FAILED: 'HANGAR_ISOLATION_FAILED',
  UP_FAILED: 'HANGAR_UP_FAILED',
  USAGE: 'HANGAR_USAGE',
  CONFIG_ENV_UNSET: 'HANGAR_CONFIG_ENV_UNSET',
  PROVIDER_UNKNOWN: 'HANGAR_PROVIDER_UNKNOWN',
  GLOB_INVALID: 'HANGAR_GLOB_INVALID',
  CIDR_INVALID: 'HANGAR_CIDR_INVALID',
  DNS_FAILED: 'HANGAR_DNS_FAILED',
  DNS_TIMEOUT: 'HANGAR_DNS_TIMEOUT',
  DNS_NO_ADDRESS: 'HANGAR_DNS_NO_ADDRESS',
  DIAL_TIMEOUT: 'HANGAR_DIAL_TIMEOUT',
  DIAL_FAILED: 'HANGAR_DIAL_FAILED',
  LISTEN_FAILED: 'HANGAR_LISTEN_FAILED',
  BODY_TOO_LARGE: 'HANGAR_BODY_TOO_LARGE',
  BODY_ABORTED: 'HANGAR_BODY_ABORTED',
  SSE_EVENT_TOO_LARGE: 'HANGAR_SSE_EVENT_TOO_LARGE',
  PROVIDER_UNAVAILABLE: 'HANGAR_PROVIDER_UNAVAILABLE',
  PROVIDER_TIMEOUT: 'HANGAR_PROVIDER_TIMEOUT',
  PROVIDER_RPC_ERROR: 'HANGAR_PROVIDER_RPC_ERROR',
  AUDIT_WRITE_FAILED: 'HANGAR_AUDIT_WRITE_FAILED',
  AUDIT_OPEN_FAILED: 'HANGAR_AUDIT_OPEN_FAILED',
  AUDIT_FULL: 'HANGAR_AUDIT_FULL',
  STORE_CLOSED: 'HANGAR_STORE_CLOSED',
  QUERY_INVALID: 'HANGAR_QUERY_INVALID',
  SPOOL_IO: 'HANGAR_SPOOL_IO',
  SPOOL_CLOSED: 'HANGAR_SPOOL_CLOSED',
  BASELINE_INVALID: 'HANGAR_BASELINE_INVALID',
  BASELINE_UNAVAILABLE: 'HANGAR_BASELINE_UNAVAILABLE',
} as const

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
