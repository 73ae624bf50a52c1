/**
 * The forward proxy (`sidecar.proxy`, :3128): `CONNECT host:port` tunnels (RFC 9110 §9.3.6) and
 * absolute-form `http://` requests (RFC 9112 §3.2.2). Answers per docs/egress.md §Answers: 403 with
 * `X-Hangar-Decision` when denied, 502 on DNS failure, 504 on upstream timeout, 429 with
 * `Retry-After` at the tunnel limit, 400 for malformed targets, 431 for oversized heads,
 * 408 for heads not received within `header_timeout_ms` (slowloris).
 * After a tunnel opens, its first client bytes are held until their TLS SNI or HTTP Host is
 * checked against the CONNECT host (decideTunnelContent).
 *
 * The listener reads each connection's first request head itself (sniff/http.ts parseHttpHead, the
 * same strict RFC 9112 parser that inspects tunnels): a CONNECT is handled without Node's HTTP
 * server (the per-connection cost that dominates CONNECT setup); anything else is handed, bytes
 * unread, to the HTTP server for absolute-form forwarding.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { decideTunnelContent, enforce } from '../policy/egress.js'
import { dropSignal, refusalHeaders, type EgressConnector } from './connector.js'
import { answer, createForwardingHttpServer, forwardHttp, rawAnswer } from './http-forward.js'
import { splitHostPort } from '../policy/host.js'
import { parseHttpHead } from './sniff/http.js'
import { sniffTunnel } from './sniff/tunnel.js'
import type { Decision } from '../policy/egress-types.js'
import type { AttemptInfo } from './signals.js'
import { ListenerSet } from './listener-set.js'

/** The forward proxy listener of one provider. */
export class ForwardProxy extends ListenerSet {
  /** Handles absolute-form requests (and CONNECTs that follow one on a kept-alive connection). */
  readonly server: Server
  /** Accepts connections and reads their first head. */
  readonly front: NetServer

