/**
 * A small authoritative DNS server for tests: dns-packet over UDP and TCP on 127.0.0.1 (one
 * port, chosen by the kernel). Answers from a table of names → records (A, AAAA, CNAME, TXT,
 * HTTPS/SVCB as raw rdata), following CNAMEs inside the table; unknown names get NXDOMAIN and
 * names without the asked type NODATA, both with an SOA (RFC 2308) whose TTL/MINIMUM are
 * settable. Switches: `truncateUdp` (TC set, no records, on UDP), `delayMs`, `silent` (never
 * answers), `spoof` (first sends a forged reply with a wrong id or question, then the real one),
 * `rcodes` (answer a name with SERVFAIL/REFUSED). Every query is logged in `queries`.
 *
 * Also here: raw query helpers for tests of any DNS listener (`makeQuery`, `udpQuery`,
 * `udpExchange`, `tcpExchange`: 127.0.0.1 only), and `dnsRig`, a DnsForwarder wired to a
 * TestDnsServer with a MemorySink, a test clock and its metrics.
 */
import type { BaselineRecorder } from '../../profiles/baseline/recorder.js'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, createServer, type Server, type Socket } from 'node:net'
import * as dnsPacket from 'dns-packet'
import { sidecarSchema, type SidecarConfig } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { createMetrics, type HangarMetrics } from '../../core/metrics.js'
import { DnsCache } from '../../egress/dns/cache.js'
import { DnsForwarder } from '../../egress/dns/forwarder.js'
import { DnsServer } from '../../egress/dns/server.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import { EgressSignals } from '../../egress/signals.js'
import type { EgressPolicy } from '../../policy/egress-types.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import { MemorySink } from '../../signals/sink.js'
import type { Signal } from '../../signals/types.js'

/** One record of the test server's table; HTTPS/SVCB carry raw RDATA. TTL in seconds (default `defaultTtl`). */
export type TestRecord =
  | { type: 'A' | 'AAAA' | 'CNAME' | 'TXT'; data: string; ttl?: number }
  | { type: 'HTTPS' | 'SVCB'; data: Buffer; ttl?: number }

/** One query the test server received. */
export interface LoggedQuery {
  name: string
  type: string
  transport: 'udp' | 'tcp'
  id: number
  /** EDNS UDP size of the query, 0 without OPT. */
  edns: number
}

/** Options of {@link TestDnsServer}. */
export interface TestDnsServerOptions {
  records?: Record<string, TestRecord[]>
  /** TTL of record without one. Default 60. */
  defaultTtl?: number
  /** SOA TTL and MINIMUM of negative answers. Defaults 300 / 60. */
  soaTtl?: number
  soaMinimum?: number
  /** Address to bind (UDP and TCP). Default 127.0.0.1. */
  host?: string
}

const TYPE_CODE = { HTTPS: 65, SVCB: 64 } as const

/** The authoritative test DNS server (see the file comment). */
export class TestDnsServer {
  readonly records = new Map<string, TestRecord[]>()
  readonly queries: LoggedQuery[] = []
  /** UDP answers carry only the question, with TC set. */
  truncateUdp = false
  /** Wait this long before answering, ms. */
  delayMs = 0
  /** Never answer. */
  silent = false
  /** Send a forged answer (address 6.6.6.6) first: with a wrong id, or a different question. */
  spoof: 'wrong-id' | 'wrong-question' | null = null
  /** Names answered with an error rcode. */
  readonly rcodes = new Map<string, 'SERVFAIL' | 'REFUSED'>()
  defaultTtl: number
  soaTtl: number
  soaMinimum: number
  #udp: UdpSocket | null = null
  #tcp: Server | null = null
  readonly #conns = new Set<Socket>()
  #port = 0
  readonly #host: string

  constructor(opts: TestDnsServerOptions = {}) {
    for (const [name, rrs] of Object.entries(opts.records ?? {})) this.set(name, rrs)
    this.defaultTtl = opts.defaultTtl ?? 60
    this.soaTtl = opts.soaTtl ?? 300
    this.soaMinimum = opts.soaMinimum ?? 60
    this.#host = opts.host ?? '127.0.0.1'
  }

  /** Replaces the records of a name (case-insensitive). */
  set(name: string, records: TestRecord[]): void {
    this.records.set(name.toLowerCase().replace(/\.$/, ''), records)
  }

