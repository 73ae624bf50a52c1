/**
 * Client to the upstream DNS servers (`sidecar.upstream_dns`): `system` is the nameservers of
 * /etc/resolv.conf, read and parsed here (never getaddrinfo, never node:dns), or `host:port`
 * with an IP literal host.
 *
 * Each query goes over UDP from a fresh connected socket (random source port chosen by the
 * kernel, and the kernel drops datagrams from any other address) with a random 16-bit id; a
 * reply counts only when its id, QR bit and question (name case-insensitively, RFC 4343) match,
 * so off-path spoofing needs to guess both port and id (RFC 5452). A reply with TC set is
 * retried over TCP with RFC 7766 §8 two-byte length framing. Each server gets
 * `timeoutMs`; a timeout, an error, or a SERVFAIL/REFUSED/NOTIMP/FORMERR answer moves on to the
 * next server in order.
 */
import { randomFillSync } from 'node:crypto'
import { createSocket, type Socket as UdpSocket, type SocketOptions } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { isIP, isIPv6, connect as tcpConnect, type LookupFunction } from 'node:net'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { buildQuery, Flag, HEADER_BYTES, questionEndOf, Rcode, sameQuestion } from './wire.js'

/** One upstream server. */
export interface UpstreamServer {
  /** IP literal (IPv6 without brackets; a `%zone` suffix is kept). */
  host: string
  port: number
}

/** Default path of the system resolver configuration. */
export const RESOLV_CONF = '/etc/resolv.conf'

/**
 * Nameservers of a resolv.conf text (resolv.conf(5)): `nameserver <IP>` lines, in order;
 * comments (`#`, `;`) and other options ignored; non-IP values skipped. No lines → the local
 * server 127.0.0.1:53, as the C library does.
 */
export function parseResolvConf(text: string): UpstreamServer[] {
  const out: UpstreamServer[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim()
    const m = /^nameserver\s+(\S+)/.exec(line)
    if (!m) continue
    const host = m[1]!
    const bare = host.split('%')[0]!
    if (isIP(bare) === 0) continue
    out.push({ host, port: 53 })
  }
  return out.length ? out : [{ host: '127.0.0.1', port: 53 }]
}

/**
 * Turns `upstream_dns` entries into servers: `system` expands to resolv.conf's nameservers,
 * `host:port` / `[v6]:port` must name an IP literal (a name would need a resolver to resolve).
 * @throws HangarError `HANGAR_CONFIG_INVALID` for a non-IP host or a bad port
 */
export function upstreamServers(specs: readonly string[], resolvConfPath: string = RESOLV_CONF): UpstreamServer[] {
  const out: UpstreamServer[] = []
  for (const spec of specs) {
    if (spec === 'system') {
      let text = ''
      try {
        text = readFileSync(resolvConfPath, 'utf8')
      } catch {
        // resolv.conf(5): without the file the local server is used.
      }
      out.push(...parseResolvConf(text))
      continue
    }
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec)
    const host = m ? (m[1] ?? m[2])! : ''
    const port = m ? Number(m[3]) : 0
    if (!m || isIP(host.split('%')[0]!) === 0 || port < 1 || port > 65535) {
      throw new HangarError(ERROR_CODES.CONFIG_INVALID, `upstream_dns "${spec}" must be "system" or "<IP>:<port>" (a host name would itself need resolving)`)
    }
    out.push({ host, port })
  }
  return out
}

/** Options of {@link DnsUpstream}. */
export interface DnsUpstreamOptions {
  servers: readonly UpstreamServer[]
  /** Per-server timeout, ms (`limits.dns_timeout_ms`). */
  timeoutMs: number
  /** Max UDP sockets / TCP connections open at once; more queries wait. Default 1024. */
  maxInflight?: number
}

/** Options of one {@link DnsUpstream.query}. */
export interface QueryOptions {
  /** Set the CD bit (the client asked for it). */
  cd?: boolean
}

