/**
 * The config loader (config/load.ts parseConfig, schema.ts, policy/capabilities.ts). Generated
 * valid configs load, are deeply frozen, compile into every runtime object the sidecar builds
 * from them (egress policy, tool policy, secret patterns, rate limiter, concurrency limiter) and
 * survive a YAML round trip; a random key put into any object is an error at exactly its path;
 * random values at known paths and random YAML text throw nothing but HangarError and finish in
 * time; `${VAR}` values are substituted verbatim, never parsed as YAML.
 */
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { keepingConfigModules, parseConfig } from '../../../config/load.js'
import { hangarConfigSchema, type HangarConfig } from '../../../config/schema.js'
import { objectKeys, schemaAt, type PathSegment } from '../../../config/unknown-keys.js'
import { ConfigError, HangarError } from '../../../core/errors.js'
import { compilePolicy } from '../../../policy/egress-policy.js'
import { ConcurrencyLimiter } from '../../../proxy/inspect/concurrency.js'
import { TokenBucket } from '../../../policy/rate-limit.js'
import { compileSecretPatterns, SECRET_PATTERN_NAMES } from '../../../policy/secret-patterns.js'
import { compileToolPolicy } from '../../../policy/tool-policy.js'
import { withinTime, type FuzzTarget } from '../lib/fuzz.js'

const providerName = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,12}$/)
const hostGlob = fc.constantFrom('api.example.com', '*.githubusercontent.com', '.example.org', 'db.internal.example', '10.1.2.3', '2001:db8::1')
const egressRule = fc.oneof(
  fc.record({ host: hostGlob, port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom('https', 'http', 'any') }, { requiredKeys: ['host'] }),
  fc.record({ cidr: fc.constantFrom('10.20.0.0/16', '192.0.2.0/24', '2001:db8::/32'), port: fc.nat(65535), protocol: fc.constantFrom('any', 'https') }, { requiredKeys: ['cidr'] }),
)
const glob = fc.oneof(fc.constantFrom('*', 'fetch_*', '*delete*', 'read?'), fc.string({ minLength: 1, maxLength: 12 }))
const capabilities = fc.record(
  {
    enforcement_mode: fc.constantFrom('alert', 'block', 'quarantine'),
    network: fc.record({ dns_allowed: fc.boolean(), loopback_allowed: fc.boolean(), egress: fc.array(egressRule, { maxLength: 4 }) }, { requiredKeys: [] }),
    tools: fc.record({ allow_list: fc.array(glob, { maxLength: 3 }), deny_list: fc.array(glob, { maxLength: 3 }), expected_tools: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), schema_drift_alert: fc.boolean(), max_count: fc.integer({ min: 1, max: 1000 }) }, { requiredKeys: [] }),
    arguments: fc.record({ secret_patterns: fc.subarray([...SECRET_PATTERN_NAMES]), max_payload_bytes: fc.integer({ min: 1, max: 1 << 24 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
)
const provider = fc.record(
  {
    mode: fc.constant('subprocess'),
    command: fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 4 }),
    env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
    idle_ttl_s: fc.nat(86400),
    max_concurrency: fc.integer({ min: 1, max: 100 }),
    rate_limit: fc.record({ rps: fc.double({ min: 0.001, max: 1e6, noNaN: true }), burst: fc.integer({ min: 1, max: 1000 }) }),
    session_mode: fc.constantFrom('shared', 'per_session'),
    request_timeout_ms: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    circuit_breaker: fc.record({ failure_threshold: fc.integer({ min: 1, max: 50 }), reset_timeout_s: fc.double({ min: 0.01, max: 3600, noNaN: true }) }, { requiredKeys: [] }),
    ingress: fc.record({ auth_tokens: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 2 }), max_json_depth: fc.integer({ min: 1, max: 256 }) }, { requiredKeys: [] }),
    sidecar: fc.record({ dns_mode: fc.constantFrom('steering', 'passthrough'), limits: fc.record({ max_tunnels: fc.integer({ min: 1, max: 5000 }), header_timeout_ms: fc.integer({ min: 1, max: 60000 }) }, { requiredKeys: [] }) }, { requiredKeys: [] }),
    capabilities,
  },
  { requiredKeys: ['command'] },
)
const config = fc.record(
  {
    aggregator: fc.record({ listen: fc.constantFrom('127.0.0.1:8000', '[::1]:9000'), admin_tokens: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 2 }), audit_keep_files: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: [] }),
    providers: fc.dictionary(providerName, provider, { maxKeys: 3 }),
  },
  { requiredKeys: ['providers'] },
)

