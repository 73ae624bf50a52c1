// The egress bypass catalog of ANCHORS.md, tried at the decision level: every item that a pure
// decision can see must be denied with the right code. Items that live below the decisions
// (DNS over TCP, QUIC, request smuggling, oversized headers, slow clients) are tested by the
// listeners' own tests. Addresses here are strings: nothing is dialled.
import t from 'tap'
import {
  decideAddresses, decideRequest, decideTunnelContent, enforce, type TunnelContent,
} from '../../policy/egress.js'
import { decideDnsName } from '../../policy/dns.js'
import { parseIpLiteral } from '../../policy/ip.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import type {
  Decision, DenyReason, EgressPolicy, EgressProtocol, EgressVia, QuarantineState, IpAddress,
} from '../../policy/egress-types.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import type { EnforcementMode } from '../../signals/types.js'

const PROTECTED = { ips: new Set(['10.254.1.1', '10.254.1.2']), ports: new Set([3128, 53, 9901, 8000]) }

function makePolicy(opts: { mode?: EnforcementMode; loopback_allowed?: boolean; dns_resolve_any?: boolean } = {}): EgressPolicy {
  const caps = capabilitiesSchema.parse({
    enforcement_mode: opts.mode ?? 'block',
    network: {
      loopback_allowed: opts.loopback_allowed ?? false,
      dns_resolve_any: opts.dns_resolve_any ?? false,
      egress: [
        { host: '*.example.com' }, // egress[0]
        { host: 'example.net', protocol: 'http' }, // egress[1]
        { host: 'apple.com' }, // egress[2]
        { host: 'db.internal.example', port: 5432, protocol: 'tcp' }, // egress[3]
        { host: '*.example.org', port: 0, protocol: 'any' }, // egress[4]
      ],
    },
  })
  return compilePolicy('bypass', caps, PROTECTED)
}

const P = makePolicy()
const OPEN: QuarantineState = { quarantined: false }

interface Attempt {
  host: string
  port: number
  protocol: EgressProtocol
  via: EgressVia
}

function request(a: Attempt, policy = P): Decision {
  return decideRequest(a, policy, OPEN)
}

type SubTest = Parameters<Parameters<typeof t.test>[0]>[0]

function denied(t: SubTest, d: Decision, code: DenyReason, rule: string | RegExp, what: string): void {
  t.equal(d.verdict, 'deny', `${what}: denied`)
  t.equal(d.verdict === 'deny' ? d.code : undefined, code, `${what}: ${code}`)
  t.match(d.rule, rule, `${what}: rule`)
}

function allowOf(d: Decision): Decision & { verdict: 'allow' } {
  if (d.verdict !== 'allow') throw new Error(`test setup: expected allow, got ${d.code}: ${d.reason}`)
  return d
}

function ips(...texts: string[]): IpAddress[] {
  return texts.map((s) => parseIpLiteral(s) ?? (() => { throw new Error(`test table error: ${s}`) })())
}

t.test('IP literals in CONNECT', async (t) => {
  const cases: Array<[string, number, DenyReason, string]> = [
    ['127.0.0.1', 443, 'always_denied_address', 'always-denied:loopback'],
    ['10.0.0.1', 443, 'always_denied_address', 'always-denied:private'],
    ['[::1]', 443, 'always_denied_address', 'always-denied:loopback'],
    ['[fe80::1]', 443, 'always_denied_address', 'always-denied:link_local'],
    ['1.1.1.1', 443, 'no_matching_rule', 'default-deny'],
  ]
  for (const [host, port, code, rule] of cases) denied(t, request({ host, port, protocol: 'tunnel', via: 'connect' }), code, rule, `CONNECT ${host}:${port}`)
})

t.test('IP literals in absolute URIs', async (t) => {
  denied(t, request({ host: '169.254.169.254', port: 80, protocol: 'http', via: 'http_proxy' }), 'always_denied_address', 'always-denied:metadata', 'GET http://169.254.169.254/')
  denied(t, request({ host: '192.168.0.1', port: 8080, protocol: 'http', via: 'http_proxy' }), 'always_denied_address', 'always-denied:private', 'GET http://192.168.0.1:8080/')
  denied(t, request({ host: '[::ffff:10.0.0.1]', port: 80, protocol: 'http', via: 'http_proxy' }), 'always_denied_address', 'always-denied:private', 'GET http://[::ffff:10.0.0.1]/')
})

