/**
 * Loads `hangar.yaml`: YAML (the `yaml` package) → `${VAR}` substitution → the one zod schema
 * (schema.ts) → cross-field checks → a deeply frozen object. Every error names the field path,
 * e.g. `providers.fetch.capabilities.network.egress[2].host: "*example.com" is not a valid host glob`.
 * `providers.<p>.profile` (a built-in name or a file, {@link loadProfile}) is read before the schema
 * runs and the provider's own `capabilities` is merged over it ({@link mergeCapabilities}).
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { loadTransient, releaseTransient } from '../core/transient-module.js'
import type { ZodIssue, ZodTypeAny } from 'zod'
import { ConfigError, ERROR_CODES, HangarError, type ConfigIssue } from '../core/errors.js'
import { capabilitiesSchema } from '../policy/capabilities.js'
import { BUILTIN_PROFILES, builtinProfilePath, isBuiltinProfile, type BuiltinProfileName } from './builtin-profiles.js'
import { parseIpLiteral } from '../policy/ip.js'
import { hangarConfigSchema, sidecarSchema, type HangarConfig, type ProviderConfig } from './schema.js'
import { pythonModeMessage, unknownKeyIssues } from './unknown-keys.js'

/** A loaded configuration. */
export interface LoadedConfig {
  config: HangarConfig
  /**
   * Non-fatal notes for the log. None are produced today: an unknown key anywhere is an error
   * ({@link ConfigError}), never a warning.
   */
  warnings: string[]
  /** Absolute path of the file, or `<inline>`. */
  source: string
}

/** Formats a zod path as `a.b[2].c`. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out || '(root)'
}

/**
 * zod issues → config issues. `root` is the schema that parsed `raw`; `prefix` is prepended to
 * every path (a profile's capabilities are reported under `providers.<p>.capabilities`). An
 * unknown key becomes one issue at the key's own path, with a "did you mean" (unknown-keys.ts).
 */
function zodIssues(issues: ZodIssue[], root: ZodTypeAny, raw: unknown, prefix: Array<string | number> = []): ConfigIssue[] {
  return issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys') {
      return unknownKeyIssues(root, raw, i.path, i.keys, prefix).map((k) => ({ path: formatPath([...prefix, ...k.path]), message: k.message }))
    }
    let message = i.message
    if (i.code === 'invalid_type' && i.received === 'undefined') message = 'is required'
    else if (i.code === 'invalid_type') message = `expected ${i.expected}, got ${i.received}`
    else if (i.code === 'invalid_enum_value') message = pythonModeMessage([...prefix, ...i.path], i.received) ?? message
    return [{ path: formatPath([...prefix, ...i.path]), message }]
  })
}

/**
 * Replaces `${VAR}` in every string from `env`; `$${` is a literal `${`.
 * The shell forms `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR:=x}`, `${VAR:+x}`
 * (MCP Hangar (Python) reads `${VAR:-default}`) are refused rather than left in the value as text:
 * a token or URL would otherwise silently be the literal string.
 * @param source the file, for the message of a {@link ConfigError}.
 * @throws HangarError `HANGAR_CONFIG_ENV_UNSET` naming the variable and the field; ConfigError for a shell form.
 */
export function substituteEnv(value: unknown, env: Readonly<Record<string, string | undefined>>, path: Array<string | number> = [], source = '<inline>'): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(:?[-=?+][^}]*)?\}/g, (whole, escape: string, name: string, shell: string | undefined) => {
      if (escape) return whole.slice(1)
      if (shell !== undefined) {
        throw new ConfigError(source, [{ path: formatPath(path), message: `"\${${name}${shell}}" (a shell default/check, as MCP Hangar (Python) reads) is not supported: write "\${${name}}" and set the variable, or "$\${" for a literal "\${"` }])
      }
      const v = env[name]
      if (v === undefined) {
        throw new HangarError(ERROR_CODES.CONFIG_ENV_UNSET, `${formatPath(path)}: environment variable ${name} is not set`)
      }
      return v
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i], source))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    // defineProperty, not `out[k] =`: a YAML key `__proto__` must stay a (rejected, unknown)
    // field, never become the prototype that smuggles inherited fields past the schema.
    for (const [k, v] of Object.entries(value)) ownProperty(out, k, substituteEnv(v, env, [...path, k], source))
    return out
  }
  return value
}

function ownProperty(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
}

