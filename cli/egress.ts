/** `mcp-hangar egress -c hangar.yaml --provider NAME`: runs the egress sidecar until SIGINT/SIGTERM. */
import { join, resolve } from 'node:path'
import { getProvider, loadConfig } from '../core/config/load.js'
import { rawEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { EgressSidecar } from '../egress/sidecar.js'
import { JsonLinesSink } from '../signals/sink.js'

export interface EgressCommand {
  configPath: string
  provider: string
  signalLog: string | undefined
  log: Logger
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runEgress(cmd: EgressCommand): Promise<void> {
  const { config, warnings, source } = loadConfig(cmd.configPath, rawEnv())
  for (const w of warnings) cmd.log.warn(w)
  const provider = getProvider(config, cmd.provider)
  const sc = provider.sidecar
  const signalLog = cmd.signalLog ?? sc.signal_log ?? join(resolve(sc.data_dir), 'signals.jsonl')
  const sink = new JsonLinesSink(signalLog)
  const sidecar = new EgressSidecar({
    provider: cmd.provider,
    config: provider,
    sink,
    log: cmd.log,
    adminTokens: config.aggregator?.admin_tokens ?? [],
    protectedAddresses: config.aggregator ? [config.aggregator.listen] : [],
  })
  await sidecar.start()
  cmd.log.info({ config: source, signal_log: signalLog }, 'ready')
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      cmd.log.info({ signal: sig }, 'stopping')
      void sidecar.stop().then(() => sink.close()).then(done)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}
