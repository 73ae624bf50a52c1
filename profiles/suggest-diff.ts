/**
 * A baseline (what a provider did, policy/baseline-schema.ts) against a capability profile (what
 * it may do): which rules were never used, and which recorded acts the profile would deny
 * (`mcp-hangar profile suggest --diff PROFILE`, docs/baseline.md). Also the "still works" check
 * `profile suggest` runs on its own suggestion ({@link checkStillWorks}).
 *
 * Pure. Every verdict comes from the real decision functions the sidecar runs: `compilePolicy` +
 * `decideRequest` / `decideTunnelContent` / `decideAddresses` (policy/egress.ts), `decideDnsName`
 * (policy/dns.ts), `compileToolPolicy` + `decideTool` and `undeclaredTools`
 * (policy/tool-policy.ts). Nothing here matches hosts, ranges or globs itself.
 *
 * What counts as "happened": an egress record or DNS name with `actions.allowed + actions.alerted
 * > 0` (blocked and quarantined attempts never worked, so no profile has to keep them working); a
 * tool with `calls > 0` (called) or `listed > 0` (offered).
 */
import type { z } from 'zod'
import { decideAddresses, decideRequest, decideTunnelContent, type TunnelContent } from '../policy/egress.js'
import { decideDnsName } from '../policy/dns.js'
import { ADDRESS_CLASS_TEXT } from '../policy/address-class.js'
import { parseIpLiteral } from '../policy/ip.js'
import { compilePolicy } from '../policy/egress-policy.js'
import type { Decision, EgressPolicy, EgressRule, EgressVia, QuarantineState, IpAddress, Target } from '../policy/egress-types.js'
import { compileToolPolicy, decideTool, ruleText as toolRuleText, undeclaredTools } from '../policy/tool-policy.js'
import type { Baseline, EgressRecord } from '../policy/baseline-schema.js'
import { destinationOf, printable, protocolOf } from './baseline/table.js'
import { capabilitiesSchema, type CapabilitiesConfig } from '../policy/capabilities.js'

/** A capabilities block, as written (defaults not applied) or as parsed. */
export type CapabilitiesInput = z.input<typeof capabilitiesSchema>

/** One recorded act the profile would deny. */
export interface WouldDeny {
  /** `api.x.com:443 tunnel/tls`, `dns api.x.com`, `tool fetch_html`, `tool fetch_html (listed)`. */
  what: string
  /** The decision's reason (`no egress rule allows …`, `tool "x" matches no glob of tools.allow_list`). */
  reason: string
  /** Times it happened while recording: allowed + alerted attempts or queries, calls, listings. */
  count: number
}

/** One rule, allow-list entry or expected tool nothing in the baseline used. */
export interface UnusedRule {
  /** Where it is: `egress[3]`, `tools.allow_list[1]`, `tools.expected_tools[0]`. */
  rule: string
  /** The rule in words: `*.x.com port 443 https`, `cidr 10.1.2.3/32 port 5432 tcp`, `fetch_*`. */
  text: string
}

/** The result of {@link diffProfile}. */
export interface ProfileDiff {
  /** Allowed but never used. */
  unused: UnusedRule[]
  /** Used but would be denied. */
  wouldDeny: WouldDeny[]
}

/** The verdict on one counted egress record (see {@link checkEgress}). */
export interface EgressCheck {
  record: EgressRecord
  /** `host:port proto` as in {@link WouldDeny.what}. */
  what: string
  /** allowed + alerted attempts. */
  count: number
  /** Null when every step allows; else the first denial's reason. */
  denied: string | null
  /** Rule ids that carried it: the request's rule, and each cidr rule that kept a dialled address. */
  rules: string[]
}

const STATE: QuarantineState = { quarantined: false }

/** allowed + alerted: the attempts (or queries) that went through while recording. */
export function countedAttempts(actions: Readonly<Record<string, number>>): number {
  return (actions.allowed ?? 0) + (actions.alerted ?? 0)
}

/** True when an egress record happened: it went through at least once, on a real port (1–65535). */
export function isCounted(r: EgressRecord): boolean {
  return r.port >= 1 && countedAttempts(r.actions) > 0
}

/** `(ip, class)` pairs of a record's dialled addresses that parse as IPs. */
function dialled(r: EgressRecord): IpAddress[] {
  const out: IpAddress[] = []
  for (const a of r.addresses) {
    const p = parseIpLiteral(a.ip)
    if (p && !out.some((x) => x.ip === p.ip)) out.push(p)
  }
  return out
}

function tunnelContents(r: EgressRecord, target: Target): TunnelContent[] {
  if (r.protocol !== 'tunnel' || !r.content) return []
  const out: TunnelContent[] = []
  const name = target.kind === 'name' ? target.host : null
  if ((r.content.tls ?? 0) > 0) out.push({ kind: 'tls', sni: name })
  if ((r.content.http ?? 0) > 0) out.push({ kind: 'http', host: name })
  if ((r.content.other ?? 0) > 0) out.push({ kind: 'other' })
  return out
}

