/**
 * `mode: remote` against a provider written out on node:http, for the answers real servers give
 * that the SDK server does not:
 * - 202/204 for a notification, with `Content-Type: application/json` and no body (Python
 *   servers do this): passed through as is, never a 502 for "not JSON";
 * - a client that goes away mid-call cancels the upstream request (the provider sees its request
 *   closed), and a call that completes cancels nothing (the keep-alive connection is reused).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { startSidecar } from '../../helpers/mcp.js'
import { waitUntil } from '../../fixtures/mcp/harness.js'

const ACCEPT = 'application/json, text/event-stream'
const HEADERS = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': '2025-11-25' }

interface Provider {
  port: number
  /** Requests whose connection or response closed before the provider answered. */
  cancelled: string[]
  /** Distinct upstream sockets seen. */
  sockets: Set<unknown>
  /** Status for notifications. */
  notificationStatus: number
  stop(): Promise<void>
}

async function provider(t: Test): Promise<Provider> {
  const p: Provider = { port: 0, cancelled: [], sockets: new Set(), notificationStatus: 202, stop: async () => undefined }
  const server = http.createServer((req, res) => {
    p.sockets.add(req.socket)
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      const msg = JSON.parse(body) as { id?: number; method: string; params?: { name?: string } }
      if (msg.id === undefined) {
        // A notification: the status and a JSON content type, but no body.
        res.writeHead(p.notificationStatus, { 'content-type': 'application/json', 'mcp-session-id': 's-1' })
        return void res.end()
      }
      const reply = (result: unknown) => {
        const text = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result })
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's-1', 'content-length': Buffer.byteLength(text) })
        res.end(text)
      }
      if (msg.method === 'initialize') return reply({ protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'edges', version: '1' } })
      if (msg.method === 'tools/list') return reply({ tools: [{ name: 'slow', inputSchema: { type: 'object' } }, { name: 'fast', inputSchema: { type: 'object' } }] })
      if (msg.params?.name === 'fast') return reply({ content: [{ type: 'text', text: 'fast' }] })
      // `slow` never answers; record when the sidecar gives up on it.
      res.once('close', () => {
        if (!res.writableFinished) p.cancelled.push(String(msg.id))
      })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  p.port = (server.address() as AddressInfo).port
  p.stop = () => new Promise<void>((r) => {
    server.closeAllConnections()
    server.close(() => r())
  })
  t.teardown(() => p.stop())
  return p
}

async function post(url: URL, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': 's-1' }, body: JSON.stringify(body), ...(signal && { signal }) })
}

t.test('202 and 204 with a JSON content type and no body pass through', async (t) => {
  const up = await provider(t)
  const rig = await startSidecar('edges', { mode: 'remote', endpoint: `http://127.0.0.1:${up.port}/mcp` })
  t.teardown(() => rig.stop())
  const init = await fetch(rig.url, { method: 'POST', headers: HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) })
  t.equal(init.status, 200)
  await init.text()
  for (const status of [202, 204]) {
    up.notificationStatus = status
    const res = await post(rig.url, { jsonrpc: '2.0', method: 'notifications/initialized' })
    t.equal(res.status, status, `the provider's ${status} reaches the client`)
    t.equal(await res.text(), '', 'with no body')
  }
})

t.test('a client that goes away cancels the upstream call; a completed call cancels nothing', async (t) => {
  const up = await provider(t)
  const rig = await startSidecar('edges', { mode: 'remote', endpoint: `http://127.0.0.1:${up.port}/mcp`, capabilities: { tools: { allow_list: ['slow', 'fast'] } } })
  t.teardown(() => rig.stop())

  for (let i = 0; i < 5; i++) {
    const res = await post(rig.url, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'fast', arguments: {} } })
    t.equal(res.status, 200)
    t.match(await res.text(), /"text":"fast"/)
  }
  t.same(up.cancelled, [], 'completed calls cancelled nothing upstream')
  const socketsAfterFast = up.sockets.size

  const ac = new AbortController()
  const pending = post(rig.url, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: {} } }, ac.signal).catch((e: Error) => e)
  // The provider has the request once the sidecar forwarded it.
  await waitUntil(() => up.sockets.size > 0, 'the provider has a connection', 5_000)
  await new Promise((r) => setTimeout(r, 100))
  ac.abort()
  t.type(await pending, Error, 'the client gave up')
  await waitUntil(() => up.cancelled.length === 1, 'the provider saw the call cancelled', 5_000)
  t.same(up.cancelled, ['7'], 'the provider saw the abandoned call cancelled')
  t.ok(socketsAfterFast <= 2, `sequential completed calls reused keep-alive connections (${socketsAfterFast} sockets)`)
})
