/**
 * The signal endpoints of the aggregator (docs/aggregator.md §API):
 * - `POST /v1/signals` `{signals: Signal[]}` (signal token): the body is read up to 1 MiB (more
 *   → 413, nothing written), must be `application/json` (else 415) and well-formed JSON with the
 *   envelope (else 400, nothing written); each signal is validated (signals/validate.ts), the
 *   valid ones are deduplicated by id and appended to the audit log and fsynced, and only then
 *   the answer is `202 {accepted, duplicates, rejected: [{index, error}]}`. A batch the audit log
 *   could not make durable → 503 with `Retry-After` (the sidecar keeps it spooled); a batch the
 *   audit log has no room for (retained records fill `audit_max_total_bytes`, or the disk is
 *   full) → 507 `insufficient_storage` with `Retry-After`, counted in
 *   `aggregator_audit_refusals_total{reason}`; nothing is ever dropped silently.
 * - `GET /v1/signals?provider=&type=&kind=&severity=&since=&cursor=&limit=` (admin token): one page
 *   and `next_cursor`.
 * - `GET /v1/signals/stream` (admin token): SSE, one event per signal (`id:` = its sequence
 *   number, `data:` = the signal JSON), resumable with `Last-Event-ID` (or `?after=`); accepts
 *   the same filters as the query.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../../core/log.js'
import { BodyError, readBody } from '../../core/http/body.js'
import { SseWriter } from '../../core/http/sse.js'
import { validateBatch } from '../../signals/validate.js'
import type { Signal } from '../../signals/types.js'
import type { AggregatorMetrics } from '../metrics.js'
import { AuditFullError, AuditWriteError, QueryError } from '../store/errors.js'
import type { AggregatorService } from '../service.js'
import type { QueryFilter } from '../store-api.js'
import { sendError, sendJson } from './reply.js'

/** Largest `POST /v1/signals` body, bytes (more → 413; docs/aggregator.md §API). */
export const MAX_SIGNAL_BATCH_BYTES = 1024 * 1024

/** Bytes a stream reader may lag behind before the stream is closed (it resumes with Last-Event-ID). */
export const MAX_STREAM_BACKLOG_BYTES = 8 * 1024 * 1024

/** Handles `POST /v1/signals`. */
export async function postSignals(req: IncomingMessage, res: ServerResponse, svc: AggregatorService, metrics: AggregatorMetrics, log: Logger): Promise<void> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    metrics.batches.inc({ outcome: 'unsupported_media_type' })
    req.resume()
    return sendError(res, 415, 'unsupported_media_type', 'Content-Type must be application/json')
  }
  let raw: Buffer
  try {
    raw = await readBody(req, MAX_SIGNAL_BATCH_BYTES)
  } catch (err) {
    if (err instanceof BodyError) {
      metrics.batches.inc({ outcome: err.status === 413 ? 'too_large' : 'bad_request' })
      return err.status === 413
        ? sendError(res, 413, 'payload_too_large', `a signal batch is at most ${MAX_SIGNAL_BATCH_BYTES} bytes; split it`, { max_bytes: MAX_SIGNAL_BATCH_BYTES })
        : sendError(res, 400, 'bad_request', err.message)
    }
    throw err
  }
  let body: unknown
  try {
    body = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    metrics.batches.inc({ outcome: 'bad_request' })
    return sendError(res, 400, 'bad_request', `malformed JSON: ${(err as Error).message}`)
  }
  const v = validateBatch(body)
  if (!v.ok) {
    metrics.batches.inc({ outcome: 'bad_request' })
    return sendError(res, 400, 'bad_request', v.error)
  }
  let r: Awaited<ReturnType<AggregatorService['ingest']>>
  try {
    r = await svc.ingest(v.signals)
  } catch (err) {
    if (err instanceof AuditFullError) {
      metrics.batches.inc({ outcome: 'insufficient_storage' })
      metrics.auditRefusals.inc({ reason: err.reason })
      log.error({ err: err.message, reason: err.reason }, 'signal batch refused: the audit log has no room; answered 507 so the sidecar keeps it spooled')
      return sendError(res, 507, 'insufficient_storage', err.message, { reason: err.reason }, { 'Retry-After': '30' })
    }
    if (err instanceof AuditWriteError) {
      metrics.batches.inc({ outcome: 'unavailable' })
      log.error({ err: err.message }, 'signal batch not stored; answered 503 so the sidecar retries')
      return sendError(res, 503, 'unavailable', 'the audit log could not store the batch; retry later', {}, { 'Retry-After': '5' })
    }
    throw err
  }
  metrics.batches.inc({ outcome: 'accepted' })
  metrics.signals.inc({ outcome: 'accepted' }, r.accepted)
  if (r.duplicates) metrics.signals.inc({ outcome: 'duplicate' }, r.duplicates)
  if (v.rejected.length) {
    metrics.signals.inc({ outcome: 'rejected' }, v.rejected.length)
    log.warn({ rejected: v.rejected.slice(0, 5), count: v.rejected.length }, 'signals rejected by validation')
  }
  sendJson(res, 202, { accepted: r.accepted, duplicates: r.duplicates, rejected: v.rejected })
}

