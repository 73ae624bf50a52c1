/**
 * The DNS listener (`sidecar.dns`, docs/egress.md §DNS): one UDP socket and one TCP server on the same
 * host:port, both handing raw queries to a {@link DnsHandler} (the forwarder).
 *
 * UDP: a reply larger than 512 bytes, or than the client's EDNS UDP size (capped at 4096), is
 * truncated to header + question with TC set (RFC 1035 §4.2.1, RFC 6891 §7, RFC 7766 §5) so
 * the client retries over TCP. TCP (RFC 7766): two-byte length framing, several queries per
 * connection, pipelined and answered as they complete (possibly out of order, §6.2.1.1), an
 * idle timeout (§6.2.3), a cap on connections and on queries in flight per connection.
 * Malformed input never throws out of a socket handler.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket, type SocketOptions } from 'node:dgram'
import { createServer, isIP, type Server, type Socket } from 'node:net'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import type { Logger } from '../../core/log.js'
import type { DnsHandler } from './forwarder.js'
import { CLASSIC_UDP_LIMIT, MAX_UDP_RESPONSE, parseQuery, truncateResponse } from './wire.js'

/** Options of {@link DnsServer}. */
export interface DnsServerOptions {
  log: Logger
  /** Bind address (IP literal); default 127.0.0.1. `listen(host, port)` overrides it. */
  host?: string
  /** Port; 0 = any free port (UDP and TCP get the same one). Default 0. */
  port?: number
  /** Max open TCP connections; more are closed at once. Default 256. */
  maxTcpConnections?: number
  /** A TCP connection with nothing in flight and no bytes for this long is closed, ms. Default 10000. */
  tcpIdleTimeoutMs?: number
  /** Queries in flight per TCP connection before reading pauses. Default 64. */
  maxTcpPipeline?: number
  /** UDP receive buffer, bytes (absorbs query bursts; the kernel caps it at net.core.rmem_max). Default 4 MiB. */
  udpRecvBufferBytes?: number
  /** Accepted for symmetry with the other listeners; DNS limits are the handler's. */
  limits?: unknown
}

// dgram resolves the destination of every send() through `lookup`; replies go to the IP
// literal a datagram came from, so answer synchronously with the socket's family (this also
// keeps getaddrinfo out of the path).
const literalLookup4 = ((address: string, _family: unknown, cb: (err: Error | null, address: string, family: number) => void) => {
  cb(null, address, 4)
}) as unknown as SocketOptions['lookup']
const literalLookup6 = ((address: string, _family: unknown, cb: (err: Error | null, address: string, family: number) => void) => {
  cb(null, address, 6)
}) as unknown as SocketOptions['lookup']

/** UDP + TCP DNS listener. */
export class DnsServer {
  readonly #handler: DnsHandler
  readonly #log: Logger
  readonly #maxConns: number
  readonly #idleMs: number
  readonly #pipeline: number
  readonly #rcvbuf: number
  #host: string
  #port: number
  #udp: UdpSocket | null = null
  #tcp: Server | null = null
  readonly #conns = new Set<Socket>()
  #boundPort = 0

  constructor(handler: DnsHandler, opts: DnsServerOptions) {
    this.#handler = handler
    this.#log = opts.log
    this.#host = opts.host ?? '127.0.0.1'
    this.#port = opts.port ?? 0
    this.#maxConns = opts.maxTcpConnections ?? 256
    this.#idleMs = opts.tcpIdleTimeoutMs ?? 10_000
    this.#pipeline = opts.maxTcpPipeline ?? 64
    this.#rcvbuf = opts.udpRecvBufferBytes ?? 4 << 20
  }

  /** The bound port (0 before listen()). */
  get port(): number {
    return this.#boundPort
  }

  /** The bound host. */
  get host(): string {
    return this.#host
  }

  /** Open TCP connections. */
  get tcpConnections(): number {
    return this.#conns.size
  }

