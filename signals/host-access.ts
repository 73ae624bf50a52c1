/**
 * The `host_access_granted` signal: a Compose provider whose file grants it host access
 * (`mcp.hangar.host-access`: a host PID/IPC/UTS/user/cgroup namespace, devices, sysctls,
 * unconfined security options, or a host path such as the Docker socket) runs with it, and its
 * sidecar says so once at start. `compose inject` records the grants on the sidecar as the
 * environment variable `HANGAR_HOST_ACCESS`: a JSON list of `{grant, path, setting}`.
 */
import { z } from 'zod'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { SignalInput } from './build.js'

const grantSchema = z.object({ grant: z.string().min(1).max(4096), path: z.string().min(1).max(4096), setting: z.string().max(4096) }).strict()

/** One grant in effect: the grant (`pid`, `path:/var/run/docker.sock`, …), its Compose path, the setting. */
export type HostAccessGrant = z.infer<typeof grantSchema>

/**
 * Parses `HANGAR_HOST_ACCESS`. Undefined or empty: no grants.
 * @throws HangarError `HANGAR_CONFIG_INVALID` naming what is wrong (the sidecar then refuses to start: a grant it cannot read
 *   must not run unreported)
 */
export function parseHostAccess(raw: string | undefined): HostAccessGrant[] {
  if (raw === undefined || raw.trim() === '') return []
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch (err) {
    throw new HangarError(ERROR_CODES.CONFIG_INVALID, `HANGAR_HOST_ACCESS is not JSON: ${(err as Error).message}`)
  }
  const r = z.array(grantSchema).max(256).safeParse(value)
  if (!r.success) throw new HangarError(ERROR_CODES.CONFIG_INVALID, `HANGAR_HOST_ACCESS: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  return r.data
}

/** Pure: the signal for the grants in effect, or undefined when there are none. */
export function hostAccessSignal(grants: readonly HostAccessGrant[], mode: SignalInput['enforcement_mode']): SignalInput | undefined {
  if (!grants.length) return undefined
  return {
    kind: 'lifecycle',
    type: 'host_access_granted',
    action: 'allowed',
    enforcement_mode: mode,
    rule: 'mcp.hangar.host-access',
    reason: `the provider runs with host access its Compose file granted: ${grants.map((g) => `${g.grant} (${g.setting})`).join(', ')}`.slice(0, 1000),
    details: { grants: grants.map((g) => ({ ...g })) },
  }
}
