/** The provider config a sidecar actually runs, from the configured one. */
import { splitListen, type ProviderConfig } from '../config/schema.js'
import { proxyEnv } from '../core/proxy-env.js'
import type { Isolation } from '../signals/types.js'

/** Where the provider reaches the forward proxy: `sidecar.proxy`, with a wildcard host (`0.0.0.0`, `::`, empty) replaced by `sidecar.address`. */
export function proxyAddress(p: ProviderConfig): string {
  const { host, port } = splitListen(p.sidecar.proxy)
  const h = host === '0.0.0.0' || host === '::' || host === '' ? (p.sidecar.address ?? '127.0.0.1') : host
  return `${h}:${port}`
}

/**
 * The provider config with the proxy environment (core/proxy-env.ts) added when the sidecar runs
 * under `mcp-hangar up` (an isolation is given), the provider is a `subprocess` and this sidecar
 * runs its egress listeners; the provider's own `env` wins over it. Otherwise `p` itself.
 */
export function withProxyEnv(p: ProviderConfig, o: { isolation: Isolation | undefined; egress: boolean }): ProviderConfig {
  if (!o.isolation || p.mode !== 'subprocess' || !o.egress) return p
  return { ...p, env: { ...proxyEnv(proxyAddress(p)), ...p.env } }
}
