/**
 * Limits that hold under a storm (egress/connector.ts, egress/listener-set.ts): 5,000 concurrent
 * CONNECTs to distinct names with a cold, slow upstream resolver never open more than
 * `max_tunnels` tunnels (the slot is taken before the resolver is awaited), every refusal is a
 * 429 and a `rate_limited` signal, and the limit is reached (the tunnels do open). Connections
 * past `max_connections` are closed at accept, each with a `rate_limited` signal. Real sockets on
 * 127.0.0.1: the composed EgressSidecar, our resolver over a test DNS server that answers late.
 */
import { loopbackSidecarConfig } from '../helpers/egress-context.js'
import t from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { silentLogger } from '../../core/log.js'
import { EgressSidecar } from '../../sidecar/egress.js'
import { MemorySink } from '../../signals/sink.js'
import { TestDnsServer, type TestRecord } from '../helpers/dns-server.js'
import { close, closed, listen, rawExchange } from '../helpers/net.js'

type Tap = { teardown(fn: () => unknown): void }

/** A TCP server that holds connections open and records the most open at once. */
async function holdServer(t: Tap) {
  const sockets = new Set<Socket>()
  let max = 0
  const server = createServer((s) => {
    sockets.add(s)
    max = Math.max(max, sockets.size)
    s.on('error', () => s.destroy())
    s.on('close', () => sockets.delete(s))
  })
  const port = await listen(server)
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return close(server)
  })
  return { port, max: () => max }
}

async function start(t: Tap, limits: Record<string, number>, names: number, dnsDelayMs = 0) {
  const hold = await holdServer(t)
  const recs: Record<string, TestRecord[]> = {}
  for (let i = 0; i < names; i++) recs[`s${i}.storm.test`] = [{ type: 'A', data: '127.0.0.1' }]
  const dns = new TestDnsServer({ records: recs })
  dns.delayMs = dnsDelayMs
  await dns.listen()
  t.teardown(() => dns.close())
  const sink = new MemorySink()
  const config = loopbackSidecarConfig(dns.address, { sidecar: { limits: { dns_timeout_ms: 10_000, ...limits } }, capabilities: { network: { loopback_allowed: true, subdomain_budget: { max_names: 100_000 }, egress: [{ host: '*.storm.test', port: hold.port, protocol: 'tcp' }] } } })
  const sidecar = new EgressSidecar({ provider: 'p', config, sink, log: silentLogger() })
  const ports = await sidecar.start()
  t.teardown(() => sidecar.stop())
  return { hold, dns, sink, sidecar, ports }
}

/**
 * Opens one CONNECT and resolves with its status, or with the client socket's error code when
 * it failed before an answer (`closed` if it just closed); the socket stays open.
 */
function connectOnce(port: number, target: string, keep: Socket[]): Promise<number | string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    keep.push(s)
    let buf = ''
    s.setEncoding('latin1')
    s.on('data', (d: string) => {
      buf += d
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf)
      if (m) resolve(Number(m[1]))
    })
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
    s.on('close', () => resolve('closed'))
    s.write(`CONNECT ${target} HTTP/1.1\r\n\r\n`)
  })
}

