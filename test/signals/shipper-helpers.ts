/**
 * Shared by the shipper tests (test/signals/shipper*.test.ts): a shipper on a temp spool with fast
 * test timings, a loopback stub aggregator, and metric reads.
 */
import type { Counter, Gauge } from 'prom-client'
import { createMetrics, type ShipperMetrics } from '../../core/metrics.js'
import { AggregatorShipper, type AggregatorShipperOptions } from '../../signals/shipper.js'
import { captureLogger, tempDir } from './helpers.js'
import { StubAggregator } from './stub-aggregator.js'

export async function value(m: Counter<string> | Gauge<string>, labels: Record<string, string> = {}): Promise<number> {
  const got = await m.get()
  const v = got.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want))
  return v?.value ?? 0
}

export type Teardown = { teardown(fn: () => unknown): void }

export interface Harness {
  shipper: AggregatorShipper
  metrics: ShipperMetrics
  logs: ReturnType<typeof captureLogger>
  dir: string
}

export function ship(t: Teardown, url: string, opts: Partial<AggregatorShipperOptions> = {}, dir = tempDir(t)): Harness {
  const metrics = createMetrics({ processMetrics: false }).shipper
  const logs = captureLogger()
  const shipper = new AggregatorShipper({
    url, token: 'signal-token', spoolDir: dir, origin: { provider: 'fetch', sidecar_id: 'sc-test' }, mode: 'block', log: logs.log, metrics,
    lingerMs: 50, backoff: { initialMs: 10, capMs: 100 }, closeTimeoutMs: 2000, spool: { fsyncIntervalMs: 0 },
    ...opts,
  })
  t.teardown(() => shipper.close())
  return { shipper, metrics, logs, dir }
}

export async function stub(t: Teardown, opts: { maxBody?: number } = {}): Promise<StubAggregator> {
  const s = new StubAggregator(opts)
  await s.start(0)
  t.teardown(() => s.stop())
  return s
}
