/**
 * DNS record types as a channel (egress/dns/forwarder.ts, `network.egress[i].dns_types`): for an
 * allowed name only A and AAAA (and the CNAME chain in their answers) are forwarded by default;
 * every other type gets NOERROR without records and a `dns_denied` signal naming the type, over
 * UDP and TCP, in any letter case, from the cache too. The answers that do go back keep only the
 * asked type and its CNAME chain (records stuffed into other sections are a channel back), and the
 * client's EDNS options never reach upstream. Real sockets: our DnsServer on 127.0.0.1 in front of
 * the forwarder, a test DNS server (and a record-stuffing one) on 127.0.0.1 as the upstream.
 */
import t from 'tap'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import * as dnsPacket from 'dns-packet'
import { parseConfig } from '../../../config/load.js'
import { answersOf, makeQuery, rcodeOf, serveDnsRig, tcpExchange, udpQuery, type DnsRigOptions } from '../../helpers/dns-server.js'

const GLOBAL = '93.184.216.34'
const GLOBAL6 = '2606:2800:220:1:248:1893:25c8:1946'

const CAPS = {
  network: {
    egress: [
      { host: 'api.example.com' }, // egress[0]: A/AAAA only
      { host: '*.mail.example.net', dns_types: ['MX', 'txt'] }, // egress[1]
      { host: '*.cdn.example.net' }, // egress[2]
    ],
  },
}

const RECORDS: DnsRigOptions['records'] = {
  'api.example.com': [{ type: 'A', data: GLOBAL }, { type: 'AAAA', data: GLOBAL6 }, { type: 'TXT', data: 'secret-from-upstream' }],
  'in.mail.example.net': [{ type: 'TXT', data: 'v=spf1 -all' }, { type: 'A', data: GLOBAL }],
  'img.cdn.example.net': [{ type: 'CNAME', data: 'edge.cdn.example.net' }],
  'edge.cdn.example.net': [{ type: 'A', data: GLOBAL }, { type: 'TXT', data: 'data-behind-a-cname' }],
}

/** Types a tunnel uses for its downstream, and others an allowed name must not get by default. */
const DENIED_TYPES: Array<[query: string, signalled: string]> = [
  ['TXT', 'TXT'], ['NULL', 'NULL'], ['MX', 'MX'], ['SRV', 'SRV'], ['CNAME', 'CNAME'], ['NS', 'NS'], ['SOA', 'SOA'],
  ['CAA', 'CAA'], ['PTR', 'PTR'], ['HINFO', 'HINFO'], ['NAPTR', 'NAPTR'], ['DNSKEY', 'DNSKEY'], ['UNKNOWN_65280', 'TYPE65280'],
]

type Tap = { teardown(fn: () => unknown): void }

const serve = (t: Tap, opts: Partial<DnsRigOptions> = {}) => serveDnsRig(t, { capabilities: CAPS, records: RECORDS, realClock: true, ...opts })

let nextId = 1
const udp = async (port: number, name: string, type: string) => dnsPacket.decode(await udpQuery(port, makeQuery(name, type, { id: nextId++ })))
const tcp = async (port: number, name: string, type: string) => dnsPacket.decode((await tcpExchange(port, [makeQuery(name, type, { id: nextId++ })]))[0]!)

t.test('an allowed name: every type but A/AAAA gets NODATA and a dns_denied signal, over UDP and TCP; upstream never asked', async (t) => {
  const { rig, port } = await serve(t)
  for (const [type, signalled] of DENIED_TYPES) {
    for (const [transport, ask] of [['udp', udp], ['tcp', tcp]] as const) {
      const before = rig.of('dns_denied').length
      const r = await ask(port, 'api.example.com', type)
      t.equal(rcodeOf(r), 'NOERROR', `${type}/${transport}: NOERROR (the name exists)`)
      t.same(r.answers, [], `${type}/${transport}: no records`)
      const s = rig.of('dns_denied').slice(before)
      t.equal(s.length, 1, `${type}/${transport}: one signal`)
      t.match(s[0], { action: 'blocked', rule: 'egress[0]', destination: { host: 'api.example.com', protocol: 'dns' }, details: { code: 'dns_type_not_allowed', qtype: signalled } }, `${type}/${transport}: the signal names the type`)
    }
  }
  t.equal(rig.upstream.queries.length, 0, 'nothing reached upstream')
  // Control: the same name's addresses are forwarded and answered.
  t.same(answersOf(await udp(port, 'api.example.com', 'A'), 'A'), [GLOBAL])
  t.same(answersOf(await tcp(port, 'api.example.com', 'AAAA'), 'AAAA'), [GLOBAL6])
  t.same(rig.upstream.queries.map((q) => q.type).sort(), ['A', 'AAAA'])
})

