import t from 'tap'
import { CEF_SEVERITY, OCSF_SEVERITY, SYSLOG_SEVERITY, epochMs, requestUrl, severityOn, transportOf, typeName } from '../../../../enterprise/compliance/format/fields.js'

t.test('each severity scale orders the five severities and maps them to distinct numbers', async (t) => {
  const order = ['info', 'low', 'medium', 'high', 'critical'] as const
  for (const [name, scale, dir] of [['cef', CEF_SEVERITY, 1], ['ocsf', OCSF_SEVERITY, 1], ['syslog', SYSLOG_SEVERITY, -1]] as const) {
    const n = order.map((s) => severityOn(scale, s))
    t.same([...n].sort((a, b) => dir * (a - b)), n, `${name}: ordered (syslog counts down: 0 is Emergency)`)
    t.equal(new Set(n).size, 5, `${name}: distinct`)
  }
  t.same(order.map((s) => CEF_SEVERITY[s]), [1, 3, 5, 8, 10])
  t.same(order.map((s) => SYSLOG_SEVERITY[s]), [6, 5, 4, 3, 2])
  t.same(order.map((s) => OCSF_SEVERITY[s]), [1, 2, 3, 4, 5])
  t.throws(() => severityOn(CEF_SEVERITY, 'severe'), /^severity: expected info\|low\|medium\|high\|critical, got "severe"$/)
})

t.test('epochMs reads RFC 3339 times and names the field of a bad one', async (t) => {
  t.equal(epochMs({ time: '2025-01-02T03:04:05.678Z' }), Date.UTC(2025, 0, 2, 3, 4, 5, 678))
  t.equal(epochMs({ time: '2025-01-02T04:04:05.678+01:00' }), Date.UTC(2025, 0, 2, 3, 4, 5, 678), 'an offset is honoured')
  for (const bad of ['yesterday', '2025-01-02', '2025-13-02T03:04:05Z', '']) {
    t.throws(() => epochMs({ time: bad }), /^time: expected an RFC 3339 timestamp, got /, bad)
  }
})

t.test('transport and request URL of a destination', async (t) => {
  t.same((['http', 'https', 'tcp', 'udp', 'dns'] as const).map(transportOf), ['TCP', 'TCP', 'TCP', 'UDP', 'UDP'])
  t.equal(requestUrl({ host: 'api.example.com', port: 443, protocol: 'https' }), 'https://api.example.com', 'default port left out')
  t.equal(requestUrl({ host: 'api.example.com', port: 8443, protocol: 'https' }), 'https://api.example.com:8443')
  t.equal(requestUrl({ host: 'example.com', port: 80, protocol: 'http' }), 'http://example.com')
  t.equal(requestUrl({ host: '::1', port: 8080, protocol: 'http' }), 'http://[::1]:8080', 'an IPv6 host is bracketed')
  t.equal(requestUrl({ host: 'example.com', protocol: 'http' }), 'http://example.com')
  t.equal(requestUrl({ host: 'example.com', port: 22, protocol: 'tcp' }), undefined, 'not http')
  t.equal(requestUrl({ ip: '10.0.0.1', port: 443, protocol: 'https' }), undefined, 'no host')
  t.equal(requestUrl(undefined), undefined)
  t.equal(typeName('tool_definition_drift'), 'tool definition drift')
})
