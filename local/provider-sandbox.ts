/**
 * Prepares one subprocess provider's sandbox under `mcp-hangar up` (isolation `netns`): its uid,
 * its cgroup with the provider's `resources`, its `/etc/passwd` and `/etc/group`, its
 * `write_paths`, and the {@link SandboxSpec} file the sidecar reads (`--sandbox`). Undone by
 * {@link releaseProviderSandbox}.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ProviderConfig } from '../config/schema.js'
import type { Logger } from '../core/log.js'
import { createProviderCgroup, killByUid, killCgroup, planProviderCgroup, removeCgroup, type CgroupLayout, type ProviderCgroup } from './cgroup.js'
import { memoryBytes } from './container-broker.js'
import { isProviderUid, sandboxAccounts } from './identity.js'
import type { NetnsPlan } from './plan.js'
import { hostnameOf, resolveSandbox, type SandboxNote, type SandboxSpec } from './sandbox.js'

/** `up`'s defaults for a subprocess provider's cgroup. */
export const DEFAULT_PROVIDER_LIMITS = Object.freeze({ pids: 512, memory: '1g' })

/** What {@link prepareProviderSandbox} made. */
export interface PreparedSandbox {
  specFile: string
  spec: SandboxSpec
  /** Undefined when no cgroup could be made (then the provider is killed by uid at stop). */
  cgroup?: ProviderCgroup
  /** Warnings to print: paths not exposed, limits not applied, no cgroup. */
  notes: string[]
}

export interface PrepareInput {
  name: string
  provider: ProviderConfig
  plan: NetnsPlan
  uid: number
  gid: number
  /** `up`'s run dir (0700): the spec and account files go under it. */
  runDir: string
  /** `up`'s working directory (relative paths resolve against it). */
  cwd: string
  /** The PATH and CA variables the provider inherits. */
  inheritedEnv: Readonly<Record<string, string | undefined>>
  /** Paths no provider may see (config file, data dirs, run dir, other providers' working dirs). */
  protect: readonly string[]
  layout: CgroupLayout
  log: Logger
}

/**
 * Makes the cgroup (a leftover of the same key is killed and removed first), writes the account
 * files and the spec, creates missing `write_paths` owned by the provider.
 * @throws Error when the cgroup or a file cannot be made (what was made is removed)
 */
export async function prepareProviderSandbox(i: PrepareInput): Promise<PreparedSandbox> {
  const notes: string[] = []
  const limits = {
    pids: i.provider.resources.pids ?? DEFAULT_PROVIDER_LIMITS.pids,
    memoryBytes: memoryBytes(i.provider.resources.memory ?? DEFAULT_PROVIDER_LIMITS.memory),
    ...(i.provider.resources.cpu !== undefined && { cpu: i.provider.resources.cpu }),
  }
  let cgroup: ProviderCgroup | undefined
  const planned = planProviderCgroup(i.layout, i.plan.netns.slice(3), limits)
  if ('unavailable' in planned) {
    notes.push(`no cgroup for ${i.name} (${planned.unavailable}): resources are not applied, and its processes are killed by uid ${i.uid} at stop`)
  } else {
    await killCgroup(planned.cgroup, 2000)
    removeCgroup(planned.cgroup)
    try {
      createProviderCgroup(planned.cgroup, i.layout)
      cgroup = planned.cgroup
      if (planned.unapplied.length) notes.push(`${i.name}: no cgroup controller for ${planned.unapplied.join(', ')} on this host; those limits are not applied`)
    } catch (err) {
      removeCgroup(planned.cgroup)
      notes.push(`no cgroup for ${i.name} (${(err as Error).message}): resources are not applied, and its processes are killed by uid ${i.uid} at stop`)
    }
  }
  const dir = join(i.runDir, 'sandbox', i.name)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const user = `hangar-${hostnameOf(i.name)}`.slice(0, 32)
  const accounts = sandboxAccounts(user, i.uid, i.gid)
  // Bound into the sandbox by bwrap (as root): the provider reads the bound copy, never this path.
  writeFileSync(join(dir, 'passwd'), accounts.passwd, { mode: 0o644 })
  writeFileSync(join(dir, 'group'), accounts.group, { mode: 0o644 })
  chmodSync(join(dir, 'passwd'), 0o644)
  chmodSync(join(dir, 'group'), 0o644)
  const fsCaps = i.provider.capabilities.filesystem
  const writePaths = fsCaps.write_paths.map((p) => resolve(i.cwd, p))
  for (const p of writePaths) {
    if (existsSync(p)) {
      const st = statSync(p)
      if (st.uid !== i.uid && (st.mode & 0o002) === 0) notes.push(`${i.name}: write path ${p} is owned by uid ${st.uid}, not by the provider's uid ${i.uid}; it may not be able to write there (chown ${i.uid}:${i.gid} ${p})`)
    } else {
      mkdirSync(p, { recursive: true, mode: 0o700 })
      chownSync(p, i.uid, i.gid)
    }
  }
  const cwd = i.provider.cwd ? resolve(i.cwd, i.provider.cwd) : i.cwd
  const { spec, notes: pathNotes } = resolveSandbox({
    provider: i.name,
    netns: i.plan.netns,
    uid: i.uid,
    gid: i.gid,
    cgroupProcs: cgroup?.procs ?? [],
    command: i.provider.command ?? [],
    cwd,
    cwdConfigured: i.provider.cwd !== undefined,
    path: i.provider.env.PATH ?? i.inheritedEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    readPaths: fsCaps.read_paths.map((p) => resolve(i.cwd, p)),
    writePaths,
    protect: i.protect,
    env: { ...i.inheritedEnv, ...i.provider.env },
    configuredEnv: Object.keys(i.provider.env),
    files: { passwd: join(dir, 'passwd'), group: join(dir, 'group'), resolvConf: `/etc/netns/${i.plan.netns}/resolv.conf`, hosts: `/etc/netns/${i.plan.netns}/hosts` },
  })
  notes.push(...pathNotes.map((n: SandboxNote) => `${i.name}: ${n.why}`))
  const specFile = join(i.runDir, `sandbox-${i.name}.json`)
  writeFileSync(specFile, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 })
  return { specFile, spec, ...(cgroup && { cgroup }), notes }
}

/**
 * Kills every process the provider ever started (its cgroup, or its uid when it has none and the
 * uid is one of the providers' own) and removes the cgroup. Resolves with what could not be
 * killed or removed (empty on success). Never throws.
 */
export async function releaseProviderSandbox(p: { name: string; uid: number; cgroup?: ProviderCgroup }): Promise<string[]> {
  const left: string[] = []
  if (p.cgroup) {
    const pids = await killCgroup(p.cgroup)
    if (pids.length) left.push(`${p.name}: processes ${pids.join(', ')} survived SIGKILL`)
    left.push(...removeCgroup(p.cgroup).map((d) => `${p.name}: cgroup ${d}`))
  }
  if (isProviderUid(p.uid)) {
    const pids = await killByUid(p.uid, 2000)
    if (pids.length) left.push(`${p.name}: processes ${pids.join(', ')} of uid ${p.uid} survived SIGKILL`)
  }
  return left
}
