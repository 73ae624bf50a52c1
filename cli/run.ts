/** What the long-running sub-commands share: loading one provider's config, and waiting for SIGINT/SIGTERM. */
import type { HangarConfig, ProviderConfig } from '../config/schema.js'
import { getProvider, loadConfig, parseConfig, type LoadedConfig } from '../config/load.js'
import { rawEnv } from '../core/env.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { Logger } from '../core/log.js'

export interface ProviderRun {
  config: HangarConfig
  provider: ProviderConfig
  /** The config file actually read. */
  source: string
}

/** Where a command's hangar.yaml comes from: a file path (or `env:NAME`), or `{ env }`: `--config-env NAME`. */
export type ConfigFrom = string | { env: string }

/** An environment variable name as POSIX shells accept it. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * The config held as YAML text in the environment variable `name` (`--config-env NAME`: how a
 * sidecar injected by the Kubernetes admission webhook gets its config, the webhook being unable
 * to create a ConfigMap). Messages name the source as `env NAME`; `${VAR}` in the text is
 * substituted from the same environment.
 * @throws HangarError `HANGAR_USAGE` for a name that is no variable name; `HANGAR_CONFIG_NOT_FOUND`
 *   for an unset or empty (blank) variable; ConfigError / HangarError `HANGAR_CONFIG_ENV_UNSET` as
 *   config/load.ts `parseConfig`.
 */
export function loadConfigFromEnv(name: string, env: Readonly<Record<string, string | undefined>>): LoadedConfig {
  if (!ENV_NAME.test(name)) throw new HangarError(ERROR_CODES.USAGE, `--config-env: "${name}" is not an environment variable name (letters, digits, _; not starting with a digit)`)
  const text = env[name]
  if (text === undefined) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `--config-env ${name}: environment variable ${name} is not set`)
  if (!text.trim()) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `--config-env ${name}: environment variable ${name} is empty`)
  return parseConfig(text, `env ${name}`, env)
}

/**
 * Loads hangar.yaml (warnings logged) and picks the provider. The signal output is opened by
 * sidecar/control-plane.ts `openSignalOutput`.
 * @param from a file path (config/load.ts `loadConfig`, `env:NAME` included) or `{ env: NAME }` ({@link loadConfigFromEnv}).
 * @throws HangarError `HANGAR_CONFIG_*`, `HANGAR_PROVIDER_UNKNOWN`, `HANGAR_USAGE`
 */
export function loadProviderRun(from: ConfigFrom, name: string, log: Logger): ProviderRun {
  const env = rawEnv()
  const { config, warnings, source } = typeof from === 'string' ? loadConfig(from, env) : loadConfigFromEnv(from.env, env)
  for (const w of warnings) log.warn(w)
  return { config, provider: getProvider(config, name), source }
}

/**
 * Resolves once `stop` has run after the first SIGINT or SIGTERM. A later signal while stopping
 * is logged and ignored. The listeners stay installed (never `once`): write-file-atomic's
 * signal-exit re-raises a signal that finds no other listener, which would kill the process in
 * the middle of its graceful stop.
 */
export function untilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    let stopping = false
    const on = (sig: string) => {
      if (stopping) {
        log.info({ signal: sig }, 'already stopping')
        return
      }
      stopping = true
      log.info({ signal: sig }, 'stopping')
      void stop().then(done, (err: unknown) => {
        log.error({ err: (err as Error).message }, 'stop failed')
        done()
      })
    }
    process.on('SIGINT', () => on('SIGINT'))
    process.on('SIGTERM', () => on('SIGTERM'))
  })
}
