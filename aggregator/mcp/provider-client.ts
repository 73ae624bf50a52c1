/**
 * The aggregator as an MCP client of a provider's sidecar (for `hangar_tools` and `hangar_call`):
 * it connects to the MCP URL the sidecar reported in its heartbeat, with the provider's first
 * ingress token from hangar.yaml, and names the caller with `X-Hangar-Caller: aggregator/<who>`
 * so the sidecar's signals say who acted through the aggregator. One connection per call:
 * these are operator actions, not a data path.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'

export interface ProviderClientOptions {
  /** The sidecar MCP URL of a provider (from its last heartbeat). */
  urlOf(provider: string): string | undefined
  /** The provider's ingress bearer token, if its ingress requires one. */
  tokenOf(provider: string): string | undefined
  version: string
  /** Per call, ms. Default 60 000. */
  timeoutMs?: number
}

export class ProviderClient {
  constructor(private readonly o: ProviderClientOptions) {}

  async #with<T>(provider: string, caller: string | undefined, fn: (c: Client) => Promise<T>): Promise<T> {
    const url = this.o.urlOf(provider)
    if (!url) throw new Error(`its sidecar has not reported an MCP URL (no heartbeat yet, or the provider has no ingress)`)
    const token = this.o.tokenOf(provider)
    const headers: Record<string, string> = { 'X-Hangar-Caller': `aggregator/${caller ?? 'mcp'}`.slice(0, 128) }
    if (token) headers.Authorization = `Bearer ${token}`
    const client = new Client({ name: 'mcp-hangar-aggregator', version: this.o.version })
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } })
    await client.connect(transport, { timeout: this.o.timeoutMs ?? 60_000 })
    try {
      return await fn(client)
    } finally {
      await client.close().catch(() => {})
    }
  }

  /** Every tool the sidecar shows (all pages). */
  listTools(provider: string, caller?: string): Promise<Tool[]> {
    return this.#with(provider, caller, async (c) => {
      const tools: Tool[] = []
      let cursor: string | undefined
      do {
        const page = await c.listTools(cursor ? { cursor } : {}, { timeout: this.o.timeoutMs ?? 60_000 })
        tools.push(...page.tools)
        cursor = page.nextCursor
      } while (cursor && tools.length < 10_000)
      return tools
    })
  }

  /** Calls a tool; a JSON-RPC error from the sidecar (refusal) is thrown with its message. */
  callTool(provider: string, tool: string, args: Record<string, unknown>, caller?: string): Promise<CallToolResult> {
    return this.#with(provider, caller, async (c) => (await c.callTool({ name: tool, arguments: args }, undefined, { timeout: this.o.timeoutMs ?? 60_000 })) as CallToolResult)
  }
}
