/**
 * `mcp-hangar sidecar -c hangar.yaml --provider NAME`: one provider's whole sidecar in one
 * process — the MCP ingress (proxy/sidecar.ts) and the egress listeners (egress/sidecar.ts),
 * sharing the quarantine state, the metrics registry and the signal output. Runs until SIGINT
 * or SIGTERM, then stops the provider gracefully.
 */
import { providerEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { createMetrics } from '../core/metrics.js'
import { EgressSidecar } from '../egress/sidecar.js'
import { McpSidecar } from '../proxy/sidecar.js'
import { loadProviderRun, untilSignal } from './run.js'

export interface SidecarCommand {
  configPath: string
  provider: string
  signalLog: string | undefined
  /** Run without the egress listeners (a remote provider whose egress is not ours to see). */
  noEgress: boolean
  log: Logger
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runSidecar(cmd: SidecarCommand): Promise<void> {
  const { config, provider, source, sink, signalLog } = loadProviderRun(cmd.configPath, cmd.provider, cmd.signalLog, cmd.log)
  const metrics = createMetrics()
  const late: { mcp?: McpSidecar } = {}
  const egress = new EgressSidecar({
    provider: cmd.provider,
    config: provider,
    sink,
    log: cmd.log,
    metrics,
    adminTokens: config.aggregator?.admin_tokens ?? [],
    protectedAddresses: [...(config.aggregator ? [config.aggregator.listen] : []), ...(provider.listen ? [provider.listen] : [])],
    extraStatus: () => late.mcp?.status() ?? {},
  })
  const mcp = new McpSidecar({
    provider: cmd.provider,
    config: provider,
    sink,
    log: cmd.log,
    metrics,
    enforcement: egress.enforcement,
    sidecarId: egress.sidecarId,
    inheritedEnv: providerEnv(),
  })
  late.mcp = mcp
  const stops: Array<() => Promise<void>> = []
  try {
    if (!cmd.noEgress) {
      await egress.start()
      stops.push(() => egress.stop())
    }
    const port = await mcp.start()
    stops.unshift(() => mcp.stop())
    cmd.log.info({ config: source, signal_log: signalLog, mcp_port: port }, 'ready')
  } catch (err) {
    for (const s of stops) await s()
    throw err
  }
  await untilSignal(cmd.log, async () => {
    for (const s of stops) await s().catch((e: unknown) => cmd.log.error({ err: (e as Error).message }, 'stop failed'))
    await sink.close()
  })
}