// dgram/net call `lookup` even for IP literals; this one never resolves anything.
const ipOnlyLookup = ((hostname: string, options: unknown, callback?: unknown) => {
  const cb = (typeof options === 'function' ? options : callback) as (err: Error | null, address: string | Array<{ address: string; family: number }>, family?: number) => void
  const family = isIP(hostname.split('%')[0]!)
  if (family === 0) {
    cb(new HangarError(ERROR_CODES.DNS_FAILED, `"${hostname}" is not an IP address`), '', 0)
    return
  }
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all
  if (all) cb(null, [{ address: hostname, family }])
  else cb(null, hostname, family)
}) as LookupFunction

const ids = new Uint16Array(512)
let idPos = ids.length

/** A cryptographically random 16-bit query id. */
export function randomId(): number {
  if (idPos >= ids.length) {
    randomFillSync(ids)
    idPos = 0
  }
  return ids[idPos++]!
}

type Outcome = { ok: true; reply: Buffer } | { ok: false; timeout: boolean; why: string }

/** Queries upstream servers in order. */
export class DnsUpstream {
  readonly servers: readonly UpstreamServer[]
  readonly timeoutMs: number
  readonly #maxInflight: number
  #inflight = 0
  readonly #waiting: Array<() => void> = []
  readonly #open = new Set<{ close(): void }>()
  #closed = false
  /** Replies dropped because id, flags or question did not match (spoofing attempts, late answers). */
  mismatched = 0

  constructor(opts: DnsUpstreamOptions) {
    if (opts.servers.length === 0) throw new HangarError(ERROR_CODES.CONFIG_INVALID, 'no upstream DNS server')
    this.servers = opts.servers
    this.timeoutMs = opts.timeoutMs
    this.#maxInflight = opts.maxInflight ?? 1024
  }

  /**
   * Builds a client from `sidecar.upstream_dns` and `limits.dns_timeout_ms`.
   * @throws HangarError `HANGAR_CONFIG_INVALID` (see {@link upstreamServers})
   */
  static fromConfig(specs: readonly string[], timeoutMs: number, resolvConfPath?: string): DnsUpstream {
    return new DnsUpstream({ servers: upstreamServers(specs, resolvConfPath), timeoutMs })
  }

  /**
   * Sends one question (wire name + QTYPE + QCLASS; its letter case is kept) to the servers in
   * order and returns the first acceptable reply: rcode NOERROR or NXDOMAIN, id and question
   * verified. The reply may carry an OPT record and compressed names.
   * @throws HangarError `HANGAR_DNS_TIMEOUT` when every server timed out; `HANGAR_DNS_FAILED`
   *   when every server failed otherwise (SERVFAIL, REFUSED, unreachable, malformed replies)
   */
  async query(question: Buffer, opts: QueryOptions = {}): Promise<Buffer> {
    if (this.#closed) throw new HangarError(ERROR_CODES.DNS_FAILED, 'the upstream DNS client is closed')
    const failures: string[] = []
    let allTimeouts = true
    for (const server of this.servers) {
      await this.#acquire()
      let out: Outcome
      try {
        out = await this.#udp(server, question, opts)
        if (out.ok && out.reply[2]! & (Flag.TC >> 8)) out = await this.#tcp(server, question, opts)
      } finally {
        this.#release()
      }
      if (out.ok) {
        const rcode = out.reply[3]! & 0xf
        if (rcode === Rcode.NOERROR || rcode === Rcode.NXDOMAIN) return out.reply
        allTimeouts = false
        failures.push(`${fmt(server)}: rcode ${rcode}`)
        continue
      }
      if (!out.timeout) allTimeouts = false
      failures.push(`${fmt(server)}: ${out.why}`)
    }
    const code = allTimeouts ? ERROR_CODES.DNS_TIMEOUT : ERROR_CODES.DNS_FAILED
    throw new HangarError(code, `upstream DNS ${allTimeouts ? 'timed out' : 'failed'} (${failures.join('; ')})`)
  }

  /** Closes open sockets; later queries fail with `HANGAR_DNS_FAILED`. */
  close(): void {
    this.#closed = true
    for (const s of this.#open) s.close()
    this.#open.clear()
    for (const w of this.#waiting.splice(0)) w()
  }

  async #acquire(): Promise<void> {
    if (this.#inflight < this.#maxInflight) {
      this.#inflight++
      return
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve))
    this.#inflight++
  }

  #release(): void {
    this.#inflight--
    const next = this.#waiting.shift()
    if (next) next()
  }