// `${VAR}` unquoted in a flow collection (`signal_tokens: [${TOKEN}]`) is YAML flow
// mapping syntax. References are hidden behind private-use code points for the parse and put back
// in every string (and key) afterwards, before substitution: values are substituted after parsing,
// so a variable's value can never inject YAML structure.
const REF = '\uE000'
const ESC_REF = '\uE002'
const REF_END = '\uE001'
const HIDDEN = /[\uE000-\uE002]/

function hideEnvRefs(text: string): string {
  return text.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_w, escape: string, name: string) => (escape ? ESC_REF : REF) + name + REF_END)
}

function restoreEnvRefs(value: unknown): unknown {
  if (typeof value === 'string') return restoreText(value)
  if (Array.isArray(value)) return value.map(restoreEnvRefs)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) ownProperty(out, restoreText(k), restoreEnvRefs(v))
    return out
  }
  return value
}

function restoreText(s: string): string {
  if (!HIDDEN.test(s)) return s
  return s.replace(/([\uE000\uE002])([A-Za-z_][A-Za-z0-9_]*)\uE001/g, (_w, open: string, name: string) => (open === ESC_REF ? '$${' : '${') + name + '}')
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}

const SIDECAR_LISTENERS = ['proxy', 'dns', 'transparent_http', 'transparent_tls', 'admin'] as const

/** Where a provider's profile put its egress rules: the first `count` rules of the merged list. */
interface ProfileOrigin {
  ref: string
  count: number
}

/** Cross-field checks the schema cannot express. */
function crossCheck(name: string, p: ProviderConfig, origin?: ProfileOrigin): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const base = `providers.${name}`
  // The merged egress list is the profile's rules, then the provider's own: name each by its source.
  const rule = (i: number) =>
    origin && i < origin.count ? `${base}.profile (${origin.ref}) network.egress[${i}]` : `${base}.capabilities.network.egress[${i - (origin?.count ?? 0)}]`
  const ownPorts = new Map<number, string>()
  for (const l of SIDECAR_LISTENERS) {
    const addr = p.sidecar[l]
    if (addr) ownPorts.set(Number(addr.slice(addr.lastIndexOf(':') + 1)), `sidecar.${l}`)
  }
  // The MCP ingress (`listen`) is the sidecar's own port too.
  if (p.listen) ownPorts.set(Number(p.listen.slice(p.listen.lastIndexOf(':') + 1)), 'listen')
  const forwards = new Map<number, { index: number; host: string }>()
  p.capabilities.network.egress.forEach((r, index) => {
    // Only an exact host name becomes a tcp forward (policy/egress-policy.ts tcpForwardRules); an IP host is a cidr rule.
    if (r.protocol !== 'tcp' || r.host === undefined || r.host.includes('*') || r.host.startsWith('.') || !r.port) return
    if (parseIpLiteral(r.host)) return
    const at = `${rule(index)}.port`
    const prior = forwards.get(r.port)
    if (prior) {
      issues.push({ path: at, message: `port ${r.port} is already forwarded to "${prior.host}" by ${origin ? rule(prior.index) : `egress[${prior.index}]`}; a tcp forward listens on one port per destination` })
    } else forwards.set(r.port, { index, host: r.host })
    const own = ownPorts.get(r.port)
    if (own) issues.push({ path: at, message: `port ${r.port} is the sidecar's own ${own} port and cannot also be a tcp forward` })
  })
  return issues
}

/**
 * Parses and validates configuration text.
 * @param text YAML text. @param source name used in messages. @param env for `${VAR}`.
 * @throws ConfigError (`HANGAR_CONFIG_INVALID`) listing every bad field; HangarError for unset variables.
 */
export function parseConfig(text: string, source = '<inline>', env: Readonly<Record<string, string | undefined>> = {}): LoadedConfig {
  try {
    return parseConfigOnce(text, source, env)
  } finally {
    // yaml and the public-suffix list are needed only while a config loads (transient-module.ts).
    if (held === 0) releaseTransient('yaml', 'tldts')
  }
}

/** Nesting depth of {@link keepingConfigModules}: while above 0, loads do not release their modules. */
let held = 0

/**
 * Runs `fn` (synchronous) with the modules a load needs (yaml, the public-suffix list) kept
 * loaded between loads, and releases them after: for many configs in a row (fuzzing, batch
 * validation), where reloading them per config costs milliseconds each.
 * @returns what `fn` returns; rethrows what it throws.
 */
export function keepingConfigModules<T>(fn: () => T): T {
  held++
  try {
    return fn()
  } finally {
    if (--held === 0) releaseTransient('yaml', 'tldts')
  }
}

/**
 * Most alias expansions `toJS` performs before it refuses the document (the `yaml` package's
 * default, its guard against "billion laughs" expansion).
 */
