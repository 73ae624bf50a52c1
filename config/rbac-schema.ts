/**
 * `aggregator.auth`: role-based access to the aggregator (docs/rbac.md): API keys kept hashed under
 * the data dir, and OIDC JWTs whose groups map to roles. Strict objects: an unknown key is a load
 * error naming its path.
 */
import { z } from 'zod'
import { num } from '../policy/coerce.js'
import { oidcListSchema } from './identity-schema.js'

const groupList = z.array(z.string().min(1).max(256)).default([])

export const rbacConfigSchema = z
  .object({
    /** Issuers whose JWTs are accepted on the aggregator (the same verifier as the ingress). */
    oidc: oidcListSchema.optional(),
    /**
     * OIDC groups → role. A caller in groups of several roles gets the highest; a verified caller
     * in none is refused (401, the message says so). Default: no group maps to a role.
     */
    role_groups: z
      .object({ viewer: groupList, operator: groupList, admin: groupList })
      .strict()
      .default({}),
    /** API keys: how long a key lives when `keys create` gives no `--expires`, days (0: never expires). Default 0. */
    key_default_ttl_days: num(z.number().int().min(0).max(36_500)).default(0),
  })
  .strict()
export type RbacConfig = z.infer<typeof rbacConfigSchema>
