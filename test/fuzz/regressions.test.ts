// Regressions found by the fuzzers (test/fuzz/props/*), each pinned by the smallest input:
// - SseReader (proxy/http/sse.ts): an event ended by CR CR was held until a later chunk with a
//   line break arrived, and dropped at the end of the stream, so the events depended on chunking
//   (WHATWG §9.2.5: CR alone ends a line). Counterexample: the bytes "data:\r\rdata:" read whole
//   gave one event, one byte per chunk none.
// - parseConfig (core/config/load.ts): a YAML alias bomb escaped as an uncaught ReferenceError
//   from the yaml library (pinned in test/core/config-strict.test.ts with the CLI's exit status).
import t from 'tap'
import { SseReader, type SseEvent } from '../../proxy/http/sse.js'

async function read(chunks: readonly string[]): Promise<SseEvent[]> {
  async function* body() {
    for (const c of chunks) yield Buffer.from(c)
  }
  const out: SseEvent[] = []
  for await (const e of new SseReader(body())) out.push(e)
  return out
}

const bytewise = (s: string) => [...Buffer.from(s)].map((b) => String.fromCharCode(b))

t.test('SSE: an event ended by CR CR is read at once, whatever the chunking, also at the end of the stream', async (t) => {
  t.strictSame(await read(['data:\r\rdata:']), [{ data: '' }], 'whole')
  t.strictSame(await read(bytewise('data:\r\rdata:')), [{ data: '' }], 'one byte per chunk')
  t.strictSame(await read(['data: a\r\r']), [{ data: 'a' }], 'CR CR as the last bytes of the stream')
  t.strictSame(await read(['data: a\r', '\r']), [{ data: 'a' }], 'the blank line in its own chunk')

  // The event is yielded before the stream goes on: the reader does not wait for a later line break.
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  async function* slow() {
    yield Buffer.from('data: first\r\r')
    await gate
    yield Buffer.from('x')
  }
  const it = new SseReader(slow())[Symbol.asyncIterator]()
  const first = await Promise.race([it.next(), new Promise((r) => setTimeout(() => r('timeout'), 2000))])
  t.strictSame(first, { value: { data: 'first' }, done: false }, 'yielded while the body is still open')
  release()
  t.strictSame(await it.next(), { value: undefined, done: true })
})

t.test('SSE: a CRLF split across chunks is one line end; controls for incomplete events', async (t) => {
  t.strictSame(await read(['data: a\r', '\ndata: b\r\n\r\n']), [{ data: 'a\nb' }], 'CR | LF is one line break, not a blank line')
  t.strictSame(await read(['data: a\r', '\n', '\r\n']), [{ data: 'a' }], 'CR | LF | CRLF: one line, then the blank line')
  t.strictSame(await read(['data: a\r']), [], 'a line without the blank line is not an event (WHATWG: discarded at the end)')
  t.strictSame(await read(['data: a']), [], 'nor an unterminated line')
  t.strictSame(await read(['data: a\n\n']), [{ data: 'a' }], 'LF LF')
})
