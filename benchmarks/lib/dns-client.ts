/**
 * One DNS query over UDP to 127.0.0.1:<port>, for readiness and sanity checks
 * (the measurements themselves use dnsperf).
 */
import dgram from 'node:dgram'
import dnsPacket from 'dns-packet'

export interface DnsReply {
  rcode: string
  addresses: string[]
}

export function queryA(port: number, name: string, timeoutMs = 1000): Promise<DnsReply> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4')
    const id = Math.floor(Math.random() * 65535)
    const timer = setTimeout(() => {
      sock.close()
      reject(new Error(`no DNS answer from 127.0.0.1:${port} for ${name} within ${timeoutMs} ms`))
    }, timeoutMs)
    sock.on('message', (msg) => {
      let p: dnsPacket.DecodedPacket
      try {
        p = dnsPacket.decode(msg)
      } catch {
        return
      }
      if (p.id !== id) return
      clearTimeout(timer)
      sock.close()
      const rcode = (p as unknown as { rcode?: string }).rcode ?? 'NOERROR'
      const addresses = (p.answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : []))
      resolve({ rcode, addresses })
    })
    sock.on('error', (e) => {
      clearTimeout(timer)
      sock.close()
      reject(e)
    })
    const q = dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'A', name, class: 'IN' }],
    })
    sock.send(q, port, '127.0.0.1')
  })
}
