/**
 * splice() (egress/pipe.ts) between real loopback sockets: bytes both ways with the head first,
 * byte counts and the end reason reported once, the idle timeout, errors, and the first-bytes
 * gate: held bytes never reach upstream before `ok`, `deny` closes both, the size cap and the
 * gate timeout force a verdict, a half-close is judged as final, and the upstream may speak first.
 */
import t from 'tap'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { splice, type FirstBytesGate, type SpliceOptions, type TunnelStats } from '../../egress/pipe.js'
import { close, closed, listen } from '../helpers/net.js'

type Tap = { teardown(fn: () => unknown): void }

interface Rig {
  /** The test's end of the client connection (the provider). */
  client: Socket
  /** The test's end of the upstream connection (the server). */
  server: Socket
  /** Bytes the server received. */
  atServer: () => string
  /** Bytes the client received. */
  atClient: () => string
  stats: Promise<TunnelStats>
  closes: () => number
}

async function accepted(t: Tap): Promise<{ port: number; next: () => Promise<Socket>; server: Server }> {
  const queue: Socket[] = []
  const waiters: Array<(s: Socket) => void> = []
  const server = createServer((s) => {
    s.on('error', () => {})
    const w = waiters.shift()
    if (w) w(s)
    else queue.push(s)
  })
  const port = await listen(server)
  t.teardown(() => close(server))
  return { port, server, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))) }
}

