/**
 * sidecar/admin-server.ts on a loopback port: readiness, the bearer token on the endpoints that
 * change state or name destinations, bounded bodies, and the quarantine switch's answers.
 */
import t from 'tap'
import { Registry } from 'prom-client'
import { AdminServer, type AdminHooks } from '../../sidecar/admin-server.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'

async function serve(t: { teardown(fn: () => unknown): void }, hooks: Partial<AdminHooks> = {}) {
  let ready = false
  const enforcement = new QuarantineSwitch()
  const admin = new AdminServer({ registry: new Registry(), enforcement, tokens: [], ready: () => ready, status: () => ({ provider: 'p' }), ...hooks })
  const port = await admin.listen('127.0.0.1', 0)
  t.teardown(() => admin.close())
  const req = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${path}`, init)
  return { req, enforcement, setReady: (v: boolean) => (ready = v), port }
}

t.test('/ready follows the hook; /health does not', async (t) => {
  const s = await serve(t)
  t.equal((await s.req('/ready')).status, 503)
  t.equal((await s.req('/health')).status, 200)
  s.setReady(true)
  t.equal((await s.req('/ready')).status, 200)
})

t.test('/v1/baseline: 404 without a recorder, the bearer token when tokens are set', async (t) => {
  const none = await serve(t)
  t.equal((await none.req('/v1/baseline')).status, 404)
  const s = await serve(t, { tokens: ['tok'], baseline: () => ({ schema: 'hangar.baseline/v1' }) })
  t.equal((await s.req('/v1/baseline')).status, 401, 'no token')
  const ok = await s.req('/v1/baseline', { headers: { authorization: 'Bearer tok' } })
  t.equal(ok.status, 200)
  t.same(await ok.json(), { schema: 'hangar.baseline/v1' })
})

t.test('POST bodies over 16 KiB and non-object JSON are refused with 400; nothing changes', async (t) => {
  const s = await serve(t)
  const big = await s.req('/v1/quarantine', { method: 'POST', body: JSON.stringify({ reason: 'x'.repeat(17 * 1024) }) }).then((r) => r.status, () => 'reset')
  t.ok(big === 400 || big === 'reset', `too large: ${big}`)
  t.equal((await s.req('/v1/quarantine', { method: 'POST', body: '["reason"]' })).status, 400, 'an array')
  t.equal(s.enforcement.state.quarantined, false)
  t.equal((await s.req('/v1/quarantine', { method: 'POST', body: JSON.stringify({ reason: 'small' }) })).status, 200, 'control: a small body is taken')
  t.equal(s.enforcement.state.quarantined, true)
})

t.test('quarantine and release answer whether they changed anything; the reason is trimmed and capped', async (t) => {
  const s = await serve(t)
  const post = async (path: string, body: unknown) => (await s.req(path, { method: 'POST', body: JSON.stringify(body) })).json()
  t.same(await post('/v1/quarantine', { reason: `  ${'r'.repeat(600)}  ` }), { quarantined: true, changed: true })
  t.equal(s.enforcement.state.quarantineReason?.length, 500, 'reason capped at 500 characters')
  t.same(await post('/v1/quarantine', { reason: 'again' }), { quarantined: true, changed: false })
  t.same(await post('/v1/release', {}), { quarantined: false, changed: true })
  t.same(await post('/v1/release', {}), { quarantined: false, changed: false })
})

t.test('a taken port fails listen with HANGAR_LISTEN_FAILED naming the address', async (t) => {
  const s = await serve(t)
  const second = new AdminServer({ registry: new Registry(), enforcement: new QuarantineSwitch(), tokens: [], ready: () => true, status: () => ({}) })
  await t.rejects(second.listen('127.0.0.1', s.port), { code: 'HANGAR_LISTEN_FAILED', message: new RegExp(`127\\.0\\.0\\.1:${s.port}`) })
})
