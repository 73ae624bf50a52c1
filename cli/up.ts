/**
 * `mcp-hangar up [-c hangar.yaml] [--cooperative] [--run-as USER]`: the local all-in-one
 * (local/up.ts). Prints where everything is, runs until SIGINT/SIGTERM, then stops everything and
 * removes what it made. Composition only.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadConfig } from '../config/load.js'
import { providerEnv, rawEnv } from '../core/env.js'
import { literalSecrets } from '../local/config-secrets.js'
import { effectiveConfig } from '../local/effective-config.js'
import { cleanupProvider, readRunState, removeRunDir, sameProcess, cleanupRun, type CleanupReport } from '../local/run-state.js'
import { detectCgroups, planProviderCgroup } from '../local/cgroup.js'
import { planKey } from '../local/plan.js'
import { removeLabelledNow } from '../local/container-stack.js'
import type { Logger } from '../core/log.js'
import { detectIsolation, type IsolationCheck } from '../sidecar/isolation.js'
import { LocalStack, type StackSummary } from '../local/up.js'
import { SECCOMP_PROFILE, securityFile } from '../sidecar/images.js'
import { SIDECAR_NODE_FLAGS } from '../sidecar/node-flags.js'
import { loadEnterprise } from './enterprise.js'
import { untilSignal } from './run.js'

export interface UpCommand {
  configPath: string
  /** Skip isolation even where it is possible. */
  cooperative: boolean
  /** One explicit identity for every provider (default: a uid of its own per provider). */
  runAs?: string
  /** `mode: container` providers: the sidecar image (default sidecar/images.ts DEFAULT_SIDECAR_IMAGE). */
  sidecarImage?: string
  log: Logger
  out?: NodeJS.WritableStream
}

/** Pure: the lines `up` prints once ready. */
export function formatStackSummary(s: StackSummary): string {
  const lines: string[] = []
  for (const c of s.cleaned ?? []) lines.push(`cleaned up after an earlier run: ${c}`)
  lines.push(s.isolation.mode === 'netns'
    ? 'isolation: netns — each subprocess provider runs in its own network namespace (its only reachable host is its sidecar; nftables enforces it), as its own uid, in its own PID and mount namespaces and cgroup'
    : `isolation: COOPERATIVE — ${s.isolation.why}. Providers get HTTP_PROXY/HTTPS_PROXY only; nothing stops one from going around its sidecar. Every signal and /v1/providers entry is marked "cooperative".`)
  lines.push(`aggregator  ${s.aggregatorUrl}  (audit log: ${s.auditLog}; MCP tools at ${s.aggregatorUrl}/mcp)`)
  const w = Math.max(...s.providers.map((p) => p.name.length), 8)
  for (const p of s.providers) {
    const where = p.netns ? `, netns ${p.netns}: provider ${p.providerIp} → sidecar ${p.sidecarIp}${p.uid !== undefined ? `, uid ${p.uid}` : ''}`
      : p.network ? `, container on ${p.network} (internal): sidecar ${p.container} at ${p.sidecarIp}, the provider's only host` : ''
    lines.push(`${p.name.padEnd(w)}  ${p.mcpUrl}  (${p.mode}${where})`)
  }
  lines.push('ready — Ctrl-C stops everything')
  return `${lines.join('\n')}\n`
}

