/** What the machine is, and what a process costs (from /proc): stated with every result. */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'

export interface MachineInfo {
  node: string
  cpuModel: string
  cores: number
  kernel: string
  memTotalGiB: number
  versions: Record<string, string>
  date: string
}

function firstLine(cmd: string, args: string[], match?: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString()
    const lines = out.split('\n').map((l) => l.trim())
    return (match ? lines.find((l) => match.test(l)) : lines[0]) ?? 'unknown'
  } catch (e) {
    // dnsperf -h exits non-zero but prints its version
    const err = e as { stdout?: Buffer; stderr?: Buffer }
    const text = `${err.stdout?.toString() ?? ''}\n${err.stderr?.toString() ?? ''}`
    const lines = text.split('\n').map((l) => l.trim())
    return (match ? lines.find((l) => match.test(l)) : lines.find(Boolean)) ?? 'unknown'
  }
}

/** The measured code: commit, and whether the work tree had changes. */
function commit(repo: string): string {
  try {
    const run = (args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    const head = run(['rev-parse', '--short', 'HEAD'])
    return run(['status', '--porcelain']) ? `${head} with uncommitted changes` : head
  } catch {
    return 'unknown (not a git work tree)'
  }
}

export function machineInfo(tools: { squid?: string; dnsmasq?: string; dnsperf?: string }, repo: string): MachineInfo {
  const versions: Record<string, string> = { 'mcp-hangar commit': commit(repo) }
  if (tools.squid) versions.squid = firstLine(tools.squid, ['-v'], /Version/)
  if (tools.dnsmasq) versions.dnsmasq = firstLine(tools.dnsmasq, ['-v'], /version/i)
  if (tools.dnsperf) versions.dnsperf = firstLine(tools.dnsperf, ['-h'], /^Version/)
  return {
    node: process.version,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    memTotalGiB: Math.round(os.totalmem() / 2 ** 30),
    versions,
    date: new Date().toISOString(),
  }
}

/** VmRSS and VmHWM of a process, in MiB. */
export function memory(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
    return m ? Number(m[1]) / 1024 : NaN
  }
  return { rssMiB: kb('VmRSS'), hwmMiB: kb('VmHWM') }
}

const CLK_TCK = 100 // sysconf(_SC_CLK_TCK) on Linux x86_64 and arm64

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // after "(comm) ": field 3 (state) is rest[0]; utime is field 14, stime field 15
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK
}

/** Whether `taskset` is there and the machine has at least two cores to split. */
export function canPin(): boolean {
  if (os.cpus().length < 2) return false
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Restricts every thread of `pid` to `cpus` (e.g. "0"). */
export function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' })
}
