/**
 * The aggregator's baseline book: the latest behavioral baseline (`hangar.baseline/v1`,
 * policy/baseline-schema.ts) each provider's sidecar shipped with its heartbeats
 * (`POST /v1/sidecars/heartbeat` `baseline`), and when it arrived. Served at
 * `GET /v1/providers/{name}/baseline` and by the `hangar_baseline` tool.
 *
 * Which baseline is kept: the newest arrival, except one with a lower `revision` than the kept
 * one from the same `started` time (a late or replayed heartbeat), which is ignored. A sidecar
 * that restarts restores its baseline from its disk, so its revision keeps growing under the same
 * `started`; a baseline with another `started` (a fresh recording) always replaces the kept one.
 *
 * Persistence: one file per provider, `<aggregator.data_dir>/baselines/<provider>.json` holding
 * `{"received_at": "<RFC 3339>", "baseline": {…}}`, replaced atomically and durably
 * (core/atomic-write.ts) off the request path. At most one write per provider is in flight; baselines that
 * arrive meanwhile are coalesced and only the latest is written after it. The files are loaded
 * by {@link BaselineBook.open}; an unreadable one is logged and skipped (the provider's next
 * baseline replaces it). To keep memory small, a kept baseline is held as its JSON text plus a
 * few summary numbers, not as an object tree.
 */
