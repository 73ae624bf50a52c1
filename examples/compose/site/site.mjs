// The Compose example's test site: answers every GET with a small page naming the Host asked for.
import { Buffer } from 'node:buffer'
import { createServer } from 'node:http'
import process from 'node:process'

const port = 80
createServer((req, res) => {
  const body = `<html><head><title>hangar test site</title></head><body><h1>Hello from ${req.headers.host ?? 'the site'}</h1><p>Served by the MCP Hangar compose example.</p></body></html>\n`
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}).listen(port, '0.0.0.0', () => process.stdout.write(`site listening on :${port}\n`))
process.on('SIGTERM', () => process.exit(0))