function viaOf(r: EgressRecord): EgressVia {
  const v = Object.keys(r.via).sort()[0]
  return (v ?? (r.protocol === 'tcp' ? 'tcp_forward' : 'connect')) as EgressVia
}

/**
 * Decides every counted egress record (see {@link isCounted}) under `policy`, as the sidecar
 * would: `decideRequest`; for a CONNECT record, `decideTunnelContent` for each kind of content
 * its tunnels carried; for a host name, `decideAddresses` over the addresses it was dialled at,
 * each of which must be kept (any of them may be the next DNS answer).
 */
export function checkEgress(baseline: Baseline, policy: EgressPolicy): EgressCheck[] {
  const out: EgressCheck[] = []
  const noCidr: EgressPolicy = { ...policy, rules: policy.rules.filter((r) => !r.cidr) }
  for (const r of baseline.egress) {
    if (!isCounted(r)) continue
    const what = `${destinationOf(r)} ${protocolOf(r)}`
    const check: EgressCheck = { record: r, what, count: countedAttempts(r.actions), denied: null, rules: [] }
    out.push(check)
    const d = decideRequest({ host: r.host ?? r.ip ?? '', port: r.port, protocol: r.protocol, via: viaOf(r) }, policy, STATE)
    if (d.verdict === 'deny') {
      check.denied = d.reason
      continue
    }
    check.rules.push(d.rule)
    for (const c of tunnelContents(r, d.target)) {
      const t = decideTunnelContent(d, c, r.port)
      if (t.verdict === 'deny') {
        check.denied = t.reason
        break
      }
    }
    if (check.denied !== null || d.target.kind !== 'name') continue
    const addrs = dialled(r)
    if (addrs.length === 0) continue
    const v = decideAddresses(d as Decision & { target: Target }, r.port, r.protocol, addrs, policy)
    if (v.dropped.length) {
      check.denied = `${d.target.host} was dialled at ${v.dropped.map((x) => `${x.address.ip} (${x.cls === 'self' ? "the sidecar's own endpoint" : ADDRESS_CLASS_TEXT[x.cls]})`).join(', ')}, which no cidr rule names: refused after resolution`
      continue
    }
    // The cidr rules that kept an address the default classes would drop.
    const needCidr = decideAddresses(d as Decision & { target: Target }, r.port, r.protocol, addrs, noCidr).dropped
    for (const x of needCidr) {
      const by = policy.rules.find((rule) => rule.cidr && decideAddresses(d as Decision & { target: Target }, r.port, r.protocol, [x.address], { ...noCidr, rules: [rule] }).allowed.length > 0)
      if (by && !check.rules.includes(by.id)) check.rules.push(by.id)
    }
  }
  return out
}

/** A denial that names the host, DNS name or tool concerned (see {@link checkStillWorks}). */
export interface StillWorksFailure extends WouldDeny {
  /** The host name of the destination or the DNS name, as recorded; absent for IP literals and tools. */
  host?: string
  /** The tool's name, for a tool. */
  tool?: string
}

/** DNS names queried (allowed or alerted) that `decideDnsName` denies under `policy`; `only` limits the names checked. */
export function checkDnsNames(baseline: Baseline, policy: EgressPolicy, only?: ReadonlySet<string>): StillWorksFailure[] {
  const out: StillWorksFailure[] = []
  for (const r of baseline.dns) {
    const count = countedAttempts(r.actions)
    if (count === 0 || (only && !only.has(r.name))) continue
    const d = decideDnsName(r.name, policy, STATE)
    if (d.verdict === 'deny') out.push({ what: `dns ${printable(r.name)}`, reason: d.reason, count, host: r.name })
  }
  return out
}

/**
 * Tools the profile would refuse: a called tool `decideTool` denies; a listed tool outside
 * `expected_tools` (`undeclared_tool`); a listed tool whose last definition digest differs from
 * its pin in `tools.pins` (schema drift).
 */
export function checkTools(baseline: Baseline, caps: CapabilitiesConfig): StillWorksFailure[] {
  const out: StillWorksFailure[] = []
  const policy = compileToolPolicy(caps.tools)
  const tools = [...baseline.tools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const t of tools) {
    if (t.calls === 0) continue
    const d = decideTool(t.name, policy)
    if (d.verdict === 'deny') out.push({ what: `tool ${printable(t.name)}`, reason: d.reason, count: t.calls, tool: t.name })
  }
  const listed = tools.filter((t) => t.listed > 0)
  const undeclared = new Set(undeclaredTools(listed.map((t) => t.name), caps.tools.expected_tools))
  for (const t of listed) {
    if (undeclared.has(t.name)) {
      out.push({ what: `tool ${printable(t.name)} (listed)`, reason: `tool "${printable(t.name)}" is not in tools.expected_tools: undeclared_tool, hidden until approved`, count: t.listed, tool: t.name })
      continue
    }
    const pin = Object.hasOwn(caps.tools.pins, t.name) ? caps.tools.pins[t.name] : undefined
    const last = t.digests.at(-1)
    if (pin !== undefined && last !== undefined && pin !== last) {
      out.push({ what: `tool ${printable(t.name)} (listed)`, reason: `tool "${printable(t.name)}" was last listed with definition ${last.slice(0, 19)}…, not its pin ${pin.slice(0, 19)}… in tools.pins: schema drift`, count: t.listed, tool: t.name })
    }
  }
  return out
}

