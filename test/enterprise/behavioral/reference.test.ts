/**
 * The reference a detector compares with (enterprise/behavioral/reference.ts): keys, thresholds,
 * DNS peaks per registrable domain, the daily rhythm, truncation flags.
 */
import t from 'tap'
import { deviationConfigSchema } from '../../../config/deviation-schema.js'
import { buildReference, dailyRhythm, destinationKey, knowsDestination, registrableDomain } from '../../../enterprise/behavioral/reference.js'
import { dnsRecord, egressRecord, makeBaseline, toolRecord } from '../../helpers/baseline.js'

const cfg = deviationConfigSchema.parse({ enabled: true })

t.test('destinations by host or IP and port (protocol ignored); tools with their keys; names', async (t) => {
  const b = makeBaseline({
    egress: [egressRecord({ host: 'api.example.com' }), egressRecord({ host: 'api.example.com', protocol: 'tunnel' }), egressRecord({ ip: '198.51.100.7', port: 5432 })],
    dns: [dnsRecord('api.example.com')],
    tools: [toolRecord('read_file', { argument_keys: ['path'] }), toolRecord('delete_file', { calls: 0 }), toolRecord('wide', { argument_keys: Array.from({ length: 64 }, (_, i) => `k${i}`) })],
  })
  const r = buildReference(b, cfg)
  t.equal(r.destinationCount, 2, 'the same host and port by two protocols is one destination')
  t.ok(knowsDestination(r, 'api.example.com', '203.0.113.1', 443), 'by host (the dialled address aside)')
  t.ok(knowsDestination(r, undefined, '198.51.100.7', 5432), 'an IP literal')
  t.notOk(knowsDestination(r, 'api.example.com', undefined, 8443), 'a known host on another port')
  t.notOk(knowsDestination(r, undefined, '198.51.100.7', 5433))
  t.notOk(knowsDestination(r, undefined, undefined, 443))
  t.ok(r.dnsNames.has('api.example.com'))
  t.same(r.tools.get('read_file'), { called: true, keys: new Set(['path']), keysFull: false })
  t.equal(r.tools.get('delete_file')!.called, false)
  t.equal(r.tools.get('wide')!.keysFull, true, '64 kept keys: a new one cannot be told from one not kept')
  t.same(r.truncated, { destinations: false, dns_names: false, tools: false })
  t.equal(destinationKey(undefined, undefined, 1), undefined)
  t.equal(destinationKey('', undefined, 1), undefined)
})

t.test('rates: max(ceil(basis × factor), learned max); too few active minutes: not compared', async (t) => {
  const rate = { active_minutes: 30, min: 1, median: 2, p95: 5, max: 40 }
  const r = buildReference(makeBaseline({ call_rate: rate, byte_rate: { ...rate, p95: 1000, max: 1500 } }), cfg)
  t.same(r.callRate, { basis: 5, max: 40, threshold: 40, active_minutes: 30 }, 'the learned max is the floor')
  t.same(r.byteRate, { basis: 1000, max: 1500, threshold: 3000, active_minutes: 30 })
  const median = buildReference(makeBaseline({ call_rate: { ...rate, max: 5 } }), { ...cfg, rate_basis: 'median', rate_factor: 2.5 })
  t.same(median.callRate, { basis: 2, max: 5, threshold: 5, active_minutes: 30 })
  const young = buildReference(makeBaseline({ call_rate: { ...rate, active_minutes: 9 } }), cfg)
  t.equal(young.callRate, undefined, '9 active minutes < min_active_minutes 10')
  t.equal(young.byteRate, undefined, 'no byte figures at all')
})

t.test('DNS peaks: per registrable domain (Public Suffix List, private suffixes too), most names first seen in one minute', async (t) => {
  const at = (m: number) => new Date(Date.UTC(2026, 10, 22, 10, m, 5)).toISOString()
  const b = makeBaseline({
    dns: [
      dnsRecord('a.example.co.uk', { first_seen: at(0) }), dnsRecord('b.example.co.uk', { first_seen: at(0) }), dnsRecord('c.example.co.uk', { first_seen: at(1) }),
      dnsRecord('x.me.github.io', { first_seen: at(0) }), dnsRecord('y.you.github.io', { first_seen: at(0) }), dnsRecord('localhost', { first_seen: at(0) }),
    ],
  })
  const r = buildReference(b, cfg)
  t.same(Object.fromEntries(r.dnsPeak), { 'example.co.uk': 2, 'me.github.io': 1, 'you.github.io': 1, localhost: 1 })
  t.equal(registrableDomain('q.t.example.com'), 'example.com')
  t.equal(registrableDomain('m5xw6ylt.github.io'), 'github.io', 'a name that is itself a domain under a private suffix counts under the suffix')
  t.equal(registrableDomain('example.com'), 'example.com')
  t.equal(registrableDomain('192.0.2.1'), '192.0.2.1')
})

t.test('daily rhythm: 48 h of call minutes with at least 6 idle hours', async (t) => {
  const minute = (d: number, h: number) => Math.floor(Date.UTC(2026, 10, 22 + d, h, 0) / 60_000)
  const office = [0, 1, 2].flatMap((d) => [9, 12, 17].map((h) => [minute(d, h), 3] as [number, number]))
  t.same([...dailyRhythm(office)!].sort((a, b) => a - b), [9, 12, 17])
  t.equal(dailyRhythm(office.slice(0, 5)), undefined, 'under 48 h: no rhythm')
  const allDay = [0, 1, 2].flatMap((d) => Array.from({ length: 20 }, (_, h) => [minute(d, h), 1] as [number, number]))
  t.equal(dailyRhythm(allDay), undefined, '20 active hours: only 4 idle, no rhythm')
  t.equal(dailyRhythm([]), undefined)
  t.ok(buildReference(makeBaseline({ call_minutes: office }), cfg).activeHours)
})

t.test('truncated maps are flagged', async (t) => {
  const r = buildReference(makeBaseline({ dropped: { destinations: 1, dns_names: 0, tools: 3 } }), cfg)
  t.same(r.truncated, { destinations: true, dns_names: false, tools: true })
})