  get port(): number {
    return this.#port
  }

  /** `<host>:<port>`, the form of `upstream_dns`. */
  get address(): string {
    return `${this.#host}:${this.#port}`
  }

  /** Queries for one name (case-insensitive). */
  queriesFor(name: string): LoggedQuery[] {
    return this.queries.filter((q) => q.name.toLowerCase() === name.toLowerCase())
  }

  async listen(): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const udp = createSocket('udp4')
      const port = await new Promise<number>((resolve, reject) => {
        udp.once('error', reject)
        udp.bind(0, this.#host, () => resolve(udp.address().port))
      })
      const tcp = createServer((s) => this.#onConnection(s))
      const ok = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false))
        tcp.listen({ port, host: this.#host, exclusive: true }, () => resolve(true))
      })
      if (!ok) {
        udp.close()
        continue
      }
      udp.on('message', (msg, rinfo) => {
        void this.#answer(msg, 'udp', (b) => udp.send(b, rinfo.port, rinfo.address))
      })
      udp.on('error', () => {})
      this.#udp = udp
      this.#tcp = tcp
      this.#port = port
      return port
    }
    throw new Error('test DNS server: no free port for UDP + TCP')
  }

  async close(): Promise<void> {
    for (const s of this.#conns) s.destroy()
    const udp = this.#udp
    const tcp = this.#tcp
    this.#udp = null
    this.#tcp = null
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ])
  }

  #onConnection(s: Socket): void {
    this.#conns.add(s)
    s.on('close', () => this.#conns.delete(s))
    s.on('error', () => s.destroy())
    let buf = Buffer.alloc(0)
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < len + 2) break
        const msg = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        void this.#answer(msg, 'tcp', (b) => {
          if (s.destroyed) return
          const frame = Buffer.alloc(b.length + 2)
          frame.writeUInt16BE(b.length, 0)
          b.copy(frame, 2)
          s.write(frame)
        })
      }
    })
  }

  async #answer(msg: Buffer, transport: 'udp' | 'tcp', send: (b: Buffer) => void): Promise<void> {
    let q: dnsPacket.DecodedPacket
    try {
      q = dnsPacket.decode(msg)
    } catch {
      return
    }
    const question = q.questions?.[0]
    if (!question) return
    const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined
    this.queries.push({ name: question.name, type: question.type, transport, id: q.id ?? 0, edns: opt ? opt.udpPayloadSize : 0 })
    if (this.silent) return
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs))
    if (this.spoof) {
      const forged: dnsPacket.Packet = {
        id: this.spoof === 'wrong-id' ? ((q.id ?? 0) + 1) & 0xffff : q.id ?? 0,
        type: 'response',
        flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED,
        questions: [this.spoof === 'wrong-question' ? { ...question, name: 'forged.' + question.name } : question],
        answers: [{ name: question.name, type: 'A', ttl: 60, data: '6.6.6.6' }],
      }
      send(dnsPacket.encode(forged))
      await new Promise((r) => setTimeout(r, 20))
    }
    const lname = question.name.toLowerCase()
    const rcode = this.rcodes.get(lname)
    const base = { id: q.id ?? 0, type: 'response' as const, questions: [question] }
    const rdFlags = dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED)
    if (rcode) {
      send(dnsPacket.encode({ ...base, flags: rdFlags | (rcode === 'SERVFAIL' ? 2 : 5) }))
      return
    }
    if (transport === 'udp' && this.truncateUdp) {
      send(dnsPacket.encode({ ...base, flags: rdFlags | dnsPacket.TRUNCATED_RESPONSE }))
      return
    }
    const answers: dnsPacket.Answer[] = []
    let name = question.name
    let found = true
    for (let hops = 0; hops < 10; hops++) {
      const rrs = this.records.get(name.toLowerCase())
      if (!rrs) {
        found = false
        break
      }
      const want = question.type as string
      const match = rrs.filter((r) => want === 'ANY' || r.type === want || (want.startsWith('UNKNOWN_') && TYPE_CODE[r.type as keyof typeof TYPE_CODE] === Number(want.slice(8))))
      if (match.length > 0) {
        for (const r of match) answers.push(this.#rr(name, r))
        break
      }
      const cname = rrs.find((r) => r.type === 'CNAME')
      if (!cname) break
      answers.push(this.#rr(name, cname))
      name = cname.data as string
    }
    const soa: dnsPacket.Answer = {
      name: 'test', type: 'SOA', ttl: this.soaTtl,
      data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: this.soaMinimum },
    }
    const negative = !found || answers.length === 0 || answers[answers.length - 1]!.type === 'CNAME'
    send(dnsPacket.encode({
      ...base,
      flags: rdFlags | (found ? 0 : 3),
      answers,
      authorities: negative ? [soa] : [],
      additionals: opt ? [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
    }))
  }

  #rr(name: string, r: TestRecord): dnsPacket.Answer {
    const ttl = r.ttl ?? this.defaultTtl
    if (r.type === 'HTTPS' || r.type === 'SVCB') {
      return { name, type: `UNKNOWN_${TYPE_CODE[r.type]}` as 'NULL', ttl, data: r.data } as dnsPacket.Answer
    }
    return { name, type: r.type, ttl, data: r.data } as dnsPacket.Answer
  }
}

