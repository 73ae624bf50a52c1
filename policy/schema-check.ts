/**
 * Validation of `tools/call` arguments against the tool's `inputSchema` (docs/mcp-ingress.md §Inspection → JSON-RPC
 * `-32602`). ajv, draft 2020-12 by default (the MCP spec's dialect) or draft-07 when the schema's
 * `$schema` says so (what zod-to-json-schema and most older servers emit).
 *
 * Real-world schemas are loaded leniently: `strict: false` (unknown keywords ignored), formats not
 * enforced (`validateFormats: false`), remote `$ref`s never fetched (an unresolvable `$ref` makes the
 * schema invalid). An invalid schema is a result, never a throw.
 *
 * Compiled validators are cached by schema object (WeakMap) and by a digest of the schema's JSON (a
 * bounded Map), so a tool re-listed with an identical schema is not compiled again. Each compiled
 * schema is removed from the ajv instance at once: two tools may share an `$id`, and ajv's own
 * cache, keyed by schema object, would otherwise grow with every re-listed tool.
 */
import { createHash } from 'node:crypto'
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv'
import { Ajv2020 } from 'ajv/dist/2020.js'

/** One argument error: `path` is dotted with `[i]` indices (`a.b[2]`, `''` for the arguments object). */
export interface ArgumentIssue {
  path: string
  message: string
}

/**
 * The outcome of {@link checkArguments}. On failure `reason` tells bad arguments (`invalid_arguments`,
 * a `-32602` for the caller) from a schema that cannot be compiled (`invalid_schema`).
 */
export type CheckResult =
  | { ok: true }
  | { ok: false; reason: 'invalid_arguments' | 'invalid_schema'; errors: ArgumentIssue[] }

/** The JSON Schema dialects understood, by `$schema` URI (scheme and trailing `#` ignored). */
export type SchemaDraft = '2020-12' | 'draft-07'

/** Most argument errors reported by one check; the rest are dropped. */
export const MAX_REPORTED_ERRORS = 20

const DIGEST_CACHE_SIZE = 1000

const AJV_OPTIONS: Options = {
  strict: false,
  allErrors: true,
  validateFormats: false,
  addUsedSchema: false,
  logger: false,
}

type Compiled = { ok: true; validate: ValidateFunction } | { ok: false; message: string }

/**
 * The draft a schema declares: `2020-12` when it has no `$schema`, `undefined` when it names one
 * this module does not support.
 */
