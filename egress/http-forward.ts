/**
 * Forwards one plain-HTTP request to a checked destination: used by the forward proxy for
 * absolute-form requests and by the transparent :80 listener. The destination comes from the
 * request-target (proxy; RFC 9112 §3.2.2: a received Host is ignored and replaced) or from Host
 * (transparent). Hop-by-hop headers are removed both ways (RFC 9110 §7.6.1). One upstream
 * connection per request, through the connector, so every request is decided and signalled.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { SidecarLimits } from '../config/schema.js'
import { refusalHeaders, type EgressConnector } from './connector.js'
import type { EgressVia } from '../policy/egress-types.js'

const HOP_BY_HOP = new Set([
  'connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer',
  'proxy-authorization', 'proxy-authenticate', 'host',
])

/** Copies raw headers minus hop-by-hop ones and those named by `Connection`. Keeps order and duplicates. */
export function endToEndHeaders(raw: readonly string[]): string[] {
  const named = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) named.add(t.trim().toLowerCase())
  }
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase()
    if (HOP_BY_HOP.has(k) || named.has(k)) continue
    out.push(raw[i]!, raw[i + 1]!)
  }
  return out
}

/** Writes a plain-text error answer and closes the connection. */
export function answer(res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = message + '\n'
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close', ...extra })
  res.end(body)
}

/**
 * Forwards `req` to `host:port` and streams the answer into `res`.
 * @param path origin-form path + query to send upstream
 */
export async function forwardHttp(
  connector: EgressConnector,
  req: IncomingMessage,
  res: ServerResponse,
  target: { host: string; port: number; path: string },
  via: EgressVia,
  client: string | undefined,
): Promise<void> {
  const up = await connector.open({ host: target.host, port: target.port, protocol: 'http', via }, client)
  if (!up.ok) {
    answer(res, up.status, up.message, refusalHeaders(up))
    req.resume()
    return
  }
  const headers = endToEndHeaders(req.rawHeaders)
  // The normalised name the decision checked (RFC 9112 §3.2.2: Host is generated from the target).
  const h = hostText(up.decision.target?.host ?? target.host)
  const authority = target.port === 80 ? h : `${h}:${target.port}`
  headers.push('Host', authority, 'Connection', 'close')
  const started = Date.now()
  const sock = up.socket
  let closed = false
  const onDone = () => {
    if (closed) return
    closed = true
    up.release()
    connector.ctx.signals.closed(up.attempt, sock.bytesWritten, sock.bytesRead, Date.now() - started, up.decision.rule)
  }
  sock.once('close', onDone)
  // A client gone while the attempt was decided, resolved or dialled has closed its response
  // already, so the 'close' handler below would never fire: release the upstream and its
  // tunnel slot now instead of at the idle timeout (abandoned requests must not fill max_tunnels).
  if (res.closed || res.destroyed || req.socket.destroyed) {
    sock.destroy()
    return
  }
  sock.setTimeout(connector.ctx.limits.idle_timeout_ms, () => sock.destroy())
  const upReq = httpRequest({
    method: req.method,
    path: target.path,
    headers,
    setHost: false,
    createConnection: () => sock,
  })
  upReq.on('response', (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEndHeaders(upRes.rawHeaders))
    upRes.pipe(res)
    upRes.on('error', () => res.destroy())
  })
  upReq.on('error', (err) => {
    sock.destroy()
    answer(res, 502, `upstream ${authority} failed: ${err.message}`)
  })
  res.on('close', () => {
    if (!res.writableFinished) sock.destroy()
  })
  req.pipe(upReq)
}

function hostText(h: string): string {
  return h.includes(':') ? `[${h}]` : h
}

/**
 * The HTTP server of the forward proxy and the transparent :80 listener: head size (431) and
 * head timeout (408, slowloris) from `limits`, no whole-request timeout (bodies may be long; idle
 * connections are bounded by the idle timeout), and one answer for every malformed request.
 */
export function createForwardingHttpServer(limits: SidecarLimits): Server {
  const server = createServer({
    maxHeaderSize: limits.max_header_bytes,
    headersTimeout: limits.header_timeout_ms,
    requestTimeout: 0,
    keepAliveTimeout: 5000,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.header_timeout_ms / 2))),
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? ''
    if (code === 'HPE_HEADER_OVERFLOW') rawAnswer(socket, 431, 'request head too large')
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') rawAnswer(socket, 408, 'request head not received in time')
    else if (code === 'ECONNRESET' || !socket.writable) socket.destroy()
    else rawAnswer(socket, 400, `malformed request (${code || err.message})`)
  })
  return server
}

/** Writes a minimal HTTP/1.1 answer on a raw socket and closes it. */
export function rawAnswer(socket: Socket, status: number, message: string, extra: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = message + '\n'
  const reason = STATUS_TEXT[status] ?? 'Error'
  let head = `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`
  for (const [k, v] of Object.entries(extra)) head += `${k}: ${v.replace(/[\r\n]/g, ' ')}\r\n`
  socket.end(head + '\r\n' + body)
  socket.destroySoon()
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 408: 'Request Timeout', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  501: 'Not Implemented', 502: 'Bad Gateway', 504: 'Gateway Timeout',
}
