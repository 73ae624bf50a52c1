// MCP stdio framing (proxy/stdio/framing.ts; spec "Transports/stdio"): newline-delimited JSON-RPC,
// lines split across chunks, CRLF, UTF-8 split inside a character, the line limit, and noise.
import t from 'tap'
import { encodeMessage, LineSplitter, LineTooLongError, parseMessageLine, truncateForLog } from '../../../proxy/stdio/framing.js'

const str = (bufs: Buffer[]) => bufs.map((b) => b.toString('utf8'))

t.test('lines split across chunks, several per chunk, CRLF and a final unterminated line', async (t) => {
  const s = new LineSplitter({ maxLineBytes: 1024, overflow: 'error' })
  t.same(str(s.push(Buffer.from('{"a":'))), [], 'no newline yet')
  t.equal(s.pendingBytes, 5)
  t.same(str(s.push(Buffer.from('1}\n{"b":2}\r\n{"c"'))), ['{"a":1}', '{"b":2}'], 'completes one, a CRLF one, keeps the rest')
  t.same(str(s.push(Buffer.from(':3}\n\n'))), ['{"c":3}', ''], 'an empty line is a line')
  t.same(str(s.push(Buffer.from('\r'))), [])
  t.same(str(s.push(Buffer.from('\n'))), [''], 'a CR and LF in different chunks still strip')
  t.same(str(s.push(Buffer.from('tail\r'))), [])
  t.equal(s.end()?.toString(), 'tail', 'end() flushes the unterminated line, CR stripped')
  t.equal(s.end(), undefined, 'nothing after that')
})

t.test('one byte at a time, with a multi-byte UTF-8 character split between chunks', async (t) => {
  const s = new LineSplitter({ maxLineBytes: 1024, overflow: 'error' })
  const msg = '{"text":"grüße 😀"}\n'
  const out: string[] = []
  for (const byte of Buffer.from(msg)) out.push(...str(s.push(Buffer.from([byte]))))
  t.same(out, ['{"text":"grüße 😀"}'])
})

t.test('error mode: a line over the limit throws, whether or not its newline has arrived', async (t) => {
  const s1 = new LineSplitter({ maxLineBytes: 8, overflow: 'error' })
  t.same(str(s1.push(Buffer.from('12345678\n'))), ['12345678'], 'exactly the limit is fine')
  t.throws(() => s1.push(Buffer.from('123456789\n')), LineTooLongError, 'one byte over, newline in the chunk')
  const s2 = new LineSplitter({ maxLineBytes: 8, overflow: 'error' })
  s2.push(Buffer.from('12345'))
  const err = t.throws(() => s2.push(Buffer.from('6789'))) as LineTooLongError
  t.equal(err.maxLineBytes, 8)
  t.equal(err.seenBytes, 9, 'thrown as soon as the pending bytes exceed the limit')
})

t.test('error mode with the real 16 MiB limit: a huge line without newline is refused early', async (t) => {
  const max = 16 * 1024 * 1024
  const s = new LineSplitter({ maxLineBytes: max, overflow: 'error' })
  const mib = Buffer.alloc(1024 * 1024, 0x61)
  let threw: unknown
  let pushed = 0
  try {
    for (; pushed < 20; pushed++) s.push(mib)
  } catch (err) {
    threw = err
  }
  t.type(threw, LineTooLongError)
  t.equal(pushed, 16, 'the 17th MiB trips it')
})

t.test('truncate mode: the head of a long line is kept once, the rest dropped up to the newline', async (t) => {
  const s = new LineSplitter({ maxLineBytes: 4, overflow: 'truncate' })
  t.same(str(s.push(Buffer.from('abcdefgh\nok\n'))), ['abcd', 'ok'], 'newline in the same chunk')
  t.same(str(s.push(Buffer.from('ABCDEF'))), ['ABCD'], 'over the limit without newline: head emitted at once')
  t.same(str(s.push(Buffer.from('GHIJ'))), [], 'the rest is skipped')
  t.same(str(s.push(Buffer.from('KL\nnext\n'))), ['next'], 'skipping ends at the newline')
  s.push(Buffer.from('xxxxxxx'))
  t.equal(s.end(), undefined, 'a truncated unterminated line is not emitted twice')
})

t.test('parseMessageLine: messages, blank lines and noise', async (t) => {
  const cases: Array<{ line: string; kind: 'message' | 'blank' | 'noise'; reason?: RegExp }> = [
    { line: '{"jsonrpc":"2.0","id":1,"method":"ping"}', kind: 'message' },
    { line: '{"jsonrpc":"2.0","method":"notifications/progress","params":{}}', kind: 'message' },
    { line: '{"jsonrpc":"2.0","id":"x","result":{}}', kind: 'message' },
    { line: '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}', kind: 'message' },
    { line: '  {"jsonrpc":"2.0","id":2,"result":{}}  ', kind: 'message' },
    { line: '', kind: 'blank' },
    { line: '   \t', kind: 'blank' },
    { line: 'Server starting on stdio...', kind: 'noise', reason: /not JSON/ },
    { line: '{"jsonrpc":"2.0","id":1,"method":"ping"', kind: 'noise', reason: /not JSON/ },
    { line: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', kind: 'noise', reason: /array/ },
    { line: '42', kind: 'noise', reason: /number/ },
    { line: 'null', kind: 'noise', reason: /null/ },
    { line: '"hello"', kind: 'noise', reason: /string/ },
    { line: '{"id":1,"method":"ping"}', kind: 'noise', reason: /jsonrpc/ },
    { line: '{"jsonrpc":"1.0","id":1,"method":"ping"}', kind: 'noise', reason: /jsonrpc/ },
    { line: '{"jsonrpc":"2.0","id":1}', kind: 'noise', reason: /neither/ },
    { line: '{"jsonrpc":"2.0","method":7}', kind: 'noise', reason: /neither/ },
  ]
  for (const c of cases) {
    const r = parseMessageLine(c.line)
    t.equal(r.kind, c.kind, `${JSON.stringify(c.line)} is ${c.kind}`)
    if (r.kind === 'noise' && c.reason) t.match(r.reason, c.reason, `${JSON.stringify(c.line)}: ${r.reason}`)
  }
  const m = parseMessageLine('{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"c"}}')
  t.same(m, { kind: 'message', message: { jsonrpc: '2.0', id: 'a', method: 'tools/list', params: { cursor: 'c' } } })
})

t.test('encodeMessage: one line, embedded newlines escaped', async (t) => {
  const frame = encodeMessage({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: { text: 'a\nb\r\nc' } } })
  t.equal(frame.indexOf('\n'), frame.length - 1, 'the only newline ends the frame')
  const s = new LineSplitter({ maxLineBytes: 1024, overflow: 'error' })
  const [line] = s.push(Buffer.from(frame))
  t.same(parseMessageLine(line!.toString()), { kind: 'message', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: { text: 'a\nb\r\nc' } } } }, 'round trip')
})

t.test('truncateForLog', async (t) => {
  t.equal(truncateForLog('short', 10), 'short')
  t.equal(truncateForLog('0123456789abc', 10), '0123456789…(+3 chars)')
})
