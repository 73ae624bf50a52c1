// compose/provider-name.ts: Compose service names to provider names (valid names kept, others
// mapped, collisions broken by a digest of the service name, compared without case).
import { createHash } from 'node:crypto'
import t from 'tap'
import { PROVIDER_NAME, RESERVED_PROVIDER_NAMES, providerNames } from '../../compose/provider-name.js'

const digest = (s: string) => createHash('sha256').update(s).digest('hex')

t.test('PROVIDER_NAME: 1 to 63 letters, digits, - and _, starting with a letter or digit', async (t) => {
  for (const ok of ['a', 'A1', 'mcp-server', 'x_y', '9lives', 'a'.repeat(63)]) t.ok(PROVIDER_NAME.test(ok), ok)
  for (const bad of ['', '-a', '_a', 'a.b', 'a b', 'a'.repeat(64), 'é']) t.notOk(PROVIDER_NAME.test(bad), JSON.stringify(bad))
})

t.test('a valid service name keeps its name', async (t) => {
  const m = providerNames(['github', 'Fetch_2'], ['github', 'Fetch_2', 'db'])
  t.strictSame([...m], [['github', 'github'], ['Fetch_2', 'Fetch_2']])
})

t.test('invalid names are mapped: runs of other characters to "-", leading -/_ dropped, cut to 63', async (t) => {
  const long = 'a'.repeat(70)
  const m = providerNames(['mcp.server', '_x', 'a..b', long, '...'], ['mcp.server', '_x', 'a..b', long, '...'])
  t.equal(m.get('mcp.server'), 'mcp-server')
  t.equal(m.get('_x'), 'x')
  t.equal(m.get('a..b'), 'a-b', 'a run of dots is one "-"')
  t.equal(m.get(long), 'a'.repeat(63))
  t.equal(m.get('...'), 'provider', 'nothing left gives "provider"')
  for (const v of m.values()) t.ok(PROVIDER_NAME.test(v), `${v} is a provider name`)
})

t.test('a mapped name that collides with another service (any case) gets a digest of the service name', async (t) => {
  const m = providerNames(['mcp.server'], ['mcp.server', 'MCP-Server'])
  t.equal(m.get('mcp.server'), `mcp-server-${digest('mcp.server').slice(0, 8)}`)
  // control: without the other service the plain mapping is free
  t.equal(providerNames(['mcp.server'], ['mcp.server']).get('mcp.server'), 'mcp-server')
})

t.test('two labelled services mapping to the same name: the first keeps it, the second is tagged', async (t) => {
  const m = providerNames(['a.b', 'a..b'], ['a.b', 'a..b'])
  t.equal(m.get('a.b'), 'a-b')
  t.equal(m.get('a..b'), `a-b-${digest('a..b').slice(0, 8)}`)
  t.equal(new Set([...m.values()].map((v) => v.toLowerCase())).size, 2, 'unique')
})

t.test('valid names are placed first, so a mapped name never takes a name a service already has', async (t) => {
  // "x.y" would map to "x-y", which is the valid name of a later service
  const m = providerNames(['x.y', 'x-y'], ['x.y', 'x-y'])
  t.equal(m.get('x-y'), 'x-y')
  t.not(m.get('x.y'), 'x-y')
  t.match(m.get('x.y'), /^x-y-[0-9a-f]{8}$/)
})

t.test('reserved names: "aggregator" is never a provider name, in any case', async (t) => {
  t.ok(RESERVED_PROVIDER_NAMES.includes('aggregator'))
  t.ok(Object.isFrozen(RESERVED_PROVIDER_NAMES))
  const m = providerNames(['aggregator', 'Aggregator2'], ['aggregator', 'Aggregator2'])
  t.equal(m.get('aggregator'), `aggregator-${digest('aggregator').slice(0, 8)}`)
  t.equal(m.get('Aggregator2'), 'Aggregator2', 'control: a name that only starts with it is kept')
  const upper = providerNames(['AGGREGATOR'], ['AGGREGATOR']).get('AGGREGATOR')
  t.not(upper!.toLowerCase(), 'aggregator')
})

t.test('a long colliding name is cut so that name and digest fit 63 characters', async (t) => {
  const long = 'b'.repeat(60) + '.x'
  const m = providerNames([long], [long, 'b'.repeat(60) + '-x'])
  const v = m.get(long)!
  t.ok(v.length <= 63, `length ${v.length}`)
  t.ok(PROVIDER_NAME.test(v))
  t.equal(v, `${'b'.repeat(54)}-${digest(long).slice(0, 8)}`)
})

t.test('deterministic: the same input gives the same mapping', async (t) => {
  const names = ['mcp.server', 'mcp..server', 'mcp_server', 'aggregator', '__a']
  t.strictSame([...providerNames(names, names)], [...providerNames(names, names)])
  const values = [...providerNames(names, names).values()].map((v) => v.toLowerCase())
  t.equal(new Set(values).size, names.length, 'all distinct')
})
