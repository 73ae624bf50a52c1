/**
 * `mcp-hangar compose inject -f docker-compose.yml [-o OUT]` (docs/compose.md): composition only;
 * the rewrite is compose/inject.ts.
 *
 * Exit codes: 0 written; 2 the file cannot be read, a service cannot be isolated (every reason
 * listed by its Compose path), or an option is invalid.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Command } from 'commander'
import { writeFileAtomicSync } from '../core/atomic-write.js'
import { rawEnv } from '../core/env.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { injectCompose, type InjectResult } from '../compose/inject.js'
import { DEFAULT_AGGREGATOR_IMAGE, DEFAULT_SIDECAR_IMAGE, SECCOMP_PROFILE, securityFile } from '../sidecar/images.js'
import { checkOverrides } from '../compose/overrides.js'
import { loadTransient, releaseTransient } from '../core/transient-module.js'

/** Options of `compose inject`, as commander gives them. */
export interface InjectCommand {
  file: string
  out?: string
  aggregator?: string
  aggregatorPublish?: string
  sidecarImage: string
  aggregatorImage: string
  seccomp?: string
  apparmor?: string
  subnetPool?: string
  projectName?: string
}

/** Prints what was injected: one block per provider, then the notes. */
export function formatInjectSummary(r: InjectResult, out: string): string[] {
  const lines: string[] = []
  for (const p of r.providers) {
    lines.push(`${p.service}${p.provider !== p.service ? ` (provider ${p.provider})` : ''}: behind ${p.sidecar} on ${p.network} (${p.subnet}, sidecar ${p.sidecarAddress}); MCP ${p.endpoint} served on :${p.ingressPort}; profile ${p.profile ?? '(none: all egress denied)'}`)
    if (p.hardening.length) lines.push(`  hardening added: ${p.hardening.join(', ')}`)
    for (const g of p.hostAccess) lines.push(`  HOST ACCESS granted (${g.grant}): ${g.path}: ${g.setting}`)
  }
  for (const n of r.notes) lines.push(`note: ${n}`)
  lines.push(`wrote ${out}`)
  return lines
}

/**
 * Runs `compose inject`: reads `file`, writes the result to `out` (default: the input file itself,
 * replaced atomically; `-` = stdout). Nothing is written when an override file Compose would merge
 * over `out` touches an isolated provider (compose/overrides.ts).
 * @throws ConfigError / HangarError from compose/inject.ts and compose/overrides.ts; HangarError `HANGAR_CONFIG_NOT_FOUND`.
 */
export function runComposeInject(cmd: InjectCommand, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): InjectResult {
  const file = resolve(cmd.file)
  if (!existsSync(file)) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `compose file not found: ${file}`)
  const out = cmd.out ?? file
  const result = injectCompose(readFileSync(file, 'utf8'), {
    source: file,
    // stdout may go anywhere: the working directory stands for it
    outputDir: out === '-' ? process.cwd() : dirname(resolve(out)),
    sidecarImage: cmd.sidecarImage,
    aggregatorImage: cmd.aggregatorImage,
    seccompProfile: cmd.seccomp ? resolve(cmd.seccomp) : securityFile(SECCOMP_PROFILE),
    ...(cmd.apparmor && { apparmorProfile: cmd.apparmor }),
    ...(cmd.aggregator && { aggregatorUrl: cmd.aggregator }),
    ...(cmd.aggregatorPublish !== undefined && { aggregatorPublish: cmd.aggregatorPublish }),
    ...(cmd.subnetPool && { subnetPool: cmd.subnetPool }),
    ...(cmd.projectName && { projectName: cmd.projectName }),
    env: rawEnv(),
  })
  if (out !== '-' && dirname(resolve(out)) !== dirname(file)) {
    log(`note: ${resolve(out)} is in another directory than ${file}: Compose resolves the relative paths in it (volumes, env_file, build, secrets) against its own directory`)
  }
  if (out !== '-') {
    try {
      checkOverrides(loadTransient<typeof import('yaml')>('yaml'), resolve(out), result.providers.map((p) => p.service))
    } finally {
      releaseTransient('yaml')
    }
  }
  if (out === '-') process.stdout.write(result.text)
  else writeFileAtomicSync(resolve(out), result.text)
  for (const line of formatInjectSummary(result, out === '-' ? 'stdout' : resolve(out))) log(line)
  return result
}

/** Registers `compose inject` on the program. */
export function registerComposeCommands(program: Command): void {
  const compose = program.command('compose').description('Docker Compose: put MCP servers behind sidecars')
  compose
    .command('inject')
    .description('rewrite a compose file: every service labelled mcp.hangar.enabled="true" gets its own internal network, a sidecar, hardening and the proxy environment')
    .requiredOption('-f, --file <compose.yml>', 'the compose file to read')
    .option('-o, --out <file>', 'where to write ("-" = stdout; default: replace the input file)')
    .option('--aggregator <url>', 'use this aggregator instead of adding a hangar-aggregator service')
    .option('--aggregator-publish <[ip:]port>', 'where the added aggregator is published on the host ("" = not published)', '127.0.0.1:8000')
    .option('--sidecar-image <image>', 'image of the sidecars (mcp-hangar images build builds it)', DEFAULT_SIDECAR_IMAGE)
    .option('--aggregator-image <image>', 'image of the aggregator', DEFAULT_AGGREGATOR_IMAGE)
    .option('--seccomp <file>', "seccomp profile for the providers (default: this installation's security/seccomp/mcp-provider.json)")
    .option('--apparmor <profile>', 'AppArmor profile (loaded on the host, e.g. security/apparmor/mcp-hangar-provider) for the providers')
    .option('--subnet-pool <cidr>', 'where internal /28 networks are taken from', '10.253.0.0/16')
    .option('--project-name <name>', "Compose project name (keys the subnet choice; default the file's name: or its directory)")
    .action((o: InjectCommand) => {
      runComposeInject(o)
    })
}
