/**
 * The tool policy of a provider (`capabilities.tools`, docs/mcp-ingress.md §Inspection: "tools/list filtered by the
 * tool policy"; "a tool not in `expected_tools` → `undeclared_tool`"). Pure functions: no I/O.
 *
 * Globs over MCP tool names have two wildcards only: `*` matches any run of characters (also none),
 * `?` matches exactly one character (one Unicode code point). Every other character is literal,
 * including `.`, `+`, `(`, `[`, `\` and `$`: there is no escape syntax and no character class.
 * Matching is anchored (the whole name) and case-sensitive (`Fetch_*` never matches `fetch_html`).
 * Globs are matched by a linear two-pointer matcher, not a RegExp, so a name sent by an untrusted
 * upstream can neither inject a pattern nor trigger catastrophic backtracking.
 *
 * Order of decision: a match in `deny_list` denies (deny wins over allow); else an empty
 * `allow_list` allows every tool; else a match in `allow_list` allows; else the tool is denied.
 */
import { ERROR_CODES, HangarError } from '../core/errors.js'

/** One compiled tool-name glob. `source` is the glob as written; `rule` names where it came from. */
export interface ToolGlob {
  /** The glob as written in the profile. */
  readonly source: string
  /** Where it lives in the profile: `tools.allow_list[i]` or `tools.deny_list[i]`. */
  readonly rule: string
  /** The glob split into code points, runs of `*` collapsed to one. */
  readonly chars: readonly string[]
  /** True when the glob holds neither `*` nor `?` (compared with `===`). */
  readonly literal: boolean
}

/** The compiled `capabilities.tools` allow and deny lists. Build it with {@link compileToolPolicy}. */
export interface ToolPolicy {
  readonly allow: readonly ToolGlob[]
  readonly deny: readonly ToolGlob[]
}

/** The rule that decided: the matching list entry, or one of the two defaults. */
export type ToolRule = `tools.deny_list[${number}]` | `tools.allow_list[${number}]` | 'default-allow' | 'not-in-allow_list'

/**
 * The decision on one tool name.
 * - `deny` by `tools.deny_list[i]` (the first deny glob that matches);
 * - `allow` by `tools.allow_list[i]` (the first allow glob that matches);
 * - `allow` by `default-allow` (the allow list is empty and no deny glob matched);
 * - `deny` by `not-in-allow_list` (the allow list is not empty and no glob in it matched).
 * `reason` is one human sentence, for the signal and the JSON-RPC error data.
 */
export interface ToolDecision {
  verdict: 'allow' | 'deny'
  rule: ToolRule
  reason: string
}

/** The lists a policy is compiled from: the `capabilities.tools` block (either side of its defaults). */
export interface ToolListsConfig {
  allow_list?: readonly string[]
  deny_list?: readonly string[]
}

/**
 * Compiles one tool-name glob (see the file comment for its syntax).
 * @param rule where the glob lives, used in decisions and errors (`tools.allow_list[0]`).
 * @throws HangarError `HANGAR_GLOB_INVALID` when the glob is empty (it would match no tool name).
 */
export function compileToolGlob(glob: string, rule: string): ToolGlob {
  if (glob.length === 0) {
    throw new HangarError(ERROR_CODES.GLOB_INVALID, `${rule}: "" is not a valid tool glob: it matches no tool; name a tool (e.g. "fetch_html") or use "*"`)
  }
  const chars: string[] = []
  for (const c of glob) {
    if (c === '*' && chars[chars.length - 1] === '*') continue
    chars.push(c)
  }
  return { source: glob, rule, chars, literal: !chars.includes('*') && !chars.includes('?') }
}

/**
 * True when the whole tool `name` matches `glob`. Case-sensitive; `?` consumes one code point.
 * Linear in practice, O(name × glob) at worst (classic greedy match with a single star backtrack).
 */
