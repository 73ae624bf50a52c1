/**
 * The one path from "the provider wants host:port" to a connected upstream socket, shared by the
 * forward proxy, the transparent listeners and the tcp forwards:
 * decideRequest → enforce → resolve (own DNS) → decideAddresses → dial the checked IP.
 * Every outcome is signalled once. Failures map to the answers of docs/egress.md §Answers
 * (403 denied, 502 DNS failure, 504 upstream timeout, 429 tunnel limit).
 */
import type { DropArgument, Socket } from 'node:net'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { HangarMetrics } from '../core/metrics.js'
import type { SidecarLimits } from '../config/schema.js'
import { decideAddresses, decideRequest, enforce, wildcardPart, type Enforcement } from '../policy/egress.js'
import { dial, type UpstreamReader } from './dial.js'
import type { QuarantineSwitch } from '../policy/quarantine.js'
import { splice, type FirstBytesGate, type TunnelStats } from './pipe.js'
import type { AttemptInfo, EgressSignals } from './signals.js'
import { SubdomainBudget } from '../policy/tunnel.js'
import type { Decision, EgressPolicy, EgressRequest, IpAddress, Resolver, Target } from '../policy/egress-types.js'

/** Everything the egress listeners of one provider share. */
export interface EgressContext {
  policy: EgressPolicy
  enforcement: QuarantineSwitch
  resolver: Resolver
  signals: EgressSignals
  metrics: HangarMetrics
  limits: SidecarLimits
  log: Logger
  /**
   * The provider's subdomain budget (policy/tunnel.ts), shared by the connector and the DNS
   * forwarder so a name is counted once whichever path it takes. Default: one of the connector's own.
   */
  budget?: SubdomainBudget
}

/** A refused or failed attempt, with the HTTP status a proxy answers. */
export interface ConnectRefusal {
  ok: false
  status: 403 | 429 | 502 | 504
  message: string
  /** For 403: the `X-Hangar-Decision` header value. */
  decisionHeader?: string
  decision?: Decision
}

/** A connected upstream. The caller owns the socket until it hands it to {@link EgressConnector.splice}. */
export interface ConnectSuccess {
  ok: true
  socket: Socket
  address: IpAddress
  /** The allow decision, or (alert mode) the denial that was let through. */
  decision: Decision
  enforcement: Enforcement
  attempt: AttemptInfo
  /** Releases the tunnel slot; called by splice() on close, or by the caller if it gives up. */
  release(): void
  /** Set when opened with `reader: true` (raw tunnels): the upstream's bytes arrive here. */
  reader?: UpstreamReader
}

/** Extra answer headers of a refusal: `X-Hangar-Decision` for denials, `Retry-After` at the tunnel limit. */
export function refusalHeaders(r: ConnectRefusal): Record<string, string> {
  const extra: Record<string, string> = {}
  if (r.decisionHeader) extra['X-Hangar-Decision'] = r.decisionHeader
  if (r.status === 429) extra['Retry-After'] = '1'
  return extra
}

/** `X-Hangar-Decision: denied; rule=…; reason=…` (docs/egress.md §Answers). */
export function decisionHeader(d: Decision): string {
  const code = d.verdict === 'deny' ? d.code : 'allowed'
  return `${d.verdict === 'deny' ? 'denied' : 'allowed'}; rule=${d.rule}; reason=${code}`
}

/**
 * The `drop` handler of a listener's server: one `rate_limited` signal (rule
 * `limits.max_connections`) per connection Node closed at accept because the listener was full.
 * @param listener the listener's name in the signal (`forward_proxy`, `transparent_tls`, …)
 */
export function dropSignal(connector: EgressConnector, listener: string): (d: DropArgument | undefined) => void {
  const { signals, limits } = connector.ctx
  return (d) => signals.limited('max_connections', limits.max_connections, { listener, ...(d?.localPort !== undefined && { port: d.localPort }), ...(d?.remoteAddress && { client: d.remoteAddress }) })
}

/** Opens egress connections for one provider, under its policy and tunnel limit. */
export class EgressConnector {
  #active = 0
  readonly #gauge: { inc(): void; dec(): void }
  readonly #connectDuration: { observe(v: number): void }
  readonly #budget: SubdomainBudget
  #lastLimitWarn = 0

  constructor(readonly ctx: EgressContext) {
    this.#gauge = ctx.metrics.egress.egressActiveTunnels.labels({ provider: ctx.policy.provider })
    this.#connectDuration = ctx.metrics.egress.egressConnectDuration.labels({ provider: ctx.policy.provider })
    this.#budget = ctx.budget ?? new SubdomainBudget(ctx.policy.subdomainBudget)
  }

  /** Tunnel slots in use: open tunnels and forwarded connections, and attempts still deciding, resolving or dialling. */
  get active(): number {
    return this.#active
  }

  /**
   * Decides, resolves and dials. Never throws: every failure is a {@link ConnectRefusal}.
   * The tunnel slot (`limits.max_tunnels`) is taken before the first await and given back on
   * every refusal, so concurrent attempts waiting on DNS or a dial can never exceed the limit.
   * @param client the provider's address as seen by the listener (for signals)
   */
  async open(req: EgressRequest, client?: string, opts: { reader?: boolean } = {}): Promise<ConnectSuccess | ConnectRefusal> {
    const { policy, signals, limits } = this.ctx
    const started = performance.now()
    const attempt: AttemptInfo = { host: req.host, port: req.port, protocol: req.protocol, via: req.via, ...(client && { client }) }
    if (this.#active >= limits.max_tunnels) {
      signals.requestCounter(req.protocol === 'tunnel' ? 'tcp' : req.protocol, 'limited').inc()
      signals.limited('max_tunnels', limits.max_tunnels, { attempt })
      const now = Date.now()
      if (now - this.#lastLimitWarn >= 10_000) {
        this.#lastLimitWarn = now
        this.ctx.log.warn({ provider: policy.provider, limit: limits.max_tunnels, host: req.host, port: req.port }, 'egress tunnel limit reached')
      }
      return { ok: false, status: 429, message: `too many open tunnels (limit ${limits.max_tunnels})` }
    }
    // Reserve the slot now: everything below may await (DNS, dial).
    this.#active++
    this.#gauge.inc()
    let released = false
    const release = () => {
      if (released) return
      released = true
      this.#active--
      this.#gauge.dec()
    }
    const r = await this.#openReserved(req, attempt, started, release, opts)
    if (!r.ok) release()
    return r
  }

