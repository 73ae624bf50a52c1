/**
 * DNS tunnelling through an allowed wildcard (policy/tunnel.ts, egress/dns/forwarder.ts): the
 * shape check catches letters-only encodings (hex mapped to a–p, lowercase base32, base26) as
 * well as hex/base32 with digits, very long names and many labels, for A and AAAA alike; the
 * subdomain budget (unique subdomains per registrable domain per window) catches word-like names
 * too, per registrable domain (public suffix list with private entries), ends with its window,
 * and keeps bounded memory. Queries go over real UDP/TCP to our DnsServer on 127.0.0.1; the
 * upstream is a test DNS server on 127.0.0.1 that logs what reached it.
 */
import t from 'tap'
import fc from 'fast-check'
import * as dnsPacket from 'dns-packet'
import { BUDGET_MAX_DOMAINS, budgetKey, letterPairCost, SubdomainBudget, tunnelSuspicion } from '../../policy/tunnel.js'
import { base26, base32Lower, hexLetters, wordLabel } from '../helpers/tunnel-names.js'
import { answersOf, makeQuery, serveDnsRig, rcodeOf, tcpExchange, udpExchange, type DnsRig, type DnsRigOptions, type TestRecord } from '../helpers/dns-server.js'

const GLOBAL = '93.184.216.34'
type Tap = { teardown(fn: () => unknown): void }

const serve = (t: Tap, opts: Partial<DnsRigOptions> = {}) => serveDnsRig(t, { capabilities: { network: { egress: [{ host: '*.wild.test' }, { host: '*.other.test' }] } }, ...opts })

let nextId = 1
async function ask(port: number, names: string[], type: string, transport: 'udp' | 'tcp'): Promise<dnsPacket.DecodedPacket[]> {
  const qs = names.map((n) => makeQuery(n, type, { id: nextId++ & 0xffff }))
  if (transport === 'tcp') return (await tcpExchange(port, qs)).map((b) => dnsPacket.decode(b))
  const replies = await udpExchange(port, qs)
  return qs.map((q) => dnsPacket.decode(replies.get(q.readUInt16BE(0))!))
}

const ENCODINGS: Array<[string, (seed: string, n: number) => string]> = [['hex mapped to a–p', hexLetters], ['lowercase base32', base32Lower], ['base26 letters', base26]]

t.test('25 queries with two 40-letter encoded labels under *.wild.test: none reaches upstream (UDP and TCP, A and AAAA)', async (t) => {
  for (const [what, enc] of ENCODINGS) {
    for (const transport of ['udp', 'tcp'] as const) {
      const { rig, port } = await serve(t)
      const names = Array.from({ length: 25 }, (_, i) => `${enc(`${what}${i}a`, 40)}.${enc(`${what}${i}b`, 40)}.wild.test`)
      const replies = [...(await ask(port, names.slice(0, 13), 'A', transport)), ...(await ask(port, names.slice(13), 'AAAA', transport))]
      t.ok(replies.every((r) => rcodeOf(r) === 'NXDOMAIN'), `${what}/${transport}: all 25 NXDOMAIN`)
      t.equal(rig.upstream.queries.length, 0, `${what}/${transport}: 0 of 25 reached upstream`)
      t.equal(rig.of('dns_tunnel_suspected').length, 25, `${what}/${transport}: 25 dns_tunnel_suspected signals`)
      // Control: 25 word-like two-label names under the same wildcard reach upstream.
      const words = Array.from({ length: 25 }, (_, i) => `${wordLabel(i, 2)}.${wordLabel(i + 11, 2)}.wild.test`)
      await ask(port, words, 'A', transport)
      t.equal(rig.upstream.queries.length, 25, `${what}/${transport}: control: 25 of 25 word-like names reached upstream`)
      t.equal(rig.of('dns_tunnel_suspected').length, 25, 'no new suspicion')
    }
  }
})

t.test('very long names, many labels, and 0x20 letter case are judged alike', async (t) => {
  const { rig, port } = await serve(t)
  const label60 = (i: number) => wordLabel(i, 12).slice(0, 60)
  const long = `${label60(1)}.${label60(2)}.${label60(3)}.${label60(4)}.wild.test` // 253 characters: the most a name can have
  t.equal(long.length, 253)
  const many = 'a.b.c.d.e.f.g.h.i.j.wild.test'
  const mixed = `${hexLetters('x', 40)}.${hexLetters('y', 40)}.wild.test`.replace(/[a-z]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c))
  const replies = await ask(port, [long, many, mixed], 'A', 'udp')
  t.ok(replies.every((r) => rcodeOf(r) === 'NXDOMAIN'))
  t.equal(replies[2]!.questions?.[0]?.name, mixed, '0x20 case echoed')
  t.equal(rig.upstream.queries.length, 0)
  t.equal(rig.of('dns_tunnel_suspected').length, 3)
})

