/**
 * Deviation detection rigs for tests: a baseline learned by the real recorder on an injected
 * clock, a detector (enterprise/behavioral/detector.ts) over it with the signals it emits, the
 * quarantines it asks for and its own clock, and a replay of a recorded baseline as live traffic.
 */
import { deviationConfigSchema, type DeviationConfig } from '../../../config/deviation-schema.js'
import { silentLogger } from '../../../core/log.js'
import { createMetrics } from '../../../core/metrics.js'
import type { DeviationContext, DeviationObserver } from '../../../core/ports.js'
import { DeviationDetectorImpl } from '../../../enterprise/behavioral/detector.js'
import type { Baseline } from '../../../policy/baseline-schema.js'
import { BaselineRecorder } from '../../../profiles/baseline/recorder.js'
import type { Signal } from '../../../signals/types.js'

/** 2026-11-23T00:00:00Z: minute-aligned, hour 0 UTC. */
export const EPOCH = Date.parse('2026-11-23T00:00:00.000Z')
export const MINUTE = 60_000
export const HOUR = 3_600_000
export const IDENTITY = (k: string): string => k

/** A settable clock, ms since the epoch. */
export interface Clock {
  now: number
  clock: () => number
}

export function clockAt(start = EPOCH): Clock {
  const c = { now: start, clock: () => c.now }
  return c
}

/** The steady workload a baseline learns (and a live run stays inside). */
export const KNOWN = {
  destinations: [{ host: 'api.example.com', port: 443 }, { host: 'cdn.example.com', port: 443 }, { ip: '198.51.100.7', port: 5432 }],
  names: ['api.example.com', 'cdn.example.com', 'www.example.org'],
  tools: { read_file: ['path', 'encoding'], search: ['query', 'limit'] },
  listedOnly: 'delete_file',
}

/**
 * A recorder that learned {@link KNOWN} for `minutes` minutes from {@link EPOCH}: each minute every
 * destination once (with `bytesPerMinute` bytes through the first), every name once, and
 * `callsPerMinute` calls alternating over the tools. The clock is left at the end.
 */
export function learn(o: { minutes?: number; callsPerMinute?: number; bytesPerMinute?: number; clock?: Clock; mode?: 'alert' | 'block' | 'quarantine' } = {}): { recorder: BaselineRecorder; clock: Clock } {
  const clock = o.clock ?? clockAt()
  const recorder = new BaselineRecorder({ provider: 'p', mode: o.mode ?? 'alert', clock: clock.clock })
  const minutes = o.minutes ?? 60
  const calls = o.callsPerMinute ?? 4
  const bytes = o.bytesPerMinute ?? 10_000
  recorder.toolListed(KNOWN.listedOnly, `sha256:${'c'.repeat(64)}`)
  const tools = Object.entries(KNOWN.tools)
  for (let m = 0; m < minutes; m++) {
    const start = clock.now
    for (const d of KNOWN.destinations) recorder.egress({ ...d, protocol: 'tunnel', via: 'connect', action: 'allowed' })
    recorder.egressBytes({ ...KNOWN.destinations[0]!, protocol: 'tunnel' }, bytes / 2, bytes / 2)
    for (const n of KNOWN.names) recorder.dnsQuery(n, 'A', 'allowed')
    for (let i = 0; i < calls; i++) {
      const [name, keys] = tools[i % tools.length]!
      recorder.toolCalled(name, false, Object.fromEntries(keys.map((k) => [k, 'v'])), IDENTITY)
    }
    clock.now = start + MINUTE
  }
  return { recorder, clock }
}

/** A detector over `baseline()` with an injected clock and no timer; what it emits and quarantines. */
export function detectorRig(baseline: () => unknown, clock: Clock, o: { mode?: DeviationContext['mode']; config?: Partial<DeviationConfig> } = {}) {
  const signals: Signal[] = []
  const quarantines: string[] = []
  const metrics = createMetrics({ processMetrics: false })
  const config = deviationConfigSchema.parse({ enabled: true, learning_window_ms: 30 * MINUTE, min_active_minutes: 10, ...o.config })
  const detector = new DeviationDetectorImpl({
    provider: 'p', mode: o.mode ?? 'alert', config, baseline, log: silentLogger(), registry: metrics.registry, now: clock.clock,
    emit: (s) => signals.push(s as Signal),
    quarantine: (reason) => quarantines.push(reason),
  }, config, false)
  /** The emitted signals of one class. */
  const of = (cls: string): Signal[] => signals.filter((s) => (s.details as { class?: string } | undefined)?.class === cls)
  return { detector, signals, quarantines, metrics, config, of }
}

/**
 * Replays a recorded baseline into a detector as live traffic, from `clock.now` on: its per-minute
 * calls and bytes minute by minute (tools cycled, each with its learned keys), every destination
 * and DNS name as often as recorded, spread over the same minutes. Traffic of the baseline's own
 * distribution: a correct detector finds nothing in it.
 * @returns the events replayed
 */
export function replayBaseline(b: Baseline, d: DeviationObserver, clock: Clock): number {
  const called = b.tools.filter((x) => x.calls > 0)
  const minutes = Math.max(b.call_minutes.length, b.byte_minutes?.length ?? 0, 1)
  const egress = b.egress.flatMap((e) => Array.from({ length: Math.min(e.count, 1000) }, () => e))
  const dns = b.dns.flatMap((r) => Array.from({ length: Math.min(r.count, 1000) }, () => r))
  let events = 0
  for (let m = 0; m < minutes; m++) {
    const start = clock.now
    const calls = b.call_minutes[m]?.[1] ?? 0
    for (let i = 0; i < calls && called.length > 0; i++) {
      const tool = called[i % called.length]!
      d.toolCalled(tool.name, false, Object.fromEntries(tool.argument_keys.map((k) => [k, 1])), IDENTITY)
      events++
    }
    const bytes = b.byte_minutes?.[m]?.[1] ?? 0
    if (bytes > 0 && b.egress[0]) {
      d.egressBytes({ ...(b.egress[0].host !== undefined ? { host: b.egress[0].host } : { ip: b.egress[0].ip! }), port: b.egress[0].port, protocol: b.egress[0].protocol }, bytes, 0)
      events++
    }
    for (let i = m; i < egress.length; i += minutes) {
      const e = egress[i]!
      d.egress({ ...(e.host !== undefined ? { host: e.host } : { ip: e.ip! }), port: e.port, protocol: e.protocol, via: Object.keys(e.via)[0] ?? 'connect', action: 'allowed' })
      events++
    }
    for (let i = m; i < dns.length; i += minutes) {
      d.dnsQuery(dns[i]!.name, Object.keys(dns[i]!.qtypes)[0] ?? 'A', 'allowed')
      events++
    }
    clock.now = start + MINUTE
  }
  return events
}
