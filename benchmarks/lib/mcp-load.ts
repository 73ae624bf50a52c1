/**
 * Open-loop (constant-rate) load for benchmarks/mcp-proxy.ts: MCP `tools/call` POSTs at a fixed
 * rate, each started at its scheduled time whether or not earlier ones have answered, so a slow
 * answer does not hold back the next requests (no coordinated omission, as in wrk2). Latency is
 * taken from the scheduled start, not from the moment the request left; the lag between the two
 * (the generator's own timer granularity and pauses) is reported on its own.
 *
 * Runs as its own process (pinned by the caller):
 *   node --import ./benchmarks/register.mjs benchmarks/lib/mcp-load.ts '<json LoadSpec>'
 * and prints one JSON {@link LoadResult} on stdout. Loopback only.
 *
 * Every answer is checked: HTTP 200, a JSON body or an SSE stream carrying a JSON-RPC result with
 * the request's id whose first content item is the echoed text. Anything else counts as an error.
 */
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import { percentile } from './stats.js'

/** What to send. */
export interface LoadSpec {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string
  /** Requests per second. */
  rate: number
  /** Unrecorded seconds at the same rate first. */
  warmupS: number
  /** Recorded seconds. */
  durationS: number
  /** Most connections the undici Pool opens. */
  connections: number
  /** `Mcp-Session-Id` to send (a stateful upstream), or undefined. */
  sessionId?: string
  /** `MCP-Protocol-Version` to send. */
  protocolVersion: string
  /** The `text` argument of `echo`, expected back in the result. */
  text: string
  /** A request unanswered after this is an error, ms. */
  timeoutMs: number
}

/** Latency percentiles, ms. */
export interface Percentiles {
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

/** What one run measured (recorded window only). */
export interface LoadResult {
  /** Requests scheduled in the recorded window. */
  scheduled: number
  /** Of those, answered correctly. */
  ok: number
  errors: number
  /** The first error, for the report. */
  firstError: string
  /** Correct answers per second, from the first recorded request's scheduled start to the last answer (below `rate` when the path falls behind). */
  achievedRate: number
  /** From the scheduled start to the last byte of the answer. */
  latencyMs: Percentiles
  /** From the moment the request was handed to undici to the last byte of the answer. */
  serviceMs: Percentiles
  /** From the scheduled start to the hand-over: the generator's own delay. */
  lagMs: Percentiles
}

function pct(values: Float64Array, n: number): Percentiles {
  const s = Array.from(values.subarray(0, n)).sort((a, b) => a - b)
  return { p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99), p999: percentile(s, 0.999), max: s[s.length - 1] ?? NaN }
}

interface Answer {
  id?: unknown
  result?: { content?: { text?: unknown }[] }
}

/**
 * The JSON-RPC message of an answer: the JSON body, or the first `data:` event of an SSE stream
 * (MCP Streamable HTTP lets a server answer a POST either way). Undefined when neither parses.
 */
export function answerOf(contentType: string, body: string): Answer | undefined {
  try {
    if (contentType.startsWith('application/json')) return JSON.parse(body) as Answer
    if (!contentType.startsWith('text/event-stream')) return undefined
    for (const line of body.split('\n')) {
      if (!line.startsWith('data:')) continue
      const data = line.slice(line.charCodeAt(5) === 0x20 ? 6 : 5).trimEnd()
      if (data) return JSON.parse(data) as Answer
    }
  } catch {
    /* not JSON */
  }
  return undefined
}

/** Runs the load described by `spec`; resolves when every recorded request is answered or timed out. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.url)
  const pool = new Pool(url.origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 120_000, headersTimeout: spec.timeoutMs, bodyTimeout: spec.timeoutMs })
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': spec.protocolVersion,
  }
  if (spec.sessionId) headers['mcp-session-id'] = spec.sessionId
  const interval = 1000 / spec.rate
  const warmupN = Math.round(spec.warmupS * spec.rate)
  const recordN = Math.round(spec.durationS * spec.rate)
  const total = warmupN + recordN
  const latency = new Float64Array(recordN)
  const service = new Float64Array(recordN)
  const lag = new Float64Array(recordN)
  let ok = 0
  let errors = 0
  let firstRecorded = Infinity
  let lastEnd = 0
  let firstError = ''
  const fail = (why: string) => {
    errors++
    if (!firstError) firstError = why
  }
  const expected = `"text":${JSON.stringify(spec.text)}`
  const nonce = `${process.pid.toString(36)}-${Date.now().toString(36)}`
  let outstanding = 0
  let allSent = false
  let finish: () => void = () => undefined
  const finished = new Promise<void>((resolve) => (finish = resolve))

  const one = async (i: number, scheduled: number): Promise<void> => {
    const recorded = i >= warmupN
    const id = `${nonce}-${i}`
    const body = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"tools/call","params":{"name":"echo","arguments":{"text":${JSON.stringify(spec.text)}}}}`
    const sent = performance.now()
    try {
      const r = await pool.request({ path: `${url.pathname}${url.search}`, method: 'POST', headers, body })
      const text = await r.body.text()
      const end = performance.now()
      if (!recorded) return
      const type = String(r.headers['content-type'] ?? '')
      if (r.statusCode !== 200) return fail(`HTTP ${r.statusCode} ${type}: ${text.slice(0, 200)}`)
      // A substring check first (cheap), then the full JSON check of id and result.
      if (!text.includes(expected)) return fail(`unexpected body: ${text.slice(0, 200)}`)
      const msg = answerOf(type, text)
      if (msg?.id !== id || msg.result?.content?.[0]?.text !== spec.text) return fail(`wrong answer: ${text.slice(0, 200)}`)
      if (scheduled < firstRecorded) firstRecorded = scheduled
      if (end > lastEnd) lastEnd = end
      latency[ok] = end - scheduled
      service[ok] = end - sent
      lag[ok] = sent - scheduled
      ok++
    } catch (err) {
      if (recorded) fail(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`)
    } finally {
      outstanding--
      if (allSent && outstanding === 0) finish()
    }
  }

  const t0 = performance.now() + 20
  let next = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      while (next < total && t0 + next * interval <= now) {
        outstanding++
        void one(next, t0 + next * interval)
        next++
      }
      if (next >= total) return resolve()
      // Node timers have 1 ms resolution: requests due within it go out on the next tick, late
      // by up to ~1 ms; the lag is measured and latency counts from the schedule regardless.
      setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()))
    }
    setTimeout(tick, Math.max(0, t0 - performance.now()))
  })
  allSent = true
  if (outstanding === 0) finish()
  await finished
  await pool.close()
  return {
    scheduled: recordN,
    ok,
    errors,
    firstError,
    achievedRate: ok > 1 ? ok / ((lastEnd - firstRecorded) / 1000) : 0,
    latencyMs: pct(latency, ok),
    serviceMs: pct(service, ok),
    lagMs: pct(lag, ok),
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec
  runLoad(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`)
      process.exit(0)
    },
    (err: unknown) => {
      process.stderr.write(`mcp-load: ${err instanceof Error ? err.stack : String(err)}\n`)
      process.exit(1)
    },
  )
}