import { mkdir, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../core/atomic-write.js'
import type { Logger } from '../core/log.js'
import { parseBaseline, type Baseline } from '../policy/baseline-schema.js'

/** The numbers of a kept baseline that are shown without reading its text. */
export interface BaselineSummary {
  provider: string
  enforcement_mode: Baseline['enforcement_mode']
  /** RFC 3339: when the sidecar began recording. */
  started: string
  /** RFC 3339: the last recorded event. */
  updated: string
  revision: number
  events: number
  /** Entries of `egress`, `dns` and `tools`. */
  destinations: number
  dns_names: number
  tools: number
  /** `dropped` of the baseline: events whose destination, name or tool did not fit the limits. */
  dropped: Baseline['dropped']
}

/** One provider's kept baseline. */
export interface StoredBaseline {
  summary: BaselineSummary
  /** The `hangar.baseline/v1` document as compact JSON text (what `GET …/baseline` answers). */
  text: string
  /** When the aggregator received it, ms since the epoch. */
  receivedAt: number
}

export interface BaselineBookOptions {
  /** Where the files live (`<data_dir>/baselines`); undefined = memory only. */
  dir?: string
  log: Logger
  /** Clock for `receivedAt`, ms since the epoch. Default `Date.now`. */
  clock?: () => number
}

/** Result of {@link BaselineBook.offer}. */
export type OfferResult = 'stored' | 'stale'

const FILE_NAME = /^([A-Za-z0-9][A-Za-z0-9_-]{0,62})\.json$/

interface WriteState {
  /** The running write loop of this provider. */
  running: Promise<void>
  /** A newer baseline arrived while writing: write once more. */
  again: boolean
}

/** Latest baseline per provider, persisted one file per provider. */
export class BaselineBook {
  readonly #entries = new Map<string, StoredBaseline>()
  readonly #writes = new Map<string, WriteState>()
  readonly #dir: string | undefined
  readonly #log: Logger
  readonly #clock: () => number
  #closed = false

  private constructor(o: BaselineBookOptions) {
    this.#dir = o.dir
    this.#log = o.log
    this.#clock = o.clock ?? Date.now
  }

  /**
   * Creates a book and loads the files in `o.dir`. Never throws for the files' sake: a missing
   * directory is an empty book, an unreadable directory or file is logged (pino, `warn`) and
   * skipped.
   */
  static async open(o: BaselineBookOptions): Promise<BaselineBook> {
    const book = new BaselineBook(o)
    if (o.dir) await book.#load(o.dir)
    return book
  }

  async #load(dir: string): Promise<void> {
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ dir, err: (err as Error).message }, 'baselines directory unreadable; starting without stored baselines')
      return
    }
    for (const name of names.sort()) {
      const m = FILE_NAME.exec(name)
      if (!m) continue
      const file = join(dir, name)
      try {
        const v = JSON.parse(await readFile(file, 'utf8')) as unknown
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object')
        const { received_at: receivedAt, baseline } = v as { received_at?: unknown; baseline?: unknown }
        const at = typeof receivedAt === 'string' ? Date.parse(receivedAt) : NaN
        if (!Number.isFinite(at)) throw new Error('received_at: expected an RFC 3339 time')
        const b = parseBaseline(baseline)
        if (b.provider !== m[1]) throw new Error(`baseline.provider "${b.provider}" is not the file's provider "${m[1]!}"`)
        this.#entries.set(b.provider, { summary: summarize(b), text: JSON.stringify(b), receivedAt: at })
      } catch (err) {
        this.#log.warn({ file, err: (err as Error).message }, 'baseline file unreadable; skipped')
      }
    }
    if (this.#entries.size) this.#log.info({ providers: this.#entries.size, dir }, 'baselines loaded')
  }

  /**
   * Offers a validated baseline (a heartbeat's `baseline`). Keeps it unless it is stale: a
   * lower `revision` than the kept baseline's with the same `started` time. A kept baseline is
   * persisted in the background.
   * @returns `stored`, or `stale` when it was ignored.
   */
  offer(b: Baseline): OfferResult {
    const cur = this.#entries.get(b.provider)
    if (cur && Date.parse(cur.summary.started) === Date.parse(b.started) && b.revision < cur.summary.revision) return 'stale'
    this.#entries.set(b.provider, { summary: summarize(b), text: JSON.stringify(b), receivedAt: this.#clock() })
    this.#schedule(b.provider)
    return 'stored'
  }

  /** The kept baseline of a provider, if any. */
  get(provider: string): StoredBaseline | undefined {
    return this.#entries.get(provider)
  }

  /** Providers with a kept baseline. */
  names(): string[] {
    return [...this.#entries.keys()]
  }

  #schedule(provider: string): void {
    if (!this.#dir || this.#closed) return
    const pending = this.#writes.get(provider)
    if (pending) {
      pending.again = true
      return
    }
    const dir = this.#dir
    const state: WriteState = { running: Promise.resolve(), again: false }
    state.running = (async () => {
      // Off the request path: the heartbeat is answered before the file is serialised.
      await new Promise((r) => setImmediate(r))
      do {
        state.again = false
        const e = this.#entries.get(provider)
        if (!e) break
        try {
          await writeBaselineFile(dir, provider, e)
        } catch (err) {
          this.#log.warn({ provider, dir, err: (err as Error).message }, 'baseline not persisted; the aggregator keeps serving it from memory')
        }
      } while (state.again)
      this.#writes.delete(provider)
    })()
    this.#writes.set(provider, state)
  }

  /** Resolves once every pending write has finished (written or logged as failed). */
  async flush(): Promise<void> {
    while (this.#writes.size) await Promise.all([...this.#writes.values()].map((w) => w.running))
  }

  /** Writes what is pending, then stops persisting (later offers stay in memory). */
  async close(): Promise<void> {
    await this.flush()
    this.#closed = true
  }
}

/** The summary numbers of a baseline. */
export function summarize(b: Baseline): BaselineSummary {
  return {
    provider: b.provider, enforcement_mode: b.enforcement_mode, started: b.started, updated: b.updated,
    revision: b.revision, events: b.events,
    destinations: b.egress.length, dns_names: b.dns.length, tools: b.tools.length, dropped: { ...b.dropped },
  }
}

/**
 * One line for a person: `Baseline of "fetch": 3 destinations, 5 DNS names, 2 tools, 120 events
 * (revision 120, block mode), updated …, received ….` (the events over the limits when any).
 */
export function describeBaseline(s: StoredBaseline): string {
  const b = s.summary
  const n = (k: number, one: string, many: string): string => `${k} ${k === 1 ? one : many}`
  const dropped = b.dropped.destinations + b.dropped.dns_names + b.dropped.tools
  return `Baseline of "${b.provider}": ${n(b.destinations, 'destination', 'destinations')}, ${n(b.dns_names, 'DNS name', 'DNS names')}, `
    + `${n(b.tools, 'tool', 'tools')}, ${n(b.events, 'event', 'events')} (revision ${b.revision}, ${b.enforcement_mode} mode`
    + `${dropped ? `, ${n(dropped, 'event', 'events')} over the limits` : ''}), updated ${b.updated}, `
    + `received ${new Date(s.receivedAt).toISOString()}.`
}

async function writeBaselineFile(dir: string, provider: string, e: StoredBaseline): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFileAtomic(join(dir, `${provider}.json`), `{"received_at":${JSON.stringify(new Date(e.receivedAt).toISOString())},"baseline":${e.text}}\n`)
}