/** The counted host names the provider connected to (they must also resolve through the sidecar's DNS). */
function connectedNames(baseline: Baseline): Set<string> {
  return new Set(baseline.egress.filter((r) => isCounted(r) && r.host !== undefined).map((r) => r.host!))
}

/**
 * The "still works" property of a profile for a baseline: every counted destination is allowed
 * with every address it was dialled at and every kind of tunnel content it carried; every DNS
 * name that was queried and also connected to is answered; every called tool is allowed, every
 * listed tool expected and matching its pin. Returns what breaks (empty: the profile keeps the
 * recorded workload working). Names queried but never connected to are not part of it.
 * @throws ZodError when `capabilities` is not a valid block
 */
export function checkStillWorks(baseline: Baseline, capabilities: CapabilitiesInput): StillWorksFailure[] {
  const caps = capabilitiesSchema.parse(capabilities)
  const policy = compilePolicy(baseline.provider, caps)
  return [
    ...checkEgress(baseline, policy).filter((c) => c.denied !== null).map((c) => ({ what: c.what, reason: c.denied!, count: c.count, ...(c.record.host !== undefined && { host: c.record.host }) })),
    ...checkDnsNames(baseline, policy, connectedNames(baseline)),
    ...checkTools(baseline, caps),
  ]
}

/** `api.x.com port 443 https`, `cidr 10.1.2.3/32 port 5432 tcp`, `*.x.com port any any`. */
export function ruleText(rule: EgressRule): string {
  const where = rule.host ? rule.host.source : `cidr ${rule.cidr!.source}`
  return `${where} port ${rule.port === 0 ? 'any' : rule.port} ${rule.protocol}`
}

/**
 * Compares a profile with a baseline.
 * - `unused`: egress rules no counted destination was allowed by (the request's rule, or a cidr
 *   rule that kept a dialled address); `tools.allow_list` entries no called tool was allowed by;
 *   `tools.expected_tools` names never listed.
 * - `wouldDeny`: counted destinations the profile denies (request, tunnel content or dialled
 *   addresses), DNS names queried (allowed or alerted) that `decideDnsName` denies, called tools
 *   `decideTool` denies, listed tools outside `expected_tools` or off their pin; in that order,
 *   each part sorted by `what`.
 * Decisions are made as in block mode; in alert mode the same acts would be alerted instead.
 * @throws ZodError when `capabilities` is not a valid block
 */
export function diffProfile(baseline: Baseline, capabilities: CapabilitiesInput): ProfileDiff {
  const caps = capabilitiesSchema.parse(capabilities)
  const policy = compilePolicy(baseline.provider, caps)
  const checks = checkEgress(baseline, policy)
  const used = new Set(checks.flatMap((c) => c.rules))
  const unused: UnusedRule[] = policy.rules.filter((r) => !used.has(r.id)).map((r) => ({ rule: r.id, text: ruleText(r) }))

  const tools = compileToolPolicy(caps.tools)
  const usedTools = new Set<string>()
  for (const t of baseline.tools) {
    if (t.calls === 0) continue
    const d = decideTool(t.name, tools)
    if (d.verdict === 'allow') usedTools.add(d.rule)
  }
  caps.tools.allow_list.forEach((g, i) => {
    if (!usedTools.has(`tools.allow_list[${i}]`)) unused.push({ rule: `tools.allow_list[${i}]`, text: printable(toolRuleText(g)) })
  })
  const listed = new Set(baseline.tools.filter((t) => t.listed > 0).map((t) => t.name))
  caps.tools.expected_tools?.forEach((n, i) => {
    if (!listed.has(n)) unused.push({ rule: `tools.expected_tools[${i}]`, text: printable(n) })
  })

  const byWhat = (a: WouldDeny, b: WouldDeny) => (a.what < b.what ? -1 : a.what > b.what ? 1 : 0)
  const wouldDeny: WouldDeny[] = [
    ...checks.filter((c) => c.denied !== null).map((c) => ({ what: c.what, reason: c.denied!, count: c.count })).sort(byWhat),
    ...checkDnsNames(baseline, policy).map(({ host: _host, ...w }) => w).sort(byWhat),
    ...checkTools(baseline, caps).map(({ tool: _tool, ...w }) => w),
  ]
  return { unused, wouldDeny }
}