t.test('IP literals in Host', async (t) => {
  denied(t, request({ host: '127.0.0.1', port: 8080, protocol: 'http', via: 'transparent_http' }), 'always_denied_address', 'always-denied:loopback', 'transparent :80 with Host: 127.0.0.1')
  const tunnel = allowOf(request({ host: 'example.net', port: 80, protocol: 'tunnel', via: 'connect' }))
  denied(t, decideTunnelContent(tunnel, { kind: 'http', host: '127.0.0.1' }), 'host_mismatch', 'egress[1]', 'Host: 127.0.0.1 inside a tunnel to example.net')
})

t.test('IP literals in SNI', async (t) => {
  denied(t, request({ host: '10.1.2.3', port: 8443, protocol: 'https', via: 'transparent_tls' }), 'always_denied_address', 'always-denied:private', 'transparent :443 with SNI 10.1.2.3')
  const tunnel = allowOf(request({ host: 'api.example.com', port: 443, protocol: 'tunnel', via: 'connect' }))
  denied(t, decideTunnelContent(tunnel, { kind: 'tls', sni: '127.0.0.1' }), 'sni_mismatch', 'egress[0]', 'SNI 127.0.0.1 inside a tunnel to api.example.com')
})

t.test('non-canonical IPv4 (2130706433, 0177.0.0.1, 0x7f.1, 127.1)', async (t) => {
  for (const host of ['2130706433', '0177.0.0.1', '0x7f.1', '127.1', '0x7f000001', '017700000001', '127.0.0.1.', '１２７.０.０.１']) {
    denied(t, request({ host, port: 443, protocol: 'tunnel', via: 'connect' }), 'malformed_host', 'default-deny', `CONNECT ${host}`)
    const dns = decideDnsName(host, makePolicy({ dns_resolve_any: true }), OPEN)
    t.equal(dns.verdict === 'deny' ? dns.code : 'allowed', 'malformed_host', `DNS question ${host}: malformed_host, never resolved`)
  }
})

t.test('IPv4-mapped/compatible/embedded IPv6', async (t) => {
  const cases: Array<[string, string]> = [
    ['[::ffff:127.0.0.1]', 'always-denied:loopback'],
    ['[::ffff:7f00:1]', 'always-denied:loopback'],
    ['[::ffff:169.254.169.254]', 'always-denied:metadata'],
    ['[::127.0.0.1]', 'always-denied:ipv4_compatible'],
    ['[::ffff:0:127.0.0.1]', 'always-denied:reserved'],
    ['[64:ff9b::127.0.0.1]', 'always-denied:nat64'],
    ['[64:ff9b:1::a9fe:a9fe]', 'always-denied:nat64'],
    ['[2002:7f00:1::1]', 'always-denied:6to4'],
    ['[2001:0:4136:e378:8000:63bf:3fff:fdd2]', 'always-denied:teredo'],
  ]
  for (const [host, rule] of cases) denied(t, request({ host, port: 443, protocol: 'tunnel', via: 'connect' }), 'always_denied_address', rule, `CONNECT ${host}`)
  const allowed = allowOf(request({ host: 'api.example.com', port: 443, protocol: 'https', via: 'connect' }))
  const v = decideAddresses(allowed, 443, 'https', ips('::ffff:127.0.0.1', '64:ff9b::7f00:1', '2002:a9fe:a9fe::'), P)
  denied(t, v.decision, 'no_allowed_address', /^always-denied:/, 'AAAA answers embedding IPv4')
})

t.test('0.0.0.0', async (t) => {
  denied(t, request({ host: '0.0.0.0', port: 5432, protocol: 'tunnel', via: 'connect' }), 'always_denied_address', 'always-denied:unspecified', 'CONNECT 0.0.0.0:5432')
  denied(t, request({ host: '0.0.0.0', port: 5432, protocol: 'tunnel', via: 'connect' }, makePolicy({ loopback_allowed: true })), 'always_denied_address', 'always-denied:unspecified', 'CONNECT 0.0.0.0:5432 with loopback_allowed')
  denied(t, request({ host: '[::]', port: 5432, protocol: 'tunnel', via: 'connect' }), 'always_denied_address', 'always-denied:unspecified', 'CONNECT [::]:5432')
  denied(t, request({ host: '0.0.0.0', port: 9901, protocol: 'http', via: 'http_proxy' }), 'self_connection', 'self-connection', '0.0.0.0 on the admin port')
  denied(t, request({ host: '0', port: 443, protocol: 'tunnel', via: 'connect' }), 'malformed_host', 'default-deny', 'CONNECT 0 (inet_aton 0.0.0.0)')
  const d = request({ host: '0.0.0.0', port: 5432, protocol: 'tunnel', via: 'connect' }, makePolicy({ mode: 'alert' }))
  t.equal(enforce(d, 'alert').permit, false, '0.0.0.0 stays denied in alert mode')
})

