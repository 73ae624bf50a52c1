/**
 * Docker for tests: whether an engine answers, the images (built locally by
 * compose/build-images.mjs, never pulled), and small `docker` CLI helpers. Tests only create
 * containers and networks of their own, labelled or project-named so teardown finds them all.
 */
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)

/** Why Docker tests cannot run here, or null. */
export function dockerUnavailable(): string | null {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 })
  } catch (err) {
    return `no Docker engine answers (${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim().split('\n')[0]})`
  }
  return null
}

/** Skip reason for tap: throws under CI=true (Docker tests must run there: .ci/run starts dockerd), else the reason or false. */
export function dockerSkip(): string | false {
  const why = dockerUnavailable()
  if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`)
  return why ?? false
}

/** Runs the docker CLI; resolves with stdout, rejects with stderr in the message. */
export async function docker(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP('docker', args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 << 20, ...(opts.env && { env: opts.env }), ...(opts.cwd && { cwd: opts.cwd }) })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`docker ${args.join(' ')}: ${(e.stderr || e.message).trim()}`)
  }
}

/** Result of a command run in a container. */
export interface ContainerExec { code: number; stdout: string; stderr: string }

/** `docker exec` that resolves with the exit code instead of rejecting. */
export async function dockerExec(container: string, cmd: string[], timeoutMs = 30_000): Promise<ContainerExec> {
  try {
    const { stdout, stderr } = await execFileP('docker', ['exec', container, ...cmd], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 32 << 20 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) }
  }
}

/**
 * A Node one-liner for `docker exec <c> node -e`: opens a TCP connection to host:port and prints
 * `connected`, or `error <code>` (ENETUNREACH, ECONNREFUSED, EHOSTUNREACH, ...), or `timeout`.
 */
export function tcpProbe(host: string, port: number, timeoutMs = 3000): string[] {
  return ['node', '-e', `const s=require('net').connect({host:${JSON.stringify(host)},port:${port}});const t=setTimeout(()=>{console.log('timeout');process.exit(0)},${timeoutMs});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',(e)=>{clearTimeout(t);console.log('error '+e.code);process.exit(0)})`]
}

/** Names of containers (all states) and networks carrying `label` (`key=value`). */
export async function labelled(label: string): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  const list = async (args: string[]) => (await docker(args)).split('\n').map((s) => s.trim()).filter(Boolean)
  return {
    containers: await list(['ps', '-a', '--filter', `label=${label}`, '--format', '{{.Names}}']),
    networks: await list(['network', 'ls', '--filter', `label=${label}`, '--format', '{{.Name}}']),
    volumes: await list(['volume', 'ls', '--filter', `label=${label}`, '--format', '{{.Name}}']),
  }
}

/**
 * Removes what an earlier, crashed run of a test left behind: every network whose IPv4 subnet is
 * one of `subnets` (fixed subnets of a test would clash), with the containers attached to it.
 * Only subnets the tests own are given, so nothing else on the machine is touched.
 */
export async function removeStaleNetworks(subnets: readonly string[]): Promise<string[]> {
  const removed: string[] = []
  const ids = (await docker(['network', 'ls', '-q'])).split('\n').filter(Boolean)
  if (!ids.length) return removed
  const nets = JSON.parse(await docker(['network', 'inspect', ...ids])) as Array<{ Name: string; IPAM?: { Config?: Array<{ Subnet?: string }> }; Containers?: Record<string, unknown> }>
  for (const n of nets) {
    if (!(n.IPAM?.Config ?? []).some((c) => c.Subnet !== undefined && subnets.includes(c.Subnet))) continue
    const containers = Object.keys(n.Containers ?? {})
    if (containers.length) await docker(['rm', '-f', ...containers]).catch(() => '')
    await docker(['network', 'rm', n.Name]).catch(() => '')
    removed.push(n.Name)
  }
  return removed
}
