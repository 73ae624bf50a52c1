/**
 * RBAC on the aggregator: the enterprise `AccessControl` (core/ports.ts; docs/rbac.md). A bearer
 * token is an API key of this aggregator (`hk_…`, enterprise/auth/keys.ts) or, when
 * `aggregator.auth.oidc` is set and the identity module is loaded, a JWT of a configured issuer
 * whose groups map to a role through `aggregator.auth.role_groups` (the highest role any of its
 * groups has; none → refused). Anything else is not ours (`undefined`: the server tries its
 * static tokens, then refuses).
 */
import { Counter, type Registry } from 'prom-client'
import { rbacConfigSchema, type RbacConfig } from '../../config/rbac-schema.js'
import { ROLES, type AccessContext, type AccessControl, type ApiKeyInfo, type Principal, type Role, type TokenVerifier, type VerifiedCaller } from '../../core/ports.js'
import { KeyStore, type KeyStoreOptions } from './keys.js'

/** A compact JWS: three base64url segments. */
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * The role of a verified OIDC caller: the highest role any of its groups is listed under in
 * `role_groups`, or undefined when none is. Group names compare exactly (case-sensitive), as
 * issuers send them.
 */
export function roleOfGroups(groups: readonly string[], roleGroups: RbacConfig['role_groups']): Role | undefined {
  const mine = new Set(groups)
  for (let i = ROLES.length - 1; i >= 0; i--) {
    const role = ROLES[i]!
    if ((roleGroups[role] ?? []).some((g) => mine.has(g))) return role
  }
  return undefined
}

/** The principal of a verified OIDC caller with its role. */
export function oidcPrincipal(c: VerifiedCaller, role: Role): Principal {
  return { id: `oidc:${c.issuer}#${c.subject}`, name: c.subject, role, via: 'oidc' }
}

/** Options beyond the port's context (tests). */
export type AccessOptions = Pick<KeyStoreOptions, 'scrypt' | 'flushMs' | 'now' | 'cacheSize' | 'maxConcurrentHashes'>

/**
 * Starts the access control of one aggregator: opens its key store and, with OIDC configured and
 * the identity module present, its token verifier.
 * @throws Error naming `aggregator.auth` for a configuration the schema refuses, or the key file
 *   when it is damaged.
 */
export async function startAccess(ctx: AccessContext, opts: AccessOptions = {}): Promise<AccessControl> {
  const parsed = rbacConfigSchema.safeParse(ctx.config ?? {})
  if (!parsed.success) {
    const i = parsed.error.issues[0]!
    throw new Error(`${['aggregator', 'auth', ...i.path].join('.')}: ${i.message}`)
  }
  const cfg = parsed.data
  const keys = await KeyStore.open({ dataDir: ctx.dataDir, ...opts })
  let verifier: TokenVerifier | undefined
  try {
    if (cfg.oidc?.length && ctx.identity) verifier = ctx.identity.createVerifier({ issuers: cfg.oidc, log: ctx.log, surface: 'aggregator', ...(ctx.registry !== undefined && { registry: ctx.registry }) })
  } catch (err) {
    await keys.close()
    throw err
  }
  const registry = ctx.registry as Registry | undefined
  const METRIC = 'mcp_hangar_aggregator_authentications_total'
  const outcomes = (registry?.getSingleMetric(METRIC) as Counter<'via' | 'outcome'> | undefined) ?? new Counter({
    name: METRIC,
    help: 'Bearer tokens the access module decided, by credential (api_key, oidc) and outcome (accepted, refused).',
    labelNames: ['via', 'outcome'], registers: registry ? [registry] : [],
  })
  const ttlDays = cfg.key_default_ttl_days
  ctx.log.info({ keys: keys.list().filter((k) => !k.revoked).length, oidc_issuers: verifier ? cfg.oidc!.length : 0 }, 'RBAC: access control started')

  return {
    async authenticate(token: string) {
      if (token.startsWith('hk_')) {
        const r = await keys.check(token)
        outcomes.inc({ via: 'api_key', outcome: r.ok ? 'accepted' : 'refused' })
        if (!r.ok) return { error: r.error }
        return { principal: { id: r.info.id, name: r.info.name, role: r.info.role, via: 'api_key' } }
      }
      if (!verifier || !JWT_RE.test(token)) return undefined
      const v = await verifier.verify(token)
      if (!v.ok) {
        outcomes.inc({ via: 'oidc', outcome: 'refused' })
        return { error: `OIDC token refused (${v.reason}): ${v.description}` }
      }
      const role = roleOfGroups(v.caller.groups, cfg.role_groups)
      outcomes.inc({ via: 'oidc', outcome: role ? 'accepted' : 'refused' })
      if (!role) return { error: `OIDC subject ${v.caller.subject} of ${v.caller.issuer} is in no group aggregator.auth.role_groups maps to a role (groups: ${v.caller.groups.slice(0, 10).join(', ') || 'none'})` }
      return { principal: oidcPrincipal(v.caller, role) }
    },
    async createKey(o: { name: string; role: Role; expires?: string }, actor: Principal): Promise<{ key: string; info: ApiKeyInfo }> {
      const expires = o.expires ?? (ttlDays > 0 ? new Date(Date.now() + ttlDays * 86_400_000).toISOString() : undefined)
      return keys.create({ name: o.name, role: o.role, ...(expires !== undefined && { expires }) }, actor.id)
    },
    listKeys: () => keys.list(),
    revokeKey: (id: string, actor: Principal) => keys.revoke(id, actor.id),
    async close() {
      verifier?.close()
      await keys.close()
    },
  }
}
