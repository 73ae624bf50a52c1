/**
 * Transparent tcp forwards (egress/tcp-forward.ts) against local echo / banner servers on
 * 127.0.0.1. Rule ports are the upstream servers' real ports; the forwards listen on free ports
 * through `portOverride` (the upstream port stays the rule's).
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import t from 'tap'
import { ERROR_CODES } from '../../core/errors.js'
import { TcpForwards } from '../../egress/tcp-forward.js'
import { makeEgressContext, type TestEgress } from '../helpers/egress-context.js'
import { close, closed, echoServer, listen, roundTrip, staticResolver } from '../helpers/net.js'

type Tap = { teardown(fn: () => unknown): void }

let echo: Awaited<ReturnType<typeof echoServer>>
let banner: { port: number; server: Server }
let deadPort: number

t.before(async () => {
  echo = await echoServer()
  const bs = createServer((s) => {
    s.on('error', () => {})
    s.end('BANNER server-speaks-first\r\n')
  })
  banner = { port: await listen(bs), server: bs }
  const tmp = createServer()
  deadPort = await listen(tmp)
  await close(tmp) // a port nothing listens on (loopback: refused at once)
})
t.teardown(async () => {
  await close(echo.server)
  await close(banner.server)
})

const PRIVATE_PORT = 15432

interface Harness extends TestEgress {
  forwards: TcpForwards
  /** rule port → listen port */
  ports: Map<number, number>
}

async function setup(t: Tap, opts: { limits?: Record<string, number>; delayMs?: number } = {}): Promise<Harness> {
  const e = makeEgressContext({
    capabilities: {
      network: {
        loopback_allowed: true,
        egress: [
          { host: 'db.test.example', port: echo.port, protocol: 'tcp' },
          { host: 'banner.test.example', port: banner.port, protocol: 'tcp' },
          { host: 'private-db.test.example', port: PRIVATE_PORT, protocol: 'tcp' },
          { host: 'down.test.example', port: deadPort, protocol: 'tcp' },
          { host: 'api.test.example', port: 443, protocol: 'https' }, // not a forward
          { host: '*.any.test.example', port: 6379, protocol: 'tcp' }, // glob: not a forward
        ],
      },
    },
    limits: opts.limits ?? {},
    resolver: staticResolver({
      'db.test.example': ['127.0.0.1'],
      'banner.test.example': ['127.0.0.1'],
      'private-db.test.example': ['10.0.0.1'],
      'down.test.example': ['127.0.0.1'],
    }, opts.delayMs ? { delayMs: opts.delayMs } : {}),
  })
  const overrides = new Map([[echo.port, 0], [banner.port, 0], [PRIVATE_PORT, 0], [deadPort, 0]])
  const forwards = new TcpForwards(e.connector, { host: '127.0.0.1', portOverride: overrides })
  const ports = await forwards.listen()
  t.teardown(() => forwards.close())
  return { ...e, forwards, ports }
}

function dialForward(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.on('error', reject)
  })
}

t.test('one forward per exact-host tcp rule, listening on the overridden port', async (t) => {
  const h = await setup(t)
  t.same([...h.ports.keys()].sort(), [echo.port, banner.port, PRIVATE_PORT, deadPort].sort(), 'https and glob rules are not forwards')
  for (const [rulePort, listenPort] of h.ports) t.ok(listenPort > 0 && listenPort !== rulePort, `${rulePort} → ${listenPort}`)
  t.match(h.forwards.forwards.find((f) => f.port === echo.port), { rule: 'egress[0]', host: 'db.test.example', port: echo.port })
})

t.test('bytes echo through the forward; signals carry the rule port and byte counts', async (t) => {
  const h = await setup(t)
  const s = await dialForward(h.ports.get(echo.port)!)
  t.equal((await roundTrip(s, 'hello\n', 6)).toString(), 'hello\n')
  const big = Buffer.alloc(1 << 20, 0x5a)
  const back = await roundTrip(s, big, big.length, 10_000)
  t.equal(back.length, big.length)
  t.ok(back.equals(big), '1 MiB echoed intact')
  s.end()
  await closed(s)
  const c = await h.sink.waitFor((x) => x.type === 'egress_closed')
  t.match(c, { rule: 'egress[0]', destination: { host: 'db.test.example', ip: '127.0.0.1', port: echo.port, protocol: 'tcp' }, details: { via: 'tcp_forward', bytes_up: 6 + big.length, bytes_down: 6 + big.length } })
  t.match(h.of('egress_allowed')[0], { destination: { host: 'db.test.example', port: echo.port, protocol: 'tcp' }, details: { via: 'tcp_forward' } })
  t.equal(h.connector.active, 0)
})

t.test('client bytes sent before the upstream is connected are not lost', async (t) => {
  const h = await setup(t, { delayMs: 150 })
  const s = connect(h.ports.get(echo.port)!, '127.0.0.1')
  s.on('error', () => {})
  const got = await roundTrip(s, 'early bytes', 11)
  t.equal(got.toString(), 'early bytes')
  s.destroy()
})

