/**
 * aggregator/http/keys.ts through the real listener, with a small in-test access module
 * implementing the port (core/ports.ts AccessPort; the enterprise one is tried in
 * test/enterprise/auth/): the request body checked field by field (400 naming the field, nothing
 * created), the access module's input errors as 400 and its other failures as 500, the key in the
 * 201 answer only, `Cache-Control: no-store`, revocation 200/404, and an `admin_action` record for
 * each change naming the actor.
 */
import t from 'tap'
import type { AccessControl, AccessPort, ApiKeyInfo, Principal } from '../../../core/ports.js'
import { rbacRig, STATIC } from '../../fixtures/aggregator/rbac.js'

/** An in-memory access module: key `k-<name>` authenticates as that key; `boom` names fail with a store error. */
function memoryAccess(): AccessPort & { made: ApiKeyInfo[] } {
  const made: ApiKeyInfo[] = []
  const control: AccessControl = {
    async authenticate(token) {
      const k = made.find((x) => `k-${x.name}` === token && !x.revoked)
      return k ? { principal: { id: k.id, name: k.name, role: k.role, via: 'api_key' } } : undefined
    },
    async createKey(o, actor: Principal) {
      if (o.name === 'boom') throw new Error('EIO: the key file cannot be written')
      if (made.some((k) => k.name === o.name && !k.revoked)) throw Object.assign(new Error(`name: a key named "${o.name}" exists`), { status: 400 })
      const info: ApiKeyInfo = { id: `hk_${String(made.length).padStart(8, '0')}`, name: o.name, role: o.role, created: new Date().toISOString(), created_by: actor.id, ...(o.expires && { expires: o.expires }) }
      made.push(info)
      return { key: `k-${o.name}`, info }
    },
    listKeys: () => made.map((k) => ({ ...k })),
    async revokeKey(id) {
      const k = made.find((x) => x.id === id)
      if (!k) return false
      k.revoked ??= new Date().toISOString()
      return true
    },
    async close() {},
  }
  return { made, start: async () => control }
}

t.test('POST /v1/keys: each bad body field is a 400 naming it, and nothing is created', async (t) => {
  const access = memoryAccess()
  const rig = await rbacRig(t, { access })
  const bad: Array<[unknown, RegExp]> = [
    [{ role: 'viewer' }, /^name: Required/],
    [{ name: 'ci' }, /^role: /],
    [{ name: 'ci', role: 'root' }, /^role: Invalid enum value/],
    [{ name: 'c i', role: 'viewer' }, /^name: 1–64 letters/],
    [{ name: 'x'.repeat(65), role: 'viewer' }, /^name: /],
    [{ name: 'ci', role: 'viewer', expires: 'tomorrow' }, /^expires: Invalid datetime/],
    [{ name: 'ci', role: 'viewer', expires: '2001-01-01T00:00:00Z' }, /^expires: must be in the future/],
    [{ name: 'ci', role: 'viewer', admin: true }, /Unrecognized key\(s\) in object: 'admin'/],
    [[{ name: 'ci', role: 'viewer' }], /expected a JSON object/],
  ]
  for (const [body, msg] of bad) {
    const r = await rig.call('POST', '/v1/keys', STATIC.admin, body)
    t.equal(r.status, 400, JSON.stringify(body))
    t.match(r.json?.error.message, msg)
  }
  const raw = await rig.call('POST', '/v1/keys', STATIC.admin, undefined, { 'content-type': 'application/json' })
  t.equal(raw.status, 400, 'an empty body')
  t.equal(access.made.length, 0, 'nothing created')
})

t.test('POST /v1/keys: 201 with the key once, no-store; a taken name 400; a store failure 500; each creation audited', async (t) => {
  const access = memoryAccess()
  const rig = await rbacRig(t, { access })
  const expires = new Date(Date.now() + 86_400_000).toISOString()
  const r = await rig.call('POST', '/v1/keys', STATIC.admin, { name: 'ci', role: 'operator', expires })
  t.equal(r.status, 201)
  t.equal(r.headers['cache-control'], 'no-store')
  t.match(r.json, { key: 'k-ci', id: 'hk_00000000', name: 'ci', role: 'operator', created_by: 'token:admin', expires })
  const list = await rig.call('GET', '/v1/keys', STATIC.admin)
  t.notMatch(list.text, /k-ci/, 'the list never shows the key')
  t.equal(list.json?.keys.length, 1)
  const taken = await rig.call('POST', '/v1/keys', STATIC.admin, { name: 'ci', role: 'viewer' })
  t.equal(taken.status, 400)
  t.match(taken.json?.error.message, /a key named "ci" exists/)
  const boom = await rig.call('POST', '/v1/keys', STATIC.admin, { name: 'boom', role: 'viewer' })
  t.equal(boom.status, 500, 'a store failure is an internal error')
  t.ok(rig.lines.some((l) => /EIO/.test(String(l.err))), 'logged')
  const viaKey = await rig.call('POST', '/v1/keys', 'k-ci', { name: 'x', role: 'viewer' })
  t.equal(viaKey.status, 403, 'the operator key it made cannot make keys')
  const made = await rig.waitRecords('admin_action', 1)
  t.equal(made.length, 1)
  t.match(made[0], { caller: 'admin token', provider: 'hangar:aggregator', details: { action: 'key_create', key_id: 'hk_00000000', key_name: 'ci', key_role: 'operator', expires, route: 'POST /v1/keys', principal: 'token:admin' } })
})

t.test('DELETE /v1/keys/{id}: 200 with the record, 404 for an unknown id, the revocation audited', async (t) => {
  const access = memoryAccess()
  const rig = await rbacRig(t, { access })
  t.equal((await rig.call('POST', '/v1/keys', STATIC.admin, { name: 'ops', role: 'admin' })).status, 201)
  t.equal((await rig.call('GET', '/v1/keys', 'k-ops')).status, 200, 'the admin key works')
  const r = await rig.call('DELETE', '/v1/keys/hk_00000000', 'k-ops')
  t.equal(r.status, 200)
  t.match(r.json?.revoked, { id: 'hk_00000000', name: 'ops' })
  t.ok(r.json?.revoked.revoked)
  t.equal((await rig.call('GET', '/v1/keys', 'k-ops')).status, 401, 'a key that revoked itself is gone')
  const unknown = await rig.call('DELETE', '/v1/keys/hk_99999999', STATIC.admin)
  t.equal(unknown.status, 404)
  t.match(unknown.json?.error.message, /no API key "hk_99999999"/)
  const again = await rig.call('DELETE', '/v1/keys/hk_00000000', STATIC.admin)
  t.equal(again.status, 200, 'revoking twice is fine')
  const records = await rig.waitRecords('admin_action', 3)
  const revokes = records.filter((x) => x.details?.action === 'key_revoke')
  t.same(revokes.map((x) => [x.caller, x.details?.already_revoked]).sort(), [['admin token', true], ['ops', false]], 'each revocation names its actor')
})
