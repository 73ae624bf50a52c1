/**
 * `mcp-hangar k8s init [-c hangar.yaml --provider NAME | port flags] [--print]`: the injected
 * pod's init container; composition only, the work is k8s/init.ts. Register it on the `k8s`
 * command: `k8sInitCommand(k8s)`.
 *
 * Exit codes: 0 loaded (or printed); 2 a bad option or config; 1 nft failed.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { parsePortFlag, runK8sInit } from '../k8s/init.js'

/**
 * A commander argument parser for a port flag: a bad value is a usage error naming the flag.
 * `off` stays the string `'off'` (commander turns a null result into `''`).
 */
function port(flag: string, allowOff = false) {
  return (v: string): number | 'off' => {
    try {
      return parsePortFlag(flag, v, allowOff) ?? 'off'
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message)
    }
  }
}

/** Adds `init` to the given `k8s` command and gives it back. */
export function k8sInitCommand(k8s: Command): Command {
  return k8s
    .command('init')
    .description("load the pod's nftables rules (the init container): the sidecar's uid exempt, DNS, tcp 80/443 and tcp forwards redirected to the sidecar, inbound MCP captured, every other tcp/udp to the bypass trap, the rest dropped and counted")
    .option('-c, --config <hangar.yaml>', 'take the ports from this config (with --provider)')
    .option('-p, --provider <name>', "the provider whose sidecar block and tcp rules give the ports")
    .option('--dns-port <port>', "the sidecar's DNS port on 127.0.0.1 (default 53)", port('--dns-port'))
    .option('--http-port <port|off>', 'the transparent http port tcp 80 lands on (default 80)', port('--http-port', true))
    .option('--tls-port <port|off>', 'the transparent TLS port tcp 443 lands on (default 443)', port('--tls-port', true))
    .option('--forward-port <port>', 'a tcp forward port (repeatable)', (v: string, prev: number[] | undefined) => [...(prev ?? []), port('--forward-port')(v) as number])
    .option('--admin-port <port>', "the sidecar's admin port, closed to the provider (default 9901)", port('--admin-port'))
    .option('--mcp-port <port>', "inbound capture: tcp from outside the pod to the MCP server's port goes to --ingress-port", port('--mcp-port'))
    .option('--ingress-port <port>', "the sidecar's MCP ingress port (with --mcp-port)", port('--ingress-port'))
    .option('--trap-port <port>', "the sidecar's bypass trap: every other tcp/udp packet of another uid goes there (127.0.0.1, ::1) and is reported", port('--trap-port'))
    .option('--sidecar-uid <uid>', "the sidecar's uid, exempt (default 65532)", (v: string) => {
      if (!/^\d{1,10}$/.test(v)) throw new InvalidArgumentError(`--sidecar-uid: expected a uid (a non-negative integer), got "${v}"`)
      return Number(v)
    })
    .option('--print', 'print the ruleset instead of loading it')
    .action(async (o: { config?: string; provider?: string; dnsPort?: number; httpPort?: number | 'off'; tlsPort?: number | 'off'; forwardPort?: number[]; adminPort?: number; mcpPort?: number; ingressPort?: number; trapPort?: number; sidecarUid?: number; print?: boolean }) => {
      const { forwardPort, httpPort, tlsPort, ...rest } = o
      const off = (p: number | 'off' | undefined) => (p === 'off' ? null : p)
      process.exitCode = await runK8sInit({ ...rest, httpPort: off(httpPort), tlsPort: off(tlsPort), ...(forwardPort && { forwardPorts: forwardPort }) })
    })
}
