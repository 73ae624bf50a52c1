// Request bodies (core/http/body.ts) on real sockets: 413 from Content-Length and from the
// stream, bounded draining (keep-alive survives, endless bodies are cut), aborted bodies, Node's
// own refusal of Content-Length + Transfer-Encoding, a 1,000,000-deep body, and the media-type
// checks.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { BODY_ERROR_CODES, BodyError, checkContentEncoding, checkContentType, readBody, type DrainOptions } from '../../../core/http/body.js'
import { parseBody } from '../../../proxy/http/jsonrpc.js'
import { httpError, json, refuse } from '../../../core/http/respond.js'
import { close, listen } from '../../helpers/net.js'

const MAX = 4 * 1024 * 1024

/** A minimal ingress over the primitives: media type → readBody → parseBody → answer. */
async function ingress(t: { teardown(fn: () => unknown): void }, drain: DrainOptions = {}) {
  const errors: BodyError[] = []
  const server: Server = createServer((req, res) => {
    void (async () => {
      const ct = checkContentType(req.headers['content-type'])
      if (!ct.ok) return refuse(res, ct)
      let raw: Buffer
      try {
        raw = await readBody(req, MAX, drain)
      } catch (err) {
        if (!(err instanceof BodyError)) throw err
        errors.push(err)
        if (!res.destroyed) refuse(res, err.refusal)
        return
      }
      const p = parseBody(raw.toString('utf8'), 64)
      if (!p.ok) return httpError(res, 400, p.error.error.code, p.error.error.message)
      json(res, 200, { bytes: raw.length, messages: p.messages.length, invalid: p.invalid.length })
    })()
  })
  const port = await listen(server)
  t.teardown(() => close(server))
  return { port, errors, server }
}

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Parses complete HTTP/1.1 responses (Content-Length bodies) out of raw bytes. */
function parseResponses(buf: Buffer): Answer[] {
  const out: Answer[] = []
  let at = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end === -1) return out
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n')
    const headers: Record<string, string> = {}
    for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
    const len = Number(headers['content-length'] ?? 0)
    if (buf.length < end + 4 + len) return out
    out.push({ status: Number(lines[0]!.split(' ')[1]), headers, body: buf.subarray(end + 4, end + 4 + len).toString() })
    at = end + 4 + len
  }
}

/** Collects a raw socket's bytes until it closes or `n` responses arrived. */
function responses(socket: Socket, n: number, timeoutMs = 20_000): Promise<{ answers: Answer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => reject(new Error(`timeout; got ${JSON.stringify(buf.toString().slice(0, 300))}`)), timeoutMs)
    const finish = (closed: boolean) => {
      clearTimeout(timer)
      resolve({ answers: parseResponses(buf), closed })
    }
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (parseResponses(buf).length >= n) finish(false)
    })
    socket.on('error', () => {})
    socket.on('close', () => finish(true))
  })
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

const PING = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
const post = (body: string, extra = '') => `POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`

/** One POST through node:http with a keep-alive agent. */
function postWith(agent: Agent, port: number, body: Buffer | string, headers: Record<string, string | number> = {}): Promise<{ status: number; body: string; socket: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/mcp', agent, headers: { 'content-type': 'application/json', ...headers } }, (res: IncomingMessage) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, socket: req.socket }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('a small body is read whole, in one or many chunks', async (t) => {
  const { port } = await ingress(t)
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const one = await postWith(agent, port, PING)
  t.equal(one.status, 200)
  t.strictSame(JSON.parse(one.body), { bytes: PING.length, messages: 1, invalid: 0 })
  // Chunked, in three writes.
  const s = await rawSocket(port)
  const got = responses(s, 1)
  s.write('POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
  for (const part of [PING.slice(0, 10), PING.slice(10, 20), PING.slice(20)]) s.write(`${part.length.toString(16)}\r\n${part}\r\n`)
  s.write('0\r\n\r\n')
  const { answers } = await got
  s.destroy()
  t.equal(answers[0]!.status, 200)
  t.strictSame(JSON.parse(answers[0]!.body), { bytes: PING.length, messages: 1, invalid: 0 })
  const empty = await postWith(agent, port, '')
  t.equal(empty.status, 400, 'an empty body is a parse error, not a read error')
  t.equal(JSON.parse(empty.body).error.code, -32700)
})

t.test('a 10 MB body with Content-Length is refused with 413 before it is read; the same connection then answers', async (t) => {
  const { port, errors } = await ingress(t)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const big = Buffer.alloc(10 * 1024 * 1024, 0x20)
  const first = await postWith(agent, port, big)
  t.equal(first.status, 413)
  t.strictSame(JSON.parse(first.body), { jsonrpc: '2.0', error: { code: -32000, message: `Payload Too Large: Request body must not exceed ${MAX} bytes` }, id: null })
  t.equal(errors[0]!.code, BODY_ERROR_CODES.BODY_TOO_LARGE)
  t.equal(errors[0]!.status, 413)
  t.equal(errors[0]!.refusal.reason, 'body_too_large')
  const next = await postWith(agent, port, PING)
  t.equal(next.status, 200, 'the server answers the next request')
  t.equal(next.socket, first.socket, 'on the same keep-alive connection: the refused body was drained')
})

t.test('a 10 MB chunked body is refused once the stream passes the limit; the server answers the next request', async (t) => {
  const { port, errors } = await ingress(t)
  const s = await rawSocket(port)
  const got = responses(s, 2)
  s.write('POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
  const chunk = Buffer.alloc(1024 * 1024, 0x20)
  for (let i = 0; i < 10; i++) s.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]))
  s.write('0\r\n\r\n')
  s.write(post(PING))
  const { answers } = await got
  s.destroy()
  t.equal(answers.length, 2)
  t.equal(answers[0]!.status, 413)
  t.equal(answers[1]!.status, 200, 'the next request on the same connection')
  t.equal(errors.length, 1)
})

