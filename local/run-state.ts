/**
 * What one `mcp-hangar up` started, recorded in `<run dir>/state.json` (mode 0600) before and
 * while it makes it: its own pid, the aggregator's and sidecars' pids, and per provider its
 * network namespace, veth, nftables table, uid and cgroups. A run that ends normally removes the
 * file with the run dir. A run that was SIGKILLed or crashed leaves it, and the next `up` of the
 * same config (or `mcp-hangar up --cleanup`) reads it and removes everything it names
 * ({@link cleanupRun}). A pid is acted on only while its start time (proc(5) `stat` field 22)
 * is still the recorded one, so a reused pid is never killed.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { killByUid, killCgroup, removeCgroup, type ProviderCgroup } from './cgroup.js'
import { isProviderUid } from './identity.js'
import { netnsExists, teardownNetns } from './netns.js'
import type { NetnsPlan } from './plan.js'

export const RUN_STATE_FILE = 'state.json'

const cgroupSchema = z.object({
  dirs: z.array(z.string()),
  procs: z.array(z.string()),
  v2Dir: z.string().optional(),
  limits: z.array(z.object({ file: z.string(), value: z.string() })),
})

const processSchema = z.object({ role: z.enum(['aggregator', 'sidecar']), name: z.string(), pid: z.number().int().positive(), starttime: z.string() })

const providerSchema = z.object({
  name: z.string(),
  key: z.string().regex(/^[0-9a-f]{8}$/),
  netns: z.string().optional(),
  vethHost: z.string().optional(),
  hostTable: z.string().optional(),
  uid: z.number().int().optional(),
  cgroup: cgroupSchema.optional(),
})

export const runStateSchema = z.object({
  version: z.literal(1),
  up: z.object({ pid: z.number().int().positive(), starttime: z.string() }),
  config: z.string(),
  started: z.string(),
  processes: z.array(processSchema),
  providers: z.array(providerSchema),
  /** Plan keys of `mode: container` providers (their containers carry the label `mcp.hangar.up=<key>`). */
  containers: z.array(z.string()),
})

export type RunState = z.infer<typeof runStateSchema>
export type RunProvider = z.infer<typeof providerSchema>

/**
 * A process's start time in clock ticks since boot (proc(5) `/proc/<pid>/stat` field 22), or
 * undefined when it is gone. A zombie (state Z or X: dead, waiting to be reaped by its new
 * parent) counts as gone: there is nothing left to kill.
 */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined
    return fields[19]
  } catch {
    return undefined
  }
}

/** True when `pid` runs and started at `starttime` (the same process, not a reused pid). */
export function sameProcess(pid: number, starttime: string): boolean {
  return procStartTime(pid) === starttime
}

/** Writes the state atomically (temp file + rename), mode 0600. */
export function writeRunState(runDir: string, state: RunState): void {
  const file = join(runDir, RUN_STATE_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, file)
}

/** The recorded state in `runDir`, undefined when there is none; an unreadable file is reported as `invalid`. */
export function readRunState(runDir: string): { state: RunState } | { invalid: string } | undefined {
  const file = join(runDir, RUN_STATE_FILE)
  if (!existsSync(file)) return undefined
  try {
    const parsed = runStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')))
    return parsed.success ? { state: parsed.data } : { invalid: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }
  } catch (err) {
    return { invalid: (err as Error).message }
  }
}

/** The netns plan names of a recorded provider (what {@link teardownNetns} needs). */
export function recordedPlan(p: RunProvider): NetnsPlan | undefined {
  if (!p.netns || !p.vethHost || !p.hostTable) return undefined
  return { provider: p.name, netns: p.netns, vethHost: p.vethHost, hostTable: p.hostTable, vethNs: '', hostIp: '', nsIp: '', network: '', steering: '', tcpPorts: [] }
}

/** What {@link cleanupRun} did. */
export interface CleanupReport {
  /** One line per thing removed or killed. */
  removed: string[]
  /** One line per thing that could not be removed. */
  left: string[]
}

/**
 * Removes what a previous run recorded: SIGKILLs its processes (only those whose start time
 * matches), kills every process in each provider's cgroup (or, without one, every process of the
 * provider's uid), removes the cgroups, namespaces, veths, nftables tables and /etc/netns entries,
 * and the containers through `removeContainers`. Never throws.
 */
export async function cleanupRun(state: RunState, removeContainers: (keys: readonly string[]) => void): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], left: [] }
  for (const p of [{ role: 'up', name: 'up', ...state.up }, ...state.processes]) {
    if (!sameProcess(p.pid, p.starttime)) continue
    try {
      process.kill(p.pid, 'SIGKILL')
      report.removed.push(`process ${p.pid} (${p.role} ${p.name})`)
    } catch (err) {
      report.left.push(`process ${p.pid} (${p.role} ${p.name}): ${(err as Error).message}`)
    }
  }
  for (const p of state.providers) await cleanupProvider(p, report)
  if (state.containers.length) {
    try {
      removeContainers(state.containers)
      report.removed.push(`containers of ${state.containers.length} container provider(s)`)
    } catch (err) {
      report.left.push(`containers: ${(err as Error).message}`)
    }
  }
  return report
}

/** Kills and removes what one provider of a run left (cgroup or uid, then its network plumbing). */
export async function cleanupProvider(p: RunProvider, report: CleanupReport): Promise<void> {
  if (p.cgroup && p.cgroup.dirs.some((d) => existsSync(d) && !d.endsWith('/mcp-hangar'))) {
    const left = await killCgroup(p.cgroup)
    if (left.length) report.left.push(`provider ${p.name}: processes ${left.join(', ')} in its cgroup survived SIGKILL`)
    const dirs = removeCgroup(p.cgroup)
    if (dirs.length) report.left.push(`provider ${p.name}: cgroup ${dirs.join(', ')}`)
    else if (p.cgroup.dirs.length) report.removed.push(`cgroup of ${p.name}`)
  }
  // By uid only for uids of the providers' own range: never for an explicit `--run-as` user.
  if (p.uid !== undefined && isProviderUid(p.uid)) {
    const left = await killByUid(p.uid, 2000)
    if (left.length) report.left.push(`provider ${p.name}: processes of uid ${p.uid} survived SIGKILL: ${left.join(', ')}`)
  }
  const plan = recordedPlan(p)
  if (plan) {
    const had = netnsExists(plan.netns)
    teardownNetns(plan)
    if (netnsExists(plan.netns)) report.left.push(`namespace ${plan.netns}`)
    else if (had) report.removed.push(`namespace ${plan.netns}, veth ${plan.vethHost}, nftables table ${plan.hostTable}`)
  }
}

/** Removes the run dir (the state file with it). */
export function removeRunDir(runDir: string): void {
  rmSync(runDir, { recursive: true, force: true })
}

export type { ProviderCgroup }