/** Encodes a query (RD set); `edns` adds an OPT record with that UDP size. */
export function makeQuery(name: string, type: string = 'A', opts: { id?: number; edns?: number } = {}): Buffer {
  return dnsPacket.encode({
    id: opts.id ?? Math.floor(Math.random() * 65536),
    type: 'query',
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType }],
    ...(opts.edns && { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }),
  })
}

/**
 * Sends raw queries over UDP to 127.0.0.1:port and resolves with the replies by id (those that
 * came within `timeoutMs`). Up to 200 queries share one socket (each with a large receive
 * buffer), so a burst of replies is not dropped by the test's own kernel buffers.
 */
export async function udpExchange(port: number, queries: Buffer[], timeoutMs = 3000): Promise<Map<number, Buffer>> {
  const groups: Buffer[][] = []
  for (let i = 0; i < queries.length; i += 200) groups.push(queries.slice(i, i + 200))
  const maps = await Promise.all(groups.map((g) => udpGroup(port, g, timeoutMs)))
  return new Map(maps.flatMap((m) => [...m]))
}

function udpGroup(port: number, queries: Buffer[], timeoutMs: number): Promise<Map<number, Buffer>> {
  return new Promise((resolve) => {
    const sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 })
    const replies = new Map<number, Buffer>()
    const want = new Set(queries.filter((q) => q.length >= 2).map((q) => q.readUInt16BE(0)))
    const finish = () => {
      clearTimeout(timer)
      sock.close()
      resolve(replies)
    }
    const timer = setTimeout(finish, timeoutMs)
    sock.on('message', (m) => {
      if (m.length < 2) return
      replies.set(m.readUInt16BE(0), m)
      if ([...want].every((id) => replies.has(id))) finish()
    })
    sock.bind(0, '127.0.0.1', () => {
      for (const q of queries) sock.send(q, port, '127.0.0.1')
    })
  })
}

/** One UDP query → the reply (rejects after `timeoutMs`). */
export async function udpQuery(port: number, query: Buffer, timeoutMs = 3000): Promise<Buffer> {
  const r = await udpExchange(port, [query], timeoutMs)
  const reply = r.get(query.readUInt16BE(0))
  if (!reply) throw new Error(`no UDP reply within ${timeoutMs} ms`)
  return reply
}

/**
 * Sends raw queries over one TCP connection (RFC 7766 framing, all written at once: pipelined)
 * and collects `expect` replies (default: one per query). `raw` bytes are written as they are.
 */
export function tcpExchange(port: number, queries: Buffer[], opts: { expect?: number; timeoutMs?: number; raw?: Buffer } = {}): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const expect = opts.expect ?? queries.length
    const replies: Buffer[] = []
    const sock = connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`only ${replies.length}/${expect} TCP replies within ${opts.timeoutMs ?? 3000} ms`))
    }, opts.timeoutMs ?? 3000)
    sock.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0)
        replies.push(Buffer.from(buf.subarray(2, 2 + len)))
        buf = buf.subarray(2 + len)
      }
      if (replies.length >= expect) {
        clearTimeout(timer)
        sock.destroy()
        resolve(replies)
      }
    })
    const frames = queries.map((q) => {
      const f = Buffer.alloc(q.length + 2)
      f.writeUInt16BE(q.length, 0)
      q.copy(f, 2)
      return f
    })
    sock.write(Buffer.concat([...frames, ...(opts.raw ? [opts.raw] : [])]))
  })
}

