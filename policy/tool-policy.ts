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
 * An entry of either list is a glob (it applies to every caller) or a caller-scoped rule
 * `{tool: "<glob>", callers: ["group:<g>" | "user:<subject>" | "*"]}` (docs/identity.md). Only a
 * caller the identity module verified (an OIDC bearer JWT) can match a caller reference; `*` is
 * any verified caller. An unverified caller (a static token, `X-Hangar-Caller`, an unverified JWT
 * `sub`, or none) is taken at its worst: it matches NO scoped allow and EVERY scoped deny, since it
 * cannot show it is not one of the callers a deny names.
 *
 * Order of decision: the first `deny_list` entry that matches the tool and applies to the caller
 * denies (deny wins over allow); else an empty `allow_list` allows every tool; else the first
 * `allow_list` entry that matches and applies allows; else the tool is denied. Whether the allow
 * list is empty is decided by the list as written, never per caller: a list holding only scoped
 * entries still denies every tool outside them to everyone else.
 */
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { ToolRuleConfig } from './capabilities.js'

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
  /** Set for a caller-scoped rule: the callers it names. */
  readonly callers?: CallerSet
}

/** The compiled `callers` of a scoped rule. */
export interface CallerSet {
  /** `*`: any verified caller. */
  readonly any: boolean
  readonly users: ReadonlySet<string>
  readonly groups: ReadonlySet<string>
  /** The references as written, for reasons (`group:admins, user:alice`). */
  readonly text: string
}

/**
 * Who is calling, as the tool policy sees it. `verified` is true only for a caller the identity
 * module verified; `subject` and `groups` of an unverified caller are never compared.
 */
export interface ToolCaller {
  subject?: string
  groups?: readonly string[]
  verified: boolean
}

/** The compiled `capabilities.tools` allow and deny lists. Build it with {@link compileToolPolicy}. */
export interface ToolPolicy {
  readonly allow: readonly ToolGlob[]
  readonly deny: readonly ToolGlob[]
  /** The config paths of the caller-scoped entries (`tools.allow_list[2]`), in list order. */
  readonly scoped: readonly string[]
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
  allow_list?: readonly ToolRuleConfig[]
  deny_list?: readonly ToolRuleConfig[]
}

/** The glob of a list entry (the entry itself, or a scoped rule's `tool`). */
export function ruleGlob(r: ToolRuleConfig): string {
  return typeof r === 'string' ? r : r.tool
}

/** A list entry as one line of text: the glob, and `for <callers>` when scoped. */
export function ruleText(r: ToolRuleConfig): string {
  return typeof r === 'string' ? r : `${r.tool} for ${r.callers.join(', ')}`
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
 * Compiles the `callers` of a scoped rule (syntax checked at config load: policy/capabilities.ts).
 * @throws HangarError `HANGAR_GLOB_INVALID` naming `<rule>.callers` when the list is empty or an entry is not a caller reference.
 */
export function compileCallers(callers: readonly string[], rule: string): CallerSet {
  if (callers.length === 0) throw new HangarError(ERROR_CODES.GLOB_INVALID, `${rule}.callers: a caller-scoped rule must name at least one caller`)
  let any = false
  const users = new Set<string>()
  const groups = new Set<string>()
  callers.forEach((c, i) => {
    if (c === '*') any = true
    else if (c.startsWith('user:') && c.length > 5) users.add(c.slice(5))
    else if (c.startsWith('group:') && c.length > 6) groups.add(c.slice(6))
    else throw new HangarError(ERROR_CODES.GLOB_INVALID, `${rule}.callers[${i}]: "${c}" is not a caller: write "group:<group>", "user:<subject>" or "*"`)
  })
  return { any, users, groups, text: callers.join(', ') }
}

function compileRule(r: ToolRuleConfig, rule: string): ToolGlob {
  if (typeof r === 'string') return compileToolGlob(r, rule)
  return { ...compileToolGlob(r.tool, rule), callers: compileCallers(r.callers, rule) }
}

/**
 * Compiles the `capabilities.tools` allow and deny lists (docs/configuration.md) into a {@link ToolPolicy}.
 * Missing lists are empty: an empty allow list allows all tools, an empty deny list denies none.
 * @throws HangarError `HANGAR_GLOB_INVALID` naming the bad entry (`tools.deny_list[1]: …`).
 */
export function compileToolPolicy(tools: ToolListsConfig): ToolPolicy {
  const allow = (tools.allow_list ?? []).map((g, i) => compileRule(g, `tools.allow_list[${i}]`))
  const deny = (tools.deny_list ?? []).map((g, i) => compileRule(g, `tools.deny_list[${i}]`))
  return { allow, deny, scoped: [...deny, ...allow].filter((g) => g.callers).map((g) => g.rule) }
}

/** True when a verified `caller` is one of `set`. */
function names(set: CallerSet, caller: ToolCaller): boolean {
  if (set.any) return true
  if (caller.subject !== undefined && set.users.has(caller.subject)) return true
  for (const g of caller.groups ?? []) if (set.groups.has(g)) return true
  return false
}

/** Why a rule applies, for the reason sentence ('' for an unscoped rule). */
function scopeNote(g: ToolGlob, caller: ToolCaller | undefined): string {
  if (!g.callers) return ''
  return caller?.verified ? `, for ${g.callers.text}` : `, for ${g.callers.text}: the caller is not verified`
}

/**
 * Decides whether the tool `name` may be listed and called by `caller` (rules at the top of this
 * file; docs/mcp-ingress.md §Inspection: "deny > allow; empty allow_list = all allowed"). No
 * caller = an unverified one. Pure.
 */
export function decideTool(name: string, policy: ToolPolicy, caller?: ToolCaller): ToolDecision {
  const verified = caller?.verified === true
  for (const g of policy.deny) {
    if (g.callers && verified && !names(g.callers, caller!)) continue
    if (matchToolGlob(g, name)) {
      return { verdict: 'deny', rule: g.rule as ToolRule, reason: `tool "${name}" matches deny glob "${g.source}" (${g.rule}${scopeNote(g, caller)})` }
    }
  }
  if (policy.allow.length === 0) {
    return { verdict: 'allow', rule: 'default-allow', reason: `tool "${name}" is allowed: the allow list is empty and no deny glob matches` }
  }
  let scopedMiss: ToolGlob | undefined
  for (const g of policy.allow) {
    if (!matchToolGlob(g, name)) continue
    if (g.callers && !(verified && names(g.callers, caller!))) {
      scopedMiss ??= g
      continue
    }
    return { verdict: 'allow', rule: g.rule as ToolRule, reason: `tool "${name}" matches allow glob "${g.source}" (${g.rule}${scopeNote(g, caller)})` }
  }
  if (scopedMiss) {
    return { verdict: 'deny', rule: 'not-in-allow_list', reason: `tool "${name}" is allowed by ${scopedMiss.rule} only for ${scopedMiss.callers!.text}${verified ? '' : ', and the caller is not verified'}` }
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
 * Filters a `tools/list` result by the tool policy for `caller` (docs/mcp-ingress.md §Inspection). Every tool is decided by
 * {@link decideTool}; the input array and its objects are not modified. Pure.
 */
export function filterToolsList<T extends { name: string }>(tools: readonly T[], policy: ToolPolicy, caller?: ToolCaller): FilteredTools<T> {
  const kept: T[] = []
  const removed: Array<{ tool: T; decision: ToolDecision }> = []
  for (const tool of tools) {
    const decision = decideTool(tool.name, policy, caller)
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