t.test('cloud metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200)', async (t) => {
  for (const host of ['169.254.169.254', '[fd00:ec2::254]', '100.100.100.200', '[::ffff:a9fe:a9fe]']) {
    const d = request({ host, port: 80, protocol: 'http', via: 'http_proxy' })
    denied(t, d, 'always_denied_address', 'always-denied:metadata', `GET http://${host}/`)
    t.equal(enforce(d, 'alert').permit, false, `${host}: stays denied in alert mode`)
  }
  const allowed = allowOf(request({ host: 'metadata.example.com', port: 443, protocol: 'https', via: 'connect' }))
  const v = decideAddresses(allowed, 443, 'https', ips('100.100.100.200', 'fd00:ec2::254', '169.254.169.254'), P)
  denied(t, v.decision, 'no_allowed_address', 'always-denied:metadata', 'an allowed name answering metadata addresses')
  t.equal(enforce(v.decision, 'alert').permit, false, 'metadata answers stay denied in alert mode')
})

t.test('DNS rebinding (an allowed name answering a private address)', async (t) => {
  const allowed = allowOf(request({ host: 'rebind.example.com', port: 443, protocol: 'https', via: 'connect' }))
  const cases: Array<[string[], string]> = [
    [['10.0.0.1'], 'always-denied:private'],
    [['192.168.1.10'], 'always-denied:private'],
    [['172.16.0.1'], 'always-denied:private'],
    [['127.0.0.1'], 'always-denied:loopback'],
    [['fc00::1'], 'always-denied:private'],
    [['100.64.0.1'], 'always-denied:cgnat'],
  ]
  for (const [answers, rule] of cases) {
    const v = decideAddresses(allowed, 443, 'https', ips(...answers), P)
    denied(t, v.decision, 'no_allowed_address', rule, `rebind.example.com → ${answers.join(', ')}`)
    t.strictSame(v.allowed, [], `rebind.example.com → ${answers.join(', ')}: nothing to dial`)
  }
  const mixed = decideAddresses(allowed, 443, 'https', ips('10.0.0.1', '93.184.216.34'), P)
  t.strictSame(mixed.allowed.map((a) => a.ip), ['93.184.216.34'], 'a mixed answer keeps only the global address')
  const dbAllowed = allowOf(request({ host: 'db.internal.example', port: 5432, protocol: 'tcp', via: 'tcp_forward' }))
  denied(t, decideAddresses(dbAllowed, 5432, 'tcp', ips('10.0.0.5'), P).decision, 'no_allowed_address', 'always-denied:private', 'a private answer needs a cidr rule even for a tcp rule')
})

t.test('suffix confusion (evil-example.com, example.com.evil.net)', async (t) => {
  for (const host of ['evil-example.com', 'evilexample.com', 'example.com.evil.net', 'api.example.com.evil.net', 'example.com-evil.net']) {
    denied(t, request({ host, port: 443, protocol: 'tunnel', via: 'connect' }), 'no_matching_rule', 'default-deny', `CONNECT ${host}`)
    const dns = decideDnsName(host, P, OPEN)
    t.equal(dns.verdict === 'deny' ? dns.code : 'allowed', 'no_matching_rule', `DNS ${host}`)
  }
  denied(t, request({ host: 'example.com', port: 443, protocol: 'tunnel', via: 'connect' }), 'no_matching_rule', 'default-deny', 'the apex is not a subdomain of itself')
})

