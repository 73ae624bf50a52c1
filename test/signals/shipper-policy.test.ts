// Pure decisions of the shipper (signals/shipper-policy.ts): full-jitter backoff, Retry-After,
// and what each aggregator answer means for a batch.
import t from 'tap'
import { classifyError, classifyResponse, DEFAULT_BACKOFF, parseRetryAfter, shipperRetryDelay } from '../../signals/shipper-policy.js'

t.test('full jitter: uniform below min(cap, initial·2^attempt)', async (t) => {
  const top = () => 0.999999
  const expected = [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
  expected.forEach((ceiling, attempt) => {
    t.equal(shipperRetryDelay(attempt, DEFAULT_BACKOFF, top), ceiling - 1, `attempt ${attempt}: just under ${ceiling}`)
    t.equal(shipperRetryDelay(attempt, DEFAULT_BACKOFF, () => 0), 0, `attempt ${attempt}: can be 0`)
    t.equal(shipperRetryDelay(attempt, DEFAULT_BACKOFF, () => 0.5), Math.floor(ceiling / 2), `attempt ${attempt}: half`)
  })
  t.equal(shipperRetryDelay(10_000, DEFAULT_BACKOFF, top), 29_999, 'huge attempt counts stay at the cap')
  t.equal(shipperRetryDelay(3, { initialMs: 10, capMs: 50 }, top), 49)
})

t.test('Retry-After: seconds or an HTTP-date', async (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z')
  t.equal(parseRetryAfter('3', now), 3000)
  t.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000)
  t.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0, 'a date in the past: now')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter(undefined, now), undefined)
})

t.test('2xx acknowledges, with the rejected indices of the body', async (t) => {
  t.same(classifyResponse(202, JSON.stringify({ accepted: 2, duplicates: 1, rejected: [{ index: 2, error: 'reason: required' }] }), 4, undefined, 0), {
    kind: 'ack', accepted: 2, duplicates: 1, rejected: [{ index: 2, error: 'reason: required' }], wellFormed: true,
  })
  const odd = classifyResponse(202, 'stored', 3, undefined, 0)
  t.same(odd, { kind: 'ack', accepted: 3, duplicates: 0, rejected: [], wellFormed: false }, 'a 202 with an unexpected body still acknowledges')
  const bad = classifyResponse(200, JSON.stringify({ accepted: 1, duplicates: 0, rejected: [{ index: 7, error: 'x' }, { index: 0 }, { index: 0 }] }), 3, undefined, 0)
  t.same(bad.kind === 'ack' && bad.rejected, [{ index: 0, error: 'rejected' }], 'out-of-range and repeated indices ignored')
  t.equal(bad.kind === 'ack' && bad.wellFormed, false)
})

t.test('413 splits a batch of several; for one signal it is a retry (never a drop)', async (t) => {
  t.match(classifyResponse(413, '', 10, undefined, 0), { kind: 'split', reason: 'too_large' })
  t.match(classifyResponse(413, '', 1, undefined, 0), { kind: 'retry', reason: 'too_large' })
  t.match(classifyResponse(400, 'signals: at most 1000', 10, undefined, 0), { kind: 'split', reason: 'bad_request' })
  t.match(classifyResponse(400, '', 1, undefined, 0), { kind: 'retry', reason: 'bad_request' })
})

t.test('401/403 are auth retries naming the token; 5xx/408/429 server retries with Retry-After; others bad_request', async (t) => {
  for (const s of [401, 403]) t.match(classifyResponse(s, '', 5, undefined, 0), { kind: 'retry', reason: 'auth', message: /signal token/ })
  for (const s of [500, 502, 503, 504, 408, 429]) t.match(classifyResponse(s, '', 5, undefined, 0), { kind: 'retry', reason: 'server_error' }, String(s))
  t.match(classifyResponse(503, '', 5, '2', 0), { retryAfterMs: 2000 })
  for (const s of [404, 405, 301]) t.match(classifyResponse(s, 'Not Found', 5, undefined, 0), { kind: 'retry', reason: 'bad_request', message: /404|405|301/ })
})

t.test('thrown request errors: timeouts apart from network errors', async (t) => {
  t.equal(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'network')
  t.equal(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), 'timeout')
  t.equal(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), 'timeout')
  t.equal(classifyError(Object.assign(new Error('aborted'), { name: 'AbortError' })), 'timeout')
  t.equal(classifyError(undefined), 'network')
})
