/**
 * `mcp-hangar profile suggest` (docs/baseline.md §Suggesting a profile): the tightest capability profile that still lets a
 * provider do what its baseline (policy/baseline-schema.ts) recorded, as a `capabilities` object
 * and as YAML whose comments carry the evidence for every rule. Pure apart from loading the
 * `yaml` and `tldts` libraries for the call (core/transient-module.ts).
 *
 * Rules, in order (docs/baseline.md "Suggesting a profile"):
 * - Only what happened counts: egress records with `allowed + alerted > 0` (suggest-diff.ts
 *   `isCounted`). Blocked- or quarantined-only records are listed in a trailing comment, never
 *   as rules.
 * - One rule per (destination, port, rule protocol), `port` always written. Rule protocol from
 *   the record: `http` → http, `https` → https, `tcp` → tcp; a CONNECT `tunnel` by what its
 *   tunnels carried: only TLS → https, only HTTP → http, anything else → tcp, TLS and HTTP →
 *   any, nothing recorded → https on 443, else tcp. A tunnel uses the first rule matching its
 *   host and port (policy/egress.ts), so when a CONNECT destination also needs another protocol
 *   on the same port the needs are unified into one tcp (if any needs tcp) or any rule.
 * - tcp forwards (policy/egress-policy.ts `tcpForwardRules`) listen on one port per destination and never
 *   on the sidecar's own default ports (53, 80, 443, 3128, 9901): a CONNECT-only tcp need on such
 *   a port, or sharing its port with another host, gets protocol `any` instead (CONNECT works
 *   the same; no forward is opened).
 * - Host names: exact rules, except that ≥ `globThreshold` distinct subdomains of one registrable
 *   domain (tldts `getDomain` with private domains: `a.github.io` and `b.github.io` are different
 *   owners) on the same port and protocol become one `*.<parent>` rule, `<parent>` the deepest
 *   common parent that still covers `globThreshold` of them (never shallower than the registrable
 *   domain; remaining hosts are grouped again or stay exact). Never over a public suffix (ICANN
 *   or private), never for tcp rules (a tcp forward needs an exact host), and every glob must
 *   compile with `compileHostGlob`. The apex stays exact.
 * - IP literals → `cidr: ip/32` or `/128`. A host dialled at an address outside the public
 *   internet (policy/address-class.ts: private, cgnat, benchmarking, …) also gets a `cidr` rule for
 *   that address on the same port and protocol: `decideAddresses` refuses it otherwise. A
 *   loopback address sets `loopback_allowed: true` instead.
 * - The suggestion is checked with suggest-diff.ts `checkStillWorks` (the real decision
 *   functions); a host a glob breaks (DNS tunnelling heuristic, rule order) is taken out of the
 *   glob and given its own rule, and the check runs again.
 * - DNS: `dns_allowed` when any name was queried or any host connected to. Names queried but
 *   denied by `decideDnsName` (never connected to) are listed in a comment and the notes.
 * - Tools: `expected_tools` every listed tool; `allow_list` every called tool (names holding a
 *   glob character `*` or `?` are left out: the tool-glob syntax has no escape); no tool called →
 *   `deny_list: ["*"]` (an empty allow list allows every tool); `pins` the digest of each tool
 *   listed with exactly one definition.
 * - `enforcement_mode: block`, every secret pattern, the default `max_payload_bytes`.
 * Output is deterministic: exact hosts, then globs (deepest first), then cidr rules, each sorted
 * by destination, port and protocol.
 */
import { domainToUnicode } from 'node:url'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { loadTransient, releaseTransient } from '../core/transient-module.js'
import { ADDRESS_CLASS_TEXT, classifyAddress } from '../policy/address-class.js'
import { compileHostGlob } from '../policy/glob.js'
import { parseTarget } from '../policy/host.js'
import { ipv4ToInt, ipv6Words, parseIpLiteral } from '../policy/ip.js'
import { compilePolicy } from '../policy/egress-policy.js'
import { decideDnsName } from '../policy/dns.js'
import type { AddressClass, IpAddress, RuleProtocol } from '../policy/egress-types.js'
import { SECRET_PATTERN_NAMES } from '../policy/secret-patterns.js'
import type { Baseline, EgressRecord, ToolRecord } from '../policy/baseline-schema.js'
import { destinationOf, formatBytes, formatCallRate, formatWindow, printable, protocolOf } from './baseline/table.js'
import { capabilitiesSchema, type CapabilitiesConfig, type EgressRuleConfig, type ToolRuleConfig } from '../policy/capabilities.js'
import { ruleGlob } from '../policy/tool-policy.js'
import { checkStillWorks, countedAttempts, type StillWorksFailure } from './suggest-diff.js'
import { chooseGlobs, labels } from './suggest-globs.js'
import { collectNeeds, hasTunnel, PROTOCOL_ORDER, type Need } from './suggest-needs.js'

