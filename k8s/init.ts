/**
 * `mcp-hangar k8s init`: what the injected pod's init container runs. Builds the pod's nftables
 * ruleset (k8s/init-rules.ts) from a provider's config or from flags, and loads it with
 * `nft -f -` into the current network namespace (the pod's), or prints it (`--print`).
 */
import { execFileSync } from 'node:child_process'
import { ConfigError, HangarError, ERROR_CODES } from '../core/errors.js'
import { rawEnv } from '../core/env.js'
import { loadConfig } from '../config/load.js'
import { splitListen, type HangarConfig } from '../config/schema.js'
import { compilePolicy, tcpForwardRules } from '../policy/egress-policy.js'
import { parsePodRulesOptions, podRuleset, POD_TABLE, type PodRulesOptions } from './init-rules.js'

/** Hosts a redirected tcp listener may be bound to: REDIRECT delivers to 127.0.0.1. */
const TCP_HOSTS = new Set(['127.0.0.1', '0.0.0.0'])

/**
 * The rule options of one provider of a loaded config: ports of its sidecar's `dns`,
 * `transparent_http`, `transparent_tls`, `admin` listeners and its tcp forwards (exact-host tcp
 * egress rules with a port). The DNS listener must be bound to 127.0.0.1 (a 0.0.0.0 UDP listener
 * behind REDIRECT answers from the pod address, and resolvers drop those answers); the tcp
 * listeners to 127.0.0.1 or 0.0.0.0.
 * @throws ConfigError naming `providers.NAME...` when the provider is missing or its listeners cannot receive redirected traffic
 */
