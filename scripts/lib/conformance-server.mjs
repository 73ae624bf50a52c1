#!/usr/bin/env node
/**
 * A conformance fixture server: an MCP server, built on the MCP TypeScript SDK's low-level
 * `Server`, that implements what the server scenarios of `@modelcontextprotocol/conformance`
 * 0.1.16 call (the `test_*` tools, resources, prompts, completion, logging, SSE polling), so
 * that every scenario runs to its end instead of failing at its first call as it does against
 * server-everything. The comparison (conformance.mjs) runs the suite against it directly and
 * through the sidecar; what the suite expects of each item is quoted from its scenario texts.
 *
 *   node scripts/lib/conformance-server.mjs stdio
 *   node scripts/lib/conformance-server.mjs http <port>     (logs "listening on port <port>")
 *
 * HTTP mode: Streamable HTTP on 127.0.0.1:<port>/mcp, one SDK transport per session, an
 * in-memory event store (resumability with Last-Event-ID), priming events with `retry`
 * (SEP-1699), and Host validation against loopback names (DNS-rebinding protection, MCP
 * 2025-11-25 Transports "Security Warning"). Loopback only.
 */
import { Buffer } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import process from 'node:process'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js'
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  isInitializeRequest,
  LATEST_PROTOCOL_VERSION,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js'

/** A 1×1 red PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='
/** A 44-byte WAV header with no samples (8 kHz, 8-bit, mono). */
const WAV = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA='

const EMPTY_OBJECT = { type: 'object', properties: {} }

const TOOLS = [
  { name: 'test_simple_text', description: 'Returns simple text content', inputSchema: EMPTY_OBJECT },
  { name: 'test_image_content', description: 'Returns image content', inputSchema: EMPTY_OBJECT },
  { name: 'test_audio_content', description: 'Returns audio content', inputSchema: EMPTY_OBJECT },
  { name: 'test_embedded_resource', description: 'Returns an embedded resource', inputSchema: EMPTY_OBJECT },
  { name: 'test_multiple_content_types', description: 'Returns text, image and resource content', inputSchema: EMPTY_OBJECT },
  { name: 'test_tool_with_logging', description: 'Sends three log notifications while it runs', inputSchema: EMPTY_OBJECT },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100', inputSchema: EMPTY_OBJECT },
  { name: 'test_error_handling', description: 'Always fails with isError: true', inputSchema: EMPTY_OBJECT },
  {
    name: 'test_sampling',
    description: 'Asks the client for an LLM completion (sampling/createMessage)',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the client for user input (elicitation/create)',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
  { name: 'test_elicitation_sep1034_defaults', description: 'Elicitation with default values (SEP-1034)', inputSchema: EMPTY_OBJECT },
  { name: 'test_elicitation_sep1330_enums', description: 'Elicitation with the enum schema variants (SEP-1330)', inputSchema: EMPTY_OBJECT },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
  { name: 'test_reconnection', description: 'Closes its SSE stream mid-call; the result comes after the client reconnects (SEP-1699)', inputSchema: EMPTY_OBJECT },
]

const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static binary resource', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource to subscribe to', mimeType: 'text/plain' },
]

const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds a resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with image content' },
]

/** @param {string} text */
const text = (text) => ({ type: 'text', text })

/**
 * One MCP server (one per HTTP session, one for stdio).
 * @returns {Server}
 */
