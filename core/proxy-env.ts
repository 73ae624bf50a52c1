/** The proxy environment every isolated provider gets (netns under `up`, containers under Compose and `up`). */

/**
 * The proxy environment of the provider (`mcp-hangar up`, Compose): `HTTP_PROXY`/`HTTPS_PROXY` (both spellings)
 * to the sidecar's forward proxy, `NO_PROXY` for the namespace's own loopback, and
 * `NODE_USE_ENV_PROXY=1` (Node ≥ 22.21/24.5 then honours them in fetch and http; Node 20 ignores
 * it, and DNS steering catches those clients).
 */
export function proxyEnv(proxyHostPort: string): Record<string, string> {
  const url = `http://${proxyHostPort}`
  return {
    HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url,
    NO_PROXY: 'localhost,127.0.0.1,::1', no_proxy: 'localhost,127.0.0.1,::1',
    NODE_USE_ENV_PROXY: '1',
  }
}
