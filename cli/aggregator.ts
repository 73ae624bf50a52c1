/**
 * `mcp-hangar aggregator -c hangar.yaml`: the control plane (aggregator/aggregator.ts) until
 * SIGINT or SIGTERM. The license is decided and the enterprise modules loaded (cli/enterprise.ts)
 * before the aggregator is composed.
 */
import { loadConfig } from '../config/load.js'
import { rawEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { Aggregator } from '../aggregator/aggregator.js'
import { loadEnterprise } from './enterprise.js'
import { untilSignal } from './run.js'

export interface AggregatorCommand {
  configPath: string
  host?: string
  port?: number
  log: Logger
}

export async function runAggregator(cmd: AggregatorCommand): Promise<void> {
  const { config, warnings, source } = loadConfig(cmd.configPath, rawEnv())
  for (const w of warnings) cmd.log.warn(w)
  await loadEnterprise({ providers: Object.keys(config.providers).length, log: cmd.log })
  // Past a file-size limit (ulimit -f) the kernel sends SIGXFSZ, whose default action kills the
  // process; ignored, the write fails with EFBIG instead and the batch is answered 503.
  process.on('SIGXFSZ', () => {})
  const agg = new Aggregator({ config, log: cmd.log, ...(cmd.host && { host: cmd.host }), ...(cmd.port !== undefined && { port: cmd.port }) })
  const port = await agg.start()
  cmd.log.info({ config: source, port }, 'ready')
  await untilSignal(cmd.log, () => agg.stop())
}
