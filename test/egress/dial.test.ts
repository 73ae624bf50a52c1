/**
 * dial() and its read buffers (egress/dial.ts), with real sockets on loopback: the checked
 * addresses are tried in order and nothing else, the error code says refused vs timed out, a
 * reader receives the upstream's bytes (also those before a sink is attached), and the buffer
 * pool hands out at most MAX_BIG big buffers and recycles released ones.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { connect, createServer, type Socket } from 'node:net'
import { ERROR_CODES } from '../../core/errors.js'
import { dial, ReadBufferPool, UpstreamReader } from '../../egress/dial.js'
import { parseIpLiteral } from '../../policy/ip.js'
import type { IpAddress } from '../../policy/egress-types.js'
import { close, echoServer, listen, roundTrip } from '../helpers/net.js'
import { rejection } from '../helpers/thrown.js'

type Tap = { teardown(fn: () => unknown): void }

const ip = (s: string) => parseIpLiteral(s) as IpAddress


/**
 * A listener on 127.0.0.1 that never accepts, its backlog filled: further SYNs are dropped by the
 * kernel, so a connect to it hangs until the dialler's timeout. A Python child (node accepts every
 * connection); killed at teardown with the filler sockets.
 */
async function blackhole(t: Tap): Promise<number> {
  const child = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => {
    child.stdin?.end()
    child.kill()
  })
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))
  const port = Number(line)
  const fillers: Socket[] = []
  t.teardown(() => fillers.forEach((s) => s.destroy()))
  for (let i = 0; i < 4; i++) {
    const s = connect({ port, host: '127.0.0.1' })
    s.on('error', () => {})
    fillers.push(s)
  }
  await new Promise((r) => setTimeout(r, 100))
  return port
}

t.test('dial(): connects to the first reachable address, in order; the socket reaches the upstream', async (t) => {
  const e = await echoServer()
  t.teardown(() => close(e.server))
  const d = await dial([ip('127.0.0.2'), ip('127.0.0.1')], e.port, 2000)
  t.equal(d.address.ip, '127.0.0.1', '127.0.0.2 refused (nothing listens there), 127.0.0.1 taken')
  t.equal(d.socket.remoteAddress, '127.0.0.1')
  t.equal((await roundTrip(d.socket, 'hello', 5)).toString(), 'hello')
  t.equal(d.reader, undefined, 'no reader unless asked')
  t.equal(d.socket.listenerCount('error'), 0, 'the dial error listener is removed once connected')
  d.socket.destroy()
  const first = await dial([ip('127.0.0.1'), ip('127.0.0.2')], e.port, 2000)
  t.equal(first.address.ip, '127.0.0.1', 'the first address is used when it answers')
  first.socket.destroy()
  t.equal(e.connections(), 2, 'one connection per dial')
})

t.test('dial(): every address refused is HANGAR_DIAL_FAILED naming the last one; no address is HANGAR_DIAL_FAILED too', async (t) => {
  const srv = createServer()
  const port = await listen(srv)
  await close(srv)
  const e = await rejection(dial([ip('127.0.0.3'), ip('127.0.0.1')], port, 2000))
  t.match(e, { code: ERROR_CODES.DIAL_FAILED, message: `connect to 127.0.0.1:${port} failed: ECONNREFUSED` })
  t.match(await rejection(dial([], port, 2000)), { code: ERROR_CODES.DIAL_FAILED, message: 'no address to dial' })
})

t.test('dial(): an address that does not answer is HANGAR_DIAL_TIMEOUT after timeoutMs; the next address is still tried', async (t) => {
  const port = await blackhole(t)
  const started = Date.now()
  const e = await rejection(dial([ip('127.0.0.1')], port, 200))
  const took = Date.now() - started
  t.match(e, { code: ERROR_CODES.DIAL_TIMEOUT, message: `connect to 127.0.0.1:${port} timed out after 200 ms` })
  t.ok(took >= 190 && took < 1500, `timed out after ~200 ms (${took} ms)`)

  const echo = createServer((s) => s.pipe(s))
  await new Promise<void>((r) => echo.listen(port, '127.0.0.2', () => r()))
  t.teardown(() => close(echo))
  const d = await dial([ip('127.0.0.1'), ip('127.0.0.2')], port, 200)
  t.equal(d.address.ip, '127.0.0.2', 'after the timeout, the next checked address connects')
  d.socket.destroy()
})

t.test('dial() with reader: the upstream bytes arrive through the reader, those before attach() included', async (t) => {
  const srv = createServer((s) => {
    s.write('server-first|')
    s.on('data', (b: Buffer) => s.write(b))
  })
  const port = await listen(srv)
  t.teardown(() => close(srv))
  const d = await dial([ip('127.0.0.1')], port, 2000, { reader: true })
  t.ok(d.reader instanceof UpstreamReader)
  t.equal(d.reader!.buffer.length, ReadBufferPool.BIG_BYTES, 'a 1 MiB read buffer')
  await new Promise((r) => setTimeout(r, 100))
  const got: string[] = []
  const early = d.reader!.attach((chunk) => {
    got.push(chunk.toString())
    return true
  })
  t.same(early.map(String), ['server-first|'], 'bytes read before a sink was attached are handed over')
  d.socket.write('ping')
  await new Promise((r) => setTimeout(r, 100))
  t.same(got, ['ping'], 'later bytes go to the sink')
  let dataEvents = 0
  d.socket.on('data', () => dataEvents++)
  d.socket.write('x')
  await new Promise((r) => setTimeout(r, 50))
  t.equal(dataEvents, 0, 'no data events: onread takes them')
  d.socket.destroy()
})

t.test('ReadBufferPool: MAX_BIG big buffers at once, then small ones; released big buffers are recycled; small ones are not pooled', async (t) => {
  const pool = new ReadBufferPool()
  const bigs = Array.from({ length: ReadBufferPool.MAX_BIG }, () => pool.acquire())
  t.ok(bigs.every((b) => b.length === ReadBufferPool.BIG_BYTES))
  const small = pool.acquire()
  t.equal(small.length, ReadBufferPool.SMALL_BYTES, 'past MAX_BIG: 64 KiB')
  pool.release(small)
  t.equal(pool.acquire().length, ReadBufferPool.SMALL_BYTES, 'releasing a small buffer frees no big slot')
  pool.release(bigs[5]!)
  const again = pool.acquire()
  t.equal(again, bigs[5], 'the released big buffer is handed out again')
  t.equal(pool.acquire().length, ReadBufferPool.SMALL_BYTES, 'still at MAX_BIG')
  for (const b of bigs) pool.release(b)
})
