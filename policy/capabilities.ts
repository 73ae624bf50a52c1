/**
 * The capability profile schema (docs/configuration.md §`providers.<name>.capabilities`, MCP Hangar's `capabilities` block). One zod schema;
 * the TypeScript types are derived from it. Host globs and CIDRs are validated here by the same
 * compilers the egress layer uses, so a config that loads is a config that compiles.
 */
import { z } from 'zod'
import { bool, num } from './coerce.js'
import { compileCidr } from './cidr.js'
import { parseDnsTypeName } from './dns-types.js'
import { compileHostGlob } from './glob.js'
import { SECRET_PATTERN_NAMES } from './secret-patterns.js'

const port = num(z.number().int().min(0).max(65535))

/** Default port of a rule by protocol: https 443, http 80, any 0 (any port); tcp must name one. */
export const DEFAULT_RULE_PORT = { https: 443, http: 80, any: 0 } as const

/** `network.subdomain_budget` when absent: 64 new subdomains per registrable domain per 60 s. */
export const DEFAULT_SUBDOMAIN_BUDGET = { max_names: 64, window_s: 60 } as const

/** One `network.egress[i]` rule: exactly one of `host` (a glob) or `cidr`. */
export const egressRuleSchema = z
  .object({
    /** Host glob: `api.x.com`, `*.x.com` (subdomains only), `.x.com` (apex + subdomains), or an IP. */
    host: z.string().optional(),
    /** A range; overrides the always-denied list for the addresses it names (docs/egress.md §Always-denied addresses). */
    cidr: z.string().optional(),
    /** 0 = any port. Default by protocol: https 443, http 80, any 0; tcp requires a port. */
    port: port.optional(),
    /** `http` | `https` | `tcp` | `any`. Default `https` for host rules, `any` for cidr rules. */
    protocol: z.enum(['http', 'https', 'tcp', 'any']).optional(),
    /**
     * DNS record types forwarded for names this rule matches, besides A and AAAA (always
     * forwarded): `TXT`, `MX`, `SRV`, … or `TYPE<n>`. Other types get NOERROR without records.
     */
    dns_types: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.host === undefined) === (r.cidr === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'exactly one of "host" or "cidr" is required' })
      return
    }
    if (r.host !== undefined) {
      try {
        compileHostGlob(r.host)
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['host'], message: (e as Error).message })
      }
    }
    if (r.cidr !== undefined) {
      try {
        compileCidr(r.cidr)
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cidr'], message: (e as Error).message })
      }
    }
    if (r.dns_types !== undefined) {
      if (r.cidr !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['dns_types'], message: 'a cidr rule names no DNS name; put dns_types on a host rule' })
      r.dns_types.forEach((t, i) => {
        const p = parseDnsTypeName(t)
        if ('error' in p) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['dns_types', i], message: p.error })
      })
    }
    if (r.protocol === 'tcp' && r.port === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['port'], message: 'a tcp rule must name its port (0 = any port)' })
    }
  })

export const networkSchema = z
  .object({
    /** false → every DNS query is refused. Default true. */
    dns_allowed: bool(z.boolean()).default(true),
    /** Forward DNS for every name, not only names matching a rule (answers are still filtered). Default false. */
    dns_resolve_any: bool(z.boolean()).default(false),
    /** Allow loopback destinations (tests, same-host services). Default false: loopback is always-denied. */
    loopback_allowed: bool(z.boolean()).default(false),
    /**
     * DNS tunnelling budget: new unique subdomains admitted per registrable domain (public
     * suffix list, private entries included) per window, on every egress path. Past it a name
     * is a `dns_tunnel_suspected` violation. Names already admitted in the window stay allowed.
     * Absent: {@link DEFAULT_SUBDOMAIN_BUDGET}.
     */
    subdomain_budget: z
      .object({
        /** Unique subdomains per registrable domain per window. Default 64. */
        max_names: num(z.number().int().min(1).max(1_000_000)).default(DEFAULT_SUBDOMAIN_BUDGET.max_names),
        /** Window length, seconds. Default 60. */
        window_s: num(z.number().int().min(1).max(86_400)).default(DEFAULT_SUBDOMAIN_BUDGET.window_s),
      })
      .strict()
      .optional(),
    egress: z.array(egressRuleSchema).default([]),
  })
  .strict()

/** A tool-name glob (policy/tool-policy.ts): an empty one matches no tool, so it is refused at load, not at start. */
const toolGlob = z.string().min(1, 'an empty tool glob matches no tool; name a tool (e.g. "fetch_html") or use "*"')

/** Longest subject or group a caller reference names (as the identity module admits them). */
const MAX_CALLER_REF = 128

/**
 * One `callers` entry of a caller-scoped tool rule: `*` (any verified caller), `user:<subject>` or
 * `group:<group>`, the name 1–128 printable ASCII characters without surrounding spaces.
 */
