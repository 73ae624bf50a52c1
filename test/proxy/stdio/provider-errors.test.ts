/** The stdio provider's errors (proxy/stdio/provider-errors.ts): codes from the one table, messages naming the provider, and the start-failure reason. */
import t from 'tap'
import { ERROR_CODES } from '../../../core/errors.js'
import { PROVIDER_ERROR_CODES, ProviderRpcError, ProviderTimeoutError, ProviderUnavailableError, startFailureReason } from '../../../proxy/stdio/provider-errors.js'

t.test('the codes are members of core/errors.ts ERROR_CODES', async (t) => {
  t.same(PROVIDER_ERROR_CODES, { UNAVAILABLE: ERROR_CODES.PROVIDER_UNAVAILABLE, TIMEOUT: ERROR_CODES.PROVIDER_TIMEOUT, RPC_ERROR: ERROR_CODES.PROVIDER_RPC_ERROR })
})

t.test('each error names the provider and what happened; retry-after only when given', async (t) => {
  const u = new ProviderUnavailableError('fetch', 'circuit breaker open', 1500)
  t.equal(u.code, 'HANGAR_PROVIDER_UNAVAILABLE')
  t.equal(u.message, 'provider "fetch" is unavailable: circuit breaker open (retry after 1500 ms)')
  t.equal(new ProviderUnavailableError('fetch', 'stopped: shutdown').message, 'provider "fetch" is unavailable: stopped: shutdown')
  const to = new ProviderTimeoutError('fetch', 'tools/list', 30000)
  t.equal(to.code, 'HANGAR_PROVIDER_TIMEOUT')
  t.equal(to.message, 'provider "fetch" did not answer tools/list within 30000 ms')
  const rpc = new ProviderRpcError('fetch', 'initialize', { code: -32602, message: 'bad params' })
  t.equal(rpc.code, 'HANGAR_PROVIDER_RPC_ERROR')
  t.equal(rpc.message, 'provider "fetch" answered initialize with error -32602: bad params')
  t.same(rpc.rpcError, { code: -32602, message: 'bad params' })
})

t.test('startFailureReason: one sentence for each way a start fails', async (t) => {
  t.equal(startFailureReason(new ProviderUnavailableError('p', 'exited with code 1: boom'), 5000), 'exited with code 1: boom')
  t.equal(startFailureReason(new ProviderTimeoutError('p', 'initialize', 5000), 5000), 'no initialize result within 5000 ms')
  t.equal(startFailureReason(new ProviderRpcError('p', 'initialize', { code: -32603, message: 'no' }), 5000), 'initialize failed with error -32603: no')
  t.equal(startFailureReason(new Error('spawn ENOENT'), 5000), 'spawn ENOENT')
})
