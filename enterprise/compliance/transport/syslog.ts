/**
 * The `syslog` transport: RFC 5424 messages over
 * - UDP (RFC 5426): one message per datagram, no acknowledgement of any kind;
 * - TCP (RFC 6587): octet counting (§3.4.1, `<length in bytes> <message>`) or non-transparent
 *   framing (§3.4.2, each message ends with LF, so a message may not contain one);
 * - TLS (RFC 5425): octet counting over TLS 1.2+, the receiver's certificate verified against
 *   `ca_file` and `server_name` (or the host), and a client certificate for mutual TLS.
 * One connection is kept open and re-dialled after an error. Syslog has no application-level
 * acknowledgement: a batch counts as sent once the kernel took every byte (the write callback),
 * so a receiver that dies with unread bytes in its socket buffer loses them. HTTP transports with
 * acknowledgements (Splunk HEC with `ack`, Elasticsearch) do not have that gap.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { TransportError, type ExportRecord, type SendResult, type Transport } from './types.js'

export interface SyslogTransportOptions {
  protocol: 'udp' | 'tcp' | 'tls'
  /** `host:port` (IPv6 in brackets). */
  address: string
  framing: 'octet-counting' | 'non-transparent'
  /** PEM file paths (tls). */
  caFile?: string
  certFile?: string
  keyFile?: string
  serverName?: string
  /** Deadline of connect and of one batch's write, ms. */
  timeoutMs: number
}

/** Largest UDP payload over IPv4 (65,535 − 8 − 20), bytes. */
export const MAX_UDP_BYTES = 65_507

/** Splits `host:port` (IPv6 in brackets). */
function splitAddress(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':')
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) }
}

/**
 * Frames one message for a stream (RFC 6587 §3.4): octet counting `<len> <msg>` where len is
 * the message's length in bytes, or `<msg>\n`.
 * @throws Error when non-transparent framing meets a message containing LF (it would split it).
 */
export function frame(msg: string, framing: 'octet-counting' | 'non-transparent'): Buffer {
  const b = Buffer.from(msg, 'utf8')
  if (framing === 'octet-counting') return Buffer.concat([Buffer.from(`${b.length} `, 'ascii'), b])
  if (b.includes(0x0a)) throw new Error('the message contains a line feed, which non-transparent framing cannot carry')
  return Buffer.concat([b, Buffer.from('\n')])
}

/** Sends syslog messages over UDP, TCP or TLS. */
export class SyslogTransport implements Transport {
  readonly name: string
  readonly #host: string
  readonly #port: number
  #sock: Socket | undefined
  #udp: UdpSocket | undefined
  #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined

  /** @throws Error naming the file when a TLS file cannot be read. */
  constructor(private readonly o: SyslogTransportOptions) {
    this.name = `syslog/${o.protocol}`
    const { host, port } = splitAddress(o.address)
    this.#host = host
    this.#port = port
    if (o.protocol === 'tls') {
      const read = (f?: string) => (f === undefined ? undefined : readFileSync(f))
      this.#tls = { ...(o.caFile && { ca: read(o.caFile) }), ...(o.certFile && { cert: read(o.certFile) }), ...(o.keyFile && { key: read(o.keyFile) }) }
    }
  }

  #connect(): Promise<Socket> {
    const cur = this.#sock
    if (cur && !cur.destroyed && cur.writable) return Promise.resolve(cur)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy()
        reject(new TransportError('timeout', `connect to ${this.o.address} timed out after ${this.o.timeoutMs} ms`))
      }, this.o.timeoutMs)
      const fail = (err: Error) => {
        clearTimeout(timer)
        reject(new TransportError(this.o.protocol === 'tls' && !/ECONNREFUSED|ECONNRESET|ETIMEDOUT/.test(err.message) ? 'tls' : 'connect', `${this.o.address}: ${err.message}`))
      }
      const ready = () => {
        clearTimeout(timer)
        sock.off('error', fail)
        sock.on('error', () => sock.destroy())
        sock.on('end', () => sock.destroy()) // the receiver closed: re-dial before the next batch
        sock.resume() // receivers send nothing; drain whatever comes
        this.#sock = sock
        resolve(sock)
      }
      const sock: Socket = this.o.protocol === 'tls'
        ? tlsConnect({
          host: this.#host, port: this.#port, ...this.#tls, minVersion: 'TLSv1.2', rejectUnauthorized: true,
          servername: this.o.serverName ?? (isIP(this.#host) ? undefined : this.#host),
        }, ready)
        : netConnect({ host: this.#host, port: this.#port }, ready)
      sock.setNoDelay(true)
      sock.once('error', fail)
    })
  }

  /**
   * Sends every record of the batch; resolves when the kernel took the last byte.
   * A record that cannot be framed (LF under non-transparent framing, a UDP datagram over
   * {@link MAX_UDP_BYTES}) is refused for good.
   * @throws TransportError `connect`, `tls`, `timeout` or `write`.
   */
  async send(batch: readonly ExportRecord[]): Promise<SendResult> {
    const rejected: SendResult['rejected'] = []
    if (this.o.protocol === 'udp') return this.#sendUdp(batch)
    const frames: Buffer[] = []
    batch.forEach((r, index) => {
      try {
        frames.push(frame(r.text, this.o.framing))
      } catch (err) {
        rejected.push({ index, reason: (err as Error).message })
      }
    })
    const sock = await this.#connect()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy()
        reject(new TransportError('timeout', `write to ${this.o.address} timed out after ${this.o.timeoutMs} ms`))
      }, this.o.timeoutMs)
      const onClose = () => {
        clearTimeout(timer)
        reject(new TransportError('write', `${this.o.address}: connection closed during the batch`))
      }
      sock.once('close', onClose)
      sock.write(Buffer.concat(frames), (err) => {
        clearTimeout(timer)
        sock.off('close', onClose)
        if (err) reject(new TransportError('write', `${this.o.address}: ${err.message}`))
        else resolve()
      })
    })
    return { rejected }
  }

  async #sendUdp(batch: readonly ExportRecord[]): Promise<SendResult> {
    const rejected: SendResult['rejected'] = []
    if (!this.#udp) {
      const s = createSocket(isIP(this.#host) === 6 ? 'udp6' : 'udp4')
      s.on('error', () => {})
      this.#udp = s
    }
    const udp = this.#udp
    for (let index = 0; index < batch.length; index++) {
      const b = Buffer.from(batch[index]!.text, 'utf8')
      if (b.length > MAX_UDP_BYTES) {
        rejected.push({ index, reason: `${b.length} bytes is more than a UDP datagram carries (${MAX_UDP_BYTES})` })
        continue
      }
      await new Promise<void>((resolve, reject) => udp.send(b, this.#port, this.#host, (err) => (err ? reject(new TransportError('write', `${this.o.address}: ${err.message}`)) : resolve())))
    }
    return { rejected }
  }

  async close(): Promise<void> {
    const s = this.#sock
    this.#sock = undefined
    if (s && !s.destroyed) await new Promise<void>((resolve) => s.end(resolve)).then(() => s.destroy())
    const u = this.#udp
    this.#udp = undefined
    if (u) await new Promise<void>((resolve) => u.close(() => resolve()))
  }
}
