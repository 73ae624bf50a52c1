/** `mcp-hangar egress -c hangar.yaml --provider NAME`: runs the egress sidecar until SIGINT/SIGTERM. */
import type { Logger } from '../core/log.js'
import { EgressSidecar } from '../egress/sidecar.js'
import { loadProviderRun, untilSignal } from './run.js'

export interface EgressCommand {
  configPath: string
  provider: string
  signalLog: string | undefined
  log: Logger
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runEgress(cmd: EgressCommand): Promise<void> {
  const run = loadProviderRun(cmd.configPath, cmd.provider, cmd.signalLog, cmd.log)
  const sidecar = new EgressSidecar({
    provider: cmd.provider,
    config: run.provider,
    sink: run.sink,
    log: cmd.log,
    adminTokens: run.config.aggregator?.admin_tokens ?? [],
    protectedAddresses: run.config.aggregator ? [run.config.aggregator.listen] : [],
  })
  await sidecar.start()
  cmd.log.info({ config: run.source, signal_log: run.signalLog }, 'ready')
  await untilSignal(cmd.log, () => sidecar.stop().then(() => run.sink.close()))
}
