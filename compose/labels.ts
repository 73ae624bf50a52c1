/**
 * The `mcp.hangar.*` labels `mcp-hangar compose inject` reads on a Compose service, and the
 * labels it writes on what it generates. Compose allows labels as a map or as a list of
 * `key=value` strings (Compose specification, "labels"); both are read.
 */
import type { ConfigIssue } from '../core/errors.js'
import { literal } from './interpolate.js'

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
  /**
   * Host access the provider is allowed to keep, comma-separated (compose/refusals.ts, `HOST_ACCESS_GRANTS`):
   * `pid`, `ipc`, `uts`, `userns`, `cgroup`, `devices`, `sysctls`, `unconfined`, `path:/host/path`.
   * Each grant in effect is recorded on the sidecar (`HANGAR_HOST_ACCESS`).
   */
  hostAccess: 'mcp.hangar.host-access',
})

/** Labels written on generated services, networks and volumes. */
export const GENERATED = Object.freeze({
  /** On everything inject generated: removed and rebuilt by the next inject. */
  generated: 'mcp.hangar.generated',
  /** The provider a generated object belongs to. */
  provider: 'mcp.hangar.provider',
  /** `sidecar` | `aggregator` | `internal` | `control` | `data`. */
  role: 'mcp.hangar.role',
  /** On a sidecar: the Compose service it isolates (its provider name may differ, compose/provider-name.ts). */
  service: 'mcp.hangar.service',
  /** On a sidecar: the host-access grants in effect for its provider (JSON, as in `HANGAR_HOST_ACCESS`). */
  hostAccess: 'mcp.hangar.host-access',
})

/** One label as Compose reads it, with the raw text for messages. */
interface RawLabel {
  key: string
  value: string
  /** True when Compose substitutes a variable in the key (list form only) or the value. */
  keyVariable: boolean
  valueVariable: boolean
}

/** A YAML scalar as docker-compose turns it into a label value (PyYAML's `str()` of a boolean is `True`/`False`). */
function labelValue(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  return String(v)
}

function rawLabels(labels: unknown): RawLabel[] {
  const out: RawLabel[] = []
  const add = (key: string, value: string, keyInterpolated: boolean) => {
    const k = keyInterpolated ? literal(key) : key
    const v = literal(value)
    out.push({ key: k ?? key, value: v ?? value, keyVariable: k === undefined, valueVariable: v === undefined })
  }
  if (Array.isArray(labels)) {
    // docker-compose v1 splits a list entry at its first "=" (compose/config/config.py split_kv),
    // after substituting variables in the whole entry
    for (const item of labels) {
      if (typeof item !== 'string') continue
      const eq = item.indexOf('=')
      if (eq < 0) add(item, '', true)
      else add(item.slice(0, eq), item.slice(eq + 1), true)
    }
  } else if (labels && typeof labels === 'object') {
    for (const [k, v] of Object.entries(labels as Record<string, unknown>)) add(k, labelValue(v), false)
  }
  return out
}

/**
 * Reads a Compose `labels` value (map or `key=value` list) into a map of what Compose passes to
 * Docker: `$$` read as `$`, booleans as PyYAML prints them. A value holding a variable is kept as
 * written (see {@link labelIssues}).
 */
export function readLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  for (const l of rawLabels(labels)) out[l.key] = l.value
  return out
}

/** Label keys that look like ours: `mcp.hangar.…` in any case, spacing or separator. */
const OURS = /^\s*mcp[\s._-]*hangar/i

/** True for a label key that looks like an `mcp.hangar.*` label (any case, spacing or separator). */
export function isOurLabel(key: string): boolean {
  return OURS.test(key)
}

/** `mcp.hangar.path`: an absolute or relative URL path, without query, fragment or spaces (RFC 3986 `path-abempty` characters). */
const URL_PATH = /^\/?[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/
const KNOWN: ReadonlySet<string> = new Set(Object.values(LABEL))
const TRUE = /^(true|1|yes|on)$/i
const FALSE = /^(false|0|no|off|)$/i

/**
 * What is wrong with the `mcp.hangar.*` labels of a user's service `name` (the Compose paths and
 * the fix): a key that is not one of {@link LABEL} (a misspelt `mcp.hangar.enable` would leave the
 * service unisolated), a variable in one of our keys or values (its value is known only when
 * Compose runs), a list entry whose key is a variable, an `mcp.hangar.enabled` that is neither
 * true (`true`, `1`, `yes`, `on`) nor false (`false`, `0`, `no`, `off`, empty).
 */
export function labelIssues(name: string, labels: unknown): ConfigIssue[] {
  const at = `services.${name}.labels`
  const issues: ConfigIssue[] = []
  if (labels !== undefined && labels !== null && typeof labels !== 'object') {
    issues.push({ path: at, message: 'labels must be a mapping or a list of key=value strings' })
  }
  for (const l of rawLabels(labels)) {
    if (l.keyVariable) {
      issues.push({ path: at, message: `"${l.key}": a label whose key is a variable cannot be checked before Compose runs; write the key` })
      continue
    }
    if (!OURS.test(l.key)) continue
    if (!KNOWN.has(l.key)) {
      issues.push({ path: `${at}.${l.key}`, message: `unknown mcp-hangar label (known: ${[...KNOWN].join(', ')})` })
      continue
    }
    if (l.valueVariable) {
      issues.push({ path: `${at}.${l.key}`, message: `"${l.value}": mcp-hangar labels cannot use variables (their value is known only when Compose runs); write the value` })
      continue
    }
    if (l.key === LABEL.enabled && !TRUE.test(l.value.trim()) && !FALSE.test(l.value.trim())) {
      issues.push({ path: `${at}.${l.key}`, message: `"${l.value}": expected "true" or "false"` })
    }
    if (l.key === LABEL.path && !URL_PATH.test(l.value.trim())) {
      issues.push({ path: `${at}.${l.key}`, message: `"${l.value}": expected a URL path such as /mcp (no spaces, query or fragment)` })
    }
  }
  return issues
}

/** True when the labels mark something inject generated. */
export function isGenerated(labels: unknown): boolean {
  return readLabels(labels)[GENERATED.generated] === 'true'
}

/** True for `mcp.hangar.enabled: "true"` (also `true`, `1`, `yes`, `on`, any case). */
export function isEnabled(labels: Record<string, string>): boolean {
  return TRUE.test((labels[LABEL.enabled] ?? '').trim())
}