export const callerRefSchema = z.string().superRefine((c, ctx) => {
  if (c === '*') return
  const m = /^(user|group):(.*)$/s.exec(c)
  const name = m?.[2] ?? ''
  if (!m) ctx.addIssue({ code: 'custom', message: `"${c.slice(0, 80)}" is not a caller: write "group:<group>", "user:<subject>" or "*" (any verified caller)` })
  else if (name.length === 0 || name.length > MAX_CALLER_REF || !/^[\x20-\x7e]+$/.test(name) || name.trim() !== name) {
    ctx.addIssue({ code: 'custom', message: `"${c.slice(0, 80)}": the ${m[1]} name must be 1-${MAX_CALLER_REF} printable ASCII characters without surrounding spaces` })
  }
})

/** A caller-scoped tool rule: the glob applies only to the callers named (docs/identity.md §Caller-scoped tool rules). */
export const scopedToolRuleSchema = z
  .object({
    tool: toolGlob,
    callers: z.array(callerRefSchema).min(1, 'a caller-scoped rule must name at least one caller ("group:<group>", "user:<subject>" or "*"); for every caller write the glob alone'),
  })
  .strict()

export type ScopedToolRuleConfig = z.infer<typeof scopedToolRuleSchema>
/** One `tools.allow_list` / `deny_list` entry: a glob for every caller, or a caller-scoped rule. */
export type ToolRuleConfig = string | ScopedToolRuleConfig

/**
 * A tool rule: a glob string, or `{tool, callers}`. Parsed by the shape given, so an error names
 * the field of the entry that is wrong rather than "Invalid input".
 */
export const toolRuleSchema: z.ZodType<ToolRuleConfig, z.ZodTypeDef, unknown> = z.unknown().transform((v, ctx): ToolRuleConfig => {
  if (typeof v !== 'string' && (typeof v !== 'object' || v === null || Array.isArray(v))) {
    ctx.addIssue({ code: 'custom', message: 'expected a tool glob (e.g. "fetch_*") or a caller-scoped rule {tool: "<glob>", callers: ["group:<group>" | "user:<subject>" | "*"]}' })
    return z.NEVER
  }
  const r = typeof v === 'string' ? toolGlob.safeParse(v) : scopedToolRuleSchema.safeParse(v)
  if (r.success) return r.data
  for (const i of r.error.issues) ctx.addIssue(i)
  return z.NEVER
})

export const toolsSchema = z
  .object({
    allow_list: z.array(toolRuleSchema).default([]),
    deny_list: z.array(toolRuleSchema).default([]),
    expected_tools: z.array(z.string()).optional(),
    schema_drift_alert: bool(z.boolean()).default(true),
    max_count: num(z.number().int().positive()).optional(),
    /**
     * Tool-definition pins given in the profile: tool name → `sha256:<hex>` digest of name,
     * description, inputSchema and annotations (policy/tool-digest.ts). Pins given here win over
     * those learnt on first sight and persisted under the sidecar's data_dir.
     */
    pins: z.record(z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" and 64 lowercase hex digits')).default({}),
  })
  .strict()

export const argumentsSchema = z
  .object({
    /** Detectors run over tool-call arguments (policy/secret-patterns.ts); an unknown name is a load error. */
    secret_patterns: z
      .array(z.string().refine((n) => (SECRET_PATTERN_NAMES as readonly string[]).includes(n), (n) => ({ message: `unknown secret pattern "${n}" (known: ${SECRET_PATTERN_NAMES.join(', ')})` })))
      .default([]),
    max_payload_bytes: num(z.number().int().positive()).default(262144),
  })
  .strict()

const fsPath = z.string().min(1).refine((p) => !p.includes('\0'), 'a path may not contain NUL')

/**
 * What a subprocess provider sees of the host's files under `mcp-hangar up` (isolation `netns`),
 * besides the system directories and what its command names: paths exposed read-only and
 * read-write, at the same place (relative paths against the current directory).
 */
export const filesystemSchema = z
  .object({
    read_paths: z.array(fsPath).default([]),
    write_paths: z.array(fsPath).default([]),
  })
  .strict()

/** The `capabilities` block. */
export const capabilitiesSchema = z
  .object({
    /** `alert` allows and signals; `block` denies the act; `quarantine` denies and quarantines. Default `block`. */
    enforcement_mode: z.enum(['alert', 'block', 'quarantine']).default('block'),
    network: networkSchema.default({}),
    tools: toolsSchema.default({}),
    arguments: argumentsSchema.default({}),
    filesystem: filesystemSchema.default({}),
  })
  .strict()

export type EgressRuleConfig = z.infer<typeof egressRuleSchema>
export type NetworkConfig = z.infer<typeof networkSchema>
export type CapabilitiesConfig = z.infer<typeof capabilitiesSchema>
