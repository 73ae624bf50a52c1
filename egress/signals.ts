/**
 * Turns egress decisions into signals and metrics. Denials always signal; allows become
 * `egress_allowed` / `dns_allowed` observations at most once per destination per
 * `observation_window_ms` (the baseline needs each destination, not each packet).
 * Never throws into the data path.
 */
import type { HangarMetrics } from '../core/metrics.js'
import type { BaselineObserver } from '../policy/baseline-observer.js'
import type { Logger } from '../core/log.js'
import { buildSignal, type SignalOrigin } from '../signals/build.js'
import type { SignalSink } from '../signals/sink.js'
import type { DestinationProtocol, Signal, SignalAction } from '../signals/types.js'
import type { Enforcement } from '../policy/egress.js'
import type { DnsDecision } from '../policy/dns.js'
import type { QuarantineSwitch } from '../policy/quarantine.js'
import type { Decision, EgressPolicy, EgressProtocol, EgressVia } from '../policy/egress-types.js'

/** Where an egress attempt went, for the signal's `destination`. */
export interface AttemptInfo {
  host?: string
  ip?: string
  port: number
  protocol: EgressProtocol
  via: EgressVia
  /** Client address of the attempt (the provider as the sidecar sees it). */
  client?: string
}

const MAX_SAMPLER_KEYS = 10_000

/** Signal + metric output of the egress layer of one provider. */
export class EgressSignals {
  readonly #seen = new Map<string, number>()
  // Bound metric children: hashing a label object costs more than the rest of an allow.
  readonly #requests = new Map<string, { inc(n?: number): void }>()
  readonly #bytesUp: { inc(n?: number): void }
  readonly #bytesDown: { inc(n?: number): void }

