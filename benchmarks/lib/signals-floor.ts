/**
 * The "direct path" floor of the ingest benchmark: the raw cost of the aggregator's durable work
 * without any of our code. A bare node:http server that, for each `POST /v1/signals`, checks the
 * bearer token, reads the body (≤ 1 MiB), `JSON.parse`s it, writes each signal as one JSON line
 * (`JSON.stringify`) to one file opened for append, `fdatasync`s, and only then answers
 * `202 {accepted, duplicates: 0, rejected: []}`. No validation, no dedup, no index, no group
 * commit, no rotation, no metrics: what is left is HTTP, JSON and the disk.
 *
 * A standalone process, started by lib/signals-targets.ts:
 *   node --import ./benchmarks/register.mjs benchmarks/lib/signals-floor.ts <port> <file> <token>
 * It prints `listening <port>` once it accepts connections, and exits on SIGTERM.
 */
import fs from 'node:fs'
import http from 'node:http'

const MAX_BODY_BYTES = 1024 * 1024

const [portArg, file, token] = process.argv.slice(2)
if (!portArg || !file || !token) {
  process.stderr.write('usage: signals-floor.ts <port> <file> <token>\n')
  process.exit(2)
}
const fd = fs.openSync(file, 'a')
const auth = `Bearer ${token}`

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function store(res: http.ServerResponse, raw: Buffer): void {
  let signals: unknown
  try {
    signals = (JSON.parse(raw.toString('utf8')) as { signals?: unknown }).signals
  } catch {
    return answer(res, 400, { error: 'malformed JSON' })
  }
  if (!Array.isArray(signals)) return answer(res, 400, { error: 'expected {signals: [...]}' })
  let lines = ''
  for (const s of signals) lines += JSON.stringify(s) + '\n'
  const bytes = Buffer.from(lines)
  fs.write(fd, bytes, 0, bytes.length, null, (err) => {
    if (err) return answer(res, 503, { error: err.message })
    fs.fdatasync(fd, (err2) => {
      if (err2) return answer(res, 503, { error: err2.message })
      answer(res, 202, { accepted: signals.length, duplicates: 0, rejected: [] })
    })
  })
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/signals') {
    req.resume()
    return answer(res, 404, { error: 'not found' })
  }
  if (req.headers.authorization !== auth) {
    req.resume()
    return answer(res, 401, { error: 'unauthorized' })
  }
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (c: Buffer) => {
    size += c.length
    if (size <= MAX_BODY_BYTES) chunks.push(c)
  })
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return answer(res, 413, { error: 'too large' })
    store(res, Buffer.concat(chunks, size))
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`listening ${portArg}\n`))
process.on('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  fs.closeSync(fd)
  process.exit(0)
})