export { chooseGlobs }

/** Subdomains of one registrable domain (same port and protocol) from which a `*.` glob is suggested. */
export const DEFAULT_GLOB_THRESHOLD = 3

/** Options of {@link suggestProfile}. */
export interface SuggestOptions {
  /** Distinct subdomains that make a glob; an integer ≥ 2. Default {@link DEFAULT_GLOB_THRESHOLD}. */
  globThreshold?: number
}

/** The result of {@link suggestProfile}. */
export interface SuggestedProfile {
  /** The `capabilities` block, every field written (what the YAML holds, before `${` escaping). */
  profile: CapabilitiesConfig
  /** A profile file (`description:` + `capabilities:`) with evidence comments; loads with `loadProfile`. */
  yaml: string
  /** What the reader should know: incomplete baseline, names that block mode will deny, tools left out. */
  notes: string[]
}

type Yaml = typeof import('yaml')
type Tldts = typeof import('tldts')

/** A host name dialled at an address outside the public internet: its cidr rule's reason. */
interface Companion {
  host: string
  ip: string
  cls: AddressClass
}

/** `db.internal, db2.internal resolved to 10.1.2.3 (private): a host rule alone is refused after resolution`. */
function companionText(via: readonly Companion[]): string[] {
  const byIp = new Map<string, Set<string>>()
  for (const c of via) byIp.set(`${c.ip} (${c.cls})`, (byIp.get(`${c.ip} (${c.cls})`) ?? new Set()).add(hostText(c.host)))
  return [...byIp].map(([ip, hosts]) => `${[...hosts].sort().join(', ')} resolved to ${ip}: a host rule alone is refused after resolution`)
}

