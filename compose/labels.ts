/**
 * The `mcp.hangar.*` labels `mcp-hangar compose inject` reads on a Compose service, and the
 * labels it writes on what it generates. Compose allows labels as a map or as a list of
 * `key=value` strings (Compose specification, "labels"); both are read.
 */

/** Labels a user sets on a provider service. */
export const LABEL = Object.freeze({
  /** `"true"`: isolate this service behind a sidecar. */
  enabled: 'mcp.hangar.enabled',
  /** A built-in profile name or a profile file path (relative to the compose file). */
  profile: 'mcp.hangar.profile',
  /** The container port the provider serves MCP Streamable HTTP on. Default: its one published/exposed port. */
  port: 'mcp.hangar.port',
  /** The MCP endpoint path on that port. Default `/mcp`. */
  path: 'mcp.hangar.path',
  /** The internal network's IPv4 subnet (a /16 to /28). Default: a /28 from the pool. */
  subnet: 'mcp.hangar.subnet',
  /** `alert` | `block` | `quarantine`: overrides the profile's enforcement_mode. */
  enforcement: 'mcp.hangar.enforcement',
  /** The provider's `user`: a uid[:gid], or `image` to keep the image's own. Default `65534:65534`. */
  user: 'mcp.hangar.user',
})

/** Labels written on generated services, networks and volumes. */
export const GENERATED = Object.freeze({
  /** On everything inject generated: removed and rebuilt by the next inject. */
  generated: 'mcp.hangar.generated',
  /** The provider a generated object belongs to. */
  provider: 'mcp.hangar.provider',
  /** `sidecar` | `aggregator` | `internal` | `control` | `data`. */
  role: 'mcp.hangar.role',
})

/** Reads a Compose `labels` value (map or `key=value` list) into a map. Non-string scalars become strings. */
export function readLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (Array.isArray(labels)) {
    for (const item of labels) {
      if (typeof item !== 'string') continue
      const eq = item.indexOf('=')
      if (eq < 0) out[item] = ''
      else out[item.slice(0, eq)] = item.slice(eq + 1)
    }
  } else if (labels && typeof labels === 'object') {
    for (const [k, v] of Object.entries(labels as Record<string, unknown>)) out[k] = v === null || v === undefined ? '' : String(v)
  }
  return out
}

/** True when the labels mark something inject generated. */
export function isGenerated(labels: unknown): boolean {
  return readLabels(labels)[GENERATED.generated] === 'true'
}

/** True for `mcp.hangar.enabled: "true"` (also `true`, `1`, `yes`, any case). */
export function isEnabled(labels: Record<string, string>): boolean {
  return /^(true|1|yes)$/i.test((labels[LABEL.enabled] ?? '').trim())
}
