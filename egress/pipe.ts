/**
 * Splices a client socket and an upstream socket: bytes both ways, an idle timeout, half-close
 * handling, byte counts. Calls `onClose` exactly once.
 */
import type { Socket } from 'node:net'

export interface TunnelStats {
  /** Bytes the client (provider) sent upstream. */
  bytesUp: number
  /** Bytes upstream sent to the client. */
  bytesDown: number
  durationMs: number
  /** `idle_timeout` | `closed` | `error` */
  end: 'idle_timeout' | 'closed' | 'error'
}

/**
 * @param head bytes already read from the client that must be sent upstream first
 * @param idleMs close both sides after this long without a byte either way
 */
export function splice(client: Socket, upstream: Socket, head: Buffer | null, idleMs: number, onClose: (s: TunnelStats) => void): void {
  const started = Date.now()
  let bytesUp = head?.length ?? 0
  let bytesDown = 0
  let done = false
  let end: TunnelStats['end'] = 'closed'
  const finish = () => {
    if (done) return
    done = true
    client.destroy()
    upstream.destroy()
    onClose({ bytesUp, bytesDown, durationMs: Date.now() - started, end })
  }
  const fail = () => {
    if (end === 'closed') end = 'error'
    finish()
  }
  client.setTimeout(idleMs, () => {
    end = 'idle_timeout'
    finish()
  })
  // The idle timer is reset by activity on either side.
  upstream.on('data', (b: Buffer) => {
    bytesDown += b.length
    client.setTimeout(idleMs)
  })
  client.on('data', (b: Buffer) => {
    bytesUp += b.length
  })
  client.on('error', fail)
  upstream.on('error', fail)
  let closes = 0
  const onSideClose = () => {
    if (++closes === 2) finish()
  }
  client.on('close', () => (upstream.destroyed ? finish() : onSideClose()))
  upstream.on('close', () => (client.destroyed ? finish() : onSideClose()))
  if (head && head.length) upstream.write(head)
  client.pipe(upstream)
  upstream.pipe(client)
}
