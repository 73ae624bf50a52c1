/**
 * The transparent HTTP listener (`sidecar.transparent_http`, :80). A provider whose HTTP client
 * ignores HTTP_PROXY resolves an allowed name through our DNS forwarder, gets the sidecar's
 * address (steering) and connects here; the request is routed by its `Host` header. No Host
 * (or an unusable one) → 400 and a `missing_host` denial. Answers as the forward proxy's.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { enforce } from '../../policy/egress.js'
import { dropSignal, type EgressConnector } from '../connector.js'
import { answer, createForwardingHttpServer, forwardHttp } from '../http-forward.js'
import { splitHostPort } from '../../policy/host.js'
import { ListenerSet } from '../listener-set.js'
import type { Decision } from '../../policy/egress-types.js'

export class TransparentHttpListener extends ListenerSet {
  readonly server: Server

  /** @param logicalPort the port the provider believes it dialled (80), used as the upstream port */
  constructor(private readonly connector: EgressConnector, private readonly logicalPort = 80) {
    super()
    const limits = connector.ctx.limits
    this.server = createForwardingHttpServer(limits)
    this.track(this.server, limits.max_connections, dropSignal(connector, 'transparent_http'))
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#onRequest(req, res))
    this.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => socket.destroy())
  }

  listen(host: string, port: number): Promise<number> {
    return this.listenServer(this.server, host, port)
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let host: string | undefined
    let path = req.url ?? '/'
    const abs = /^http:\/\/([^/?#]*)([^#]*)/i.exec(path)
    if (abs) {
      host = abs[1]
      path = abs[2] || '/'
    } else if (path.startsWith('/')) {
      host = req.headers.host
    }
    const hp = host ? splitHostPort(host, this.logicalPort) : null
    if (!hp) {
      const { policy, signals } = this.connector.ctx
      const d: Decision = { verdict: 'deny', code: 'missing_host', rule: 'default-deny', reason: host ? `unusable Host "${host}"` : 'request without a Host header; cannot route it' }
      signals.egress(d, enforce(d, policy.mode), { port: this.logicalPort, protocol: 'http', via: 'transparent_http', ...(req.socket.remoteAddress && { client: req.socket.remoteAddress }) })
      answer(res, 400, d.reason, { 'X-Hangar-Decision': `denied; rule=${d.rule}; reason=${d.code}` })
      req.resume()
      return
    }
    // The provider connected to our :80 because DNS steered the name here: it meant port 80.
    await forwardHttp(this.connector, req, res, { host: hp.host, port: this.logicalPort, path }, 'transparent_http', req.socket.remoteAddress)
  }
}
