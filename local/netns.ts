/**
 * Carries out a {@link NetnsPlan} with iproute2 and nftables (`ip`, `nft`; root), and undoes it.
 * Every command runs without a shell; a failing command throws {@link IsolationError} with the
 * command line and its stderr. Setup is all-or-nothing: a failure removes what was made.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
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
    if (plan.steering !== plan.hostIp) run('ip', ['-n', ns, 'route', 'add', `${plan.steering}/32`, 'via', plan.hostIp, 'dev', plan.vethNs])
    mkdirSync(`/etc/netns/${ns}`, { recursive: true })
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, resolvConf(plan))
    writeFileSync(`/etc/netns/${ns}/hosts`, '127.0.0.1 localhost\n::1 localhost\n')
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

/** One element of a `bypass4` set: a dropped destination and its counters. */
export interface BypassEntry {
  ip: string
  protocol: 'tcp' | 'udp'
  port: number
  packets: number
  bytes: number
}

/**
 * Reads a `bypass4` set (`nft -j list set`), in the namespace (`netns` given) or on the host.
 * @throws IsolationError when nft fails (the table is gone)
 */
export function readBypassSet(table: string, netns?: string): BypassEntry[] {
  const args = ['-j', 'list', 'set', 'inet', table, 'bypass4']
  const text = netns ? run('ip', ['netns', 'exec', netns, 'nft', ...args]) : run('nft', args)
  return parseBypassSet(text)
}

/** Pure: the elements of `nft -j list set … bypass4` output. */
export function parseBypassSet(text: string): BypassEntry[] {
  const doc = JSON.parse(text) as { nftables?: Array<{ set?: { elem?: unknown[] } }> }
  const out: BypassEntry[] = []
  for (const item of doc.nftables ?? []) {
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

