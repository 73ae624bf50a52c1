/**
 * `mcp-hangar up` from the built bundle, for end-to-end tests (root, network namespaces): start it
 * and wait for "ready", and run probe scripts inside a provider's namespace as the unprivileged
 * user the provider runs as.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { Test } from 'tap'

/** The bundled CLI the tests run (`npm run build` makes it). */
export const BUNDLE = join(new URL('../../', import.meta.url).pathname, 'dist/mcp-hangar.mjs')

/** A running `mcp-hangar up`. */
export interface Up {
  proc: ChildProcess
  /** stdout and stderr so far. */
  out: string
  /** The first provider namespace it printed (`hg-<8 hex>`), or ''. */
  netns: string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

/**
 * Starts `mcp-hangar up -c cfg` in `cwd` and resolves once it printed "ready — Ctrl-C";
 * killed (SIGKILL) at teardown if still running.
 * @throws Error with its output when it exits or is not ready within 90 s
 */
export async function startUp(t: Test, cfg: string, cwd: string, extra: string[] = []): Promise<Up> {
  // Without NODE_OPTIONS: tap's process-info loader puts itself into the environment of every
  // child a test spawns, then into theirs, and a sandboxed provider that cannot see this
  // repository's node_modules would fail to start. `env -u` execs node without it.
  const proc = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BUNDLE, 'up', '-c', cfg, ...extra], { cwd, env: { ...process.env, MCP_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const up: Up = { proc, out: '', netns: '', exited: new Promise((r) => proc.once('exit', (code) => r(code))) }
  proc.stdout!.on('data', (d: Buffer) => (up.out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (up.out += d.toString()))
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await up.exited
    }
    // Whatever a killed (or crashed) run left: namespaces, tables, cgroups, containers.
    spawnSync(process.execPath, [BUNDLE, 'up', '--cleanup', '-c', cfg], { cwd, stdio: 'ignore', timeout: 60_000, env: { ...process.env, MCP_LOG_LEVEL: 'error' } })
  })
  const until = Date.now() + 90_000
  while (!/ready — Ctrl-C/.test(up.out)) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error(`up did not become ready:\n${up.out}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  up.netns = /netns (hg-[0-9a-f]{8})/.exec(up.out)?.[1] ?? ''
  return up
}

/** Runs `node -e script` inside namespace `ns` as nobody (the provider's user); resolves with its output (killed after 20 s). */
export function probeIn(ns: string, script: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', process.execPath, '-e', script], { env: { PATH: process.env.PATH ?? '' } })
    let out = ''
    c.stdout.on('data', (d: Buffer) => (out += d.toString()))
    c.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => c.kill('SIGKILL'), 20_000)
    c.on('close', () => {
      clearTimeout(timer)
      resolve(out)
    })
  })
}

/** Runs a command, returns its stdout; throws on a non-zero exit. */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * Our "internet" for a test: a veth pair `link`/`link`p on the host holding `addresses` (each a
 * /32), up, removed at teardown (a leftover of a crashed run is removed first). Servers the test
 * binds to these addresses are reachable from the host, and so from the sidecar, never from a
 * provider's namespace.
 */
export function testInternet(t: Test, link: string, addresses: readonly string[]): void {
  try { sh('ip', ['link', 'del', link]) } catch { /* none */ }
  sh('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`])
  t.teardown(() => { try { sh('ip', ['link', 'del', link]) } catch { /* gone */ } })
  for (const a of addresses) sh('ip', ['addr', 'add', `${a}/32`, 'dev', link])
  sh('ip', ['link', 'set', link, 'up'])
  sh('ip', ['link', 'set', `${link}p`, 'up'])
}
