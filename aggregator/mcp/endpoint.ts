/**
 * `/mcp` of the aggregator: MCP Streamable HTTP in stateless mode (the SDK's
 * StreamableHTTPServerTransport with no session ids, JSON responses): each request gets a fresh
 * server with the hangar_* tools, so no session state lives in the aggregator. Under RBAC the
 * server (aggregator/http/server.ts) passes the authenticated principal: it is the caller of
 * record and each tool checks its role; otherwise the caller is what the request says (the
 * bearer JWT `sub` or `X-Hangar-Caller`, unverified).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { callerOf } from '../../core/http/auth.js'
import type { Principal } from '../../core/ports.js'
import { createHangarMcpServer, type HangarToolsOptions } from './tools.js'

/** Builds the `/mcp` handler; `principal` is the request's principal under RBAC. */
export function mcpEndpoint(o: Omit<HangarToolsOptions, 'caller' | 'principal'>): (req: IncomingMessage, res: ServerResponse, principal?: Principal) => Promise<void> {
  return async (req, res, principal) => {
    const caller = principal?.name ?? callerOf(req.headers)
    const server = createHangarMcpServer({ ...o, ...(caller && { caller }), ...(principal && { principal }) })
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res)
  }
}
