/**
 * Turns the kernel's drops into signals (issue 5): every `intervalMs` the sidecar of a provider in
 * a network namespace reads the `bypass4` sets (local/plan.ts) of the namespace and of the host
 * side, and emits one `egress_bypass_attempt` per destination whose packet count grew, with the
 * packets and bytes dropped since the last poll. nftables did the enforcing; this only reports.
 */
import type { Logger } from '../core/log.js'
import type { SignalInput } from '../signals/build.js'
import { readBypassSet, type BypassEntry } from './netns.js'
import { NS_TABLE } from './plan.js'

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
  read?: (table: string, netns?: string) => BypassEntry[]
}

type Where = 'namespace' | 'host'

/** Pure: the signals for the growth between two reads of one set. */
export function bypassSignals(prev: ReadonlyMap<string, number>, now: readonly BypassEntry[], where: Where, mode: SignalInput['enforcement_mode']): { signals: SignalInput[]; seen: Map<string, number> } {
  const seen = new Map<string, number>()
  const signals: SignalInput[] = []
  for (const e of now) {
    const key = `${e.ip}|${e.protocol}|${e.port}`
    seen.set(key, e.packets)
    const before = prev.get(key) ?? 0
    // A set element that timed out and came back starts from 0 again.
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
        ? `the provider sent ${delta} packet(s) to ${e.ip}:${e.port}/${e.protocol}, around its sidecar; nftables in its network namespace refused them`
        : `the provider sent ${delta} packet(s) to ${e.ip}:${e.port}/${e.protocol} on the host, which is not a sidecar listener; the host's nftables dropped them`,
      details: { packets: delta, bytes: e.bytes, where },
    })
  }
  return { signals, seen }
}

/** Polls both sets until stopped. */
export class BypassMonitor {
  readonly #o: BypassMonitorOptions
  #timer: NodeJS.Timeout | undefined
  #ns = new Map<string, number>()
  #host = new Map<string, number>()
  #failed = false

  constructor(o: BypassMonitorOptions) {
    this.#o = o
  }

  start(): void {
    this.poll()
    this.#timer = setInterval(() => this.poll(), this.#o.intervalMs ?? 2000)
    this.#timer.unref()
  }

  /** One poll (also run once more by {@link stop}, so drops just before a stop are reported). */
  poll(): void {
    const read = this.#o.read ?? readBypassSet
    try {
      const ns = bypassSignals(this.#ns, read(NS_TABLE, this.#o.netns), 'namespace', this.#o.enforcementMode)
      const host = bypassSignals(this.#host, read(this.#o.hostTable), 'host', this.#o.enforcementMode)
      this.#ns = ns.seen
      this.#host = host.seen
      for (const s of [...ns.signals, ...host.signals]) this.#o.emit(s)
      if (this.#failed) this.#o.log.info('nftables drop counters readable again')
      this.#failed = false
    } catch (err) {
      if (!this.#failed) this.#o.log.warn({ err: (err as Error).message }, 'cannot read the nftables drop counters; egress_bypass_attempt is not reported until they are readable')
      this.#failed = true
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    this.poll()
  }
}
