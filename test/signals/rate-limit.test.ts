// The sidecar's signal rate limit (signals/rate-limit.ts): floods of one key, of many distinct
// destinations, of tool and unknown types cost a bounded number of records, and the
// signals_suppressed roll-ups account for every folded signal; they validate, stay under the
// details limit and keep first/last seen ordered when the wall clock steps backwards.
import t from 'tap'
import { silentLogger } from '../../core/log.js'
import { createMetrics } from '../../core/metrics.js'
import { buildSignal } from '../../signals/build.js'
import { RateLimitedSink, type SignalLimits } from '../../signals/rate-limit.js'
import { MemorySink } from '../../signals/sink.js'
import type { SuppressedDetails } from '../../signals/suppressed.js'
import type { Signal } from '../../signals/types.js'
import { SIGNAL_LIMITS, validateSignal } from '../../signals/validate.js'

const ORIGIN = { provider: 'fetch', sidecar_id: 'sc-1' }

function dnsDenied(host: string): Signal {
  return buildSignal(ORIGIN, { kind: 'violation', type: 'dns_denied', action: 'blocked', enforcement_mode: 'block', destination: { host, protocol: 'dns' }, rule: 'default-deny', reason: `${host} is not allowed`, details: { code: 'no_matching_rule', qtype: 'A' } })
}
function toolDenied(tool: string): Signal {
  return buildSignal(ORIGIN, { kind: 'violation', type: 'tool_denied', action: 'blocked', enforcement_mode: 'block', tool, rule: 'not-in-allow_list', reason: `${tool} is not allowed`, details: { request_id: 1 } })
}
function other(type: string): Signal {
  return buildSignal(ORIGIN, { kind: 'enforcement', type, action: 'blocked', enforcement_mode: 'block', reason: 'x' })
}

interface Rig {
  inner: MemorySink
  sink: RateLimitedSink
  clock: { wall: number; mono: number }
  metrics: ReturnType<typeof createMetrics>
  /** Advances both clocks. */
  step(ms: number): void
  rollups(): Array<Signal & { details: SuppressedDetails }>
  passed(type?: string): Signal[]
}

function rig(limits: Partial<SignalLimits> = {}): Rig {
  const inner = new MemorySink(10_000_000)
  const clock = { wall: Date.UTC(2026, 0, 1), mono: 1000 }
  const metrics = createMetrics({ defaultMetrics: false })
  const sink = new RateLimitedSink({
    inner, origin: ORIGIN, mode: 'block', log: silentLogger(), suppressed: metrics.shipper.signalsSuppressed,
    limits: { ratePerS: 50, burst: 100, perKey: 5, intervalMs: 1000, maxEntries: 20, ...limits },
    now: () => clock.wall, mono: () => clock.mono, timer: false,
  })
  return {
    inner, sink, clock, metrics,
    step(ms) {
      clock.wall += ms
      clock.mono += ms
    },
    rollups: () => inner.signals.filter((s) => s.type === 'signals_suppressed') as Array<Signal & { details: SuppressedDetails }>,
    passed: (type) => inner.signals.filter((s) => s.type !== 'signals_suppressed' && (!type || s.type === type)),
  }
}

async function suppressedMetric(r: Rig): Promise<number> {
  const m = await r.metrics.shipper.signalsSuppressed.get()
  return m.values.reduce((n, v) => n + v.value, 0)
}

t.test('below the limits every signal passes and no roll-up is emitted (control)', async (t) => {
  const r = rig()
  for (let i = 0; i < 5; i++) r.sink.emit(dnsDenied('evil.example'))
  for (let i = 0; i < 50; i++) r.sink.emit(dnsDenied(`h${i}.example`))
  await r.sink.close()
  t.equal(r.passed().length, 55)
  t.equal(r.rollups().length, 0)
  t.equal(r.sink.suppressedTotal, 0)
})

t.test('50,000 denied queries for one name over 5 s: perKey per window pass, the roll-ups count the rest', async (t) => {
  const r = rig()
  const N = 50_000
  for (let i = 0; i < N; i++) {
    r.sink.emit(dnsDenied('evil.example'))
    if (i % 10_000 === 9_999) {
      r.step(1000)
      r.sink.rollUp('interval')
    }
  }
  await r.sink.close()
  const passed = r.passed('dns_denied').length
  t.equal(passed, 5 * 5, 'perKey (5) in each of the five windows')
  const rollups = r.rollups()
  t.equal(rollups.length, 5)
  const total = rollups.reduce((n, s) => n + s.details.total, 0)
  t.equal(passed + total, N, 'passed + folded = every signal')
  t.equal(await suppressedMetric(r), N - passed, 'signals_suppressed_total agrees')
  for (const s of rollups) {
    t.ok(validateSignal(s).ok, 'roll-up validates')
    t.equal(s.severity, 'medium', 'severity of the folded dns_denied')
    t.same(Object.keys(s.details.by_type), ['dns_denied'])
    t.equal(s.details.entries[0]!.destination!.host, 'evil.example')
  }
  t.same(rollups.map((s) => s.details.rollup_seq), [0, 1, 2, 3, 4], 'roll-ups numbered without gaps')
})