const MAX_ALIAS_COUNT = 100

/**
 * YAML text → plain JSON values with `${VAR}` references intact (not substituted yet).
 * @throws ConfigError (`(yaml)` path) for a syntax error, duplicate keys, several documents, an
 *   alias expansion beyond {@link MAX_ALIAS_COUNT}, a mapping or list used as a key, or a value a
 *   tag turned into something that is not JSON (`!!binary`, `!!set`, `!!timestamp`…).
 */
function readYaml(text: string, source: string): unknown {
  const hide = !HIDDEN.test(text)
  const Y = loadTransient<typeof import('yaml')>('yaml')
  const doc = Y.parseDocument(hide ? hideEnvRefs(text) : text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length) {
    throw new ConfigError(source, doc.errors.map((e) => ({ path: '(yaml)', message: restoreText(e.message.split('\n')[0] ?? e.message) })))
  }
  // A mapping, list, alias or tagged non-scalar used as a key (`? [a, b]: 1`, `!!binary AA==: 1`)
  // has no JSON form (yaml would stringify it, with a process warning).
  let collectionKey = false
  Y.visit(doc, {
    Pair(_, pair) {
      const k = pair.key
      const plain = k === null || (Y.isScalar(k) && (k.value === null || typeof k.value !== 'object'))
      if (plain) return undefined
      collectionKey = true
      return Y.visit.BREAK
    },
  })
  if (collectionKey) throw new ConfigError(source, [{ path: '(yaml)', message: 'a mapping, list, alias or tagged value used as a key is not supported; keys are plain strings' }])
  let js: unknown
  try {
    js = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (e) {
    // yaml throws a ReferenceError for an alias bomb; any other failure is the document's too.
    throw new ConfigError(source, [{ path: '(yaml)', message: restoreText((e as Error).message.split('\n')[0] ?? 'unreadable document') }])
  }
  const odd = notJson(js, [])
  if (odd) throw new ConfigError(source, [{ path: `(yaml) ${formatPath(odd.path)}`, message: `a ${odd.what} value (from a YAML tag) is not supported; write a string, number, boolean, list or mapping` }])
  return hide ? restoreEnvRefs(js) : js
}

/** The first value that is not plain JSON data (a Uint8Array, Map, Set, Date… made by a YAML tag). */
function notJson(v: unknown, path: Array<string | number>): { path: Array<string | number>; what: string } | undefined {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' || typeof v === 'symbol' || typeof v === 'function' ? { path, what: typeof v } : undefined
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = notJson(v[i], [...path, i])
      if (r) return r
    }
    return undefined
  }
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto !== Object.prototype && proto !== null) return { path, what: (v as object).constructor?.name ?? 'non-JSON' }
  for (const [k, x] of Object.entries(v)) {
    const r = notJson(x, [...path, k])
    if (r) return r
  }
  return undefined
}

function parseConfigOnce(text: string, source: string, env: Readonly<Record<string, string | undefined>>): LoadedConfig {
  const raw = substituteEnv(readYaml(text, source) ?? {}, env, [], source)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(source, [{ path: '(root)', message: 'expected a mapping' }])
  const baseDir = source === '<inline>' ? process.cwd() : dirname(source)
  const rawProviders = (raw as Record<string, unknown>).providers
  const origins = new Map<string, ProfileOrigin>()
  if (rawProviders && typeof rawProviders === 'object') {
    for (const [name, p] of Object.entries(rawProviders as Record<string, unknown>)) {
      if (!p || typeof p !== 'object' || !('profile' in p)) continue
      const ref = (p as { profile: unknown }).profile
      if (typeof ref !== 'string') continue // the schema names the field
      const profile = loadProfileOnce(ref, { baseDir, env, provider: name, from: source })
      const own = (p as { capabilities?: unknown }).capabilities
      // The provider's own block is merged over the profile. An invalid own block is left as written,
      // so the schema below reports its errors at the paths the user wrote.
      if (!('capabilities' in p)) Object.assign(p, { capabilities: profile.capabilities })
      else if (capabilitiesSchema.safeParse(own).success) Object.assign(p, { capabilities: mergeCapabilities(profile.capabilities, own as Record<string, unknown>) })
      else continue
      const egress = (profile.capabilities.network as { egress?: unknown[] } | undefined)?.egress
      origins.set(name, { ref, count: egress?.length ?? 0 })
    }
  }
  const parsed = hangarConfigSchema.safeParse(raw)
  if (!parsed.success) throw new ConfigError(source, zodIssues(parsed.error.issues, hangarConfigSchema, raw))
  const config = parsed.data
  const issues: ConfigIssue[] = []
  for (const [name, p] of Object.entries(config.providers)) issues.push(...crossCheck(name, p, origins.get(name)))
  issues.push(...timerIssues(config, []))
  if (issues.length) throw new ConfigError(source, issues)
  return { config: deepFreeze(config), warnings: [], source }
}

