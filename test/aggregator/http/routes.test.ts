/**
 * aggregator/http/routes.ts: matching (placeholders match only their own shape, a wrong method
 * is a 405 listing the allowed ones), the role order (`signal` never satisfied by a user role),
 * and docs/rbac.md's route and tool tables equal to the route table and the tool table.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { matchRoute, roleSatisfies, ROUTE_ROLES, ROUTES } from '../../../aggregator/http/routes.js'
import { HANGAR_TOOL_ROLES } from '../../../aggregator/mcp/tools.js'

const doc = readFileSync(new URL('../../../docs/rbac.md', import.meta.url), 'utf8')

function between(begin: string, end = '<!-- end of'): string[][] {
  const from = doc.indexOf(begin)
  const part = doc.slice(from, doc.indexOf(end, from))
  return part.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim().replace(/`/g, '')))
}

t.test('matchRoute: every route of the table, with its parameters', async (t) => {
  for (const r of ROUTES) {
    const path = r.path.replace('{name}', 'fetch-1').replace('{id}', 'hk_0a1b2c3d').replace('{file}', 'app.js')
    const m = matchRoute(r.method === '*' ? 'PATCH' : r.method, path)
    t.ok(m && 'route' in m && m.route.id === r.id, `${r.method} ${r.path} → ${r.id}`)
  }
  t.same(matchRoute('GET', '/v1/providers/fetch_2/baseline'), { route: ROUTES.find((r) => r.id === 'baseline'), params: { name: 'fetch_2' } })
  t.same(matchRoute('DELETE', '/v1/keys/hk_12345678'), { route: ROUTES.find((r) => r.id === 'key_revoke'), params: { id: 'hk_12345678' } })
})

t.test('matchRoute: a wrong method is 405 with the allowed ones; odd paths match nothing', async (t) => {
  t.same(matchRoute('PUT', '/v1/signals'), { allow: ['POST', 'GET'] })
  t.same(matchRoute('POST', '/v1/providers/fetch'), { allow: ['GET'] })
  t.same(matchRoute('GET', '/v1/keys/hk_1'), { allow: ['DELETE'] })
  t.same(matchRoute('POST', '/health'), { allow: ['GET'] })
  for (const p of ['/v1/providers/../keys', '/v1/providers/-x', '/v1/providers/a/b', '/v1/keys/a/b', '/v1/provider', '/V1/providers', '/v1/providers/', '/v1/signals/', '/mcp/x', '/v1/policy/' + 'a'.repeat(64), '/v1/keys/' + 'a'.repeat(65)]) {
    t.equal(matchRoute('GET', p), undefined, `${p}: no route`)
  }
  t.equal(matchRoute('GET', '/v1/policy/' + 'a'.repeat(63))?.constructor, Object, 'control: a 63-character name matches')
})

t.test('roleSatisfies: viewer < operator < admin; public always; signal never by a user role', async (t) => {
  const order = ['viewer', 'operator', 'admin'] as const
  for (const held of order) {
    for (const need of order) t.equal(roleSatisfies(held, need), order.indexOf(held) >= order.indexOf(need), `${held} for ${need}`)
    t.equal(roleSatisfies(held, 'public'), true)
    t.equal(roleSatisfies(held, 'signal'), false, `${held} never satisfies signal`)
  }
})

t.test('the route table: unique ids and (method, path); every role known; admin actions on operator/admin routes', async (t) => {
  t.equal(new Set(ROUTES.map((r) => r.id)).size, ROUTES.length)
  t.equal(new Set(ROUTES.map((r) => `${r.method} ${r.path}`)).size, ROUTES.length)
  for (const r of ROUTES) {
    t.ok(ROUTE_ROLES.includes(r.role), `${r.id}: ${r.role}`)
    if (r.action) t.ok(r.role === 'operator' || r.role === 'admin', `${r.id} acts: needs operator or admin`)
    if (r.method !== 'GET' && r.method !== '*' && r.role !== 'signal') t.ok(r.role === 'operator' || r.role === 'admin', `${r.method} ${r.path} changes something: not for viewers`)
  }
})

t.test('docs/rbac.md lists exactly the routes and the tools with their roles', async (t) => {
  const routes = between('<!-- routes:')
  t.same(routes.map((r) => [r[0], r[1], r[2]!.split(' ')[0]]), ROUTES.map((r) => [r.method, r.path, r.role]), 'routes, in table order')
  const tools = between('<!-- tools:')
  t.same(tools, Object.entries(HANGAR_TOOL_ROLES).map(([k, v]) => [k, v]), 'tools')
})