t.test('case and trailing-dot tricks', async (t) => {
  for (const host of ['EXAMPLE.COM.', 'Example.Com', 'EVIL-EXAMPLE.COM.', 'Example.Com.Evil.Net.']) {
    denied(t, request({ host, port: 443, protocol: 'tunnel', via: 'connect' }), 'no_matching_rule', 'default-deny', `CONNECT ${host}`)
  }
  for (const host of ['api.example.com..', 'api.example.com。.', '.api.example.com']) {
    denied(t, request({ host, port: 443, protocol: 'tunnel', via: 'connect' }), 'malformed_host', 'default-deny', `CONNECT ${host}`)
  }
  const tunnel = allowOf(request({ host: 'API.Example.COM.', port: 443, protocol: 'tunnel', via: 'connect' }))
  t.equal(tunnel.target.host, 'api.example.com', 'an allowed name is decided on its normalised form')
  denied(t, decideTunnelContent(tunnel, { kind: 'tls', sni: 'api.example.com..' }), 'sni_mismatch', 'egress[0]', 'SNI with two trailing dots')
})

t.test('IDN homographs', async (t) => {
  for (const host of ['аpple.com', 'xn--pple-43d.com', 'аррӏе.com', 'www.еxample.com']) {
    denied(t, request({ host, port: 443, protocol: 'tunnel', via: 'connect' }), 'no_matching_rule', 'default-deny', `CONNECT ${host}`)
    const dns = decideDnsName(host, P, OPEN)
    t.equal(dns.verdict === 'deny' ? dns.code : 'allowed', 'no_matching_rule', `DNS ${host}`)
  }
  const tunnel = allowOf(request({ host: 'apple.com', port: 443, protocol: 'tunnel', via: 'connect' }))
  denied(t, decideTunnelContent(tunnel, { kind: 'tls', sni: 'аpple.com' }), 'sni_mismatch', 'egress[2]', 'homograph SNI inside a tunnel to apple.com')
})

t.test('Host header differing from the CONNECT target', async (t) => {
  const tunnel = allowOf(request({ host: 'example.net', port: 80, protocol: 'tunnel', via: 'connect' }))
  const hosts = ['evil.example', 'evil.example:80', 'example.net.evil.example', 'sub.example.net', 'example.net@evil.example', '[::1]:80']
  for (const host of hosts) {
    const content: TunnelContent = { kind: 'http', host }
    denied(t, decideTunnelContent(tunnel, content), 'host_mismatch', 'egress[1]', `CONNECT example.net:80, Host: ${host}`)
  }
})

t.test('SNI differing from the CONNECT host', async (t) => {
  const tunnel = allowOf(request({ host: 'api.example.com', port: 443, protocol: 'tunnel', via: 'connect' }))
  for (const sni of ['evil.example', 'other.example.com', 'api.example.com.evil.net', 'api.example.co', '']) {
    denied(t, decideTunnelContent(tunnel, { kind: 'tls', sni }), 'sni_mismatch', 'egress[0]', `CONNECT api.example.com:443, SNI ${JSON.stringify(sni)}`)
  }
})

t.test('DoT (853) and DoH to an unlisted host', async (t) => {
  denied(t, request({ host: 'dns.google', port: 853, protocol: 'tunnel', via: 'connect' }), 'no_matching_rule', 'default-deny', 'DoT to dns.google:853')
  denied(t, request({ host: '1.1.1.1', port: 853, protocol: 'tcp', via: 'connect' }), 'no_matching_rule', 'default-deny', 'DoT to 1.1.1.1:853')
  denied(t, request({ host: 'api.example.com', port: 853, protocol: 'tunnel', via: 'connect' }), 'port_not_allowed', 'egress[0]', 'DoT to an allowed name on port 853')
  denied(t, request({ host: 'cloudflare-dns.com', port: 443, protocol: 'https', via: 'transparent_tls' }), 'no_matching_rule', 'default-deny', 'DoH to cloudflare-dns.com')
  const dns = decideDnsName('cloudflare-dns.com', P, OPEN)
  t.equal(dns.verdict === 'deny' ? dns.code : 'allowed', 'no_matching_rule', 'the DoH server name is not resolved either')
})

t.test('DoH canary (use-application-dns.net)', async (t) => {
  for (const name of ['use-application-dns.net', 'USE-APPLICATION-DNS.NET.', 'a.use-application-dns.net']) {
    const d = decideDnsName(name, makePolicy({ dns_resolve_any: true }), OPEN)
    t.equal(d.verdict === 'deny' ? d.code : 'allowed', 'doh_canary', `${name}: doh_canary`)
    t.equal(d.rule, 'doh-canary', `${name}: rule`)
  }
})

