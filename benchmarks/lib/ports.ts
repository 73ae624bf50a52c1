/**
 * Free loopback ports. A port is handed out once per run and is free for both TCP and
 * UDP at the time it is picked (the DNS listeners need both).
 */
import dgram from 'node:dgram'
import net from 'node:net'

const handedOut = new Set<number>()

function tcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.once('error', () => {
      s.close()
      resolve(false)
    })
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** A port on 127.0.0.1 free for TCP and UDP, never returned twice in one run. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await tcpPort()
    if (handedOut.has(p)) continue
    if (!(await udpFree(p))) continue
    handedOut.add(p)
    return p
  }
  throw new Error('could not find a free loopback port')
}