t.test('shape: encoded labels are flagged, real host names are not (property-based, fixed seed)', async (t) => {
  const label = (alphabet: string) => fc.string({ unit: fc.constantFrom(...alphabet), minLength: 40, maxLength: 40 })
  for (const [what, alphabet] of [['a–p', 'abcdefghijklmnop'], ['a–z', 'abcdefghijklmnopqrstuvwxyz'], ['base32', 'abcdefghijklmnopqrstuvwxyz234567'], ['hex', '0123456789abcdef']]) {
    const r = fc.check(fc.property(label(alphabet!), label(alphabet!), (a, b) => tunnelSuspicion(`${a}.${b}`) !== null), { seed: 4242, numRuns: 500 })
    t.same({ failed: r.failed, numRuns: r.numRuns }, { failed: false, numRuns: 500 }, `${what}: 500 of 500 random two-label payloads flagged${r.counterexample ? ` (not: ${JSON.stringify(r.counterexample)})` : ''}`)
  }
  // One 24-letter random label alone: caught by shape most of the time, and by the budget otherwise.
  let caught = 0
  fc.assert(fc.property(label('abcdefghijklmnop').map((s) => s.slice(0, 24)), (a) => {
    if (tunnelSuspicion(a) !== null) caught++
  }), { seed: 7, numRuns: 500 })
  t.ok(caught >= 450, `single 24-letter a–p labels: ${caught}/500 flagged by shape alone`)
  const real = [
    'raw', 'objects', 'avatars', 'd1a2b3c4d5e6f7', 'mycompanyproductionbackups', 'mycompanyproductionbackups2024.s3', 'contosoproductionstorage',
    'internationalization-service', 'github-production-release-asset-2e65be', 'a1b2c3d4-e5f6-7890-abcd-ef1234567890', 'k8s-prod-eu1-ingress-lb',
    'ip-10-0-0-1.ec2', 'x86-64-builder-3', 'strengthsandweaknesses', 'rhythmsynthesizer', 'cdnjscloudflare', 'registrynpmjs', 'unpkgcdnservice',
    'marketplacesvisualstudio', 'authenticationservice.eu-west-1', 'my-company-backups-prod-eu-west-1.s3.eu-west-1', 'applicationinsights.westeurope',
    'internal-my-elb-1234567890.us-east-1.elb', 'hello-3nv6tyqnma-uc.a.run', 'xn--80ak6aa92e', 'www', 'api.v2', 'static-assets.prod.europe',
  ]
  for (const free of real) t.equal(tunnelSuspicion(free), null, `passes: ${free}`)
  t.ok(letterPairCost('githubusercontent') < 4, 'words are cheap under the letter-pair model')
  t.ok(letterPairCost(hexLetters('z', 40)) > 5.4, 'hex mapped to a–p is expensive')
})

/** A rig whose upstream answers host-<i>.<domain> with an address, so admitted and refused names differ. */
async function budgetRig(t: Tap, mode = 'block', maxNames = 10): Promise<{ rig: DnsRig; port: number }> {
  const records: Record<string, TestRecord[]> = {}
  for (const d of ['wild.test', 'other.test']) for (let i = 0; i < 40; i++) records[`host-${i}.${d}`] = [{ type: 'A', data: GLOBAL }]
  return serve(t, { records, capabilities: { enforcement_mode: mode, network: { subdomain_budget: { max_names: maxNames, window_s: 60 }, egress: [{ host: '*.wild.test' }, { host: '*.other.test' }] } } })
}
const hosts = (d: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `host-${from + i}.${d}`)

t.test('budget: past max_names new subdomains per registrable domain, word-like names are refused too', async (t) => {
  const { rig, port } = await budgetRig(t)
  const first = await ask(port, hosts('wild.test', 0, 10), 'A', 'udp')
  t.ok(first.every((r) => answersOf(r, 'A')[0] === GLOBAL), '10 new names: answered')
  const over = await ask(port, hosts('wild.test', 10, 15), 'A', 'udp')
  t.ok(over.every((r) => rcodeOf(r) === 'NXDOMAIN'), 'the 11th to 15th: NXDOMAIN')
  const overTcp = await ask(port, hosts('wild.test', 15, 16), 'AAAA', 'tcp')
  t.equal(rcodeOf(overTcp[0]!), 'NXDOMAIN', 'over TCP, AAAA: the same')
  t.equal(new Set(rig.upstream.queries.map((q) => q.name)).size, 10, 'only the 10 admitted names reached upstream')
  const s = rig.of('dns_tunnel_suspected')
  t.equal(s.length, 6)
  t.match(s[0], { action: 'blocked', rule: 'egress[0]', destination: { host: 'host-10.wild.test' }, details: { code: 'dns_tunnel_suspected' } })
  t.match(s[0]!.reason, /more than 10 unique subdomains of wild\.test within 60 s/)
  // Admitted names stay admitted (cached or not), in another case too.
  const again = await ask(port, ['host-3.wild.test', 'HOST-4.Wild.Test', 'host-9.wild.test'], 'A', 'udp')
  t.ok(again.every((r) => answersOf(r, 'A')[0] === GLOBAL), 'repeats of admitted names: answered')
  // Another registrable domain has its own budget.
  const other = await ask(port, hosts('other.test', 0, 10), 'A', 'udp')
  t.ok(other.every((r) => answersOf(r, 'A')[0] === GLOBAL), 'other.test: its own 10')
  // The window ends: new names are admitted again.
  rig.clock.now += 60_000
  const later = await ask(port, hosts('wild.test', 20, 30), 'A', 'udp')
  t.ok(later.every((r) => answersOf(r, 'A')[0] === GLOBAL), 'after the window: 10 more')
  t.equal(rcodeOf((await ask(port, ['host-30.wild.test'], 'A', 'udp'))[0]!), 'NXDOMAIN', 'and the budget holds again')
  t.equal(rcodeOf((await ask(port, ['host-3.wild.test'], 'A', 'udp'))[0]!), 'NXDOMAIN', 'a name of the last window counts anew (memoised or not): over budget now, as it is on CONNECT')
})