t.test('distinct destinations: the bucket bounds what passes, entries are capped, the tail is counted in other', async (t) => {
  const r = rig({ maxEntries: 20 })
  const N = 20_000
  for (let i = 0; i < N; i++) r.sink.emit(dnsDenied(`x${i}.tunnel.example`))
  r.sink.rollUp('interval')
  t.equal(r.passed().length, 100, 'the burst, then nothing (no time passed)')
  const [roll] = r.rollups()
  t.ok(roll)
  const d = roll!.details
  t.equal(d.entries.length, 20)
  t.equal(d.total, N - 100)
  t.equal(d.entries.reduce((n, e) => n + e.count, 0) + d.other.count, d.total)
  t.equal(d.other.keys, Math.min(10_000, d.other.count), 'distinct keys of the tail counted (capped)')
  t.ok(validateSignal(roll).ok)
})

t.test('1024-character host names: the roll-up stays under the details limit and cuts subjects to 256', async (t) => {
  const r = rig({ maxEntries: 200, burst: 1 })
  for (let i = 0; i < 1000; i++) r.sink.emit(dnsDenied(`${String(i).padStart(4, '0')}${'a'.repeat(1019)}`.slice(0, 1024)))
  r.sink.rollUp('interval')
  const [roll] = r.rollups()
  const bytes = Buffer.byteLength(JSON.stringify(roll!.details))
  t.ok(bytes <= SIGNAL_LIMITS.detailsBytes, `${bytes} bytes`)
  t.ok(roll!.details.entries.every((e) => e.destination!.host!.length <= 256))
  t.equal(roll!.details.entries.reduce((n, e) => n + e.count, 0) + roll!.details.other.count, 999)
  t.ok(validateSignal(roll).ok, validateSignal(roll).ok ? '' : (validateSignal(roll) as { error: string }).error)
})

t.test('tool_denied and unknown types are limited per (type, tool) and per type, and roll up by type', async (t) => {
  const r = rig()
  for (let i = 0; i < 3000; i++) {
    r.sink.emit(toolDenied(i % 2 ? 'exec' : 'delete_all'))
    r.sink.emit(other('future_thing'))
  }
  r.sink.rollUp('interval')
  t.equal(r.passed('tool_denied').length, 10, '5 per tool')
  t.equal(r.passed('future_thing').length, 5)
  const d = r.rollups()[0]!.details
  t.same(d.by_type, { tool_denied: 2990, future_thing: 2995 })
  t.same(d.entries.filter((e) => e.type === 'tool_denied').map((e) => e.tool).sort(), ['delete_all', 'exec'])
  t.equal(r.rollups()[0]!.severity, 'high', 'the highest folded severity (tool_denied)')
})

t.test('lifecycle, quarantine and accounting types always pass, while a flood of others is folded', async (t) => {
  const r = rig({ burst: 1, perKey: 1 })
  for (let i = 0; i < 100; i++) r.sink.emit(dnsDenied('evil.example'))
  for (const type of ['quarantine_triggered', 'quarantine_released', 'sidecar_started', 'sidecar_stopped', 'signals_dropped']) {
    for (let i = 0; i < 50; i++) r.sink.emit(other(type))
    t.equal(r.passed(type).length, 50, type)
  }
  t.equal(r.passed('dns_denied').length, 1, 'control: the flood itself is limited')
})

t.test('the steady rate: an 11,000/s flood of distinct names for 60 s costs ≤ burst + rate × time + one roll-up a window', async (t) => {
  const r = rig({ ratePerS: 50, burst: 100, intervalMs: 1000 })
  let emitted = 0
  for (let sec = 0; sec < 60; sec++) {
    for (let i = 0; i < 11_000; i++) {
      r.sink.emit(dnsDenied(`n${emitted++}.example`))
      if (i % 1100 === 1099) r.step(100)
    }
    r.sink.rollUp('interval')
  }
  const records = r.inner.signals.length
  t.ok(records <= 100 + 50 * 60 + 60, `${records} records for ${emitted} signals`)
  t.ok(records >= 50 * 60, 'the rate is actually granted (control)')
  t.equal(r.passed().length + r.rollups().reduce((n, s) => n + s.details.total, 0), emitted)
})

t.test('a wall clock stepping backwards: first_seen ≤ last_seen, windows never overlap, roll-ups validate', async (t) => {
  const r = rig({ perKey: 1, burst: 1 })
  r.sink.emit(dnsDenied('a.example'))
  r.sink.emit(dnsDenied('a.example'))
  r.clock.wall -= 3_600_000 // NTP steps the wall clock back an hour; monotonic time goes on
  r.clock.mono += 10
  r.sink.emit(dnsDenied('a.example'))
  r.step(5)
  r.sink.rollUp('interval')
  r.step(5)
  r.sink.emit(dnsDenied('a.example'))
  r.sink.emit(dnsDenied('a.example'))
  r.sink.rollUp('interval')
  const [a, b] = r.rollups()
  t.ok(a && b)
  for (const s of [a!, b!]) {
    const v = validateSignal(s)
    t.ok(v.ok, v.ok ? 'valid' : v.error)
    for (const e of s.details.entries) t.ok(e.first_seen <= e.last_seen)
  }
  t.ok(b!.details.window_start >= a!.details.window_end, 'the second window starts after the first ended')
})

