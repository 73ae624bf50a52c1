/**
 * `/mcp` of the aggregator: MCP Streamable HTTP in stateless mode (the SDK's
 * StreamableHTTPServerTransport with no session ids, JSON responses): each request gets a fresh
 * server with the hangar_* tools, so no session state lives in the aggregator.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { callerOf } from '../../core/http/auth.js'
import { createHangarMcpServer, type HangarToolsOptions } from './tools.js'

/** Builds the `/mcp` handler. */
export function mcpEndpoint(o: Omit<HangarToolsOptions, 'caller'>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const caller = callerOf(req.headers)
    const server = createHangarMcpServer({ ...o, ...(caller && { caller }) })
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res)
  }
}
