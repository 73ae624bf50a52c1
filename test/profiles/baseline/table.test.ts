/**
 * `formatBaselineTable` (profiles/baseline/table.ts): the header, the EGRESS, DNS and TOOLS
 * tables, the call-rate line, `(none)` for empty sections; and the small formatters it shares
 * with the profile suggestion's comments.
 */
import t from 'tap'
import { formatBaselineTable, formatBytes, formatCounts, formatTable, formatWindow, printable } from '../../../profiles/baseline/table.js'
import type { Baseline } from '../../../policy/baseline-schema.js'
import { makeBaseline } from '../../helpers/baseline.js'

const T0 = '2026-11-22T10:00:01.250Z'
const T1 = '2026-11-22T11:04:55.000Z'

function baseline(o: Partial<Baseline> = {}): Baseline {
  return makeBaseline({ provider: 'fetch', started: T0, updated: T1, revision: 57, events: 52, ...o })
}
const times = { first_seen: T0, last_seen: T1 }
const rec = { errors: 0, ...times }

t.test('formatters: bytes, windows, counts, printable', async (t) => {
  t.same([0, 1023, 1024, 3277, 122880, 5 * 1024 * 1024, 3 * 1024 ** 4].map(formatBytes), ['0 B', '1023 B', '1.0 KiB', '3.2 KiB', '120 KiB', '5.0 MiB', '3.0 TiB'])
  t.equal(formatWindow(T0, T1), '2026-11-22T10:00:01Z … 11:04:55Z', 'same day: the second time is shortened, milliseconds dropped')
  t.equal(formatWindow(T0, '2026-11-23T09:00:00.000Z'), '2026-11-22T10:00:01Z … 2026-11-23T09:00:00Z')
  t.equal(formatWindow(T1, T1), '2026-11-22T11:04:55Z')
  t.equal(formatCounts({ b: 2, a: 1 }), 'a:1 b:2')
  t.equal(formatCounts({}), '-')
  t.equal(printable('a\nb\u0007c\u2028'), 'a\\u000ab\\u0007c\\u2028')
  t.same(formatTable(['A', 'BB'], []), ['(none)'])
  t.same(formatTable(['A', 'BB'], [['xxx', 'y'], ['z', 'long last cell']]), ['A    BB', 'xxx  y', 'z    long last cell'])
})

t.test('header: provider, window, events, mode, dropped', async (t) => {
  const lines = formatBaselineTable(baseline()).split('\n')
  t.same(lines.slice(0, 5), [
    'PROVIDER   fetch',
    'WINDOW     2026-11-22T10:00:01Z … 11:04:55Z',
    'EVENTS     52 (revision 57)',
    'MODE       alert',
    'DROPPED    none',
  ])
  const d = formatBaselineTable(baseline({ dropped: { destinations: 4, dns_names: 1, tools: 0 } }))
  t.match(d, 'DROPPED    4 destinations, 1 DNS names, 0 tools did not fit the limits (the baseline is incomplete)\n')
})

t.test('empty sections print (none); no calls', async (t) => {
  const text = formatBaselineTable(baseline())
  t.match(text, 'EGRESS (0)\n(none)\n\nDNS (0)\n(none)\n\nTOOLS (0)\n(none)\n\nCALL RATE  no calls\n')
  t.ok(text.endsWith('\n') && !text.endsWith('\n\n'), 'one trailing newline')
})

t.test('EGRESS: one row per destination, sorted, with protocol, via, counts, bytes, addresses, last seen', async (t) => {
  const text = formatBaselineTable(baseline({
    egress: [
      { ...rec, host: 'web.example.com', port: 80, protocol: 'http', via: { http_proxy: 2, transparent_http: 12 }, actions: { allowed: 12, alerted: 2 }, addresses: [{ ip: '93.184.216.34', class: 'global' }], count: 14, bytes_up: 3277, bytes_down: 122880 },
      { ...rec, host: 'api.example.com', port: 8443, protocol: 'tunnel', via: { connect: 3 }, actions: { allowed: 1, blocked: 1, quarantined: 1 }, content: { http: 1, tls: 2 }, addresses: [{ ip: '10.1.2.3', class: 'private' }, { ip: '1.1.1.1', class: 'global' }, { ip: '8.8.8.8', class: 'global' }, { ip: '9.9.9.9', class: 'global' }], count: 3, bytes_up: 0, bytes_down: 0 },
      { ...rec, ip: '2001:db8::7', port: 22, protocol: 'tunnel', via: { connect: 1 }, actions: { blocked: 1 }, addresses: [], count: 1, bytes_up: 0, bytes_down: 0 },
    ],
  }))
  const section = text.slice(text.indexOf('EGRESS'), text.indexOf('\n\nDNS'))
  t.same(section.split('\n'), [
    'EGRESS (3)',
    'DESTINATION           PROTO            VIA                          COUNT  ALLOWED/ALERTED/BLOCKED  BYTES UP/DOWN    ADDRESSES                                LAST SEEN',
    '[2001:db8::7]:22      tunnel           connect                      1      0/0/1                    0 B/0 B          -                                        2026-11-22T11:04:55Z',
    'api.example.com:8443  tunnel/tls+http  connect                      3      1/0/2                    0 B/0 B          10.1.2.3 (private), 1.1.1.1, 8.8.8.8 +1  2026-11-22T11:04:55Z',
    'web.example.com:80    http             http_proxy,transparent_http  14     12/2/0                   3.2 KiB/120 KiB  93.184.216.34                            2026-11-22T11:04:55Z',
  ], 'sorted by destination; BLOCKED counts quarantined too; IPv6 in brackets; 3 addresses, then +N')
})

t.test('DNS and TOOLS tables, and the call rate', async (t) => {
  const text = formatBaselineTable(baseline({
    dns: [
      { ...times, name: 'z.example.com', qtypes: { AAAA: 2, A: 3 }, actions: { allowed: 4, blocked: 1 }, answers: { A: 3, NXDOMAIN: 1 }, count: 5 },
      { ...times, name: 'a.example.com', qtypes: { A: 1 }, actions: { alerted: 1 }, answers: {}, count: 1 },
    ],
    tools: [
      { ...rec, name: 'search', listed: 3, calls: 7, errors: 1, refused: 2, argument_keys: ['limit', 'query'], digests: [] },
      { ...rec, name: 'evil\ntool', listed: 1, calls: 0, errors: 0, refused: 0, argument_keys: [], digests: [] },
    ],
    call_rate: { active_minutes: 12, min: 1, median: 2, p95: 5, max: 9 },
  }))
  t.match(text, [
    'DNS (2)',
    'NAME           QTYPES      ANSWERS         COUNT  ACTIONS',
    'a.example.com  A:1         -               1      alerted:1',
    'z.example.com  A:3 AAAA:2  A:3 NXDOMAIN:1  5      allowed:4 blocked:1',
    '',
  ].join('\n'), 'sorted by name; counts as key:count')
  t.match(text, /TOOLS \(2\)\nNAME\s+LISTED\s+CALLS\s+ERRORS\s+REFUSED\s+ARG KEYS\nevil\\u000atool\s+1\s+0\s+0\s+0\s+-\nsearch\s+3\s+7\s+1\s+2\s+limit,query\n/, 'sorted by name; a control character cannot break the row')
  t.match(text, /\nCALL RATE {2}calls\/minute over 12 active minutes: min 1, median 2, p95 5, max 9\n$/)
})
