/**
 * A tiny authoritative DNS server for the benchmarks, on 127.0.0.1 (UDP and TCP).
 *
 * `bench.test` and every `*.bench.test` answer A 127.0.0.1 (TTL 3600); AAAA and other
 * types under the zone answer NOERROR with no records (NODATA), anything else NXDOMAIN, both
 * with the zone's SOA (minimum 3600) so that negative answers are cacheable (RFC 2308).
 * It is the common upstream of the sidecar's forwarder and of the forwarding dnsmasq,
 * so both are measured on the same answers. It counts the queries it receives, which
 * shows whether the forwarder under test served from its cache.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import dnsPacket from 'dns-packet'

export const ZONE = 'bench.test'
export const ANSWER_TTL = 3600
const SOA: dnsPacket.Answer = {
  type: 'SOA',
  name: ZONE,
  class: 'IN',
  ttl: ANSWER_TTL,
  data: {
    mname: `ns.${ZONE}`,
    rname: `hostmaster.${ZONE}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: ANSWER_TTL,
  },
}
const RCODE_FORMERR = 1
const RCODE_NXDOMAIN = 3

export interface AuthDns {
  readonly port: number
  /** Queries received so far (UDP + TCP). */
  queries(): number
  close(): Promise<void>
}

function inZone(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '')
  return n === ZONE || n.endsWith(`.${ZONE}`)
}

/** Builds the answer to one query packet, or null if it cannot be parsed. */
export function answer(query: Buffer): Buffer | null {
  let q: dnsPacket.Packet
  try {
    q = dnsPacket.decode(query)
  } catch {
    return null
  }
  const question = q.questions?.[0]
  const base = {
    type: 'response' as const,
    id: q.id ?? 0,
    flags:
      dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED),
    questions: q.questions ?? [],
  }
  // dns-packet encodes the rcode only through the low 4 bits of `flags`.
  if (!question) return dnsPacket.encode({ ...base, flags: base.flags | RCODE_FORMERR })
  if (!inZone(question.name)) return dnsPacket.encode({ ...base, flags: base.flags | RCODE_NXDOMAIN, authorities: [SOA] })
  if (question.type === 'A') {
    return dnsPacket.encode({
      ...base,
      answers: [{ type: 'A', name: question.name, class: 'IN', ttl: ANSWER_TTL, data: '127.0.0.1' }],
    })
  }
  // NODATA with the zone's SOA, as a real authority answers: resolvers cache it (RFC 2308).
  return dnsPacket.encode({ ...base, authorities: [SOA] })
}

/** Starts the server on 127.0.0.1:<port> (the same port for UDP and TCP). */
export async function startAuthDns(port: number): Promise<AuthDns> {
  let count = 0
  const udp = dgram.createSocket('udp4')
  udp.on('message', (msg, rinfo) => {
    count++
    const out = answer(msg)
    if (out) udp.send(out, rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject)
    udp.bind(port, '127.0.0.1', () => {
      udp.off('error', reject)
      resolve()
    })
  })

  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0)
    sock.on('error', () => sock.destroy())
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) break
        const msg = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        count++
        const out = answer(msg)
        if (!out) {
          sock.destroy()
          return
        }
        const frame = Buffer.alloc(2 + out.length)
        frame.writeUInt16BE(out.length, 0)
        out.copy(frame, 2)
        sock.write(frame)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject)
    tcp.listen(port, '127.0.0.1', () => {
      tcp.off('error', reject)
      resolve()
    })
  })

  return {
    port,
    queries: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        udp.close()
        tcp.close(() => resolve())
      }),
  }
}
