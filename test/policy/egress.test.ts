// Egress decisions (policy/egress.ts): the precedence documented at the top of egress.ts, port and
// protocol matching, the rebinding filter over resolved answers, tunnel content checks and the
// enforcement modes. Pure functions over tables; addresses are strings, nothing is dialled.
import t from 'tap'
import {
  decideAddresses, decideRequest, decideTunnelContent, enforce, protocolMatches, type TunnelContent,
} from '../../policy/egress.js'
import { parseIpLiteral } from '../../policy/ip.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import type {
  Decision, DenyReason, EgressPolicy, EgressProtocol, EgressVia, QuarantineState, IpAddress, RuleProtocol,
} from '../../policy/egress-types.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import type { EnforcementMode } from '../../signals/types.js'

const PROTECTED = { ips: new Set(['10.254.1.1']), ports: new Set([3128, 53, 9901, 8000]) }

function makePolicy(egress: unknown[], opts: { mode?: EnforcementMode; loopback_allowed?: boolean } = {}): EgressPolicy {
  const caps = capabilitiesSchema.parse({
    enforcement_mode: opts.mode ?? 'block',
    network: { egress, loopback_allowed: opts.loopback_allowed ?? false },
  })
  return compilePolicy('test', caps, PROTECTED)
}

const RULES = [
  { host: '*.githubusercontent.com' }, // egress[0]: https 443 by default
  { host: 'db.internal.example', port: 5432, protocol: 'tcp' }, // egress[1]
  { cidr: '10.20.0.0/16', port: 5432, protocol: 'tcp' }, // egress[2]: overrides private
  { host: 'api.example.com', protocol: 'http' }, // egress[3]: port 80 by default
  { host: '.example.org', port: 0, protocol: 'any' }, // egress[4]
  { host: 'plain.example.net', port: 8443, protocol: 'https' }, // egress[5]
  { host: '10.9.9.9' }, // egress[6]: an IP host rule is a /32 cidr, https 443
  { cidr: '2001:db8:1::/48' }, // egress[7]: any protocol, any port
  { host: '*.example.com' }, // egress[8]: https 443
]
const P = makePolicy(RULES)
const P_LOOPBACK = makePolicy(RULES, { loopback_allowed: true })
const OPEN: QuarantineState = { quarantined: false }
const QUARANTINED: QuarantineState = { quarantined: true, quarantineReason: 'tool drift' }

interface RequestCase {
  case: string
  host: string
  port: number
  protocol: EgressProtocol
  via?: EgressVia
  policy?: EgressPolicy
  state?: QuarantineState
  verdict: 'allow' | 'deny'
  rule: string
  code?: DenyReason
}

