/**
 * The API key endpoints of the aggregator (role `admin`, under RBAC; docs/rbac.md §API keys):
 * - `GET /v1/keys`: `{keys: ApiKeyInfo[]}`, never a secret;
 * - `POST /v1/keys {name, role, expires?}` (`expires` RFC 3339 with offset): `201 {key, ...info}`,
 *   the only time the key is shown; a taken name, an expiry in the past or a bad field → 400
 *   naming it;
 * - `DELETE /v1/keys/{id}`: `200 {revoked: info}`; an unknown id → 404.
 * Each change is an `admin_action` record. A key whose record cannot be stored is revoked again
 * and the answer is 503: no key is issued without its audit record. Without RBAC each answers
 * 501 `not_implemented` with the reason (no license with `rbac`, or no `aggregator.auth`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import { ROLES, type AccessControl, type Principal } from '../../core/ports.js'
import type { AdminAudit } from '../admin-audit.js'
import { jsonObject } from './control.js'
import { sendError, sendJson } from './reply.js'

const createSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, '1–64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  role: z.enum(ROLES),
  expires: z.string().datetime({ offset: true }).optional(),
}).strict()

/** An error the access module throws for input the caller can fix (a taken name, …). */
const isBadRequest = (err: unknown): boolean => (err as { status?: unknown } | undefined)?.status === 400

/** `GET /v1/keys`. */
export function listKeys(res: ServerResponse, access: AccessControl): void {
  sendJson(res, 200, { keys: access.listKeys() })
}

/** `POST /v1/keys`. */
export async function createKey(req: IncomingMessage, res: ServerResponse, access: AccessControl, actor: Principal, audit: AdminAudit): Promise<void> {
  const body = await jsonObject(req, res, false)
  if (!body) return
  const parsed = createSchema.safeParse(body)
  if (!parsed.success) {
    const i = parsed.error.issues[0]!
    return sendError(res, 400, 'bad_request', `${i.path.join('.') || '(body)'}: ${i.message}`)
  }
  const { name, role, expires } = parsed.data
  if (expires !== undefined && Date.parse(expires) <= Date.now()) return sendError(res, 400, 'bad_request', 'expires: must be in the future')
  let created: Awaited<ReturnType<AccessControl['createKey']>>
  try {
    created = await access.createKey({ name, role, ...(expires !== undefined && { expires: new Date(expires).toISOString() }) }, actor)
  } catch (err) {
    if (isBadRequest(err)) return sendError(res, 400, 'bad_request', (err as Error).message)
    throw err
  }
  const { info } = created
  const stored = await audit.action(actor, {
    action: 'key_create', via: { route: 'POST /v1/keys' },
    reason: `${actor.name} created API key ${info.id} "${info.name}" with role ${info.role}${info.expires ? `, expiring ${info.expires}` : ''}`,
    details: { key_id: info.id, key_name: info.name, key_role: info.role, ...(info.expires && { expires: info.expires }) },
  })
  if (!stored) {
    await access.revokeKey(info.id, actor)
    return sendError(res, 503, 'unavailable', 'the key was not issued: its audit record could not be stored (the audit log is full or failing); retry later', {}, { 'Retry-After': '30' })
  }
  sendJson(res, 201, { key: created.key, ...info })
}

/** `DELETE /v1/keys/{id}`. */
export async function revokeKey(req: IncomingMessage, res: ServerResponse, id: string, access: AccessControl, actor: Principal, audit: AdminAudit): Promise<void> {
  req.resume()
  const before = access.listKeys().find((k) => k.id === id)
  if (!before || !(await access.revokeKey(id, actor))) return sendError(res, 404, 'not_found', `no API key "${id}"`)
  const info = access.listKeys().find((k) => k.id === id) ?? before
  await audit.action(actor, {
    action: 'key_revoke', via: { route: 'DELETE /v1/keys/{id}' },
    reason: `${actor.name} revoked API key ${id} "${info.name}" (role ${info.role})`,
    details: { key_id: id, key_name: info.name, key_role: info.role, already_revoked: before.revoked !== undefined },
  })
  sendJson(res, 200, { revoked: info })
}
