/**
 * Errors of a stdio provider (proxy/stdio/provider.ts): it cannot serve, a request it made timed
 * out, or a request it made was answered with a JSON-RPC error.
 */
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import type { JsonRpcErrorObject } from '../types.js'

/** Stable codes of the provider errors (core/errors.ts `ERROR_CODES`, docs/errors.md). */
export const PROVIDER_ERROR_CODES = {
  /** The provider cannot serve: circuit open, start failed, exited, not started, or stopped. */
  UNAVAILABLE: ERROR_CODES.PROVIDER_UNAVAILABLE,
  /** A request the sidecar made to the provider was not answered in time. */
  TIMEOUT: ERROR_CODES.PROVIDER_TIMEOUT,
  /** The provider answered a request the sidecar made with a JSON-RPC error. */
  RPC_ERROR: ERROR_CODES.PROVIDER_RPC_ERROR,
} as const

/**
 * The provider cannot serve now. `reason` is one sentence ("circuit breaker open …",
 * "start failed: exited with code 1: <stderr line>", "stopped: shutdown"); `retryAfterMs` is set
 * when a later attempt may succeed (breaker open: until it half-opens; failed start: the backoff).
 * Answer a client with JSON-RPC `RPC.PROVIDER_UNAVAILABLE` (-32003).
 */
export class ProviderUnavailableError extends HangarError {
  constructor(readonly provider: string, readonly reason: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(
      PROVIDER_ERROR_CODES.UNAVAILABLE,
      `provider "${provider}" is unavailable: ${reason}${retryAfterMs !== undefined ? ` (retry after ${retryAfterMs} ms)` : ''}`,
      options,
    )
  }
}

/**
 * The one-sentence reason of a failed start from what the start's `initialize` failed with: the
 * reason of a ProviderUnavailableError (the process exited, its stdin closed), "no initialize
 * result within <startupTimeoutMs> ms", "initialize failed with error <code>: <message>", or the
 * error's message.
 */
export function startFailureReason(err: unknown, startupTimeoutMs: number): string {
  return err instanceof ProviderUnavailableError ? err.reason
    : err instanceof ProviderTimeoutError ? `no initialize result within ${startupTimeoutMs} ms`
      : err instanceof ProviderRpcError ? `initialize failed with error ${err.rpcError.code}: ${err.rpcError.message}`
        : (err as Error).message
}

/** A request made by `StdioProvider.request` got no response within `timeoutMs`. */
export class ProviderTimeoutError extends HangarError {
  constructor(readonly provider: string, readonly method: string, readonly timeoutMs: number) {
    super(PROVIDER_ERROR_CODES.TIMEOUT, `provider "${provider}" did not answer ${method} within ${timeoutMs} ms`)
  }
}

/** A request made by `StdioProvider.request` was answered with a JSON-RPC error (`rpcError`). */
export class ProviderRpcError extends HangarError {
  constructor(readonly provider: string, readonly method: string, readonly rpcError: JsonRpcErrorObject) {
    super(PROVIDER_ERROR_CODES.RPC_ERROR, `provider "${provider}" answered ${method} with error ${rpcError.code}: ${rpcError.message}`)
  }
}