  constructor(
    private readonly origin: SignalOrigin,
    private readonly policy: EgressPolicy,
    private readonly sink: SignalSink,
    private readonly metrics: HangarMetrics,
    private readonly enforcement: QuarantineSwitch,
    private readonly log: Logger,
    private readonly observationWindowMs: number,
    /** Records every decision, before sampling (profiles/baseline/recorder.ts). */
    readonly baseline?: BaselineObserver,
  ) {
    this.#bytesUp = metrics.egress.egressBytes.labels({ provider: origin.provider, direction: 'upstream' })
    this.#bytesDown = metrics.egress.egressBytes.labels({ provider: origin.provider, direction: 'downstream' })
    enforcement.on('change', (c) => {
      this.metrics.egress.quarantined.set({ provider: origin.provider }, c.quarantined ? 1 : 0)
      this.#emit({
        kind: 'enforcement',
        type: c.quarantined ? 'quarantine_triggered' : 'quarantine_released',
        action: c.quarantined ? 'quarantined' : 'allowed',
        enforcement_mode: policy.mode,
        reason: c.reason,
        details: { by: c.by },
      })
    })
  }

  /** Records a connection/request decision and its enforcement. Triggers quarantine when the mode says so. */
  egress(decision: Decision, enf: Enforcement, a: AttemptInfo, details?: Record<string, unknown>): void {
    const protocol = signalProtocol(a.protocol, a.port)
    if (this.baseline) {
      // A tunnel's second-stage (content) decision is about an attempt already recorded.
      const content = details?.content
      if (content === 'tls' || content === 'http' || content === 'other') this.baseline.egressContent(a, content)
      else {
        const failed = details !== undefined && (details.dns_error !== undefined || details.dial_error !== undefined)
        this.baseline.egress({ host: a.host, ip: a.ip, port: a.port, protocol: a.protocol, via: a.via, action: enf.action, failed })
      }
    }
    this.requestCounter(protocol, enf.action).inc()
    if (decision.verdict === 'allow') {
      // Hot path: most allows are sampled out before anything is built.
      if (!this.#firstInWindow(`e|${a.host ?? a.ip}|${a.port}|${protocol}`)) return
      this.#emit({
        kind: 'observation', type: 'egress_allowed', action: 'allowed', enforcement_mode: this.policy.mode,
        destination: destinationOf(a), rule: decision.rule, reason: decision.reason, details: { via: a.via, ...details },
      })
      return
    }
    this.#violation('egress_denied', decision, enf, destinationOf(a), { via: a.via, ...(a.client && { client: a.client }), ...details })
  }

  /** `egress_requests_total{provider,protocol,decision}`, bound once per label pair. */
  requestCounter(protocol: string, decision: string): { inc(n?: number): void } {
    const key = protocol + '|' + decision
    let c = this.#requests.get(key)
    if (!c) {
      c = this.metrics.egress.egressRequests.labels({ provider: this.origin.provider, protocol, decision })
      this.#requests.set(key, c)
    }
    return c
  }

  /** A tunnel's first bytes were let through: the baseline learns what it carries. */
  tunnelContent(a: AttemptInfo, kind: 'tls' | 'http' | 'other'): void {
    this.baseline?.egressContent(a, kind)
  }

  /** Records a DNS decision (the baseline is fed by the forwarder itself, which sees every query). */
  dns(d: DnsDecision, enf: Enforcement, qtype: string, client?: string): void {
    this.metrics.egress.dnsQueries.inc({ provider: this.origin.provider, decision: enf.action === 'allowed' ? 'allowed' : enf.action })
    const destination = { host: d.name, protocol: 'dns' as const }
    if (d.verdict === 'allow') {
      if (!this.#firstInWindow(`d|${d.name}|${qtype}`)) return
      this.#emit({ kind: 'observation', type: 'dns_allowed', action: 'allowed', enforcement_mode: this.policy.mode, destination, rule: d.rule, reason: d.reason, details: { qtype } })
      return
    }
    const type = d.code === 'dns_tunnel_suspected' ? 'dns_tunnel_suspected' : 'dns_denied'
    this.#violation(type, d, enf, destination, { qtype, ...(client && { client }) })
  }

  /**
   * Records a refusal at a connection limit: `rate_limited` (kind enforcement, action blocked in
   * every mode), rule `limits.max_tunnels` or `limits.max_connections`. One signal per refusal,
   * built without lookups (the signal path rolls floods up).
   * @param limit the limit's value
   * @param where the attempt (max_tunnels), or the listener that dropped a connection at accept
   *   (max_connections: no request was read, so there is no destination)
   */
  limited(kind: 'max_tunnels' | 'max_connections', limit: number, where: { attempt: AttemptInfo } | { listener: string; port?: number; client?: string }): void {
    const a = 'attempt' in where ? where.attempt : undefined
    const client = a ? a.client : 'listener' in where ? where.client : undefined
    this.#emit({
      kind: 'enforcement', type: 'rate_limited', action: 'blocked', enforcement_mode: this.policy.mode,
      // The raw target (not yet parsed when refused): kept only when it fits a host name.
      ...(a && { destination: destinationOf(a.host !== undefined && a.host.length > 253 ? { ...a, host: undefined } : a) }),
      rule: `limits.${kind}`,
      reason: kind === 'max_tunnels' ? `too many open tunnels (limit ${limit}); answered 429` : `too many open connections on a listener (limit ${limit}); closed at accept`,
      details: {
        limit,
        ...(a ? { via: a.via } : 'listener' in where && { listener: where.listener, ...(where.port !== undefined && { port: where.port }) }),
        ...(client && { client }),
      },
    })
  }

  /** Records answers stripped from an upstream DNS response (rebinding defence). */
  dnsStripped(name: string, rule: string, stripped: Array<{ ip: string; cls: string }>): void {
    this.#emit({
      kind: 'violation', type: 'dns_answer_stripped', action: 'blocked', enforcement_mode: this.policy.mode,
      destination: { host: name, protocol: 'dns' }, rule,
      reason: `${name} answered with always-denied addresses (${stripped.map((s) => `${s.ip}: ${s.cls}`).join(', ')}); they were removed`,
      details: { stripped },
    })
    this.metrics.egress.capabilityViolations.inc({ provider: this.origin.provider, violation_type: 'dns_answer_stripped', action: 'blocked' })
  }

  /** Records a closed tunnel: bytes each way (upstream = sent by the provider) and duration. */
  closed(a: AttemptInfo, bytesUp: number, bytesDown: number, durationMs: number, rule: string): void {
    this.#bytesUp.inc(bytesUp)
    this.#bytesDown.inc(bytesDown)
    this.baseline?.egressBytes(a, bytesUp, bytesDown)
    if (!this.#firstInWindow(`c|${a.host ?? a.ip}|${a.port}`)) return
    this.#emit({
      kind: 'observation', type: 'egress_closed', action: 'allowed', enforcement_mode: this.policy.mode,
      destination: destinationOf(a),
      rule, reason: `tunnel closed after ${durationMs} ms`, details: { via: a.via, bytes_up: bytesUp, bytes_down: bytesDown, duration_ms: durationMs },
    })
  }

  /**
   * `egress_bypass_attempt` for arrivals at the bypass trap (egress/bypass-trap.ts): the pod's
   * nftables rules redirected traffic no listener takes; blocked whatever the enforcement mode (the
   * kernel already took it away from its destination). No `destination.ip`/`port`: REDIRECT does
   * not keep them where the sidecar can read them.
   */
  bypassTrapped(r: { protocol: 'tcp' | 'udp'; family: 'ipv4' | 'ipv6'; attempts: number; sourcePort: number }): void {
    this.metrics.egress.capabilityViolations.inc({ provider: this.origin.provider, violation_type: 'egress_bypass_attempt', action: 'blocked' }, r.attempts)
    const what = r.protocol === 'tcp' ? `${r.attempts} tcp connection(s)` : `${r.attempts} udp datagram(s)`
    const reason = `the provider sent ${what} over ${r.family === 'ipv4' ? 'IPv4' : 'IPv6'} that no egress rule sends to the sidecar (a direct address, another resolver or port); the pod's nftables rules redirected them to the bypass trap, which ${r.protocol === 'tcp' ? 'reset them' : 'discarded them'}`
    this.log.info({ provider: this.origin.provider, type: 'egress_bypass_attempt', ...r }, reason)
    this.#emit({
      kind: 'violation', type: 'egress_bypass_attempt', action: 'blocked', enforcement_mode: this.policy.mode,
      destination: { protocol: r.protocol }, rule: 'k8s-egress-trap', reason,
      details: { where: 'pod', via: 'bypass_trap', family: r.family, attempts: r.attempts, source_port: r.sourcePort },
    })
  }

  /** Emits a lifecycle signal (sidecar_started, sidecar_stopped, …). */
  lifecycle(type: string, reason: string, details?: Record<string, unknown>): void {
    this.#emit({ kind: 'lifecycle', type, action: 'allowed', enforcement_mode: this.policy.mode, reason, ...(details && { details }) })
  }

  #violation(type: string, d: { rule: string; reason: string; code?: string }, enf: Enforcement, destination: Signal['destination'], details: Record<string, unknown>): void {
    this.metrics.egress.capabilityViolations.inc({ provider: this.origin.provider, violation_type: type, action: enf.action })
    // The canonical decision line (smokescreen's CANONICAL-PROXY-DECISION), for operators reading logs.
    this.log.info({ provider: this.origin.provider, type, action: enf.action, rule: d.rule, code: d.code, destination, ...details }, d.reason)
    const severity = d.rule === 'always-denied:metadata' || d.code === 'self_connection' ? 'critical' : undefined
    this.#emit({
      kind: 'violation', type, action: enf.action, enforcement_mode: this.policy.mode,
      ...(destination && { destination }), rule: d.rule, reason: d.reason,
      ...(severity && { severity }), details: { ...(d.code && { code: d.code }), ...details },
    })
    if (enf.triggersQuarantine) this.enforcement.quarantine(`${type}: ${d.reason}`, 'violation')
  }

  #firstInWindow(key: string): boolean {
    if (this.observationWindowMs === 0) return true
    const now = Date.now()
    const last = this.#seen.get(key)
    if (last !== undefined && now - last < this.observationWindowMs) return false
    if (this.#seen.size >= MAX_SAMPLER_KEYS) this.#seen.clear()
    this.#seen.set(key, now)
    return true
  }

  #emit(input: Parameters<typeof buildSignal>[1] & { action: SignalAction }): void {
    try {
      const s = buildSignal(this.origin, input)
      this.metrics.egress.signalsEmitted.inc({ provider: this.origin.provider, kind: s.kind })
      this.sink.emit(s)
    } catch (err) {
      this.log.error({ err }, 'failed to emit a signal')
    }
  }
}

/** The signal `destination` of an attempt. */
function destinationOf(a: AttemptInfo): NonNullable<Signal['destination']> {
  return { ...(a.host !== undefined && { host: a.host }), ...(a.ip !== undefined && { ip: a.ip }), port: a.port, protocol: signalProtocol(a.protocol, a.port) }
}

/** Maps an attempt's protocol to the signal schema's: a CONNECT tunnel is `https` on 443, else `tcp`. */
export function signalProtocol(p: EgressProtocol, port: number): DestinationProtocol {
  if (p === 'tunnel') return port === 443 ? 'https' : 'tcp'
  return p
}
