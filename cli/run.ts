/** What the long-running sub-commands share: loading one provider's config, and waiting for SIGINT/SIGTERM. */
import type { HangarConfig, ProviderConfig } from '../config/schema.js'
import { getProvider, loadConfig } from '../config/load.js'
import { rawEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'

export interface ProviderRun {
  config: HangarConfig
  provider: ProviderConfig
  /** The config file actually read. */
  source: string
}

/**
 * Loads hangar.yaml (warnings logged) and picks the provider. The signal output is opened by
 * sidecar/control-plane.ts `openSignalOutput`.
 * @throws HangarError `HANGAR_CONFIG_*`, `HANGAR_PROVIDER_UNKNOWN`
 */
export function loadProviderRun(configPath: string, name: string, log: Logger): ProviderRun {
  const { config, warnings, source } = loadConfig(configPath, rawEnv())
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
