/**
 * Property tests of the deviation detector over random baselines the real recorder learned and
 * random live workloads, on an injected clock:
 *
 * - the false-positive budget: traffic drawn from the baseline's own distribution (its
 *   destinations, names, tools and argument keys; per-minute call and byte counts drawn from the
 *   learned minutes) yields ZERO deviations — the thresholds never fall below the learned maximum,
 *   so the budget for in-distribution traffic is 0 signals, whatever the shape of the baseline;
 * - the converse (the property above can fail): one out-of-distribution event of each discrete
 *   class mixed into such a workload is always detected, with its class.
 */
import t from 'tap'
import fc from 'fast-check'
import { BaselineRecorder } from '../../../profiles/baseline/recorder.js'
import { IDENTITY, MINUTE, clockAt, detectorRig } from './rig.js'

interface Learned {
  destinations: Array<{ host?: string; ip?: string; port: number }>
  names: string[]
  tools: Array<{ name: string; keys: string[] }>
  /** Per learned minute: calls (by tool index), bytes, destinations and names touched (indexes). */
  minutes: Array<{ calls: number[]; bytes: number; dests: number[]; names: number[] }>
}

const label = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/)

const learnedArb: fc.Arbitrary<Learned> = fc
  .record({
    destinations: fc.uniqueArray(
      fc.oneof(
        fc.record({ host: fc.tuple(label, label).map(([a, b]) => `${a}.${b}.example`), port: fc.constantFrom(443, 80, 8443, 5432) }),
        fc.record({ ip: fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `198.51.${a}.${b}`), port: fc.integer({ min: 1, max: 65535 }) }),
      ),
      { minLength: 1, maxLength: 8, selector: (d) => `${'host' in d ? d.host : d.ip}|${d.port}` },
    ),
    names: fc.uniqueArray(fc.tuple(label, label).map(([a, b]) => `${a}.${b}.example`), { minLength: 1, maxLength: 12 }),
    tools: fc.uniqueArray(fc.record({ name: label, keys: fc.uniqueArray(label, { minLength: 0, maxLength: 4 }) }), { minLength: 1, maxLength: 4, selector: (x) => x.name }),
  })
  .chain((b) => fc.record({
    destinations: fc.constant(b.destinations),
    names: fc.constant(b.names),
    tools: fc.constant(b.tools),
    minutes: fc.array(fc.record({
      calls: fc.array(fc.integer({ min: 0, max: b.tools.length - 1 }), { maxLength: 25 }),
      bytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000_000 })),
      dests: fc.array(fc.integer({ min: 0, max: b.destinations.length - 1 }), { maxLength: 4 }),
      names: fc.array(fc.integer({ min: 0, max: b.names.length - 1 }), { maxLength: 6 }),
    }), { minLength: 15, maxLength: 60 }),
  }))

