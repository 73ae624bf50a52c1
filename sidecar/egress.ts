/**
 * The egress plane of one provider's sidecar: the forward proxy, the DNS forwarder (udp + tcp),
 * the transparent :80/:443 listeners and the tcp forwards, all sharing one policy, one
 * enforcement state, one resolver and one signal output. Read top to bottom, this is the whole
 * egress pipeline. The admin listener, the MCP ingress and the aggregator link are composed
 * around it by sidecar/sidecar.ts.
 */
import type { BaselineObserver } from '../policy/baseline-observer.js'
import { randomUUID } from 'node:crypto'
import { splitListen, type ProviderConfig } from '../config/schema.js'
import type { Logger } from '../core/log.js'
import { createMetrics, type HangarMetrics } from '../core/metrics.js'
import type { SignalSink } from '../signals/sink.js'
import { EgressConnector, type EgressContext } from '../egress/connector.js'
import { DnsForwarder } from '../egress/dns/forwarder.js'
import { DnsServer } from '../egress/dns/server.js'
import { DnsUpstream, upstreamServers, type UpstreamServer } from '../egress/dns/upstream.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { classifyAddress } from '../policy/address-class.js'
import { QuarantineSwitch } from '../policy/quarantine.js'
import { ForwardProxy } from '../egress/forward-proxy.js'
import { parseIpLiteral } from '../policy/ip.js'
import { compilePolicy } from '../policy/egress-policy.js'
import { DnsResolver } from '../egress/resolve.js'
import { EgressSignals } from '../egress/signals.js'
import { TcpForwards } from '../egress/tcp-forward.js'
import { SubdomainBudget } from '../policy/tunnel.js'
import { BypassTrap } from '../egress/bypass-trap.js'
import { TransparentHttpListener } from '../egress/transparent/http.js'
import { TransparentTlsListener } from '../egress/transparent/tls.js'
import type { EgressPolicy, Resolver } from '../policy/egress-types.js'

export interface EgressSidecarOptions {
  provider: string
  config: ProviderConfig
  sink: SignalSink
  log: Logger
  metrics?: HangarMetrics
  /** Default: a DnsResolver over `sidecar.upstream_dns`. */
  resolver?: Resolver
  /**
   * The provider's quarantine state, shared with the MCP ingress so one quarantine stops tool
   * calls and egress alike. Default: a fresh one.
   */
  enforcement?: QuarantineSwitch
  /** Other endpoints the provider must never reach (the aggregator): `host:port`. */
  protectedAddresses?: readonly string[]
  sidecarId?: string
  /** Tests: listen port of a tcp forward by rule port (the upstream port stays the rule's). */
  tcpPortOverride?: ReadonlyMap<number, number>
  /** Records every egress and DNS decision into the provider's baseline. */
  baseline?: BaselineObserver
}

/** Bound ports, after start(). */
export interface EgressPorts {
  proxy: number
  dns: number
  transparentHttp: number | null
  transparentTls: number | null
  /** The bypass trap (`sidecar.bypass_trap`), or null. */
  trap: number | null
  /** The sidecar's admin listener, bound by the composition around this plane (0 without one). */
  admin: number
  tcp: Map<number, number>
}

/**
 * The upstream resolvers minus the sidecar's own DNS listener: with `system`, a resolv.conf that
 * names this very listener (a container whose DNS is the sidecar) would loop every query.
 * @throws HangarError `HANGAR_CONFIG_INVALID` when nothing else is left
 */