/** Client ⇄ [clientSide | splice | upstreamSide] ⇄ server, all on 127.0.0.1. */
async function rig(t: Tap, opts: Omit<SpliceOptions, 'onClose'>, beforeSplice?: (client: Socket, server: Socket) => Promise<void>): Promise<Rig> {
  const front = await accepted(t)
  const back = await accepted(t)
  const client = connect(front.port, '127.0.0.1')
  client.on('error', () => {})
  const clientSide = await front.next()
  const upstreamSide = connect(back.port, '127.0.0.1')
  const server = await back.next()
  await new Promise((r) => (upstreamSide.connecting ? upstreamSide.once('connect', r) : r(null)))
  t.teardown(() => {
    client.destroy()
    server.destroy()
  })
  let toServer = ''
  let toClient = ''
  server.on('data', (b: Buffer) => (toServer += b.toString()))
  client.on('data', (b: Buffer) => (toClient += b.toString()))
  if (beforeSplice) await beforeSplice(client, server)
  let n = 0
  const stats = new Promise<TunnelStats>((resolve) => {
    splice(clientSide, upstreamSide, {
      ...opts,
      onClose: (s) => {
        n++
        resolve(s)
      },
    })
  })
  return { client, server, atServer: () => toServer, atClient: () => toClient, stats, closes: () => n }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('bytes flow both ways, the head first; onClose once with the byte counts and end "closed"', async (t) => {
  const r = await rig(t, { head: Buffer.from('HEAD|'), idleMs: 5000 })
  r.client.write('up-bytes')
  r.server.write('down')
  await sleep(100)
  t.equal(r.atServer(), 'HEAD|up-bytes')
  t.equal(r.atClient(), 'down')
  r.client.end()
  const s = await r.stats
  t.match(s, { bytesUp: 13, bytesDown: 4, end: 'closed' })
  t.ok(s.durationMs >= 100 && s.durationMs < 5000)
  await closed(r.server)
  await sleep(50)
  t.equal(r.closes(), 1, 'onClose exactly once though both sides closed')
})

t.test('the upstream closing after sending: its last bytes reach the client, then both close', async (t) => {
  const r = await rig(t, { idleMs: 5000 })
  r.server.end('last words')
  const s = await r.stats
  t.equal(s.bytesDown, 10)
  await closed(r.client)
  t.equal(r.atClient(), 'last words')
})

t.test('no byte either way for idleMs closes both sides with end "idle_timeout"; traffic keeps it open', async (t) => {
  const r = await rig(t, { idleMs: 300 })
  for (let i = 0; i < 4; i++) {
    await sleep(150)
    r.server.write('.')
  }
  t.equal(r.closes(), 0, 'downstream traffic every 150 ms kept the 300 ms idle timer from firing')
  const s = await r.stats
  t.equal(s.end, 'idle_timeout')
  t.ok(s.durationMs >= 850, `closed after the traffic stopped (${s.durationMs} ms)`)
  await closed(r.client)
  await closed(r.server)
})

t.test('an upstream reset ends the tunnel with end "error"', async (t) => {
  const r = await rig(t, { idleMs: 5000 })
  r.client.write('x')
  await sleep(50)
  r.server.resetAndDestroy()
  const s = await r.stats
  t.equal(s.end, 'error')
  await closed(r.client)
})

t.test('gate: held bytes reach upstream only after "ok"; the gate sees the accumulated bytes', async (t) => {
  const seen: string[] = []
  const gate: FirstBytesGate = (b, final) => {
    seen.push(`${b.toString()}${final ? '!' : ''}`)
    return b.toString().includes('\n') ? 'ok' : 'more'
  }
  const r = await rig(t, { idleMs: 5000, gate, head: Buffer.from('GE') })
  r.client.write('T / HTTP')
  await sleep(80)
  t.equal(r.atServer(), '', 'nothing upstream while the gate says more')
  r.client.write('/1.1\n')
  await sleep(80)
  t.equal(r.atServer(), 'GET / HTTP/1.1\n', 'everything held goes up at once')
  r.client.write('after')
  await sleep(80)
  t.equal(r.atServer(), 'GET / HTTP/1.1\nafter', 'later bytes pass without the gate')
  t.same(seen, ['GE', 'GET / HTTP', 'GET / HTTP/1.1\n'])
  r.client.end()
  t.match(await r.stats, { bytesUp: 20, end: 'closed' })
})

t.test('gate: "deny" closes both sides with end "denied"; no byte went upstream', async (t) => {
  const r = await rig(t, { idleMs: 5000, gate: (b) => (b.toString().startsWith('EVIL') ? 'deny' : 'more') })
  r.client.write('EVIL payload')
  const s = await r.stats
  t.match(s, { end: 'denied', bytesUp: 0 })
  await closed(r.client)
  await closed(r.server)
  t.equal(r.atServer(), '')
})

t.test('gate: a head that decides at once is judged before any read', async (t) => {
  const r = await rig(t, { idleMs: 5000, gate: () => 'deny', head: Buffer.from('bad head') })
  t.match(await r.stats, { end: 'denied', bytesUp: 0 })
  const ok = await rig(t, { idleMs: 5000, gate: () => 'ok', head: Buffer.from('good head') })
  await sleep(80)
  t.equal(ok.atServer(), 'good head', 'control: an ok head goes straight up')
  ok.client.end()
  t.match(await ok.stats, { end: 'closed', bytesUp: 9 })
})

t.test('gate: more than gateMaxBytes held is denied without asking the gate', async (t) => {
  let calls = 0
  const r = await rig(t, { idleMs: 5000, gateMaxBytes: 10, gate: () => (calls++, 'more') })
  r.client.write('0123456789')
  await sleep(50)
  t.equal(r.closes(), 0, 'exactly the cap is still held')
  r.client.write('A')
  t.match(await r.stats, { end: 'denied', bytesUp: 0 })
  t.equal(calls, 1, 'the gate was asked only below the cap')
})

t.test('gate: bytes with no verdict are judged as final after gateTimeoutMs', async (t) => {
  const finals: boolean[] = []
  const r = await rig(t, { idleMs: 5000, gateTimeoutMs: 150, gate: (_b, final) => (finals.push(final), final ? 'ok' : 'more') })
  r.client.write('\x01\x02')
  await sleep(80)
  t.equal(r.atServer(), '', 'held before the timeout')
  await sleep(200)
  t.equal(r.atServer(), '\x01\x02', 'let through once judged final')
  t.same(finals, [false, true])
  r.client.end()
  await r.stats
})

t.test('gate: a client half-close before the verdict judges the held bytes as final; ok passes them and ends upstream', async (t) => {
  const r = await rig(t, { idleMs: 5000, gate: (b, final) => (final ? (b.toString() === 'short' ? 'ok' : 'deny') : 'more') })
  r.client.end('short')
  await new Promise((res) => r.server.once('end', res))
  t.equal(r.atServer(), 'short', 'passed, then upstream got FIN')
  r.server.end()
  t.match(await r.stats, { bytesUp: 5 })

  const d = await rig(t, { idleMs: 5000, gate: (b, final) => (final ? (b.toString() === 'short' ? 'ok' : 'deny') : 'more') })
  d.client.end('other')
  t.match(await d.stats, { end: 'denied', bytesUp: 0 }, 'deny on the final judgement closes both')
  t.equal(d.atServer(), '')
})

t.test('gate: the upstream may speak first while the client bytes are held', async (t) => {
  const r = await rig(t, { idleMs: 5000, gate: (b) => (b.toString().endsWith('\n') ? 'ok' : 'more') })
  r.server.write('220 banner\r\n')
  await sleep(80)
  t.equal(r.atClient(), '220 banner\r\n', 'server bytes reach the client before any client byte was judged')
  r.client.write('EHLO x\n')
  await sleep(80)
  t.equal(r.atServer(), 'EHLO x\n')
  r.client.end()
  t.match(await r.stats, { bytesUp: 7, bytesDown: 12 })
})
