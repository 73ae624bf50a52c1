/**
 * RBAC on the aggregator: the enterprise implementation of `AccessPort` (core/ports.ts): roles,
 * API keys (enterprise/auth/keys.ts) and OIDC groups mapped to roles (enterprise/auth/access.ts).
 */
import type { AccessPort } from '../../core/ports.js'
import { startAccess } from './access.js'

/** The access port enterprise/bootstrap.ts registers when the license has the `rbac` feature. */
export function createAccess(): AccessPort {
  return { start: (ctx) => startAccess(ctx) }
}
