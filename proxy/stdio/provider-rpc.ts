/**
 * The requests a stdio provider makes itself (`initialize`, `ping`, `StdioProvider.request`): string
 * ids `hangar:<n>`, each with its own timeout. The child's responses to them are matched here and
 * consumed (never emitted to the sidecar's clients); a request that times out may be cancelled with
 * `notifications/cancelled` (MCP "Utilities/Cancellation").
 */
import { JSON_RPC_ERROR_CODES } from '../../core/errors.js'
import type { JsonRpcMessage } from '../types.js'
import type { ProviderChild } from './child.js'
import { ProviderRpcError, ProviderTimeoutError, ProviderUnavailableError } from './provider-errors.js'

/** Prefix of the ids of the provider's own requests; clients may not send requests with it. */
export const ID_PREFIX = 'hangar:'

interface Pending {
  method: string
  resolve: (result: Record<string, unknown>) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/** True for a request (it has `method` and `id`) whose string id is reserved by {@link ID_PREFIX}. */
export function isReservedRequest(message: JsonRpcMessage): boolean {
  return 'method' in message && 'id' in message && typeof message.id === 'string' && message.id.startsWith(ID_PREFIX)
}

/** The provider's own requests in flight, keyed by id. */
export class ProviderRequests {
  readonly #provider: string
  readonly #pending = new Map<string, Pending>()
  #seq = 0

  /** @param provider the provider name, for the errors */
  constructor(provider: string) {
    this.#provider = provider
  }

  /**
   * Sends request `method` with the next `hangar:<n>` id to `child` and waits for its response.
   * @param params omitted from the message when undefined
   * @param timeoutMs how long to wait, ms
   * @param cancelOnTimeout send `notifications/cancelled` for it on timeout
   * @returns the response's `result` object
   * @throws ProviderUnavailableError when there is no child or its stdin is closed (and, via
   *   {@link rejectAll}, when it exits or is detached first); ProviderTimeoutError after
   *   `timeoutMs`; ProviderRpcError on a JSON-RPC error response or a result that is not an object
   */
  call(child: ProviderChild | undefined, method: string, params: Record<string, unknown> | undefined, timeoutMs: number, cancelOnTimeout: boolean): Promise<Record<string, unknown>> {
    if (!child) return Promise.reject(new ProviderUnavailableError(this.#provider, 'not running'))
    const id = `${ID_PREFIX}${++this.#seq}`
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return
        if (cancelOnTimeout) child.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: `no response within ${timeoutMs} ms` } })
        reject(new ProviderTimeoutError(this.#provider, method, timeoutMs))
      }, timeoutMs)
      timer.unref()
      this.#pending.set(id, { method, resolve, reject, timer })
      const msg = params === undefined ? { jsonrpc: '2.0' as const, id, method } : { jsonrpc: '2.0' as const, id, method, params }
      if (!child.send(msg)) {
        this.#pending.delete(id)
        clearTimeout(timer)
        reject(new ProviderUnavailableError(this.#provider, 'its stdin is closed'))
      }
    })
  }

  /**
   * Settles the request a response answers. A response with a `hangar:` id is always consumed,
   * also a late one whose request already timed out.
   * @returns true when `m` was a response to one of the provider's own requests (consumed)
   */
  settle(m: JsonRpcMessage): boolean {
    if ('method' in m || typeof m.id !== 'string' || !m.id.startsWith(ID_PREFIX)) return false
    const p = this.#pending.get(m.id)
    if (!p) return true // late answer to a timed-out request
    this.#pending.delete(m.id)
    clearTimeout(p.timer)
    if ('error' in m) p.reject(new ProviderRpcError(this.#provider, p.method, m.error))
    else if (typeof m.result === 'object' && m.result !== null && !Array.isArray(m.result)) p.resolve(m.result)
    else p.reject(new ProviderRpcError(this.#provider, p.method, { code: JSON_RPC_ERROR_CODES.INTERNAL_ERROR, message: 'response result is not an object' }))
    return true
  }

  /** Fails every request in flight with `err` (the child exited or was detached). */
  rejectAll(err: Error): void {
    const all = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of all) {
      clearTimeout(p.timer)
      p.reject(err)
    }
  }
}
