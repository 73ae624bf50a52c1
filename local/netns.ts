/**
 * Carries out a {@link NetnsPlan} with iproute2 and nftables (`ip`, `nft`; root), and undoes it.
 * Every command runs without a shell; a failing command throws {@link IsolationError} with the
 * command line and its stderr. Setup is all-or-nothing: a failure removes what was made.
 */
import { execFile, execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { HangarError, ERROR_CODES } from '../core/errors.js'
import { hostRuleset, namespaceRuleset, resolvConf, type NetnsPlan } from './plan.js'

/** A command of the isolation setup failed (`HANGAR_ISOLATION_FAILED`). */
export class IsolationError extends HangarError {
  constructor(message: string) {
    super(ERROR_CODES.ISOLATION_FAILED, message)
  }
}

/** Runs one command; stdout back. @throws IsolationError */
export function run(cmd: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 15_000 })
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new IsolationError(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`)
  }
}

function tryRun(cmd: string, args: readonly string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 15_000 })
    return true
  } catch {
    return false
  }
}

/** The /30 network addresses in 10.254.0.0/16 already on the host (for `pickSubnet`). */
export function takenSubnets(): Set<string> {
  const out = new Set<string>()
  const json = JSON.parse(run('ip', ['-j', '-4', 'addr', 'show'])) as Array<{ addr_info?: Array<{ local?: string }> }>
  for (const link of json) {
    for (const a of link.addr_info ?? []) {
      const m = /^10\.254\.(\d+)\.(\d+)$/.exec(a.local ?? '')
      if (m) out.add(`10.254.${m[1]}.${Number(m[2]) & ~3}`)
    }
  }
  return out
}

/** True when the namespace exists. */
export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`)
}

/**
 * Creates the namespace, the veth pair with its /30, the dead-end `hgnull0` link and routes,
 * resolv.conf and hosts under /etc/netns/<ns>/, and both nftables rulesets. A leftover of the same
 * plan (a crashed earlier run) is removed first.
 * @throws IsolationError (after undoing what was made)
 */
export function setupNetns(plan: NetnsPlan): void {
  teardownNetns(plan)
  const ns = plan.netns
  try {
    run('ip', ['netns', 'add', ns])
    run('ip', ['link', 'add', plan.vethHost, 'type', 'veth', 'peer', 'name', plan.vethNs])
    run('ip', ['link', 'set', plan.vethNs, 'netns', ns])
    run('ip', ['addr', 'add', `${plan.hostIp}/30`, 'dev', plan.vethHost])
    run('ip', ['link', 'set', plan.vethHost, 'up'])
    run('ip', ['-n', ns, 'addr', 'add', `${plan.nsIp}/30`, 'dev', plan.vethNs])
    run('ip', ['-n', ns, 'link', 'set', plan.vethNs, 'up'])
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    // The dead end: a veth pair with both ends inside the namespace (no `dummy` driver needed).
    run('ip', ['-n', ns, 'link', 'add', 'hgnull0', 'type', 'veth', 'peer', 'name', 'hgnull1'])
    run('ip', ['-n', ns, 'link', 'set', 'hgnull0', 'up'])
    run('ip', ['-n', ns, 'link', 'set', 'hgnull1', 'up'])
    run('ip', ['-n', ns, 'route', 'add', 'default', 'dev', 'hgnull0'])
    // IPv6 too, so an IPv6 connect meets nftables (refused and reported) instead of "no route".
    // Where the kernel has IPv6 switched off there is no IPv6 to refuse, and nothing to add.
    if (ipv6On(ns)) run('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'dev', 'hgnull0'])
    if (plan.steering !== plan.hostIp) run('ip', ['-n', ns, 'route', 'add', `${plan.steering}/32`, 'via', plan.hostIp, 'dev', plan.vethNs])
    // Readable by the provider (whatever the umask): it resolves names through them.
    mkdirSync(`/etc/netns/${ns}`, { recursive: true })
    chmodSync(`/etc/netns/${ns}`, 0o755)
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, resolvConf(plan))
    writeFileSync(`/etc/netns/${ns}/hosts`, '127.0.0.1 localhost\n::1 localhost\n')
    chmodSync(`/etc/netns/${ns}/resolv.conf`, 0o644)
    chmodSync(`/etc/netns/${ns}/hosts`, 0o644)
    run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], namespaceRuleset(plan))
    run('nft', ['-f', '-'], hostRuleset(plan))
  } catch (err) {
    teardownNetns(plan)
    throw err
  }
}