/** A suggested egress rule with what its comment says. */
interface Rule {
  config: EgressRuleConfig & { port: number; protocol: RuleProtocol }
  /** Sort group: 0 exact host, 1 glob, 2 cidr. */
  group: 0 | 1 | 2
  comment: string[]
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function ipSortKey(a: IpAddress): string {
  if (a.family === 4) return `4${ipv4ToInt(a.ip).toString(16).padStart(8, '0')}`
  return `6${(ipv6Words(a.ip) ?? []).map((w) => w.toString(16).padStart(4, '0')).join('')}`
}

/** `a.x.com` or `xn--mnchen-3ya.de (münchen.de)`. */
function hostText(h: string): string {
  if (!h.includes('xn--')) return h
  const u = domainToUnicode(h)
  return u && u !== h ? `${h} (${u})` : h
}

/** `14 requests via transparent_http, 2026-11-22T10:00:01Z … 10:04:55Z, 3.2 KiB up / 120 KiB down`, and more when there is more. */
function evidence(records: readonly EgressRecord[], withAddresses = true): string {
  const sum = (f: (r: EgressRecord) => number) => records.reduce((n, r) => n + f(r), 0)
  const count = sum((r) => r.count)
  const noun = records.every((r) => r.protocol === 'http') ? 'request' : records.every((r) => r.protocol !== 'http') ? 'connection' : 'attempt'
  const via = new Map<string, number>()
  for (const r of records) for (const [k, v] of Object.entries(r.via)) via.set(k, (via.get(k) ?? 0) + v)
  const vias = [...via.keys()].sort()
  const viaText = vias.length === 1 ? vias[0] : vias.map((k) => `${k} (${via.get(k)})`).join(', ')
  const first = records.map((r) => r.first_seen).sort(byText)[0]!
  const last = records.map((r) => r.last_seen).sort(byText).at(-1)!
  const parts = [`${count} ${noun}${count === 1 ? '' : 's'}${viaText ? ` via ${viaText}` : ''}`, formatWindow(first, last), `${formatBytes(sum((r) => r.bytes_up))} up / ${formatBytes(sum((r) => r.bytes_down))} down`]
  const allowed = sum((r) => r.actions.allowed ?? 0)
  const alerted = sum((r) => r.actions.alerted ?? 0)
  const denied = sum((r) => (r.actions.blocked ?? 0) + (r.actions.quarantined ?? 0))
  if (alerted || denied) parts.push(`${allowed} allowed, ${alerted} alerted${denied ? `, ${denied} blocked` : ''}`)
  const errors = sum((r) => r.errors)
  if (errors) parts.push(`${errors} failed to resolve or connect`)
  const content = new Map<string, number>()
  for (const r of records) for (const [k, v] of Object.entries(r.content ?? {})) content.set(k, (content.get(k) ?? 0) + v)
  if (content.size) parts.push(`tunnels carried ${[...content.keys()].sort().map((k) => `${k} ${content.get(k)}`).join(', ')}`)
  if (withAddresses) {
    const addrs = [...new Set(records.flatMap((r) => r.addresses.map((a) => a.ip)))]
    if (addrs.length) parts.push(`dialled ${addrs.slice(0, 4).join(', ')}${addrs.length > 4 ? ` +${addrs.length - 4} more` : ''}`)
  }
  return parts.join(', ')
}

function toolEvidence(t: ToolRecord): string {
  const parts = [t.listed ? `listed ${t.listed}×` : 'never listed']
  parts.push(t.calls ? `called ${t.calls}× (${t.errors} failed, ${t.refused} refused)` : `never called${t.refused ? ` (${t.refused} refused)` : ''}`)
  parts.push(formatWindow(t.first_seen, t.last_seen))
  if (t.argument_keys.length) parts.push(`arguments: ${t.argument_keys.join(', ')}`)
  return printable(parts.join(', '))
}

/** `${VAR}` in a value would be substituted by the profile loader: write it as `$${VAR}` (a literal). */
function escapeEnvRefs(s: string): string {
  return s.replace(/\$(?=\{[A-Za-z_][A-Za-z0-9_]*\})/g, '$$$$')
}

interface Built {
  rules: Rule[]
  loopback: string[]
  /** Hosts covered by a glob. */
  globbed: Set<string>
}

/** Builds the egress rules from the needs; hosts in `noGlob` always get exact rules. */
function buildRules(needs: Need[], threshold: number, noGlob: ReadonlySet<string>, tldts: Tldts): Built {
  const rules: Rule[] = []
  const globbed = new Set<string>()
  const nameNeeds = needs.filter((n) => n.kind === 'name')
  const groups = new Map<string, { domain: string; port: number; protocol: RuleProtocol; needs: Need[] }>()
  const exact: Need[] = []
  for (const n of nameNeeds) {
    const domain = n.protocol === 'tcp' || noGlob.has(n.target) ? null : tldts.getDomain(n.target, { allowPrivateDomains: true })
    if (!domain || domain === n.target || !n.target.endsWith(`.${domain}`)) {
      exact.push(n)
      continue
    }
    const k = `${domain}|${n.port}|${n.protocol}`
    const g = groups.get(k) ?? { domain, port: n.port, protocol: n.protocol, needs: [] }
    g.needs.push(n)
    groups.set(k, g)
  }
  const valid = (parent: string): boolean => {
    if (tldts.getPublicSuffix(parent, { allowPrivateDomains: true }) === parent) return false
    try {
      return compileHostGlob(`*.${parent}`).source === `*.${parent}`
    } catch {
      return false
    }
  }
  for (const g of groups.values()) {
    const byHost = new Map(g.needs.map((n) => [n.target, n]))
    const chosen = chooseGlobs(g.domain, [...byHost.keys()], threshold, valid)
    for (const h of chosen.exact) exact.push(byHost.get(h)!)
    for (const glob of chosen.globs) {
      const members = glob.hosts.map((h) => byHost.get(h)!)
      for (const h of glob.hosts) globbed.add(h)
      const records = members.flatMap((m) => m.records)
      rules.push({
        config: { host: `*.${glob.parent}`, port: g.port, protocol: g.protocol },
        group: 1,
        comment: [
          `${glob.hosts.length} subdomains of ${hostText(glob.parent)}: ${glob.hosts.map((h) => `${hostText(h)} (${members.find((m) => m.target === h)!.records.reduce((s, r) => s + r.count, 0)})`).join(', ')}`,
          evidence(records),
          ...[...new Set(members.flatMap((m) => m.why))],
        ],
      })
    }
  }
  for (const n of exact) {
    rules.push({ config: { host: n.target, port: n.port, protocol: n.protocol }, group: 0, comment: [`${hostText(n.target)}: ${evidence(n.records)}`, ...n.why] })
  }

  // cidr rules: IP literals, and the non-global addresses host names were dialled at.
  const loopback: string[] = []
  const cidrs = new Map<string, { address: IpAddress; port: number; protocols: Map<RuleProtocol, { direct: Need[]; via: Companion[] }> }>()
  const cidrEntry = (a: IpAddress, port: number, protocol: RuleProtocol) => {
    const k = `${a.ip}|${port}`
    const e = cidrs.get(k) ?? { address: a, port, protocols: new Map() }
    cidrs.set(k, e)
    const p = e.protocols.get(protocol) ?? { direct: [], via: [] }
    e.protocols.set(protocol, p)
    return p
  }
  for (const n of needs) {
    if (n.kind === 'ip') {
      cidrEntry(n.address!, n.port, n.protocol).direct.push(n)
      continue
    }
    const seen = new Set<string>()
    for (const r of n.records) {
      for (const a of r.addresses) {
        const addr = parseIpLiteral(a.ip)
        if (!addr || seen.has(addr.ip)) continue
        seen.add(addr.ip)
        const cls: AddressClass = classifyAddress(addr)
        if (cls === 'global') continue
        if (cls === 'loopback') {
          loopback.push(`${hostText(n.target)} resolved to ${addr.ip} (loopback)`)
          continue
        }
        cidrEntry(addr, n.port, n.protocol).via.push({ host: n.target, ip: addr.ip, cls })
      }
    }
  }
  for (const e of cidrs.values()) {
    const len = e.address.family === 4 ? 32 : 128
    const entries = [...e.protocols]
    const tunnel = entries.some(([, p]) => p.direct.some(hasTunnel))
    const protos = entries.map(([proto]) => proto).sort((a, b) => PROTOCOL_ORDER[a] - PROTOCOL_ORDER[b])
    const merged: Array<[RuleProtocol, { direct: Need[]; via: Companion[] }, string[]]> = tunnel && protos.length > 1
      ? [[protos.includes('tcp') ? 'tcp' : 'any', { direct: entries.flatMap(([, p]) => p.direct), via: entries.flatMap(([, p]) => p.via) },
        [`CONNECT tunnels and other attempts on this address and port need ${protos.join(' and ')}: one rule (a tunnel uses the first rule matching its address and port)`]]]
      : entries.map(([proto, p]) => [proto, p, []])
    for (const [protocol, p, why] of merged) {
      const records = p.direct.flatMap((n) => n.records)
      const comment = [
        ...(records.length ? [`${e.address.ip}: ${evidence(records, false)}`] : []),
        ...companionText(p.via),
        ...[...new Set(p.direct.flatMap((n) => n.why))],
        ...why,
      ]
      rules.push({ config: { cidr: `${e.address.ip}/${len}`, port: e.port, protocol }, group: 2, comment })
    }
  }

  const cidrKey = new Map<string, string>()
  for (const e of cidrs.values()) cidrKey.set(`${e.address.ip}/${e.address.family === 4 ? 32 : 128}`, ipSortKey(e.address))
  rules.sort((a, b) => {
    if (a.group !== b.group) return a.group - b.group
    if (a.group === 1) {
      const d = labels(b.config.host!) - labels(a.config.host!)
      if (d) return d
    }
    const ka = a.group === 2 ? cidrKey.get(a.config.cidr!)! : a.config.host!
    const kb = b.group === 2 ? cidrKey.get(b.config.cidr!)! : b.config.host!
    return byText(ka, kb) || a.config.port - b.config.port || PROTOCOL_ORDER[a.config.protocol] - PROTOCOL_ORDER[b.config.protocol]
  })
  return { rules, loopback: [...new Set(loopback)].sort(), globbed }
}

interface ToolPart {
  tools: CapabilitiesConfig['tools']
  comments: { expected: Map<string, string>; allow: Map<string, string>; deny?: string; pins?: string }
}

function suggestTools(b: Baseline, notes: string[]): ToolPart {
  const tools = [...b.tools].sort((x, y) => byText(x.name, y.name))
  const expected = tools.filter((t) => t.listed > 0)
  const called = tools.filter((t) => t.calls > 0)
  const allow: ToolRecord[] = []
  for (const t of called) {
    if (t.name.length === 0 || /[*?]/.test(t.name)) {
      notes.push(`tool "${printable(t.name)}" was called but its name ${t.name.length ? 'holds a glob character (* or ?), and tool globs have no escape' : 'is empty'}: not in allow_list (add it by hand if you accept what it matches)`)
      continue
    }
    allow.push(t)
    if (t.listed === 0) notes.push(`tool "${printable(t.name)}" was called but never listed: allowed, not in expected_tools`)
  }
  const pins: Record<string, string> = {}
  const drift: string[] = []
  for (const t of expected) {
    if (t.digests.length === 1) Object.defineProperty(pins, t.name, { value: t.digests[0]!, enumerable: true, writable: true, configurable: true })
    else if (t.digests.length > 1) drift.push(t.name)
  }
  if (drift.length) notes.push(`not pinned, their definitions changed while recording: ${drift.map(printable).join(', ')}`)
  const comments: ToolPart['comments'] = {
    expected: new Map(expected.map((t) => [t.name, `${toolEvidence(t)}${t.calls === 0 ? '; never called: not in allow_list' : ''}${t.digests.length > 1 ? `; ${t.digests.length} definitions seen: not pinned` : ''}`])),
    allow: new Map(allow.map((t) => [t.name, `${t.calls} call${t.calls === 1 ? '' : 's'}, ${t.errors} failed`])),
  }
  if (drift.length) comments.pins = `not pinned (definitions changed while recording, drift): ${drift.map((n) => `${printable(n)} (${b.tools.find((t) => t.name === n)!.digests.length} definitions)`).join(', ')}`
  let deny: string[] = []
  if (allow.length === 0) {
    deny = ['*']
    comments.deny = 'no tool was called while recording: every tool is denied (an empty allow_list would allow all)'
    notes.push('no tool was called while recording: the profile denies every tool (deny_list: ["*"])')
  }
  if (b.tools.length === 0) notes.push('no tool was listed or called while recording: expected_tools is empty, so every tool the server offers is undeclared')
  return {
    tools: { allow_list: allow.map((t) => t.name), deny_list: deny, expected_tools: expected.map((t) => t.name), schema_drift_alert: true, pins },
    comments,
  }
}

/**
 * Suggests the tightest profile that keeps the recorded workload working; see the file comment
 * for every rule. The result is checked with suggest-diff.ts `checkStillWorks`; anything that
 * still fails (which the rules above should rule out) is reported in `notes`.
 * @throws HangarError `HANGAR_USAGE` when `globThreshold` is not an integer ≥ 2
 */
export function suggestProfile(baseline: Baseline, opts: SuggestOptions = {}): SuggestedProfile {
  const threshold = opts.globThreshold ?? DEFAULT_GLOB_THRESHOLD
  if (!Number.isInteger(threshold) || threshold < 2) throw new HangarError(ERROR_CODES.USAGE, `the glob threshold must be an integer ≥ 2, got ${threshold}`)
  try {
    return suggestOnce(baseline, threshold, loadTransient<Tldts>('tldts'), loadTransient<Yaml>('yaml'))
  } finally {
    releaseTransient('yaml', 'tldts')
  }
}

function suggestOnce(b: Baseline, threshold: number, tldts: Tldts, yaml: Yaml): SuggestedProfile {
  const notes: string[] = []
  const d = b.dropped
  if (d.destinations + d.dns_names + d.tools > 0) {
    notes.push(`the baseline is incomplete: ${d.destinations} destination, ${d.dns_names} DNS name and ${d.tools} tool events did not fit its limits (sidecar.baseline.max_*); what they did is not in this profile`)
  }
  const { needs, denied } = collectNeeds(b, notes)
  const tools = suggestTools(b, notes)
  const hasNames = needs.some((n) => n.kind === 'name')
  const dnsAllowed = b.dns.length > 0 || hasNames

  const noGlob = new Set<string>()
  let built: Built
  let profile: CapabilitiesConfig
  let failures: StillWorksFailure[]
  for (;;) {
    built = buildRules(needs, threshold, noGlob, tldts)
    profile = {
      enforcement_mode: 'block',
      network: { dns_allowed: dnsAllowed, dns_resolve_any: false, loopback_allowed: built.loopback.length > 0, egress: built.rules.map((r) => r.config) },
      tools: tools.tools,
      arguments: { secret_patterns: [...SECRET_PATTERN_NAMES], max_payload_bytes: capabilitiesSchema.parse({}).arguments.max_payload_bytes },
      filesystem: { read_paths: [], write_paths: [] },
    }
    failures = checkStillWorks(b, profile)
    // A host a glob breaks (the DNS tunnelling heuristic, a tunnel meeting another rule first) gets its own rule.
    const failedHosts = failures.map((f) => (f.host === undefined ? undefined : normalHost(f.host))).filter((h): h is string => h !== undefined && built.globbed.has(h) && !noGlob.has(h))
    if (failedHosts.length === 0) break
    for (const h of failedHosts) noGlob.add(h)
  }
  // Tools left out on purpose (a glob character in the name) already have their note.
  for (const f of failures) if (f.tool === undefined || tools.tools.allow_list.includes(f.tool)) notes.push(`still denied under the suggestion: ${f.what}: ${f.reason}`)
  if (built.loopback.length) notes.push(`loopback_allowed: true because ${built.loopback.join('; ')}`)
  for (const r of built.rules) {
    if (r.config.cidr && classifyAddress(parseIpLiteral(r.config.cidr.slice(0, r.config.cidr.lastIndexOf('/')))!) === 'metadata') {
      notes.push(`${r.config.cidr} is ${ADDRESS_CLASS_TEXT.metadata}: review before allowing it`)
    }
  }

  // DNS names that were queried and that block mode will deny.
  const policy = compilePolicy(b.provider, profile)
  const connected = new Set(needs.filter((n) => n.kind === 'name').map((n) => n.target))
  const unanswered: string[] = []
  for (const r of [...b.dns].sort((x, y) => byText(x.name, y.name))) {
    const count = countedAttempts(r.actions)
    if (count === 0) continue
    const dd = decideDnsName(r.name, policy, { quarantined: false })
    if (dd.verdict === 'deny' && !connected.has(dd.name)) unanswered.push(`${printable(r.name)}: ${count} quer${count === 1 ? 'y' : 'ies'} (${dd.reason})`)
  }
  if (unanswered.length) {
    notes.push(`${unanswered.length} DNS name${unanswered.length === 1 ? ' was' : 's were'} queried but never connected to: block mode denies ${unanswered.length === 1 ? 'it' : 'them'} (dns_denied; answered NXDOMAIN by default): ${unanswered.map((u) => u.slice(0, u.indexOf(':'))).join(', ')}`)
  }

  const text = render(yaml, b, profile, built, tools, denied, unanswered)
  return { profile, yaml: text, notes }
}

function normalHost(h: string): string {
  const p = parseTarget(h)
  return p.ok ? p.target.host : h
}

function comment(lines: readonly string[]): string {
  return lines.map((l) => ` ${printable(l)}`).join('\n')
}

/** A tool rule with `${` escaped in its glob and callers (see {@link escapeEnvRefs}). */
function escapeRule(r: ToolRuleConfig): ToolRuleConfig {
  return typeof r === 'string' ? escapeEnvRefs(r) : { tool: escapeEnvRefs(r.tool), callers: r.callers.map(escapeEnvRefs) }
}

/** The profile file: header comment, `description`, `capabilities` with evidence comments, trailing comment. */
function render(yaml: Yaml, b: Baseline, profile: CapabilitiesConfig, built: Built, tools: ToolPart, denied: EgressRecord[], unanswered: string[]): string {
  const escaped = {
    ...profile,
    tools: {
      ...profile.tools,
      allow_list: profile.tools.allow_list.map(escapeRule),
      deny_list: profile.tools.deny_list.map(escapeRule),
      expected_tools: profile.tools.expected_tools!.map(escapeEnvRefs),
    },
  }
  const doc = new yaml.Document({ description: `suggested from the baseline of ${b.provider}, ${formatWindow(b.started, b.updated)}`, capabilities: escaped })
  const d = b.dropped
  const incomplete = d.destinations + d.dns_names + d.tools > 0
  doc.commentBefore = comment([
    `Suggested by \`mcp-hangar profile suggest\` from the baseline of provider "${b.provider}".`,
    `Baseline: ${formatWindow(b.started, b.updated)}, ${b.events} events (revision ${b.revision}), recorded in ${b.enforcement_mode} mode.`,
    ...(b.enforcement_mode === 'alert' ? [] : [`Recorded in ${b.enforcement_mode} mode: what the profile of that time denied never happened and is not here.`]),
    incomplete
      ? `WARNING: the baseline is incomplete: ${d.destinations} destination, ${d.dns_names} DNS name and ${d.tools} tool events did not fit its limits.`
      : 'Dropped: none (every event fitted the recorder\'s limits).',
    `Call rate: ${formatCallRate(b)} (a hint for a rate limit; this profile sets none).`,
    'Each rule is what the provider did while recording, with its evidence: review before use.',
  ])

  const at = <T>(path: Array<string | number>): T => doc.getIn(path, true) as T
  type Node = { commentBefore?: string | null; comment?: string | null; flow?: boolean }
  type Coll = { items: Array<Node & { key?: Node & { value?: unknown }; value?: Node & { value?: unknown } }> }
  const key = (path: string[], name: string): Node | undefined => at<Coll>(path).items.find((p) => p.key?.value === name)?.key

  const egress = at<Coll>(['capabilities', 'network', 'egress'])
  egress.items.forEach((item, i) => {
    item.flow = true
    item.commentBefore = comment(built.rules[i]!.comment)
  })
  const net = ['capabilities', 'network']
  key(net, 'dns_allowed')!.commentBefore = comment([
    profile.network.dns_allowed ? `${b.dns.length} name${b.dns.length === 1 ? '' : 's'} queried; host names connected to resolve through the sidecar` : 'no DNS query and no host name while recording: DNS is refused',
  ])
  if (built.loopback.length) key(net, 'loopback_allowed')!.commentBefore = comment([`${built.loopback.join('; ')}: loopback is always denied otherwise`])

  const toolsPath = ['capabilities', 'tools']
  const byName = (list: Coll, names: readonly string[], comments: Map<string, string>) =>
    list.items.forEach((item, i) => {
      const c = comments.get(names[i]!)
      if (c) item.commentBefore = comment([c])
    })
  byName(at<Coll>([...toolsPath, 'expected_tools']), profile.tools.expected_tools!, tools.comments.expected)
  byName(at<Coll>([...toolsPath, 'allow_list']), profile.tools.allow_list.map(ruleGlob), tools.comments.allow)
  if (tools.comments.deny) key(toolsPath, 'deny_list')!.commentBefore = comment([tools.comments.deny])
  key(toolsPath, 'expected_tools')!.commentBefore = comment(['every tool the server listed: a new one is undeclared_tool, hidden until approved'])
  if (tools.comments.pins) key(toolsPath, 'pins')!.commentBefore = comment([tools.comments.pins])
  key(['capabilities', 'arguments'], 'secret_patterns')!.commentBefore = comment(['every detector: a secret in tool-call arguments is refused'])

  const trailer: string[] = []
  const deniedEgress = [...denied].sort((x, y) => byText(destinationOf(x), destinationOf(y)) || byText(x.protocol, y.protocol))
  if (deniedEgress.length) {
    trailer.push('Seen but denied, not included:')
    for (const r of deniedEgress) {
      const a = r.actions
      trailer.push(`  ${destinationOf(r)} ${protocolOf(r)}: ${[a.blocked ? `${a.blocked} blocked` : '', a.quarantined ? `${a.quarantined} quarantined` : ''].filter(Boolean).join(', ') || `${r.count} attempts`}, ${formatWindow(r.first_seen, r.last_seen)}`)
    }
  }
  const deniedDns = b.dns.filter((r) => countedAttempts(r.actions) === 0).sort((x, y) => byText(x.name, y.name))
  if (deniedDns.length) {
    trailer.push('DNS names seen but denied, not included:')
    for (const r of deniedDns) trailer.push(`  ${r.name}: ${r.count} quer${r.count === 1 ? 'y' : 'ies'} denied`)
  }
  if (unanswered.length) {
    trailer.push('DNS names queried, never connected to (not included: block mode denies them, NXDOMAIN by default):')
    for (const u of unanswered) trailer.push(`  ${u}`)
  }
  if (trailer.length) doc.comment = comment(trailer)
  return doc.toString({ lineWidth: 0 })
}
