/**
 * One cgroup per subprocess provider under `mcp-hangar up`: limits (`pids`, `memory`, `cpu` from
 * the provider's `resources`) and a kill switch for every process the provider ever started.
 *
 * Layout: `<hierarchy>/mcp-hangar/hg-<key>` in the cgroup v2 hierarchy (`/sys/fs/cgroup`, or
 * `/sys/fs/cgroup/unified` on a hybrid host) and, on a hybrid host whose controllers are still
 * bound to cgroup v1, in the v1 `pids`, `memory` and `cpu` hierarchies too (the layout Docker's
 * cgroupfs driver uses: a top-level directory of its own). Limits go where the controller is:
 * v2 `pids.max`, `memory.max`, `cpu.max`, else v1 `pids.max`, `memory.limit_in_bytes`,
 * `cpu.cfs_quota_us` (cgroups(7), the kernel's Documentation/admin-guide/cgroup-v2.rst).
 *
 * At stop, v2 `cgroup.kill` (Linux ≥ 5.14) SIGKILLs every process in the cgroup at once; without
 * it, every pid listed in `cgroup.procs` is killed until none is left. Where no cgroup can be
 * made, `up` says so and kills by the provider's uid instead ({@link killByUid}).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { processes } from './identity.js'

/** The top directory of ours in each hierarchy. */
export const CGROUP_PARENT = 'mcp-hangar'

/** Where the cgroup file systems are mounted, and what the v2 hierarchy can control. */
export interface CgroupLayout {
  /** Mount point of the cgroup2 file system, if any. */
  v2?: string
  /** Controllers available at the v2 root (`cgroup.controllers`). */
  v2Controllers: string[]
  /** Mount points of the v1 hierarchies we use, by controller. */
  v1: { pids?: string; memory?: string; cpu?: string }
}

/** Pure: the cgroup mounts of a `/proc/self/mountinfo` text (proc(5): fields, then ` - fstype source options`). */
export function parseMountinfo(text: string): Omit<CgroupLayout, 'v2Controllers'> {
  const out: Omit<CgroupLayout, 'v2Controllers'> = { v1: {} }
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ')
    if (!left || !right) continue
    const mountPoint = left.split(' ')[4]
    const [fstype, , options = ''] = right.split(' ')
    if (!mountPoint) continue
    if (fstype === 'cgroup2' && out.v2 === undefined) out.v2 = mountPoint
    if (fstype === 'cgroup') {
      const opts = options.split(',')
      for (const c of ['pids', 'memory', 'cpu'] as const) if (opts.includes(c) && out.v1[c] === undefined) out.v1[c] = mountPoint
    }
  }
  return out
}

/** Reads `/proc/self/mountinfo` and the v2 root's `cgroup.controllers`. */
export function detectCgroups(): CgroupLayout {
  let text = ''
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return { v2Controllers: [], v1: {} }
  }
  const m = parseMountinfo(text)
  let v2Controllers: string[] = []
  if (m.v2) {
    try {
      v2Controllers = readFileSync(join(m.v2, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean)
    } catch {
      /* unreadable: none */
    }
  }
  return { ...m, v2Controllers }
}

/** A provider's limits; undefined = none. */
export interface CgroupLimits {
  /** Most processes and threads (`pids.max`). */
  pids?: number
  /** Most memory, bytes. */
  memoryBytes?: number
  /** CPU, in cores (0.5 = half a core). */
  cpu?: number
}

/** What {@link createProviderCgroup} makes (JSON: `up` records it in its run state). */
export interface ProviderCgroup {
  /** Directories made, deepest last per hierarchy (removed in reverse). */
  dirs: string[]
  /** The `cgroup.procs` files the provider joins. */
  procs: string[]
  /** The v2 directory (its `cgroup.kill`), if any. */
  v2Dir?: string
  /** Limits written: file → value. */
  limits: Array<{ file: string; value: string }>
}

/**
 * Pure: the directories, files and limit values of provider `key` on `layout`, or why there are
 * none. Each limit goes to the v2 controller when the v2 root offers it, else to its v1 hierarchy,
 * else it is listed in `unapplied`.
 */
