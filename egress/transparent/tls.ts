/**
 * The transparent TLS listener (`sidecar.transparent_tls`, :443). A provider whose client ignores
 * HTTPS_PROXY resolves an allowed name through our DNS forwarder, gets the sidecar's address
 * (steering) and connects here. The listener reads the TLS ClientHello (RFC 8446 §4.1.2), takes
 * its server_name (RFC 6066 §3) as the destination and hands it to the connector like any other
 * egress attempt: `{host: sni, port: logicalPort, protocol: 'https', via: 'transparent_tls'}`.
 * TLS is never terminated: the buffered hello is replayed upstream and the bytes are spliced.
 *
 * Refusals close the connection without an answer (a TLS client cannot read an HTTP 403). The
 * connector signals its own refusals; this listener signals the ones it decides itself, once each:
 * no ClientHello within `first_bytes_timeout_ms`, bytes that are not TLS, a hello without SNI
 * (`missing_host`), and a malformed hello or server name (`malformed_host`).
 */
import { createServer, type Server, type Socket } from 'node:net'
import { decideRequest, enforce } from '../../policy/egress.js'
import { dropSignal, type EgressConnector } from '../connector.js'
import { ListenerSet } from '../listener-set.js'
import { parseClientHello } from '../sniff/tls.js'
import type { Decision, DenyReason } from '../../policy/egress-types.js'

/** Options of {@link TransparentTlsListener}. */
export interface TransparentTlsOptions {
  /**
   * The port the provider believes it dialled, used as the upstream port and in decisions.
   * Default 443. Differs from the bound port in tests and behind a port redirect.
   */
  logicalPort?: number
}

/** Routes raw TLS connections by their ClientHello SNI through the {@link EgressConnector}. */
export class TransparentTlsListener extends ListenerSet {
  readonly server: Server
  readonly logicalPort: number

  constructor(private readonly connector: EgressConnector, opts: TransparentTlsOptions = {}) {
    super()
    this.logicalPort = opts.logicalPort ?? 443
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.#onConnection(s))
    this.track(this.server, this.connector.ctx.limits.max_connections, dropSignal(connector, 'transparent_tls'))
  }

  /**
   * Starts listening.
   * @returns the bound port (`port` 0 = any free port)
   * @throws HangarError `HANGAR_LISTEN_FAILED`
   */
  listen(host: string, port: number): Promise<number> {
    return this.listenServer(this.server, host, port)
  }

  #onConnection(socket: Socket): void {
    const { limits, log } = this.connector.ctx
    const client = socket.remoteAddress
    let buf: Buffer = Buffer.alloc(0)
    let settled = false
    const settle = () => {
      settled = true
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('end', onEnd)
      // Later bytes stay in the socket's buffer until the splice reads them.
      socket.pause()
    }
    const refuse = (code: DenyReason, reason: string, details: Record<string, unknown>) => {
      settle()
      this.#deny(code, reason, client, { ...details, received_bytes: buf.length })
      socket.destroy()
    }
    const timer = setTimeout(() => {
      refuse('missing_host', `no TLS ClientHello within ${limits.first_bytes_timeout_ms} ms; cannot route the connection`, { timeout_ms: limits.first_bytes_timeout_ms })
    }, limits.first_bytes_timeout_ms)
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
      const hello = parseClientHello(buf)
      switch (hello.kind) {
        case 'need-more':
          return
        case 'not-tls':
          return refuse('missing_host', 'the connection does not start with a TLS ClientHello; cannot route it by SNI', { content: 'not_tls' })
        case 'malformed':
          return refuse('malformed_host', `malformed TLS ClientHello: ${hello.reason}`, { content: 'tls', tls_error: hello.reason })
        case 'client-hello':
          if (hello.sni === null) {
            const why = hello.sslv2 ? 'an SSLv2-compatible ClientHello cannot carry a server name' : 'the TLS ClientHello has no server_name (SNI)'
            return refuse('missing_host', `${why}; cannot route the connection`, { content: 'tls', ...(hello.sslv2 && { sslv2: true }) })
          }
          settle()
          void this.#open(socket, hello.sni, buf)
      }
    }
    // The client gave up before a complete hello: a denial if it sent anything, else just a probe.
    const onEnd = () => {
      if (buf.length) refuse('missing_host', 'the client closed before completing its TLS ClientHello', { content: 'partial' })
      else {
        settle()
        socket.destroy()
      }
    }
    socket.on('error', (err: NodeJS.ErrnoException) => {
      log.debug({ err: err.code ?? err.message }, 'transparent tls: client socket error')
      if (!settled) {
        settle()
        socket.destroy()
      }
    })
    socket.on('close', () => clearTimeout(timer))
    socket.on('data', onData)
    socket.on('end', onEnd)
  }

  async #open(socket: Socket, sni: string, hello: Buffer): Promise<void> {
    // A refusal was signalled by the connector; a TLS client gets no HTTP answer, just a close.
    const refused = await this.connector.forward(socket, { host: sni, port: this.logicalPort, protocol: 'https', via: 'transparent_tls' }, { head: hello })
    if (refused) socket.destroy()
    else socket.resume()
  }

  /** Signals a denial this listener decided itself (no routable SNI), under the enforcement mode. */
  #deny(code: DenyReason, reason: string, client: string | undefined, details: Record<string, unknown>): void {
    const { policy, enforcement, signals } = this.connector.ctx
    // Quarantine comes first (docs/egress.md §Decision order, step 1): decideRequest answers it before looking at the host.
    const q = decideRequest({ host: '', port: this.logicalPort, protocol: 'https', via: 'transparent_tls' }, policy, enforcement.state)
    const d: Decision = q.verdict === 'deny' && q.code === 'quarantined' ? q : { verdict: 'deny', code, rule: 'default-deny', reason }
    signals.egress(d, enforce(d, policy.mode), { port: this.logicalPort, protocol: 'https', via: 'transparent_tls', ...(client && { client }) }, details)
  }
}