t.test('a server-speaks-first upstream works', async (t) => {
  const h = await setup(t)
  const s = await dialForward(h.ports.get(banner.port)!)
  let got = ''
  s.setEncoding('utf8')
  s.on('data', (c: string) => (got += c))
  await closed(s)
  t.equal(got, 'BANNER server-speaks-first\r\n')
})

t.test('quarantine: new connections are refused with a quarantined signal', async (t) => {
  const h = await setup(t)
  const before = echo.connections()
  h.enforcement.quarantine('suspicious egress', 'api')
  const s = connect(h.ports.get(echo.port)!, '127.0.0.1')
  s.on('error', () => {})
  await closed(s)
  const d = h.of('egress_denied')
  t.equal(d.length, 1)
  t.match(d[0], { action: 'quarantined', rule: 'quarantine', destination: { host: 'db.test.example', port: echo.port, protocol: 'tcp' }, details: { code: 'quarantined', via: 'tcp_forward' } })
  t.equal(echo.connections(), before, 'the upstream was never dialled')
  t.match(h.of('quarantine_triggered')[0], { kind: 'enforcement', reason: 'suspicious egress' })
})

t.test('idle timeout closes the forwarded connection', async (t) => {
  const h = await setup(t, { limits: { idle_timeout_ms: 300 } })
  const s = await dialForward(h.ports.get(echo.port)!)
  await roundTrip(s, 'x', 1)
  const started = performance.now()
  await closed(s, 5000)
  const ms = performance.now() - started
  t.ok(ms >= 250 && ms < 3000, `closed after ${ms.toFixed(0)} ms idle`)
  const c = await h.sink.waitFor((x) => x.type === 'egress_closed')
  t.match(c, { details: { bytes_up: 1, bytes_down: 1 } })
  t.equal(h.connector.active, 0)
})

t.test('a rule name resolving to a private address is refused before dialling', async (t) => {
  const h = await setup(t)
  const s = connect(h.ports.get(PRIVATE_PORT)!, '127.0.0.1')
  s.on('error', () => {})
  await closed(s)
  t.match(h.of('egress_denied')[0], { rule: 'always-denied:private', destination: { host: 'private-db.test.example', port: PRIVATE_PORT }, details: { code: 'no_allowed_address', resolved: ['10.0.0.1'] } })
})

t.test('an unreachable upstream closes the client and releases the slot', async (t) => {
  const h = await setup(t)
  const s = connect(h.ports.get(deadPort)!, '127.0.0.1')
  s.on('error', () => {})
  await closed(s)
  const a = await h.sink.waitFor((x) => x.destination?.host === 'down.test.example')
  t.match(a, { details: { dial_error: /ECONNREFUSED/ } })
  t.equal(h.connector.active, 0)
})

t.test('listen refuses two hosts on one port, and reports a busy port', async (t) => {
  const two = makeEgressContext({ capabilities: { network: { egress: [
    { host: 'a.test.example', port: 5432, protocol: 'tcp' },
    { host: 'b.test.example', port: 5432, protocol: 'tcp' },
  ] } } })
  const f1 = new TcpForwards(two.connector, { host: '127.0.0.1', portOverride: new Map([[5432, 0]]) })
  await t.rejects(f1.listen(), { code: ERROR_CODES.LISTEN_FAILED, message: /egress\[0\].*egress\[1\].*port 5432/ })

  const dup = makeEgressContext({ capabilities: { network: { egress: [
    { host: 'a.test.example', port: 5432, protocol: 'tcp' },
    { host: 'A.test.example.', port: 5432, protocol: 'tcp' },
  ] } } })
  const f2 = new TcpForwards(dup.connector, { host: '127.0.0.1', portOverride: new Map([[5432, 0]]) })
  const p2 = await f2.listen()
  t.equal(p2.size, 1, 'the same host twice is one forward')
  await f2.close()

  const busy = makeEgressContext({ capabilities: { network: { egress: [
    { host: 'a.test.example', port: 7001, protocol: 'tcp' },
    { host: 'b.test.example', port: 7002, protocol: 'tcp' },
  ] } } })
  const tmp = createServer()
  const first = await listen(tmp)
  await close(tmp)
  const f3 = new TcpForwards(busy.connector, { host: '127.0.0.1', portOverride: new Map([[7001, first], [7002, echo.port]]) })
  await t.rejects(f3.listen(), { code: ERROR_CODES.LISTEN_FAILED, message: new RegExp(`127\\.0\\.0\\.1:${echo.port}`) })
  t.equal(f3.forwards.length, 0, 'nothing is left bound')
  const probe = connect(first, '127.0.0.1')
  const refused = await new Promise<boolean>((resolve) => {
    probe.on('error', () => resolve(true))
    probe.on('connect', () => resolve(false))
  })
  probe.destroy()
  t.ok(refused, 'the first forward was closed again after the failure')
})

t.test('close() ends open forwarded connections', async (t) => {
  const h = await setup(t)
  const s = await dialForward(h.ports.get(echo.port)!)
  await roundTrip(s, 'x', 1)
  await h.forwards.close()
  await closed(s)
  await h.sink.waitFor((x) => x.type === 'egress_closed')
  t.equal(h.connector.active, 0)
})
