// The floor under any MCP proxy written for Node: a bare relay with the sidecar's own
// building blocks (a node:http server in front, an undici Pool of keep-alive connections behind)
// and nothing else: no header checks, no JSON parsing, no inspection, no metrics. Whatever the
// sidecar costs above this relay is its own work; what this relay costs is Node's.
//
//   node benchmarks/servers/mcp-node-relay.mjs <listen-port> <upstream-port>
//
// Forwards every request to http://127.0.0.1:<upstream-port> with the same method, path, body and
// the MCP headers (Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version), and streams the
// answer back with its status, Content-Type and Mcp-Session-Id. Loopback only.
// Measured as the `relay` path of benchmarks/mcp-proxy.ts (docs/benchmarks/mcp-proxy.md).
import { Buffer } from 'node:buffer'
import http from 'node:http'
import process from 'node:process'
import { Pool } from 'undici'

const listen = Number(process.argv[2])
const upstream = Number(process.argv[3])
if (!Number.isInteger(listen) || !Number.isInteger(upstream)) {
  process.stderr.write('usage: mcp-node-relay.mjs <listen-port> <upstream-port>\n')
  process.exit(2)
}

const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 64, pipelining: 1, bodyTimeout: 0, keepAliveTimeout: 30_000 })
const FORWARD = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version']
const BACK = ['content-type', 'mcp-session-id', 'cache-control']

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', async () => {
    const headers = {}
    for (const h of FORWARD) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h]
    try {
      const up = await pool.request({ path: req.url ?? '/', method: req.method ?? 'GET', headers, body: chunks.length ? Buffer.concat(chunks) : undefined })
      const out = {}
      for (const h of BACK) if (typeof up.headers[h] === 'string') out[h] = up.headers[h]
      res.writeHead(up.statusCode, out)
      for await (const chunk of up.body) res.write(chunk)
      res.end()
    } catch (err) {
      if (!res.headersSent) res.writeHead(502).end(String(err))
      else res.destroy()
    }
  })
})

server.listen(listen, '127.0.0.1', () => process.stdout.write(`listening ${listen} -> ${upstream}\n`))
process.on('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
