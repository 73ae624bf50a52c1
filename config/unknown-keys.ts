/**
 * Messages for keys the schema does not know. A security config fails closed: an unknown key
 * anywhere in `hangar.yaml` is a load error naming its own path and, when one is close, the key
 * that was probably meant ("did you mean"). Keys of MCP Hangar (Python)'s `config.yaml` that this
 * edition does not read are errors that say so, and where this edition has the same setting
 * elsewhere (the Python edition's `providers.<p>.tools.deny_list` is our
 * `providers.<p>.capabilities.tools.deny_list`) they name it.
 *
 * Key sets of the Python edition: its configuration reference (`docs/reference/configuration.md`
 * of mcp-hangar/mcp-hangar: top-level sections, provider keys, provider groups and members).
 */
import { ZodArray, ZodDefault, ZodEffects, ZodNullable, ZodObject, ZodOptional, ZodRecord, type ZodTypeAny } from 'zod'

/** One path segment as zod gives it: an object key or an array index. */
export type PathSegment = string | number

/**
 * Levenshtein distance: the fewest single-character insertions, deletions and substitutions
 * that turn `a` into `b` (each costs 1). O(|a|·|b|) time, O(|b|) memory.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0
  if (a.length === 0) return b.length
  if (b.length === 0) return a.length
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  let cur = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1)
      cur[j] = Math.min(sub, prev[j]! + 1, cur[j - 1]! + 1)
    }
    ;[prev, cur] = [cur, prev]
  }
  return prev[b.length]!
}

/** Case and `-`/`_`/space differences are not typos worth counting: `Deny-List` is `deny_list`. */
function normalise(k: string): string {
  return k.toLowerCase().replace(/[-\s]/g, '_')
}

/** Longest key compared: beyond this a key is no typo of a schema key (and the distance stays cheap). */
const MAX_COMPARED_CHARS = 64

/**
 * The candidate closest to `key` when it is close enough to be a typo of it: after normalising
 * case and `-` to `_`, an edit distance of at most max(1, ⌊length/3⌋) of the longer of the two.
 * Ties go to the first candidate.
 * @returns the candidate as written in `candidates`, or undefined when none is close.
 */
