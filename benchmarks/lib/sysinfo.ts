/** What a process costs (from /proc), and pinning it to CPUs. */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'

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
