// The second upstream of benchmarks/mcp-proxy.ts (`--servers minimal`): the same one-tool MCP
// server as mcp-trivial.mjs, but with its Streamable HTTP written out by hand on node:http, with
// no SDK, no schema library and almost no allocation per request. Its latency is flat (no
// garbage-collection pauses of tens of ms, which the SDK server has at 1000 req/s), so what a
// proxy adds at p99 can be told apart from the upstream's own tail.
//
//   node benchmarks/servers/mcp-minimal.mjs <port>
//
// MCP Streamable HTTP (spec 2025-11-25, "Transports"), the subset a client of one tool uses:
// POST /mcp with one JSON-RPC message; `initialize` opens a session (Mcp-Session-Id, UUID);
// every later POST must carry a known session id (404 otherwise); requests are answered with one
// JSON body, notifications with 202; `tools/list` and `tools/call` of `echo` ({text: string},
// returned as text content), `ping`; anything else is -32601. Batches, GET streams and DELETE are
// not served (405). Listens on 127.0.0.1 only. Prints "listening <port>".
import { Buffer } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import process from 'node:process'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: mcp-minimal.mjs <port>\n')
  process.exit(2)
}

const PROTOCOL_VERSIONS = new Set(['2025-11-25', '2025-06-18', '2025-03-26'])
const TOOL = {
  name: 'echo',
  description: 'Returns its text argument unchanged.',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string', description: 'The text to return' } },
    required: ['text'],
    additionalProperties: false,
  },
  annotations: { readOnlyHint: true, idempotentHint: true },
}
const sessions = new Set()

function send(res, status, body, headers = {}) {
  if (body === undefined) {
    // 202 for a notification: no body, so no Content-Type (as the SDK answers).
    res.writeHead(status, { 'content-length': 0, ...headers })
    return res.end()
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

const error = (id, code, message) => ({ jsonrpc: '2.0', id, error: { code, message } })

function answer(msg) {
  const id = msg.id
  switch (msg.method) {
    case 'initialize': {
      const asked = msg.params?.protocolVersion
      return {
        jsonrpc: '2.0',
        id,
        result: {
          protocolVersion: PROTOCOL_VERSIONS.has(asked) ? asked : '2025-11-25',
          capabilities: { tools: {} },
          serverInfo: { name: 'hangar-bench-minimal', version: '1.0.0' },
        },
      }
    }
    case 'ping':
      return { jsonrpc: '2.0', id, result: {} }
    case 'tools/list':
      return { jsonrpc: '2.0', id, result: { tools: [TOOL] } }
    case 'tools/call': {
      const p = msg.params
      if (p?.name !== 'echo') return error(id, -32602, `Unknown tool: ${String(p?.name)}`)
      const text = p.arguments?.text
      if (typeof text !== 'string') return error(id, -32602, 'Invalid arguments: text must be a string')
      return { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } }
    }
    default:
      return error(id, -32601, `Method not found: ${String(msg.method)}`)
  }
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if ((req.url ?? '/').split('?')[0] !== '/mcp') return send(res, 404, error(null, -32000, 'Not found'))
  if (req.method !== 'POST') return send(res, 405, error(null, -32000, 'Method not allowed'), { allow: 'POST' })
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    let msg
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      return send(res, 400, error(null, -32700, 'Parse error'))
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg) || msg.jsonrpc !== '2.0') return send(res, 400, error(null, -32600, 'Invalid Request'))
    const sid = req.headers['mcp-session-id']
    if (msg.method === 'initialize') {
      const id = randomUUID()
      sessions.add(id)
      return send(res, 200, answer(msg), { 'mcp-session-id': id })
    }
    if (typeof sid !== 'string') return send(res, 400, error(null, -32000, 'Bad Request: Mcp-Session-Id header is required'))
    if (!sessions.has(sid)) return send(res, 404, error(null, -32001, 'Session not found'))
    if (msg.id === undefined) return send(res, 202, undefined)
    return send(res, 200, answer(msg), { 'mcp-session-id': sid })
  })
})

server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port} (minimal)\n`))
process.on('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
