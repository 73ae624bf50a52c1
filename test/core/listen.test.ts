// The one listen helper (core/listen.ts): it resolves the bound port and, whether the bind works
// or fails, leaves the server with exactly the `error` and `listening` listeners it had (control:
// a bare listen(cb) with once('error') leaves one behind); a failure is HANGAR_LISTEN_FAILED
// naming the address, what listens and the system code; the server can bind again afterwards.
import t, { type Test } from 'tap'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import { listen } from '../../core/listen.js'

const counts = (s: Server) => ({ error: s.listenerCount('error'), listening: s.listenerCount('listening') })

/** A server bound to a free loopback port, closed at teardown. */
async function occupied(t: Test): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => s.close(() => r())))
  return (s.address() as { port: number }).port
}

t.test('success: the bound port, and no listener added', async (t) => {
  for (const [name, s] of [['net', createServer()], ['http', createHttpServer()]] as const) {
    t.teardown(() => new Promise<void>((r) => s.close(() => r())))
    const before = counts(s)
    const port = await listen(s, { host: '127.0.0.1', port: 0 })
    t.ok(port > 0, `${name}: a port picked`)
    t.equal((s.address() as { port: number }).port, port, `${name}: the port the server reports`)
    t.same(counts(s), before, `${name}: error and listening listeners as before`)
  }
})

t.test('failure: HANGAR_LISTEN_FAILED naming address, what and code; no listener left', async (t) => {
  const port = await occupied(t)
  const s = createServer()
  t.teardown(() => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r())))
  const before = counts(s)
  const err = await listen(s, { host: '127.0.0.1', port, what: 'MCP ingress of fetch' }).then(() => undefined, (e: unknown) => e as Error & { code: string; cause: { code: string } })
  t.ok(err, 'rejected')
  t.equal(err?.code, 'HANGAR_LISTEN_FAILED')
  t.equal(err?.message, `cannot listen on 127.0.0.1:${port} (MCP ingress of fetch): EADDRINUSE`)
  t.equal(err?.cause.code, 'EADDRINUSE', 'the system error is the cause')
  t.same(counts(s), before, 'error and listening listeners as before')

  // The same server binds elsewhere, and a later error reaches the server's own listener only.
  const again = await listen(s, { host: '127.0.0.1', port: 0 })
  t.ok(again > 0 && again !== port, 'binds again afterwards')
  t.same(counts(s), before)
  const seen: Error[] = []
  s.on('error', (e) => seen.push(e))
  s.emit('error', new Error('later'))
  t.same(seen.map((e) => e.message), ['later'], 'a later error is not taken by a leftover listen handler')
})

t.test('control: a bare listen(cb) with once(error) leaves its listening callback behind on failure', async (t) => {
  const port = await occupied(t)
  const s = createServer()
  const before = counts(s)
  await new Promise<void>((resolve) => {
    s.once('error', () => resolve())
    s.listen(port, '127.0.0.1', () => undefined)
  })
  t.same(counts(s), { error: before.error, listening: before.listening + 1 }, 'one listening listener leaked')
})

t.test('an address that is not on this host', async (t) => {
  const s = createServer()
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is on no interface here: bind(2) refuses it, nothing is dialled.
  await t.rejects(listen(s, { host: '192.0.2.1', port: 0 }), { code: 'HANGAR_LISTEN_FAILED', message: /^cannot listen on 192\.0\.2\.1:0: EADDRNOTAVAIL$/ })
  t.same(counts(s), { error: 0, listening: 0 })
})

t.test('IPv6 loopback, backlog and exclusive are passed to listen', async (t) => {
  const s = createServer()
  t.teardown(() => new Promise<void>((r) => s.close(() => r())))
  const calls: unknown[] = []
  const orig = s.listen.bind(s)
  s.listen = ((...a: Parameters<typeof orig>) => {
    calls.push(a[0])
    return orig(...a)
  }) as typeof s.listen
  const port = await listen(s, { host: '::1', port: 0, backlog: 7, exclusive: true })
  t.same(calls, [{ host: '::1', port: 0, backlog: 7, exclusive: true }])
  t.equal((s.address() as { address: string }).address, '::1')
  t.ok(port > 0)
})
