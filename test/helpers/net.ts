/**
 * Small real-socket helpers for tests: a TCP echo server, an HTTP server that records what it
 * received, a raw HTTP/1.1 client for proxies, and a static-map Resolver (the resolver is an
 * input of proxy tests, not what they test; DNS itself is tested in test/egress/dns-*.test.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { parseIpLiteral } from '../../policy/ip.js'
import type { IpAddress, ResolvedAddresses, Resolver } from '../../policy/egress-types.js'

export async function listen(server: Server | HttpServer, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, () => r()))
  const a = server.address()
  if (!a || typeof a !== 'object') throw new Error('no address')
  return a.port
}

export function close(server: Server | HttpServer): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections()
  return new Promise((r) => server.close(() => r()))
}

/** A TCP echo server; `connections` counts accepted sockets. */
export async function echoServer(): Promise<{ port: number; server: Server; connections: () => number; bytes: () => number }> {
  let n = 0
  let bytes = 0
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    n++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => s.destroy())
    s.on('data', (b: Buffer) => (bytes += b.length))
    s.pipe(s)
  })
  const origClose = server.close.bind(server)
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy()
    return origClose(cb)
  }) as typeof server.close
  return { port: await listen(server), server, connections: () => n, bytes: () => bytes }
}

export interface Recorded { method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[]; body: string }

/** An HTTP server answering `hello from <name>` and recording each request. */
export async function recordingHttpServer(name = 'upstream'): Promise<{ port: number; server: HttpServer; requests: Recorded[] }> {
  const requests: Recorded[] = []
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() })
      // A hop-by-hop field named by Connection, and Proxy-Authenticate: a proxy must not pass them on.
      res.setHeader('Connection', 'keep-alive, X-Up-Hop')
      res.setHeader('X-Up-Hop', 'secret')
      res.setHeader('Proxy-Authenticate', 'Basic realm="upstream"')
      res.setHeader('X-Upstream', name)
      res.end(`hello from ${name}`)
    })
  })
  return { port: await listen(server), server, requests }
}

/** A resolver over a fixed table (name → IPs); unknown names → HANGAR_DNS_NO_ADDRESS. */
export function staticResolver(table: Record<string, string[]>, opts: { delayMs?: number; timeoutNames?: string[] } = {}): Resolver & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    async resolve(name: string): Promise<ResolvedAddresses> {
      calls.push(name)
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs))
      if (opts.timeoutNames?.includes(name)) throw new HangarError(ERROR_CODES.DNS_TIMEOUT, `${name}: upstream DNS timed out`)
      const ips = table[name]
      if (!ips) throw new HangarError(ERROR_CODES.DNS_NO_ADDRESS, `${name}: NXDOMAIN`)
      return { addresses: ips.map((ip) => parseIpLiteral(ip) as IpAddress), ttlMs: 30_000 }
    },
    close() {},
  }
}

/** Result of a raw proxy exchange: the status line, headers, and the socket (left open on 200). */
export interface ProxyAnswer { status: number; headers: Record<string, string>; body: string; socket: Socket; rest: Buffer }

/** Sends raw bytes to host:port and parses one HTTP/1.1 response head (+ Content-Length body). */
export function rawExchange(port: number, request: string | Buffer, host = '127.0.0.1', timeoutMs = 5000): Promise<ProxyAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host)
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(buf.toString())}`))
    }, timeoutMs)
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b])
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = buf.subarray(0, end).toString('latin1').split('\r\n')
      const status = Number(head[0]!.split(' ')[1])
      const headers: Record<string, string> = {}
      for (const line of head.slice(1)) {
        const i = line.indexOf(':')
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
      }
      const len = Number(headers['content-length'] ?? (status === 200 && !headers['content-type'] ? 0 : NaN))
      const bodyBytes = buf.subarray(end + 4)
      if (!Number.isNaN(len) && bodyBytes.length < len) return
      clearTimeout(timer)
      socket.removeListener('data', onData)
      const body = Number.isNaN(len) ? bodyBytes.toString() : bodyBytes.subarray(0, len).toString()
      resolve({ status, headers, body, socket, rest: Number.isNaN(len) ? Buffer.alloc(0) : bodyBytes.subarray(len) })
    }
    socket.on('data', onData)
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.write(request)
  })
}

/** Resolves when the socket closes; rejects after `ms`. */
export function closed(s: Socket, ms = 5000): Promise<void> {
  if (s.destroyed) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms)
    s.once('close', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** Writes `data` and resolves with the first `n` bytes read back. */
export function roundTrip(s: Socket, data: Buffer | string, n: number, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const t = setTimeout(() => reject(new Error(`only ${got.length}/${n} bytes within ${ms} ms`)), ms)
    const onData = (b: Buffer) => {
      got = Buffer.concat([got, b])
      if (got.length >= n) {
        clearTimeout(t)
        s.removeListener('data', onData)
        resolve(got)
      }
    }
    s.on('data', onData)
    s.write(data)
  })
}