export function ownUpstreams(specs: readonly string[], dnsListen: string): UpstreamServer[] {
  const own = splitListen(dnsListen)
  const ownIp = parseIpLiteral(own.host)
  const loops = (s: UpstreamServer): boolean => {
    if (s.port !== own.port) return false
    const ip = parseIpLiteral(s.host)
    if (!ip || !ownIp) return false
    if (ip.ip === ownIp.ip) return true
    // A wildcard listener answers on every local address, loopback included.
    const wildcard = classifyAddress(ownIp) === 'unspecified'
    return wildcard && (classifyAddress(ip) === 'loopback' || classifyAddress(ip) === 'unspecified')
  }
  const all = upstreamServers(specs)
  const kept = all.filter((s) => !loops(s))
  if (kept.length === 0) {
    throw new HangarError(ERROR_CODES.CONFIG_INVALID, `sidecar.upstream_dns (${specs.join(', ')} → ${all.map((s) => `${s.host}:${s.port}`).join(', ') || 'no nameserver'}) names only the sidecar's own DNS listener ${dnsListen}; name a real resolver as "<IP>:<port>"`)
  }
  return kept
}

export class EgressSidecar {
  readonly enforcement: QuarantineSwitch
  readonly metrics: HangarMetrics
  readonly policy: EgressPolicy
  readonly signals: EgressSignals
  readonly connector: EgressConnector
  readonly sidecarId: string
  readonly ports: EgressPorts = { proxy: 0, dns: 0, transparentHttp: null, transparentTls: null, trap: null, admin: 0, tcp: new Map() }
  readonly #protectedIps = new Set<string>()
  readonly #protectedPorts = new Set<number>()
  readonly #resolver: Resolver
  readonly #closers: Array<() => Promise<void> | void> = []
  #started = false

