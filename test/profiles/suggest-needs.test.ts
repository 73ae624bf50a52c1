/**
 * collectNeeds (profiles/suggest-needs.ts): a baseline's egress records as needs for `profile
 * suggest`. Records that never went through are `denied`; port 0 and unparsable targets are
 * skipped with a note; a CONNECT tunnel's protocol comes from what it carried (or its port);
 * needs of one (target, port, protocol) merge; a tunnel sharing a port with another protocol
 * becomes one tcp/any need; a tcp need on a default listener port or a port several hosts use
 * becomes `any`; two tcp forwards on one port get a note. Each rule with its control.
 */
import t from 'tap'
import { collectNeeds, hasTunnel, PROTOCOL_ORDER, type Need } from '../../profiles/suggest-needs.js'
import type { EgressRecord } from '../../policy/baseline-schema.js'
import { egressRecord, makeBaseline } from '../helpers/baseline.js'

function run(records: EgressRecord[]) {
  const notes: string[] = []
  const r = collectNeeds(makeBaseline({ egress: records }), notes)
  return { ...r, notes }
}

const brief = (n: Need) => `${n.kind}:${n.target}:${n.port}/${n.protocol}`
const tunnel = (host: string, port: number, content?: EgressRecord['content']) => egressRecord({ host, port, protocol: 'tunnel', via: { connect: 1 }, ...(content && { content }) })

t.test('records that never went through are denied; allowed and alerted ones count', async (t) => {
  const blocked = egressRecord({ host: 'evil.example', actions: { blocked: 3 } })
  const alerted = egressRecord({ host: 'alerted.example', actions: { alerted: 1, blocked: 1 } })
  const r = run([blocked, alerted, egressRecord({ host: 'ok.example' })])
  t.same(r.denied, [blocked])
  t.same(r.needs.map(brief), ['name:alerted.example:443/https', 'name:ok.example:443/https'])
  t.same(r.notes, [])
})

t.test('port 0 and unparsable targets are left out with a note', async (t) => {
  const r = run([egressRecord({ host: 'zero.example', port: 0 }), egressRecord({ host: 'bad_host..example' }), egressRecord({ host: 'fine.example' })])
  t.same(r.needs.map(brief), ['name:fine.example:443/https'])
  t.equal(r.notes.length, 2)
  t.match(r.notes[0], /^zero\.example.*: port 0 is not a destination port; not included$/)
  t.match(r.notes[1], /bad_host\.\.example.*not included$/)
})

t.test('an IP-literal destination is an ip need with its parsed address; names are normalised', async (t) => {
  const r = run([egressRecord({ ip: '192.0.2.10', port: 8443 }), egressRecord({ host: 'API.Example.COM.' })])
  t.same(r.needs.map(brief), ['ip:192.0.2.10:8443/https', 'name:api.example.com:443/https'])
  t.match(r.needs[0]!.address, { ip: '192.0.2.10' })
  t.equal(r.needs[1]!.address, undefined)
})

t.test('a tunnel\'s protocol: what it carried, else https on 443 and tcp elsewhere, each non-obvious case explained', async (t) => {
  const cases: Array<[EgressRecord, string, RegExp | null]> = [
    [tunnel('tls.example', 443, { tls: 2 }), 'https', null],
    [tunnel('http.example', 8080, { http: 1 }), 'http', null],
    [tunnel('both.example', 8443, { tls: 1, http: 1 }), 'any', /both TLS and plain HTTP: any/],
    [tunnel('other.example', 7000, { tls: 5, other: 1 }), 'tcp', /neither TLS nor HTTP: tcp/],
    [tunnel('quiet.example', 443), 'https', /no tunnel content was recorded: https on port 443/],
    [tunnel('quiet2.example', 5222), 'tcp', /no tunnel content was recorded: tcp on port 5222/],
  ]
  for (const [rec, proto, why] of cases) {
    const r = run([rec])
    t.equal(r.needs[0]!.protocol, proto, `${rec.host}: ${proto}`)
    if (why) t.match(r.needs[0]!.why, [why], `${rec.host}: explained`)
    else t.same(r.needs[0]!.why, [], `${rec.host}: nothing to explain`)
    t.ok(hasTunnel(r.needs[0]!))
  }
  t.notOk(hasTunnel(run([egressRecord({ host: 'x.example' })]).needs[0]!), 'control: a transparent record is no tunnel')
})

