/**
 * The hangar.yaml texts `compose inject` puts into the generated sidecar and aggregator services
 * (environment variable `HANGAR_CONFIG`, read with `-c env:HANGAR_CONFIG`, core/config/load.ts).
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
        // Egress listeners bind the internal address only: the sidecar's other networks (the
        // provider's original ones) cannot use it as a proxy.
        sidecar: {
          proxy: `${ip}:3128`,
          dns: `${ip}:53`,
          transparent_http: `${ip}:80`,
          transparent_tls: `${ip}:443`,
          admin: '127.0.0.1:9901',
          address: ip,
          dns_mode: 'steering',
          upstream_dns: ['system'],
          data_dir: `${CONTAINER_DATA_DIR}/${i.provider}`,
        },
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
