// DNS name decisions (policy/dns.ts): which names the forwarder answers, the DoH canary,
// dns_allowed / dns_resolve_any, quarantine, the tunnelling heuristic against real-world names,
// and whether steering mode may answer with the sidecar's address.
import t from 'tap'
import { decideDnsName, DOH_CANARY, tunnelSuspicion, type DnsDecision } from '../../policy/dns.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import type { DenyReason, EgressPolicy, QuarantineState } from '../../policy/egress-types.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'

function makePolicy(egress: unknown[], network: Record<string, unknown> = {}): EgressPolicy {
  return compilePolicy('test', capabilitiesSchema.parse({ network: { ...network, egress } }))
}

const RULES = [
  { host: '*.githubusercontent.com' }, // egress[0] https
  { host: 'db.internal.example', port: 5432, protocol: 'tcp' }, // egress[1] exact tcp → forward
  { host: '*.cloudfront.net' }, // egress[2]
  { host: '*.amazonaws.com' }, // egress[3]
  { host: 'api.example.com', protocol: 'http' }, // egress[4]
  { host: '*.tcp-wild.example', port: 6379, protocol: 'tcp' }, // egress[5] wildcard tcp → not steerable
  { host: 'anyport.example', port: 0, protocol: 'tcp' }, // egress[6] exact tcp, port 0 → not a forward
  { host: '.example.org', protocol: 'any', port: 0 }, // egress[7]
  { cidr: '10.20.0.0/16', port: 5432, protocol: 'tcp' }, // egress[8] (names nothing)
  { host: '*.use-application-dns.net' }, // egress[9]: even an explicit rule cannot allow the canary
  { host: 'github.com' }, // egress[10]
]
const P = makePolicy(RULES)
const OPEN: QuarantineState = { quarantined: false }

interface DnsCase {
  case: string
  name: string
  policy?: EgressPolicy
  state?: QuarantineState
  verdict: 'allow' | 'deny'
  rule: string
  code?: DenyReason
  /** Normalised name in the decision. */
  normalised?: string
  steerable?: boolean
}

