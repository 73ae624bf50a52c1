/**
 * Pure decisions of the signal shipper (signals/shipper.ts): what an aggregator answer means
 * for the batch, and how long to wait before the next attempt. No I/O, no clock.
 */
import { backoffDelay, FULL_JITTER } from '../core/backoff.js'

/** `signal_delivery_failures_total{reason}` values of a failed POST attempt. */
export type AttemptFailure = 'network' | 'timeout' | 'server_error' | 'auth' | 'too_large' | 'bad_request'

/** One rejected signal of an acknowledged batch (the aggregator's validation error). */
export interface Rejection {
  index: number
  error: string
}

/** What to do with a batch after the aggregator answered (or did not). */
export type DeliveryOutcome =
  /** Stored (2xx). `rejected` lists signals the aggregator refused; they are not retried. `wellFormed` is false when the body was not the documented shape. */
  | { kind: 'ack'; accepted: number; duplicates: number; rejected: Rejection[]; wellFormed: boolean }
  /** The batch as a whole was refused in a way a smaller batch may pass (413, or 400 for several signals): halve it and retry at once. */
  | { kind: 'split'; reason: 'too_large' | 'bad_request'; message: string }
  /** Retry the same batch after a backoff (at least `retryAfterMs` when the aggregator asked). */
  | { kind: 'retry'; reason: AttemptFailure; message: string; retryAfterMs?: number }

/** Exponential backoff bounds, ms. */
export interface BackoffConfig {
  initialMs: number
  capMs: number
}

/** The shipper's default backoff: 100 ms doubling to at most 30 s. */
export const DEFAULT_BACKOFF: BackoffConfig = { initialMs: 100, capMs: 30_000 }

/**
 * The shipper's wait before a retry: core/backoff.ts with full jitter (AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015), a uniform wait in `[0, min(capMs, initialMs · 2^attempt))`.
 * @param attempt 0 for the first retry, then 1, 2, …
 * @param random uniform in [0, 1) (Math.random, or a fixed source in tests)
 * @returns whole ms
 */
export function shipperRetryDelay(attempt: number, cfg: BackoffConfig, random: () => number): number {
  return backoffDelay(Math.max(attempt, 0) + 1, { initialMs: cfg.initialMs, capMs: cfg.capMs, jitter: FULL_JITTER }, random())
}

/**
 * `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as ms from `nowMs`, or
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined
}

/**
 * Decides what an HTTP answer to `POST /v1/signals` means (docs/signals.md, "Delivery"):
 * - 2xx → ack, with the body's `{accepted, duplicates, rejected: [{index, error}]}` (a missing or
 *   malformed body still acks: the status says the batch is stored);
 * - 413, or 400 for a batch of several → split (a smaller batch may pass);
 * - 401/403 → retry, reason `auth` (a wrong signal token; an operator may fix the config);
 * - 408, 429, 5xx → retry, reason `server_error`, honouring `Retry-After`;
 * - 413 or 400 for a single signal, and any other status → retry (`too_large` / `bad_request`):
 *   every signal the shipper sends passed the same validator and is far below 1 MiB, so such an
 *   answer means a misconfigured endpoint, and dropping data for it would be wrong.
 * @param status HTTP status
 * @param body response body text
 * @param batchSize signals in the batch sent
 * @param retryAfter the `Retry-After` header
 * @param nowMs the current time, ms (for an HTTP-date `Retry-After`)
 */
export function classifyResponse(status: number, body: string, batchSize: number, retryAfter: string | undefined, nowMs: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return ackOf(body, batchSize)
  const detail = snippet(body)
  if (status === 413) {
    const message = `aggregator answered 413 (batch too large) for ${batchSize} signal(s)${detail}`
    return batchSize > 1 ? { kind: 'split', reason: 'too_large', message } : { kind: 'retry', reason: 'too_large', message }
  }
  if (status === 400 && batchSize > 1) return { kind: 'split', reason: 'bad_request', message: `aggregator answered 400 for a batch of ${batchSize}${detail}` }
  if (status === 401 || status === 403) {
    return { kind: 'retry', reason: 'auth', message: `aggregator refused the signal token (${status}): check the sidecar's token against aggregator.signal_tokens${detail}` }
  }
  if (status === 408 || status === 429 || status >= 500) {
    const ms = parseRetryAfter(retryAfter, nowMs)
    return { kind: 'retry', reason: 'server_error', message: `aggregator answered ${status}${detail}`, ...(ms !== undefined && { retryAfterMs: ms }) }
  }
  return { kind: 'retry', reason: 'bad_request', message: `aggregator answered ${status}${detail}: check the aggregator URL` }
}

/** Reason of a request that threw (undici error codes; our own abort is a timeout). */
export function classifyError(err: unknown): 'network' | 'timeout' {
  const code = (err as { code?: unknown } | undefined)?.code
  const name = (err as { name?: unknown } | undefined)?.name
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout'
  if (name === 'TimeoutError' || name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return 'timeout'
  return 'network'
}

function ackOf(body: string, batchSize: number): DeliveryOutcome {
  let v: unknown
  try {
    v = body === '' ? undefined : JSON.parse(body)
  } catch {
    v = undefined
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>
  const count = (x: unknown) => (Number.isInteger(x) && (x as number) >= 0 ? (x as number) : undefined)
  const rejected: Rejection[] = []
  let wellFormed = count(o.accepted) !== undefined && count(o.duplicates) !== undefined && Array.isArray(o.rejected)
  const seen = new Set<number>()
  for (const r of Array.isArray(o.rejected) ? o.rejected : []) {
    const index = count((r as { index?: unknown } | null)?.index)
    if (index === undefined || index >= batchSize || seen.has(index)) {
      wellFormed = false
      continue
    }
    seen.add(index)
    const error = (r as { error?: unknown }).error
    rejected.push({ index, error: typeof error === 'string' ? error : 'rejected' })
  }
  rejected.sort((a, b) => a.index - b.index)
  return {
    kind: 'ack',
    accepted: count(o.accepted) ?? batchSize - rejected.length,
    duplicates: count(o.duplicates) ?? 0,
    rejected,
    wellFormed,
  }
}

function snippet(body: string): string {
  const t = body.trim()
  return t ? `: ${t.length > 200 ? t.slice(0, 200) + '…' : t}` : ''
}