/** Longest delay a Node timer holds, ms (2^31−1, about 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Durations a timer or a DNS TTL (RFC 2181 §8: at most 2^31−1 s) will carry: every number under a
 * key ending in `_ms` must be at most {@link MAX_TIMER_MS}, in `_s` at most that in seconds, so
 * `request_timeout_ms: 3e9` is an error instead of a timer that fires at once.
 */
function timerIssues(value: unknown, path: Array<string | number>): ConfigIssue[] {
  if (value === null || typeof value !== 'object') return []
  const out: ConfigIssue[] = []
  for (const [k, v] of Object.entries(value)) {
    const at = [...path, Array.isArray(value) ? Number(k) : k]
    if (typeof v === 'number' && typeof k === 'string') {
      const limit = k.endsWith('_ms') ? MAX_TIMER_MS : k.endsWith('_s') ? Math.floor(MAX_TIMER_MS / 1000) : Infinity
      if (v > limit) out.push({ path: formatPath(at), message: `${v} is beyond ${limit} ${k.endsWith('_ms') ? 'ms' : 's'} (about 24.8 days), the longest a timer holds; a longer one would fire at once` })
    } else out.push(...timerIssues(v, at))
  }
  return out
}

/** A capability profile as read from its file: validated, defaults not applied (so a merge sees only what was written). */
export interface LoadedProfile {
  /** The `capabilities` block as written in the file. */
  capabilities: Record<string, unknown>
  /** The file's one-line `description`, when it has one. */
  description?: string
  /** Absolute path of the file read. */
  path: string
  /** The built-in's name, when the reference named one. */
  builtin?: BuiltinProfileName
}

/** Options of {@link loadProfile}. */
export interface ProfileLoadOptions {
  /** Directory a relative path is resolved from. Default: the working directory. */
  baseDir?: string
  /** For `${VAR}` in the profile file. Default: none set. */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * The provider the profile is for, when the config loader reads it: errors then name
   * `providers.<p>.profile` and `providers.<p>.capabilities.…`. Without it (`profile validate`),
   * paths are those of the file itself (`capabilities.network.egress[0].host`).
   */
  provider?: string
  /** The config file that named the profile, for messages. */
  from?: string
}

const PROFILE_FILE_KEYS = ['description', 'capabilities']

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

/**
 * True when a `profile:` reference is a bare name (no `/` or `\\`, no `.yaml`/`.yml` suffix),
 * which names a built-in profile rather than a file.
 */
export function isBareProfileName(ref: string): boolean {
  return !/[/\\]/.test(ref) && !/\.ya?ml$/i.test(ref)
}

/**
 * Reads one capability profile: a built-in by name (config/builtin-profiles.ts) or a YAML file by path,
 * exactly as `providers.<p>.profile` is read. A file is either `{description?, capabilities}` or
 * the capabilities block itself (with an optional top-level `description`, stripped).
 * `${VAR}` references are substituted from `opts.env` after parsing.
 * @throws ConfigError (`HANGAR_CONFIG_INVALID`) for an unknown built-in name (listing the names),
 *   YAML errors, unknown top-level keys and every invalid field; HangarError
 *   `HANGAR_CONFIG_NOT_FOUND` for a missing file; HangarError `HANGAR_CONFIG_ENV_UNSET`.
 */
export function loadProfile(ref: string, opts: ProfileLoadOptions = {}): LoadedProfile {
  try {
    return loadProfileOnce(ref, opts)
  } finally {
    if (held === 0) releaseTransient('yaml', 'tldts')
  }
}

