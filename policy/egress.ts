/**
 * Egress decisions: pure functions of (request, policy, state) → Decision (docs/egress.md §Decision order).
 * No I/O. Deny is the default verdict: every path that does not find an allowing rule denies.
 *
 * Precedence, top to bottom:
 *  1. quarantined → deny (`quarantined`)
 *  2. malformed target (non-canonical IPv4, bad IDN, bad characters) → deny (`malformed_host`)
 *  3. IP literal: a `cidr` rule with matching port/protocol allows (overrides the always-denied
 *     list); else an always-denied address → deny; else → deny (`no_matching_rule`)
 *  4. host name: the first host rule whose glob, port and protocol match allows, unless the part
 *     its wildcard leaves free looks like DNS tunnelling (`dns_tunnel_suspected`: the same shape
 *     check as the DNS forwarder's, policy/tunnel.ts, so a name gets one verdict on every path);
 *     a glob match with the wrong port or protocol gives `port_not_allowed` /
 *     `protocol_not_allowed`; else `no_matching_rule` (rule `default-deny`)
 *  5. after resolution ({@link decideAddresses}): every answer classified; answers in the
 *     always-denied set are dropped unless a cidr rule names them; none left → deny
 *     (`no_allowed_address`: the rebinding defence); self-connections always denied.
 */
import { ADDRESS_CLASS_TEXT, classifyAddress } from './address-class.js'
import { matchHost } from './glob.js'
import { parseTarget } from './host.js'
import { tunnelSuspicion } from './tunnel.js'
import type {
  AddressClass, Decision, DenyReason, EgressPolicy, EgressProtocol, EgressRequest, EgressRule,
  QuarantineState, IpAddress, RuleProtocol, Target,
} from './egress-types.js'
import type { EnforcementMode, SignalAction } from '../signals/types.js'

const DEFAULT_DENY = 'default-deny'

function deny(code: DenyReason, reason: string, rule = DEFAULT_DENY, target?: Target): Decision {
  return target ? { verdict: 'deny', code, reason, rule, target } : { verdict: 'deny', code, reason, rule }
}

/** True when a rule of protocol `rule` admits an attempt of protocol `attempt`. `tcp` and `any` admit all. */
export function protocolMatches(rule: RuleProtocol, attempt: EgressProtocol): boolean {
  if (rule === 'any' || rule === 'tcp') return true
  return attempt === rule || attempt === 'tunnel'
}

function portMatches(rule: EgressRule, port: number): boolean {
  return rule.port === 0 || rule.port === port
}

function quarantineDecision(state: QuarantineState, target?: Target): Decision {
  return deny('quarantined', `the provider is quarantined${state.quarantineReason ? `: ${state.quarantineReason}` : ''}; all egress is denied`, 'quarantine', target)
}

/** Decides an egress attempt before resolution (steps 1–4). */
export function decideRequest(req: EgressRequest, policy: EgressPolicy, state: QuarantineState): Decision {
  if (state.quarantined) return quarantineDecision(state)
  const parsed = parseTarget(req.host)
  if (!parsed.ok) return deny('malformed_host', `malformed destination: ${parsed.reason}`)
  const target = parsed.target
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) return deny('port_not_allowed', `port ${req.port} is out of range`, DEFAULT_DENY, target)

  if (target.kind === 'ip') {
    const addr = target.address
    if (isSelf(addr, req.port, policy)) return deny('self_connection', `${target.host}:${req.port} is the sidecar's own endpoint`, 'self-connection', target)
    for (const r of policy.rules) {
      if (r.cidr && r.cidr.contains(addr) && portMatches(r, req.port) && protocolMatches(r.protocol, req.protocol)) {
        return { verdict: 'allow', rule: r.id, reason: `${target.host} is in ${r.cidr.source}`, matched: r, target }
      }
    }
    const cls = classifyAddress(addr)
    if (!isAllowedClass(cls, policy)) {
      return deny('always_denied_address', `${target.host} is ${ADDRESS_CLASS_TEXT[cls]} and no cidr rule names it`, `always-denied:${cls}`, target)
    }
    return deny('no_matching_rule', `no egress rule allows the address ${target.host}:${req.port}`, DEFAULT_DENY, target)
  }

  let near: Decision | undefined
  for (const r of policy.rules) {
    if (!r.host || !matchHost(r.host, target.host)) continue
    if (!portMatches(r, req.port)) {
      near ??= deny('port_not_allowed', `port ${req.port} is not allowed for ${target.host} (${r.id} allows port ${r.port})`, r.id, target)
      continue
    }
    if (!protocolMatches(r.protocol, req.protocol)) {
      near ??= deny('protocol_not_allowed', `${req.protocol} is not allowed for ${target.host}:${req.port} (${r.id} allows ${r.protocol})`, r.id, target)
      continue
    }
    const free = wildcardPart(r, target.host)
    const why = free === '' ? null : tunnelSuspicion(free)
    if (why) return deny('dns_tunnel_suspected', `${target.host} looks like DNS tunnelling: ${why} under ${r.host.base}`, r.id, target)
    return { verdict: 'allow', rule: r.id, reason: `${target.host} matches ${r.host.source}`, matched: r, target }
  }
  return near ?? deny('no_matching_rule', `no egress rule allows ${target.host}`, DEFAULT_DENY, target)
}