export function planProviderCgroup(layout: CgroupLayout, key: string, limits: CgroupLimits): { cgroup: ProviderCgroup; unapplied: string[] } | { unavailable: string } {
  if (!layout.v2 && !layout.v1.pids && !layout.v1.memory) return { unavailable: 'no cgroup file system is mounted' }
  const leaf = `hg-${key}`
  const dirs: string[] = []
  const procs: string[] = []
  const out: ProviderCgroup['limits'] = []
  const unapplied: string[] = []
  let v2Dir: string | undefined
  if (layout.v2) {
    v2Dir = join(layout.v2, CGROUP_PARENT, leaf)
    dirs.push(join(layout.v2, CGROUP_PARENT), v2Dir)
    procs.push(join(v2Dir, 'cgroup.procs'))
  }
  const v1Dirs = new Map<string, string>()
  const v1 = (controller: 'pids' | 'memory' | 'cpu'): string | undefined => {
    const mount = layout.v1[controller]
    if (!mount) return undefined
    const d = join(mount, CGROUP_PARENT, leaf)
    if (!v1Dirs.has(mount)) {
      v1Dirs.set(mount, d)
      dirs.push(join(mount, CGROUP_PARENT), d)
      procs.push(join(d, 'cgroup.procs'))
    }
    return d
  }
  const on2 = (c: string) => v2Dir !== undefined && layout.v2Controllers.includes(c)
  if (limits.pids !== undefined) {
    if (on2('pids')) out.push({ file: join(v2Dir!, 'pids.max'), value: String(limits.pids) })
    else if (v1('pids')) out.push({ file: join(v1('pids')!, 'pids.max'), value: String(limits.pids) })
    else unapplied.push('pids')
  }
  if (limits.memoryBytes !== undefined) {
    if (on2('memory')) out.push({ file: join(v2Dir!, 'memory.max'), value: String(limits.memoryBytes) })
    else if (v1('memory')) out.push({ file: join(v1('memory')!, 'memory.limit_in_bytes'), value: String(limits.memoryBytes) })
    else unapplied.push('memory')
  }
  if (limits.cpu !== undefined) {
    const quota = Math.max(1000, Math.round(limits.cpu * 100_000))
    if (on2('cpu')) out.push({ file: join(v2Dir!, 'cpu.max'), value: `${quota} 100000` })
    else if (v1('cpu')) {
      out.push({ file: join(v1('cpu')!, 'cpu.cfs_period_us'), value: '100000' })
      out.push({ file: join(v1('cpu')!, 'cpu.cfs_quota_us'), value: String(quota) })
    } else unapplied.push('cpu')
  }
  return { cgroup: { dirs, procs, ...(v2Dir && { v2Dir }), limits: out }, unapplied }
}

/**
 * Makes the directories, enables the v2 controllers the limits need (root and parent
 * `cgroup.subtree_control`) and writes the limits.
 * @throws Error naming the file that could not be written (the caller removes what was made)
 */
export function createProviderCgroup(c: ProviderCgroup, layout: CgroupLayout): void {
  const v2Needs = c.limits.filter((l) => c.v2Dir && l.file.startsWith(c.v2Dir)).map((l) => /\/(pids|memory|cpu)\.[a-z]+$/.exec(l.file)?.[1]).filter((x): x is string => !!x)
  for (const d of c.dirs) {
    if (layout.v2 && c.v2Dir && d === c.v2Dir && v2Needs.length) {
      // Controllers must be enabled in every ancestor's subtree_control before the leaf can use them.
      for (const parent of [layout.v2, join(layout.v2, CGROUP_PARENT)]) writeCgroupFile(join(parent, 'cgroup.subtree_control'), [...new Set(v2Needs)].map((n) => `+${n}`).join(' '))
    }
    mkdirSync(d, { recursive: true })
  }
  for (const l of c.limits) writeCgroupFile(l.file, l.value)
}

function writeCgroupFile(file: string, value: string): void {
  try {
    writeFileSync(file, value)
  } catch (err) {
    throw new Error(`cannot write ${value} to ${file}: ${(err as Error).message}`)
  }
}

/** The pids in the provider's cgroups (every hierarchy). */
export function cgroupPids(c: ProviderCgroup): number[] {
  const pids = new Set<number>()
  for (const f of c.procs) {
    try {
      for (const l of readFileSync(f, 'utf8').split('\n')) if (l.trim()) pids.add(Number(l))
    } catch {
      /* gone */
    }
  }
  return [...pids]
}

/**
 * Kills every process in the cgroup: `cgroup.kill` where the kernel has it, then SIGKILL for each
 * pid still listed, until none is left or `timeoutMs` passed. Resolves with the pids left (empty
 * on success). Never throws.
 */
export async function killCgroup(c: ProviderCgroup, timeoutMs = 5000): Promise<number[]> {
  if (c.v2Dir && existsSync(join(c.v2Dir, 'cgroup.kill'))) {
    try {
      writeFileSync(join(c.v2Dir, 'cgroup.kill'), '1')
    } catch {
      /* gone or unsupported: the loop below */
    }
  }
  return killUntilGone(() => cgroupPids(c), timeoutMs)
}

/** Removes the cgroup's directories (deepest first); the shared parent only when empty. Never throws; returns those left. */
export function removeCgroup(c: ProviderCgroup): string[] {
  const left: string[] = []
  for (const d of [...c.dirs].reverse()) {
    if (!existsSync(d)) continue
    try {
      rmdirSync(d)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      // The parent holds other providers' cgroups: that is expected, not a leftover.
      if ((code === 'ENOTEMPTY' || code === 'EBUSY') && d.endsWith(`/${CGROUP_PARENT}`)) continue
      left.push(d)
    }
  }
  return left
}

/**
 * The fallback without a cgroup: SIGKILL every process whose real uid is `uid`, until none is
 * left or `timeoutMs` passed. Only for a provider's own uid (local/identity.ts). Resolves with the
 * pids left.
 */
export async function killByUid(uid: number, timeoutMs = 5000): Promise<number[]> {
  return killUntilGone(() => processes().filter((p) => p.uid === uid).map((p) => p.pid), timeoutMs)
}

/** SIGKILLs every pid `list` gives until it gives none or `timeoutMs` passed; resolves with the pids left. */
async function killUntilGone(list: () => number[], timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const left = list()
    if (left.length === 0 || Date.now() > until) return left
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        /* exited */
      }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