export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  if (key.length > MAX_COMPARED_CHARS) return undefined
  const k = normalise(key)
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const n = normalise(c)
    const limit = Math.max(1, Math.floor(Math.max(n.length, k.length) / 3))
    if (Math.abs(n.length - k.length) > limit) continue
    const d = editDistance(k, n)
    if (d <= limit && d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

/** Strips the wrappers zod puts around an object (`.default()`, `.optional()`, `preprocess`, refinements). */
function unwrap(s: ZodTypeAny): ZodTypeAny {
  for (;;) {
    if (s instanceof ZodEffects) s = s.innerType() as ZodTypeAny
    else if (s instanceof ZodDefault) s = s._def.innerType as ZodTypeAny
    else if (s instanceof ZodOptional || s instanceof ZodNullable) s = s.unwrap() as ZodTypeAny
    else return s
  }
}

/** The schema of the value at `path` under `root`, or undefined when the path leaves the schema. */
export function schemaAt(root: ZodTypeAny, path: readonly PathSegment[]): ZodTypeAny | undefined {
  let s: ZodTypeAny | undefined = root
  for (const seg of path) {
    if (!s) return undefined
    const u = unwrap(s)
    if (u instanceof ZodObject) s = typeof seg === 'string' && Object.hasOwn(u.shape, seg) ? (u.shape as Record<string, ZodTypeAny>)[seg] : undefined
    else if (u instanceof ZodRecord) s = u.valueSchema as ZodTypeAny
    else if (u instanceof ZodArray) s = u.element as ZodTypeAny
    else return undefined
  }
  return s
}

/** The keys an object schema knows (empty for anything but an object). */
export function objectKeys(s: ZodTypeAny | undefined): string[] {
  const u = s && unwrap(s)
  return u instanceof ZodObject ? Object.keys(u.shape) : []
}

/**
 * Every key of the objects nested under `s` (not through records or arrays), as dotted paths
 * relative to `s`, breadth first: `capabilities.tools.deny_list`.
 */
function nestedKeys(s: ZodTypeAny, depth = 3): string[] {
  const out: string[] = []
  let level: Array<[string, ZodTypeAny]> = [['', s]]
  for (let d = 0; d < depth && level.length; d++) {
    const next: Array<[string, ZodTypeAny]> = []
    for (const [prefix, schema] of level) {
      const u = unwrap(schema)
      if (!(u instanceof ZodObject)) continue
      for (const [k, child] of Object.entries(u.shape as Record<string, ZodTypeAny>)) {
        const p = prefix ? `${prefix}.${k}` : k
        if (d > 0) out.push(p)
        next.push([p, child])
      }
    }
    level = next
  }
  return out
}

/**
 * "did you mean" for an unknown `key` in the object whose schema is `parent`, in this order: a
 * sibling one edit away; a key of that exact name in a nested object (`deny_list` written directly
 * under a provider → `capabilities.tools.deny_list`); a sibling that is a likely typo
 * ({@link closestKey}); a nested key that is one.
 */
export function suggestKey(parent: ZodTypeAny | undefined, key: string): string | undefined {
  if (!parent) return undefined
  const sibling = closestKey(key, objectKeys(parent))
  if (sibling !== undefined && editDistance(normalise(sibling), normalise(key)) <= 1) return sibling
  const nested = nestedKeys(parent)
  const leaves = nested.map((p) => p.slice(p.lastIndexOf('.') + 1))
  const exact = leaves.findIndex((l) => normalise(l) === normalise(key))
  if (exact !== -1) return nested[exact]
  if (sibling !== undefined) return sibling
  const close = closestKey(key, leaves)
  return close === undefined ? undefined : nested[leaves.indexOf(close)]
}

const PY = 'MCP Hangar (Python)'
const NOT_YET = 'which this edition does not support yet; remove it'

/** Top-level sections of the Python edition's config, with where this edition has the same setting. */
const PY_TOP: Readonly<Record<string, string>> = {
  execution: 'concurrency is per provider here: providers.<name>.max_concurrency',
  discovery: 'providers are listed in the file (or injected by `mcp-hangar compose inject`)',
  retry: 'a subprocess provider restarts by providers.<name>.restart_backoff',
  event_store: 'signals go to the aggregator\'s audit log (aggregator.data_dir)',
  knowledge_base: '',
  logging: 'logs are set by MCP_LOG_LEVEL and MCP_JSON_LOGS',
  health: 'health checks are per provider: providers.<name>.health_check_interval_s',
  observability: 'traces are set by the OTEL_EXPORTER_OTLP_* environment variables',
  auth: 'tokens are aggregator.admin_tokens / signal_tokens and providers.<name>.ingress.auth_tokens',
  config_reload: '',
  batch: '',
}

const GROUP = 'provider groups (mode: group) are not supported yet'

/** Provider keys of the Python edition that this edition does not read. */
const PY_PROVIDER: Readonly<Record<string, string>> = {
  description: '',
  build: 'build the image yourself and name it in image',
  args: 'give the whole command in command',
  network: 'a container provider reaches the network only through its sidecar; egress is allowed by capabilities.network.egress',
  network_mode: 'a container provider reaches the network only through its sidecar; egress is allowed by capabilities.network.egress',
  auth: 'a remote provider\'s authentication is not configurable yet',
  tls: 'a remote provider\'s TLS settings are not configurable yet',
  http: 'a remote provider\'s HTTP transport settings are not configurable yet',
  strategy: GROUP,
  min_healthy: GROUP,
  auto_start: GROUP,
  health: GROUP,
  members: GROUP,
  weight: GROUP,
  priority: GROUP,
  id: GROUP,
}

/** `mode` values of the Python edition. */
const PY_MODES: Readonly<Record<string, string>> = {
  docker: `${PY}'s mode "docker" is "container" here`,
  podman: `${PY}'s mode "podman" is "container" here`,
  group: `${PY}'s ${GROUP}`,
}

/** One message for a key, at its own path. */
export interface KeyIssue {
  path: PathSegment[]
  message: string
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

function valueAt(raw: unknown, path: readonly PathSegment[]): unknown {
  let v = raw
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return undefined
    v = (v as Record<string | number, unknown>)[seg]
  }
  return v
}

/**
 * The messages for `keys` the schema did not recognise in the object at `path` (relative to
 * `root`, the schema that parsed `raw`). `base` is prepended to paths named inside messages.
 * One issue per key, at the key's own path; `providers.<p>.tools` of the Python edition gives one
 * issue per key inside it.
 */
export function unknownKeyIssues(root: ZodTypeAny, raw: unknown, path: readonly PathSegment[], keys: readonly string[], base: readonly PathSegment[] = []): KeyIssue[] {
  const parent = schemaAt(root, path)
  const full = [...base, ...path]
  const atRoot = full.length === 0
  const atProvider = full.length === 2 && full[0] === 'providers'
  const out: KeyIssue[] = []
  for (const key of keys) {
    const at = [...path, key]
    if (atRoot && Object.hasOwn(PY_TOP, key)) {
      const hint = PY_TOP[key]
      out.push({ path: at, message: `"${key}" is a section of ${PY}'s config ${NOT_YET}${hint ? ` (${hint})` : ''}` })
      continue
    }
    if (atProvider && key === 'tools') {
      out.push(...pythonTools(raw, at, full))
      continue
    }
    if (atProvider && Object.hasOwn(PY_PROVIDER, key)) {
      const hint = PY_PROVIDER[key]
      out.push({ path: at, message: `"${key}" is a provider key of ${PY} ${NOT_YET}${hint ? ` (${hint})` : ''}` })
      continue
    }
    out.push({ path: at, message: unknownMessage(parent, key) })
  }
  return out
}

function unknownMessage(parent: ZodTypeAny | undefined, key: string): string {
  if (key === '<<') return 'unknown field: YAML merge keys ("<<") are not supported; write the keys out'
  const printable = key.length > 64 ? `${key.slice(0, 64)}…` : key
  const guess = suggestKey(parent, key)
  return guess === undefined ? `unknown field "${printable}"` : `unknown field "${printable}"; did you mean "${guess}"?`
}

/** The Python edition's `providers.<p>.tools`: a tool policy (mapping) or predefined tool schemas (list). */
function pythonTools(raw: unknown, at: PathSegment[], full: readonly PathSegment[]): KeyIssue[] {
  const value = valueAt(raw, at)
  const ours = [...full, 'capabilities', 'tools'].join('.')
  if (Array.isArray(value)) {
    return [{ path: at, message: `${PY}'s predefined tool schemas (a list under "tools") are not supported yet; the tool policy is ${ours}` }]
  }
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    return [{ path: at, message: `${PY} keeps the tool policy here; this edition reads it from ${ours}` }]
  }
  return Object.keys(value).map((k) => {
    if (k === 'allow_list' || k === 'deny_list') {
      return { path: [...at, k], message: `${PY} keeps the tool ${k === 'allow_list' ? 'allow' : 'deny'} list here; this edition does not read it here: did you mean "capabilities.tools.${k}" (${ours}.${k})?` }
    }
    return { path: [...at, k], message: `${PY} keeps the tool policy under "tools"; this edition reads it from ${ours}, which has no "${k}"` }
  })
}

/**
 * A clearer message for a `mode` value of the Python edition (`docker`, `podman`, `group`) at
 * `providers.<p>.mode`, or undefined for any other value or path.
 */
export function pythonModeMessage(path: readonly PathSegment[], received: unknown): string | undefined {
  if (path.length !== 3 || path[0] !== 'providers' || path[2] !== 'mode' || typeof received !== 'string') return undefined
  return Object.hasOwn(PY_MODES, received) ? PY_MODES[received] : undefined
}