t.test('5,000 concurrent CONNECTs, cold and slow DNS: never more than max_tunnels open', async (t) => {
  const MAX = 256
  const N = 5000
  const s = await start(t, { max_tunnels: MAX, max_connections: 10_000 }, N, 300)
  let peak = 0
  const probe = setInterval(() => (peak = Math.max(peak, s.sidecar.connector.active)), 2)
  const sockets: Socket[] = []
  t.teardown(() => {
    clearInterval(probe)
    for (const x of sockets) x.destroy()
  })
  // All 5,000 at once: every attempt after the first MAX arrives while those still wait on DNS.
  const statuses = await Promise.all(Array.from({ length: N }, (_, i) => connectOnce(s.ports.proxy, `s${i}.storm.test:${s.hold.port}`, sockets)))
  clearInterval(probe)
  const count = (st: number | string) => statuses.filter((x) => x === st).length
  const dist = JSON.stringify(Object.fromEntries([...new Set(statuses)].map((x) => [x, count(x)])))
  t.equal(count(200), MAX, `exactly max_tunnels (${MAX}) tunnels opened: the limit is reached, not undershot (${dist})`)
  // The sidecar answers every CONNECT that reaches it. A host whose net.core.somaxconn is below
  // the listeners' backlog may still reset a few connects in the kernel: those are not refusals.
  const clientSide = statuses.filter((x) => typeof x === 'string').length
  t.equal(count(429) + clientSide, N - MAX, `every other CONNECT: 429 (${dist})`)
  t.ok(clientSide <= N / 20, `client-side connect failures stay rare (${clientSide})`)
  t.ok(s.hold.max() <= MAX, `upstream saw at most ${MAX} connections at once (saw ${s.hold.max()})`)
  t.ok(peak <= MAX, `connector slots never above ${MAX} (peak ${peak})`)
  t.equal(s.sidecar.connector.active, MAX, 'the open tunnels hold their slots')
  const limited = s.sink.signals.filter((x) => x.type === 'rate_limited')
  t.equal(limited.length, count(429), 'one rate_limited signal per 429')
  t.match(limited[0], { kind: 'enforcement', action: 'blocked', rule: 'limits.max_tunnels', destination: { port: s.hold.port }, details: { limit: MAX, via: 'connect' } })
  t.ok(s.dns.queries.length <= 2 * MAX, `only slot holders resolved (${s.dns.queries.length} upstream questions)`)
  // Slots come back when tunnels close.
  for (const x of sockets) x.destroy()
  const deadline = Date.now() + 5000
  while (s.sidecar.connector.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.equal(s.sidecar.connector.active, 0, 'all slots released after the clients closed')
  const again = await rawExchange(s.ports.proxy, `CONNECT s1.storm.test:${s.hold.port} HTTP/1.1\r\n\r\n`)
  again.socket.destroy()
  t.equal(again.status, 200, 'and a new tunnel opens')
})

t.test('refusals before the dial give their slot back: denials, DNS failures', async (t) => {
  const s = await start(t, { max_tunnels: 2 }, 4)
  for (let i = 0; i < 5; i++) {
    const d = await rawExchange(s.ports.proxy, `CONNECT evil.example:${s.hold.port} HTTP/1.1\r\n\r\n`)
    d.socket.destroy()
    t.equal(d.status, 403)
    const nx = await rawExchange(s.ports.proxy, `CONNECT nx${i}.storm.test:${s.hold.port} HTTP/1.1\r\n\r\n`)
    nx.socket.destroy()
    t.equal(nx.status, 502, 'NXDOMAIN → 502')
  }
  t.equal(s.sidecar.connector.active, 0, 'no slot leaked')
  const a = await rawExchange(s.ports.proxy, `CONNECT s0.storm.test:${s.hold.port} HTTP/1.1\r\n\r\n`)
  const b = await rawExchange(s.ports.proxy, `CONNECT s1.storm.test:${s.hold.port} HTTP/1.1\r\n\r\n`)
  const c = await rawExchange(s.ports.proxy, `CONNECT s2.storm.test:${s.hold.port} HTTP/1.1\r\n\r\n`)
  t.same([a.status, b.status, c.status], [200, 200, 429], 'the third is over max_tunnels 2')
  t.equal(c.headers['retry-after'], '1')
  for (const x of [a, b, c]) x.socket.destroy()
})

t.test('connections past max_connections are closed at accept, each with a rate_limited signal', async (t) => {
  const s = await start(t, { max_connections: 10, header_timeout_ms: 30_000 }, 1)
  const idle: Socket[] = []
  t.teardown(() => idle.forEach((x) => x.destroy()))
  const open = (): Promise<Socket> => new Promise((resolve) => {
    const x = connect(s.ports.proxy, '127.0.0.1', () => resolve(x))
    x.on('error', () => {})
    idle.push(x)
  })
  for (let i = 0; i < 10; i++) await open()
  await new Promise((r) => setTimeout(r, 100))
  const extra = await Promise.all(Array.from({ length: 5 }, open))
  await Promise.all(extra.map((x) => closed(x)))
  t.equal(extra.filter((x) => x.destroyed).length, 5, 'the 5 connections past the limit were closed by the proxy')
  t.equal(idle.slice(0, 10).filter((x) => !x.destroyed).length, 10, 'control: the 10 within the limit stay open')
  const limited = s.sink.signals.filter((x) => x.type === 'rate_limited')
  t.equal(limited.length, 5, 'one signal per connection closed at accept')
  t.match(limited[0], { kind: 'enforcement', action: 'blocked', rule: 'limits.max_connections', details: { limit: 10, listener: 'forward_proxy', port: s.ports.proxy, client: '127.0.0.1' } })
  // Control: the held connections still work, and room comes back when they close.
  for (const x of idle.slice(0, 10)) x.destroy()
  await new Promise((r) => setTimeout(r, 100))
  const ok = await rawExchange(s.ports.proxy, `CONNECT s0.storm.test:${s.hold.port} HTTP/1.1\r\n\r\n`)
  ok.socket.destroy()
  t.equal(ok.status, 200)
  t.equal(s.sink.signals.filter((x) => x.type === 'rate_limited').length, 5, 'no signal for accepted connections')
})