/**
 * Parses the query-string filter. @returns the filter, or an error sentence naming the parameter.
 */
export function parseFilter(params: URLSearchParams): QueryFilter | string {
  const f: QueryFilter = {}
  for (const k of ['provider', 'type', 'kind', 'severity', 'cursor'] as const) {
    const v = params.get(k)
    if (v !== null && v !== '') f[k] = v
  }
  const since = params.get('since')
  if (since) {
    if (Number.isNaN(Date.parse(since))) return `since: expected an RFC 3339 time, got ${JSON.stringify(since.slice(0, 40))}`
    f.since = new Date(since).toISOString()
  }
  const limit = params.get('limit')
  if (limit !== null) {
    const n = Number(limit)
    if (!Number.isInteger(n) || n < 1 || n > 1000) return 'limit: expected an integer 1–1000'
    f.limit = n
  }
  return f
}

/** Handles `GET /v1/signals`. */
export function getSignals(res: ServerResponse, params: URLSearchParams, svc: AggregatorService): void {
  const f = parseFilter(params)
  if (typeof f === 'string') return sendError(res, 400, 'bad_request', f)
  try {
    sendJson(res, 200, svc.query(f))
  } catch (err) {
    if (err instanceof QueryError) return sendError(res, 400, 'bad_request', err.message, { param: err.param })
    throw err
  }
}

function matches(f: QueryFilter, s: Signal): boolean {
  return (!f.provider || s.provider === f.provider) && (!f.type || s.type === f.type) && (!f.kind || s.kind === f.kind) &&
    (!f.severity || s.severity === f.severity) && (!f.since || s.time >= f.since)
}

/** Handles `GET /v1/signals/stream` until the client goes away. */
export function streamSignals(req: IncomingMessage, res: ServerResponse, params: URLSearchParams, svc: AggregatorService, metrics: AggregatorMetrics): void {
  const f = parseFilter(params)
  if (typeof f === 'string') return sendError(res, 400, 'bad_request', f)
  const from = req.headers['last-event-id'] ?? params.get('after') ?? '0'
  const after = Number(from)
  if (!Number.isSafeInteger(after) || after < 0) return sendError(res, 400, 'bad_request', 'Last-Event-ID / after: expected a sequence number from an earlier event')
  const sse = new SseWriter(res)
  sse.open()
  metrics.streams.inc()
  // A reader that falls this far behind is cut off; it resumes with Last-Event-ID, losing nothing.
  const unsubscribe = svc.subscribe(after, (seq, s) => {
    if (!matches(f, s) || sse.closed) return
    sse.event({ id: String(seq), data: JSON.stringify(s) })
    if (res.writableLength > MAX_STREAM_BACKLOG_BYTES) sse.close()
  })
  res.on('close', () => {
    unsubscribe()
    metrics.streams.dec()
  })
}