/** Learns `l` minute by minute from EPOCH; every destination and name at least once in the first minute. */
function learnIt(l: Learned) {
  const clock = clockAt()
  const recorder = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: clock.clock })
  for (const d of l.destinations) recorder.egress({ ...d, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  for (const n of l.names) recorder.dnsQuery(n, 'A', 'allowed')
  for (const tool of l.tools) recorder.toolCalled(tool.name, false, Object.fromEntries(tool.keys.map((k) => [k, 1])), IDENTITY)
  for (const m of l.minutes) {
    const start = clock.now
    for (const i of m.dests) recorder.egress({ ...l.destinations[i]!, protocol: 'tunnel', via: 'connect', action: 'allowed' })
    for (const i of m.names) recorder.dnsQuery(l.names[i]!, 'A', 'allowed')
    for (const i of m.calls) recorder.toolCalled(l.tools[i]!.name, false, Object.fromEntries(l.tools[i]!.keys.map((k) => [k, 1])), IDENTITY)
    if (m.bytes > 0) recorder.egressBytes({ ...l.destinations[0]!, protocol: 'tunnel' }, m.bytes >> 1, m.bytes - (m.bytes >> 1))
    clock.now = start + MINUTE
  }
  return { recorder, clock }
}

/** A live minute drawn from the baseline's own distribution: seeds pick learned minutes, keys subsets, chunks. */
const liveArb = fc.array(fc.record({
  callsFrom: fc.nat(), bytesFrom: fc.nat(), chunks: fc.integer({ min: 1, max: 3 }),
  dests: fc.array(fc.nat(), { maxLength: 6 }), names: fc.array(fc.nat(), { maxLength: 8 }), keyMask: fc.nat(), tool: fc.nat(),
}), { minLength: 5, maxLength: 30 })

interface LiveMinute { callsFrom: number; bytesFrom: number; chunks: number; dests: number[]; names: number[]; keyMask: number; tool: number }

function replay(l: Learned, live: LiveMinute[], inject?: (rig: ReturnType<typeof detectorRig>, minute: number) => void) {
  const { recorder, clock } = learnIt(l)
  const b = recorder.snapshot()
  const rig = detectorRig(() => recorder.snapshot(), clock, { config: { learning_window_ms: 10 * MINUTE, min_observations: 1, min_active_minutes: 10 } })
  const callMinutes = b.call_minutes.map((m) => m[1])
  const byteMinutes = (b.byte_minutes ?? []).map((m) => m[1])
  live.forEach((m, idx) => {
    const start = clock.now
    for (const i of m.dests) rig.detector.egress({ ...l.destinations[i % l.destinations.length]!, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
    for (const i of m.names) rig.detector.dnsQuery(l.names[i % l.names.length]!, 'AAAA', 'allowed')
    const calls = callMinutes.length ? callMinutes[m.callsFrom % callMinutes.length]! : 0
    for (let c = 0; c < calls; c++) {
      const tool = l.tools[(m.tool + c) % l.tools.length]!
      rig.detector.toolCalled(tool.name, false, Object.fromEntries(tool.keys.filter((_, k) => (m.keyMask >> k) & 1).map((k) => [k, 1])), IDENTITY)
    }
    const bytes = byteMinutes.length ? byteMinutes[m.bytesFrom % byteMinutes.length]! : 0
    for (let c = 0, left = bytes; c < m.chunks && left > 0; c++) {
      const part = c === m.chunks - 1 ? left : Math.floor(left / 2)
      rig.detector.egressBytes({ ...l.destinations[0]!, protocol: 'tunnel' }, part, 0)
      left -= part
    }
    inject?.(rig, idx)
    clock.now = start + MINUTE
    rig.detector.sweep()
  })
  rig.detector.close()
  return rig
}

t.test('false-positive budget 0: traffic drawn from the baseline\'s own distribution is never a deviation', async (t) => {
  let runs = 0
  let compared = 0
  let bytesCompared = 0
  fc.assert(fc.property(learnedArb, liveArb, (l, live) => {
    runs++
    const rig = replay(l, live)
    if (rig.detector.reference?.callRate) compared++
    if (rig.detector.reference?.byteRate) bytesCompared++
    if (!rig.detector.mature) return false
    return rig.signals.length === 0
  }), { numRuns: 150, seed: 20261208 })
  t.equal(runs, 150)
  t.ok(compared > 50, `the call rate was compared in ${compared} of 150 runs (≥ 10 active learned minutes)`)
  t.ok(bytesCompared > 50, `the byte rate in ${bytesCompared}`)
})

t.test('the converse: one out-of-distribution event of each discrete class is always detected', async (t) => {
  const seen: Record<string, number> = {}
  const classes = ['new_destination', 'new_dns_name', 'new_tool', 'new_argument_keys'] as const
  fc.assert(fc.property(learnedArb, liveArb, fc.constantFrom(...classes), fc.nat(), (l, live, cls, at) => {
    const minute = at % live.length
    const rig = replay(l, live, (r, idx) => {
      if (idx !== minute) return
      if (cls === 'new_destination') r.detector.egress({ host: 'never.seen.invalid', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
      if (cls === 'new_dns_name') r.detector.dnsQuery('never.seen.invalid', 'A', 'allowed')
      if (cls === 'new_tool') r.detector.toolCalled('never_seen_tool', false, {}, IDENTITY)
      if (cls === 'new_argument_keys') r.detector.toolCalled(l.tools[0]!.name, false, { never_seen_key: 1 }, IDENTITY)
    })
    const found = rig.of(cls)
    seen[cls] = (seen[cls] ?? 0) + 1
    return found.length === 1 && rig.signals.length === 1 && (found[0]!.details as { key: string }).key.includes('never')
  }), { numRuns: 120, seed: 20261209 })
  t.same(Object.keys(seen).sort(), [...classes].sort(), `every class was injected and detected, and nothing else: ${JSON.stringify(seen)}`)
})

t.test('the converse for rates: a minute above every learned minute × rate_factor is always detected', async (t) => {
  let detected = 0
  fc.assert(fc.property(learnedArb, liveArb, (l, live) => {
    const learned = learnIt(l).recorder.snapshot()
    const maxCalls = learned.call_rate.max
    const rig = replay(l, live, (r, idx) => {
      if (idx !== 0) return
      for (let i = 0; i < maxCalls * 3 + 1; i++) r.detector.toolCalled(l.tools[0]!.name, false, {}, IDENTITY)
    })
    const comparable = rig.detector.reference?.callRate !== undefined
    if (comparable && rig.of('call_rate').length >= 1) detected++
    return comparable ? rig.of('call_rate').length >= 1 : rig.of('call_rate').length === 0
  }), { numRuns: 80, seed: 20261210 })
  t.ok(detected > 20, `detected in each of the ${detected} runs whose baseline had a comparable call rate`)
})