  #verify(reply: Buffer, query: Buffer, queryQEnd: number): boolean {
    if (reply.length < HEADER_BYTES || reply[0] !== query[0] || reply[1] !== query[1] || !(reply[2]! & (Flag.QR >> 8))) return false
    if ((reply[2]! & (Flag.OPCODE >> 8)) !== 0 || reply.readUInt16BE(4) !== 1) return false
    return sameQuestion(reply, questionEndOf(reply), query, queryQEnd)
  }

  /**
   * One exchange with a server: the promise, the timeout and the close-on-shutdown bookkeeping
   * shared by UDP and TCP. `start` opens the transport and returns its teardown.
   */
  #exchange(transport: 'UDP' | 'TCP', start: (finish: (o: Outcome) => void) => () => void): Promise<Outcome> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve({ ok: false, timeout: false, why: 'closed' })
      let done = false
      const t: { teardown?: () => void } = {}
      const handle = { close: () => finish({ ok: false, timeout: false, why: 'closed' }) }
      const finish = (o: Outcome) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.#open.delete(handle)
        t.teardown?.()
        resolve(o)
      }
      const timer = setTimeout(() => finish({ ok: false, timeout: true, why: `no ${transport} answer within ${this.timeoutMs} ms` }), this.timeoutMs)
      this.#open.add(handle)
      t.teardown = start(finish)
      if (done) t.teardown()
    })
  }

  #udp(server: UpstreamServer, question: Buffer, opts: QueryOptions): Promise<Outcome> {
    return this.#exchange('UDP', (finish) => {
      const query = buildQuery(randomId(), question, { cd: opts.cd ?? false, edns: true })
      const qEnd = HEADER_BYTES + question.length
      const sock: UdpSocket = createSocket({ type: isIPv6(server.host.split('%')[0]!) ? 'udp6' : 'udp4', lookup: ipOnlyLookup as unknown as SocketOptions['lookup'] })
      let live = true
      sock.on('error', (err) => finish({ ok: false, timeout: false, why: `UDP: ${err.message}` }))
      sock.on('message', (msg) => {
        if (this.#verify(msg, query, qEnd)) finish({ ok: true, reply: msg })
        else this.mismatched++
      })
      // dgram passes a failed connect (a host ipOnlyLookup refuses) to this callback, not to 'error'.
      const connected = ((err?: Error | null) => {
        if (!live) return
        if (err) {
          finish({ ok: false, timeout: false, why: `UDP: ${err.message}` })
          return
        }
        sock.send(query, (err) => {
          if (err) finish({ ok: false, timeout: false, why: `UDP send: ${err.message}` })
        })
      }) as () => void
      sock.connect(server.port, server.host, connected)
      return () => {
        live = false
        try {
          sock.close()
        } catch {
          // already closed
        }
      }
    })
  }

  #tcp(server: UpstreamServer, question: Buffer, opts: QueryOptions): Promise<Outcome> {
    return this.#exchange('TCP', (finish) => {
      const query = buildQuery(randomId(), question, { cd: opts.cd ?? false, edns: true })
      const qEnd = HEADER_BYTES + question.length
      const frame = Buffer.allocUnsafe(query.length + 2)
      frame.writeUInt16BE(query.length, 0)
      query.copy(frame, 2)
      const sock = tcpConnect({ host: server.host, port: server.port, lookup: ipOnlyLookup })
      let buf: Buffer = Buffer.alloc(0)
      sock.setNoDelay(true)
      sock.on('error', (err) => finish({ ok: false, timeout: false, why: `TCP: ${err.message}` }))
      sock.on('close', () => finish({ ok: false, timeout: false, why: 'TCP connection closed without an answer' }))
      sock.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0)
          if (buf.length < 2 + len) break
          const msg = Buffer.from(buf.subarray(2, 2 + len))
          buf = buf.subarray(2 + len)
          if (this.#verify(msg, query, qEnd)) return finish({ ok: true, reply: msg })
          this.mismatched++
        }
        if (buf.length > 2 + 65535) finish({ ok: false, timeout: false, why: 'TCP framing error' })
      })
      sock.write(frame)
      return () => sock.destroy()
    })
  }
}

function fmt(s: UpstreamServer): string {
  return isIPv6(s.host.split('%')[0]!) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`
}