  constructor(private readonly connector: EgressConnector) {
    super()
    const limits = connector.ctx.limits
    // Half-open sockets: a client may shut down its sending side and still read the answer.
    this.front = createNetServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#onSocket(socket))
    this.track(this.front, limits.max_connections, dropSignal(connector, 'forward_proxy'))
    this.server = createForwardingHttpServer(limits)
    this.server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.#tunnel(req.url ?? '', socket, head))
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#onRequest(req, res))
    this.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
      rawAnswer(socket, 501, 'upgrade through absolute-form is not supported; use CONNECT')
    })
  }

  /** Starts listening; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return this.listenServer(this.front, host, port)
  }

  /** Reads the first request head; CONNECT → #tunnel, anything else → the HTTP server. */
  #onSocket(socket: Socket): void {
    const limits = this.connector.ctx.limits
    let buf: Buffer = Buffer.alloc(0)
    const done = () => {
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('error', onError)
      socket.removeListener('end', onEnd)
    }
    const onError = () => {
      done()
      socket.destroy()
    }
    const timer = setTimeout(() => {
      done()
      rawAnswer(socket, 408, 'request head not received in time')
    }, limits.header_timeout_ms)
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      const head = parseHttpHead(buf, limits.max_header_bytes)
      if (head.kind === 'need-more') return
      done()
      if (head.kind === 'request' && head.method === 'CONNECT') {
        void this.#tunnel(head.target, socket, buf.subarray(head.headBytes))
        return
      }
      if (head.kind === 'malformed' && /exceeds/.test(head.reason)) {
        rawAnswer(socket, 431, 'request head too large')
        return
      }
      // Not a CONNECT (or not parseable by us): Node's HTTP server reads it from the start and
      // answers absolute-form requests, or its own 400.
      socket.pause()
      socket.unshift(buf)
      this.server.emit('connection', socket)
      socket.resume()
    }
    // EOF before a whole head: nothing to answer.
    const onEnd = () => {
      done()
      socket.destroy()
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.once('end', onEnd)
  }

  async #tunnel(target: string, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    // RFC 9112 §3.2.3: authority-form is visible ASCII only (an IDN travels as punycode).
    const hp = /^[\x21-\x7e]+$/.test(target) ? splitHostPort(target, 0) : null
    if (!hp || hp.port === 0) {
      rawAnswer(socket, 400, 'CONNECT needs an authority-form target "host:port"')
      return
    }
    const refused = await this.connector.forward(socket, { host: hp.host, port: hp.port, protocol: 'tunnel', via: 'connect' }, {
      head: head.length ? head : null,
      onConnected: () => socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
      gate: (up) => (up.decision.verdict === 'allow' ? this.#gate(up.decision, up.attempt, hp.port) : this.#learn(up.attempt)),
    })
    if (refused) rawAnswer(socket, refused.status, refused.message, refusalHeaders(refused))
  }

  /** Holds the tunnel's first bytes until their SNI / Host is checked against the CONNECT target. */
  #gate(allowed: Decision & { verdict: 'allow' }, attempt: AttemptInfo, connectPort: number) {
    const { signals, policy } = this.connector.ctx
    const client = attempt.client
    return (bytes: Buffer, final: boolean): 'more' | 'ok' | 'deny' => {
      const sniffed = couldBeTlsOrHttp(bytes) ? sniffTunnel(bytes) : ({ kind: 'other' } as const)
      if (sniffed === 'need-more' && !final) return 'more'
      // Bytes that never became a full ClientHello / request head are opaque content.
      const content = sniffed === 'need-more' ? { kind: 'other' as const } : sniffed
      const d = decideTunnelContent(allowed, content, connectPort)
      if (d.verdict === 'allow') {
        signals.tunnelContent(attempt, content.kind)
        return 'ok'
      }
      const enf = enforce(d, policy.mode)
      const t = allowed.target
      signals.egress(d, enf, { host: t.host, port: connectPort, protocol: 'tunnel', via: 'connect', ...(client && { client }) }, { content: content.kind })
      return enf.permit ? 'ok' : 'deny'
    }
  }

  /**
   * An alerted tunnel (alert mode, no allowing rule) is not judged by its content, but the
   * baseline learns what it carries, so `profile suggest` can pick http, https or tcp.
   */
  #learn(attempt: AttemptInfo): ((bytes: Buffer, final: boolean) => 'more' | 'ok') | undefined {
    const { signals } = this.connector.ctx
    if (!signals.baseline) return undefined
    return (bytes, final) => {
      const sniffed = couldBeTlsOrHttp(bytes) ? sniffTunnel(bytes) : ({ kind: 'other' } as const)
      if (sniffed === 'need-more' && !final) return 'more'
      signals.tunnelContent(attempt, sniffed === 'need-more' ? 'other' : sniffed.kind)
      return 'ok'
    }
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? ''
    const m = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url)
    if (!m) {
      const why = /^https:\/\//i.test(url) ? 'https:// targets need CONNECT (this proxy does not terminate TLS)' : 'a proxy request needs an absolute-form http:// target'
      answer(res, 400, why)
      req.resume()
      return
    }
    const authority = m[1]!
    if (authority.includes('@')) {
      answer(res, 400, 'userinfo in the request-target is not allowed')
      req.resume()
      return
    }
    const hp = splitHostPort(authority, 80)
    if (!hp) {
      answer(res, 400, `malformed authority "${authority}"`)
      req.resume()
      return
    }
    const path = m[2] === '' ? '/' : m[2]!.startsWith('/') ? m[2]! : `/${m[2]}`
    await forwardHttp(this.connector, req, res, { host: hp.host, port: hp.port, path }, 'http_proxy', req.socket.remoteAddress)
  }
}

// Request methods a tunnelled HTTP/1.x client sends (RFC 9110 §9, RFC 5789, WebDAV RFC 4918).
const METHODS = ['GET ', 'HEAD ', 'POST ', 'PUT ', 'DELETE ', 'CONNECT ', 'OPTIONS ', 'TRACE ', 'PATCH ', 'PROPFIND ', 'PROPPATCH ', 'MKCOL ', 'COPY ', 'MOVE ', 'LOCK ', 'UNLOCK ', 'REPORT ', 'SEARCH ']

/**
 * True when the bytes may still become a TLS record or an HTTP request line. Anything else is
 * opaque at once, so a client-first protocol's first short message is never held back.
 */
export function couldBeTlsOrHttp(b: Buffer): boolean {
  if (b.length === 0 || b[0] === 0x16) return true
  const n = Math.min(b.length, 10)
  const head = b.toString('latin1', 0, n).toUpperCase()
  return METHODS.some((m) => (n >= m.length ? head.startsWith(m) : m.startsWith(head)))
}
