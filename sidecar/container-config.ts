/**
 * The hangar.yaml texts `compose inject` puts into the generated sidecar and aggregator services
 * (environment variable `HANGAR_CONFIG`, read with `-c env:HANGAR_CONFIG`, config/load.ts).
 * Tokens stay out of the file: the configs say `${HANGAR_SIGNAL_TOKEN}` / `${HANGAR_ADMIN_TOKEN}`,
 * which the loader fills from the container's environment, which Compose fills from the shell or
 * `.env` of whoever runs it.
 */
import type { InternalSubnet } from './subnet.js'

/** Where generated sidecars and the aggregator keep their data inside their containers. */
export const CONTAINER_DATA_DIR = '/var/lib/mcp-hangar'
/** The aggregator's port inside its container. */
export const AGGREGATOR_PORT = 8000
/** The environment variable holding a generated config. */
export const CONFIG_ENV = 'HANGAR_CONFIG'

/** The ports of a container sidecar's listeners (egress on its internal address; admin on loopback). */
export const CONTAINER_PORTS = Object.freeze({ dns: 53, http: 80, tls: 443, proxy: 3128, admin: 9901 })

/**
 * The `sidecar` block of a sidecar in a container (Compose or `up`): egress listeners bound to its
 * internal address `ip` only (its other networks cannot use it as a proxy), steering to `ip`,
 * admin on 127.0.0.1 inside the container, data under {@link CONTAINER_DATA_DIR}.
 */
export function containerListeners(ip: string, provider: string): Record<string, unknown> {
  return {
    proxy: `${ip}:${CONTAINER_PORTS.proxy}`,
    dns: `${ip}:${CONTAINER_PORTS.dns}`,
    transparent_http: `${ip}:${CONTAINER_PORTS.http}`,
    transparent_tls: `${ip}:${CONTAINER_PORTS.tls}`,
    tcp_forward_host: ip,
    admin: `127.0.0.1:${CONTAINER_PORTS.admin}`,
    address: ip,
    data_dir: `${CONTAINER_DATA_DIR}/${provider}`,
  }
}

/** The forward proxy of a container sidecar at `ip`, as the provider's proxy variables name it. */
export function containerProxy(ip: string): string {
  return `${ip}:${CONTAINER_PORTS.proxy}`
}

/** What one generated sidecar needs to know. */
export interface SidecarConfigInput {
  provider: string
  /** The provider's MCP endpoint as the sidecar reaches it on the internal network. */
  endpoint: string
  /** The sidecar's MCP ingress port (all interfaces of its container). */
  ingressPort: number
  net: InternalSubnet
  /** `profile:` value (a built-in name), when the profile is a built-in. */
  profile?: string
  /** The `capabilities` block: a profile file's content, and/or the enforcement override. */
  capabilities?: Record<string, unknown>
  /** The aggregator URL sidecars ship signals to. */
  aggregatorUrl: string
}

/** The sidecar's config object (stringified by the caller's YAML library). */
export function sidecarConfig(i: SidecarConfigInput): Record<string, unknown> {
  const ip = i.net.sidecar
  return {
    aggregator: { url: i.aggregatorUrl, signal_tokens: ['${HANGAR_SIGNAL_TOKEN}'] },
    providers: {
      [i.provider]: {
        mode: 'remote',
        endpoint: i.endpoint,
        listen: `0.0.0.0:${i.ingressPort}`,
        sidecar: { ...containerListeners(ip, i.provider), dns_mode: 'steering', upstream_dns: ['system'] },
        ...(i.profile !== undefined && { profile: i.profile }),
        ...(i.capabilities !== undefined && { capabilities: i.capabilities }),
      },
    },
  }
}

/** The generated aggregator's config object. */
export function aggregatorConfig(): Record<string, unknown> {
  return {
    aggregator: {
      listen: `0.0.0.0:${AGGREGATOR_PORT}`,
      data_dir: CONTAINER_DATA_DIR,
      signal_tokens: ['${HANGAR_SIGNAL_TOKEN}'],
      admin_tokens: ['${HANGAR_ADMIN_TOKEN}'],
    },
    providers: {},
  }
}