t.test('needs of the same (target, port, protocol) merge their records; other ports stay apart', async (t) => {
  const a = egressRecord({ host: 'api.example.com' })
  const b = tunnel('api.example.com', 443, { tls: 1 })
  const c = egressRecord({ host: 'api.example.com', port: 8443 })
  const r = run([a, b, c])
  t.same(r.needs.map(brief), ['name:api.example.com:443/https', 'name:api.example.com:8443/https'])
  t.same(r.needs[0]!.records, [a, b])
})

t.test('a tunnel sharing a port with another protocol: one tcp need if any needs tcp, else any', async (t) => {
  const r = run([tunnel('svc.example', 8080, { tls: 1 }), egressRecord({ host: 'svc.example', port: 8080, protocol: 'http', via: { http_proxy: 1 } })])
  t.same(r.needs.map(brief), ['name:svc.example:8080/any'])
  t.match(r.needs[0]!.why.at(-1), 'CONNECT tunnels and other attempts on this port need https and http: one any rule')
  t.equal(r.needs[0]!.records.length, 2)
  const tcp = run([tunnel('db.example', 6000, { other: 1 }), egressRecord({ host: 'db.example', port: 6000, protocol: 'http', via: { http_proxy: 1 } })])
  t.same(tcp.needs.map(brief), ['name:db.example:6000/tcp'])
  const apart = run([egressRecord({ host: 'svc.example', port: 8443 }), egressRecord({ host: 'svc.example', port: 8443, protocol: 'http', via: { transparent_http: 1 } })])
  t.same(apart.needs.map(brief).sort(), ['name:svc.example:8443/http', 'name:svc.example:8443/https'], 'control: without a tunnel, two protocols stay two needs')
})

t.test('tcp on a default listener port (not from a tcp forward) becomes any; from a forward it stays tcp', async (t) => {
  for (const port of [53, 80, 3128, 9901]) {
    const r = run([tunnel('x.example', port, { other: 1 })])
    t.equal(r.needs[0]!.protocol, 'any', `port ${port}: any`)
    t.match(r.needs[0]!.why.at(-1), `port ${port} is one of the sidecar's own listener ports`)
  }
  const control = run([tunnel('x.example', 5432, { other: 1 })])
  t.equal(control.needs[0]!.protocol, 'tcp', 'control: an ordinary port stays tcp')
  const forward = run([egressRecord({ host: 'x.example', port: 53, protocol: 'tcp', via: { tcp_forward: 1 } })])
  t.equal(forward.needs[0]!.protocol, 'tcp', 'a real tcp forward keeps tcp (the config check decides)')
})

t.test('a port several hosts use over tcp: the non-forward needs become any; two forwards on one port get a note', async (t) => {
  const r = run([tunnel('a.example', 5432, { other: 1 }), tunnel('b.example', 5432, { other: 1 })])
  t.same(r.needs.map(brief), ['name:a.example:5432/any', 'name:b.example:5432/any'])
  t.match(r.needs[0]!.why.at(-1), '2 hosts use port 5432 and a tcp forward listens for one host per port')
  t.same(r.notes, [])
  const two = run([egressRecord({ host: 'a.example', port: 5432, protocol: 'tcp', via: { tcp_forward: 1 } }), egressRecord({ host: 'b.example', port: 5432, protocol: 'tcp', via: { tcp_forward: 1 } })])
  t.same(two.needs.map(brief), ['name:a.example:5432/tcp', 'name:b.example:5432/tcp'])
  t.same(two.notes, ['port 5432 was a tcp forward to a.example, b.example: a port forwards to one host only, so the config will refuse these rules together; keep one'])
  const ips = run([tunnel('192.0.2.1', 5432, { other: 1 }), tunnel('192.0.2.2', 5432, { other: 1 })].map((rec) => ({ ...rec, host: undefined, ip: rec.host })) as EgressRecord[])
  t.same(ips.needs.map((n) => n.protocol), ['tcp', 'tcp'], 'control: IP destinations need no forward port, so they stay tcp')
})

t.test('PROTOCOL_ORDER: https, http, tcp, any', async (t) => {
  t.same(Object.entries(PROTOCOL_ORDER).sort((a, b) => a[1] - b[1]).map(([p]) => p), ['https', 'http', 'tcp', 'any'])
})