t.test('budget in alert mode: forwarded and signalled alerted, each time, cached answers too', async (t) => {
  const { rig, port } = await budgetRig(t, 'alert', 3)
  await ask(port, hosts('wild.test', 0, 3), 'A', 'udp')
  for (let i = 0; i < 3; i++) {
    const r = (await ask(port, ['host-7.wild.test'], 'A', 'udp'))[0]!
    t.same(answersOf(r, 'A'), [GLOBAL], `over budget #${i}: answered (alert mode)`)
  }
  t.equal(rig.upstream.queriesFor('host-7.wild.test').length, 1, 'forwarded once, then cached')
  const s = rig.of('dns_tunnel_suspected')
  t.equal(s.length, 3, 'every query signalled, the cache hits too')
  t.ok(s.every((x) => x.action === 'alerted'))
})

t.test('budget keys: registrable domain with private public-suffix entries', async (t) => {
  t.same(budgetKey('x.wild.test'), { domain: 'wild.test', sub: 'x' })
  t.same(budgetKey('a.b.example.co.uk'), { domain: 'example.co.uk', sub: 'a.b' })
  t.same(budgetKey('data.alice.github.io'), { domain: 'alice.github.io', sub: 'data' }, 'private suffix github.io: alice.github.io is the domain')
  t.same(budgetKey('alice.github.io'), { domain: 'github.io', sub: 'alice' }, 'a domain under a private suffix counts against the suffix')
  t.same(budgetKey('bucket.s3.amazonaws.com'), { domain: 's3.amazonaws.com', sub: 'bucket' })
  t.equal(budgetKey('example.com'), null, 'a registrable domain under an ICANN suffix has nothing to vary')
  t.equal(budgetKey('co.uk'), null)
  t.equal(budgetKey('10.0.0.1'), null)
  const clock = { now: 0 }
  const b = new SubdomainBudget({ maxNames: 2, windowMs: 1000 }, () => clock.now)
  t.equal(b.admit('a.alice.github.io'), null)
  t.equal(b.admit('b.alice.github.io'), null)
  t.match(b.admit('c.alice.github.io'), { domain: 'alice.github.io' })
  t.equal(b.admit('c.bob.github.io'), null, 'bob.github.io is another owner')
  t.equal(b.admit('example.com'), null, 'not budgeted')
})

t.test('budget memory is bounded: at most BUDGET_MAX_DOMAINS domains, max_names per domain; fails closed when full', async (t) => {
  const clock = { now: 0 }
  const b = new SubdomainBudget({ maxNames: 4, windowMs: 60_000 }, () => clock.now)
  let fresh = 0
  for (let i = 0; i < BUDGET_MAX_DOMAINS; i++) if (b.admit(`x.d${i}.test`) === null) fresh++
  t.equal(fresh, BUDGET_MAX_DOMAINS, 'up to the bound, every new domain is tracked')
  t.equal(b.size, BUDGET_MAX_DOMAINS)
  t.match(b.admit('x.one-more.test'), { reason: /more than 1024 registrable domains/ }, 'a new domain past the bound is refused')
  t.equal(b.size, BUDGET_MAX_DOMAINS, 'nothing added')
  t.equal(b.admit('x.d5.test'), null, 'known domains keep working')
  let admitted = 0
  for (let i = 0; i < 10_000; i++) if (b.admit(`n${i}.d7.test`) === null) admitted++
  t.equal(admitted, 3, 'one domain: max_names (4, one used above) admitted of 10,000')
  clock.now += 60_000
  t.equal(b.admit('x.one-more.test'), null, 'after the window, expired domains make room')
  t.ok(b.size <= BUDGET_MAX_DOMAINS)
})
