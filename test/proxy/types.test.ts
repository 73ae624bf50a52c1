/**
 * The JSON-RPC helpers of proxy/types.ts: the message-kind guards (a request has method and id,
 * a notification method only, a response no method; an error response has `error`), rpcError's
 * shape (data only when given), the sidecar's error codes in their JSON-RPC ranges, and the
 * protocol versions (newest first, the default among them).
 */
import t from 'tap'
import { DEFAULT_NEGOTIATED_VERSION, isErrorResponse, isNotification, isRequest, isResponse, mayUseSession, requestContext, rpcError, sessionOwner, RPC, SUPPORTED_PROTOCOL_VERSIONS, type CallContext, type JsonRpcMessage } from '../../proxy/types.js'

const request = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {} } as JsonRpcMessage
const request0 = { jsonrpc: '2.0', id: 0, method: 'ping' } as JsonRpcMessage
const requestStr = { jsonrpc: '2.0', id: '', method: 'ping' } as JsonRpcMessage
const notification = { jsonrpc: '2.0', method: 'notifications/cancelled' } as JsonRpcMessage
const result = { jsonrpc: '2.0', id: 1, result: {} } as JsonRpcMessage
const error = { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse' } } as JsonRpcMessage

t.test('guards tell the four kinds apart, with falsy ids counting as ids', async (t) => {
  const table: Array<[string, JsonRpcMessage, boolean, boolean, boolean, boolean]> = [
    ['request', request, true, false, false, false],
    ['request id 0', request0, true, false, false, false],
    ['request id ""', requestStr, true, false, false, false],
    ['notification', notification, false, true, false, false],
    ['result', result, false, false, true, false],
    ['error', error, false, false, true, true],
  ]
  for (const [label, m, req, note, resp, err] of table) {
    t.same([isRequest(m), isNotification(m), isResponse(m), isErrorResponse(m)], [req, note, resp, err], label)
  }
  const odd = { jsonrpc: '2.0', id: 1, method: 'x', error: { code: 1, message: 'm' } } as unknown as JsonRpcMessage
  t.equal(isErrorResponse(odd), false, 'a message with a method is never an error response')
})

t.test('rpcError: data only when given; a null id is kept', async (t) => {
  t.same(rpcError(5, RPC.POLICY_DENIED, 'denied'), { jsonrpc: '2.0', id: 5, error: { code: -32001, message: 'denied' } })
  t.notOk('data' in rpcError(5, 1, 'm').error, 'no data key at all')
  t.same(rpcError(null, RPC.PARSE_ERROR, 'bad', { at: 3 }), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'bad', data: { at: 3 } } })
  t.same(rpcError('a', 1, 'm', null).error, { code: 1, message: 'm', data: null }, 'null data is data')
})

t.test('error codes: the JSON-RPC reserved ones, and the sidecar\'s in the server-error range -32000…-32099', async (t) => {
  t.same([RPC.PARSE_ERROR, RPC.INVALID_REQUEST, RPC.METHOD_NOT_FOUND, RPC.INVALID_PARAMS, RPC.INTERNAL_ERROR], [-32700, -32600, -32601, -32602, -32603])
  for (const c of [RPC.TRANSPORT_ERROR, RPC.POLICY_DENIED, RPC.RATE_LIMITED, RPC.PROVIDER_UNAVAILABLE]) t.ok(c <= -32000 && c >= -32099, `${c} in the server range`)
  t.equal(new Set(Object.values(RPC)).size, Object.keys(RPC).length, 'codes are distinct')
})

t.test('protocol versions: dates, newest first; the default is one of them', async (t) => {
  t.same([...SUPPORTED_PROTOCOL_VERSIONS].sort().reverse(), [...SUPPORTED_PROTOCOL_VERSIONS])
  t.ok(SUPPORTED_PROTOCOL_VERSIONS.every((v) => /^\d{4}-\d{2}-\d{2}$/.test(v)))
  t.ok((SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(DEFAULT_NEGOTIATED_VERSION))
  t.equal(DEFAULT_NEGOTIATED_VERSION, '2025-03-26', 'the version the spec says to assume without the header')
})

t.test('requestContext: a request never borrows a verified identity from the session', async (t) => {
  const groups = ['admins']
  const session: CallContext = { sessionId: 's1', caller: 'ann', callerVerified: true, callerGroups: groups, callerClaims: { email: 'a' } }
  t.equal(requestContext(session, { caller: 'ann', callerVerified: true, callerGroups: groups }), session, 'same identity: the session context itself')
  t.same(requestContext(session, {}), { sessionId: 's1' }, 'a request without a caller on a verified session: no caller at all')
  t.same(requestContext(session, { caller: 'ann' }), { sessionId: 's1', caller: 'ann' }, 'the same name, unverified: no verified flag, no groups')
  t.same(requestContext(session, { caller: 'dan', callerVerified: true, callerGroups: ['dev'] }), { sessionId: 's1', caller: 'dan', callerVerified: true, callerGroups: ['dev'] }, "another verified caller: its own groups, not the session's claims")
  const plain: CallContext = { sessionId: 's2', caller: 'svc' }
  t.same(requestContext(plain, { traceId: 't' }), { sessionId: 's2', caller: 'svc', traceId: 't' }, 'unverified session: the caller named once stays named (as before)')
  t.same(requestContext(plain, { caller: 'dan', callerVerified: true }), { sessionId: 's2', caller: 'dan', callerVerified: true }, 'a verified request on an unverified session')
})

t.test('sessionOwner / mayUseSession: a session opened by a verified caller is that caller\'s only', async (t) => {
  const alice: CallContext = { caller: 'alice', callerVerified: true, callerIssuer: 'https://a' }
  t.equal(sessionOwner(alice), 'https://a#alice')
  t.equal(sessionOwner({ caller: 'alice' }), undefined, 'an unverified caller owns nothing')
  t.equal(sessionOwner({}), undefined)
  const owner = sessionOwner(alice)
  t.ok(mayUseSession(owner, { ...alice, callerGroups: ['new'] }), 'the same caller (a fresh token, other groups)')
  t.notOk(mayUseSession(owner, { caller: 'alice', callerVerified: true, callerIssuer: 'https://b' }), 'the same subject from another issuer')
  t.notOk(mayUseSession(owner, { caller: 'alice' }), 'the same name, unverified')
  t.notOk(mayUseSession(owner, {}), 'no caller')
  t.ok(mayUseSession(undefined, {}), 'a session bound to no one: anyone, as without identity')
  t.ok(mayUseSession(undefined, alice))
})
