/**
 * Tool-definition digests and pins (docs/mcp-ingress.md §Tool-definition drift: "a digest of
 * `name + description + inputSchema + annotations` per tool, pinned on first sight (or from the
 * profile), a change → `tool_definition_drift`"). Pure functions: no I/O.
 *
 * The digest covers the input schema, not only the description: a server that keeps its
 * description and widens `inputSchema` (a new `path` or `command` property) must drift too (the gap
 * of description-only hashing, as in Invariant's mcp-scan). `title`, `outputSchema`, `_meta` and
 * any other field are outside the digest, by design.
 */
import { createHash } from 'node:crypto'

/** The fields of an MCP `Tool` (tools/list) that the digest reads; others are ignored. */
export interface DigestibleTool {
  name: string
  description?: unknown
  inputSchema?: unknown
  annotations?: unknown
}

/**
 * Canonical JSON of a JSON value: object keys sorted (by UTF-16 code unit, as RFC 8785 JCS),
 * recursively; arrays keep their order; no whitespace. Strings and numbers are written as
 * `JSON.stringify` writes them. Like `JSON.stringify`, an `undefined` member is left out and an
 * `undefined` array element (or a non-finite number) becomes `null`.
 * @throws TypeError on a cycle, a bigint, a function or a symbol (not JSON).
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set())
}

function write(v: unknown, stack: Set<object>): string {
  if (v === null || v === undefined) return 'null'
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v)
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null'
    case 'object':
      break
    default:
      throw new TypeError(`canonicalJson: a ${typeof v} is not JSON`)
  }
  const obj = v as object
  if (stack.has(obj)) throw new TypeError('canonicalJson: the value has a cycle')
  stack.add(obj)
  let out: string
  if (Array.isArray(obj)) {
    out = '[' + obj.map((e: unknown) => write(e, stack)).join(',') + ']'
  } else {
    const rec = obj as Record<string, unknown>
    const parts: string[] = []
    for (const k of Object.keys(rec).sort()) {
      if (rec[k] === undefined) continue
      parts.push(JSON.stringify(k) + ':' + write(rec[k], stack))
    }
    out = '{' + parts.join(',') + '}'
  }
  stack.delete(obj)
  return out
}

/**
 * The digest of one tool definition (docs/mcp-ingress.md §Tool-definition drift): lowercase sha256 hex of the canonical JSON
 * ({@link canonicalJson}) of `{annotations, description, inputSchema, name}`, a missing field as
 * `null`. Stable under key reordering at any depth; changes with any change of the four fields.
 */
export function toolDigest(tool: DigestibleTool): string {
  const subject = {
    name: tool.name ?? null,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema ?? null,
    annotations: tool.annotations ?? null,
  }
  return createHash('sha256').update(canonicalJson(subject), 'utf8').digest('hex')
}

/** One tool whose digest differs from its pin. */
export interface ChangedTool {
  name: string
  /** The pinned digest. */
  pinned: string
  /** The digest now (the first differing one, if the name is listed twice). */
  current: string
}

/**
 * What changed between the pins and a `tools/list` result. Each list is sorted by name (UTF-16
 * code unit order) and holds each name once.
 * - `added`: names listed now and not pinned (pin them, or `undeclared_tool` / first sight);
 * - `removed`: names pinned and not listed now;
 * - `changed`: names pinned and listed with another digest (`tool_definition_drift`).
 */
export interface PinDiff {
  added: string[]
  removed: string[]
  changed: ChangedTool[]
}

/**
 * Compares pinned digests (`name → toolDigest`, from the data dir or the profile) with the tools
 * listed now. Only own properties of `pinned` count (a tool named `constructor` or
 * `__proto__` is never taken as pinned by inheritance). A name listed twice is changed if any of
 * its definitions differs from the pin. Pure.
 */
export function diffPins(pinned: Readonly<Record<string, string>>, current: readonly DigestibleTool[]): PinDiff {
  const seen = new Set<string>()
  const added = new Set<string>()
  const changed = new Map<string, ChangedTool>()
  for (const tool of current) {
    seen.add(tool.name)
    if (!Object.hasOwn(pinned, tool.name)) {
      added.add(tool.name)
      continue
    }
    const pin = pinned[tool.name] as string
    const digest = toolDigest(tool)
    if (digest !== pin && !changed.has(tool.name)) changed.set(tool.name, { name: tool.name, pinned: pin, current: digest })
  }
  const removed = Object.keys(pinned).filter((n) => !seen.has(n))
  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
  return {
    added: [...added].sort(byName),
    removed: removed.sort(byName),
    changed: [...changed.values()].sort((a, b) => byName(a.name, b.name)),
  }
}
