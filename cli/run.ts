/** What the long-running sub-commands share: loading one provider's config and its signal output, and waiting for SIGINT/SIGTERM. */
import { join, resolve } from 'node:path'
import type { HangarConfig, ProviderConfig } from '../core/config/schema.js'
import { getProvider, loadConfig } from '../core/config/load.js'
import { rawEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { JsonLinesSink } from '../signals/sink.js'

export interface ProviderRun {
  config: HangarConfig
  provider: ProviderConfig
  /** The config file actually read. */
  source: string
  sink: JsonLinesSink
  signalLog: string
}

/**
 * Loads hangar.yaml (warnings logged), picks the provider and opens its signal log:
 * `--signal-log`, else `sidecar.signal_log`, else `<data_dir>/signals.jsonl`.
 * @throws HangarError `HANGAR_CONFIG_*`, `HANGAR_PROVIDER_UNKNOWN`
 */
export function loadProviderRun(configPath: string, name: string, signalLog: string | undefined, log: Logger): ProviderRun {
  const { config, warnings, source } = loadConfig(configPath, rawEnv())
  for (const w of warnings) log.warn(w)
  const provider = getProvider(config, name)
  const sc = provider.sidecar
  const path = signalLog ?? sc.signal_log ?? join(resolve(sc.data_dir), 'signals.jsonl')
  return { config, provider, source, sink: new JsonLinesSink(path), signalLog: path }
}

/** Resolves once `stop` has run after the first SIGINT or SIGTERM. */
export function untilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const on = (sig: string) => {
      log.info({ signal: sig }, 'stopping')
      void stop().then(done, (err: unknown) => {
        log.error({ err: (err as Error).message }, 'stop failed')
        done()
      })
    }
    process.once('SIGINT', () => on('SIGINT'))
    process.once('SIGTERM', () => on('SIGTERM'))
  })
}
