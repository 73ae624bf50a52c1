/**
 * Key rotation without downtime, and keys across an aggregator restart, through the real listener
 * with the enterprise access module: a client polls with its key throughout while a second key is
 * created, the client switches to it and the first is revoked; no request fails, and the old key
 * is refused from the moment it is revoked. After a restart the keys, their revocation and their
 * last use are still there.
 */
import t from 'tap'
import { createAccess } from '../../../enterprise/auth/index.js'
import { rbacRig, STATIC } from '../../fixtures/aggregator/rbac.js'

t.test('rotation: create the new key, switch, revoke the old; every request succeeds throughout', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const old = await rig.createKey('ci', 'operator')
  let current = old.key
  let running = true
  const statuses: number[] = []
  const poller = (async () => {
    while (running) statuses.push((await rig.call('GET', '/v1/providers', current)).status)
  })()
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))
  await pause(150)
  const next = await rig.createKey('ci-2', 'operator')
  await pause(150)
  t.equal((await rig.call('GET', '/v1/providers', old.key)).status, 200, 'both keys work during the switch: the old one')
  t.equal((await rig.call('GET', '/v1/providers', next.key)).status, 200, 'and the new one')
  current = next.key
  await pause(150)
  t.equal((await rig.call('DELETE', `/v1/keys/${old.id}`, STATIC.admin)).status, 200, 'the old key revoked')
  await pause(150)
  running = false
  await poller
  t.ok(statuses.length > 20, `${statuses.length} requests during the rotation`)
  t.same([...new Set(statuses)], [200], 'every one answered 200')
  const r = await rig.call('GET', '/v1/providers', old.key)
  t.equal(r.status, 401, 'the old key is refused once revoked')
  t.match(r.json?.error.message, new RegExp(`API key ${old.id} was revoked at`))
  t.match(r.headers['www-authenticate'], new RegExp(`^Bearer realm="mcp-hangar", error="invalid_token", error_description="API key ${old.id} was revoked at [0-9T:.Z-]+"$`), 'RFC 6750 §3: the reason in the challenge')
})

t.test('keys survive a restart: still valid, still revoked, last use kept', async (t) => {
  const first = await rbacRig(t, { access: createAccess() })
  const keep = await first.createKey('keep', 'viewer')
  const gone = await first.createKey('gone', 'viewer')
  t.equal((await first.call('GET', '/v1/status', keep.key)).status, 200)
  t.equal((await first.call('DELETE', `/v1/keys/${gone.id}`, STATIC.admin)).status, 200)
  const used = ((await first.call('GET', '/v1/keys', STATIC.admin)).json?.keys as Array<{ id: string; last_used?: string }>).find((k) => k.id === keep.id)!.last_used
  t.ok(used, 'last_used set')
  await first.stop()
  const second = await rbacRig(t, { access: createAccess(), dir: first.dir })
  const keys = (await second.call('GET', '/v1/keys', STATIC.admin)).json?.keys as Array<{ id: string; last_used?: string; revoked?: string }>
  t.equal(keys.find((k) => k.id === keep.id)!.last_used, used, 'last_used written at stop')
  t.ok(keys.find((k) => k.id === gone.id)!.revoked, 'still revoked')
  t.equal((await second.call('GET', '/v1/status', keep.key)).status, 200, 'the kept key works')
  t.equal((await second.call('GET', '/v1/status', gone.key)).status, 401, 'the revoked key does not')
  const audit = second.records('admin_action').map((s) => s.details?.action)
  t.same(audit.sort(), ['key_create', 'key_create', 'key_revoke'], 'the audit records of the first run are in the store after the restart')
})