/** Runs the stack until SIGINT/SIGTERM (or a process that keeps failing: exit code 1). */
export async function runUp(cmd: UpCommand): Promise<void> {
  const { config, warnings, source } = loadConfig(cmd.configPath, rawEnv())
  for (const w of warnings) cmd.log.warn(w)
  warnReadableSecrets(source, cmd.log)
  await loadEnterprise({ providers: Object.keys(config.providers).length, log: cmd.log })
  const isolation: IsolationCheck = cmd.cooperative ? { mode: 'cooperative', why: '--cooperative was given' } : detectIsolation()
  const out = cmd.out ?? process.stdout
  if (isolation.mode === 'cooperative') cmd.log.warn({ why: isolation.why }, 'running in COOPERATIVE mode: egress is not enforced')
  let fatal: ((why: string) => void) | undefined
  const stack = new LocalStack({
    config, configPath: resolve(source), isolation, log: cmd.log, cwd: process.cwd(), providerEnv: providerEnv(),
    ...(cmd.runAs && { runAs: cmd.runAs }),
    self: [process.execPath, ...SIDECAR_NODE_FLAGS, process.argv[1]!],
    env: { ...rawEnv() },
    onFatal: (why) => fatal?.(why),
    seccompPath: securityFile(SECCOMP_PROFILE),
    ...(cmd.sidecarImage && { sidecarImage: cmd.sidecarImage }),
  })
  process.once('exit', () => stack.killNow())
  const summary = await stack.start()
  out.write(formatStackSummary(summary))
  await new Promise<void>((done) => {
    fatal = (why) => {
      cmd.log.error({ why }, 'stopping everything')
      process.exitCode = 1
      void stack.stop().then(done, done)
    }
    void untilSignal(cmd.log, () => stack.stop()).then(done)
  })
}

/** Warns when the config file is readable by other users and holds a literal secret. */
export function warnReadableSecrets(file: string, log: Logger): void {
  try {
    if ((statSync(file).mode & 0o004) === 0) return
    const found = literalSecrets(readFileSync(file, 'utf8'))
    if (found.length) {
      log.warn({ file, secrets: found }, `${file} is readable by every user of this machine and holds literal secrets (${found.join(', ')}): chmod 600 it, or write \${VAR} and set the variable in the environment`)
    }
  } catch {
    /* an inline or unreadable config: nothing to say */
  }
}

/**
 * `mcp-hangar up --cleanup`: removes what an earlier run of this config left. From its
 * `state.json` when there is one, and in any case everything named after this config's providers
 * (namespaces, veths, nftables tables, /etc/netns entries, cgroups, containers). Prints each thing
 * removed. Exit code: 0 when nothing is left, 1 when something could not be removed, 2 when that
 * run is still going.
 */
export async function runUpCleanup(cmd: { configPath: string; log: Logger; out?: NodeJS.WritableStream }): Promise<number> {
  const out = cmd.out ?? process.stdout
  const { config, source } = loadConfig(cmd.configPath, rawEnv())
  const configPath = resolve(source)
  const eff = effectiveConfig(config, new Map(), process.cwd())
  const runDir = join((eff.aggregator as { data_dir: string }).data_dir, 'run')
  const report: CleanupReport = { removed: [], left: [] }
  const prior = readRunState(runDir)
  if (prior && 'state' in prior) {
    if (sameProcess(prior.state.up.pid, prior.state.up.starttime)) {
      out.write(`mcp-hangar up (pid ${prior.state.up.pid}) is still running with this config: stop it (Ctrl-C or kill -TERM ${prior.state.up.pid}) instead\n`)
      return 2
    }
    const r = await cleanupRun(prior.state, (keys) => keys.forEach((k) => removeLabelledNow(k)))
    report.removed.push(...r.removed)
    report.left.push(...r.left)
  }
  const layout = detectCgroups()
  for (const name of Object.keys(config.providers)) {
    const key = planKey(configPath, name)
    // Every limit asked for, so the plan names the directory in every hierarchy a run may have used.
    const planned = planProviderCgroup(layout, key, { pids: 1, memoryBytes: 1, cpu: 1 })
    await cleanupProvider({ name, key, netns: `hg-${key}`, vethHost: `hgh${key}`, hostTable: `hangar_${key}`, ...('cgroup' in planned && { cgroup: planned.cgroup }) }, report)
    if (config.providers[name]!.mode === 'container' && hasDocker()) removeLabelledNow(key)
  }
  if (!report.left.length) removeRunDir(runDir)
  for (const r of [...new Set(report.removed)]) out.write(`removed: ${r}\n`)
  for (const l of report.left) out.write(`NOT removed: ${l}\n`)
  out.write(report.left.length ? 'cleanup incomplete\n' : report.removed.length ? 'cleanup done\n' : 'nothing to clean up\n')
  return report.left.length ? 1 : 0
}

function hasDocker(): boolean {
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}