const REQUESTS: RequestCase[] = [
  // 1. quarantine first, before anything else is looked at.
  { case: 'quarantine denies an allowed host', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', state: QUARANTINED, verdict: 'deny', rule: 'quarantine', code: 'quarantined' },
  { case: 'quarantine comes before malformed', host: '127.1', port: 443, protocol: 'https', state: QUARANTINED, verdict: 'deny', rule: 'quarantine', code: 'quarantined' },
  { case: 'quarantine comes before cidr allows', host: '10.20.1.2', port: 5432, protocol: 'tcp', state: QUARANTINED, verdict: 'deny', rule: 'quarantine', code: 'quarantined' },
  { case: 'quarantine comes before self-connection', host: '127.0.0.1', port: 9901, protocol: 'tcp', state: QUARANTINED, verdict: 'deny', rule: 'quarantine', code: 'quarantined' },
  // 2. malformed targets.
  { case: 'inet_aton shorthand', host: '127.1', port: 443, protocol: 'tunnel', verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  { case: 'empty host', host: '', port: 443, protocol: 'tunnel', verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  { case: 'userinfo', host: 'x@raw.githubusercontent.com', port: 443, protocol: 'tunnel', verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  { case: 'port out of range (0)', host: 'raw.githubusercontent.com', port: 0, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'port_not_allowed' },
  { case: 'port out of range (65536)', host: 'raw.githubusercontent.com', port: 65536, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'port_not_allowed' },
  { case: 'non-integer port', host: 'x.example.org', port: 443.5, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'port_not_allowed' },
  { case: 'NaN port', host: 'x.example.org', port: Number.NaN, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'port_not_allowed' },
  // 3. IP literals: cidr rules (overriding the always-denied list), else always-denied, else no rule.
  { case: 'cidr rule overrides the private range', host: '10.20.1.2', port: 5432, protocol: 'tcp', verdict: 'allow', rule: 'egress[2]' },
  { case: 'cidr rule, mapped IPv6 literal', host: '[::ffff:10.20.1.2]', port: 5432, protocol: 'tcp', verdict: 'allow', rule: 'egress[2]' },
  { case: 'cidr rule, tcp admits a CONNECT tunnel', host: '10.20.1.2', port: 5432, protocol: 'tunnel', verdict: 'allow', rule: 'egress[2]' },
  { case: 'cidr rule at its upper boundary', host: '10.20.255.255', port: 5432, protocol: 'tcp', verdict: 'allow', rule: 'egress[2]' },
  { case: 'cidr rule, wrong port: the private range applies', host: '10.20.1.2', port: 5433, protocol: 'tcp', verdict: 'deny', rule: 'always-denied:private', code: 'always_denied_address' },
  { case: 'just outside the cidr rule', host: '10.21.0.0', port: 5432, protocol: 'tcp', verdict: 'deny', rule: 'always-denied:private', code: 'always_denied_address' },
  { case: 'IP host rule is a /32 cidr', host: '10.9.9.9', port: 443, protocol: 'https', verdict: 'allow', rule: 'egress[6]' },
  { case: 'IP host rule, wrong protocol', host: '10.9.9.9', port: 443, protocol: 'http', verdict: 'deny', rule: 'always-denied:private', code: 'always_denied_address' },
  { case: 'IPv6 cidr rule overrides the documentation range', host: '[2001:db8:1::5]', port: 22, protocol: 'tcp', verdict: 'allow', rule: 'egress[7]' },
  { case: 'global IP without a cidr rule', host: '185.199.108.133', port: 443, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'loopback literal', host: '127.0.0.1', port: 443, protocol: 'tunnel', verdict: 'deny', rule: 'always-denied:loopback', code: 'always_denied_address' },
  { case: 'loopback literal with loopback_allowed still needs a rule', host: '127.0.0.1', port: 443, protocol: 'tunnel', policy: P_LOOPBACK, verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'IPv6 loopback literal', host: '[::1]', port: 443, protocol: 'tunnel', verdict: 'deny', rule: 'always-denied:loopback', code: 'always_denied_address' },
  { case: 'metadata literal', host: '169.254.169.254', port: 80, protocol: 'http', verdict: 'deny', rule: 'always-denied:metadata', code: 'always_denied_address' },
  { case: 'unspecified literal', host: '0.0.0.0', port: 443, protocol: 'tunnel', verdict: 'deny', rule: 'always-denied:unspecified', code: 'always_denied_address' },
  { case: 'NAT64 literal', host: '[64:ff9b::a9fe:a9fe]', port: 80, protocol: 'http', verdict: 'deny', rule: 'always-denied:nat64', code: 'always_denied_address' },
  // Self-connections: before cidr rules, on loopback, unspecified or the sidecar's own address.
  { case: "the sidecar's address on its proxy port", host: '10.254.1.1', port: 3128, protocol: 'tunnel', verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'loopback on the admin port', host: '127.0.0.1', port: 9901, protocol: 'http', verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'loopback on the admin port with loopback_allowed', host: '127.0.0.1', port: 9901, protocol: 'http', policy: P_LOOPBACK, verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'unspecified on the DNS port', host: '0.0.0.0', port: 53, protocol: 'tcp', verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'mapped loopback on the proxy port', host: '[::ffff:127.0.0.1]', port: 3128, protocol: 'tunnel', verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'IPv6 loopback on the aggregator port', host: '[::1]', port: 8000, protocol: 'http', verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'self-connection beats a cidr rule naming it', host: '127.0.0.1', port: 3128, protocol: 'tcp', policy: makePolicy([{ cidr: '127.0.0.0/8', port: 0, protocol: 'any' }]), verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: "the sidecar's address on another port is just private", host: '10.254.1.1', port: 5432, protocol: 'tcp', verdict: 'deny', rule: 'always-denied:private', code: 'always_denied_address' },
  // 4. host names: first rule whose glob, port and protocol match.
  { case: 'subdomain of a wildcard', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', verdict: 'allow', rule: 'egress[0]' },
  { case: 'case and trailing dot normalised', host: 'RAW.GitHubUserContent.com.', port: 443, protocol: 'tunnel', verdict: 'allow', rule: 'egress[0]' },
  { case: 'wildcard never matches the apex', host: 'githubusercontent.com', port: 443, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'suffix confusion', host: 'evilgithubusercontent.com', port: 443, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'allowed name as a prefix of another domain', host: 'raw.githubusercontent.com.evil.net', port: 443, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'https default port is 443', host: 'raw.githubusercontent.com', port: 8443, protocol: 'https', verdict: 'deny', rule: 'egress[0]', code: 'port_not_allowed' },
  { case: 'https rule refuses plain http', host: 'raw.githubusercontent.com', port: 443, protocol: 'http', verdict: 'deny', rule: 'egress[0]', code: 'protocol_not_allowed' },
  { case: 'https rule refuses a tcp forward', host: 'raw.githubusercontent.com', port: 443, protocol: 'tcp', verdict: 'deny', rule: 'egress[0]', code: 'protocol_not_allowed' },
  { case: 'tcp rule', host: 'db.internal.example', port: 5432, protocol: 'tcp', verdict: 'allow', rule: 'egress[1]' },
  { case: 'tcp rule admits a CONNECT tunnel', host: 'db.internal.example', port: 5432, protocol: 'tunnel', verdict: 'allow', rule: 'egress[1]' },
  { case: 'tcp rule, wrong port', host: 'db.internal.example', port: 5433, protocol: 'tcp', verdict: 'deny', rule: 'egress[1]', code: 'port_not_allowed' },
  { case: 'http rule, default port 80', host: 'api.example.com', port: 80, protocol: 'http', verdict: 'allow', rule: 'egress[3]' },
  { case: 'http rule admits a tunnel (content checked later)', host: 'api.example.com', port: 80, protocol: 'tunnel', verdict: 'allow', rule: 'egress[3]' },
  { case: 'http rule refuses https on its port; first near miss reported', host: 'api.example.com', port: 80, protocol: 'https', verdict: 'deny', rule: 'egress[3]', code: 'protocol_not_allowed' },
  { case: 'a near miss does not hide a later allowing rule', host: 'api.example.com', port: 443, protocol: 'https', verdict: 'allow', rule: 'egress[8]' },
  { case: 'port 0 and any: every port and protocol', host: 'x.example.org', port: 6379, protocol: 'tcp', verdict: 'allow', rule: 'egress[4]' },
  { case: 'leading-dot rule matches the apex', host: 'example.org', port: 22, protocol: 'tunnel', verdict: 'allow', rule: 'egress[4]' },
  { case: 'leading-dot rule, suffix confusion', host: 'evil-example.org', port: 443, protocol: 'https', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'explicit port', host: 'plain.example.net', port: 8443, protocol: 'https', verdict: 'allow', rule: 'egress[5]' },
  { case: 'explicit port, default port refused', host: 'plain.example.net', port: 443, protocol: 'https', verdict: 'deny', rule: 'egress[5]', code: 'port_not_allowed' },
  { case: 'a cidr rule never allows a name', host: 'ten.example.net', port: 5432, protocol: 'tcp', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'no rules at all', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', policy: makePolicy([]), verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
]

t.test('decideRequest: precedence, ports and protocols', async (t) => {
  for (const c of REQUESTS) {
    const d = decideRequest({ host: c.host, port: c.port, protocol: c.protocol, via: c.via ?? 'connect' }, c.policy ?? P, c.state ?? OPEN)
    t.equal(d.verdict, c.verdict, `${c.case}: verdict`)
    t.equal(d.rule, c.rule, `${c.case}: rule`)
    t.equal(d.verdict === 'deny' ? d.code : undefined, c.code, `${c.case}: code`)
    t.match(d.reason, /\S/, `${c.case}: a reason is given`)
  }
})

t.test('the quarantine reason is in the decision', async (t) => {
  const d = decideRequest({ host: 'raw.githubusercontent.com', port: 443, protocol: 'https', via: 'connect' }, P, QUARANTINED)
  t.match(d.reason, /quarantined: tool drift/)
})

t.test('rule port defaults by protocol', async (t) => {
  const p = makePolicy([
    { host: 'a.example.com' },
    { host: 'b.example.com', protocol: 'https' },
    { host: 'c.example.com', protocol: 'http' },
    { host: 'd.example.com', protocol: 'any' },
    { host: 'e.example.com', protocol: 'tcp', port: 0 },
    { cidr: '10.0.0.0/8' },
    { cidr: '10.0.0.0/8', protocol: 'https' },
  ])
  const got = p.rules.map((r) => `${r.protocol}:${r.port}`)
  t.strictSame(got, ['https:443', 'https:443', 'http:80', 'any:0', 'tcp:0', 'any:0', 'https:443'], 'https 443, http 80, any 0; cidr defaults to any/0')
  t.ok(Object.isFrozen(p) && Object.isFrozen(p.rules), 'the compiled policy is frozen')
})

t.test('protocolMatches', async (t) => {
  const attempts: EgressProtocol[] = ['http', 'https', 'tcp', 'tunnel']
  const expected: Record<RuleProtocol, boolean[]> = {
    http: [true, false, false, true],
    https: [false, true, false, true],
    tcp: [true, true, true, true],
    any: [true, true, true, true],
  }
  for (const rule of Object.keys(expected) as RuleProtocol[]) {
    attempts.forEach((a, i) => t.equal(protocolMatches(rule, a), expected[rule][i], `rule ${rule} vs attempt ${a}`))
  }
})

function allowOf(d: Decision): Decision & { verdict: 'allow' } {
  if (d.verdict !== 'allow') throw new Error(`test setup: expected allow, got ${d.code}: ${d.reason}`)
  return d
}

function ips(...texts: string[]): IpAddress[] {
  return texts.map((s) => {
    const a = parseIpLiteral(s)
    if (!a) throw new Error(`test table error: ${s}`)
    return a
  })
}

interface AnswerCase {
  case: string
  host: string
  port: number
  protocol: EgressProtocol
  answers: string[]
  policy?: EgressPolicy
  allowed: string[]
  dropped: string[]
  verdict: 'allow' | 'deny'
  rule: string
  code?: DenyReason
}

const ANSWERS: AnswerCase[] = [
  { case: 'a global answer', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['185.199.108.133'], allowed: ['185.199.108.133'], dropped: [], verdict: 'allow', rule: 'egress[0]' },
  { case: 'rebinding: private answer', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['10.0.0.1'], allowed: [], dropped: ['10.0.0.1:private'], verdict: 'deny', rule: 'always-denied:private', code: 'no_allowed_address' },
  { case: 'rebinding: loopback answer', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['127.0.0.1'], allowed: [], dropped: ['127.0.0.1:loopback'], verdict: 'deny', rule: 'always-denied:loopback', code: 'no_allowed_address' },
  { case: 'rebinding: loopback answer with loopback_allowed', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['127.0.0.1'], policy: P_LOOPBACK, allowed: ['127.0.0.1'], dropped: [], verdict: 'allow', rule: 'egress[0]' },
  { case: 'rebinding: metadata answer', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['169.254.169.254'], allowed: [], dropped: ['169.254.169.254:metadata'], verdict: 'deny', rule: 'always-denied:metadata', code: 'no_allowed_address' },
  { case: 'rebinding: IPv6 metadata answer', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['fd00:ec2::254'], allowed: [], dropped: ['fd00:ec2::254:metadata'], verdict: 'deny', rule: 'always-denied:metadata', code: 'no_allowed_address' },
  { case: 'rebinding: mapped loopback AAAA', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['::ffff:127.0.0.1'], allowed: [], dropped: ['127.0.0.1:loopback'], verdict: 'deny', rule: 'always-denied:loopback', code: 'no_allowed_address' },
  { case: 'rebinding: NAT64 AAAA', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['64:ff9b::7f00:1'], allowed: [], dropped: ['64:ff9b::7f00:1:nat64'], verdict: 'deny', rule: 'always-denied:nat64', code: 'no_allowed_address' },
  { case: 'rebinding: unspecified answer', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['0.0.0.0'], allowed: [], dropped: ['0.0.0.0:unspecified'], verdict: 'deny', rule: 'always-denied:unspecified', code: 'no_allowed_address' },
  { case: 'mixed answers: the denied ones are dropped', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['10.0.0.1', '185.199.108.133', '169.254.169.254', '2606:50c0:8000::154'], allowed: ['185.199.108.133', '2606:50c0:8000::154'], dropped: ['10.0.0.1:private', '169.254.169.254:metadata'], verdict: 'allow', rule: 'egress[0]' },
  { case: 'only denied answers: the most severe class names the denial', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['10.0.0.1', '127.0.0.1', '169.254.169.254'], allowed: [], dropped: ['10.0.0.1:private', '127.0.0.1:loopback', '169.254.169.254:metadata'], verdict: 'deny', rule: 'always-denied:metadata', code: 'no_allowed_address' },
  { case: 'only denied answers: unspecified after private', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: ['192.168.1.1', '0.0.0.0'], allowed: [], dropped: ['192.168.1.1:private', '0.0.0.0:unspecified'], verdict: 'deny', rule: 'always-denied:unspecified', code: 'no_allowed_address' },
  { case: 'no answers', host: 'raw.githubusercontent.com', port: 443, protocol: 'https', answers: [], allowed: [], dropped: [], verdict: 'deny', rule: 'egress[0]', code: 'no_allowed_address' },
  { case: 'cidr rule names the private answer', host: 'db.internal.example', port: 5432, protocol: 'tcp', answers: ['10.20.3.4'], allowed: ['10.20.3.4'], dropped: [], verdict: 'allow', rule: 'egress[1]' },
  { case: 'cidr rule does not name this private answer', host: 'db.internal.example', port: 5432, protocol: 'tcp', answers: ['10.30.0.1'], allowed: [], dropped: ['10.30.0.1:private'], verdict: 'deny', rule: 'always-denied:private', code: 'no_allowed_address' },
  { case: 'self: the sidecar address on its proxy port', host: 'x.example.org', port: 3128, protocol: 'tunnel', answers: ['10.254.1.1'], allowed: [], dropped: ['10.254.1.1:self'], verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'self: loopback on the admin port, even with loopback_allowed', host: 'x.example.org', port: 9901, protocol: 'http', answers: ['127.0.0.1'], policy: P_LOOPBACK, allowed: [], dropped: ['127.0.0.1:self'], verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'self among other denied answers wins', host: 'x.example.org', port: 53, protocol: 'tcp', answers: ['10.0.0.1', '0.0.0.0'], allowed: [], dropped: ['10.0.0.1:private', '0.0.0.0:self'], verdict: 'deny', rule: 'self-connection', code: 'self_connection' },
  { case: 'self answer dropped, global answer kept', host: 'x.example.org', port: 9901, protocol: 'http', answers: ['127.0.0.1', '185.199.108.133'], allowed: ['185.199.108.133'], dropped: ['127.0.0.1:self'], verdict: 'allow', rule: 'egress[4]' },
]

t.test('decideAddresses: every answer classified (the rebinding defence)', async (t) => {
  for (const c of ANSWERS) {
    const policy = c.policy ?? P
    const allowed = allowOf(decideRequest({ host: c.host, port: c.port, protocol: c.protocol, via: 'connect' }, policy, OPEN))
    const v = decideAddresses(allowed, c.port, c.protocol, ips(...c.answers), policy)
    t.strictSame(v.allowed.map((a) => a.ip), c.allowed, `${c.case}: allowed answers`)
    t.strictSame(v.dropped.map((d) => `${d.address.ip}:${d.cls}`), c.dropped, `${c.case}: dropped answers`)
    t.equal(v.decision.verdict, c.verdict, `${c.case}: verdict`)
    t.equal(v.decision.rule, c.rule, `${c.case}: rule`)
    t.equal(v.decision.verdict === 'deny' ? v.decision.code : undefined, c.code, `${c.case}: code`)
    if (c.verdict === 'allow') t.equal(v.decision, allowed, `${c.case}: the allow decision is passed through`)
  }
})

interface TunnelCase {
  case: string
  connect: { host: string; port: number }
  content: TunnelContent
  verdict: 'allow' | 'deny'
  code?: DenyReason
}

const TUNNELS: TunnelCase[] = [
  // https rule.
  { case: 'SNI equals the CONNECT host', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: 'raw.githubusercontent.com' }, verdict: 'allow' },
  { case: 'SNI differs only by case and trailing dot', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: 'RAW.GitHubUserContent.com.' }, verdict: 'allow' },
  { case: 'SNI names another host', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: 'evil.example' }, verdict: 'deny', code: 'sni_mismatch' },
  { case: 'SNI names another host the same glob allows', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: 'objects.githubusercontent.com' }, verdict: 'deny', code: 'sni_mismatch' },
  { case: 'SNI is an IP', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: '185.199.108.133' }, verdict: 'deny', code: 'sni_mismatch' },
  { case: 'SNI is malformed', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: '127.1' }, verdict: 'deny', code: 'sni_mismatch' },
  { case: 'SNI is empty', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: '' }, verdict: 'deny', code: 'sni_mismatch' },
  { case: 'no SNI', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'tls', sni: null }, verdict: 'allow' },
  { case: 'plain HTTP in an https tunnel', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'http', host: 'raw.githubusercontent.com' }, verdict: 'deny', code: 'protocol_not_allowed' },
  { case: 'neither TLS nor HTTP in an https tunnel', connect: { host: 'raw.githubusercontent.com', port: 443 }, content: { kind: 'other' }, verdict: 'deny', code: 'protocol_not_allowed' },
  // http rule.
  { case: 'Host equals the CONNECT host', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'api.example.com' }, verdict: 'allow' },
  { case: 'Host with port and other case', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'API.Example.com:80' }, verdict: 'allow' },
  { case: 'Host with a trailing dot', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'api.example.com.' }, verdict: 'allow' },
  { case: 'Host names another host', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'evil.example' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'Host names another host with the same port', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'evil.example:80' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'Host with the CONNECT host as a prefix', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'api.example.com.evil.net' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'Host is loopback', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: '127.0.0.1' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'Host is bracketed IPv6 with port', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: '[::1]:80' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'Host with userinfo', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: 'api.example.com@evil.example' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'no Host', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'http', host: null }, verdict: 'allow' },
  { case: 'TLS in an http tunnel', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'tls', sni: 'api.example.com' }, verdict: 'deny', code: 'protocol_not_allowed' },
  { case: 'neither TLS nor HTTP in an http tunnel', connect: { host: 'api.example.com', port: 80 }, content: { kind: 'other' }, verdict: 'deny', code: 'protocol_not_allowed' },
  // tcp and any rules admit every protocol, but still check the names they can see.
  { case: 'raw bytes in a tcp tunnel', connect: { host: 'db.internal.example', port: 5432 }, content: { kind: 'other' }, verdict: 'allow' },
  { case: 'TLS with the right SNI in a tcp tunnel', connect: { host: 'db.internal.example', port: 5432 }, content: { kind: 'tls', sni: 'db.internal.example' }, verdict: 'allow' },
  { case: 'TLS with another SNI in a tcp tunnel', connect: { host: 'db.internal.example', port: 5432 }, content: { kind: 'tls', sni: 'evil.example' }, verdict: 'deny', code: 'sni_mismatch' },
  { case: 'HTTP with another Host in an any tunnel', connect: { host: 'x.example.org', port: 8080 }, content: { kind: 'http', host: 'y.example.org' }, verdict: 'deny', code: 'host_mismatch' },
  { case: 'HTTP with the right Host in an any tunnel', connect: { host: 'x.example.org', port: 8080 }, content: { kind: 'http', host: 'x.example.org:8080' }, verdict: 'allow' },
  // IP-literal CONNECT (allowed by a cidr rule) may carry any SNI / Host; the protocol still counts.
  { case: 'IP-literal CONNECT with any SNI', connect: { host: '10.20.1.2', port: 5432 }, content: { kind: 'tls', sni: 'anything.example' }, verdict: 'allow' },
  { case: 'IP-literal CONNECT with any Host', connect: { host: '10.20.1.2', port: 5432 }, content: { kind: 'http', host: 'anything.example' }, verdict: 'allow' },
  { case: 'IP-literal CONNECT, https rule, plain HTTP', connect: { host: '10.9.9.9', port: 443 }, content: { kind: 'http', host: '10.9.9.9' }, verdict: 'deny', code: 'protocol_not_allowed' },
  { case: 'IP-literal CONNECT, https rule, any SNI', connect: { host: '10.9.9.9', port: 443 }, content: { kind: 'tls', sni: 'whatever.example' }, verdict: 'allow' },
]