t.test('close() emits the pending roll-up; flush() too; signals after close pass', async (t) => {
  const r = rig({ perKey: 1 })
  for (let i = 0; i < 10; i++) r.sink.emit(dnsDenied('evil.example'))
  await r.sink.flush()
  t.equal(r.rollups().length, 1)
  t.equal(r.rollups()[0]!.details.cause, 'flush')
  r.sink.rollUp('interval')
  for (let i = 0; i < 10; i++) r.sink.emit(dnsDenied('evil.example'))
  await r.sink.close()
  t.equal(r.rollups().length, 2)
  t.equal(r.rollups()[1]!.details.cause, 'close')
  t.equal(r.rollups()[1]!.details.total, 9)
  const before = r.passed().length
  for (let i = 0; i < 10; i++) r.sink.emit(dnsDenied('evil.example'))
  t.equal(r.passed().length, before + 10, 'after close nothing is folded (no roll-up would carry it)')
})

t.test('invalid limits are refused', async (t) => {
  const inner = new MemorySink()
  for (const limits of [{ ratePerS: 0 }, { burst: -1 }, { perKey: Number.NaN }, { intervalMs: 0 }, { maxEntries: 201 }, { maxEntries: 0 }])
    t.throws(() => new RateLimitedSink({ inner, origin: ORIGIN, mode: 'block', log: silentLogger(), limits, timer: false }), RangeError, JSON.stringify(limits))
})

t.test('the timer rolls up on its own every intervalMs', async (t) => {
  const inner = new MemorySink()
  const sink = new RateLimitedSink({ inner, origin: ORIGIN, mode: 'alert', log: silentLogger(), limits: { perKey: 1, intervalMs: 100 } })
  t.teardown(() => sink.close())
  for (let i = 0; i < 20; i++) sink.emit(dnsDenied('evil.example'))
  const roll = await inner.waitFor((s) => s.type === 'signals_suppressed', 2000)
  t.equal((roll.details as SuppressedDetails).total, 19)
  t.equal((roll.details as SuppressedDetails).cause, 'interval')
})

t.test('a flush emits the pending roll-up but does not reset the per-key allowance (only the window does)', async (t) => {
  const r = rig({ perKey: 2, burst: 1000 })
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) r.sink.emit(dnsDenied('evil.example'))
    await r.sink.flush()
  }
  t.equal(r.passed().length, 2, 'two per window, however often flushed')
  t.equal(r.rollups().length, 5)
  t.equal(r.rollups().reduce((n, s) => n + s.details.total, 0), 48)
  r.step(1000)
  r.sink.rollUp('interval')
  r.sink.emit(dnsDenied('evil.example'))
  t.equal(r.passed().length, 3, 'a new window grants the key again (control)')
})

t.test('sidecar.signal_limits: defaults, bounds and unknown keys are errors naming the path', async (t) => {
  const { hangarConfigSchema } = await import('../../config/schema.js')
  const parse = (signal_limits: unknown) => hangarConfigSchema.safeParse({ providers: { p: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp', sidecar: { signal_limits } } } })
  const ok = parse({})
  t.ok(ok.success)
  if (ok.success) t.same(ok.data.providers.p!.sidecar.signal_limits, { rate_per_s: 50, burst: 500, per_destination: 10, rollup_interval_ms: 10_000, rollup_max_entries: 100 })
  for (const [bad, path] of [
    [{ rate_per_s: 0 }, 'rate_per_s'], [{ burst: 0.5 }, 'burst'], [{ per_destination: -1 }, 'per_destination'],
    [{ rollup_interval_ms: 10 }, 'rollup_interval_ms'], [{ rollup_max_entries: 500 }, 'rollup_max_entries'], [{ rate_limit: 5 }, ''],
  ] as const) {
    const r = parse(bad)
    t.equal(r.success, false, JSON.stringify(bad))
    t.match(JSON.stringify(r.error?.issues), `"providers","p","sidecar","signal_limits"${path ? `,"${path}"` : ''}`, `${JSON.stringify(bad)} names its path`)
  }
})

t.test('a roll-up carries the isolation of the signals it folded', async (t) => {
  const r = rig({ perKey: 1 })
  for (let i = 0; i < 5; i++) r.sink.emit({ ...dnsDenied('evil.example'), isolation: 'netns' })
  r.sink.rollUp('interval')
  t.equal(r.rollups()[0]?.isolation, 'netns')
  const plain = rig({ perKey: 1 })
  for (let i = 0; i < 5; i++) plain.sink.emit(dnsDenied('evil.example'))
  plain.sink.rollUp('interval')
  t.equal(plain.rollups()[0]?.isolation, undefined, 'control: none when the sidecar was not told')
})