t.test('direct connections that ignore HTTP_PROXY', async (t) => {
  denied(t, request({ host: 'evil.example', port: 443, protocol: 'https', via: 'transparent_tls' }), 'no_matching_rule', 'default-deny', 'transparent :443, SNI evil.example')
  denied(t, request({ host: 'evil.example', port: 80, protocol: 'http', via: 'transparent_http' }), 'no_matching_rule', 'default-deny', 'transparent :80, Host evil.example')
  denied(t, request({ host: '', port: 443, protocol: 'https', via: 'transparent_tls' }), 'malformed_host', 'default-deny', 'transparent :443 without SNI')
  t.equal(enforce(request({ host: '', port: 443, protocol: 'https', via: 'transparent_tls' }), 'alert').permit, false, 'a target-less request stays denied in alert mode')
})

t.test('DNS tunnelling through long or high-entropy labels', async (t) => {
  const names = [
    `${'a'.repeat(60)}.example.com`,
    'pswa2folm3sle2bhzapj4sv5ybusm4a6k44cias3.example.com',
    '7231866cc34e6462dd10370632d0a8df55023bbe.example.com',
    '6be9f1b672fb016af06895.be4746643de7622799de37.be310cd025fa4c3c33d779.82f50fff74d2de13e6dcae.example.com',
    'a.b.c.d.e.f.g.h.example.com',
  ]
  for (const name of names) {
    const d = decideDnsName(name, P, OPEN)
    t.equal(d.verdict === 'deny' ? d.code : 'allowed', 'dns_tunnel_suspected', `${name.slice(0, 40)}…: dns_tunnel_suspected`)
    t.equal(d.rule, 'egress[0]', `${name.slice(0, 40)}…: the rule whose wildcard was abused`)
  }
  const d = decideDnsName(`${'b'.repeat(60)}.anything.example`, makePolicy({ dns_resolve_any: true }), OPEN)
  t.equal(d.verdict === 'deny' ? d.code : 'allowed', 'dns_tunnel_suspected', 'dns_resolve_any still checks for tunnels')
})

t.test("reaching the host's or the aggregator's own ports from the provider's network", async (t) => {
  const cases: Array<[string, number]> = [
    ['10.254.1.1', 3128], ['10.254.1.2', 8000], ['127.0.0.1', 9901], ['127.0.0.53', 53], ['[::1]', 8000], ['0.0.0.0', 3128], ['[::ffff:127.0.0.1]', 9901],
  ]
  for (const [host, port] of cases) {
    const d = request({ host, port, protocol: 'tunnel', via: 'connect' }, makePolicy({ loopback_allowed: true }))
    denied(t, d, 'self_connection', 'self-connection', `CONNECT ${host}:${port}`)
    t.equal(enforce(d, 'alert').permit, false, `${host}:${port}: stays denied in alert mode`)
  }
  const p = makePolicy({ loopback_allowed: true })
  const allowed = allowOf(request({ host: 'sneaky.example.org', port: 9901, protocol: 'http', via: 'connect' }, p))
  const v = decideAddresses(allowed, 9901, 'http', ips('127.0.0.1', '10.254.1.1'), p)
  denied(t, v.decision, 'self_connection', 'self-connection', 'an allowed name answering the sidecar on a protected port')
})

t.test('Host naming another port than the CONNECT target (virtual-host routing by port)', async (t) => {
  const policy = compilePolicy('p', capabilitiesSchema.parse({ network: { egress: [{ host: 'example.net', port: 0, protocol: 'http' }] } }))
  const d = decideRequest({ host: 'example.net', port: 80, protocol: 'tunnel', via: 'connect' }, policy, { quarantined: false })
  if (d.verdict !== 'allow') throw new Error('setup: expected allow')
  for (const host of ['example.net:8080', 'example.net:abc', '[::1]:80']) {
    t.equal(decideTunnelContent(d, { kind: 'http', host }, 80).verdict, 'deny', host)
  }
  for (const host of ['example.net', 'example.net:80', 'EXAMPLE.net:80']) {
    t.equal(decideTunnelContent(d, { kind: 'http', host }, 80).verdict, 'allow', host)
  }
})