/** A forwarder wired to a {@link TestDnsServer} upstream, with everything a test inspects. */
export interface DnsRig {
  upstream: TestDnsServer
  forwarder: DnsForwarder
  sink: MemorySink
  enforcement: QuarantineSwitch
  metrics: HangarMetrics
  policy: EgressPolicy
  sidecar: SidecarConfig
  /** Test clock of the forwarder's cache, ms; advance it to age entries. */
  clock: { now: number }
  /** Signals of one type, in order. */
  of(type: string): Signal[]
  /** Sends a query through `forwarder.handle` and decodes the reply. */
  ask(name: string, type?: string, opts?: { edns?: number; id?: number }): Promise<dnsPacket.DecodedPacket>
  close(): Promise<void>
}

/** Options of {@link dnsRig}. */
export interface DnsRigOptions {
  /** The `capabilities` block (validated with capabilitiesSchema). */
  capabilities: Record<string, unknown>
  /** `sidecar` overrides (validated with sidecarSchema); upstream_dns defaults to the test server. */
  sidecar?: Record<string, unknown>
  records?: Record<string, TestRecord[]>
  /** Use the wall clock instead of the test clock. */
  realClock?: boolean
  /** A baseline recorder fed by the rig's EgressSignals and forwarder. */
  baseline?: BaselineRecorder
}

/** Builds a {@link DnsRig}. Call `close()` in teardown. */
export async function dnsRig(opts: DnsRigOptions): Promise<DnsRig> {
  const upstream = new TestDnsServer({ records: opts.records ?? {} })
  await upstream.listen()
  const caps = capabilitiesSchema.parse(opts.capabilities)
  const policy = compilePolicy('test', caps)
  const metrics = createMetrics({ defaultMetrics: false })
  const enforcement = new QuarantineSwitch()
  const sink = new MemorySink()
  const log = silentLogger()
  const signals = new EgressSignals({ provider: 'test', sidecar_id: 'test-1' }, policy, sink, metrics, enforcement, log, 0, opts.baseline)
  const sidecar = sidecarSchema.parse({ upstream_dns: [upstream.address], ...opts.sidecar })
  const clock = { now: 1_000_000 }
  const cache = new DnsCache({
    maxEntries: sidecar.limits.dns_cache_entries,
    maxTtlS: sidecar.limits.dns_cache_max_ttl_s,
    ...(!opts.realClock && { clock: () => clock.now }),
  })
  const forwarder = new DnsForwarder({ ctx: { policy, enforcement, signals, metrics, log }, sidecar, cache })
  return {
    upstream, forwarder, sink, enforcement, metrics, policy, sidecar, clock,
    of: (type) => sink.signals.filter((x) => x.type === type),
    async ask(name, type = 'A', o = {}) {
      const reply = await forwarder.handle(makeQuery(name, type, o), '127.0.0.1', 'udp')
      if (!reply) throw new Error('no reply')
      return dnsPacket.decode(reply)
    },
    async close() {
      forwarder.close()
      await upstream.close()
    },
  }
}

/** Response code of a decoded reply: NOERROR, NXDOMAIN, … */
export function rcodeOf(p: dnsPacket.DecodedPacket): string {
  return (p as unknown as { rcode: string }).rcode
}

/** The data of a reply's answers of one type. */
export function answersOf(p: dnsPacket.DecodedPacket, type: string): string[] {
  return (p.answers ?? []).filter((a) => a.type === type).map((a) => String((a as dnsPacket.StringAnswer).data))
}

/**
 * A DnsRig in passthrough mode (`opts.sidecar` merged over it) behind a real DnsServer on
 * 127.0.0.1; both closed at teardown. Resolves with the rig and the server's port.
 */
export async function serveDnsRig(t: { teardown(fn: () => unknown): void }, opts: Partial<DnsRigOptions> = {}): Promise<{ rig: DnsRig; port: number }> {
  const rig = await dnsRig({ ...opts, sidecar: { dns_mode: 'passthrough', ...opts.sidecar } } as DnsRigOptions)
  const server = new DnsServer(rig.forwarder, { log: silentLogger() })
  const port = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    await rig.close()
  })
  return { rig, port }
}
