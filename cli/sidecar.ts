/**
 * `mcp-hangar sidecar -c hangar.yaml --provider NAME` (or `--config-env NAME`: the config text
 * in an environment variable, as the Kubernetes admission webhook injects it): one provider's whole sidecar in one
 * process (sidecar/sidecar.ts): the MCP ingress and the egress listeners (or the MCP ingress
 * alone with `--no-egress`), sharing the quarantine state, the metrics registry and the signal
 * output. Runs until SIGINT or SIGTERM, then stops the provider gracefully. Composition only.
 *
 * With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) set, MCP requests are traced over
 * OTLP/gRPC (proxy/trace/); the exporter is loaded only then, and flushed last on stop.
 */
import { providerEnv, readEnv, type HangarEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { BypassMonitor } from '../local/bypass-monitor.js'
import { readSandboxSpec, sandboxArgv } from '../local/sandbox.js'
import { netnsWrap } from '../sidecar/isolation.js'
import { Sidecar } from '../sidecar/sidecar.js'
import type { Isolation } from '../signals/types.js'
import { loadEnterprise } from './enterprise.js'
import { loadProviderRun, untilSignal } from './run.js'

export interface SidecarCommand {
  configPath: string
  /** `--config-env NAME`: the config is the YAML text of this environment variable (`configPath` is then unused). */
  configEnv?: string
  provider: string
  signalLog: string | undefined
  /** Run without the egress listeners (a remote provider whose egress is not ours to see). */
  noEgress: boolean
  log: Logger
  /** The environment (default: read now); its `otel` block switches tracing on. */
  env?: HangarEnv
  /**
   * `mcp-hangar up` with isolation `netns`: the provider's namespace (made by up, local/netns.ts).
   * The provider is spawned inside it as `runAs` (or in the sandbox `up` wrote), and the
   * namespace's drop counters are reported as `egress_bypass_attempt`.
   */
  netns?: { name: string; hostTable: string; runAs: string; sandbox?: string }
  /** Marks every signal and heartbeat (`up` passes `netns` or `cooperative`). */
  isolation?: Isolation
}

/** Starts the sidecar; resolves after it has stopped on a signal. */
export async function runSidecar(cmd: SidecarCommand): Promise<void> {
  const { config, source } = loadProviderRun(cmd.configEnv !== undefined ? { env: cmd.configEnv } : cmd.configPath, cmd.provider, cmd.log)
  await loadEnterprise({ providers: Object.keys(config.providers).length, log: cmd.log, key: (cmd.env ?? readEnv()).licenseKey })
  const netns = cmd.netns
  const sidecar = new Sidecar({
    config, provider: cmd.provider, planes: cmd.noEgress ? 'mcp' : 'all', log: cmd.log, source,
    ...(cmd.signalLog !== undefined && { signalLog: cmd.signalLog }),
    ...(cmd.isolation && { isolation: cmd.isolation }),
    env: cmd.env ?? readEnv(),
    inheritedEnv: providerEnv(),
    ...(netns && {
      wrap: netns.sandbox ? sandboxArgv(readSandboxSpec(netns.sandbox)) : netnsWrap(netns.name, netns.runAs),
      attachments: [(s) => new BypassMonitor({
        netns: netns.name, hostTable: netns.hostTable, log: s.log, enforcementMode: s.enforcementMode,
        provider: s.provider, overflowMetric: s.metrics.egress.bypassOverflow, emit: s.emit,
      })],
    }),
  })
  await sidecar.start()
  await untilSignal(cmd.log, () => sidecar.stop())
}