export function schemaDraft(schema: unknown): SchemaDraft | undefined {
  if (schema === null || typeof schema !== 'object') return '2020-12'
  const uri = (schema as { $schema?: unknown }).$schema
  if (uri === undefined) return '2020-12'
  if (typeof uri !== 'string') return undefined
  const normalised = uri.replace(/^https?:\/\//, '').replace(/#$/, '')
  if (normalised === 'json-schema.org/draft/2020-12/schema') return '2020-12'
  if (normalised === 'json-schema.org/draft-07/schema') return 'draft-07'
  return undefined
}

/**
 * A validator with its own caches. {@link checkArguments} uses one shared instance; make your own
 * to observe {@link SchemaChecker.compiles} or to bound memory per provider.
 */
export class SchemaChecker {
  /** How many schemas this checker has compiled (cache misses), valid or not. */
  compiles = 0
  readonly #byObject = new WeakMap<object, Compiled>()
  readonly #byDigest = new Map<string, Compiled>()
  readonly #digestCacheSize: number
  #ajv2020: Ajv2020 | undefined
  #ajv07: Ajv | undefined

  /** @param opts.digestCacheSize most schemas kept by digest (least recently used dropped); default 1000. */
  constructor(opts: { digestCacheSize?: number } = {}) {
    this.#digestCacheSize = opts.digestCacheSize ?? DIGEST_CACHE_SIZE
  }

  /**
   * Validates `args` against `schema`. Omitted arguments (`undefined`) are validated as `{}`, as MCP
   * treats a call without `arguments`. Never throws.
   */
  check(schema: unknown, args: unknown): CheckResult {
    const compiled = this.#compiled(schema)
    if (!compiled.ok) return { ok: false, reason: 'invalid_schema', errors: [{ path: '', message: compiled.message }] }
    const data = args === undefined ? {} : args
    let valid: boolean
    try {
      valid = compiled.validate(data) as boolean
    } catch (err) {
      // A generated validator does not throw on JSON data; exotic values (getters) might.
      return { ok: false, reason: 'invalid_arguments', errors: [{ path: '', message: `could not be validated: ${errorMessage(err)}` }] }
    }
    if (valid) return { ok: true }
    const errors = (compiled.validate.errors ?? []).slice(0, MAX_REPORTED_ERRORS).map((e) => toIssue(e, data))
    return { ok: false, reason: 'invalid_arguments', errors }
  }

  #compiled(schema: unknown): Compiled {
    const isObject = schema !== null && typeof schema === 'object'
    if (isObject) {
      const hit = this.#byObject.get(schema)
      if (hit) return hit
    }
    let digest: string | undefined
    try {
      digest = createHash('sha256').update(JSON.stringify(schema) ?? 'undefined').digest('hex')
    } catch {
      digest = undefined // cyclic or BigInt: cannot be a JSON schema; compile reports it
    }
    let compiled = digest === undefined ? undefined : this.#byDigest.get(digest)
    if (compiled !== undefined && digest !== undefined) {
      // Refresh its place in the LRU order.
      this.#byDigest.delete(digest)
      this.#byDigest.set(digest, compiled)
    } else {
      compiled = this.#compile(schema)
      if (digest !== undefined) {
        this.#byDigest.set(digest, compiled)
        if (this.#byDigest.size > this.#digestCacheSize) {
          const oldest = this.#byDigest.keys().next().value
          if (oldest !== undefined) this.#byDigest.delete(oldest)
        }
      }
    }
    if (isObject) this.#byObject.set(schema, compiled)
    return compiled
  }

  #compile(schema: unknown): Compiled {
    this.compiles++
    if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
      return { ok: false, message: `inputSchema is invalid: must be a JSON Schema object, got ${schema === null ? 'null' : Array.isArray(schema) ? 'an array' : typeof schema}` }
    }
    const draft = schemaDraft(schema)
    if (draft === undefined) {
      return {
        ok: false,
        message: `inputSchema is invalid: unsupported $schema ${JSON.stringify((schema as { $schema?: unknown }).$schema)}; supported: https://json-schema.org/draft/2020-12/schema, http://json-schema.org/draft-07/schema#`,
      }
    }
    const ajv = draft === 'draft-07' ? (this.#ajv07 ??= new Ajv(AJV_OPTIONS)) : (this.#ajv2020 ??= new Ajv2020(AJV_OPTIONS))
    // The instance is chosen; drop `$schema` so scheme/fragment variants of the URI all compile
    // against that instance's meta-schema.
    let toCompile: object | boolean = schema
    if (typeof schema === 'object' && '$schema' in schema) {
      const { $schema: _ignored, ...rest } = schema as Record<string, unknown>
      toCompile = rest
    }
    try {
      return { ok: true, validate: ajv.compile(toCompile) }
    } catch (err) {
      return { ok: false, message: `inputSchema is invalid: ${errorMessage(err)}` }
    } finally {
      try {
        ajv.removeSchema(toCompile)
      } catch {
        // nothing was added
      }
    }
  }
}

const shared = new SchemaChecker()

/**
 * Validates a `tools/call`'s `args` against the tool's `inputSchema`, with validators compiled once
 * per schema and cached (see {@link SchemaChecker}). An invalid schema is `{ok: false, reason:
 * 'invalid_schema'}` with a message that says why, never a throw.
 */
export function checkArguments(schema: unknown, args: unknown): CheckResult {
  return shared.check(schema, args)
}

/** ajv's error as `{path, message}`: the path names the offending property, the message is ajv's with the allowed values added. */
function toIssue(e: ErrorObject, data: unknown): ArgumentIssue {
  const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  let message = e.message ?? 'is invalid'
  const params = e.params as Record<string, unknown>
  if (e.keyword === 'required' && typeof params.missingProperty === 'string') {
    segments.push(params.missingProperty)
    message = 'is required'
  } else if (e.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    segments.push(params.additionalProperty)
    message = 'is not allowed (additional property)'
  } else if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    message = `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  } else if (e.keyword === 'const') {
    message = `must be ${JSON.stringify(params.allowedValue)}`
  }
  return { path: formatPath(segments, data), message }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** JSON Pointer segments as `a.b[2]`: a segment is an index when the value it indexes is an array. */
function formatPath(segments: readonly string[], data: unknown): string {
  let out = ''
  let cursor: unknown = data
  for (const s of segments) {
    if (Array.isArray(cursor) && /^(?:0|[1-9][0-9]*)$/.test(s)) {
      out += `[${s}]`
      cursor = cursor[Number(s)]
      continue
    }
    out += IDENTIFIER.test(s) ? (out === '' ? s : `.${s}`) : `[${JSON.stringify(s)}]`
    cursor = cursor !== null && typeof cursor === 'object' && Object.hasOwn(cursor, s) ? (cursor as Record<string, unknown>)[s] : undefined
  }
  return out
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
