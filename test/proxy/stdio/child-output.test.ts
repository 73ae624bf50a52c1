/**
 * What a provider child writes (proxy/stdio/child-output.ts): stdout lines split into JSON-RPC
 * messages across chunk boundaries, noise skipped with a warning, an over-long line stops the
 * reading; stderr kept as a bounded tail of truncated lines.
 */
import t from 'tap'
import type { JsonRpcMessage } from '../../../proxy/types.js'
import { ChildOutput, STDERR_LINE_MAX_BYTES, STDERR_TAIL_LINES, settlesWithin } from '../../../proxy/stdio/child-output.js'
import { captureLogger } from '../../signals/helpers.js'

function output(maxLineBytes?: number) {
  const messages: JsonRpcMessage[] = []
  const overflows: Error[] = []
  const cap = captureLogger()
  const out = new ChildOutput({ name: 'p', log: cap.log, ...(maxLineBytes && { maxLineBytes }), onMessage: (m) => messages.push(m), onOverflow: (e) => overflows.push(e) })
  return { out, messages, overflows, cap }
}

t.test('stdout: messages split across chunks, the last line without a newline delivered at end', async (t) => {
  const { out, messages } = output()
  out.stdout(Buffer.from('{"jsonrpc":"2.0","id":1,"res'))
  out.stdout(Buffer.from('ult":{}}\n{"jsonrpc":"2.0","method":"notifications/x"}\n{"jsonrpc":"2.0","id":2,'))
  t.equal(messages.length, 2)
  out.stdout(Buffer.from('"result":{}}'))
  out.stdoutEnd()
  t.same(messages.map((m) => ('id' in m ? m.id : (m as { method: string }).method)), [1, 'notifications/x', 2])
})

t.test('stdout noise is skipped with a warning naming the provider; the next message still arrives', async (t) => {
  const { out, messages, cap } = output()
  out.stdout(Buffer.from('Server listening on stdio\n{"jsonrpc":"2.0","id":1,"result":{}}\n'))
  t.equal(messages.length, 1)
  t.ok(cap.has(/non-JSON-RPC line to stdout; skipped/))
})

t.test('a stdout line over maxLineBytes reports the overflow once and nothing more is read', async (t) => {
  const { out, messages, overflows } = output(64)
  out.stdout(Buffer.from('{"jsonrpc":"2.0","id":1,"result":{}}\n'))
  out.stdout(Buffer.from('x'.repeat(100)))
  out.stdout(Buffer.from('\n{"jsonrpc":"2.0","id":2,"result":{}}\n'))
  out.stdoutEnd()
  t.equal(overflows.length, 1)
  t.same(messages.map((m) => (m as { id: number }).id), [1], 'control: the line before the overflow was delivered; none after')
})

t.test(`stderr: the last ${STDERR_TAIL_LINES} lines, each cut at ${STDERR_LINE_MAX_BYTES} bytes`, async (t) => {
  const { out } = output()
  for (let i = 0; i < STDERR_TAIL_LINES + 5; i++) out.stderr(Buffer.from(`line ${i}\n`))
  out.stderr(Buffer.from('y'.repeat(STDERR_LINE_MAX_BYTES * 2)))
  out.stderrEnd()
  const tail = out.stderrTail
  t.equal(tail.length, STDERR_TAIL_LINES)
  t.equal(tail[0], 'line 6', 'the oldest lines dropped first')
  t.ok(Buffer.byteLength(tail.at(-1)!) <= STDERR_LINE_MAX_BYTES + 16, `the long line truncated (${Buffer.byteLength(tail.at(-1)!)} bytes)`)
})

t.test('settlesWithin: true when the promise settles in time, false otherwise', async (t) => {
  t.equal(await settlesWithin(new Promise((r) => setTimeout(r, 10)), 500), true)
  t.equal(await settlesWithin(new Promise(() => {}), 30), false)
})
