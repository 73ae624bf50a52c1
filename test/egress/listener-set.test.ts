/**
 * ListenerSet (egress/listener-set.ts), through a minimal subclass: listenServer binds with the
 * deep backlog and returns the port, a taken address is HANGAR_LISTEN_FAILED naming it (and no
 * error listener is left behind), track() enforces max_connections with one drop callback per
 * refused connection, and close() ends the servers and every live connection.
 */
import t from 'tap'
import { connect, createServer, type DropArgument, type Server, type Socket } from 'node:net'
import { ERROR_CODES } from '../../core/errors.js'
import { LISTEN_BACKLOG, ListenerSet } from '../../egress/listener-set.js'
import { close, closed, listen } from '../helpers/net.js'
import { rejection } from '../helpers/thrown.js'

class TestListener extends ListenerSet {
  readonly server: Server
  readonly drops: Array<DropArgument | undefined> = []
  constructor(maxConnections?: number) {
    super()
    this.server = createServer((s) => s.on('error', () => {}))
    this.track(this.server, maxConnections, (d) => this.drops.push(d))
  }
  listen(host: string, port: number): Promise<number> {
    return this.listenServer(this.server, host, port)
  }
}


const open = (port: number): Promise<Socket> => new Promise((resolve, reject) => {
  const s = connect(port, '127.0.0.1', () => resolve(s))
  s.on('error', reject)
})

t.test('listenServer: the bound port for port 0; a taken address is HANGAR_LISTEN_FAILED naming it; no error listener left', async (t) => {
  t.equal(LISTEN_BACKLOG, 4096)
  const l = new TestListener()
  t.teardown(() => l.close())
  const port = await l.listen('127.0.0.1', 0)
  t.ok(port > 0)
  t.equal(l.server.listenerCount('error'), 0, 'the bind error listener is removed after a bind')
  const blocker = createServer()
  const taken = await listen(blocker)
  t.teardown(() => close(blocker))
  const l2 = new TestListener()
  const e = await rejection(l2.listen('127.0.0.1', taken))
  t.match(e, { code: ERROR_CODES.LISTEN_FAILED, message: `cannot listen on 127.0.0.1:${taken}: EADDRINUSE` })
  const l3 = new TestListener()
  t.match(await rejection(l3.listen('192.0.2.1', 0)), { code: ERROR_CODES.LISTEN_FAILED, message: 'cannot listen on 192.0.2.1:0: EADDRNOTAVAIL' }, 'an address not on this host')
})

t.test('track(): beyond maxConnections a connection is closed at accept and reported once', async (t) => {
  const l = new TestListener(2)
  t.teardown(() => l.close())
  const port = await l.listen('127.0.0.1', 0)
  const a = await open(port)
  const b = await open(port)
  await new Promise((r) => setTimeout(r, 50))
  const c = await open(port)
  await closed(c)
  t.equal(l.drops.length, 1)
  t.match(l.drops[0], { localPort: port, remoteAddress: '127.0.0.1' })
  t.notOk(a.destroyed || b.destroyed, 'the first two stay open')
  a.destroy()
  await new Promise((r) => setTimeout(r, 50))
  const d = await open(port)
  await new Promise((r) => setTimeout(r, 50))
  t.notOk(d.destroyed, 'control: with a slot free, a new connection is kept')
  t.equal(l.drops.length, 1)
  b.destroy()
  d.destroy()
})

t.test('close(): stops accepting and destroys live connections; closing twice or before listening is fine', async (t) => {
  const l = new TestListener()
  const port = await l.listen('127.0.0.1', 0)
  const s = await open(port)
  await new Promise((r) => setTimeout(r, 30))
  await l.close()
  await closed(s, 2000)
  t.equal(l.server.listening, false)
  const refused = await rejection(open(port))
  t.match(refused, { code: 'ECONNREFUSED' })
  await l.close()
  const never = new TestListener()
  await never.close()
  t.equal(never.server.listening, false)
})