export function podRulesFromConfig(config: HangarConfig, provider: string, source: string): PodRulesOptions {
  const p = config.providers[provider]
  if (!p) throw new ConfigError(source, [{ path: `providers.${provider}`, message: `no such provider (have: ${Object.keys(config.providers).join(', ') || 'none'})` }])
  const base = `providers.${provider}.sidecar`
  const issues: Array<{ path: string; message: string }> = []
  const dns = splitListen(p.sidecar.dns)
  if (dns.host !== '127.0.0.1') issues.push({ path: `${base}.dns`, message: `must be bound to 127.0.0.1 in a pod (got ${p.sidecar.dns}): REDIRECT delivers DNS to 127.0.0.1, and a UDP listener on another address answers from the pod address, which resolvers drop` })
  const tcp = (key: 'transparent_http' | 'transparent_tls'): number | null => {
    const addr = p.sidecar[key]
    if (addr === null) return null
    const l = splitListen(addr)
    if (!TCP_HOSTS.has(l.host)) issues.push({ path: `${base}.${key}`, message: `must be bound to 127.0.0.1 or 0.0.0.0 in a pod (got ${addr}): REDIRECT delivers to 127.0.0.1` })
    return l.port
  }
  const httpPort = tcp('transparent_http')
  const tlsPort = tcp('transparent_tls')
  const forwardHost = p.sidecar.tcp_forward_host ?? splitListen(p.sidecar.proxy).host
  const forwardPorts = tcpForwardRules(compilePolicy(provider, p.capabilities)).map((r) => r.port)
  if (forwardPorts.length && !TCP_HOSTS.has(forwardHost)) issues.push({ path: `${base}.tcp_forward_host`, message: `must be 127.0.0.1 or 0.0.0.0 in a pod (got ${forwardHost}): REDIRECT delivers tcp forwards to 127.0.0.1` })
  let trapPort: number | null = null
  if (p.sidecar.bypass_trap !== null) {
    const t = splitListen(p.sidecar.bypass_trap)
    if (t.host !== '127.0.0.1') issues.push({ path: `${base}.bypass_trap`, message: `must be bound to 127.0.0.1 in a pod (got ${p.sidecar.bypass_trap}): REDIRECT delivers to 127.0.0.1 (and ::1 for IPv6)` })
    trapPort = t.port
  }
  // Inbound capture: a provider served over loopback keeps its port; the pod's address sends it to the ingress.
  let mcpPort: number | null = null
  let ingressPort: number | null = null
  if (p.mode === 'remote' && p.endpoint && p.listen) {
    const u = new URL(p.endpoint)
    if (['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
      mcpPort = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
      ingressPort = splitListen(p.listen).port
    }
  }
  if (issues.length) throw new ConfigError(source, issues)
  return parsePodRulesOptions({ dnsPort: dns.port, httpPort, tlsPort, forwardPorts, adminPort: splitListen(p.sidecar.admin).port, mcpPort, ingressPort, trapPort }, `${source} (${base})`)
}

/** What `mcp-hangar k8s init` was given. */
export interface K8sInitOptions {
  /** hangar.yaml path (with `provider`); else the port flags below are used. */
  config?: string
  provider?: string
  dnsPort?: number
  httpPort?: number | null
  tlsPort?: number | null
  forwardPorts?: number[]
  adminPort?: number
  sidecarUid?: number
  /** Inbound capture: the MCP server's port and the sidecar's ingress port (together). */
  mcpPort?: number
  ingressPort?: number
  /** The sidecar's bypass trap port (127.0.0.1 and ::1). */
  trapPort?: number
  /** Print the ruleset instead of loading it. */
  print?: boolean
  out?: NodeJS.WritableStream
  err?: NodeJS.WritableStream
  /** Environment for `${VAR}` in the config (default: the process's). */
  env?: Readonly<Record<string, string | undefined>>
}

/** The rule options `k8s init` was asked for. @throws ConfigError / HangarError(USAGE) */
export function resolveK8sInitOptions(o: K8sInitOptions): PodRulesOptions {
  if (o.config !== undefined || o.provider !== undefined) {
    if (o.config === undefined || o.provider === undefined) throw new HangarError(ERROR_CODES.USAGE, 'k8s init: -c/--config and --provider go together')
    const flags = ['dnsPort', 'httpPort', 'tlsPort', 'forwardPorts', 'adminPort', 'mcpPort', 'ingressPort', 'trapPort'].filter((k) => o[k as keyof K8sInitOptions] !== undefined)
    if (flags.length) throw new HangarError(ERROR_CODES.USAGE, `k8s init: the port flags (${flags.join(', ')}) and -c/--provider are exclusive: the ports come from the config`)
    const loaded = loadConfig(o.config, o.env ?? rawEnv())
    const opts = podRulesFromConfig(loaded.config, o.provider, loaded.source)
    return o.sidecarUid === undefined ? opts : parsePodRulesOptions({ ...opts, sidecarUid: o.sidecarUid }, loaded.source)
  }
  return parsePodRulesOptions(
    {
      dnsPort: o.dnsPort ?? 53,
      httpPort: o.httpPort === undefined ? 80 : o.httpPort,
      tlsPort: o.tlsPort === undefined ? 443 : o.tlsPort,
      forwardPorts: o.forwardPorts ?? [],
      adminPort: o.adminPort ?? 9901,
      ...(o.mcpPort !== undefined && { mcpPort: o.mcpPort }),
      ...(o.ingressPort !== undefined && { ingressPort: o.ingressPort }),
      ...(o.trapPort !== undefined && { trapPort: o.trapPort }),
      ...(o.sidecarUid !== undefined && { sidecarUid: o.sidecarUid }),
    },
    'k8s init flags',
  )
}

/**
 * Loads a ruleset with `nft -f -` in the current network namespace (needs CAP_NET_ADMIN there).
 * @throws HangarError(ISOLATION_FAILED) with nft's stderr
 */
export function applyPodRuleset(ruleset: string): void {
  try {
    execFileSync('nft', ['-f', '-'], { input: ruleset, stdio: ['pipe', 'pipe', 'pipe'], timeout: 15_000 })
  } catch (err) {
    const e = err as { stderr?: Buffer | string; message: string; code?: string }
    if (e.code === 'ENOENT') throw new HangarError(ERROR_CODES.ISOLATION_FAILED, 'nft (nftables) is not in this image: the init container runs the sidecar image, whose base must carry /usr/sbin/nft (`mcp-hangar images build` copies it from the building host; apt-get install nftables there)')
    throw new HangarError(ERROR_CODES.ISOLATION_FAILED, `nft -f -: ${String(e.stderr ?? '').trim() || e.message}`)
  }
}

/**
 * Parses one port flag value (`--dns-port 15053`); `off` gives null (for `--http-port` and
 * `--tls-port`: that port is not redirected, so it is dropped).
 * @throws HangarError(USAGE) naming the flag when the value is not an integer 1–65535
 */
export function parsePortFlag(flag: string, value: string, allowOff = false): number | null {
  if (allowOff && value === 'off') return null
  const n = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= 1 && n <= 65535)) throw new HangarError(ERROR_CODES.USAGE, `${flag}: expected a port 1–65535${allowOff ? ' or "off"' : ''}, got "${value}"`)
  return n
}

/**
 * Runs `k8s init`: prints the ruleset (`print`) or loads it. Exit code: 0 done; 2 a bad option
 * or config; 1 nft failed (the message on `err`). Either failure fails the init container, so
 * the pod does not start unprotected.
 */
export async function runK8sInit(o: K8sInitOptions): Promise<number> {
  const out = o.out ?? process.stdout
  const err = o.err ?? process.stderr
  let ruleset: string
  try {
    ruleset = podRuleset(resolveK8sInitOptions(o))
  } catch (e) {
    err.write(`mcp-hangar k8s init: ${(e as Error).message}\n`)
    return 2
  }
  if (o.print) {
    out.write(ruleset)
    return 0
  }
  try {
    applyPodRuleset(ruleset)
  } catch (e) {
    err.write(`mcp-hangar k8s init: ${(e as Error).message}\n`)
    return 1
  }
  out.write(`mcp-hangar k8s init: pod nftables rules loaded (table inet ${POD_TABLE})\n`)
  return 0
}
