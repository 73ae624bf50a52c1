// Span names and attributes (proxy/trace/attributes.ts): the MCP semantic conventions' `mcp.server`
// span, one table row per method, and the outcome of each kind of answer.
import t from 'tap'
import * as semconv from '@opentelemetry/semantic-conventions'
import * as incubating from '@opentelemetry/semantic-conventions/incubating'
import { ATTR, decisionAttributes, describeOutcome, describeRequest, isServerError, MAX_GROUPS_ON_SPAN, MAX_STATUS_MESSAGE, withCaller, type SpanScopeInfo } from '../../../proxy/trace/attributes.js'
import { RPC, rpcError, type JsonRpcResponse } from '../../../proxy/types.js'

const SCOPE: SpanScopeInfo = { provider: 'fetch', sessionId: 'sess-1', protocolVersion: '2025-06-18', httpVersion: '1.1', clientAddress: '127.0.0.1', clientPort: 50_123 }
const COMMON = {
  'mcp.session.id': 'sess-1',
  'network.transport': 'tcp',
  'network.protocol.name': 'http',
  'network.protocol.version': '1.1',
  'client.address': '127.0.0.1',
  'client.port': 50_123,
  'hangar.provider': 'fetch',
}

t.test('attribute names are the semantic conventions package names', async (t) => {
  const expected: Record<string, string> = {
    MCP_METHOD_NAME: incubating.ATTR_MCP_METHOD_NAME,
    MCP_SESSION_ID: incubating.ATTR_MCP_SESSION_ID,
    MCP_PROTOCOL_VERSION: incubating.ATTR_MCP_PROTOCOL_VERSION,
    MCP_RESOURCE_URI: incubating.ATTR_MCP_RESOURCE_URI,
    JSONRPC_REQUEST_ID: incubating.ATTR_JSONRPC_REQUEST_ID,
    GEN_AI_TOOL_NAME: incubating.ATTR_GEN_AI_TOOL_NAME,
    GEN_AI_OPERATION_NAME: incubating.ATTR_GEN_AI_OPERATION_NAME,
    GEN_AI_PROMPT_NAME: incubating.ATTR_GEN_AI_PROMPT_NAME,
    RPC_RESPONSE_STATUS_CODE: incubating.ATTR_RPC_RESPONSE_STATUS_CODE,
    USER_ID: incubating.ATTR_USER_ID,
    ERROR_TYPE: semconv.ATTR_ERROR_TYPE,
    NETWORK_TRANSPORT: semconv.ATTR_NETWORK_TRANSPORT,
    NETWORK_PROTOCOL_NAME: semconv.ATTR_NETWORK_PROTOCOL_NAME,
    NETWORK_PROTOCOL_VERSION: semconv.ATTR_NETWORK_PROTOCOL_VERSION,
    CLIENT_ADDRESS: semconv.ATTR_CLIENT_ADDRESS,
    CLIENT_PORT: semconv.ATTR_CLIENT_PORT,
  }
  for (const [k, v] of Object.entries(expected)) t.equal(ATTR[k as keyof typeof ATTR], v, k)
  t.equal(incubating.GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL, 'execute_tool')
  t.equal(semconv.NETWORK_TRANSPORT_VALUE_TCP, 'tcp')
})