/** Removes everything {@link setupNetns} makes; idempotent, never throws. */
export function teardownNetns(plan: NetnsPlan): void {
  tryRun('nft', ['delete', 'table', 'inet', plan.hostTable])
  if (netnsExists(plan.netns)) tryRun('ip', ['netns', 'del', plan.netns])
  tryRun('ip', ['link', 'del', plan.vethHost])
  rmSync(`/etc/netns/${plan.netns}`, { recursive: true, force: true })
}

/** True when IPv6 is enabled on the namespace's dead-end link. */
function ipv6On(ns: string): boolean {
  try {
    return run('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv6/conf/hgnull0/disable_ipv6']).trim() === '0'
  } catch {
    return false
  }
}

/** One element of a `bypass4` or `bypass6` set: a dropped destination and its counters. */
export interface BypassEntry {
  ip: string
  protocol: 'tcp' | 'udp'
  port: number
  packets: number
  bytes: number
}

/** One read of a table's drop sets and its `overflow` counter. */
export interface BypassRead {
  entries: BypassEntry[]
  /** Packets counted in `overflow` (a full set could not take them), since the table was made. */
  overflowPackets: number
}

/** Runs one command without blocking the event loop; stdout back. @throws IsolationError */
async function runAsync(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 15_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new IsolationError(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`))
      else resolve(stdout)
    })
    // nft may exit without reading its input (an error, or a command that reads none): a write
    // to its closed stdin must not become an unhandled EPIPE that ends the sidecar.
    child.stdin?.on('error', () => {})
    child.stdin?.end(input ?? '')
  })
}

/**
 * Reads the `bypass4` and `bypass6` sets and the `overflow` counter of a table in one `nft -j
 * list table`, in the namespace (`netns` given) or on the host. Asynchronous: a full set is
 * 2 × 4096 elements, and the sidecar keeps serving meanwhile.
 * @throws IsolationError when nft fails (the table is gone)
 */
export async function readBypassSet(table: string, netns?: string): Promise<BypassRead> {
  const args = ['-j', 'list', 'table', 'inet', table]
  const text = netns ? await runAsync('ip', ['netns', 'exec', netns, 'nft', ...args]) : await runAsync('nft', args)
  return { entries: parseBypassSet(text), overflowPackets: parseCounter(text, 'overflow') }
}

/**
 * Deletes the given elements from the table's drop sets (those already reported), in one `nft -f`
 * batch, so the sets never fill up with old destinations: a new one always finds room, and one
 * seen again is reported again. A batch is all-or-nothing: when one element has timed out
 * meanwhile the batch fails, and the elements stay until the next poll deletes them.
 * @throws IsolationError when nft fails
 */
export async function deleteBypassElements(table: string, entries: readonly BypassEntry[], netns?: string): Promise<void> {
  if (!entries.length) return
  const lines = entries.map((e) => `delete element inet ${table} ${e.ip.includes(':') ? 'bypass6' : 'bypass4'} { ${e.ip} . ${e.protocol} . ${e.port} }`)
  const input = `${lines.join('\n')}\n`
  if (netns) await runAsync('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], input)
  else await runAsync('nft', ['-f', '-'], input)
}

/** Pure: the packets of the named counter in `nft -j list table` output (0 when absent). */
export function parseCounter(text: string, name: string): number {
  const doc = JSON.parse(text) as { nftables?: Array<{ counter?: { name?: string; packets?: number } }> }
  for (const item of doc.nftables ?? []) if (item.counter?.name === name) return item.counter.packets ?? 0
  return 0
}

/** Pure: the elements of the `bypass4` and `bypass6` sets in `nft -j list set|table …` output. */
export function parseBypassSet(text: string): BypassEntry[] {
  const doc = JSON.parse(text) as { nftables?: Array<{ set?: { name?: string; elem?: unknown[] } }> }
  const out: BypassEntry[] = []
  for (const item of doc.nftables ?? []) {
    if (item.set?.name !== undefined && item.set.name !== 'bypass4' && item.set.name !== 'bypass6') continue
    for (const el of item.set?.elem ?? []) {
      // {"elem": {"val": {"concat": [ip, proto, port]}, "counter": {...}, ...}} (counters on) or a bare concat.
      const e = el as { elem?: { val?: { concat?: unknown[] }; counter?: { packets?: number; bytes?: number } }; concat?: unknown[] }
      const concat = e.elem?.val?.concat ?? e.concat
      if (!Array.isArray(concat) || concat.length !== 3) continue
      const [ip, proto, port] = concat as [string, string, number]
      if (proto !== 'tcp' && proto !== 'udp') continue
      out.push({ ip, protocol: proto, port: Number(port), packets: e.elem?.counter?.packets ?? 0, bytes: e.elem?.counter?.bytes ?? 0 })
    }
  }
  return out
}
