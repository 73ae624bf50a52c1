/**
 * Cancelling an upstream request when the client goes away, at the cost of one EventEmitter.
 *
 * undici accepts any EventEmitter with an `aborted` flag as a request's `signal`
 * (undici lib/core/util.js `addAbortListener`: `signal.once('abort', …)` when the object has no
 * `addEventListener`). An `AbortController` per request costs an EventTarget, and aborting it
 * builds a `DOMException`; on the sidecar's hot path (one per tools/call) that was 10–13 % of
 * its CPU (benchmarks/mcp-proxy, profile of the `minimal` upstream).
 */
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'

/** A one-shot cancellation: `abort()` emits `'abort'` once and sets `aborted`. */
export class Cancel extends EventEmitter {
  aborted = false

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.emit('abort')
  }
}

/**
 * A `Cancel` that fires when the client's response closes before it was finished (the client
 * disconnected, or the stream was destroyed); a response that ended normally cancels nothing.
 */
export function cancelOnClientClose(res: ServerResponse): Cancel {
  const c = new Cancel()
  res.once('close', () => {
    if (!res.writableFinished) c.abort()
  })
  return c
}
