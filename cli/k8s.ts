/**
 * `mcp-hangar k8s …`: Kubernetes commands. Composition only: the injection is k8s/inject.ts and
 * k8s/inject-manifests.ts (`k8s inject`), k8s/admission.ts and k8s/webhook.ts (`k8s webhook`,
 * cli/k8s-webhook.ts). Each sub-command is one `register…` function added to the `k8s` group.
 *
 * `k8s inject -f IN.yaml [-o OUT]` exit codes: 0 written; 2 the file cannot be read, a pod template
 * cannot be isolated (every refusal listed with its field path and fix; nothing is written), or an
 * option is invalid.
 */
import { k8sInitCommand } from './k8s-init.js'
import { k8sNetworkPolicyCommand } from './k8s-networkpolicy.js'
import { k8sWebhookCommand } from './k8s-webhook.js'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { writeFileAtomicSync } from '../core/atomic-write.js'
import { ConfigError, ERROR_CODES, HangarError } from '../core/errors.js'
import { DEFAULT_SIDECAR_IMAGE } from '../sidecar/images.js'
import { injectManifests, type ManifestsInjection } from '../k8s/inject-manifests.js'

/** The aggregator URL injected sidecars use unless told otherwise: the chart's Service in namespace mcp-hangar. */
export const DEFAULT_K8S_AGGREGATOR_URL = 'http://mcp-hangar-aggregator.mcp-hangar.svc:8000'

/** Options of `k8s inject`, as commander gives them. */
export interface K8sInjectCommand {
  file: string
  out?: string
  sidecarImage: string
  aggregatorUrl: string
  signalTokenSecret: string
}

/**
 * Runs `k8s inject`: reads `file` (`-` = stdin), writes the result to `out` (default stdout;
 * a file is replaced atomically) and the summary and notes to `log`.
 * @throws ConfigError (`HANGAR_CONFIG_INVALID`) listing every refusal, nothing written;
 *   HangarError `HANGAR_CONFIG_NOT_FOUND` for a missing input file.
 */
export function runK8sInject(cmd: K8sInjectCommand, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): ManifestsInjection {
  const source = cmd.file === '-' ? 'stdin' : resolve(cmd.file)
  if (cmd.file !== '-' && !existsSync(source)) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `manifest file not found: ${source}`)
  const text = readFileSync(cmd.file === '-' ? 0 : source, 'utf8')
  const r = injectManifests(text, { sidecarImage: cmd.sidecarImage, aggregatorUrl: cmd.aggregatorUrl, signalTokenSecret: cmd.signalTokenSecret })
  if (r.refusals.length) throw new ConfigError(source, r.refusals)
  const out = cmd.out ?? '-'
  if (out === '-') process.stdout.write(r.text)
  else writeFileAtomicSync(resolve(out), r.text)
  for (const w of r.injected) log(`${w.kind}/${w.name}: sidecar injected for provider ${w.provider} (config in ConfigMap ${w.configMap})`)
  for (const n of r.notes) log(`note: ${n}`)
  if (!r.injected.length) log('note: no pod template is annotated mcp.hangar.io/inject: "true"; nothing injected')
  if (out !== '-') log(`wrote ${resolve(out)}`)
  return r
}

/** Registers `k8s inject`. */
function registerInject(k8s: Command): void {
  k8s
    .command('inject')
    .description('offline injection: every pod template annotated mcp.hangar.io/inject="true" gets the sidecar, the init container and hardening')
    .requiredOption('-f, --file <manifests.yaml>', 'the manifests to read ("-" = stdin)')
    .option('-o, --out <file>', 'where to write (default stdout)')
    .option('--sidecar-image <image>', 'image of the sidecar and init containers', DEFAULT_SIDECAR_IMAGE)
    .option('--aggregator-url <url>', 'aggregator the sidecars send signals to (a template can override it: mcp.hangar.io/aggregator)', DEFAULT_K8S_AGGREGATOR_URL)
    .option('--signal-token-secret <name>', "Secret (in the workload's namespace) whose key token is the signal token", 'mcp-hangar-signal-token')
    .action((o: K8sInjectCommand) => {
      runK8sInject(o)
    })
}

/** Registers the `k8s` command group on the program. */
export function registerK8sCommands(program: Command): void {
  const k8s = program.command('k8s').description('Kubernetes: put MCP servers in pods behind sidecars')
  registerInject(k8s)
  k8sInitCommand(k8s)
  k8sNetworkPolicyCommand(k8s, DEFAULT_K8S_AGGREGATOR_URL)
  k8sWebhookCommand(k8s, { aggregatorUrl: DEFAULT_K8S_AGGREGATOR_URL })
}
