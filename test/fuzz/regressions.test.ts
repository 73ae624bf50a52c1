// Regressions found by the fuzzers (test/fuzz/props/*), each pinned by the smallest input:
// - SseReader (core/http/sse.ts): an event ended by CR CR was held until a later chunk with a
//   line break arrived, and dropped at the end of the stream, so the events depended on chunking
//   (WHATWG §9.2.5: CR alone ends a line). Counterexample: the bytes "data:\r\rdata:" read whole
//   gave one event, one byte per chunk none.
// - parseConfig (config/load.ts): a YAML alias bomb escaped as an uncaught ReferenceError
//   from the yaml library (pinned in test/config/strict.test.ts with the CLI's exit status).
// - Configs that loaded but did not compile: `tools.deny_list: [""]` (the sidecar's tool policy
//   then threw HANGAR_GLOB_INVALID at start, without the provider's path) and `rate_limit.rps:
//   .inf` (a RangeError from the rate limiter); `circuit_breaker.reset_timeout_s: .inf` and any
//   `*_ms` / `*_s` beyond a Node timer's 2^31−1 ms made a timer fire after 1 ms.
import t from 'tap'
import { parseConfig } from '../../config/load.js'
import { ConfigError } from '../../core/errors.js'
import { TokenBucket } from '../../policy/rate-limit.js'
import { SseReader, type SseEvent } from '../../core/http/sse.js'
import { compileToolPolicy } from '../../policy/tool-policy.js'

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

function issues(text: string): Array<{ path: string; message: string }> {
  try {
    parseConfig(text)
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues]
    throw e
  }
  return []
}

const P = 'providers:\n  p:\n    command: [x]\n'

t.test('config: what loads compiles (empty tool globs, infinite rates and timeouts are load errors)', async (t) => {
  t.strictSame(issues(`${P}    capabilities:\n      tools:\n        deny_list: ["rm", ""]\n        allow_list: [""]\n`).map((i) => i.path).sort(), [
    'providers.p.capabilities.tools.allow_list[0]',
    'providers.p.capabilities.tools.deny_list[1]',
  ])
  t.strictSame(issues(`${P}    rate_limit: {rps: .inf, burst: 1}\n`).map((i) => i.path), ['providers.p.rate_limit.rps'])
  t.strictSame(issues(`${P}    circuit_breaker: {reset_timeout_s: .inf}\n`).map((i) => i.path), ['providers.p.circuit_breaker.reset_timeout_s'])
  const timers = issues(`${P}    request_timeout_ms: 2147483648\n    idle_ttl_s: 2147484\n    sidecar:\n      limits: {header_timeout_ms: 1e12}\n`)
  t.strictSame(timers.map((i) => i.path).sort(), ['providers.p.idle_ttl_s', 'providers.p.request_timeout_ms', 'providers.p.sidecar.limits.header_timeout_ms'])
  t.match(timers[0]!.message, /the longest a timer holds/)

  // Controls: the largest values a timer holds, a finite rate and a real glob load and compile.
  const { config } = parseConfig(`${P}    request_timeout_ms: 2147483647\n    idle_ttl_s: 2147483\n    rate_limit: {rps: 1e6, burst: 1}\n    capabilities:\n      tools:\n        deny_list: ["*"]\n`)
  const p = config.providers.p!
  t.doesNotThrow(() => compileToolPolicy(p.capabilities.tools))
  t.doesNotThrow(() => new TokenBucket(p.rate_limit!, () => 0))
  // The runtime refusals these load errors now pre-empt are real.
  t.throws(() => compileToolPolicy({ deny_list: [''] }), { code: 'HANGAR_GLOB_INVALID' })
  t.throws(() => new TokenBucket({ rps: Infinity, burst: 1 }, () => 0), RangeError)
})
