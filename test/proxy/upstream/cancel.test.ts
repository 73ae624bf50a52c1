/**
 * Cancel and cancelOnClientClose (proxy/upstream/cancel.ts): a one-shot abort, and an abort that
 * fires when a real HTTP client disconnects before its response finished, never after a normal
 * end; undici takes a Cancel as a request's signal and aborts the request with it.
 */
import t from 'tap'
import { createServer, request } from 'node:http'
import { request as undiciRequest } from 'undici'
import { Cancel, cancelOnClientClose } from '../../../proxy/upstream/cancel.js'
import { close, listen } from '../../helpers/net.js'

t.test('Cancel: abort() emits once and sets aborted', async (t) => {
  const c = new Cancel()
  let n = 0
  c.on('abort', () => n++)
  t.equal(c.aborted, false)
  c.abort()
  c.abort()
  t.equal(c.aborted, true)
  t.equal(n, 1)
})

t.test('cancelOnClientClose: a client that goes away aborts; a finished response does not', async (t) => {
  const cancels: Cancel[] = []
  const server = createServer((req, res) => {
    const c = cancelOnClientClose(res)
    cancels.push(c)
    if (req.url === '/finish') res.end('done')
    else res.write('partial')
  })
  const port = await listen(server)
  t.teardown(() => close(server))

  await new Promise<void>((resolve) => request({ port, host: '127.0.0.1', path: '/finish' }, (res) => { res.resume(); res.on('end', resolve) }).end())
  await new Promise((r) => setTimeout(r, 50))
  t.equal(cancels[0]!.aborted, false, 'a response that ended normally cancels nothing')

  const aborted = new Promise<void>((r) => server.once('request', () => setImmediate(() => cancels[1]!.once('abort', () => r()))))
  const req = request({ port, host: '127.0.0.1', path: '/stream' }, (res) => res.once('data', () => req.destroy()))
  req.on('error', () => {})
  req.end()
  await aborted
  t.equal(cancels[1]!.aborted, true, 'the client disconnected mid-response')
})

t.test('undici aborts a request given a Cancel as its signal', async (t) => {
  const server = createServer((_req, res) => res.write('never ends'))
  const port = await listen(server)
  t.teardown(() => close(server))
  const c = new Cancel()
  const started = Date.now()
  const p = undiciRequest(`http://127.0.0.1:${port}/`, { signal: c as never }).then(async (r) => {
    for await (const chunk of r.body) void chunk
  })
  setTimeout(() => c.abort(), 50)
  await t.rejects(p, { name: 'AbortError' })
  t.ok(Date.now() - started < 2000)
})
