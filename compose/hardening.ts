/**
 * Container hardening for an isolated provider (the settings that would undo its isolation are
 * compose/refusals.ts). Pure: takes the Compose service as a plain object.
 *
 * Defaults follow the Docker/OWASP container hardening advice (drop every capability, read-only
 * root, no privilege gain, a syscall allowlist, bounded pids and memory, not root); each is added
 * only when the service does not set that key itself, so a service that needs, say, a writable
 * root keeps `read_only: false`.
 */
import { LABEL } from './labels.js'

/** Defaults a provider gets unless its service sets the key. */
export const HARDENING_DEFAULTS = Object.freeze({
  pidsLimit: 256,
  memLimit: '512m',
  /** `nobody:nogroup` on Debian, Alpine and distroless alike. */
  user: '65534:65534',
})

/** Where the hardening reads the seccomp and AppArmor profiles from. */
export interface HardeningOptions {
  /** Path of the seccomp profile (security/seccomp/mcp-provider.json), as written into `security_opt`. */
  seccompProfile: string
  /** An AppArmor profile name loaded on the host (security/apparmor/), or none. */
  apparmorProfile?: string
}

/** One thing that was added, for the summary inject prints. */
export type HardeningChange = 'cap_drop' | 'read_only' | 'tmpfs' | 'no-new-privileges' | 'seccomp' | 'apparmor' | 'pids_limit' | 'mem_limit' | 'user'

/**
 * The service with the hardening keys it did not set added. `labels` are the service's
 * `mcp.hangar.*` labels (`mcp.hangar.user: image` keeps the image's own user).
 */
export function harden(service: Record<string, unknown>, labels: Record<string, string>, o: HardeningOptions): { service: Record<string, unknown>; added: HardeningChange[] } {
  const s = { ...service }
  const added: HardeningChange[] = []
  if (!('cap_drop' in s)) {
    s.cap_drop = ['ALL']
    added.push('cap_drop')
  }
  if (!('read_only' in s)) {
    s.read_only = true
    added.push('read_only')
  }
  if (!('tmpfs' in s)) {
    s.tmpfs = ['/tmp']
    added.push('tmpfs')
  }
  const opts = Array.isArray(s.security_opt) ? s.security_opt.map(String) : []
  const has = (prefix: string) => opts.some((x) => x.replace(/\s/g, '').toLowerCase().startsWith(prefix))
  const extra: string[] = []
  if (!has('no-new-privileges')) {
    extra.push('no-new-privileges:true')
    added.push('no-new-privileges')
  }
  if (!has('seccomp')) {
    extra.push(`seccomp=${o.seccompProfile}`)
    added.push('seccomp')
  }
  if (o.apparmorProfile && !has('apparmor')) {
    extra.push(`apparmor=${o.apparmorProfile}`)
    added.push('apparmor')
  }
  if (extra.length) s.security_opt = [...opts, ...extra]
  if (!('pids_limit' in s)) {
    s.pids_limit = HARDENING_DEFAULTS.pidsLimit
    added.push('pids_limit')
  }
  const deployMemory = (s.deploy as { resources?: { limits?: { memory?: unknown } } } | undefined)?.resources?.limits?.memory
  if (!('mem_limit' in s) && deployMemory === undefined) {
    s.mem_limit = HARDENING_DEFAULTS.memLimit
    added.push('mem_limit')
  }
  const userLabel = labels[LABEL.user]?.trim()
  if (!('user' in s) && userLabel !== 'image') {
    s.user = userLabel || HARDENING_DEFAULTS.user
    added.push('user')
  }
  return { service: s, added }
}
