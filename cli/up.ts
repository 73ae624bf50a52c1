/**
 * `mcp-hangar up [-c hangar.yaml] [--cooperative] [--run-as USER]`: the local all-in-one
 * (local/up.ts). Prints where everything is, runs until SIGINT/SIGTERM, then stops everything and
 * removes what it made. Composition only.
 */
import { resolve } from 'node:path'
import { loadConfig } from '../core/config/load.js'
import { rawEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { detectIsolation, type IsolationCheck } from '../local/isolation.js'
import { LocalStack, type StackSummary } from '../local/up.js'
import { SECCOMP_PROFILE, securityFile } from '../compose/images.js'
import { SIDECAR_NODE_FLAGS } from './node-flags.js'
import { untilSignal } from './run.js'

export interface UpCommand {
  configPath: string
  /** Skip isolation even where it is possible. */
  cooperative: boolean
  runAs: string
  /** `mode: container` providers: the sidecar image (default compose/images.ts DEFAULT_SIDECAR_IMAGE). */
  sidecarImage?: string
  log: Logger
  out?: NodeJS.WritableStream
}

/** Pure: the lines `up` prints once ready. */
export function formatSummary(s: StackSummary): string {
  const lines: string[] = []
  lines.push(s.isolation.mode === 'netns'
    ? 'isolation: netns — each subprocess provider runs in its own network namespace; its only reachable host is its sidecar (nftables enforces it)'
    : `isolation: COOPERATIVE — ${s.isolation.why}. Providers get HTTP_PROXY/HTTPS_PROXY only; nothing stops one from going around its sidecar. Every signal and /v1/providers entry is marked "cooperative".`)
  lines.push(`aggregator  ${s.aggregatorUrl}  (audit log: ${s.auditLog}; MCP tools at ${s.aggregatorUrl}/mcp)`)
  const w = Math.max(...s.providers.map((p) => p.name.length), 8)
  for (const p of s.providers) {
    const where = p.netns ? `, netns ${p.netns}: provider ${p.providerIp} → sidecar ${p.sidecarIp}`
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
  const isolation: IsolationCheck = cmd.cooperative ? { mode: 'cooperative', why: '--cooperative was given' } : detectIsolation()
  const out = cmd.out ?? process.stdout
  if (isolation.mode === 'cooperative') cmd.log.warn({ why: isolation.why }, 'running in COOPERATIVE mode: egress is not enforced')
  let fatal: ((why: string) => void) | undefined
  const stack = new LocalStack({
    config, configPath: resolve(source), isolation, log: cmd.log, cwd: process.cwd(), runAs: cmd.runAs,
    self: [process.execPath, ...SIDECAR_NODE_FLAGS, process.argv[1]!],
    env: { ...rawEnv() },
    onFatal: (why) => fatal?.(why),
    seccompPath: securityFile(SECCOMP_PROFILE),
    ...(cmd.sidecarImage && { sidecarImage: cmd.sidecarImage }),
  })
  process.once('exit', () => stack.killNow())
  const summary = await stack.start()
  out.write(formatSummary(summary))
  await new Promise<void>((done) => {
    fatal = (why) => {
      cmd.log.error({ why }, 'stopping everything')
      process.exitCode = 1
      void stack.stop().then(done, done)
    }
    void untilSignal(cmd.log, () => stack.stop()).then(done)
  })
}