t.test('dns_types forwards the listed types for the rule\'s names only', async (t) => {
  const { rig, port } = await serve(t)
  const txt = await udp(port, 'IN.Mail.Example.NET', 'TXT')
  t.equal(rcodeOf(txt), 'NOERROR')
  t.same(answersOf(txt, 'TXT'), ['v=spf1 -all'], 'TXT listed (in lower case) for *.mail.example.net: forwarded and answered')
  t.equal(rig.upstream.queriesFor('in.mail.example.net').filter((q) => q.type === 'TXT').length, 1)
  await udp(port, 'in.mail.example.net', 'MX')
  t.equal(rig.upstream.queriesFor('in.mail.example.net').filter((q) => q.type === 'MX').length, 1, 'MX listed: forwarded')
  // Not listed for this rule, or another rule's name: denied.
  t.same((await udp(port, 'in.mail.example.net', 'SRV')).answers, [])
  t.same((await udp(port, 'img.cdn.example.net', 'TXT')).answers, [])
  t.equal(rig.upstream.queries.filter((q) => q.type === 'SRV' || q.name.endsWith('cdn.example.net')).length, 0)
  t.same(rig.of('dns_denied').map((s) => (s.details as { qtype: string }).qtype), ['SRV', 'TXT'])
})

t.test('the CNAME chain of an address answer is kept; a CNAME question, or TXT behind a CNAME, is not forwarded', async (t) => {
  const { rig, port } = await serve(t)
  const a = await udp(port, 'img.cdn.example.net', 'A')
  t.same(answersOf(a, 'CNAME'), ['edge.cdn.example.net'], 'CNAME inside an A answer: kept')
  t.same(answersOf(a, 'A'), [GLOBAL])
  const c = await udp(port, 'img.cdn.example.net', 'CNAME')
  t.same(c.answers, [], 'a direct CNAME question: NODATA')
  const viaCname = await udp(port, 'img.cdn.example.net', 'TXT')
  t.same(viaCname.answers, [], 'TXT through a CNAME chain: NODATA')
  t.same(rig.upstream.queries.map((q) => `${q.name} ${q.type}`), ['img.cdn.example.net A'], 'only the A question went upstream')
})

t.test('a cached answer and the hot path never bypass the type check; 0x20 letter case neither', async (t) => {
  const { rig, port } = await serve(t)
  for (let i = 0; i < 3; i++) t.same(answersOf(await udp(port, 'api.example.com', 'A'), 'A'), [GLOBAL], `A #${i} (cache, then hot path)`)
  t.equal(rig.upstream.queries.length, 1, 'served from the cache')
  for (const name of ['api.example.com', 'API.EXAMPLE.COM', 'aPi.ExAmPlE.cOm']) {
    const r = await udp(port, name, 'TXT')
    t.same(r.answers, [], `${name} TXT: NODATA`)
    t.equal(r.questions?.[0]?.name, name, 'the question echoes the client\'s case')
  }
  t.equal(rig.of('dns_denied').length, 3)
  t.equal(rig.upstream.queries.length, 1, 'TXT never went upstream')
})

t.test('alert mode forwards a type outside dns_types and signals it (alerted) on every query, cached or not', async (t) => {
  const { rig, port } = await serve(t, { capabilities: { ...CAPS, enforcement_mode: 'alert' } })
  for (let i = 0; i < 3; i++) {
    const r = await udp(port, 'api.example.com', 'TXT')
    t.same(answersOf(r, 'TXT'), ['secret-from-upstream'], `TXT #${i} answered (alert mode)`)
  }
  t.equal(rig.upstream.queriesFor('api.example.com').length, 1, 'forwarded once, then from the cache')
  const s = rig.of('dns_denied')
  t.equal(s.length, 3, 'each query, the cached ones too, is signalled')
  t.ok(s.every((x) => x.action === 'alerted' && (x.details as { code: string }).code === 'dns_type_not_allowed'))
})

t.test('quarantine mode: a type outside dns_types quarantines the provider', async (t) => {
  const { rig, port } = await serve(t, { capabilities: { ...CAPS, enforcement_mode: 'quarantine' } })
  t.same((await udp(port, 'api.example.com', 'TXT')).answers, [])
  t.equal(rig.enforcement.state.quarantined, true)
  t.equal(rcodeOf(await udp(port, 'api.example.com', 'A')), 'NXDOMAIN', 'then every name is denied')
})