  async #openReserved(req: EgressRequest, attempt: AttemptInfo, started: number, release: () => void, opts: { reader?: boolean }): Promise<ConnectSuccess | ConnectRefusal> {
    const { policy, enforcement, signals, limits } = this.ctx
    let decision = decideRequest(req, policy, enforcement.state)
    if (decision.target) {
      attempt.host = decision.target.kind === 'name' ? decision.target.host : undefined
      if (decision.target.kind === 'ip') attempt.ip = decision.target.host
    }
    // A name a wildcard admitted counts against the subdomain budget, as it does in DNS.
    if (decision.verdict === 'allow' && decision.target.kind === 'name' && wildcardPart(decision.matched, decision.target.host) !== '') {
      const over = this.#budget.admit(decision.target.host)
      if (over) decision = { verdict: 'deny', code: 'dns_tunnel_suspected', rule: decision.rule, reason: `${decision.target.host} looks like DNS tunnelling: ${over.reason}`, target: decision.target }
    }
    let enf = enforce(decision, policy.mode)
    if (!enf.permit) {
      signals.egress(decision, enf, attempt)
      return { ok: false, status: 403, message: decision.reason, decisionHeader: decisionHeader(decision), decision }
    }
    // Resolve (names only) and filter the answers.
    let addresses: IpAddress[]
    const target = decision.target!
    if (target.kind === 'ip') {
      addresses = [target.address]
    } else {
      try {
        const resolved = await this.ctx.resolver.resolve(target.host)
        addresses = resolved.addresses
      } catch (err) {
        const e = err as HangarError
        const status = e.code === ERROR_CODES.DNS_TIMEOUT ? 504 : 502
        signals.egress(decision, enf, attempt, { dns_error: e.code ?? 'unknown', dns_message: e.message })
        return { ok: false, status, message: `cannot resolve ${target.host}: ${e.message}`, decision }
      }
      // Allowed and alerted names alike: always-denied answers are hard denials in every mode
      // (policy/egress.ts enforce()), or alert mode would dial metadata and private addresses.
      const v = decideAddresses(decision as Decision & { target: Target }, req.port, req.protocol, addresses, policy)
      if (v.allowed.length === 0) {
        decision = v.decision
        enf = enforce(decision, policy.mode)
        signals.egress(decision, enf, attempt, { resolved: addresses.map((a) => a.ip) })
        return { ok: false, status: 403, message: decision.reason, decisionHeader: decisionHeader(decision), decision }
      }
      addresses = v.allowed
    }
    try {
      const d = await dial(addresses, req.port, limits.connect_timeout_ms, opts)
      attempt.ip = d.address.ip
      this.#connectDuration.observe((performance.now() - started) / 1000)
      signals.egress(decision, enf, attempt)
      return { ok: true, socket: d.socket, address: d.address, decision, enforcement: enf, attempt, release, ...(d.reader && { reader: d.reader }) }
    } catch (err) {
      const e = err as HangarError
      signals.egress(decision, enf, attempt, { dial_error: e.message })
      return { ok: false, status: e.code === ERROR_CODES.DIAL_TIMEOUT ? 504 : 502, message: e.message, decision }
    }
  }

  /**
   * open() then splice(): the whole life of a tunnel for listeners that own a client socket.
   * A refusal is returned for the caller to answer (the connector already signalled it); a
   * client that went away while the upstream was dialled releases the upstream.
   * @param onConnected runs after the upstream connected, before any byte is spliced (the CONNECT 200)
   */
  async forward(
    client: Socket,
    req: EgressRequest,
    opts: { head?: Buffer | null; gate?: (up: ConnectSuccess) => FirstBytesGate | undefined; onConnected?: () => void } = {},
  ): Promise<ConnectRefusal | null> {
    const up = await this.open(req, client.remoteAddress, { reader: true })
    if (!up.ok) return up
    if (client.destroyed) {
      up.socket.destroy()
      up.release()
      return null
    }
    opts.onConnected?.()
    this.splice(client, up, opts.head ?? null, opts.gate?.(up))
    return null
  }

  /**
   * Splices a client with a connected upstream; signals the close with byte counts.
   * @param gate judges the client's first bytes before any reach upstream (CONNECT inspection)
   */
  splice(client: Socket, up: ConnectSuccess, head: Buffer | null, gate?: FirstBytesGate, onClose?: (s: TunnelStats) => void): void {
    splice(client, up.socket, {
      head,
      ...(up.reader && { reader: up.reader }),
      idleMs: this.ctx.limits.idle_timeout_ms,
      ...(gate && { gate }),
      onClose: (s) => {
        up.release()
        if (s.end !== 'denied') this.ctx.signals.closed(up.attempt, s.bytesUp, s.bytesDown, s.durationMs, up.decision.rule)
        onClose?.(s)
      },
    })
  }
}