/**
 * The labels of `host` a rule's wildcard left free (`a.b` for `a.b.x.com` under `*.x.com`), or
 * `''` when the rule names the host exactly (an exact rule, or the apex of a `.x.com` rule).
 * @param host a normalised name the rule's glob matches
 */
export function wildcardPart(rule: EgressRule, host: string): string {
  if (!rule.host || rule.host.kind === 'exact' || host === rule.host.base) return ''
  return host.slice(0, host.length - rule.host.base.length - 1)
}

/** Result of {@link decideAddresses}: the answers that may be dialled, and those dropped with their class. */
export interface AddressVerdict {
  allowed: IpAddress[]
  dropped: Array<{ address: IpAddress; cls: AddressClass | 'self' }>
  /** The input decision when something is allowed, otherwise a `no_allowed_address` / `self_connection` denial. */
  decision: Decision
}

/**
 * Step 5: filters resolved answers for a host-name decision that is going ahead: an `allow`, or a
 * denial alert mode lets through (the always-denied set applies in every mode, so an alerted
 * name that resolves to a metadata or private address is still refused). Pure.
 * @param allowed a decision from {@link decideRequest} for a host name (it carries its `target`)
 */
export function decideAddresses(allowed: Decision & { target: Target }, port: number, protocol: EgressProtocol, answers: readonly IpAddress[], policy: EgressPolicy): AddressVerdict {
  const ok: IpAddress[] = []
  const dropped: AddressVerdict['dropped'] = []
  for (const a of answers) {
    if (isSelf(a, port, policy)) {
      dropped.push({ address: a, cls: 'self' })
      continue
    }
    const cls = classifyAddress(a)
    if (isAllowedClass(cls, policy) || cidrNames(a, port, protocol, policy)) ok.push(a)
    else dropped.push({ address: a, cls })
  }
  if (ok.length) return { allowed: ok, dropped, decision: allowed }
  const host = allowed.target.host
  if (dropped.length === 0) return { allowed: ok, dropped, decision: deny('no_allowed_address', `${host} has no address`, allowed.rule, allowed.target) }
  const self = dropped.some((d) => d.cls === 'self')
  const what = dropped.map((d) => `${d.address.ip}: ${d.cls === 'self' ? "the sidecar's own endpoint" : ADDRESS_CLASS_TEXT[d.cls]}`).join('; ')
  // Name the most severe class, whatever the answer order (a metadata answer makes the signal critical).
  const worst = dropped.find((d) => SEVERE_CLASSES.has(d.cls as AddressClass)) ?? dropped[0]!
  return {
    allowed: ok,
    dropped,
    decision: deny(self ? 'self_connection' : 'no_allowed_address', `${host} resolved only to denied addresses (${what})`, self ? 'self-connection' : `always-denied:${worst.cls}`, allowed.target),
  }
}

const SEVERE_CLASSES: ReadonlySet<AddressClass> = new Set(['metadata', 'unspecified'])

function cidrNames(a: IpAddress, port: number, protocol: EgressProtocol, policy: EgressPolicy): boolean {
  for (const r of policy.rules) if (r.cidr && r.cidr.contains(a) && portMatches(r, port) && protocolMatches(r.protocol, protocol)) return true
  return false
}

function isAllowedClass(cls: AddressClass, policy: EgressPolicy): boolean {
  return cls === 'global' || (cls === 'loopback' && policy.loopbackAllowed)
}

function isSelf(a: IpAddress, port: number, policy: EgressPolicy): boolean {
  const pe = policy.protectedEndpoints
  if (!pe.ports.has(port)) return false
  if (pe.ips.has(a.ip)) return true
  const cls = classifyAddress(a)
  return cls === 'loopback' || cls === 'unspecified'
}

/** What the first bytes of a CONNECT tunnel turned out to be (egress/sniff/tunnel.ts). */
export type TunnelContent =
  | { kind: 'tls'; sni: string | null }
  | { kind: 'http'; host: string | null }
  | { kind: 'other' }