const CASES: DnsCase[] = [
  // Allowed names.
  { case: 'exact rule', name: 'github.com', verdict: 'allow', rule: 'egress[10]', steerable: true },
  { case: 'wildcard rule', name: 'raw.githubusercontent.com', verdict: 'allow', rule: 'egress[0]', steerable: true },
  { case: 'normalised: case and trailing dot', name: 'RAW.GitHubUserContent.COM.', verdict: 'allow', rule: 'egress[0]', normalised: 'raw.githubusercontent.com', steerable: true },
  { case: 'objects.githubusercontent.com', name: 'objects.githubusercontent.com', verdict: 'allow', rule: 'egress[0]', steerable: true },
  { case: 'CloudFront distribution', name: 'd1a2b3c4d5e6f7.cloudfront.net', verdict: 'allow', rule: 'egress[2]', steerable: true },
  { case: 'S3 virtual-hosted bucket with hyphens', name: 'my-company-backups-prod-eu-west-1.s3.eu-west-1.amazonaws.com', verdict: 'allow', rule: 'egress[3]', steerable: true },
  { case: 'S3 bucket that is one long word', name: 'mycompanyproductionbackups.s3.amazonaws.com', verdict: 'allow', rule: 'egress[3]', steerable: true },
  { case: 'S3 bucket with a year suffix', name: 'mycompanyproductionbackups2024.s3.amazonaws.com', verdict: 'allow', rule: 'egress[3]', steerable: true },
  { case: 'API Gateway id', name: 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com', verdict: 'allow', rule: 'egress[3]', steerable: true },
  { case: 'EC2 public name', name: 'ec2-54-123-45-67.compute-1.amazonaws.com', verdict: 'allow', rule: 'egress[3]', steerable: true },
  { case: 'ELB name with a long number', name: 'internal-my-elb-1234567890.us-east-1.elb.amazonaws.com', verdict: 'allow', rule: 'egress[3]', steerable: true },
  { case: 'two-level UUID-free host under a wildcard', name: 'eu.api.example.org', verdict: 'allow', rule: 'egress[7]', steerable: true },
  { case: 'apex of a leading-dot rule', name: 'example.org', verdict: 'allow', rule: 'egress[7]', steerable: true },
  { case: 'http rule', name: 'api.example.com', verdict: 'allow', rule: 'egress[4]', steerable: true },
  // steerable per rule protocol.
  { case: 'exact tcp rule with a port is a tcp forward: steerable', name: 'db.internal.example', verdict: 'allow', rule: 'egress[1]', steerable: true },
  { case: 'wildcard tcp rule is not steerable', name: 'cache.tcp-wild.example', verdict: 'allow', rule: 'egress[5]', steerable: false },
  { case: 'tcp rule on port 0 is not steerable', name: 'anyport.example', verdict: 'allow', rule: 'egress[6]', steerable: false },
  // Denied names.
  { case: 'no rule', name: 'evil.example', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'wildcard apex', name: 'githubusercontent.com', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'suffix confusion', name: 'evilgithubusercontent.com', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'allowed name inside another domain', name: 'github.com.evil.net', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule' },
  { case: 'homograph of an allowed name', name: 'gіthub.com', verdict: 'deny', rule: 'default-deny', code: 'no_matching_rule', normalised: 'xn--gthub-n2e.com' },
  { case: 'malformed: inet_aton form', name: '127.1', verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  { case: 'malformed: two trailing dots', name: 'github.com..', verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  { case: 'malformed: percent-encoded', name: 'git%68ub.com', verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  // DoH canary.
  { case: 'DoH canary', name: DOH_CANARY, verdict: 'deny', rule: 'doh-canary', code: 'doh_canary' },
  { case: 'DoH canary, uppercase with trailing dot', name: 'USE-APPLICATION-DNS.NET.', verdict: 'deny', rule: 'doh-canary', code: 'doh_canary', normalised: DOH_CANARY },
  { case: 'DoH canary subdomain, even with a rule for it', name: 'x.use-application-dns.net', verdict: 'deny', rule: 'doh-canary', code: 'doh_canary' },
  { case: 'DoH canary with dns_resolve_any', name: DOH_CANARY, policy: makePolicy([], { dns_resolve_any: true }), verdict: 'deny', rule: 'doh-canary', code: 'doh_canary' },
  // dns_allowed: false and quarantine come first.
  { case: 'dns_allowed false denies an allowed name', name: 'github.com', policy: makePolicy(RULES, { dns_allowed: false }), verdict: 'deny', rule: 'dns_allowed', code: 'dns_not_allowed' },
  { case: 'quarantine denies an allowed name', name: 'github.com', state: { quarantined: true }, verdict: 'deny', rule: 'quarantine', code: 'quarantined' },
  { case: 'quarantine before dns_allowed', name: 'github.com', policy: makePolicy(RULES, { dns_allowed: false }), state: { quarantined: true }, verdict: 'deny', rule: 'quarantine', code: 'quarantined' },
  // dns_resolve_any.
  { case: 'dns_resolve_any forwards an unlisted name, not steered', name: 'pypi.org', policy: makePolicy([], { dns_resolve_any: true }), verdict: 'allow', rule: 'dns_resolve_any', steerable: false },
  { case: 'dns_resolve_any still prefers a rule', name: 'github.com', policy: makePolicy(RULES, { dns_resolve_any: true }), verdict: 'allow', rule: 'egress[10]', steerable: true },
  { case: 'dns_resolve_any still refuses malformed names', name: '0x7f.1', policy: makePolicy([], { dns_resolve_any: true }), verdict: 'deny', rule: 'default-deny', code: 'malformed_host' },
  { case: 'dns_resolve_any still checks for tunnels', name: `${'a'.repeat(60)}.evil.example`, policy: makePolicy([], { dns_resolve_any: true }), verdict: 'deny', rule: 'dns_resolve_any', code: 'dns_tunnel_suspected' },
]

// Encoded labels as iodine / dnscat2 / DNSExfiltrator produce them (fixed strings, no randomness).
const B32_40 = 'pswa2folm3sle2bhzapj4sv5ybusm4a6k44cias3'
const B32_30 = '34a5jjasmcpfa2sd7fumtcjinwupyw'
const B32_63 = 'uujbihhkzmcdtuwb3hmnxjrcd2wg43cgnntzvsklicgz4glb5tmypwkwhherkxj'
const HEX_40 = '7231866cc34e6462dd10370632d0a8df55023bbe'
const HEX_24 = 'ca26843011bc14df861ce6c4'
const HEX_22x4 = '6be9f1b672fb016af06895.be4746643de7622799de37.be310cd025fa4c3c33d779.82f50fff74d2de13e6dcae'
const B32_23x4 = 'ufouf2l32mjer7n57mqcx4q.2nanqo4twnuzl3i2j6b3uyg.frhrrk4jrgk5t6n3csuquzd.7a7jfo4cnyl27gemt3vceg7'
const B32_HYPHENS = 'wqoj4qe74w-cwb72hizag-rstq3sr3zg-umngejd5us'

const TUNNELS: DnsCase[] = [
  { case: 'iodine-like 63-character base32 label', name: `${B32_63}.x.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'iodine-like 40-character base32 label', name: `${B32_40}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'iodine-like 30-character base32 label', name: `${B32_30}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'dnscat2-like 40-character hex label', name: `${HEX_40}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'dnscat2-like 24-character hex label', name: `${HEX_24}.cloudfront.net`, verdict: 'deny', rule: 'egress[2]', code: 'dns_tunnel_suspected' },
  { case: 'hex split into four 22-character labels', name: `${HEX_22x4}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'base32 split into four 23-character labels', name: `${B32_23x4}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'base32 runs joined by hyphens', name: `${B32_HYPHENS}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'a long label of anything', name: `${'a'.repeat(52)}.githubusercontent.com`, verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'many labels', name: 'a.b.c.d.e.f.g.githubusercontent.com', verdict: 'deny', rule: 'egress[0]', code: 'dns_tunnel_suspected' },
  { case: 'six short labels pass', name: 'a.b.c.d.e.f.githubusercontent.com', verdict: 'allow', rule: 'egress[0]', steerable: true },
  { case: 'under a leading-dot rule', name: `${B32_40}.example.org`, verdict: 'deny', rule: 'egress[7]', code: 'dns_tunnel_suspected' },
  { case: 'an exact rule names the whole name: no free part to check', name: 'db.internal.example', verdict: 'allow', rule: 'egress[1]', steerable: true },
]

/** A subtest's `t` (the last overload of `t.test` takes only the callback). */
type SubTest = Parameters<Parameters<typeof t.test>[0]>[0]

function check(t: SubTest, c: DnsCase): void {
  const d: DnsDecision = decideDnsName(c.name, c.policy ?? P, c.state ?? OPEN)
  t.equal(d.verdict, c.verdict, `${c.case}: verdict`)
  t.equal(d.rule, c.rule, `${c.case}: rule`)
  t.equal(d.verdict === 'deny' ? d.code : undefined, c.code, `${c.case}: code`)
  if (c.normalised) t.equal(d.name, c.normalised, `${c.case}: normalised name`)
  if (c.steerable !== undefined) t.equal(d.verdict === 'allow' ? d.steerable : undefined, c.steerable, `${c.case}: steerable`)
  t.match(d.reason, /\S/, `${c.case}: a reason is given`)
}

t.test('decideDnsName table', async (t) => {
  for (const c of CASES) check(t, c)
})

t.test('tunnelling heuristic: tunnels denied, real names pass', async (t) => {
  for (const c of TUNNELS) check(t, c)
})

t.test('tunnelSuspicion on free parts', async (t) => {
  const pass = [
    '', 'raw', 'objects', 'd1a2b3c4d5e6f7', 'my-company-backups-prod-eu-west-1.s3.eu-west-1', 'us-east-1.prod',
    'contosoproductionstorage', 'internationalization-service', 'github-production-release-asset-2e65be',
    'a1b2c3d4-e5f6-7890-abcd-ef1234567890', 'k8s-prod-eu1-ingress-lb', 'ip-10-0-0-1.ec2', 'x86-64-builder-3',
  ]
  for (const f of pass) t.equal(tunnelSuspicion(f), null, `passes: ${JSON.stringify(f)}`)
  const flagged: Array<[string, RegExp]> = [
    ['x'.repeat(101), /101 characters of subdomain/],
    ['a.b.c.d.e.f.g', /7 subdomain labels/],
    [B32_63, /63-character label/],
    [HEX_24, /24-character hex label/],
    [B32_40, /random-looking label/],
    [HEX_22x4, /encoded-looking/],
  ]
  for (const [f, why] of flagged) t.match(tunnelSuspicion(f) ?? '', why, `flagged: ${f.slice(0, 30)}…`)
})
