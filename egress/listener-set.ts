/**
 * Shared listen/close plumbing for the egress listeners: bind with a typed error, track open
 * sockets, and close everything (server + live connections) on shutdown.
 */
import type { DropArgument, Server as NetServer, Socket } from 'node:net'
import { listen } from '../core/listen.js'

/**
 * Listen backlog of the egress listeners (the kernel caps it at `net.core.somaxconn`). Node's
 * default, 511, lets a storm of connects overflow the accept queue, and the kernel then resets
 * some of them before the sidecar sees them (measured: about 4 % of 5,000 concurrent CONNECTs on
 * a loaded 2-core host, none with 4096): with a deeper queue each one is accepted and answered
 * (a 429 at max_tunnels, a close at max_connections), with its signal.
 */
export const LISTEN_BACKLOG = 4096

/** Base of a listener that owns one or more servers and their connections. */
export class ListenerSet {
  readonly #servers = new Set<NetServer>()
  readonly #sockets = new Set<Socket>()

  /**
   * Follows a server's connections so close() can end them.
   * @param maxConnections accept at most this many at once (`limits.max_connections`); Node
   *   closes a connection beyond it at accept and emits `drop`
   * @param onDrop called once per connection closed at accept (for the `rate_limited` signal)
   */
  protected track(server: NetServer, maxConnections?: number, onDrop?: (d: DropArgument | undefined) => void): void {
    if (maxConnections !== undefined) server.maxConnections = maxConnections
    if (onDrop) server.on('drop', onDrop)
    this.#servers.add(server)
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.once('close', () => this.#sockets.delete(s))
    })
  }

  /**
   * Binds `server` to `host:port` (port 0 = any free port), with a {@link LISTEN_BACKLOG} queue.
   * @returns the bound port
   * @throws HangarError `HANGAR_LISTEN_FAILED` naming the address and the system error
   */
  protected listenServer(server: NetServer, host: string, port: number): Promise<number> {
    return listen(server, { host, port, backlog: LISTEN_BACKLOG })
  }

  /** Stops accepting and destroys open connections. */
  async close(): Promise<void> {
    const closing = [...this.#servers].map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r())))
    for (const s of this.#sockets) s.destroy()
    await Promise.all(closing)
  }
}
