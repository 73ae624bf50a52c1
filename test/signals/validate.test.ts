// The one hangar.signal/v1 validator (signals/validate.ts, docs/signals.md): every field good and bad,
// and every error names the field path; the POST /v1/signals batch envelope (docs/aggregator.md §API).
import t from 'tap'
import { buildSignal } from '../../signals/build.js'
import { isUuidV7, SIGNAL_LIMITS, validateBatch, validateSignal } from '../../signals/validate.js'
import type { Signal } from '../../signals/types.js'

function good(): Signal {
  return buildSignal({ provider: 'fetch', sidecar_id: 'sc-1' }, {
    kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block',
    destination: { host: 'evil.example', ip: '203.0.113.7', port: 443, protocol: 'https' },
    tool: 'fetch_html', session_id: 's-1', caller: 'alice', rule: 'default-deny', reason: 'no rule allows evil.example:443',
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', details: { code: 'no_matching_rule', via: 'connect' },
  }, new Date('2025-03-04T05:06:07.089Z'))
}

/** A copy of the good signal with `path` (dotted) set to `value` (undefined deletes it). */
function withField(path: string, value: unknown): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(good())) as Record<string, unknown>
  const keys = path.split('.')
  let o = s
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>
  const last = keys[keys.length - 1] as string
  if (value === undefined) delete o[last]
  else o[last] = value
  return s
}

t.test('a complete signal built by signals/build.ts is valid and comes back equal', async (t) => {
  const s = good()
  const v = validateSignal(s)
  t.ok(v.ok)
  if (v.ok) t.same(v.signal, s)
  t.ok(validateSignal(JSON.parse(JSON.stringify(s))).ok, 'valid after a JSON round trip')
})

t.test('the minimal signal (required fields only) is valid', async (t) => {
  const s = good() as unknown as Record<string, unknown>
  for (const k of ['destination', 'tool', 'session_id', 'caller', 'rule', 'trace_id', 'span_id', 'details']) delete s[k]
  t.ok(validateSignal(s).ok)
})

t.test('good values of every field are accepted', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['id', '00000000-0000-4000-8000-000000000000'], // v4: any RFC 9562 version
    ['id', '01890a5d-ac96-774b-bcce-b302099a8057'],
    ['time', '2024-02-29T23:59:59.999Z'], // leap day
    ['kind', 'enforcement'], ['kind', 'observation'], ['kind', 'lifecycle'],
    ['type', 'some_future_type'], // outside the catalogue: kept
    ['type', 'x'.repeat(64)],
    ['severity', 'info'], ['severity', 'low'], ['severity', 'medium'], ['severity', 'critical'],
    ['action', 'allowed'], ['action', 'alerted'], ['action', 'quarantined'],
    ['enforcement_mode', 'alert'], ['enforcement_mode', 'quarantine'],
    ['provider', 'p'.repeat(SIGNAL_LIMITS.name)],
    ['destination', { protocol: 'dns' }],
    ['destination.port', 0], ['destination.port', 65535], ['destination.protocol', 'tcp'], ['destination.protocol', 'http'],
    ['destination.host', 'not a valid host, as a malformed_host denial carries it'],
    ['reason', 'r'.repeat(SIGNAL_LIMITS.reason)],
    ['details', {}], ['details', { nested: { list: [1, 'two', null, true] } }],
    ['details', { blob: 'x'.repeat(SIGNAL_LIMITS.detailsBytes - 20) }],
  ]
  for (const [path, value] of cases) {
    const v = validateSignal(withField(path, value))
    t.ok(v.ok, `${path} = ${JSON.stringify(value).slice(0, 60)}${v.ok ? '' : ` → ${v.error}`}`)
  }
})

