#!/usr/bin/env -S node --single-threaded
/**
 * The `mcp-hangar` command. Composition only: each sub-command loads config and starts library
 * objects; no business logic lives here.
 */
import { Command } from 'commander'
import { readEnv } from '../core/env.js'
import { HangarError } from '../core/errors.js'
import { createLogger } from '../core/log.js'
import { runAggregator } from './aggregator.js'
import { runEgress } from './egress.js'
import { registerProfileCommands } from './profile.js'
import { runSidecar } from './sidecar.js'

const env = readEnv()
const program = new Command()
program.name('mcp-hangar').description('Runtime security and governance for MCP servers').version('0.1.0')

program
  .command('egress')
  .description("run one provider's egress listeners (forward proxy, DNS forwarder, transparent listeners, tcp forwards, admin)")
  .option('-c, --config <file>', 'hangar.yaml (default: $MCP_CONFIG or ./hangar.yaml)')
  .requiredOption('-p, --provider <name>', 'provider whose sidecar block and capabilities to use')
  .option('--signal-log <path>', 'write signals as JSON lines here ("-" = stdout); default sidecar.signal_log or <data_dir>/signals.jsonl')
  .action(async (o: { config?: string; provider: string; signalLog?: string }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'egress' })
    await runEgress({ configPath: o.config ?? env.configPath ?? 'hangar.yaml', provider: o.provider, signalLog: o.signalLog, log })
  })

program
  .command('sidecar')
  .description("run one provider's whole sidecar: the MCP ingress (Streamable HTTP on providers.<name>.listen) and its egress listeners")
  .option('-c, --config <file>', 'hangar.yaml (default: $MCP_CONFIG or ./hangar.yaml)')
  .requiredOption('-p, --provider <name>', 'the provider to run')
  .option('--signal-log <path>', 'write signals as JSON lines here ("-" = stdout); default sidecar.signal_log or <data_dir>/signals.jsonl')
  .option('--no-egress', 'do not start the egress listeners (e.g. a remote provider whose egress runs elsewhere)')
  .action(async (o: { config?: string; provider: string; signalLog?: string; egress: boolean }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'sidecar' })
    await runSidecar({ configPath: o.config ?? env.configPath ?? 'hangar.yaml', provider: o.provider, signalLog: o.signalLog, noEgress: !o.egress, log })
  })

program
  .command('aggregator')
  .description('run the aggregator: signal ingest and audit log, provider registry, quarantine/approve, /mcp tools (default 127.0.0.1:8000)')
  .option('-c, --config <file>', 'hangar.yaml (default: $MCP_CONFIG or ./hangar.yaml)')
  .action(async (o: { config?: string }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'aggregator' })
    await runAggregator({ configPath: o.config ?? env.configPath ?? 'hangar.yaml', ...(env.httpHost && { host: env.httpHost }), ...(env.httpPort !== undefined && { port: env.httpPort }), log })
  })

registerProfileCommands(program)

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof HangarError) {
    process.stderr.write(`mcp-hangar: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`mcp-hangar: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
})
