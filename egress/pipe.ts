/**
 * Splices a client socket and an upstream socket: bytes both ways, an idle timeout, byte counts,
 * and an optional gate that holds the client's first bytes until an inspector has judged them
 * (CONNECT tunnels: SNI / Host against the CONNECT target). Upstream bytes flow from the start,
 * so server-speaks-first protocols work. Calls `onClose` exactly once.
 */
import type { Socket } from 'node:net'
import type { UpstreamReader } from './dial.js'

export interface TunnelStats {
  /** Bytes the client (provider) sent upstream. */
  bytesUp: number
  /** Bytes upstream sent to the client. */
  bytesDown: number
  durationMs: number
  end: 'closed' | 'idle_timeout' | 'error' | 'denied'
}

/**
 * Judges the client's first bytes: `more` = wait for more, `ok` = let them through, `deny` =
 * close both. `final` is true when no more bytes will be waited for (client half-closed, or
 * `gateTimeoutMs` passed): the gate must then answer `ok` or `deny`.
 */
export type FirstBytesGate = (bytes: Buffer, final: boolean) => 'more' | 'ok' | 'deny'

export interface SpliceOptions {
  /** Bytes already read from the client, sent upstream first (or judged first when `gate` is set). */
  head?: Buffer | null
  /** Close both sides after this long without a byte either way, ms. */
  idleMs: number
  gate?: FirstBytesGate
  /** Max bytes the gate may hold, default 16 KiB + 5: beyond → `deny`. */
  gateMaxBytes?: number
  /** The upstream's reader when it was dialled with one (bytes arrive there, not as 'data'). */
  reader?: UpstreamReader
  /** After this long with bytes held and no verdict, the gate judges them as final, ms. Default 1000. */
  gateTimeoutMs?: number
  onClose: (s: TunnelStats) => void
}

export function splice(client: Socket, upstream: Socket, opts: SpliceOptions): void {
  const started = Date.now()
  let bytesUp = 0
  let bytesDown = 0
  let done = false
  let end: TunnelStats['end'] = 'closed'
  const finish = () => {
    if (done) return
    done = true
    client.destroy()
    upstream.destroy()
    opts.onClose({ bytesUp, bytesDown, durationMs: Date.now() - started, end })
  }
  const fail = () => {
    if (end === 'closed') end = 'error'
    finish()
  }
  client.setTimeout(opts.idleMs, () => {
    end = 'idle_timeout'
    finish()
  })
  client.on('error', fail)
  upstream.on('error', fail)
  client.on('close', finish)
  upstream.on('close', () => {
    // Let what upstream sent drain to the client before tearing down.
    if (client.writableLength === 0 || client.destroyed) finish()
    else client.once('drain', finish)
  })
  if (opts.reader) {
    // The chunk is a view of the reader's reused buffer: once written synchronously it is free;
    // if the client kept it queued, reading stops until the queue drains (then it is free again).
    const sink = (chunk: Buffer): boolean => {
      bytesDown += chunk.length
      client.write(chunk)
      client.setTimeout(opts.idleMs)
      if (client.writableLength === 0) return true
      upstream.pause()
      return false
    }
    for (const early of opts.reader.attach(sink)) {
      bytesDown += early.length
      client.write(early)
    }
  } else {
    upstream.on('data', (b: Buffer) => {
      bytesDown += b.length
      if (!client.write(b)) upstream.pause()
      client.setTimeout(opts.idleMs)
    })
  }
  client.on('drain', () => upstream.resume())
  upstream.on('end', () => client.end())

  const open = (first: Buffer | null) => {
    if (first && first.length) {
      bytesUp += first.length
      upstream.write(first)
    }
    client.on('data', (b: Buffer) => {
      bytesUp += b.length
      if (!upstream.write(b)) client.pause()
    })
    upstream.on('drain', () => client.resume())
    client.on('end', () => upstream.end())
  }

  if (!opts.gate) {
    open(opts.head ?? null)
    return
  }
  const gate = opts.gate
  const max = opts.gateMaxBytes ?? 16 * 1024 + 5
  let held: Buffer = opts.head && opts.head.length ? Buffer.from(opts.head) : Buffer.alloc(0)
  let timer: NodeJS.Timeout | undefined
  const judge = (final = false): boolean => {
    const v = held.length > max ? 'deny' : gate(held, final)
    if (v === 'more' && !final) {
      // Bytes that are a prefix of TLS/HTTP but never complete (a short client-first protocol
      // message) must not stall the tunnel: judge them as final after a short wait.
      if (held.length && !timer) timer = setTimeout(() => judge(true), opts.gateTimeoutMs ?? 1000)
      return false
    }
    clearTimeout(timer)
    client.removeListener('data', onHeld)
    client.removeListener('end', onHeldEnd)
    if (v === 'deny') {
      end = 'denied'
      finish()
    } else open(held)
    return true
  }
  client.once('close', () => clearTimeout(timer))
  const onHeld = (b: Buffer) => {
    held = held.length ? Buffer.concat([held, b]) : b
    judge()
  }
  // The client closed its side before the gate could judge: judge what we have, as final.
  const onHeldEnd = () => {
    clearTimeout(timer)
    const v = held.length === 0 ? 'ok' : gate(held, true)
    client.removeListener('data', onHeld)
    if (v === 'ok') {
      if (held.length) {
        bytesUp += held.length
        upstream.write(held)
      }
      upstream.end()
    } else {
      end = 'denied'
      finish()
    }
  }
  if (held.length && judge()) return
  client.on('data', onHeld)
  client.on('end', onHeldEnd)
}
