/**
 * `mcp-hangar license show` and `mcp-hangar license verify KEY` (docs/licensing.md).
 *
 * - `show [-c hangar.yaml] [--json]`: decides the license as `aggregator`, `up` and `sidecar` do
 *   (`MCP_LICENSE_KEY`, the providers the config names), loads the enterprise modules when
 *   allowed, and prints the state: mode, licensee, expiry, max providers, features, reason,
 *   whether the enterprise modules loaded. Exit 0 whatever the mode.
 * - `verify KEY|- [-c hangar.yaml] [--json]`: checks one key (`-` reads it from stdin) against
 *   the embedded public key: exit 0 when it verifies, 1 when refused (the reason on stderr).
 *   With `-c`, the config's provider count is checked against the key's limit.
 */
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { loadConfig } from '../config/load.js'
import { rawEnv, readEnv } from '../core/env.js'
import { MAX_LICENSE_KEY_LENGTH, verifyLicense } from '../core/license.js'
import { createLogger } from '../core/log.js'
import { createPortRegistry, type LicenseState } from '../core/ports.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { loadEnterprise } from './enterprise.js'

/** The providers the config names: an explicit `-c`/`$MCP_CONFIG` must load; a missing default ./hangar.yaml counts 0. */
function countProviders(explicit: string | undefined): { providers: number; config: string | null } {
  const path = explicit ?? 'hangar.yaml'
  if (explicit === undefined && !existsSync(path)) return { providers: 0, config: null }
  const { config, source } = loadConfig(path, rawEnv())
  return { providers: Object.keys(config.providers).length, config: source }
}

/** The state as aligned `field: value` lines. */
export function formatLicense(s: LicenseState & { providers: number; config: string | null; enterprise?: boolean }): string {
  const rows: Array<[string, string | undefined]> = [
    ['mode', s.mode],
    ['licensee', s.licensee ?? (s.mode === 'community' ? 'community grant (no key, fewer than 5 providers)' : undefined)],
    ['expires', s.expires],
    ['max providers', s.max_providers?.toString()],
    ['features', s.features.length ? s.features.join(', ') : '(none)'],
    ['providers', `${s.providers}${s.config ? ` (${s.config})` : ' (no config)'}`],
    ['enterprise', s.enterprise === undefined ? undefined : s.enterprise ? 'loaded' : 'not loaded'],
    ['reason', s.reason],
  ]
  return rows.filter(([, v]) => v !== undefined).map(([k, v]) => `${`${k}:`.padEnd(15)}${v}\n`).join('')
}

async function readStdin(): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) {
    text += String(chunk)
    if (text.length > MAX_LICENSE_KEY_LENGTH * 2) throw new HangarError(ERROR_CODES.USAGE, `license verify -: more than ${MAX_LICENSE_KEY_LENGTH * 2} characters on stdin`)
  }
  return text
}

/** Registers `license show` and `license verify` on `program`. */
export function registerLicenseCommands(program: Command): void {
  const license = program.command('license').description('the enterprise license: show the state, verify a key (docs/licensing.md)')

  license
    .command('show')
    .description('print the license state this config and $MCP_LICENSE_KEY give: mode, licensee, expiry, max providers, features, reason')
    .option('-c, --config <file>', 'hangar.yaml, for the provider count (default: $MCP_CONFIG or ./hangar.yaml; none: 0 providers)')
    .option('--json', 'print JSON')
    .action(async (o: { config?: string; json?: boolean }) => {
      const env = readEnv()
      const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'license' })
      const { providers, config } = countProviders(o.config ?? env.configPath)
      const registry = createPortRegistry()
      const state = await loadEnterprise({ providers, log, key: env.licenseKey, registry })
      const out = { ...state, providers, config, enterprise: registry.enterprise }
      process.stdout.write(o.json ? `${JSON.stringify(out, null, 2)}\n` : formatLicense(out))
    })

  license
    .command('verify')
    .description('verify a license key against the embedded public key ("-" reads it from stdin): exit 0 valid, 1 refused')
    .argument('<key>', 'the license key, or - for stdin')
    .option('-c, --config <file>', 'also check the provider count of this hangar.yaml against the license limit')
    .option('--json', 'print JSON')
    .action(async (key: string, o: { config?: string; json?: boolean }) => {
      const text = key === '-' ? await readStdin() : key
      const { providers, config } = o.config !== undefined ? countProviders(o.config) : { providers: 0, config: null }
      const state = verifyLicense(text, { now: new Date(), providers })
      const out = { ...state, providers, config }
      process.stdout.write(o.json ? `${JSON.stringify(out, null, 2)}\n` : formatLicense(out))
      if (state.mode !== 'licensed') {
        process.stderr.write(`mcp-hangar: license key refused: ${state.reason ?? 'unknown'}\n`)
        process.exitCode = 1
      }
    })
}
