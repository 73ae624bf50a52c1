/**
 * Options of the signal shipper (signals/shipper.ts), their defaults and their checks.
 */
import type { Dispatcher } from 'undici'
import type { Logger } from '../core/log.js'
import type { ShipperMetrics } from '../core/metrics.js'
import type { SignalOrigin } from './build.js'
import { ENVELOPE_BYTES } from './shipper-post.js'
import { DEFAULT_BACKOFF, type BackoffConfig } from './shipper-policy.js'
import type { SpoolOptions } from './spool-types.js'
import type { EnforcementMode } from './types.js'

/** Options of `AggregatorShipper`. */
export interface AggregatorShipperOptions {
  /** The aggregator's base URL (`aggregator.url`, http or https, may carry a path prefix); batches go to `<url>/v1/signals`. */
  url: string
  /** Bearer token sent with every batch (one of `aggregator.signal_tokens`); undefined = none (an open aggregator). */
  token?: string
  /** Spool directory (e.g. `<sidecar.data_dir>/spool`); one shipper per directory. */
  spoolDir: string
  /** Spool segment size, bound and fsync interval (signals/spool.ts defaults: 4 MiB, 64 MiB, 1000 ms). */
  spool?: Omit<SpoolOptions, 'log'>
  /** `provider` and `sidecar_id` of the `signals_dropped` signals the shipper emits itself. */
  origin: SignalOrigin
  /** `enforcement_mode` of those signals (the provider's mode). */
  mode: EnforcementMode
  log: Logger
  metrics?: ShipperMetrics
  /** Most signals per POST. Default 1000. */
  maxBatchSignals?: number
  /** Most bytes per POST body. Default 1 MiB (the aggregator answers 413 above). */
  maxBatchBytes?: number
  /** A batch leaves at the latest this long after its oldest signal was emitted, ms. Default 1000. */
  lingerMs?: number
  /** Whole-request timeout (connect, send, response body), ms. Default 10 000. */
  requestTimeoutMs?: number
  /** Retry backoff, ms. Default 100 doubling to 30 000, full jitter. */
  backoff?: Partial<BackoffConfig>
  /** Signals kept in memory while the spool cannot be written. Default 10 000. */
  memoryQueueMax?: number
  /** Bound of the final flush in `AggregatorShipper.close`, ms. Default 5000. */
  closeTimeoutMs?: number
  /** Uniform random in [0, 1) for the jitter. Default Math.random. */
  random?: () => number
  /** Wall clock, ms. Default Date.now. */
  clock?: () => number
  /** HTTP client (tests, custom TLS). Default: an undici Pool of one connection to the URL's origin, closed by close(). */
  dispatcher?: Dispatcher
}

/** {@link AggregatorShipperOptions} with every default filled in. */
export type ResolvedShipperOptions = AggregatorShipperOptions &
  Required<Pick<AggregatorShipperOptions, 'maxBatchSignals' | 'maxBatchBytes' | 'lingerMs' | 'requestTimeoutMs' | 'memoryQueueMax' | 'closeTimeoutMs' | 'random' | 'clock'>> & {
    backoff: BackoffConfig
  }

/**
 * Fills in the defaults (an option given as undefined takes its default) and checks the sizes.
 * @throws RangeError when `maxBatchSignals`, `maxBatchBytes` or `memoryQueueMax` is not a positive
 *   integer, or `maxBatchBytes` does not exceed the envelope `{"signals":[]}`
 */
export function resolveShipperOptions(opts: AggregatorShipperOptions): ResolvedShipperOptions {
  const o = {
    maxBatchSignals: 1000, maxBatchBytes: 1024 * 1024, lingerMs: 1000, requestTimeoutMs: 10_000, memoryQueueMax: 10_000, closeTimeoutMs: 5000,
    random: Math.random, clock: Date.now,
    ...stripUndefined(opts),
  } as ResolvedShipperOptions
  for (const k of ['maxBatchSignals', 'maxBatchBytes', 'memoryQueueMax'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`shipper ${k} must be a positive integer, got ${o[k]}`)
  }
  if (o.maxBatchBytes <= ENVELOPE_BYTES) throw new RangeError(`shipper maxBatchBytes must exceed ${ENVELOPE_BYTES}`)
  o.backoff = { ...DEFAULT_BACKOFF, ...stripUndefined(opts.backoff ?? {}) }
  return o
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
