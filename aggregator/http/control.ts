/**
 * The control endpoints of the aggregator (docs/aggregator.md §API):
 * - `POST /v1/sidecars/heartbeat` (signal token): body {@link heartbeatSchema} of at most
 *   {@link MAX_HEARTBEAT_BODY_BYTES} (it may carry the provider's baseline); 204.
 * - `GET /v1/providers`, `GET /v1/providers/{name}` (admin token): derived state, policy,
 *   violation counts and last violation.
 * - `GET /v1/providers/{name}/baseline` (admin token): the provider's latest
 *   `hangar.baseline/v1` document as the body (a file `mcp-hangar profile suggest --baseline`
 *   reads), with `X-Hangar-Baseline-Received: <RFC 3339>`; 404 `not_found` before its sidecar
 *   shipped one.
 * - `POST /v1/providers/{name}/quarantine {reason}` and `/approve {reason?}` (admin token;
 *   under RBAC role `operator`, and each is recorded as an `admin_action` before the answer).
 * - `GET /v1/policy/{name}?version=N&wait=S` (signal token): long poll, answers as soon as the
 *   provider's policy version is greater than N, or after S seconds (at most 60) with the current
 *   one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BodyError, readBody } from '../../core/http/body.js'
import type { BaselineBook } from '../baselines.js'
import type { AggregatorMetrics } from '../metrics.js'
import type { PolicyBook } from '../policy.js'
import { heartbeatSchema, type SidecarRegistry } from '../registry.js'
import type { AggregatorService } from '../service.js'
import { sendError, sendJson } from './reply.js'

/** Largest body of the control endpoints other than the heartbeat, bytes (16 KiB). */
const MAX_CONTROL_BODY_BYTES = 16 * 1024
/**
 * Largest heartbeat body, bytes (16 MiB): a heartbeat may carry the provider's baseline, whose
 * lists are bounded by its recorder's limits. A larger body → 413 `payload_too_large`.
 */
export const MAX_HEARTBEAT_BODY_BYTES = 16 * 1024 * 1024
/** Longest long poll, seconds. */
export const MAX_POLICY_WAIT_S = 60

/** Reads a JSON object body of at most `maxBytes`; writes the error (400, 413) and returns undefined on failure. */
export async function jsonObject(req: IncomingMessage, res: ServerResponse, allowEmpty: boolean, maxBytes = MAX_CONTROL_BODY_BYTES): Promise<Record<string, unknown> | undefined> {
  let raw: Buffer
  try {
    raw = await readBody(req, maxBytes)
  } catch (err) {
    if (err instanceof BodyError) {
      // The rest of an oversized body is not read: the connection cannot be reused (RFC 9110 §15.5.14).
      sendError(res, err.status, err.status === 413 ? 'payload_too_large' : 'bad_request', err.message, {}, err.status === 413 ? { Connection: 'close' } : {})
      return undefined
    }
    throw err
  }
  const text = raw.toString('utf8').trim()
  if (text === '' && allowEmpty) return {}
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    sendError(res, 400, 'bad_request', `malformed JSON: ${(err as Error).message}`)
    return undefined
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    sendError(res, 400, 'bad_request', 'expected a JSON object')
    return undefined
  }
  return v as Record<string, unknown>
}

/**
 * `POST /v1/sidecars/heartbeat`: records the heartbeat; its `baseline`, if any, is offered to
 * the baseline book (a stale one is ignored and still answered 204). Nothing is recorded when
 * the body is refused (400 naming the first bad field, e.g. `baseline.egress.0.port`; 413), nor
 * for a new provider outside the config once the registry holds its limit of those (429
 * `too_many_providers`: a flood of invented names costs bounded memory and baseline files).
 */
export async function heartbeat(req: IncomingMessage, res: ServerResponse, registry: SidecarRegistry, baselines: BaselineBook, metrics: AggregatorMetrics): Promise<void> {
  const body = await jsonObject(req, res, false, MAX_HEARTBEAT_BODY_BYTES)
  if (!body) return void metrics.heartbeats.inc({ outcome: 'bad_request' })
  const hb = heartbeatSchema.safeParse(body)
  if (!hb.success) {
    metrics.heartbeats.inc({ outcome: 'bad_request' })
    const i = hb.error.issues[0]!
    return sendError(res, 400, 'bad_request', `${i.path.join('.') || '(body)'}: ${i.message}`)
  }
  if (!registry.beat(hb.data)) {
    metrics.heartbeats.inc({ outcome: 'too_many_providers' })
    return sendError(res, 429, 'too_many_providers', `provider "${hb.data.provider}" is not configured and the aggregator already tracks its limit of unconfigured providers; add it under providers:`, {}, { 'Retry-After': '60' })
  }
  if (hb.data.baseline) baselines.offer(hb.data.baseline)
  metrics.heartbeats.inc({ outcome: 'accepted' })
  res.writeHead(204, { 'Cache-Control': 'no-store' }).end()
}

