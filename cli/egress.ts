/**
 * `mcp-hangar egress -c hangar.yaml --provider NAME`: one provider's egress listeners alone
 * (sidecar/sidecar.ts, planes `egress`) until SIGINT/SIGTERM. Composition only.
 */
import type { Logger } from '../core/log.js'
import { Sidecar } from '../sidecar/sidecar.js'
import { loadProviderRun, untilSignal } from './run.js'

export interface EgressCommand {
  configPath: string
  provider: string
  signalLog: string | undefined
  log: Logger
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runEgress(cmd: EgressCommand): Promise<void> {
  const { config, source } = loadProviderRun(cmd.configPath, cmd.provider, cmd.log)
  const sidecar = new Sidecar({
    config, provider: cmd.provider, planes: 'egress', log: cmd.log, source,
    ...(cmd.signalLog !== undefined && { signalLog: cmd.signalLog }),
  })
  await sidecar.start()
  await untilSignal(cmd.log, () => sidecar.stop())
}
