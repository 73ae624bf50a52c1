/**
 * `mcp-hangar k8s networkpolicy -c hangar.yaml --provider NAME [--namespace NS] [-o OUT]`: the
 * NetworkPolicy of one provider's pods, as YAML. Composition only: the policy is
 * k8s/networkpolicy.ts. Register it on the `k8s` command: `k8sNetworkPolicyCommand(k8s, url)`.
 *
 * Exit codes: 0 written; 2 the config cannot be read or expressed as a NetworkPolicy (every
 * problem listed with its config path; nothing written), or an option is invalid.
 */
import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { stringify as stringifyYaml } from 'yaml'
import { writeFileAtomicSync } from '../core/atomic-write.js'
import { rawEnv } from '../core/env.js'
import { loadConfig } from '../config/load.js'
import { networkPolicyFor, type NetworkPolicyObject } from '../k8s/networkpolicy.js'

/** Options of `k8s networkpolicy`, as commander gives them. */
export interface K8sNetworkPolicyCommand {
  config: string
  provider: string
  namespace?: string
  out?: string
  podSelector?: Record<string, string>
  aggregatorUrl?: string
}

/**
 * Runs `k8s networkpolicy`: loads `config`, writes the policy as YAML to `out` (default stdout; a
 * file is replaced atomically), notes to `log`.
 * @param defaultAggregatorUrl the aggregator URL `k8s inject` gives pods, used when neither the
 *   option nor the config's `aggregator.url` names one.
 * @throws ConfigError naming each config path that cannot be expressed; HangarError
 *   `HANGAR_CONFIG_NOT_FOUND` for a missing config.
 */
export function runK8sNetworkPolicy(cmd: K8sNetworkPolicyCommand, defaultAggregatorUrl: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): NetworkPolicyObject {
  const { config, source } = loadConfig(cmd.config, rawEnv())
  // Undefined: the library reads the config's aggregator.url (and names that path in errors).
  const aggregatorUrl = cmd.aggregatorUrl ?? (config.aggregator?.url === undefined ? defaultAggregatorUrl : undefined)
  if (cmd.aggregatorUrl === undefined && config.aggregator?.url === undefined) log(`note: no aggregator.url in the config: admitting the aggregator k8s inject gives pods by default (${defaultAggregatorUrl}); --aggregator-url names another`)
  const policy = networkPolicyFor(config, cmd.provider, {
    source,
    ...(aggregatorUrl !== undefined && { aggregatorUrl }),
    ...(cmd.namespace !== undefined && { namespace: cmd.namespace }),
    ...(cmd.podSelector !== undefined && { podLabels: cmd.podSelector }),
    onNote: (n) => log(`note: ${n}`),
  })
  if (cmd.podSelector === undefined) log(`note: the policy selects pods labelled mcp.hangar.io/provider=${cmd.provider} (injection sets this label on the pod template; --pod-selector selects others)`)
  const text = stringifyYaml(policy)
  const out = cmd.out ?? '-'
  if (out === '-') process.stdout.write(text)
  else {
    writeFileAtomicSync(resolve(out), text)
    log(`wrote ${resolve(out)}`)
  }
  return policy
}

/** Parses a repeatable `--pod-selector key=value[,key=value]` into one label map. */
function labelPairs(v: string, prev: Record<string, string> | undefined): Record<string, string> {
  const out = { ...prev }
  for (const pair of v.split(',')) {
    const i = pair.indexOf('=')
    if (i <= 0) throw new InvalidArgumentError(`--pod-selector: expected key=value, got "${pair}"`)
    out[pair.slice(0, i)] = pair.slice(i + 1)
  }
  return out
}

/** Adds `networkpolicy` to the given `k8s` command and gives it back. */
export function k8sNetworkPolicyCommand(k8s: Command, defaultAggregatorUrl: string): Command {
  return k8s
    .command('networkpolicy')
    .description("a provider's NetworkPolicy: egress to the cluster DNS, its cidr rules, its host rules' ports (the sidecar decides names) and the aggregator; ingress only from providers.<name>.k8s.ingress_from")
    .requiredOption('-c, --config <hangar.yaml>', 'the config')
    .requiredOption('-p, --provider <name>', 'the provider')
    .option('-n, --namespace <ns>', "the policy's namespace (the provider pod's)")
    .option('-o, --out <file>', 'where to write (default stdout)')
    .option('--pod-selector <key=value>', 'labels selecting the provider pods (repeatable; default mcp.hangar.io/provider=<provider>)', labelPairs)
    .option('--aggregator-url <url>', "the aggregator the pod's sidecar ships signals to (default the config's aggregator.url, else k8s inject's default)")
    .action((o: K8sNetworkPolicyCommand) => {
      runK8sNetworkPolicy(o, defaultAggregatorUrl)
    })
}
