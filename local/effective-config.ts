/**
 * The config every process of `mcp-hangar up` reads: the user's validated hangar.yaml with what
 * `up` decides filled in. Pure: ports and plans come in as arguments.
 *
 * - The aggregator: `aggregator` is added when missing (127.0.0.1:8000), `url` derived from
 *   `listen`, data dirs made absolute.
 * - Each subprocess provider in `netns` mode: its egress listeners on the veth address
 *   (local/plan.ts `NETNS_PORTS`), tcp forwards there too, `address` (what DNS steering answers)
 *   the veth address unless the user set another one (anything but the schema's default
 *   10.254.1.1), which `up` then DNATs.
 * - In `cooperative` mode: the forward proxy and DNS forwarder on free loopback ports, no
 *   transparent listeners (nothing steers traffic to them), `address` 127.0.0.1.
 * - Every provider: a distinct admin port (given), `listen` 127.0.0.1:8101+i when unset, and
 *   `data_dir` `<data_dir>/<provider>` when left at the shared default `./data`.
 * - `profile` is dropped: its capabilities are already merged into `capabilities`.
 */
import { resolve } from 'node:path'
import type { HangarConfig, ProviderConfig } from '../config/schema.js'
import { NETNS_PORTS, type NetnsPlan } from './plan.js'

/** The schema's default steering address (config/schema.ts): "not set by the user". */
export const DEFAULT_SIDECAR_ADDRESS = '10.254.1.1'
/** The schema's default data dir: shared by every provider unless `up` splits it. */
export const DEFAULT_DATA_DIR = './data'

export interface ProviderRuntime {
  /** Present in `netns` mode for subprocess providers. */
  plan?: NetnsPlan
  /** Free loopback ports `up` reserved: admin always; proxy and dns in cooperative mode. */
  adminPort: number
  proxyPort?: number
  dnsPort?: number
  /** The MCP listen address when the user gave none. */
  defaultListen: string
}

/** The user's `sidecar.address` when it is not the default, else undefined. */
export function userSteering(p: ProviderConfig): string | undefined {
  return p.sidecar.address !== DEFAULT_SIDECAR_ADDRESS ? p.sidecar.address : undefined
}

/** Where sidecars and clients reach the aggregator: `aggregator.url`, else `http://<listen>` with a wildcard host as 127.0.0.1. */
export function aggregatorUrlOf(config: HangarConfig): string {
  const listen = config.aggregator?.listen ?? '127.0.0.1:8000'
  return config.aggregator?.url ?? `http://${listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '127.0.0.1:')}`
}

/** The effective config (plain JSON, for `-c`). `cwd` makes relative data dirs absolute. */
export function effectiveConfig(config: HangarConfig, runtime: ReadonlyMap<string, ProviderRuntime>, cwd: string): Record<string, unknown> {
  const agg = config.aggregator
  const listen = agg?.listen ?? '127.0.0.1:8000'
  const aggregator = {
    ...(agg ?? {}),
    listen,
    url: aggregatorUrlOf(config),
    data_dir: resolve(cwd, agg?.data_dir ?? './data/aggregator'),
  }
  const providers: Record<string, unknown> = {}
  for (const [name, p] of Object.entries(config.providers)) {
    const rt = runtime.get(name)
    if (!rt) continue
    const { profile: _profile, ...rest } = p
    const dataDir = p.sidecar.data_dir === DEFAULT_DATA_DIR ? resolve(cwd, DEFAULT_DATA_DIR, name) : resolve(cwd, p.sidecar.data_dir)
    const sidecar: Record<string, unknown> = { ...p.sidecar, admin: `127.0.0.1:${rt.adminPort}`, data_dir: dataDir }
    if (p.sidecar.signal_log) sidecar.signal_log = p.sidecar.signal_log === '-' ? '-' : resolve(cwd, p.sidecar.signal_log)
    if (rt.plan) {
      const h = rt.plan.hostIp
      Object.assign(sidecar, {
        proxy: `${h}:${NETNS_PORTS.proxy}`,
        dns: `${h}:${NETNS_PORTS.dns}`,
        transparent_http: `${h}:${NETNS_PORTS.http}`,
        transparent_tls: `${h}:${NETNS_PORTS.tls}`,
        tcp_forward_host: h,
        address: rt.plan.steering,
      })
    } else if (rt.proxyPort !== undefined) {
      Object.assign(sidecar, {
        proxy: `127.0.0.1:${rt.proxyPort}`,
        dns: `127.0.0.1:${rt.dnsPort ?? 0}`,
        transparent_http: null,
        transparent_tls: null,
        tcp_forward_host: '127.0.0.1',
        address: '127.0.0.1',
      })
    }
    providers[name] = { ...rest, listen: p.listen ?? rt.defaultListen, ...(p.cwd && { cwd: resolve(cwd, p.cwd) }), sidecar }
  }
  return { aggregator, providers }
}
