/**
 * Turns the kernel's drops into signals: every `intervalMs` the sidecar of a provider in a network
 * namespace reads the drop sets (`bypass4`, `bypass6`; local/plan.ts) of the namespace and of the
 * host side, emits one `egress_bypass_attempt` per destination whose packet count grew, with the
 * packets and bytes dropped since the last poll, and deletes the elements it reported, so the sets
 * never fill with old destinations (a destination seen again is reported again). Packets a full
 * set could not take are counted by nftables in `overflow`; growth there is reported as one
 * `egress_bypass_attempt` with `details.overflow: true` and counted in
 * `egress_bypass_overflow_packets_total`. nftables did the enforcing; this only reports.
 */
import type { Counter } from 'prom-client'
import type { Logger } from '../core/log.js'
import type { SignalInput } from '../signals/build.js'
import { deleteBypassElements, readBypassSet, type BypassEntry, type BypassRead } from './netns.js'
import { BYPASS_SET_SIZE, NS_TABLE } from './plan.js'

export interface BypassMonitorOptions {
  netns: string
  hostTable: string
  /** Emits one signal (the sidecar's `SignalEmitter.emit`). */
  emit: (input: SignalInput) => void
  enforcementMode: SignalInput['enforcement_mode']
  log: Logger
  /** Poll period, ms. Default 2000. */
  intervalMs?: number
  /** The reader (tests may pass their own); default reads with `nft -j`. */
  read?: (table: string, netns?: string) => Promise<BypassRead>
  /** Deletes reported elements; default `nft delete element`. */
  remove?: (table: string, entries: readonly BypassEntry[], netns?: string) => Promise<void>
  /** `egress_bypass_overflow_packets_total{provider,where}`, when given. */
  overflowMetric?: Counter<'provider' | 'where'>
  provider?: string
}

type Where = 'namespace' | 'host'

const key = (e: BypassEntry) => `${e.ip}|${e.protocol}|${e.port}`

/** Pure: the signals for the growth between two reads of one set. */
export function bypassSignals(prev: ReadonlyMap<string, number>, now: readonly BypassEntry[], where: Where, mode: SignalInput['enforcement_mode']): { signals: SignalInput[]; seen: Map<string, number> } {
  const seen = new Map<string, number>()
  const signals: SignalInput[] = []
  for (const e of now) {
    seen.set(key(e), e.packets)
    const before = prev.get(key(e)) ?? 0
    // A set element that timed out (or was deleted after its report) and came back starts from 0 again.
    const delta = e.packets >= before ? e.packets - before : e.packets
    if (delta <= 0) continue
    signals.push({
      kind: 'violation',
      type: 'egress_bypass_attempt',
      action: 'blocked',
      enforcement_mode: mode,
      destination: { ip: e.ip, port: e.port, protocol: e.protocol },
      rule: where === 'namespace' ? 'netns-egress-drop' : 'netns-host-drop',
      reason: where === 'namespace'
        ? `the provider sent ${delta} packet(s) to ${e.ip.includes(':') ? `[${e.ip}]` : e.ip}:${e.port}/${e.protocol}, around its sidecar; nftables in its network namespace refused them`
        : `the provider sent ${delta} packet(s) to ${e.ip.includes(':') ? `[${e.ip}]` : e.ip}:${e.port}/${e.protocol} on the host, which is not a sidecar listener; the host's nftables dropped them`,
      details: { packets: delta, bytes: e.bytes, where },
    })
  }
  return { signals, seen }
}

/** Pure: the signal for packets a full drop set could not record, or undefined when none. */
export function overflowSignal(delta: number, where: Where, mode: SignalInput['enforcement_mode']): SignalInput | undefined {
  if (delta <= 0) return undefined
  return {
    kind: 'violation',
    type: 'egress_bypass_attempt',
    action: 'blocked',
    enforcement_mode: mode,
    rule: where === 'namespace' ? 'netns-egress-drop' : 'netns-host-drop',
    reason: `the provider sent ${delta} tcp/udp packet(s) around its sidecar to more distinct destinations than the drop set holds (${BYPASS_SET_SIZE}) between two polls; nftables ${where === 'namespace' ? 'refused' : 'dropped'} them, their destinations were not recorded`,
    details: { overflow: true, packets: delta, where },
  }
}

/** Polls both sides until stopped. */
export class BypassMonitor {
  readonly #o: BypassMonitorOptions
  #timer: NodeJS.Timeout | undefined
  readonly #seen: Record<Where, Map<string, number>> = { namespace: new Map(), host: new Map() }
  readonly #overflow: Record<Where, number> = { namespace: 0, host: 0 }
  #failed = false

  constructor(o: BypassMonitorOptions) {
    this.#o = o
  }

  start(): void {
    void this.poll()
    this.#timer = setInterval(() => void this.poll(), this.#o.intervalMs ?? 2000)
    this.#timer.unref()
  }

  #running: Promise<void> | undefined

  /** One poll (also run once more by {@link stop}, so drops just before a stop are reported); never two at once. */
  poll(): Promise<void> {
    if (this.#running) return this.#running
    this.#running = this.#poll().finally(() => (this.#running = undefined))
    return this.#running
  }

  async #poll(): Promise<void> {
    const read = this.#o.read ?? readBypassSet
    try {
      await this.#side('namespace', await read(NS_TABLE, this.#o.netns), NS_TABLE, this.#o.netns)
      await this.#side('host', await read(this.#o.hostTable), this.#o.hostTable)
      if (this.#failed) this.#o.log.info('nftables drop counters readable again')
      this.#failed = false
    } catch (err) {
      if (!this.#failed) this.#o.log.warn({ err: (err as Error).message }, 'cannot read the nftables drop counters; egress_bypass_attempt is not reported until they are readable')
      this.#failed = true
    }
  }

  async #side(where: Where, r: BypassRead, table: string, netns?: string): Promise<void> {
    const { signals, seen } = bypassSignals(this.#seen[where], r.entries, where, this.#o.enforcementMode)
    const grown = r.overflowPackets - this.#overflow[where]
    const over = overflowSignal(grown, where, this.#o.enforcementMode)
    if (over) this.#o.overflowMetric?.inc({ provider: this.#o.provider ?? '', where }, grown)
    this.#overflow[where] = Math.max(this.#overflow[where], r.overflowPackets)
    for (const s of signals) this.#o.emit(s)
    if (over) this.#o.emit(over)
    // Reported elements leave the set; if the delete fails they stay, and `seen` keeps their counts.
    const reported = r.entries.filter((e) => e.packets > 0)
    this.#seen[where] = seen
    try {
      await (this.#o.remove ?? deleteBypassElements)(table, reported, netns)
      for (const e of reported) seen.delete(key(e))
    } catch (err) {
      this.#o.log.debug({ err: (err as Error).message }, 'cannot delete reported drop-set elements; the next poll retries')
    }
  }

  /** Stops polling after one last poll. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    await this.poll()
  }
}