t.test('bad values are refused with the field path and what was expected', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['schema', 'hangar.signal/v2', 'schema: expected "hangar.signal/v1"'],
    ['schema', undefined, 'schema: required'],
    ['id', 'not-a-uuid', 'id: expected a lowercase RFC 9562 UUID'],
    ['id', '01890A5D-AC96-774B-BCCE-B302099A8057', 'id: expected a lowercase'], // uppercase: dedup is on the string
    ['id', '00000000-0000-0000-0000-000000000000', 'id: expected'], // nil UUID
    ['id', '01890a5d-ac96-774b-7cce-b302099a8057', 'id: expected'], // wrong variant
    ['id', 42, 'id: expected'],
    ['time', '2025-03-04T05:06:07Z', 'time: expected an RFC 3339 UTC time with milliseconds'],
    ['time', '2025-03-04T05:06:07.089+01:00', 'time: expected'],
    ['time', '2025-02-30T00:00:00.000Z', 'time: expected'], // no such day
    ['time', '2025-03-04 05:06:07.089Z', 'time: expected'],
    ['time', undefined, 'time: required'],
    ['kind', 'alert', 'kind: expected one of violation, enforcement, observation, lifecycle'],
    ['type', 'Egress-Denied', 'type: expected a snake_case name'],
    ['type', '', 'type: expected'],
    ['type', 'x'.repeat(65), 'type: expected'],
    ['severity', 'severe', 'severity: expected one of info, low, medium, high, critical'],
    ['action', 'denied', 'action: expected one of allowed, alerted, blocked, quarantined'],
    ['enforcement_mode', 'monitor', 'enforcement_mode: expected one of alert, block, quarantine'],
    ['provider', '', 'provider: expected a string of 1-256 characters'],
    ['provider', 'p'.repeat(257), 'provider: expected a string of 1-256 characters'],
    ['provider', undefined, 'provider: required'],
    ['sidecar_id', 7, 'sidecar_id: expected a string'],
    ['destination', 'evil.example:443', 'destination: expected an object {host?, ip?, port?, protocol}'],
    ['destination.port', 70000, 'destination.port: expected an integer 0-65535'],
    ['destination.port', -1, 'destination.port: expected an integer 0-65535'],
    ['destination.port', 44.5, 'destination.port: expected an integer 0-65535'],
    ['destination.port', '443', 'destination.port: expected an integer 0-65535'],
    ['destination.protocol', 'ftp', 'destination.protocol: expected one of http, https, tcp, udp, dns'],
    ['destination.protocol', undefined, 'destination.protocol: required'],
    ['destination.host', '', 'destination.host: expected a string of 1-1024 characters'],
    ['destination.ip', 'i'.repeat(1025), 'destination.ip: expected a string of 1-1024 characters'],
    ['destination.scheme', 'https', 'destination.scheme: unknown field'],
    ['tool', '', 'tool: expected a string of 1-1024'],
    ['session_id', 'x'.repeat(1025), 'session_id: expected a string of 1-1024'],
    ['caller', null, 'caller: expected a string'],
    ['rule', 12, 'rule: expected a string'],
    ['trace_id', '', 'trace_id: expected'],
    ['span_id', [], 'span_id: expected'],
    ['reason', '', 'reason: expected a string of 1-4096 characters'],
    ['reason', 'r'.repeat(4097), 'reason: expected a string of 1-4096 characters'],
    ['reason', undefined, 'reason: required'],
    ['details', [1, 2], 'details: expected a JSON object'],
    ['details', 'text', 'details: expected a JSON object'],
    ['details', { blob: 'x'.repeat(SIGNAL_LIMITS.detailsBytes) }, `details: ${SIGNAL_LIMITS.detailsBytes + 11} bytes as JSON, at most ${SIGNAL_LIMITS.detailsBytes}`],
    ['details', { big: 1n }, 'details: not serializable as JSON'],
    ['severty', 'high', 'severty: unknown field'],
  ]
  for (const [path, value, want] of cases) {
    const v = validateSignal(withField(path, value))
    t.notOk(v.ok, `${path} = ${String(JSON.stringify(value, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x))).slice(0, 40)} refused`)
    if (!v.ok) t.match(v.error, want, `${path}: "${v.error.slice(0, 120)}"`)
  }
})

t.test('non-objects are refused as a whole; every problem of one signal is listed', async (t) => {
  for (const x of [null, undefined, 42, 'signal', [good()]]) {
    const v = validateSignal(x)
    t.same(v, { ok: false, error: 'signal: expected a JSON object' }, JSON.stringify(x) ?? 'undefined')
  }
  const v = validateSignal({ ...good(), kind: 'nope', destination: { port: 99999, protocol: 'https' } })
  t.notOk(v.ok)
  if (!v.ok) t.same(v.error.split('; ').map((e) => e.split(':')[0]), ['kind', 'destination.port'])
})

t.test('isUuidV7 tells v7 ids (what sidecars generate) from other versions', async (t) => {
  t.ok(isUuidV7(good().id))
  t.notOk(isUuidV7('00000000-0000-4000-8000-000000000000'))
  t.notOk(isUuidV7('not-a-uuid'))
})

t.test('validateBatch: envelope errors refuse the whole batch', async (t) => {
  const cases: Array<[unknown, string]> = [
    [null, 'body: expected a JSON object'],
    [[good()], 'body: expected a JSON object'],
    ['{"signals":[]}', 'body: expected a JSON object'],
    [{}, 'signals: required'],
    [{ signals: {} }, 'signals: expected an array of signals'],
    [{ signals: [], sidecar: 'x' }, 'sidecar: unknown field'],
    [{ signals: Array.from({ length: 1001 }, good) }, 'signals: at most 1000 signals per batch, got 1001'],
  ]
  for (const [body, want] of cases) {
    const v = validateBatch(body)
    t.notOk(v.ok, want)
    if (!v.ok) t.match(v.error, want)
  }
  const v = validateBatch({ signals: [good(), good(), good()] }, { maxSignals: 2 })
  t.notOk(v.ok, 'maxSignals is configurable')
})

t.test('validateBatch: valid signals in order with their indices, and {index, error} for each bad one', async (t) => {
  const a = good()
  const b = good()
  const v = validateBatch({ signals: [a, { ...good(), destination: { port: 1e6, protocol: 'tcp' } }, b, 'garbage', { ...good(), reason: '' }] })
  t.ok(v.ok)
  if (!v.ok) return
  t.same(v.signals, [a, b])
  t.same(v.indices, [0, 2])
  t.same(v.rejected.map((r) => r.index), [1, 3, 4])
  t.match(v.rejected[0]?.error, /^destination\.port: expected an integer 0-65535$/)
  t.equal(v.rejected[1]?.error, 'signal: expected a JSON object')
  t.match(v.rejected[2]?.error, /^reason: /)
  const empty = validateBatch({ signals: [] })
  t.same(empty, { ok: true, signals: [], indices: [], rejected: [] }, 'an empty batch is valid')
})
