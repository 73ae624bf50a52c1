/**
 * Transparent tcp forwards: for each tcp rule with an exact host and a port
 * (`tcpForwardRules(policy)`, e.g. `{host: db.internal.example, port: 5432, protocol: tcp}`), a
 * listener on `<tcp_forward_host>:<port>`. DNS steering answers the rule's name with the sidecar's
 * address, so the provider's client connects here; each connection goes through the connector as
 * `{host: rule host, port: rule port, protocol: 'tcp', via: 'tcp_forward'}` (policy, quarantine,
 * resolution, address classification, dial of the checked IP) and is spliced with no inspection.
 *
 * Raw TCP carries no name, so a forward is routed by its port alone: two tcp rules naming
 * different hosts on the same port cannot both be forwarded, and {@link TcpForwards.listen}
 * refuses them rather than guess.
 */
import { createServer, type Socket } from 'node:net'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { dropSignal, type EgressConnector } from './connector.js'
import { ListenerSet } from './listener-set.js'
import { tcpForwardRules } from '../policy/egress-policy.js'
import type { EgressRule } from '../policy/egress-types.js'

/** Options of {@link TcpForwards}. */
export interface TcpForwardsOptions {
  /** Bind address of every forward (`sidecar.tcp_forward_host`). */
  host: string
  /**
   * Listen port by rule port (tests: a rule on 5432 can listen on 0 = any free port). The
   * upstream port, the decision and the signals keep the rule's port.
   */
  portOverride?: ReadonlyMap<number, number>
}

/** One bound forward. */
export interface BoundForward {
  /** Rule id, `egress[i]`. */
  rule: string
  /** Upstream host (the rule's exact host, normalised). */
  host: string
  /** Upstream port (the rule's port). */
  port: number
  /** Port the forward listens on. */
  listenPort: number
}

/** The tcp forward listeners of one provider. */
export class TcpForwards extends ListenerSet {
  readonly #forwards: BoundForward[] = []

  constructor(private readonly connector: EgressConnector, private readonly opts: TcpForwardsOptions) {
    super()
  }

  /** The bound forwards, after {@link listen}. */
  get forwards(): readonly BoundForward[] {
    return this.#forwards
  }

  /**
   * Binds one listener per tcp forward rule. On failure, closes what was bound.
   * @returns rule port → bound port
   * @throws HangarError `HANGAR_LISTEN_FAILED` when a port cannot be bound, or when two rules
   *   name different hosts on the same port
   */
  async listen(): Promise<Map<number, number>> {
    const byPort = new Map<number, EgressRule>()
    for (const r of tcpForwardRules(this.connector.ctx.policy)) {
      const prev = byPort.get(r.port)
      if (!prev) byPort.set(r.port, r)
      else if (prev.host!.base !== r.host!.base) {
        throw new HangarError(
          ERROR_CODES.LISTEN_FAILED,
          `tcp rules ${prev.id} (${prev.host!.base}) and ${r.id} (${r.host!.base}) both forward port ${r.port}; a tcp forward is routed by port only, so give each host its own port`,
        )
      }
    }
    const bound = new Map<number, number>()
    try {
      for (const [port, rule] of byPort) {
        const server = createServer({ noDelay: true, allowHalfOpen: true }, (s) => void this.#onConnection(s, rule))
        this.track(server, this.connector.ctx.limits.max_connections, dropSignal(this.connector, 'tcp_forward'))
        const listenPort = await this.listenServer(server, this.opts.host, this.opts.portOverride?.get(port) ?? port)
        bound.set(port, listenPort)
        this.#forwards.push({ rule: rule.id, host: rule.host!.base, port, listenPort })
      }
    } catch (err) {
      await this.close()
      throw err
    }
    return bound
  }

  /** Stops every forward and destroys its connections. */
  override async close(): Promise<void> {
    this.#forwards.length = 0
    await super.close()
  }

  async #onConnection(socket: Socket, rule: EgressRule): Promise<void> {
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.connector.ctx.log.debug({ err: err.code ?? err.message, rule: rule.id }, 'tcp forward: client socket error')
      socket.destroy()
    })
    // The socket is not flowing until the splice reads it: early client bytes wait in its buffer.
    const refused = await this.connector.forward(socket, { host: rule.host!.base, port: rule.port, protocol: 'tcp', via: 'tcp_forward' })
    if (refused) socket.destroy()
  }
}
