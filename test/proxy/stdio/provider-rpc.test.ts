// The provider's own requests (proxy/stdio/provider-rpc.ts) through StdioProvider.request with the
// real fixture MCP server: results, JSON-RPC errors and timeouts as typed errors, responses consumed
// (never emitted), and requests in flight failed by a crash with the exit explained.
import t from 'tap'
import { ProviderRpcError, ProviderTimeoutError, ProviderUnavailableError } from '../../../proxy/stdio/provider-errors.js'
import { testProvider, waitExit } from '../../fixtures/mcp/harness.js'

t.test('request(): results, JSON-RPC errors, timeouts; responses consumed', async (t) => {
  const p = testProvider()
  t.teardown(() => p.stop())
  await t.rejects(p.request('tools/list'), ProviderUnavailableError, 'not running yet')
  await p.ensureStarted()
  let emitted = 0
  p.on('message', () => emitted++)
  const list = await p.request('tools/list', {})
  t.same((list.tools as Array<{ name: string }>).map((x) => x.name), ['echo', 'add', 'slow', 'progress', 'fail', 'rpc_error', 'crash', 'whoami', 'notify', 'ask_client'])
  const sum = await p.request('tools/call', { name: 'add', arguments: { a: 2, b: 40 } })
  t.match(sum, { content: [{ text: '42' }], structuredContent: { sum: 42 } })
  const fail = await p.request('tools/call', { name: 'fail', arguments: {} })
  t.match(fail, { isError: true }, 'a tool error result is a result')

  const rpc = await p.request('tools/call', { name: 'rpc_error', arguments: {} }).catch((e: unknown) => e)
  t.type(rpc, ProviderRpcError)
  t.match(rpc, { code: 'HANGAR_PROVIDER_RPC_ERROR', method: 'tools/call', rpcError: { code: -32000, message: 'rpc_error requested', data: { fixture: true } } })

  const slow = await p.request('tools/call', { name: 'slow', arguments: { ms: 5000 } }, 150).catch((e: unknown) => e)
  t.type(slow, ProviderTimeoutError)
  t.match(slow, { code: 'HANGAR_PROVIDER_TIMEOUT', method: 'tools/call', timeoutMs: 150 })
  // The fixture got notifications/cancelled and is still responsive.
  t.match(await p.request('tools/call', { name: 'echo', arguments: { text: 'still here' } }), { content: [{ text: 'still here' }] })
  t.equal(emitted, 0, 'no response to a hangar request was emitted')
})

t.test('a crash while a request is in flight rejects it with the exit explained', async (t) => {
  const p = testProvider({ backoff: { initialMs: 60_000, maxMs: 60_000 } })
  t.teardown(() => p.stop())
  await p.ensureStarted()
  const exit = waitExit(p)
  const slow = p.request('tools/call', { name: 'slow', arguments: { ms: 10_000 } }).catch((e: unknown) => e)
  await p.request('tools/call', { name: 'crash', arguments: {} }, 10_000).catch(() => {})
  const err = await slow
  t.type(err, ProviderUnavailableError)
  t.match((err as ProviderUnavailableError).reason, /^exited with code 1: fixture: crash requested$/)
  t.match(await exit, { code: 1, expected: false, description: 'exited with code 1: fixture: crash requested' })
  t.equal(p.state, 'DEAD')
})