export function createConformanceServer() {
  const server = new Server(
    { name: 'hangar-conformance-fixture', version: '1.0.0' },
    { capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} } },
  )

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }))

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = req.params.arguments ?? {}
    /** @param {Record<string, unknown>} params */
    const log = (params) => extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'conformance', ...params } })
    switch (req.params.name) {
      case 'test_simple_text':
        return { content: [text('This is a simple text response for testing.')] }
      case 'test_image_content':
        return { content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }
      case 'test_audio_content':
        return { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }
      case 'test_embedded_resource':
        return { content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] }
      case 'test_multiple_content_types':
        return {
          content: [
            text('Multiple content types test:'),
            { type: 'image', data: PNG, mimeType: 'image/png' },
            { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' } },
          ],
        }
      case 'test_tool_with_logging':
        await log({ data: 'Tool execution started' })
        await sleep(50)
        await log({ data: 'Tool processing data' })
        await sleep(50)
        await log({ data: 'Tool execution completed' })
        return { content: [text('Tool with logging executed successfully')] }
      case 'test_tool_with_progress': {
        const token = req.params._meta?.progressToken
        for (const progress of [0, 50, 100]) {
          if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } })
          if (progress < 100) await sleep(50)
        }
        return { content: [text(`Progress tool completed (token ${String(token)})`)] }
      }
      case 'test_error_handling':
        return { isError: true, content: [text('This tool intentionally returns an error for testing')] }
      case 'test_sampling': {
        const r = await extra.sendRequest(
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: text(String(args.prompt ?? '')) }], maxTokens: 100 } },
          CreateMessageResultSchema,
        )
        const c = /** @type {{ type: string, text?: string }} */ (r.content)
        return { content: [text(`LLM response: ${c.type === 'text' ? c.text : JSON.stringify(c)}`)] }
      }
      case 'test_elicitation': {
        const r = await extra.sendRequest(
          {
            method: 'elicitation/create',
            params: {
              message: String(args.message ?? ''),
              requestedSchema: {
                type: 'object',
                properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
                required: ['username', 'email'],
              },
            },
          },
          ElicitResultSchema,
        )
        return { content: [text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] }
      }
      case 'test_elicitation_sep1034_defaults': {
        const r = await extra.sendRequest(
          {
            method: 'elicitation/create',
            params: {
              message: 'Please review and update the form fields with defaults',
              requestedSchema: {
                type: 'object',
                properties: {
                  name: { type: 'string', description: 'User name', default: 'John Doe' },
                  age: { type: 'integer', description: 'User age', default: 30 },
                  score: { type: 'number', description: 'User score', default: 95.5 },
                  status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
                  verified: { type: 'boolean', description: 'Verification status', default: true },
                },
              },
            },
          },
          ElicitResultSchema,
        )
        return { content: [text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] }
      }
      case 'test_elicitation_sep1330_enums': {
        const r = await extra.sendRequest(
          {
            method: 'elicitation/create',
            params: {
              message: 'Please select options from the enum fields',
              requestedSchema: {
                type: 'object',
                properties: {
                  untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
                  titledSingle: {
                    type: 'string',
                    description: 'Titled single-select',
                    oneOf: [
                      { const: 'value1', title: 'First Option' },
                      { const: 'value2', title: 'Second Option' },
                      { const: 'value3', title: 'Third Option' },
                    ],
                  },
                  legacyEnum: { type: 'string', description: 'Legacy titled enum', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
                  untitledMulti: { type: 'array', description: 'Untitled multi-select', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
                  titledMulti: {
                    type: 'array',
                    description: 'Titled multi-select',
                    items: {
                      anyOf: [
                        { const: 'value1', title: 'First Choice' },
                        { const: 'value2', title: 'Second Choice' },
                        { const: 'value3', title: 'Third Choice' },
                      ],
                    },
                  },
                },
              },
            },
          },
          ElicitResultSchema,
        )
        return { content: [text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] }
      }
      case 'json_schema_2020_12_tool':
        return { content: [text(`JSON Schema 2020-12 tool called with ${JSON.stringify(args)}`)] }
      case 'test_reconnection':
        // SEP-1699: the server may close the POST's SSE stream mid-call; the client reconnects
        // with GET and Last-Event-ID and gets the result replayed from the event store.
        if (extra.closeSSEStream) {
          await sleep(50)
          extra.closeSSEStream()
          await sleep(100)
        }
        return { content: [text('Reconnection test completed')] }
      default:
        throw new McpError(-32602, `Tool ${req.params.name} not found`)
    }
  })

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: RESOURCES }))
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template', description: 'A resource template', mimeType: 'application/json' }],
  }))
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    const uri = req.params.uri
    if (uri === 'test://static-text') return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] }
    if (uri === 'test://static-binary') return { contents: [{ uri, mimeType: 'image/png', blob: PNG }] }
    if (uri === 'test://watched-resource') return { contents: [{ uri, mimeType: 'text/plain', text: 'Watched resource content.' }] }
    const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri)
    if (m) return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id: m[1], templateTest: true, data: `Data for ID: ${m[1]}` }) }] }
    throw new McpError(-32002, `Resource ${uri} not found`)
  })
  server.setRequestHandler(SubscribeRequestSchema, async () => ({}))
  server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}))

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }))
  server.setRequestHandler(GetPromptRequestSchema, async (req) => {
    const a = req.params.arguments ?? {}
    switch (req.params.name) {
      case 'test_simple_prompt':
        return { messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] }
      case 'test_prompt_with_arguments':
        return { messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'`) }] }
      case 'test_prompt_with_embedded_resource':
        return {
          messages: [
            { role: 'user', content: { type: 'resource', resource: { uri: a.resourceUri ?? 'test://embedded', mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
            { role: 'user', content: text('Please process the embedded resource above.') },
          ],
        }
      case 'test_prompt_with_image':
        return { messages: [{ role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } }, { role: 'user', content: text('Please analyze the image above.') }] }
      default:
        throw new McpError(-32602, `Prompt ${req.params.name} not found`)
    }
  })

  server.setRequestHandler(CompleteRequestSchema, async (req) => {
    const values = ['paris', 'park', 'party'].filter((v) => v.startsWith(req.params.argument.value))
    return { completion: { values, total: values.length, hasMore: false } }
  })
  return server
}

/**
 * Replaces one request header in both views Node keeps of it (`headers` and `rawHeaders`).
 * @param {import('node:http').IncomingMessage} req
 * @param {string} name lowercase
 * @param {string} value
 */
function setHeader(req, name, value) {
  req.headers[name] = value
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === name) req.rawHeaders[i + 1] = value
}