/** Builds every runtime object the sidecar compiles from a provider's config; throws what they throw. */
function compileAll(c: HangarConfig): void {
  for (const [name, p] of Object.entries(c.providers)) {
    compilePolicy(name, p.capabilities)
    compileToolPolicy(p.capabilities.tools)
    compileSecretPatterns(p.capabilities.arguments.secret_patterns)
    if (p.rate_limit) new TokenBucket(p.rate_limit, () => 0)
    new ConcurrencyLimiter(p.max_concurrency, 1000)
  }
}

function deeplyFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true
  return Object.isFrozen(v) && Object.values(v).every(deeplyFrozen)
}

/** Every object path present in a generated config that the schema declares as an object. */
function objectPathsOf(value: unknown, path: PathSegment[] = [], out: PathSegment[][] = []): PathSegment[][] {
  if (value === null || typeof value !== 'object') return out
  if (!Array.isArray(value) && objectKeys(schemaAt(hangarConfigSchema, path)).length) out.push(path)
  for (const [k, v] of Object.entries(value)) objectPathsOf(v, [...path, Array.isArray(value) ? Number(k) : k], out)
  return out
}

function dotted(path: readonly PathSegment[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out
}

/** Loads `text`: only a HangarError may be thrown, and a config that loads must compile (nothing thrown at all). */
function loadOnlyHangarErrors(text: string, env: Record<string, string> = {}): HangarConfig | undefined {
  let config: HangarConfig
  try {
    config = withinTime(() => parseConfig(text, '<inline>', env), 500).config
  } catch (e) {
    if (e instanceof HangarError) return undefined
    throw e
  }
  if (!deeplyFrozen(config)) throw new Error('a loaded config is not deeply frozen')
  try {
    compileAll(config)
  } catch (e) {
    throw new Error(`a config that loads does not compile: ${String(e)}`)
  }
  return config
}

/** A value of any shape, for putting at a known path. */
const edgeString = fc.oneof(fc.constantFrom('', ' ', '*', '**', '?', '\u0000', '${X}', '$${X}', '0', 'true', '__proto__', '-', '.'), fc.string({ maxLength: 6 }))
const anyValue = fc.oneof(
  fc.constantFrom(null, true, false, 0, -0, -1, 1.5, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1e308, 1e-300, Infinity, -Infinity),
  edgeString,
  fc.double(),
  fc.integer(),
  fc.array(edgeString, { maxLength: 3 }),
  fc.dictionary(edgeString, edgeString, { maxKeys: 2 }),
)

const YAML_BITS = ['providers:', 'aggregator:', '\n', '  ', '    ', '- ', ': ', 'a', 'x:', 'command: [x]', '&a ', '*a', '!!binary ', '!!str ', '? ', '[', ']', '{', '}', ',', '"', "'", '#', '|', '>', '${X}', '$${', '---', '...', '<<: ', '~', '.inf', '0x1f', 'capabilities:', 'tools:', 'deny_list:', 'egress:', '- host: ', '*.x.com', '%YAML 1.2', '\t', '\uFEFF', '\u0000']
const yamlText = fc.array(fc.constantFrom(...YAML_BITS), { maxLength: 60 }).map((a) => a.join(''))

export const configTarget: FuzzTarget = {
  parser: 'config',
  source: 'config/load.ts (parseConfig), config/schema.ts, policy/capabilities.ts',
  around: keepingConfigModules,
  properties: [
    {
      name: 'a generated valid config loads, is deeply frozen, compiles into every runtime object, and survives a YAML round trip',
      weight: 2,
      property: () =>
        fc.property(config, (c) => {
          // A generated string that happens to hold `${NAME}` would (rightly) fail as an unset variable.
          fc.pre(!JSON.stringify(c).includes('${'))
          const { config: loaded } = withinTime(() => parseConfig(stringify(c)), 500)
          if (!deeplyFrozen(loaded)) throw new Error('not deeply frozen')
          compileAll(loaded)
          const again = parseConfig(stringify(loaded)).config
          if (!isDeepStrictEqual(again, loaded)) throw new Error('the loaded config does not round-trip')
          return Object.keys(loaded.providers).length === Object.keys(c.providers).length
        }),
    },
    {
      name: 'a random key in any object of a generated config is an error at exactly that path',
      weight: 2,
      property: () =>
        fc.property(config, fc.nat(), fc.oneof(fc.string({ minLength: 1, maxLength: 16 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '0', '<<')), (c, pick, key) => {
          fc.pre(!JSON.stringify(c).includes('${'))
          const paths = objectPathsOf(c)
          const path = paths[pick % paths.length]!
          if (objectKeys(schemaAt(hangarConfigSchema, path)).includes(key)) return true
          const copy = structuredClone(c) as Record<string | number, unknown>
          let o = copy
          for (const seg of path) o = o[seg] as Record<string | number, unknown>
          Object.defineProperty(o, key, { value: 1, enumerable: true, writable: true, configurable: true })
          let err: unknown
          try {
            parseConfig(stringify(copy))
          } catch (e) {
            err = e
          }
          if (!(err instanceof ConfigError)) throw new Error(`${dotted([...path, key])} loaded: ${String(err)}`)
          const want = dotted([...path, key])
          if (!err.issues.some((i) => i.path === want)) throw new Error(`no issue at ${want}: ${JSON.stringify(err.issues)}`)
          return true
        }),
    },
    {
      name: 'any value at any known path: only HangarError; a config that loads compiles',
      weight: 3,
      property: () =>
        fc.property(config, fc.nat(), fc.nat(), anyValue, (c, pickPath, pickKey, value) => {
          const paths = objectPathsOf(c)
          const path = paths[pickPath % paths.length]!
          const keys = objectKeys(schemaAt(hangarConfigSchema, path))
          if (!keys.length) return true
          const copy = structuredClone(c) as Record<string | number, unknown>
          let o = copy
          for (const seg of path) o = o[seg] as Record<string | number, unknown>
          o[keys[pickKey % keys.length]!] = value
          loadOnlyHangarErrors(stringify(copy))
          return true
        }),
    },
    {
      name: 'random YAML text (anchors, tags, flow, merge keys, ${}): only HangarError, in time',
      weight: 3,
      property: () => fc.property(yamlText, fc.dictionary(fc.constantFrom('X', 'A'), fc.string({ maxLength: 8 }), { maxKeys: 2 }), (text, env) => (loadOnlyHangarErrors(text, env), true)),
    },
    {
      name: '${VAR} values are substituted verbatim, never parsed as YAML',
      property: () =>
        fc.property(fc.string({ maxLength: 40 }), fc.string({ minLength: 1, maxLength: 40 }), (token, arg) => {
          const env = { TOKEN: token, ARG: arg }
          const text = 'aggregator:\n  admin_tokens: [${ARG}, "pre-${TOKEN}"]\nproviders:\n  p:\n    command: [node, "${TOKEN}", \'${ARG}\']\n'
          const c = parseConfig(text, '<inline>', env).config
          return isDeepStrictEqual(c.aggregator?.admin_tokens, [arg, `pre-${token}`]) && isDeepStrictEqual(c.providers.p?.command, ['node', token, arg])
        }),
    },
  ],
}