t.test('span name and start attributes, per method', async (t) => {
  const rows: Array<{ case: string; msg: Parameters<typeof describeRequest>[0]; scope?: SpanScopeInfo; name: string; attrs: Record<string, unknown>; absent?: string[] }> = [
    {
      case: 'tools/call: the tool is the target; execute_tool',
      msg: { method: 'tools/call', id: 7, params: { name: 'fetch_html', arguments: { url: 'x' } } },
      name: 'tools/call fetch_html',
      attrs: { ...COMMON, 'mcp.method.name': 'tools/call', 'jsonrpc.request.id': '7', 'gen_ai.tool.name': 'fetch_html', 'gen_ai.operation.name': 'execute_tool', 'mcp.protocol.version': '2025-06-18' },
    },
    {
      case: 'tools/call without a name: the method alone, still execute_tool',
      msg: { method: 'tools/call', id: 'a', params: {} },
      name: 'tools/call',
      attrs: { 'jsonrpc.request.id': 'a', 'gen_ai.operation.name': 'execute_tool' },
      absent: ['gen_ai.tool.name'],
    },
    {
      case: 'prompts/get: the prompt is the target',
      msg: { method: 'prompts/get', id: 3, params: { name: 'analyze-code' } },
      name: 'prompts/get analyze-code',
      attrs: { 'gen_ai.prompt.name': 'analyze-code' },
      absent: ['gen_ai.operation.name', 'gen_ai.tool.name'],
    },
    {
      case: 'resources/read: the URI is an attribute, not the name (high cardinality)',
      msg: { method: 'resources/read', id: 4, params: { uri: 'file:///home/user/report.pdf' } },
      name: 'resources/read',
      attrs: { 'mcp.resource.uri': 'file:///home/user/report.pdf' },
      absent: ['gen_ai.operation.name'],
    },
    {
      case: 'resources/read with the conventions opt-in: the URI is the target',
      msg: { method: 'resources/read', id: 4, params: { uri: 'postgres://db/customers' } },
      scope: { ...SCOPE, resourceUriInName: true },
      name: 'resources/read postgres://db/customers',
      attrs: { 'mcp.resource.uri': 'postgres://db/customers' },
    },
    { case: 'resources/subscribe', msg: { method: 'resources/subscribe', id: 5, params: { uri: 'test://r/1' } }, name: 'resources/subscribe', attrs: { 'mcp.resource.uri': 'test://r/1' } },
    { case: 'resources/unsubscribe', msg: { method: 'resources/unsubscribe', id: 6, params: { uri: 'test://r/1' } }, name: 'resources/unsubscribe', attrs: { 'mcp.resource.uri': 'test://r/1' } },
    { case: 'tools/list', msg: { method: 'tools/list', id: 8 }, name: 'tools/list', attrs: { 'mcp.method.name': 'tools/list', 'jsonrpc.request.id': '8' }, absent: ['gen_ai.operation.name', 'mcp.resource.uri'] },
    { case: 'resources/list', msg: { method: 'resources/list', id: 9 }, name: 'resources/list', attrs: { 'mcp.method.name': 'resources/list' } },
    { case: 'prompts/list', msg: { method: 'prompts/list', id: 10 }, name: 'prompts/list', attrs: { 'mcp.method.name': 'prompts/list' } },
    { case: 'ping', msg: { method: 'ping', id: 11 }, name: 'ping', attrs: { 'mcp.method.name': 'ping' } },
    { case: 'completion/complete', msg: { method: 'completion/complete', id: 12, params: { ref: { type: 'ref/prompt', name: 'p' } } }, name: 'completion/complete', attrs: { 'mcp.method.name': 'completion/complete' }, absent: ['gen_ai.prompt.name'] },
    {
      case: 'initialize: the version the client asks for',
      msg: { method: 'initialize', id: 0, params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } },
      scope: { provider: 'fetch', protocolVersion: '2025-03-26' },
      name: 'initialize',
      attrs: { 'mcp.protocol.version': '2025-11-25', 'jsonrpc.request.id': '0' },
      absent: ['mcp.session.id', 'client.address', 'network.protocol.version'],
    },
    {
      case: 'a notification: no request id',
      msg: { method: 'notifications/initialized' },
      name: 'notifications/initialized',
      attrs: { 'mcp.method.name': 'notifications/initialized' },
      absent: ['jsonrpc.request.id'],
    },
    { case: 'notifications/cancelled', msg: { method: 'notifications/cancelled', params: { requestId: 3 } }, name: 'notifications/cancelled', attrs: {}, absent: ['jsonrpc.request.id'] },
    { case: 'a method the conventions do not list is named as sent', msg: { method: 'x-vendor/thing', id: 13 }, name: 'x-vendor/thing', attrs: { 'mcp.method.name': 'x-vendor/thing' } },
  ]
  for (const r of rows) {
    const d = describeRequest(r.msg, r.scope ?? SCOPE)
    t.equal(d.name, r.name, `${r.case}: name`)
    t.match(d.attributes, r.attrs, `${r.case}: attributes`)
    for (const k of r.absent ?? []) t.notOk(k in d.attributes, `${r.case}: no ${k}`)
    t.notOk('jsonrpc.protocol.version' in d.attributes, `${r.case}: jsonrpc.protocol.version only when not 2.0 (never)`)
  }
})

t.test('long tool names are cut in the span name, kept in the attribute', async (t) => {
  const long = 'x'.repeat(500)
  const d = describeRequest({ method: 'tools/call', id: 1, params: { name: long } }, SCOPE)
  t.equal(d.name, `tools/call ${'x'.repeat(200)}…`)
  t.equal(d.attributes['gen_ai.tool.name'], long)
})

t.test('which JSON-RPC error codes are server errors (MCP server span)', async (t) => {
  const rows: Array<[string, number, boolean]> = [
    ['tools/call', RPC.PARSE_ERROR, false],
    ['tools/call', RPC.INVALID_REQUEST, false],
    ['tools/call', RPC.METHOD_NOT_FOUND, false],
    ['tools/call', RPC.INVALID_PARAMS, false],
    ['tools/call', RPC.INTERNAL_ERROR, true],
    ['tools/call', RPC.POLICY_DENIED, true],
    ['tools/call', RPC.RATE_LIMITED, true],
    ['resources/read', -32002, false],
    ['tools/call', RPC.PROVIDER_UNAVAILABLE, true],
    ['tools/call', -32099, true],
    ['tools/call', 42, true],
  ]
  for (const [method, code, error] of rows) t.equal(isServerError(method, code), error, `${method} ${code}`)
})

