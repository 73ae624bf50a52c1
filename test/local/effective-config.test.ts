// local/effective-config.ts: the config every process of `up` reads, with what `up` decided
// filled in: aggregator URL and data dirs, each provider's listeners per isolation mode (netns:
// on the veth address; cooperative: loopback ports, no transparent listeners), admin ports,
// default listen addresses, per-provider data dirs, and the profile dropped.
import t from 'tap'
import { hangarConfigSchema } from '../../config/schema.js'
import { DEFAULT_DATA_DIR, DEFAULT_SIDECAR_ADDRESS, aggregatorUrlOf, effectiveConfig, userSteering, type ProviderRuntime } from '../../local/effective-config.js'
import { NETNS_PORTS, planNetns } from '../../local/plan.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the effective config is plain JSON
type Obj = Record<string, any>
const cfg = (raw: Obj) => hangarConfigSchema.parse(raw)
const proc = (extra: Obj = {}) => ({ command: ['node', 'server.js'], ...extra })

t.test('aggregatorUrlOf: url, else http://<listen> with wildcard hosts as loopback, else the default', async (t) => {
  t.equal(aggregatorUrlOf(cfg({ providers: {} })), 'http://127.0.0.1:8000')
  t.equal(aggregatorUrlOf(cfg({ aggregator: { listen: '127.0.0.1:9100' }, providers: {} })), 'http://127.0.0.1:9100')
  t.equal(aggregatorUrlOf(cfg({ aggregator: { listen: '0.0.0.0:9100' }, providers: {} })), 'http://127.0.0.1:9100')
  t.equal(aggregatorUrlOf(cfg({ aggregator: { listen: '[::]:9100' }, providers: {} })), 'http://127.0.0.1:9100')
  t.equal(aggregatorUrlOf(cfg({ aggregator: { listen: '0.0.0.0:9100', url: 'http://agg.internal:9100' }, providers: {} })), 'http://agg.internal:9100')
})

t.test('userSteering: only an address the user changed', async (t) => {
  const c = cfg({ providers: { a: proc(), b: proc({ sidecar: { address: '11.254.0.1' } }) } })
  t.equal(userSteering(c.providers.a!), undefined, `default ${DEFAULT_SIDECAR_ADDRESS} is not the user's`)
  t.equal(userSteering(c.providers.b!), '11.254.0.1')
})

t.test('netns mode: listeners on the veth address, steering from the plan', async (t) => {
  const c = cfg({ providers: { fetch: proc() } })
  const plan = planNetns({ provider: 'fetch', key: 'abcdef01', taken: new Set(), steering: '11.254.0.9' })
  const rt = new Map<string, ProviderRuntime>([['fetch', { plan, adminPort: 9001, defaultListen: '127.0.0.1:8101' }]])
  const e = effectiveConfig(c, rt, '/work/project') as Obj
  const sc = e.providers.fetch.sidecar
  t.strictSame(
    { proxy: sc.proxy, dns: sc.dns, http: sc.transparent_http, tls: sc.transparent_tls, fwd: sc.tcp_forward_host, address: sc.address, admin: sc.admin },
    { proxy: `${plan.hostIp}:${NETNS_PORTS.proxy}`, dns: `${plan.hostIp}:${NETNS_PORTS.dns}`, http: `${plan.hostIp}:${NETNS_PORTS.http}`, tls: `${plan.hostIp}:${NETNS_PORTS.tls}`, fwd: plan.hostIp, address: '11.254.0.9', admin: '127.0.0.1:9001' },
  )
  t.equal(e.providers.fetch.listen, '127.0.0.1:8101', 'default listen when unset')
  t.equal(sc.data_dir, `/work/project/${DEFAULT_DATA_DIR.slice(2)}/fetch`, 'shared default data dir split per provider')
})

t.test('cooperative mode: loopback ports, no transparent listeners, address 127.0.0.1', async (t) => {
  const c = cfg({ providers: { fetch: proc() } })
  const rt = new Map<string, ProviderRuntime>([['fetch', { adminPort: 9001, proxyPort: 9002, dnsPort: 9003, defaultListen: '127.0.0.1:8101' }]])
  const sc = (effectiveConfig(c, rt, '/p') as Obj).providers.fetch.sidecar
  t.strictSame([sc.proxy, sc.dns, sc.transparent_http, sc.transparent_tls, sc.tcp_forward_host, sc.address], ['127.0.0.1:9002', '127.0.0.1:9003', null, null, '127.0.0.1', '127.0.0.1'])
})

t.test('a provider without a proxy port or plan keeps its own listeners (e.g. a remote provider)', async (t) => {
  const c = cfg({ providers: { r: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } } })
  const rt = new Map<string, ProviderRuntime>([['r', { adminPort: 9001, defaultListen: '127.0.0.1:8102' }]])
  const sc = (effectiveConfig(c, rt, '/p') as Obj).providers.r.sidecar
  t.equal(sc.proxy, c.providers.r!.sidecar.proxy)
  t.equal(sc.admin, '127.0.0.1:9001')
})

t.test('user settings are kept: listen, data_dir, cwd and signal_log made absolute, "-" kept', async (t) => {
  const c = cfg({ providers: {
    a: proc({ listen: '127.0.0.1:7000', cwd: 'srv', sidecar: { data_dir: 'state/a', signal_log: 'logs/a.jsonl' } }),
    b: proc({ sidecar: { signal_log: '-' } }),
  } })
  const rt = new Map<string, ProviderRuntime>([['a', { adminPort: 1, defaultListen: '127.0.0.1:8101' }], ['b', { adminPort: 2, defaultListen: '127.0.0.1:8102' }]])
  const e = effectiveConfig(c, rt, '/proj') as Obj
  t.equal(e.providers.a.listen, '127.0.0.1:7000')
  t.equal(e.providers.a.cwd, '/proj/srv')
  t.equal(e.providers.a.sidecar.data_dir, '/proj/state/a')
  t.equal(e.providers.a.sidecar.signal_log, '/proj/logs/a.jsonl')
  t.equal(e.providers.b.sidecar.signal_log, '-')
})

t.test('the aggregator is added when missing, its data dir absolute; providers without a runtime are left out; profile dropped', async (t) => {
  const c = cfg({ providers: { a: proc({ profile: 'fetch' }), b: proc() } })
  const e = effectiveConfig(c, new Map([['a', { adminPort: 1, defaultListen: '127.0.0.1:8101' }]]), '/proj') as Obj
  t.strictSame({ listen: e.aggregator.listen, url: e.aggregator.url, data_dir: e.aggregator.data_dir }, { listen: '127.0.0.1:8000', url: 'http://127.0.0.1:8000', data_dir: '/proj/data/aggregator' })
  t.strictSame(Object.keys(e.providers), ['a'])
  t.notOk('profile' in e.providers.a, 'profile dropped')
  const withAgg = effectiveConfig(cfg({ aggregator: { data_dir: 'agg', listen: '127.0.0.1:9' }, providers: {} }), new Map(), '/proj') as Obj
  t.equal(withAgg.aggregator.data_dir, '/proj/agg')
})

t.test('the effective config validates again as a hangar.yaml', async (t) => {
  const c = cfg({ providers: { fetch: proc() } })
  const plan = planNetns({ provider: 'fetch', key: 'abcdef01', taken: new Set() })
  const e = effectiveConfig(c, new Map([['fetch', { plan, adminPort: 9001, defaultListen: '127.0.0.1:8101' }]]), '/p')
  const again = hangarConfigSchema.safeParse(e)
  t.ok(again.success, again.success ? 'valid' : JSON.stringify(again.error.issues.slice(0, 3)))
})
