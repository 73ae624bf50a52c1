// The upstream of benchmarks/mcp-proxy.ts: a trivial MCP server over Streamable HTTP, written
// the way the MCP TypeScript SDK documents it (McpServer + StreamableHTTPServerTransport on a
// plain node:http server), with one tool `echo` that returns its `text` argument.
//
//   node benchmarks/servers/mcp-trivial.mjs <port> [stateless|stateful] [sse|json]
//
// stateless (sessionIdGenerator undefined): the SDK requires a fresh McpServer and transport per
//   HTTP request ("Stateless transport cannot be reused across requests"); no Mcp-Session-Id.
// stateful: a session per `initialize` (Mcp-Session-Id, UUID), one McpServer and transport per
//   session; every POST of the session goes to that transport. Clients may send many POSTs of one
//   session at once, each with its own JSON-RPC id.
// A POST is answered with an SSE stream carrying its response(s) (the SDK's default), or with
// `json` one JSON body (enableJsonResponse). Note: SDK 1.x leaks one `_streamMapping` entry per
// POST of a long-lived session in JSON mode (modelcontextprotocol/typescript-sdk#2559, fixed on
// main, not in 1.32): stateful + json grows with every request and slows down.
// Listens on 127.0.0.1 only. Prints "listening <port>" when ready;
// SIGTERM stops it.
import { Buffer } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import process from 'node:process'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'

const port = Number(process.argv[2])
const mode = process.argv[3] ?? 'stateless'
const answer = process.argv[4] ?? 'sse'
if (!Number.isInteger(port) || port <= 0 || (mode !== 'stateless' && mode !== 'stateful') || (answer !== 'json' && answer !== 'sse')) {
  process.stderr.write('usage: mcp-trivial.mjs <port> [stateless|stateful] [sse|json]\n')
  process.exit(2)
}
const enableJsonResponse = answer === 'json'

function newServer() {
  const server = new McpServer({ name: 'hangar-bench-trivial', version: '1.0.0' })
  server.registerTool(
    'echo',
    {
      description: 'Returns its text argument unchanged.',
      inputSchema: { text: z.string().describe('The text to return') },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  )
  return server
}

/** stateful: session id → its transport. */
const sessions = new Map()

function jsonError(res, status, message) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }))
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined)
      } catch (e) {
        reject(e)
      }
    })
    req.on('error', reject)
  })
}

const isInitialize = (body) => (Array.isArray(body) ? body : [body]).some((m) => m && m.method === 'initialize')

async function stateless(req, res, body) {
  const server = newServer()
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse })
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, body)
}

async function stateful(req, res, body) {
  const sid = req.headers['mcp-session-id']
  const known = typeof sid === 'string' ? sessions.get(sid) : undefined
  if (known) return known.handleRequest(req, res, body)
  if (sid !== undefined) return jsonError(res, 404, 'Session not found')
  if (req.method !== 'POST' || !isInitialize(body)) return jsonError(res, 400, 'Bad Request: no valid session id')
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse,
    onsessioninitialized: (id) => sessions.set(id, transport),
  })
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId)
  }
  await newServer().connect(transport)
  await transport.handleRequest(req, res, body)
}

const httpServer = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const run = async () => {
    if ((req.url ?? '/').split('?')[0] !== '/mcp') return jsonError(res, 404, 'Not found')
    const body = req.method === 'POST' ? await readJson(req) : undefined
    return mode === 'stateless' ? stateless(req, res, body) : stateful(req, res, body)
  }
  run().catch((err) => {
    if (!res.headersSent) jsonError(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}`)
    else res.destroy()
  })
})

httpServer.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port} (${mode}, ${answer})\n`))
process.on('SIGTERM', () => {
  for (const t of sessions.values()) void t.close()
  httpServer.close(() => process.exit(0))
  httpServer.closeAllConnections()
})