/**
 * An upstream that answers every question with what was asked and, in every section, records
 * of other types (TXT, NS, an extra A): an authoritative server of a tunnel sending data back.
 * Records every raw query it receives.
 */
async function stuffingUpstream(t: Tap): Promise<{ address: string; port: number; raw: Buffer[] }> {
  const raw: Buffer[] = []
  const sock: UdpSocket = createSocket('udp4')
  sock.on('message', (msg, rinfo) => {
    raw.push(msg)
    const q = dnsPacket.decode(msg)
    const question = q.questions![0]!
    const name = question.name
    const answers: dnsPacket.Answer[] = [
      { name, type: 'TXT', ttl: 60, data: 'stuffed-answer-txt' },
      { name, type: 'NULL', ttl: 60, data: Buffer.from('stuffed-null') },
      // The asked type, but owned by names outside the question's CNAME chain: data in the owner.
      { name: 'c2VjcmV0LWRhdGE.exfil.example', type: question.type as 'A', ttl: 60, data: question.type === 'TXT' ? 'stuffed-owner' : GLOBAL } as dnsPacket.Answer,
      { name: 'unrelated.exfil.example', type: 'CNAME', ttl: 60, data: 'bW9yZS1kYXRh.exfil.example' },
    ]
    if (question.type === 'A') answers.unshift({ name, type: 'A', ttl: 60, data: GLOBAL })
    if (question.type === 'TXT') answers.unshift({ name, type: 'TXT', ttl: 60, data: 'asked-for-txt' })
    sock.send(dnsPacket.encode({
      id: q.id ?? 0, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED, questions: [question], answers,
      authorities: [
        { name, type: 'NS', ttl: 60, data: 'stuffed-ns.exfil.example' }, { name, type: 'TXT', ttl: 60, data: 'stuffed-authority' },
        ...[1, 2].map((i) => ({ name: 'example.com', type: 'SOA' as const, ttl: 60, data: { mname: `ns${i}.example.com`, rname: 'h.example.com', serial: i, refresh: 1, retry: 1, expire: 1, minimum: 60 } })),
      ],
      additionals: [{ name: 'stuffed-ns.exfil.example', type: 'A', ttl: 60, data: GLOBAL }, { name, type: 'TXT', ttl: 60, data: 'stuffed-additional' }],
    }), rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  const port = sock.address().port
  return { address: `127.0.0.1:${port}`, port, raw }
}

t.test('records of other types stuffed into a reply are removed from every section', async (t) => {
  const up = await stuffingUpstream(t)
  // Control: the upstream does stuff its replies.
  const direct = dnsPacket.decode(await udpQuery(up.port, makeQuery('api.example.com', 'A', { id: 7 })))
  t.same(direct.answers?.map((a) => a.type), ['A', 'TXT', 'NULL', 'A', 'CNAME'], 'control: the raw reply carries TXT, NULL and foreign-owner answers')
  t.same(direct.authorities?.map((a) => a.type), ['NS', 'TXT', 'SOA', 'SOA'])
  t.same(direct.additionals?.map((a) => a.type), ['A', 'TXT'])
  up.raw.length = 0

  const { port } = await serve(t, { sidecar: { upstream_dns: [up.address] } })
  const a = await udp(port, 'api.example.com', 'A')
  t.same(a.answers?.map((x) => `${x.name} ${x.type}`), ['api.example.com A'], 'A question: only the A record the name owns')
  t.same(a.authorities?.map((x) => x.type), ['SOA'], 'authority: one SOA, no NS or TXT')
  t.same(a.additionals, [], 'nothing in additional')
  const viaTcp = await tcp(port, 'api.example.com', 'A')
  t.same(viaTcp.answers?.map((x) => x.type), ['A'], 'the same over TCP')
  // A type the rule lists keeps only that type.
  const txt = await udp(port, 'in.mail.example.net', 'TXT')
  t.same(answersOf(txt, 'TXT'), ['asked-for-txt', 'stuffed-answer-txt'], 'TXT question (listed): the name\'s TXT records only')
  t.same(txt.answers?.filter((x) => x.type !== 'TXT'), [], 'no NULL record')
})

t.test("the client's EDNS options never reach upstream", async (t) => {
  const up = await stuffingUpstream(t)
  const secret = Buffer.from('EXFIL-IN-EDNS-OPTION')
  const q = (id: number) => dnsPacket.encode({
    id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'api.example.com', type: 'A' }],
    additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [{ code: 65001, data: secret }, { code: 10, data: Buffer.from('0123456789abcdef') }] as never }],
  })
  // Control: sent straight to the upstream, the option bytes arrive.
  await udpQuery(up.port, q(1))
  t.ok(up.raw.some((b) => b.includes(secret)), 'control: the recorder sees option bytes')
  up.raw.length = 0
  const { port } = await serve(t, { sidecar: { upstream_dns: [up.address] } })
  const r = dnsPacket.decode(await udpQuery(port, q(2)))
  t.same(answersOf(r, 'A'), [GLOBAL])
  t.equal(up.raw.length, 1, 'one upstream query')
  t.notOk(up.raw[0]!.includes(secret), 'the option payload was not forwarded')
  const opt = dnsPacket.decode(up.raw[0]!).additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined
  t.same(opt?.options ?? [], [], 'the upstream query carries our own OPT, without options')
})