/**
 * Second stage of a CONNECT: the tunnel's first bytes against the CONNECT target and the matched rule.
 * A TLS ClientHello whose SNI names another host (`sni_mismatch`) or an HTTP request whose Host
 * names another host (`host_mismatch`) is denied; so is content the rule's protocol does not admit.
 * An IP-literal CONNECT (allowed by a cidr rule) may carry any SNI. A Host with an explicit port
 * other than `connectPort` (when given) is a `host_mismatch` too: virtual hosts may route by it.
 */
export function decideTunnelContent(allowed: Decision & { verdict: 'allow' }, content: TunnelContent, connectPort?: number): Decision {
  const t = allowed.target
  const proto = allowed.matched.protocol
  if (content.kind === 'tls') {
    if (proto === 'http') return deny('protocol_not_allowed', `TLS inside a tunnel to ${t.host}, but ${allowed.rule} allows http only`, allowed.rule, t)
    if (content.sni !== null && t.kind === 'name') {
      const sni = parseTarget(content.sni)
      if (!sni.ok || sni.target.host !== t.host) {
        return deny('sni_mismatch', `TLS SNI "${content.sni}" differs from the CONNECT host ${t.host}`, allowed.rule, t)
      }
    }
    return allowed
  }
  if (content.kind === 'http') {
    if (proto === 'https') return deny('protocol_not_allowed', `plain HTTP inside a tunnel to ${t.host}, but ${allowed.rule} allows https only`, allowed.rule, t)
    if (content.host !== null && t.kind === 'name') {
      const h = parseTarget(stripPort(content.host))
      if (!h.ok || h.target.host !== t.host) {
        return deny('host_mismatch', `Host "${content.host}" differs from the CONNECT host ${t.host}`, allowed.rule, t)
      }
      const port = hostPort(content.host)
      if (connectPort !== undefined && port !== null && port !== connectPort) {
        return deny('host_mismatch', `Host "${content.host}" names port ${port}, the CONNECT target port ${connectPort}`, allowed.rule, t)
      }
    }
    return allowed
  }
  if (proto === 'http' || proto === 'https') {
    return deny('protocol_not_allowed', `the tunnel to ${t.host} carries neither TLS nor HTTP, but ${allowed.rule} allows ${proto} only`, allowed.rule, t)
  }
  return allowed
}

/** The explicit port of a Host value, or null when it has none (NaN-safe: non-digits → -1). */
function hostPort(hostHeader: string): number | null {
  const end = hostHeader.startsWith('[') ? hostHeader.indexOf(']') + 1 : hostHeader.lastIndexOf(':')
  const colon = hostHeader.startsWith('[') ? (hostHeader[end] === ':' ? end : -1) : end
  if (colon === -1) return null
  const text = hostHeader.slice(colon + 1)
  return /^\d{1,5}$/.test(text) ? Number(text) : -1
}

function stripPort(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1)
  const c = hostHeader.lastIndexOf(':')
  return c === -1 ? hostHeader : hostHeader.slice(0, c)
}

/** How a decision is carried out under an enforcement mode. */
export interface Enforcement {
  /** True when the act proceeds. */
  permit: boolean
  action: SignalAction
  /** True when this denial should quarantine the provider (mode `quarantine`). */
  triggersQuarantine: boolean
}

// Denials that alert mode does not relax: they are never a capability a provider needs.
// Denials alert mode does not relax. Always-denied addresses are among them: the sidecar would be
// the one dialling, so relaxing them would hand the provider SSRF into the sidecar's own network
// (smokescreen keeps range denials in every mode). A provider that needs a private range declares
// it with a `cidr` rule; the baseline sees the denials and can suggest one.
const HARD: ReadonlySet<DenyReason> = new Set([
  'quarantined', 'malformed_host', 'missing_host', 'self_connection', 'doh_canary', 'always_denied_address', 'no_allowed_address',
])

/**
 * Applies the enforcement mode (docs/egress.md §Enforcement modes): `alert` allows and signals (`alerted`) except hard
 * denials (quarantine, malformed targets, missing Host/SNI, self-connections, the DoH canary and
 * always-denied addresses: private, loopback, metadata, …); `block` denies; `quarantine` denies
 * and quarantines the provider.
 */
export function enforce(decision: Decision, mode: EnforcementMode): Enforcement {
  if (decision.verdict === 'allow') return { permit: true, action: 'allowed', triggersQuarantine: false }
  if (decision.code === 'quarantined') return { permit: false, action: 'quarantined', triggersQuarantine: false }
  const hard = HARD.has(decision.code)
  if (mode === 'alert' && !hard) return { permit: true, action: 'alerted', triggersQuarantine: false }
  if (mode === 'quarantine') return { permit: false, action: 'quarantined', triggersQuarantine: true }
  return { permit: false, action: 'blocked', triggersQuarantine: false }
}