export function matchToolGlob(glob: ToolGlob, name: string): boolean {
  if (glob.literal) return name === glob.source
  const p = glob.chars
  const s = Array.from(name)
  let i = 0 // position in s
  let j = 0 // position in p
  let star = -1 // index in p of the last `*` seen
  let mark = 0 // position in s where that `*` started matching
  while (i < s.length) {
    const pc = p[j]
    if (pc === '*') {
      star = j++
      mark = i
    } else if (pc !== undefined && (pc === '?' || pc === s[i])) {
      i++
      j++
    } else if (star >= 0) {
      j = star + 1
      i = ++mark
    } else {
      return false
    }
  }
  while (p[j] === '*') j++
  return j === p.length
}

/**
 * Compiles the `capabilities.tools` allow and deny lists (docs/configuration.md) into a {@link ToolPolicy}.
 * Missing lists are empty: an empty allow list allows all tools, an empty deny list denies none.
 * @throws HangarError `HANGAR_GLOB_INVALID` naming the bad entry (`tools.deny_list[1]: …`).
 */
export function compileToolPolicy(tools: ToolListsConfig): ToolPolicy {
  return {
    allow: (tools.allow_list ?? []).map((g, i) => compileToolGlob(g, `tools.allow_list[${i}]`)),
    deny: (tools.deny_list ?? []).map((g, i) => compileToolGlob(g, `tools.deny_list[${i}]`)),
  }
}

/**
 * Decides whether the tool `name` may be listed and called (docs/mcp-ingress.md §Inspection: "deny > allow; empty
 * allow_list = all allowed"). The first matching deny glob wins over any allow glob. Pure.
 */
export function decideTool(name: string, policy: ToolPolicy): ToolDecision {
  for (const g of policy.deny) {
    if (matchToolGlob(g, name)) {
      return { verdict: 'deny', rule: g.rule as ToolRule, reason: `tool "${name}" matches deny glob "${g.source}" (${g.rule})` }
    }
  }
  if (policy.allow.length === 0) {
    return { verdict: 'allow', rule: 'default-allow', reason: `tool "${name}" is allowed: the allow list is empty and no deny glob matches` }
  }
  for (const g of policy.allow) {
    if (matchToolGlob(g, name)) {
      return { verdict: 'allow', rule: g.rule as ToolRule, reason: `tool "${name}" matches allow glob "${g.source}" (${g.rule})` }
    }
  }
  return { verdict: 'deny', rule: 'not-in-allow_list', reason: `tool "${name}" matches no glob of tools.allow_list` }
}

/** The result of {@link filterToolsList}: what the client sees, and what was hidden and why. */
export interface FilteredTools<T extends { name: string }> {
  /** The allowed tools, in their original order, the same objects as given. */
  kept: T[]
  /** The denied tools, in their original order, each with the decision that hid it. */
  removed: Array<{ tool: T; decision: ToolDecision }>
}

/**
 * Filters a `tools/list` result by the tool policy (docs/mcp-ingress.md §Inspection). Every tool is decided by
 * {@link decideTool}; the input array and its objects are not modified. Pure.
 */
export function filterToolsList<T extends { name: string }>(tools: readonly T[], policy: ToolPolicy): FilteredTools<T> {
  const kept: T[] = []
  const removed: Array<{ tool: T; decision: ToolDecision }> = []
  for (const tool of tools) {
    const decision = decideTool(tool.name, policy)
    if (decision.verdict === 'allow') kept.push(tool)
    else removed.push({ tool, decision })
  }
  return { kept, removed }
}

/**
 * The names not declared in `expected_tools` (signal `undeclared_tool`, docs/signals.md). Exact,
 * case-sensitive comparison: `expected_tools` holds names, not globs. `expected_tools` undefined
 * means "not declared" and nothing is undeclared; an empty list makes every name undeclared.
 * Returns each undeclared name once, in first-seen order. Pure.
 */
export function undeclaredTools(names: Iterable<string>, expected_tools: readonly string[] | undefined): string[] {
  if (expected_tools === undefined) return []
  const expected = new Set(expected_tools)
  const out = new Set<string>()
  for (const n of names) if (!expected.has(n)) out.add(n)
  return [...out]
}
