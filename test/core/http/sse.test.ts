// SSE writer and reader (core/http/sse.ts): the WHATWG wire format, UTF-8 split across chunks,
// keepalives, backpressure and close, and a round trip over a real socket.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { formatEvent, SSE_ERROR_CODES, SseReader, SseStreamError, SseWriter, type SseEvent } from '../../../core/http/sse.js'

async function* chunks(...parts: Array<string | Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p
}

async function collect(reader: AsyncIterable<SseEvent>): Promise<SseEvent[]> {
  const out: SseEvent[] = []
  for await (const e of reader) out.push(e)
  return out
}

/** A server whose handler gets each response; closed at teardown. */
async function serve(t: { teardown(fn: () => unknown): void }, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((r) => server.close(() => r()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

t.test('formatEvent writes the WHATWG fields; data lines split on CRLF, LF and CR', async (t) => {
  t.equal(formatEvent({ data: '{"a":1}' }), 'data: {"a":1}\n\n')
  t.equal(formatEvent({ id: 's_1', event: 'message', retry: 1000, data: 'x' }), 'id: s_1\nevent: message\nretry: 1000\ndata: x\n\n')
  t.equal(formatEvent({ data: 'a\nb\r\nc\rd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n')
  t.equal(formatEvent({ data: '' }), 'data: \n\n')
  t.equal(formatEvent({ data: 'end\n' }), 'data: end\ndata: \n\n')
  t.equal(formatEvent({ data: ' lead' }), 'data:  lead\n\n', 'one space is the separator, the next one is data')
  t.throws(() => formatEvent({ id: 'a\nb', data: '' }), TypeError)
  t.throws(() => formatEvent({ id: 'a\u0000', data: '' }), TypeError)
  t.throws(() => formatEvent({ event: 'x\r', data: '' }), TypeError)
  t.throws(() => formatEvent({ retry: -1, data: '' }), TypeError)
  t.throws(() => formatEvent({ retry: 1.5, data: '' }), TypeError)
})

t.test('reader: fields, multi-line data, comments, CRLF, retry attached to the next event, last id kept', async (t) => {
  const r = new SseReader(chunks(': hello\n\n', 'id: 1\nevent: message\ndata: {"a":1}\n\n', 'retry: 2500\n', 'data: line1\r\ndata: line2\r\n\r\n', 'data:no-space\n\n', 'id: 7\ndata: \n\n', 'bogus: x\ndata: y\n\n'))
  t.strictSame(await collect(r), [
    { id: '1', event: 'message', data: '{"a":1}' },
    { data: 'line1\nline2', retry: 2500 },
    { data: 'no-space' },
    { id: '7', data: '' },
    { data: 'y' },
  ])
  t.equal(r.lastEventId, '7')
  t.equal(r.retry, 2500)
})

t.test('reader: an incomplete event at the end is dropped; an event without data is not dispatched', async (t) => {
  t.strictSame(await collect(new SseReader(chunks('data: complete\n\n', 'data: partial'))), [{ data: 'complete' }])
  t.strictSame(await collect(new SseReader(chunks('id: 3\n\n', 'data: x\n\n'))), [{ data: 'x' }])
})

t.test('reader: UTF-8 characters split across chunks decode whole', async (t) => {
  const text = 'data: héllo ☃ 😀 終わり\n\n'
  const bytes = Buffer.from(text)
  // Split at every byte offset, so every multi-byte character is cut at every position once.
  for (let cut = 1; cut < bytes.length; cut++) {
    const events = await collect(new SseReader(chunks(bytes.subarray(0, cut), bytes.subarray(cut))))
    if (events.length !== 1 || events[0]!.data !== 'héllo ☃ 😀 終わり') t.fail(`cut at ${cut}: ${JSON.stringify(events)}`)
  }
  // One byte per chunk.
  const single = await collect(new SseReader(chunks(...[...bytes].map((b) => Uint8Array.of(b)))))
  t.strictSame(single, [{ data: 'héllo ☃ 😀 終わり' }])
  // Invalid bytes become U+FFFD; a leading BOM is dropped.
  t.strictSame(await collect(new SseReader(chunks(Buffer.from([0xef, 0xbb, 0xbf]), 'data: a', Buffer.from([0xff]), '\n\n'))), [{ data: 'a\ufffd' }])
})

t.test('reader: an event larger than maxBufferChars fails with a typed error', async (t) => {
  const r = new SseReader(chunks('data: ' + 'x'.repeat(2000), 'x'.repeat(2000)), { maxBufferChars: 1024 })
  const err = await collect(r).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.type(err, SseStreamError)
  t.equal((err as SseStreamError).code, SSE_ERROR_CODES.SSE_EVENT_TOO_LARGE)
  const once = new SseReader(chunks('data: a\n\n'))
  await collect(once)
  await t.rejects(collect(once), TypeError, 'single use')
})

t.test('reader: body errors propagate', async (t) => {
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield Buffer.from('data: first\n\n')
    throw new Error('upstream reset')
  }
  const seen: string[] = []
  await t.rejects(
    (async () => {
      for await (const e of new SseReader(failing())) seen.push(e.data)
    })(),
    /upstream reset/,
  )
  t.strictSame(seen, ['first'])
})

t.test('round trip over a real socket: headers, ids, multi-line data, UTF-8 split across writes', async (t) => {
  const url = await serve(t, (_req, res) => {
    const w = new SseWriter(res, { keepaliveMs: 0 })
    w.open({ 'Mcp-Session-Id': 'sess-1' })
    w.event({ id: 'post_1', data: JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'multi\nline ☃' } }) })
    w.event({ id: 'post_2', event: 'message', data: 'first line\nsecond line\r\nthird' })
    // A character cut between two writes (and so, possibly, two TCP segments).
    const snow = Buffer.from('id: post_3\ndata: snow ☃ end\n\n')
    const cut = snow.indexOf(0xe2) + 1
    res.write(snow.subarray(0, cut))
    setTimeout(() => {
      res.write(snow.subarray(cut))
      w.close()
    }, 20)
  })
  const res = await request(url)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/event-stream')
  t.equal(res.headers['cache-control'], 'no-cache, no-transform')
  t.equal(res.headers['x-accel-buffering'], 'no')
  t.equal(res.headers['mcp-session-id'], 'sess-1')
  const reader = new SseReader(res.body)
  const events = await collect(reader)
  t.strictSame(events, [
    { id: 'post_1', data: '{"jsonrpc":"2.0","id":1,"result":{"text":"multi\\nline ☃"}}' },
    { id: 'post_2', event: 'message', data: 'first line\nsecond line\nthird' },
    { id: 'post_3', data: 'snow ☃ end' },
  ])
  t.strictSame(JSON.parse(events[0]!.data), { jsonrpc: '2.0', id: 1, result: { text: 'multi\nline ☃' } })
  t.equal(reader.lastEventId, 'post_3')
})

t.test('the head is sent at open, before any event', async (t) => {
  let writer: SseWriter | undefined
  const url = await serve(t, (_req, res) => {
    writer = new SseWriter(res, { keepaliveMs: 0 })
    writer.open()
  })
  const res = await request(url)
  t.equal(res.statusCode, 200, 'headers arrived with no event written')
  writer!.event({ data: 'late' })
  writer!.close()
  t.strictSame(await collect(new SseReader(res.body)), [{ data: 'late' }])
})

t.test('keepalive comments flow while idle and stop at close', async (t) => {
  let writer: SseWriter | undefined
  const url = await serve(t, (_req, res) => {
    writer = new SseWriter(res, { keepaliveMs: 25 })
    writer.open()
  })
  const res = await request(url)
  const internal = writer as unknown as { sweep: unknown }
  let text = ''
  for await (const c of res.body) {
    text += Buffer.from(c as Uint8Array).toString()
    if ((text.match(/: keepalive\n\n/g) ?? []).length >= 2) {
      t.not(internal.sweep, undefined, 'timer armed while open')
      writer!.close()
      t.equal(internal.sweep, undefined, 'timer cleared on close')
      t.equal(writer!.closed, true)
      t.equal(writer!.event({ data: 'after close' }), false, 'writes after close are refused')
    }
  }
  t.match(text, /^(: keepalive\n\n){2,}$/, 'keepalive comments and nothing else')
  t.equal((await collect(new SseReader(chunks(text)))).length, 0, 'keepalives dispatch no event')
})

t.test('client disconnect: done resolves, the timer is cleared, writes return false', async (t) => {
  let writer: SseWriter | undefined
  let opened!: () => void
  const ready = new Promise<void>((r) => (opened = r))
  const url = await serve(t, (_req, res) => {
    writer = new SseWriter(res, { keepaliveMs: 1000 })
    writer.open()
    opened()
  })
  const req = httpRequest(url)
  req.on('error', () => {})
  req.on('response', (res) => res.destroy())
  req.end()
  await ready
  await writer!.done
  t.equal(writer!.closed, true)
  t.equal((writer as unknown as { sweep: unknown }).sweep, undefined)
  t.equal(writer!.event({ data: 'x' }), false)
  await writer!.drained()
  t.equal(writer!.comment('x'), false)
})

t.test('backpressure: event returns false when the socket is backed up; drained waits for the client to read', async (t) => {
  const big = 'x'.repeat(64 * 1024)
  const limit = 1024 // events: 64 MiB, far beyond what the socket buffers hold
  const state = { written: 0, falses: 0, waiting: false, finished: false }
  const url = await serve(t, (_req, res) => {
    const w = new SseWriter(res, { keepaliveMs: 0 })
    w.open()
    void (async () => {
      while (state.written < limit && !w.closed) {
        state.written++
        if (!w.event({ data: big })) {
          state.falses++
          state.waiting = true
          await w.drained()
          state.waiting = false
        }
      }
      w.event({ data: 'last' })
      w.close()
      state.finished = true
    })()
  })
  const res = await request(url)
  // The client reads nothing for a while: the writer must stall in drained() well before the end.
  await new Promise((r) => setTimeout(r, 300))
  t.equal(state.finished, false, `stalled after ${state.written} of ${limit} events`)
  t.equal(state.waiting, true, 'the writer is waiting in drained()')
  t.ok(state.falses >= 1)
  const events = await collect(new SseReader(res.body))
  t.equal(state.finished, true)
  t.equal(events.length, limit + 1, 'every event arrived once the client read')
  t.equal(events.at(-1)!.data, 'last')
})

t.test('comment writes a comment line; line breaks cannot inject fields', async (t) => {
  const url = await serve(t, (_req, res) => {
    const w = new SseWriter(res, { keepaliveMs: 0 })
    w.comment('hello\ndata: injected')
    w.event({ data: 'real' })
    w.close()
  })
  const res = await request(url)
  const text = await res.body.text()
  t.equal(text, ': hello data: injected\n\ndata: real\n\n')
  t.strictSame(await collect(new SseReader(chunks(text))), [{ data: 'real' }])
})
