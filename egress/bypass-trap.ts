/**
 * The bypass trap (`sidecar.bypass_trap`): the sidecar end of a Kubernetes pod's nftables rules.
 * Every tcp connection and udp datagram a provider sends that no rule hands to a sidecar listener
 * (a direct IP, another resolver, an odd port, IPv4 or IPv6) is REDIRECTed here instead of being
 * dropped silently, so a sidecar holding no capability learns of it: reading the kernel's
 * counted drop sets, as `mcp-hangar up` does, needs CAP_NET_ADMIN.
 *
 * A tcp connection is reset at once (the provider's connect succeeds on the loopback handshake,
 * then its first read or write fails with ECONNRESET; no byte reaches anywhere); a datagram is
 * read and discarded. Each arrival is reported through `report` with what REDIRECT leaves: the
 * protocol, the address family (the listener it arrived on) and the provider's source port.
 * The original destination is not among it: REDIRECT rewrites it, and reading it back
 * (`SO_ORIGINAL_DST`, conntrack) needs native code or a capability the sidecar does not have.
 *
 * Reports are coalesced per (protocol, family): the first arrival is reported at once, later
 * ones at most once per `windowMs` with their count, so a provider looping over addresses cannot
 * flood the signal pipeline.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, type Server, type Socket } from 'node:net'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { ListenerSet } from './listener-set.js'

/** One report: `attempts` arrivals of `protocol` over `family` since the previous report. */
export interface TrapReport {
  protocol: 'tcp' | 'udp'
  family: 'ipv4' | 'ipv6'
  attempts: number
  /** The provider's source port of the first arrival in this report. */
  sourcePort: number
}

/** Options of {@link BypassTrap}. */
export interface BypassTrapOptions {
  /** Called once per coalesced report. */
  report: (r: TrapReport) => void
  /** Coalescing window, ms. Default 1000. */
  windowMs?: number
  /** Called when ::1 cannot be bound (a pod without IPv6): IPv6 attempts are then refused by the kernel, unreported. */
  onNoIpv6?: (err: Error) => void
}

type Key = `${TrapReport['protocol']}|${TrapReport['family']}`

/** The trap's listeners: tcp and udp on 127.0.0.1 and ::1, one port. */
export class BypassTrap extends ListenerSet {
  readonly #o: BypassTrapOptions
  readonly #udp: UdpSocket[] = []
  readonly #pending = new Map<Key, { attempts: number; sourcePort: number; timer?: NodeJS.Timeout; last: number }>()

  constructor(o: BypassTrapOptions) {
    super()
    this.#o = o
  }

  /**
   * Binds tcp and udp on `127.0.0.1:port` and `[::1]:port` (port 0: a free port, the same for all four).
   * @returns the bound port
   * @throws HangarError `HANGAR_LISTEN_FAILED` when 127.0.0.1 cannot be bound; ::1 failing is
   *   reported through `onNoIpv6` and tolerated
   */
  async listen(port: number): Promise<number> {
    const v4 = this.#tcp('ipv4')
    const bound = await this.listenServer(v4, '127.0.0.1', port)
    await this.#bindUdp('udp4', '127.0.0.1', bound)
    try {
      await this.listenServer(this.#tcp('ipv6'), '::1', bound)
      await this.#bindUdp('udp6', '::1', bound)
    } catch (err) {
      this.#o.onNoIpv6?.(err as Error)
    }
    return bound
  }

  #tcp(family: TrapReport['family']): Server {
    const server = createServer((s: Socket) => {
      this.#arrival('tcp', family, s.remotePort ?? 0)
      s.on('error', () => {})
      s.resetAndDestroy()
    })
    this.track(server)
    return server
  }

  #bindUdp(type: 'udp4' | 'udp6', host: string, port: number): Promise<void> {
    const sock = createSocket({ type, ipv6Only: type === 'udp6' })
    this.#udp.push(sock)
    sock.on('message', (_msg, rinfo) => this.#arrival('udp', type === 'udp4' ? 'ipv4' : 'ipv6', rinfo.port))
    return new Promise<void>((resolve, reject) => {
      sock.once('error', (err) => reject(new HangarError(ERROR_CODES.LISTEN_FAILED, `cannot bind the bypass trap on udp ${host.includes(':') ? `[${host}]` : host}:${port}: ${err.message}`)))
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.removeAllListeners('error')
        sock.on('error', () => {})
        resolve()
      })
    })
  }

  #arrival(protocol: TrapReport['protocol'], family: TrapReport['family'], sourcePort: number): void {
    const key: Key = `${protocol}|${family}`
    const windowMs = this.#o.windowMs ?? 1000
    const now = Date.now()
    const p = this.#pending.get(key)
    if (!p || (p.timer === undefined && now - p.last >= windowMs)) {
      this.#pending.set(key, { attempts: 0, sourcePort, last: now })
      this.#o.report({ protocol, family, attempts: 1, sourcePort })
      return
    }
    if (p.attempts === 0) p.sourcePort = sourcePort
    p.attempts++
    p.timer ??= setTimeout(() => {
      p.timer = undefined
      p.last = Date.now()
      const n = p.attempts
      p.attempts = 0
      if (n > 0) this.#o.report({ protocol, family, attempts: n, sourcePort: p.sourcePort })
    }, Math.max(0, windowMs - (now - p.last)))
    p.timer.unref()
  }

  /** Reports what is pending, then closes every listener. */
  override async close(): Promise<void> {
    for (const [key, p] of this.#pending) {
      if (p.timer) clearTimeout(p.timer)
      const [protocol, family] = key.split('|') as [TrapReport['protocol'], TrapReport['family']]
      if (p.attempts > 0) this.#o.report({ protocol, family, attempts: p.attempts, sourcePort: p.sourcePort })
    }
    this.#pending.clear()
    await Promise.all(this.#udp.splice(0).map((s) => new Promise<void>((r) => { try { s.close(() => r()) } catch { r() } })))
    await super.close()
  }
}