t.test('reverse lookups of always-denied ranges are answered locally (RFC 6303), in every mode', async (t) => {
  const caps = {
    enforcement_mode: 'alert',
    network: {
      egress: [
        { host: '*.10.in-addr.arpa', dns_types: ['PTR'] },
        { host: '*.184.93.in-addr.arpa', dns_types: ['PTR'] },
        { host: '*.20.10.in-addr.arpa', dns_types: ['PTR'] },
        { cidr: '10.20.0.0/16' },
      ],
    },
  }
  const { rig, port } = await serve(t, { capabilities: caps })
  for (const name of ['5.0.0.10.in-addr.arpa', '0.10.in-addr.arpa']) {
    const r = await udp(port, name, 'PTR')
    t.equal(rcodeOf(r), 'NXDOMAIN', `${name}: NXDOMAIN even in alert mode`)
    t.match(rig.of('dns_denied').at(-1), { action: 'blocked', rule: 'always-denied:private', details: { code: 'always_denied_address' } })
  }
  t.equal(rig.upstream.queries.length, 0, 'private reverse zones never asked upstream')
  // Controls: a global range, and a private range a cidr rule names, are forwarded.
  await udp(port, '34.216.184.93.in-addr.arpa', 'PTR')
  await udp(port, '1.0.20.10.in-addr.arpa', 'PTR')
  t.same(rig.upstream.queries.map((q) => q.name).sort(), ['1.0.20.10.in-addr.arpa', '34.216.184.93.in-addr.arpa'])
})

t.test('dns_types is validated at load, naming the config path', async (t) => {
  const cfg = (rule: string, extra = '') => `providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    capabilities:\n      network:\n${extra}        egress:\n          - ${rule}\n`
  const err = (text: string) => {
    try {
      parseConfig(text)
    } catch (e) {
      return (e as Error).message
    }
    return ''
  }
  t.match(err(cfg('{host: a.example.com, dns_types: [TXT, FOO]}')), /providers\.p\.capabilities\.network\.egress\[0\]\.dns_types\[1\].*"FOO" is not a DNS record type/s)
  t.match(err(cfg('{host: a.example.com, dns_types: [HTTPS]}')), /dns_types\[0\].*address hints/s)
  t.match(err(cfg('{host: a.example.com, dns_types: [ANY]}')), /dns_types\[0\].*RFC 8482/s)
  t.match(err(cfg('{host: a.example.com, dns_types: [AXFR]}')), /dns_types\[0\].*zone transfers/s)
  t.match(err(cfg('{host: a.example.com, dns_types: [TYPE70000]}')), /dns_types\[0\].*not a DNS record type/s)
  t.match(err(cfg('{cidr: 10.0.0.0/8, dns_types: [PTR]}')), /egress\[0\]\.dns_types.*cidr rule names no DNS name/s)
  t.match(err(cfg('{host: a.example.com}', '        subdomain_budget: {max_names: 10, windw_s: 5}\n')), /subdomain_budget.*windw_s/s)
  t.match(err(cfg('{host: a.example.com}', '        subdomain_budget: {max_names: 0}\n')), /subdomain_budget\.max_names/)
  // Controls: valid spellings load.
  t.equal(err(cfg('{host: a.example.com, dns_types: [txt, MX, TYPE65280, A]}')), '')
  t.equal(err(cfg('{host: a.example.com}', '        subdomain_budget: {max_names: 10, window_s: 5}\n')), '')
})