t.test('outcomes: results, JSON-RPC errors, tool errors, failures', async (t) => {
  const ok = (result: Record<string, unknown>): JsonRpcResponse => ({ jsonrpc: '2.0', id: 1, result })
  t.same(describeOutcome('tools/call', ok({ content: [] })), { attributes: {} }, 'a result: nothing to add, status unset')
  t.same(describeOutcome('tools/call', ok({ content: [], isError: true })), { attributes: { 'error.type': 'tool_error' }, error: { type: 'tool_error' } }, 'isError: tool_error')
  t.same(describeOutcome('resources/read', ok({ isError: true })), { attributes: {} }, 'isError means something only on tools/call')
  t.same(describeOutcome('initialize', ok({ protocolVersion: '2025-06-18' })), { attributes: { 'mcp.protocol.version': '2025-06-18' } }, 'initialize: the negotiated version')
  t.same(
    describeOutcome('tools/call', rpcError(1, RPC.POLICY_DENIED, 'Tool access denied by policy', { rule: 'x' })),
    { attributes: { 'rpc.response.status_code': '-32001', 'error.type': '-32001' }, error: { type: '-32001', message: 'Tool access denied by policy' } },
    'a policy refusal is an error',
  )
  t.same(
    describeOutcome('tools/call', rpcError(1, RPC.INVALID_PARAMS, 'Invalid params')),
    { attributes: { 'rpc.response.status_code': '-32602' } },
    "invalid params: the caller's fault, status unset, code recorded",
  )
  t.same(describeOutcome('resources/read', rpcError(1, -32002, 'Resource not found')), { attributes: { 'rpc.response.status_code': '-32002' } }, 'resource not found')
  t.same(
    describeOutcome('tools/call', rpcError(1, RPC.RATE_LIMITED, 'Rate limit exceeded')),
    { attributes: { 'rpc.response.status_code': '-32002', 'error.type': '-32002' }, error: { type: '-32002', message: 'Rate limit exceeded' } },
    'our rate limit on tools/call is an error',
  )
  const long = describeOutcome('ping', rpcError(1, RPC.INTERNAL_ERROR, 'y'.repeat(2000)))
  t.equal(long.error?.message, `${'y'.repeat(MAX_STATUS_MESSAGE)}…`, 'a long message is cut')
  t.same(describeOutcome('tools/call', undefined, 'timeout'), { attributes: { 'error.type': 'timeout' }, error: { type: 'timeout', message: 'no response: timeout' } })
  t.same(describeOutcome('tools/call', undefined, 'unavailable').attributes, { 'error.type': 'unavailable' })
  t.same(describeOutcome('notifications/initialized', undefined), { attributes: {} }, 'a notification ends without an answer and without an error')
})

t.test('decision attributes', async (t) => {
  t.same(decisionAttributes({ action: 'alerted', type: 'secret_in_arguments', rule: 'arguments.secret_patterns.github-tokens' }), {
    'hangar.decision': 'alerted',
    'hangar.rule': 'arguments.secret_patterns.github-tokens',
    'hangar.violation': 'secret_in_arguments',
  })
})

t.test('caller attributes: hangar.caller always with its verified flag; user.id, groups and claims only for a verified caller', async (t) => {
  const call = { jsonrpc: '2.0' as const, id: 1, method: 'tools/call', params: { name: 'echo' } }
  const none = describeRequest(call, withCaller(SCOPE, {}))
  t.notOk('hangar.caller' in none.attributes, 'no caller: no caller attributes')
  const unverified = describeRequest(call, withCaller(SCOPE, { caller: 'admin', callerGroups: ['admins'], callerClaims: { email: 'x' } }))
  t.match(unverified.attributes, { 'hangar.caller': 'admin', 'hangar.caller.verified': false })
  for (const k of ['user.id', 'hangar.caller.groups', 'hangar.caller.claim.email']) t.notOk(k in unverified.attributes, `unverified: no ${k} (groups a client wrote are never shown as verified)`)
  const groups = Array.from({ length: MAX_GROUPS_ON_SPAN + 5 }, (_, i) => `g${i}`)
  const verified = describeRequest(call, withCaller(SCOPE, { caller: 'alice', callerVerified: true, callerGroups: groups, callerClaims: { email: 'a@example.test', roles: ['r1', 'r2'] } }))
  t.match(verified.attributes, { 'hangar.caller': 'alice', 'hangar.caller.verified': true, 'user.id': 'alice', 'hangar.caller.claim.email': 'a@example.test' })
  t.same(verified.attributes['hangar.caller.groups'], groups.slice(0, MAX_GROUPS_ON_SPAN), `at most ${MAX_GROUPS_ON_SPAN} groups`)
  t.same(verified.attributes['hangar.caller.claim.roles'], ['r1', 'r2'])
})