  constructor(private readonly opts: EgressSidecarOptions) {
    const sc = opts.config.sidecar
    this.sidecarId = opts.sidecarId ?? `${opts.provider}-${randomUUID().slice(0, 8)}`
    this.enforcement = opts.enforcement ?? new QuarantineSwitch()
    this.metrics = opts.metrics ?? createMetrics()
    this.policy = compilePolicy(opts.provider, opts.config.capabilities, { ips: this.#protectedIps, ports: this.#protectedPorts })
    if (opts.resolver) this.#resolver = opts.resolver
    else {
      const upstream = new DnsUpstream({ servers: ownUpstreams(sc.upstream_dns, sc.dns), timeoutMs: sc.limits.dns_timeout_ms })
      this.#resolver = new DnsResolver({ upstream, limits: sc.limits })
      this.#closers.push(() => upstream.close())
    }
    this.signals = new EgressSignals(
      { provider: opts.provider, sidecar_id: this.sidecarId }, this.policy, opts.sink, this.metrics, this.enforcement, opts.log, sc.observation_window_ms, opts.baseline,
    )
    // One subdomain budget for DNS and connections: a name counts once whichever path it takes.
    const budget = new SubdomainBudget(this.policy.subdomainBudget)
    const ctx: EgressContext = { policy: this.policy, enforcement: this.enforcement, resolver: this.#resolver, signals: this.signals, metrics: this.metrics, limits: sc.limits, log: opts.log, budget }
    this.connector = new EgressConnector(ctx)
    if (opts.config.capabilities.enforcement_mode === 'quarantine') {
      opts.log.info({ provider: opts.provider }, 'enforcement_mode quarantine: the first violation quarantines the provider')
    }
  }

  /**
   * Protects an address the provider must not reach through the sidecar (the self-connection
   * rule): `port` is denied on every address, and `host`, when an IP literal, on every port.
   */
  protect(host: string, port: number): void {
    this.#protectedPorts.add(port)
    const ip = parseIpLiteral(host)
    if (ip) this.#protectedIps.add(ip.ip)
  }

  /**
   * Binds every egress listener, then signals `sidecar_started` and logs the bound ports. On
   * failure, closes what was bound and rethrows.
   * @param adminPort the sidecar's admin port, reported with the others (0 without one)
   * @throws HangarError `HANGAR_LISTEN_FAILED`
   */
  async start(adminPort = 0): Promise<EgressPorts> {
    const { config, log, provider } = this.opts
    const sc = config.sidecar
    try {
      this.protect(sc.address, 0)
      for (const a of this.opts.protectedAddresses ?? []) {
        const p = splitListen(a)
        this.protect(p.host, p.port)
      }
      const proxyAddr = splitListen(sc.proxy)
      const proxy = new ForwardProxy(this.connector)
      this.#closers.push(() => proxy.close())
      this.ports.proxy = await proxy.listen(proxyAddr.host, proxyAddr.port)
      this.protect(proxyAddr.host, this.ports.proxy)

      const dnsAddr = splitListen(sc.dns)
      const forwarder = new DnsForwarder({ ctx: this.connector.ctx, sidecar: sc, resolver: this.#resolver })
      const dns = new DnsServer(forwarder, { limits: sc.limits, log })
      this.#closers.push(() => dns.close())
      this.ports.dns = await dns.listen(dnsAddr.host, dnsAddr.port)
      this.protect(dnsAddr.host, this.ports.dns)

      if (sc.transparent_http) {
        const a = splitListen(sc.transparent_http)
        const l = new TransparentHttpListener(this.connector, sc.transparent_redirected_from.http ?? (a.port === 0 ? 80 : a.port))
        this.#closers.push(() => l.close())
        this.ports.transparentHttp = await l.listen(a.host, a.port)
      }
      if (sc.transparent_tls) {
        const a = splitListen(sc.transparent_tls)
        const l = new TransparentTlsListener(this.connector, { logicalPort: sc.transparent_redirected_from.tls ?? (a.port === 0 ? 443 : a.port) })
        this.#closers.push(() => l.close())
        this.ports.transparentTls = await l.listen(a.host, a.port)
      }
      if (sc.bypass_trap) {
        const a = splitListen(sc.bypass_trap)
        const trap = new BypassTrap({
          report: (r) => this.signals.bypassTrapped(r),
          onNoIpv6: (err) => log.warn({ err: err.message }, 'the bypass trap cannot listen on ::1; IPv6 bypass attempts are refused by the kernel without a report'),
        })
        this.#closers.push(() => trap.close())
        this.ports.trap = await trap.listen(a.port)
        this.protect(a.host, this.ports.trap)
      }
      const tcp = new TcpForwards(this.connector, { host: sc.tcp_forward_host ?? proxyAddr.host, ...(this.opts.tcpPortOverride && { portOverride: this.opts.tcpPortOverride }) })
      this.#closers.push(() => tcp.close())
      this.ports.tcp = await tcp.listen()

      this.ports.admin = adminPort
    } catch (err) {
      await this.stop()
      throw err
    }
    this.#started = true
    this.signals.lifecycle('sidecar_started', `egress listeners of ${provider} are up`, { ports: { ...this.ports, tcp: Object.fromEntries(this.ports.tcp) } })
    log.info({ provider, ports: { ...this.ports, tcp: Object.fromEntries(this.ports.tcp) }, mode: this.policy.mode, dns_mode: sc.dns_mode }, 'egress sidecar started')
    return this.ports
  }

  /** Provider, mode, quarantine, open tunnels and ports (the egress part of admin `GET /v1/status`). */
  status(): Record<string, unknown> {
    return {
      provider: this.opts.provider,
      sidecar_id: this.sidecarId,
      enforcement_mode: this.policy.mode,
      quarantined: this.enforcement.state.quarantined,
      quarantine_reason: this.enforcement.state.quarantineReason ?? null,
      active_tunnels: this.connector.active,
      ports: { ...this.ports, tcp: Object.fromEntries(this.ports.tcp) },
    }
  }

  /** Closes every listener and connection; signals `sidecar_stopped` (once started); flushes the sink. Idempotent. */
  async stop(): Promise<void> {
    const wasReady = this.#started
    this.#started = false
    const closers = this.#closers.splice(0).reverse()
    await Promise.allSettled(closers.map((c) => c()))
    this.#resolver.close()
    if (wasReady) this.signals.lifecycle('sidecar_stopped', `egress listeners of ${this.opts.provider} stopped`)
    await this.opts.sink.flush()
  }
}