  /**
   * Binds UDP and TCP on the same port. With port 0, a free port is picked for UDP and TCP takes
   * the same one (retried on a clash).
   * @returns the bound port
   * @throws HangarError `HANGAR_LISTEN_FAILED`
   */
  async listen(host: string = this.#host, port: number = this.#port): Promise<number> {
    this.#host = host
    if (isIP(host) === 0) throw new HangarError(ERROR_CODES.LISTEN_FAILED, `DNS listen address "${host}" is not an IP address`)
    let lastErr: unknown
    for (let attempt = 0; attempt < (port === 0 ? 20 : 1); attempt++) {
      const v6 = isIP(host) === 6
      const udp = createSocket({ type: v6 ? 'udp6' : 'udp4', lookup: v6 ? literalLookup6 : literalLookup4 })
      try {
        const bound = await new Promise<number>((resolve, reject) => {
          udp.once('error', reject)
          udp.bind(port, host, () => {
            udp.off('error', reject)
            resolve(udp.address().port)
          })
        })
        const tcp = createServer({ noDelay: true }, (s) => this.#onConnection(s))
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject)
          tcp.listen({ port: bound, host, exclusive: true }, () => {
            tcp.off('error', reject)
            resolve()
          })
        })
        try {
          udp.setRecvBufferSize(this.#rcvbuf)
        } catch (err) {
          this.#log.debug({ err }, 'cannot enlarge the DNS UDP receive buffer')
        }
        tcp.on('error', (err) => this.#log.error({ err }, 'DNS TCP listener error'))
        udp.on('error', (err) => this.#log.error({ err }, 'DNS UDP socket error'))
        udp.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo))
        this.#udp = udp
        this.#tcp = tcp
        this.#boundPort = bound
        return bound
      } catch (err) {
        lastErr = err
        try {
          udp.close()
        } catch {
          // not bound
        }
      }
    }
    throw new HangarError(ERROR_CODES.LISTEN_FAILED, `cannot listen for DNS on ${host}:${port}: ${(lastErr as Error)?.message}`, { cause: lastErr })
  }

  /** Closes both listeners and every TCP connection; closes the handler when it has close(). */
  async close(): Promise<void> {
    const udp = this.#udp
    const tcp = this.#tcp
    this.#udp = null
    this.#tcp = null
    for (const s of this.#conns) s.destroy()
    this.#conns.clear()
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ])
    this.#handler.close?.()
  }

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    let r: Buffer | null | Promise<Buffer | null>
    try {
      r = this.#handler.respond(msg, rinfo.address, 'udp')
    } catch (err) {
      this.#log.error({ err }, 'DNS handler threw')
      return
    }
    if (r === null) return
    if (!(r instanceof Promise)) this.#sendUdp(r, msg, rinfo)
    else r.then((b: Buffer | null) => b && this.#sendUdp(b, msg, rinfo), (err: unknown) => this.#log.error({ err }, 'DNS handler rejected'))
  }

  #sendUdp(resp: Buffer, query: Buffer, rinfo: RemoteInfo): void {
    const udp = this.#udp
    if (!udp) return
    let out = resp
    if (resp.length > CLASSIC_UDP_LIMIT) {
      const q = parseQuery(query)
      const edns = q && q.edns > 0 ? q.edns : 0
      const limit = edns ? Math.min(edns, MAX_UDP_RESPONSE) : CLASSIC_UDP_LIMIT
      if (resp.length > limit) out = truncateResponse(resp, edns > 0)
    }
    // No callback: Node would queue a nextTick per send. A lost reply (ENOBUFS…) is retried by the client.
    udp.send(out, rinfo.port, rinfo.address)
  }

  #onConnection(s: Socket): void {
    if (this.#conns.size >= this.#maxConns || !this.#tcp) {
      s.destroy()
      return
    }
    this.#conns.add(s)
    const client = s.remoteAddress ?? ''
    let pending = 0
    let paused = false
    let blocked = false // the client is not reading its answers
    let buf: Buffer | null = null
    const maybeResume = () => {
      if (paused && !blocked && pending < this.#pipeline) {
        paused = false
        s.resume()
      }
    }
    const write = (resp: Buffer) => {
      if (s.destroyed) return
      if (resp.length > 0xffff) return
      const frame = Buffer.allocUnsafe(resp.length + 2)
      frame.writeUInt16BE(resp.length, 0)
      resp.copy(frame, 2)
      if (!s.write(frame) && !blocked) {
        blocked = true
        paused = true
        s.pause()
      }
    }
    s.on('drain', () => {
      blocked = false
      maybeResume()
    })
    const done = () => {
      pending--
      maybeResume()
    }
    s.setTimeout(this.#idleMs, () => {
      // Idle only counts when nothing is in flight (a slow upstream is not an idle client).
      if (pending === 0) s.destroy()
    })
    s.on('error', () => s.destroy())
    s.on('close', () => this.#conns.delete(s))
    s.on('data', (chunk: Buffer) => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk
      let off = 0
      while (buf.length - off >= 2) {
        const len = buf.readUInt16BE(off)
        if (buf.length - off - 2 < len) break
        const msg = buf.subarray(off + 2, off + 2 + len)
        off += 2 + len
        let r: Buffer | null | Promise<Buffer | null>
        try {
          r = this.#handler.respond(msg, client, 'tcp')
        } catch (err) {
          this.#log.error({ err }, 'DNS handler threw')
          continue
        }
        if (r === null) continue
        if (!(r instanceof Promise)) {
          write(r)
          continue
        }
        pending++
        r.then(
          (b: Buffer | null) => {
            if (b) write(b)
            done()
          },
          (err: unknown) => {
            this.#log.error({ err }, 'DNS handler rejected')
            done()
          },
        )
      }
      buf = off === buf.length ? null : buf.subarray(off)
      if (pending >= this.#pipeline && !paused) {
        paused = true
        s.pause()
      }
    })
  }
}
