/**
 * Deviation detection rigs for tests: a baseline learned by the real recorder on an injected
 * clock, and a detector (enterprise/behavioral/detector.ts) over it with the signals it emits,
 * the quarantines it asks for and its own clock.
 */
import { deviationConfigSchema, type DeviationConfig } from '../../../config/deviation-schema.js'
import { silentLogger } from '../../../core/log.js'
import { createMetrics } from '../../../core/metrics.js'
import type { DeviationContext } from '../../../core/ports.js'
import { DeviationDetectorImpl } from '../../../enterprise/behavioral/detector.js'
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