export function listProviders(res: ServerResponse, svc: AggregatorService): void {
  sendJson(res, 200, { providers: svc.providers() })
}

export function getProvider(res: ServerResponse, name: string, svc: AggregatorService): void {
  const p = svc.provider(name)
  if (!p) return sendError(res, 404, 'not_found', `no provider "${name}" is configured or has reported`)
  sendJson(res, 200, p)
}

/**
 * `GET /v1/providers/{name}/baseline`: the latest baseline document as the body, with
 * `X-Hangar-Baseline-Received`. 404 `not_found` says whether the provider is unknown or has
 * not shipped a baseline yet.
 */
export function getBaseline(res: ServerResponse, name: string, svc: AggregatorService): void {
  const b = svc.baseline(name)
  if (!b) {
    if (!svc.provider(name)) return sendError(res, 404, 'not_found', `no provider "${name}" is configured or has reported`)
    return sendError(res, 404, 'not_found', `provider "${name}" has not shipped a baseline yet: its sidecar ships one with its heartbeats once it has recorded activity`)
  }
  const text = b.text + '\n'
  res.writeHead(200, {
    'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store',
    'X-Hangar-Baseline-Received': new Date(b.receivedAt).toISOString(),
  })
  res.end(text)
}

/** What a quarantine or approval did, for its audit record (under RBAC). */
export interface ControlOutcome {
  reason: string
  changed?: boolean
  policy_version: number
}

/**
 * `POST /v1/providers/{name}/quarantine {reason}`. `audited`, when given, is awaited after the
 * quarantine and before the answer (the quarantine itself never waits on it).
 */
export async function quarantine(req: IncomingMessage, res: ServerResponse, name: string, svc: AggregatorService, metrics: AggregatorMetrics, audited?: (o: ControlOutcome) => Promise<unknown>): Promise<void> {
  const body = await jsonObject(req, res, false)
  if (!body) return
  const reason = typeof body.reason === 'string' ? body.reason.trim() : ''
  if (!reason) return sendError(res, 400, 'bad_request', 'reason: a non-empty string is required')
  if (!svc.provider(name)) return sendError(res, 404, 'not_found', `no provider "${name}" is configured or has reported`)
  const r = svc.quarantine(name, reason.slice(0, 500), 'api')
  if (r.changed) metrics.quarantines.inc({ by: 'api' })
  await audited?.({ reason: reason.slice(0, 500), changed: r.changed, policy_version: r.policy.version })
  sendJson(res, 200, { ...r.policy, changed: r.changed })
}

/** `POST /v1/providers/{name}/approve {reason?}`; `audited` as for {@link quarantine}. */
export async function approve(req: IncomingMessage, res: ServerResponse, name: string, svc: AggregatorService, audited?: (o: ControlOutcome) => Promise<unknown>): Promise<void> {
  const body = await jsonObject(req, res, true)
  if (!body) return
  if (body.reason !== undefined && typeof body.reason !== 'string') return sendError(res, 400, 'bad_request', 'reason: expected a string')
  if (!svc.provider(name)) return sendError(res, 404, 'not_found', `no provider "${name}" is configured or has reported`)
  const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.trim().slice(0, 500) : 'approved by an operator'
  const p = svc.approve(name, reason, 'api')
  await audited?.({ reason, policy_version: p.version })
  sendJson(res, 200, p)
}

export function policy(req: IncomingMessage, res: ServerResponse, name: string, params: URLSearchParams, book: PolicyBook, metrics: AggregatorMetrics): void {
  const version = Number(params.get('version') ?? '0')
  const wait = Number(params.get('wait') ?? '0')
  if (!Number.isSafeInteger(version) || version < 0) return sendError(res, 400, 'bad_request', 'version: expected a non-negative integer')
  if (!Number.isFinite(wait) || wait < 0) return sendError(res, 400, 'bad_request', 'wait: expected seconds ≥ 0')
  const w = book.wait(name, version, Math.min(wait, MAX_POLICY_WAIT_S) * 1000)
  metrics.policyPolls.inc()
  const done = (): void => {
    metrics.policyPolls.dec()
  }
  res.on('close', () => w.cancel())
  void w.promise.then((p) => {
    done()
    if (!res.destroyed && !res.writableEnded) sendJson(res, 200, p)
  })
  req.resume()
}
