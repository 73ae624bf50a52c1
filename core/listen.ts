/**
 * The one way a server of the project binds: `listen` with a typed error, and no listener left
 * behind whichever way it ends.
 *
 * `server.listen(…, cb)` alone leaks: `cb` is a `once('listening')` listener that stays when the
 * bind fails, and an `error` listener added to catch the failure stays when it succeeds (and then
 * swallows or misreports the server's later errors). {@link listen} removes both on both paths.
 */
import type { Server } from 'node:net'
import { ERROR_CODES, HangarError } from './errors.js'

/** Options of {@link listen}. */
export interface ListenOptions {
  /** Address to bind (an IP literal or a host name Node resolves); `::` and `0.0.0.0` bind all. */
  host: string
  /** Port; 0 = any free port. */
  port: number
  /** Accept queue length (listen(2) `backlog`); default Node's (511). */
  backlog?: number
  /** Refuse to share the port with cluster workers (Node `exclusive`). */
  exclusive?: boolean
  /** What listens, added to the error message: "MCP ingress of fetch". */
  what?: string
}

/**
 * Binds `server` (a `net`, `http`, `https` or `tls` server) to `host:port`.
 * @returns the bound port (the one picked when `port` was 0)
 * @throws HangarError `HANGAR_LISTEN_FAILED` naming the address, `what`, and the system error
 *   code (EADDRINUSE, EACCES, EADDRNOTAVAIL, …), with the system error as `cause`
 */
export function listen(server: Server, opts: ListenOptions): Promise<number> {
  const { host, port } = opts
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      const what = opts.what ? ` (${opts.what})` : ''
      reject(new HangarError(ERROR_CODES.LISTEN_FAILED, `cannot listen on ${host}:${port}${what}: ${err.code ?? err.message}`, { cause: err }))
    }
    const onListening = (): void => {
      server.off('error', onError)
      const a = server.address()
      resolve(typeof a === 'object' && a ? a.port : port)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({
      host,
      port,
      ...(opts.backlog !== undefined ? { backlog: opts.backlog } : {}),
      ...(opts.exclusive !== undefined ? { exclusive: opts.exclusive } : {}),
    })
  })
}
