/**
 * Network namespaces for tests (root only): a namespace joined to the host by a veth pair with a
 * /30 and no default route, and `/etc/netns/<ns>/resolv.conf` pointing at a DNS server address
 * of our choice. Inside it, the host-side veth address is the only reachable host — the
 * provider's view in `mcp-hangar up` (docs/ARCHITECTURE.md §The local all-in-one). Everything is removed by destroy().
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomInt } from 'node:crypto'

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespace tests need root'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' })
  } catch {
    return 'the ip command (iproute2) is missing or cannot list namespaces'
  }
  return null
}

/** Skip reason for tap: null in CI (where these tests must run and fail loudly), else the reason. */
export function netnsSkip(): string | false {
  const why = netnsUnavailable()
  if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`)
  return why ?? false
}

export interface ExecResult { code: number | null; stdout: string; stderr: string }

export interface TestNetns {
  name: string
  /** The host end of the veth (the sidecar's address as the namespace sees it). */
  hostIp: string
  nsIp: string
  /** Runs a command inside the namespace. */
  exec(cmd: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string }): Promise<ExecResult>
  destroy(): void
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Creates a namespace; `dns` is the nameserver written to its resolv.conf (default: the host end). */
export function createNetns(opts: { dns?: string } = {}): TestNetns {
  const id = `${process.pid % 10000}${randomInt(100, 999)}`
  const name = `hgt${id}`
  const a = randomInt(1, 250)
  const b = randomInt(0, 63) * 4
  const hostIp = `10.254.${a}.${b + 1}`
  const nsIp = `10.254.${a}.${b + 2}`
  const vh = `hgh${id}`
  const vn = `hgn${id}`
  const destroy = () => {
    try { ip('netns', 'del', name) } catch { /* already gone */ }
    try { ip('link', 'del', vh) } catch { /* removed with the namespace */ }
    rmSync(`/etc/netns/${name}`, { recursive: true, force: true })
  }
  try {
    ip('netns', 'add', name)
    ip('link', 'add', vh, 'type', 'veth', 'peer', 'name', vn)
    ip('link', 'set', vn, 'netns', name)
    ip('addr', 'add', `${hostIp}/30`, 'dev', vh)
    ip('link', 'set', vh, 'up')
    ip('-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', vn)
    ip('-n', name, 'link', 'set', vn, 'up')
    ip('-n', name, 'link', 'set', 'lo', 'up')
    mkdirSync(`/etc/netns/${name}`, { recursive: true })
    writeFileSync(`/etc/netns/${name}/resolv.conf`, `nameserver ${opts.dns ?? hostIp}\noptions timeout:2 attempts:1\n`)
    // An empty hosts file: names resolve through our DNS only.
    writeFileSync(`/etc/netns/${name}/hosts`, '127.0.0.1 localhost\n')
  } catch (err) {
    destroy()
    throw err
  }
  return {
    name,
    hostIp,
    nsIp,
    destroy,
    exec(cmd, o = {}) {
      return new Promise((resolve) => {
        const child = spawn('ip', ['netns', 'exec', name, ...cmd], { env: o.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20000)
        if (o.input !== undefined) child.stdin.end(o.input)
        else child.stdin.end()
        child.on('close', (code) => {
          clearTimeout(timer)
          resolve({ code, stdout, stderr })
        })
      })
    },
  }
}