t.test('decideTunnelContent: the first bytes against the CONNECT target', async (t) => {
  for (const c of TUNNELS) {
    const allowed = allowOf(decideRequest({ host: c.connect.host, port: c.connect.port, protocol: 'tunnel', via: 'connect' }, P, OPEN))
    const d = decideTunnelContent(allowed, c.content)
    t.equal(d.verdict, c.verdict, `${c.case}: verdict`)
    t.equal(d.verdict === 'deny' ? d.code : undefined, c.code, `${c.case}: code`)
    t.equal(d.rule, allowed.rule, `${c.case}: the matched rule is named`)
    if (c.verdict === 'allow') t.equal(d, allowed, `${c.case}: the allow decision is passed through`)
  }
})

const ALLOW: Decision = allowOf(decideRequest({ host: 'raw.githubusercontent.com', port: 443, protocol: 'https', via: 'connect' }, P, OPEN))

function denial(code: DenyReason, rule = 'default-deny'): Decision {
  return { verdict: 'deny', code, rule, reason: 'test' }
}

t.test('enforce: alert, block, quarantine', async (t) => {
  const cases: Array<{ case: string; decision: Decision; mode: EnforcementMode; permit: boolean; action: string; triggers: boolean }> = [
    { case: 'allow in alert', decision: ALLOW, mode: 'alert', permit: true, action: 'allowed', triggers: false },
    { case: 'allow in block', decision: ALLOW, mode: 'block', permit: true, action: 'allowed', triggers: false },
    { case: 'allow in quarantine', decision: ALLOW, mode: 'quarantine', permit: true, action: 'allowed', triggers: false },
    { case: 'no rule, alert: allowed and signalled', decision: denial('no_matching_rule'), mode: 'alert', permit: true, action: 'alerted', triggers: false },
    { case: 'no rule, block', decision: denial('no_matching_rule'), mode: 'block', permit: false, action: 'blocked', triggers: false },
    { case: 'no rule, quarantine', decision: denial('no_matching_rule'), mode: 'quarantine', permit: false, action: 'quarantined', triggers: true },
    { case: 'port, alert', decision: denial('port_not_allowed', 'egress[0]'), mode: 'alert', permit: true, action: 'alerted', triggers: false },
    { case: 'SNI mismatch, alert', decision: denial('sni_mismatch', 'egress[0]'), mode: 'alert', permit: true, action: 'alerted', triggers: false },
    { case: 'private address, alert: stays denied (the sidecar would dial it)', decision: denial('always_denied_address', 'always-denied:private'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'rebinding answer, alert: stays denied', decision: denial('no_allowed_address', 'always-denied:loopback'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'already quarantined, alert', decision: denial('quarantined', 'quarantine'), mode: 'alert', permit: false, action: 'quarantined', triggers: false },
    { case: 'already quarantined, block', decision: denial('quarantined', 'quarantine'), mode: 'block', permit: false, action: 'quarantined', triggers: false },
    { case: 'already quarantined, quarantine: not re-triggered', decision: denial('quarantined', 'quarantine'), mode: 'quarantine', permit: false, action: 'quarantined', triggers: false },
    // Hard denials stay denied in alert mode.
    { case: 'malformed, alert', decision: denial('malformed_host'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'missing host, alert', decision: denial('missing_host'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'self-connection, alert', decision: denial('self_connection', 'self-connection'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'DoH canary, alert', decision: denial('doh_canary', 'doh-canary'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'metadata literal, alert', decision: denial('always_denied_address', 'always-denied:metadata'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'metadata answer, alert', decision: denial('no_allowed_address', 'always-denied:metadata'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'unspecified literal, alert', decision: denial('always_denied_address', 'always-denied:unspecified'), mode: 'alert', permit: false, action: 'blocked', triggers: false },
    { case: 'hard denial, quarantine', decision: denial('self_connection', 'self-connection'), mode: 'quarantine', permit: false, action: 'quarantined', triggers: true },
  ]
  for (const c of cases) {
    const e = enforce(c.decision, c.mode)
    t.strictSame(e, { permit: c.permit, action: c.action, triggersQuarantine: c.triggers }, c.case)
  }
})

t.test('alert mode never lets a mixed rebinding answer reach metadata', async (t) => {
  const alertPolicy = makePolicy(RULES, { mode: 'alert' })
  const allowed = allowOf(decideRequest({ host: 'raw.githubusercontent.com', port: 443, protocol: 'https', via: 'connect' }, alertPolicy, OPEN))
  // Whatever the order of the answers, the denial is the hard one.
  for (const order of [['10.0.0.1', '169.254.169.254'], ['169.254.169.254', '10.0.0.1'], ['10.0.0.1', '0.0.0.0']]) {
    const v = decideAddresses(allowed, 443, 'https', ips(...order), alertPolicy)
    t.equal(enforce(v.decision, 'alert').permit, false, `answers ${order.join(', ')}: not permitted in alert mode`)
  }
})

t.test('decideRequest: the tunnel shape check of the DNS forwarder, on every via', async (t) => {
  const hex40 = '7231866cc34e6462dd10370632d0a8df55023bbe'
  const letters = 'hcdbiggmmddoegjcnnbbdhaggdcnakinffacdllo' // the same kind of payload, hex mapped to a–p
  const vias: Array<[EgressVia, EgressProtocol]> = [['connect', 'tunnel'], ['http_proxy', 'http'], ['transparent_http', 'http'], ['transparent_tls', 'https'], ['tcp_forward', 'tcp']]
  const ANY = makePolicy([{ host: '*.example.com', port: 0, protocol: 'any' }])
  for (const [via, protocol] of vias) {
    for (const host of [`${hex40}.example.com`, `${letters}.${letters}.example.com`, `${hex40.toUpperCase()}.example.com.`]) {
      const d = decideRequest({ host, port: 443, protocol, via }, ANY, OPEN)
      t.equal(d.verdict === 'deny' && d.code, 'dns_tunnel_suspected', `${via} ${host.slice(0, 12)}…`)
      t.equal(d.rule, 'egress[0]')
      t.match(d.reason, /looks like DNS tunnelling: .* under example\.com/)
    }
    // Controls: real names under the same wildcard are allowed on the same via.
    for (const host of ['www.example.com', 'eu-west-1.api.example.com', 'static-assets.example.com']) {
      t.equal(decideRequest({ host, port: 443, protocol, via }, ANY, OPEN).verdict, 'allow', `${via} ${host}`)
    }
  }
  t.equal(decideRequest({ host: `${hex40}.example.com`, port: 443, protocol: 'tunnel', via: 'connect' }, P, OPEN).rule, 'egress[8]', 'the rule that matched is named')
  t.equal(decideRequest({ host: 'example.org', port: 1, protocol: 'tcp', via: 'connect' }, P, OPEN).verdict, 'allow', 'apex of a leading-dot rule: nothing free')
  const exact = makePolicy([{ host: `${hex40}.example.com` }])
  t.equal(decideRequest({ host: `${hex40}.example.com`, port: 443, protocol: 'tunnel', via: 'connect' }, exact, OPEN).verdict, 'allow', 'an exact rule names the whole name: no free part')
  // Alert mode relaxes it (forwarded and signalled); block denies.
  const d = decideRequest({ host: `${hex40}.example.com`, port: 443, protocol: 'tunnel', via: 'connect' }, P, OPEN)
  t.same(enforce(d, 'alert'), { permit: true, action: 'alerted', triggersQuarantine: false })
  t.same(enforce(d, 'block'), { permit: false, action: 'blocked', triggersQuarantine: false })
})
