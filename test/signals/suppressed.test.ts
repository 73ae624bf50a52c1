/**
 * checkSuppressedDetails (signals/suppressed.ts): the `signals_suppressed` roll-up validator.
 * A consistent roll-up passes; each forgery or truncation (totals that do not add up, times out
 * of the window or reversed, over-long lists, unknown keys, bad times) fails with a message naming
 * the `details.<path>`; each refusal next to a control that passes.
 */
import t from 'tap'
import { checkSuppressedDetails, MAX_ROLLUP_ENTRIES, MAX_ROLLUP_SUBJECT, MAX_ROLLUP_TYPES, type SuppressedDetails } from '../../signals/suppressed.js'

const W0 = '2026-01-01T00:00:00.000Z'
const W1 = '2026-01-01T00:00:10.000Z'
const T = (s: number) => new Date(Date.parse(W0) + s * 1000).toISOString()

function valid(): SuppressedDetails {
  return {
    window_start: W0, window_end: W1, total: 6,
    by_type: { egress_denied: 4, tool_denied: 2 },
    entries: [
      { type: 'egress_denied', destination: { host: 'evil.example', port: 443, protocol: 'https' }, count: 3, first_seen: T(1), last_seen: T(5) },
      { type: 'tool_denied', tool: 'exec', count: 2, first_seen: T(2), last_seen: T(2) },
    ],
    other: { count: 1, keys: 1, first_seen: T(3), last_seen: T(9) },
    rollup_seq: 0, cause: 'interval',
  }
}

const check = (mut: (d: SuppressedDetails) => void) => {
  const d = valid()
  mut(d)
  return checkSuppressedDetails(d)
}

t.test('a consistent roll-up passes; other may be empty', async (t) => {
  t.equal(checkSuppressedDetails(valid()), null)
  t.equal(check((d) => {
    d.total = 5
    d.by_type.egress_denied = 3
    d.other = { count: 0, keys: 0 }
  }), null)
  t.equal(check((d) => (d.cause = 'recovered')), null)
})

t.test('totals must agree three ways: total, by_type, entries + other', async (t) => {
  t.equal(check((d) => (d.total = 7)), 'details.by_type: counts sum to 6, not total 7; details.entries: counts plus other.count sum to 6, not total 7')
  t.equal(check((d) => (d.by_type.tool_denied = 3)), 'details.by_type: counts sum to 7, not total 6')
  t.equal(check((d) => (d.entries[0]!.count = 2)), 'details.entries: counts plus other.count sum to 5, not total 6')
  t.equal(check((d) => (d.other.count = 2)), 'details.entries: counts plus other.count sum to 7, not total 6')
})

t.test('times: in the window, first ≤ last, the window in order; other needs its times when it counts', async (t) => {
  t.equal(check((d) => (d.window_end = T(-1))), 'details.window_end: before window_start; details.entries.0: first_seen/last_seen outside the window; details.entries.1: first_seen/last_seen outside the window; details.other: first_seen/last_seen outside the window')
  t.equal(check((d) => (d.entries[0]!.first_seen = T(6))), 'details.entries.0.last_seen: before first_seen')
  t.equal(check((d) => (d.entries[1]!.last_seen = T(11))), 'details.entries.1: first_seen/last_seen outside the window')
  t.equal(check((d) => (d.entries[1]!.first_seen = T(0))), null, 'control: window_start itself is inside')
  t.equal(check((d) => (d.entries[1]!.last_seen = T(10))), null, 'control: window_end itself is inside')
  t.equal(check((d) => delete d.other.first_seen), 'details.other: first_seen and last_seen are required when count > 0')
  t.equal(check((d) => (d.other.last_seen = T(2))), 'details.other.last_seen: before first_seen')
  t.equal(check((d) => (d.other.last_seen = T(12))), 'details.other: first_seen/last_seen outside the window')
  t.equal(check((d) => {
    d.total = 5
    d.by_type.egress_denied = 3
    d.other = { count: 0, keys: 2 }
  }), 'details.other.keys: keys without a count')
})

t.test('time strings must be RFC 3339 UTC with milliseconds, and real dates', async (t) => {
  for (const bad of ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000+00:00', '2026-02-30T00:00:00.000Z', '2026-01-01 00:00:00.000Z', 'yesterday']) {
    t.match(check((d) => (d.window_start = bad)), /^details\.window_start: expected an RFC 3339 UTC time with milliseconds/, `${bad} refused`)
  }
})

t.test('shape: counts ≥ 1, type names, subject lengths, list caps, unknown keys, the cause enum', async (t) => {
  t.match(check((d) => (d.entries[1]!.count = 0)), /^details\.entries\.1\.count: /)
  t.match(check((d) => (d.total = 0)), /^details\.total: /)
  t.match(check((d) => (d.entries[0]!.type = 'Egress-Denied')), /^details\.entries\.0\.type: /)
  t.match(check((d) => (d.entries[1]!.tool = 'x'.repeat(MAX_ROLLUP_SUBJECT + 1))), /^details\.entries\.1\.tool: /)
  t.equal(check((d) => (d.entries[1]!.tool = 'x'.repeat(MAX_ROLLUP_SUBJECT))), null, 'control: the longest subject')
  t.match(check((d) => ((d.entries[0] as Record<string, unknown>).extra = 1)), /^details\.entries\.0: Unrecognized key/)
  t.match(check((d) => ((d as Record<string, unknown>).forged = true)), /^details: Unrecognized key/)
  t.match(check((d) => ((d.entries[0]!.destination as Record<string, unknown>).protocol = 'ftp')), /^details\.entries\.0\.destination\.protocol: /)
  t.match(check((d) => ((d as Record<string, unknown>).cause = 'manual')), /^details\.cause: /)
  t.match(check((d) => (d.rollup_seq = -1)), /^details\.rollup_seq: /)
  t.match(checkSuppressedDetails(null), /^details: /)
  t.match(checkSuppressedDetails('x'), /^details: /)
})

t.test('caps: at most MAX_ROLLUP_ENTRIES entries and MAX_ROLLUP_TYPES types', async (t) => {
  const many = (n: number) => {
    const d = valid()
    d.entries = Array.from({ length: n }, (_, i) => ({ type: 'tool_denied', tool: `t${i}`, count: 1, first_seen: T(1), last_seen: T(1) }))
    d.other = { count: 0, keys: 0 }
    d.total = n
    d.by_type = { tool_denied: n }
    return checkSuppressedDetails(d)
  }
  t.equal(many(MAX_ROLLUP_ENTRIES), null)
  t.match(many(MAX_ROLLUP_ENTRIES + 1), /^details\.entries: /)
  const types = (n: number) => {
    const d = valid()
    d.by_type = Object.fromEntries(Array.from({ length: n }, (_, i) => [`type_${i}`, 1]))
    d.total = n
    d.entries = []
    d.other = { count: n, keys: n, first_seen: T(1), last_seen: T(2) }
    return checkSuppressedDetails(d)
  }
  t.equal(types(MAX_ROLLUP_TYPES), null)
  t.equal(types(MAX_ROLLUP_TYPES + 1), `details.by_type: at most ${MAX_ROLLUP_TYPES} types`)
})
