/** `mcp-hangar egress -c hangar.yaml --provider NAME`: runs the egress sidecar until SIGINT/SIGTERM. */
import { randomUUID } from 'node:crypto'
import type { Logger } from '../core/log.js'
import { createMetrics } from '../core/metrics.js'
import { EgressSidecar } from '../sidecar/egress.js'
import { openSignalOutput, startSidecarLink } from '../sidecar/control-plane.js'
import { loadProviderRun, untilSignal } from './run.js'

export interface EgressCommand {
  configPath: string
  provider: string
  signalLog: string | undefined
  log: Logger
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runEgress(cmd: EgressCommand): Promise<void> {
  const run = loadProviderRun(cmd.configPath, cmd.provider, cmd.log)
  const sidecarId = `${cmd.provider}-${randomUUID().slice(0, 8)}`
  const metrics = createMetrics()
  const out = openSignalOutput({ config: run.config, providerName: cmd.provider, provider: run.provider, sidecarId, signalLog: cmd.signalLog, metrics, log: cmd.log })
  const sidecar = new EgressSidecar({
    provider: cmd.provider,
    config: run.provider,
    sink: out.sink,
    log: cmd.log,
    metrics,
    sidecarId,
    adminTokens: run.config.aggregator?.admin_tokens ?? [],
    protectedAddresses: run.config.aggregator ? [run.config.aggregator.listen] : [],
  })
  try {
    await sidecar.start()
  } catch (err) {
    await out.sink.close()
    throw err
  }
  const link = startSidecarLink({
    config: run.config, providerName: cmd.provider, provider: run.provider, sidecarId, enforcement: sidecar.enforcement, log: cmd.log,
    status: () => ({ state: 'ready' }),
  })
  cmd.log.info({ config: run.source, signals: out.describe }, 'ready')
  await untilSignal(cmd.log, async () => {
    await link?.stop()
    await sidecar.stop()
    await out.sink.close()
  })
}