function loadProfileOnce(ref: string, opts: ProfileLoadOptions): LoadedProfile {
  const { provider, env = {} } = opts
  const field = provider === undefined ? 'profile' : `providers.${provider}.profile`
  let path: string
  let builtin: BuiltinProfileName | undefined
  if (isBareProfileName(ref)) {
    if (!isBuiltinProfile(ref)) {
      const hint = existsSync(resolve(opts.baseDir ?? process.cwd(), ref)) ? `; to use the file, write "./${ref}"` : '; a file path needs a "/" or a .yaml/.yml suffix'
      throw new ConfigError(opts.from ?? ref, [{ path: field, message: `unknown built-in profile "${ref}" (built-in: ${BUILTIN_PROFILES.join(', ')})${hint}` }])
    }
    builtin = ref
    path = builtinProfilePath(ref)
  } else {
    path = resolve(opts.baseDir ?? process.cwd(), ref)
    if (!existsSync(path)) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `${field}: "${ref}" not found (looked for ${path})`)
  }
  const source = provider === undefined ? path : `${path} (profile of providers.${provider})`
  const text = readFileSync(path, 'utf8')
  const v = substituteEnv(readYaml(text, source), env, provider === undefined ? [] : ['providers', provider, 'profile'], source)
  const wrapped = isPlainObject(v) && 'capabilities' in v
  const issues: ConfigIssue[] = []
  let description: unknown
  let caps: unknown = v ?? {}
  if (isPlainObject(v)) {
    description = v.description
    if (description !== undefined && typeof description !== 'string') issues.push({ path: provider === undefined ? 'description' : field, message: '"description" must be a string' })
    if (wrapped) {
      const extra = Object.keys(v).filter((k) => !PROFILE_FILE_KEYS.includes(k))
      if (extra.length) {
        issues.push({ path: provider === undefined ? '(root)' : field, message: `unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}: a profile file holds "description" and "capabilities", or the capabilities block itself` })
      }
      caps = v.capabilities ?? {}
    } else {
      caps = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'description'))
    }
  }
  // Paths name the provider the profile is for (the source names the file), or the file's own fields.
  const prefix = provider !== undefined ? ['providers', provider, 'capabilities'] : wrapped ? ['capabilities'] : []
  const checked = capabilitiesSchema.safeParse(caps)
  if (!checked.success) issues.push(...zodIssues(checked.error.issues, capabilitiesSchema, caps, prefix))
  if (issues.length) throw new ConfigError(source, issues)
  return { capabilities: caps as Record<string, unknown>, path, ...(typeof description === 'string' && { description }), ...(builtin && { builtin }) }
}

/**
 * Merges a provider's own `capabilities` block over its profile (both as written, before
 * defaults): `network.egress` rules are appended (the profile's first); every other key the
 * provider gives replaces the profile's, objects one level deep (`tools.allow_list` given
 * replaces the profile's allow list; `tools.deny_list` left out keeps the profile's). Pure.
 */
export function mergeCapabilities(profile: Readonly<Record<string, unknown>>, own: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...profile }
  for (const [k, v] of Object.entries(own)) {
    const base = profile[k]
    if (isPlainObject(v) && isPlainObject(base)) {
      const merged: Record<string, unknown> = { ...base, ...v }
      if (k === 'network' && Array.isArray(base.egress) && Array.isArray(v.egress)) merged.egress = [...base.egress, ...v.egress]
      ownProperty(out, k, merged)
    } else ownProperty(out, k, v)
  }
  return out
}

/** `-c env:NAME`: the config is the text of environment variable NAME (containers: compose/inject.ts). */
export const CONFIG_ENV_PREFIX = 'env:'

/**
 * Loads and validates a config file, or, for `env:NAME`, the config text held in the environment
 * variable NAME of `env` (how Compose-injected sidecars get theirs; relative paths in it are then
 * relative to the working directory).
 * @throws HangarError `HANGAR_CONFIG_NOT_FOUND` (also for an unset or empty `env:` variable); ConfigError;
 *   HangarError `HANGAR_CONFIG_ENV_UNSET`.
 */
export function loadConfig(path: string, env: Readonly<Record<string, string | undefined>> = {}): LoadedConfig {
  if (path.startsWith(CONFIG_ENV_PREFIX)) {
    const name = path.slice(CONFIG_ENV_PREFIX.length)
    const text = env[name]
    if (!text) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `config ${path}: environment variable ${name || '(no name)'} is unset or empty`)
    return parseConfig(text, `$${name}`, env)
  }
  const abs = resolve(path)
  if (!existsSync(abs)) throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `config file not found: ${abs}`)
  return parseConfig(readFileSync(abs, 'utf8'), abs, env)
}

/**
 * The provider's config, or a clear error listing the names that exist.
 * @throws HangarError `HANGAR_PROVIDER_UNKNOWN`.
 */
export function getProvider(config: HangarConfig, name: string): ProviderConfig {
  const p = config.providers[name]
  if (!p) {
    const known = Object.keys(config.providers)
    throw new HangarError(ERROR_CODES.PROVIDER_UNKNOWN, `no provider "${name}" in the config (known: ${known.length ? known.join(', ') : 'none'})`)
  }
  return p
}

export { sidecarSchema }
