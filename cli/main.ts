#!/usr/bin/env -S node --single-threaded
/**
 * The `mcp-hangar` command. Composition only: each sub-command loads config and starts library
 * objects; no business logic lives here.
 */
import { Command } from 'commander'
import { readEnv } from '../core/env.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { createLogger } from '../core/log.js'
import { HANGAR_VERSION } from '../core/version.js'
import { ISOLATIONS, type Isolation } from '../signals/types.js'
import { runExportTest } from './export.js'
import { runAggregator } from './aggregator.js'
import { registerBaselineCommands } from './baseline.js'
import { runEgress } from './egress.js'
import { registerComposeCommands } from './compose.js'
import { registerK8sCommands } from './k8s.js'
import { registerLicenseCommands } from './license.js'
import { registerImagesCommands } from './images.js'
import { registerKeysCommands } from './keys.js'
import { registerProfileCommands } from './profile.js'
import { runStatus } from './status.js'
import { runUp, runUpCleanup } from './up.js'
import { runSidecar } from './sidecar.js'

const env = readEnv()
const program = new Command()
program.name('mcp-hangar').description('Runtime security and governance for MCP servers').version(HANGAR_VERSION)

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
  .option('--config-env <name>', 'read the config YAML from this environment variable instead of a file (not with -c)')
  .requiredOption('-p, --provider <name>', 'the provider to run')
  .option('--signal-log <path>', 'write signals as JSON lines here ("-" = stdout); default sidecar.signal_log or <data_dir>/signals.jsonl')
  .option('--no-egress', 'do not start the egress listeners (e.g. a remote provider whose egress runs elsewhere)')
  .option('--netns <name>', 'run the subprocess provider inside this network namespace made by `mcp-hangar up` (hg-<key>), and report its nftables drops')
  .option('--run-as <user>', 'with --netns and no --sandbox: the unprivileged user (or user:group) the provider runs as', 'nobody')
  .option('--sandbox <file>', 'with --netns: the provider\'s sandbox (uid, cgroups, file view) as `mcp-hangar up` wrote it; the provider runs in it')
  .option('--isolation <mode>', 'mark every signal and heartbeat with the isolation: netns | container | k8s | cooperative (set by `mcp-hangar up` and the Kubernetes injection)')
  .action(async (o: { config?: string; configEnv?: string; provider: string; signalLog?: string; egress: boolean; netns?: string; runAs: string; sandbox?: string; isolation?: string }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'sidecar' })
    process.umask(0o077)
    if (o.config !== undefined && o.configEnv !== undefined) throw new HangarError(ERROR_CODES.USAGE, '-c/--config and --config-env are mutually exclusive: give one')
    if (o.sandbox !== undefined && o.netns === undefined) throw new HangarError(ERROR_CODES.USAGE, '--sandbox needs --netns')
    if (o.isolation !== undefined && !ISOLATIONS.includes(o.isolation as Isolation)) throw new HangarError(ERROR_CODES.USAGE, `--isolation: expected ${ISOLATIONS.join(', ')}, got "${o.isolation}"`)
    if (o.netns !== undefined && !/^hg-[0-9a-f]{8}$/.test(o.netns)) throw new HangarError(ERROR_CODES.USAGE, `--netns: expected a namespace made by mcp-hangar up (hg-<8 hex>), got "${o.netns}"`)
    await runSidecar({
      configPath: o.config ?? env.configPath ?? 'hangar.yaml', provider: o.provider, signalLog: o.signalLog, noEgress: !o.egress, log,
      ...(o.configEnv !== undefined && { configEnv: o.configEnv }),
      ...(o.netns && { netns: { name: o.netns, hostTable: `hangar_${o.netns.slice(3)}`, runAs: o.runAs, ...(o.sandbox && { sandbox: o.sandbox }) } }),
      ...(o.isolation && { isolation: o.isolation as Isolation }),
    })
  })

program
  .command('aggregator')
  .description('run the aggregator: signal ingest and audit log, provider registry, quarantine/approve, /mcp tools (default 127.0.0.1:8000)')
  .option('-c, --config <file>', 'hangar.yaml (default: $MCP_CONFIG or ./hangar.yaml)')
  .action(async (o: { config?: string }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'aggregator' })
    process.umask(0o077)
    await runAggregator({ configPath: o.config ?? env.configPath ?? 'hangar.yaml', ...(env.httpHost && { host: env.httpHost }), ...(env.httpPort !== undefined && { port: env.httpPort }), log })
  })

const exportCmd = program.command('export').description('SIEM export (aggregator.export.sinks; enterprise)')
exportCmd
  .command('test')
  .description('send one sample signal through an export sink to check that its receiver takes it')
  .requiredOption('--sink <name>', 'the sink (aggregator.export.sinks.<name>)')
  .option('-c, --config <file>', 'hangar.yaml (default: $MCP_CONFIG or ./hangar.yaml)')
  .action(async (o: { sink: string; config?: string }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'export' })
    process.exitCode = await runExportTest({ configPath: o.config ?? env.configPath ?? 'hangar.yaml', sink: o.sink, log })
  })

program
  .command('up')
  .description('run the aggregator and one sidecar per provider on this machine, each subprocess provider in its own network namespace (root), until Ctrl-C')
  .option('-c, --config <file>', 'hangar.yaml (default: $MCP_CONFIG or ./hangar.yaml)')
  .option('--cooperative', 'do not isolate providers even when running as root (proxy environment only; nothing enforced)')
  .option('--run-as <user>', 'one explicit identity (user or user:group) for every provider, instead of a uid of its own per provider')
  .option('--sidecar-image <image>', 'mode container providers: the sidecar image (mcp-hangar images build builds it)')
  .option('--cleanup', 'remove what an earlier run of this config left (processes, cgroups, namespaces, nftables tables, containers), then exit')
  .action(async (o: { config?: string; cooperative?: boolean; runAs?: string; sidecarImage?: string; cleanup?: boolean }) => {
    const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'up' })
    process.umask(0o077)
    const configPath = o.config ?? env.configPath ?? 'hangar.yaml'
    if (o.cleanup) {
      process.exitCode = await runUpCleanup({ configPath, log })
      return
    }
    await runUp({ configPath, cooperative: o.cooperative === true, log, ...(o.runAs && { runAs: o.runAs }), ...(o.sidecarImage && { sidecarImage: o.sidecarImage }) })
  })

program
  .command('status')
  .description('print providers, their states and recent violations from the aggregator')
  .option('-c, --config <file>', 'hangar.yaml: where the aggregator is and its admin token (default: $MCP_CONFIG or ./hangar.yaml)')
  .option('-n, --violations <count>', 'recent violations to show', '10')
  .action(async (o: { config?: string; violations: string }) => {
    process.exitCode = await runStatus({ configPath: o.config ?? env.configPath ?? 'hangar.yaml', violations: Number(o.violations) })
  })

registerProfileCommands(program)
registerBaselineCommands(program)
registerComposeCommands(program)
registerK8sCommands(program)
registerImagesCommands(program)
registerLicenseCommands(program)
registerKeysCommands(program)

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof HangarError) {
    process.stderr.write(`mcp-hangar: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`mcp-hangar: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
})
