/**
 * Looking at processes, namespaces and cgroups from the host, for the `up` isolation tests: who
 * runs with a uid, which processes share a namespace (by inode), and a compromised provider's
 * `js` tool (test/fixtures/mcp/hostile-server.mjs) called through its sidecar.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { textOf } from './mcp.js'

/** One process as the host sees it. */
export interface HostProcess {
  pid: number
  uid: number
  cmdline: string
  /** Inodes of its namespaces (`/proc/<pid>/ns/<kind>`). */
  ns: { pid?: number; net?: number; mnt?: number }
  /** Its cgroup v2 path (`0::<path>`). */
  cgroup: string
}

function nsInode(pid: number, kind: string): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Every process on the host (processes that exit while being read are skipped). */
export function hostProcesses(): HostProcess[] {
  const out: HostProcess[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
      const cgroup = /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? ''
      out.push({ pid, uid, cmdline, cgroup, ns: { pid: nsInode(pid, 'pid'), net: nsInode(pid, 'net'), mnt: nsInode(pid, 'mnt') } })
    } catch {
      /* exited */
    }
  }
  return out
}

/** Now, in the clock ticks of proc(5) start times (the start time of a process started now). */
export function nowTicks(): number {
  const stat = execFileSync('cat', ['/proc/self/stat'], { encoding: 'utf8' })
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
}

/** A process's start time in clock ticks (proc(5) stat field 22), NaN when it is gone. */
export function startTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
  } catch {
    return Number.NaN
  }
}

/** The inode of a file (a namespace bind mount under /run/netns, a cgroup directory), or undefined. */
export function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}

/** Runs `code` (an async function body with `require` and `process`) in a hostile provider; its JSON result. */
export async function js<T = unknown>(client: Client, code: string): Promise<T> {
  const r = await client.callTool({ name: 'js', arguments: { code } }, undefined, { timeout: 120_000 })
  const text = textOf(r)
  if ((r as { isError?: boolean }).isError) throw new Error(`provider code failed: ${text}`)
  return JSON.parse(text) as T
}

/** Waits until `check` is true (polling every 200 ms) or `ms` passed; resolves with the last result. */
export async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 200))
  }
}