t.test('an endless body is cut: the socket is destroyed past drainBytes, and past drainMs', async (t) => {
  const { port, errors } = await ingress(t, { drainBytes: 1024 * 1024, drainMs: 60_000 })
  const s = await rawSocket(port)
  const got = responses(s, 99)
  s.write('POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
  const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 0x20), Buffer.from('\r\n')])
  let sent = 0
  const pump = () => {
    while (!s.destroyed && sent < 200 * 1024 * 1024) {
      sent += chunk.length
      if (!s.write(chunk)) return void s.once('drain', pump)
    }
  }
  s.on('error', () => {})
  pump()
  const { answers, closed } = await got
  t.equal(closed, true, 'the server closed the connection')
  t.equal(answers[0]?.status, 413, 'after answering 413')
  t.ok(sent < 100 * 1024 * 1024, `the client got to send ${(sent / 1048576).toFixed(1)} MiB, not 200`)
  t.equal(errors.length, 1)

  // A client that stalls mid-body: destroyed after drainMs.
  const slow = await ingress(t, { drainBytes: 64 * 1024 * 1024, drainMs: 200 })
  const s2 = await rawSocket(slow.port)
  const got2 = responses(s2, 99)
  s2.write(`POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\nabc`)
  const r2 = await got2
  t.equal(r2.answers[0]?.status, 413)
  t.equal(r2.closed, true, 'a stalled refused body does not hold the connection')
})

t.test('an aborted body rejects with HANGAR_BODY_ABORTED (400) and the server stays up', async (t) => {
  const { port, errors } = await ingress(t)
  const s = await rawSocket(port)
  s.on('error', () => {})
  s.write('POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"')
  await new Promise((r) => setTimeout(r, 50))
  s.destroy()
  for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.equal(errors.length, 1)
  t.equal(errors[0]!.code, BODY_ERROR_CODES.BODY_ABORTED)
  t.equal(errors[0]!.status, 400)
  t.type(errors[0], BodyError)
  const agent = new Agent({ keepAlive: false })
  t.equal((await postWith(agent, port, PING)).status, 200)
})

t.test('readBody on an already destroyed request rejects at once', async (t) => {
  const server = createServer((req, res) => {
    req.destroy()
    readBody(req, MAX).then(
      () => res.end('read'),
      (e: unknown) => {
        t.equal((e as BodyError).code, BODY_ERROR_CODES.BODY_ABORTED)
        done()
      },
    )
  })
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const port = await listen(server)
  t.teardown(() => close(server))
  const s = await rawSocket(port)
  s.on('error', () => {})
  s.write(post(PING))
  await finished
  s.destroy()
})

t.test('Content-Length together with Transfer-Encoding: Node answers 400 and the server stays up', async (t) => {
  const { port } = await ingress(t)
  const s = await rawSocket(port)
  const got = responses(s, 1)
  s.write('POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
  const { answers } = await got
  s.destroy()
  t.equal(answers[0]!.status, 400)
  const agent = new Agent({ keepAlive: false })
  t.equal((await postWith(agent, port, PING)).status, 200, 'next request answered')
})

t.test('1,000,000 nested [ over HTTP: a -32700 answer, not a crash', async (t) => {
  const { port } = await ingress(t)
  const agent = new Agent({ keepAlive: false })
  const r = await postWith(agent, port, '['.repeat(1_000_000))
  t.equal(r.status, 400)
  const body = JSON.parse(r.body) as { id: null; error: { code: number; message: string } }
  t.equal(body.id, null)
  t.equal(body.error.code, -32700)
  t.match(body.error.message, /nested deeper than 64/)
  t.equal((await postWith(agent, port, PING)).status, 200, 'the server is still up')
})

t.test('415 for other media types over HTTP, with a JSON-RPC body', async (t) => {
  const { port } = await ingress(t)
  const agent = new Agent({ keepAlive: false })
  const r = await postWith(agent, port, PING, { 'content-type': 'text/plain' })
  t.equal(r.status, 415)
  t.strictSame(JSON.parse(r.body), { jsonrpc: '2.0', error: { code: -32000, message: 'Unsupported Media Type: Content-Type must be application/json' }, id: null })
})

t.test('checkContentType: application/json with parameters, case-insensitive, UTF-8 only', async (t) => {
  const ok = ['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"', 'application/json ; foo=bar', 'application/json;charset=utf8']
  for (const v of ok) t.equal(checkContentType(v).ok, true, v)
  const bad = [undefined, '', 'text/plain', 'application/jsonx', 'application/json-rpc', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/json', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json, text/plain']
  for (const v of bad) {
    const r = checkContentType(v)
    t.equal(r.ok, false, String(v))
    if (!r.ok) {
      t.equal(r.status, 415)
      t.equal(r.reason, 'unsupported_media_type')
    }
  }
  // The memo answers alternating values correctly.
  t.equal(checkContentType('application/json').ok, true)
  t.equal(checkContentType('text/plain').ok, false)
  t.equal(checkContentType('application/json').ok, true)
})

t.test('checkContentEncoding: identity only, 415 names Accept-Encoding', async (t) => {
  for (const v of [undefined, '', 'identity', 'IDENTITY']) t.equal(checkContentEncoding(v).ok, true, String(v))
  for (const v of ['gzip', 'br', 'deflate', 'gzip, identity']) {
    const r = checkContentEncoding(v)
    t.equal(r.ok, false, v)
    if (!r.ok) {
      t.equal(r.status, 415)
      t.equal(r.headers?.['Accept-Encoding'], 'identity')
    }
  }
})