/**
 * Serves the fixture over Streamable HTTP on 127.0.0.1:`port`, path `/mcp`.
 * @param {number} port
 * @returns {Promise<import('node:http').Server>}
 */
export function serveHttp(port) {
  const eventStore = new InMemoryEventStore()
  /** @type {Map<string, { transport: StreamableHTTPServerTransport, version: string }>} */
  const sessions = new Map()
  const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]
  /** @param {import('node:http').ServerResponse} res @param {number} status @param {string} message */
  const fail = (res, status, message) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }))
  }
  const http = createServer(async (req, res) => {
    try {
      if ((req.url ?? '').split('?')[0] !== '/mcp') return fail(res, 404, 'Not Found')
      const sid = req.headers['mcp-session-id']
      const known = typeof sid === 'string' ? sessions.get(sid) : undefined
      if (known) {
        // The suite's raw SSE-polling requests carry MCP-Protocol-Version 2025-03-26 although
        // the session negotiated 2025-11-25; the SDK would then skip priming events and
        // closeSSEStream. Going by the negotiated version makes the SEP-1699 path run.
        if (req.headers['mcp-protocol-version'] !== undefined) setHeader(req, 'mcp-protocol-version', known.version)
        return await known.transport.handleRequest(req, res)
      }
      if (sid !== undefined) return fail(res, 404, 'Session not found')
      if (req.method !== 'POST') return fail(res, 400, 'Bad Request: No valid session ID provided')
      const chunks = []
      for await (const c of req) chunks.push(c)
      let body
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        return fail(res, 400, 'Parse error')
      }
      if (!isInitializeRequest(body)) return fail(res, 400, 'Bad Request: No valid session ID provided')
      const requested = body.params.protocolVersion
      const version = SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore,
        retryInterval: 500,
        enableDnsRebindingProtection: true,
        allowedHosts,
        onsessioninitialized: (id) => void sessions.set(id, { transport, version }),
      })
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId)
      }
      await createConformanceServer().connect(transport)
      await transport.handleRequest(req, res, body)
    } catch (err) {
      if (!res.headersSent) fail(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}`)
      else res.end()
    }
  })
  return new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, '127.0.0.1', () => resolve(http))
  })
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) {
  const mode = process.argv[2]
  if (mode === 'stdio') {
    await createConformanceServer().connect(new StdioServerTransport())
  } else if (mode === 'http') {
    const port = Number(process.argv[3])
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      process.stderr.write('usage: conformance-server.mjs http <port>\n')
      process.exit(2)
    }
    await serveHttp(port)
    process.stderr.write(`conformance fixture listening on port ${port}\n`)
  } else {
    process.stderr.write('usage: conformance-server.mjs stdio | http <port>\n')
    process.exit(2)
  }
}
