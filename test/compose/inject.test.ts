/**
 * `compose inject` as a pure rewrite (compose/inject.ts): topology, hardening, refusals, port and
 * profile handling, idempotency. Every output is also read back by the real docker-compose v1
 * (`docker-compose config -q`, no daemon needed) when it is installed; in CI it must be.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { injectCompose, type InjectOptions } from '../../compose/inject.js'
import { ConfigError } from '../../core/errors.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'hangar-inject-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const SECCOMP = join(root, 'security/seccomp/mcp-provider.json')
const opts = (extra: Partial<InjectOptions> = {}): InjectOptions => ({
  source: join(dir, 'docker-compose.yml'),
  sidecarImage: 'mcp-hangar/sidecar:test',
  aggregatorImage: 'mcp-hangar/aggregator:test',
  seccompProfile: SECCOMP,
  projectName: 'unit',
  ...extra,
})

let composeBin: string | undefined
try {
  execFileSync('docker-compose', ['version'], { stdio: 'ignore' })
  composeBin = 'docker-compose'
} catch {
  if (process.env.CI) t.fail('docker-compose is not installed (CI installs the Debian package)')
}

/** Checks the text with the real docker-compose v1 parser and schema. */
function composeConfig(tt: Test, text: string, name: string): void {
  if (!composeBin) {
    tt.comment(`docker-compose not installed: ${name} not checked by it`)
    return
  }
  const file = join(dir, `${name}.yml`)
  writeFileSync(file, text)
  const r = spawnSync(composeBin, ['-f', file, 'config', '-q'], { encoding: 'utf8', env: { ...process.env, HANGAR_SIGNAL_TOKEN: 's', HANGAR_ADMIN_TOKEN: 'a' } })
  tt.equal(r.status, 0, `docker-compose config accepts ${name}${r.status === 0 ? '' : `: ${r.stderr}`}`)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML, inspected field by field
type Obj = Record<string, any>

const BASIC = `
services:
  fetch:
    image: example/fetch:1
    ports: ["127.0.0.1:8101:3000"]
    labels:
      mcp.hangar.enabled: "true"
      mcp.hangar.profile: fetch
  web:
    image: nginx
`

const RICH = `
version: "3.8"
services:
  db:
    image: postgres:16
    networks: [backend]
  mcp:
    image: example/mcp:2
    environment:
      - LOG_LEVEL=debug
      - HTTP_PROXY=http://corp-proxy:3128
    expose: ["9000"]
    networks:
      backend:
        aliases: [tools]
      front: {}
    depends_on: [db]
    labels:
      - mcp.hangar.enabled=true
      - mcp.hangar.path=rpc
      - mcp.hangar.enforcement=alert
      - mcp.hangar.host-access=unconfined
    user: "1000"
    read_only: false
    cap_drop: [NET_RAW]
    security_opt: ["seccomp=unconfined"]
networks:
  backend: {}
  front:
    ipam:
      config: [{subnet: 10.253.0.0/24}]
`

t.test('topology: internal network, sidecar, aggregator, provider rewired', (tt) => {
  const r = injectCompose(BASIC, opts())
  const doc = parse(r.text) as Obj
  const net = doc.networks.hangar_fetch_internal
  tt.equal(net.internal, true, 'internal network')
  tt.same(net.driver_opts, { 'com.docker.network.bridge.inhibit_ipv4': 'true' }, 'no host address on its bridge')
  const subnet = net.ipam.config[0].subnet as string
  tt.match(subnet, /^10\.253\.\d+\.\d+\/28$/, 'a /28 from the default pool')
  const [a, b, c, d] = subnet.split('/')[0]!.split('.').map(Number)
  const sidecarIp = `${a}.${b}.${c}.${d! + 2}`
  tt.equal(net.ipam.config[0].gateway, `${a}.${b}.${c}.${d! + 1}`)
  tt.equal(net.ipam.config[0].ip_range, `${a}.${b}.${c}.${d! + 8}/29`, 'dynamic addresses only from the upper half')

  const p = doc.services.fetch
  tt.same(Object.keys(p.networks), ['hangar_fetch_internal'], 'provider on the internal network only')
  tt.same(p.networks.hangar_fetch_internal.aliases, ['hangar-provider-fetch'])
  tt.same(p.dns, [sidecarIp], 'dns: the sidecar')
  tt.equal(p.ports, undefined, 'published ports moved away')
  tt.equal(p.environment.HTTP_PROXY, `http://${sidecarIp}:3128`)
  tt.equal(p.environment.https_proxy, `http://${sidecarIp}:3128`)
  tt.equal(p.environment.NODE_USE_ENV_PROXY, '1')
  tt.match(p.environment.NO_PROXY, /localhost/)
  tt.same(p.depends_on, { 'hangar-sidecar-fetch': { condition: 'service_healthy' } })
  tt.same(p.cap_drop, ['ALL'])
  tt.equal(p.read_only, true)
  tt.same(p.tmpfs, ['/tmp'])
  tt.same(p.security_opt, ['no-new-privileges:true', `seccomp=${SECCOMP}`])
  tt.equal(p.pids_limit, 256)
  tt.equal(p.mem_limit, '512m')
  tt.equal(p.user, '65534:65534')

  const s = doc.services['hangar-sidecar-fetch']
  tt.equal(s.image, 'mcp-hangar/sidecar:test')
  tt.same(s.command, ['sidecar', '-c', 'env:HANGAR_CONFIG', '--provider', 'fetch'])
  tt.same(s.networks.hangar_fetch_internal, { ipv4_address: sidecarIp })
  tt.same(s.networks.default, { aliases: ['fetch'] }, 'on the original (default) network, under the provider name')
  tt.ok('hangar_control' in s.networks, 'and on the control network')
  tt.same(s.ports, ['127.0.0.1:8101:3000'], 'published port kept, MCP ingress on the same container port')
  tt.equal(s.sysctls['net.ipv4.ip_unprivileged_port_start'], 0)
  tt.same(s.cap_drop, ['ALL'])
  tt.equal(s.read_only, true)
  tt.equal(s.labels['mcp.hangar.generated'], 'true')
  tt.match(s.environment.HANGAR_SIGNAL_TOKEN, /^\$\{HANGAR_SIGNAL_TOKEN:\?/)
  // the config inside, as the sidecar will read it after Compose turns $$ into $
  const cfg = parse((s.environment.HANGAR_CONFIG as string).replace(/\$\$/g, '$')) as Obj
  const pc = cfg.providers.fetch
  tt.equal(pc.mode, 'remote')
  tt.equal(pc.endpoint, 'http://hangar-provider-fetch:3000/mcp')
  tt.equal(pc.listen, '0.0.0.0:3000')
  tt.equal(pc.profile, 'fetch', 'built-in profile by name')
  tt.equal(pc.sidecar.dns, `${sidecarIp}:53`, 'egress listeners on the internal address only')
  tt.equal(pc.sidecar.proxy, `${sidecarIp}:3128`)
  tt.equal(pc.sidecar.address, sidecarIp)
  tt.equal(pc.sidecar.admin, '127.0.0.1:9901', 'admin only inside the sidecar')
  tt.same(cfg.aggregator.signal_tokens, ['${HANGAR_SIGNAL_TOKEN}'], 'no secret in the file')
  tt.equal(cfg.aggregator.url, 'http://hangar-aggregator:8000')

  const agg = doc.services['hangar-aggregator']
  tt.same(agg.networks, ['hangar_control'])
  tt.same(agg.ports, ['127.0.0.1:8000:8000'])
  tt.match(agg.environment.HANGAR_ADMIN_TOKEN, /^\$\{HANGAR_ADMIN_TOKEN:\?/)
  tt.same(doc.services.web, { image: 'nginx' }, 'unlabelled services untouched')
  tt.ok(doc['x-mcp-hangar'].originals.fetch.ports, 'original kept for the next run')
  tt.equal(r.providers.length, 1)
  tt.equal(r.providers[0]!.sidecarAddress, sidecarIp)
  composeConfig(tt, r.text, 'basic')
  tt.end()
})

t.test('idempotent: injecting twice gives the same file; a third time too', (tt) => {
  const fixtures: Record<string, string> = {
    basic: BASIC,
    rich: RICH,
  }
  for (const [name, text] of Object.entries(fixtures)) {
    const once = injectCompose(text, opts()).text
    const twice = injectCompose(once, opts()).text
    const thrice = injectCompose(twice, opts()).text
    tt.equal(twice, once, `${name}: second run identical`)
    tt.equal(thrice, once, `${name}: third run identical`)
  }
  tt.end()
})

t.test('list forms, user settings kept, version dropped, path and enforcement labels', (tt) => {
  const text = RICH
  const r = injectCompose(text, opts())
  const doc = parse(r.text) as Obj
  tt.equal(doc.version, undefined, 'version dropped (Compose specification output)')
  tt.ok(r.notes.some((n) => /version: 3\.8/.test(n)), 'and said so')
  const p = doc.services.mcp
  tt.ok(p.environment.includes('LOG_LEVEL=debug'), 'list environment kept as a list')
  tt.ok(p.environment.includes(`HTTP_PROXY=http://${r.providers[0]!.sidecarAddress}:3128`), 'the proxy is the sidecar, not the old one')
  tt.notOk(p.environment.includes('HTTP_PROXY=http://corp-proxy:3128'))
  tt.same(p.depends_on, { db: { condition: 'service_started' }, 'hangar-sidecar-mcp': { condition: 'service_healthy' } })
  tt.equal(p.user, '1000', 'user kept')
  tt.equal(p.read_only, false, 'read_only: false kept')
  tt.same(p.cap_drop, ['NET_RAW'], 'cap_drop kept')
  tt.same(p.security_opt, ['seccomp=unconfined', 'no-new-privileges:true'], 'seccomp choice kept, no-new-privileges added')
  tt.same(r.providers[0]!.hardening.sort(), ['mem_limit', 'no-new-privileges', 'pids_limit', 'tmpfs'].sort())
  const sc = doc.services['hangar-sidecar-mcp']
  tt.same(Object.keys(sc.networks).sort(), ['backend', 'front', 'hangar_control', 'hangar_mcp_internal'].sort())
  const sub = doc.networks.hangar_mcp_internal.ipam.config[0].subnet as string
  tt.notMatch(sub, /^10\.253\.0\./, 'the pool pick avoids the file\'s own 10.253.0.0/24')
  const cfg = parse(sc.environment.HANGAR_CONFIG.replace(/\$\$/g, '$')) as Obj
  tt.equal(cfg.providers.mcp.endpoint, 'http://hangar-provider-mcp:9000/rpc', 'exposed port and path label')
  tt.same(cfg.providers.mcp.capabilities, { enforcement_mode: 'alert' })
  tt.equal(sc.ports, undefined, 'nothing published, nothing moved')
  // seccomp=unconfined is kept only because the label grants it, and the sidecar is told
  tt.same(r.providers[0]!.hostAccess, [{ grant: 'unconfined', path: 'services.mcp.security_opt[0]', setting: 'security_opt seccomp=unconfined' }])
  tt.same(JSON.parse(sc.environment.HANGAR_HOST_ACCESS), r.providers[0]!.hostAccess, 'the grant is handed to the sidecar')
  tt.equal(sc.labels['mcp.hangar.host-access'], sc.environment.HANGAR_HOST_ACCESS, 'and shown on its container')
  tt.ok(r.notes.some((n) => /host access granted .*unconfined/.test(n)), 'and in the summary')
  composeConfig(tt, r.text, 'rich')
  tt.end()
})

t.test('a profile file is embedded; its errors are named', (tt) => {
  writeFileSync(join(dir, 'p.yaml'), 'capabilities:\n  enforcement_mode: block\n  network:\n    egress:\n      - { host: api.example.com, port: 443, protocol: https }\n')
  writeFileSync(join(dir, 'bad.yaml'), 'capabilities:\n  network:\n    egress:\n      - { host: "*bad", port: 443 }\n')
  const text = (profile: string) => `services:\n  x:\n    image: i\n    ports: ["8080"]\n    labels: {mcp.hangar.enabled: "true", mcp.hangar.profile: ${profile}}\n`
  const r = injectCompose(text('./p.yaml'), opts())
  const sc = (parse(r.text) as Obj).services['hangar-sidecar-x']
  const cfg = parse(sc.environment.HANGAR_CONFIG.replace(/\$\$/g, '$')) as Obj
  tt.same(cfg.providers.x.capabilities.network.egress, [{ host: 'api.example.com', port: 443, protocol: 'https' }])
  tt.equal(cfg.providers.x.listen, '0.0.0.0:8080')
  tt.same(sc.ports, ['8080'])
  const e1 = tt.throws(() => injectCompose(text('./bad.yaml'), opts())) as ConfigError
  tt.match(e1.issues[0], { path: 'services.x.labels.mcp.hangar.profile', message: /egress\[0\]\.host/ })
  const e2 = tt.throws(() => injectCompose(text('./missing.yaml'), opts())) as ConfigError
  tt.match(e2.issues[0], { path: 'services.x.labels.mcp.hangar.profile', message: /not found/ })
  const e3 = tt.throws(() => injectCompose(text('no-such-builtin'), opts())) as ConfigError
  tt.match(e3.issues[0], { message: /unknown built-in profile/ })
  tt.end()
})

t.test('services that cannot be isolated are refused, every reason named', (tt) => {
  const text = `
services:
  a:
    image: i
    network_mode: host
    ports: ["80"]
    labels: {mcp.hangar.enabled: "true"}
  b:
    image: i
    privileged: true
    cap_add: [NET_ADMIN, CHOWN, cap_sys_admin]
    links: [c]
    ports: ["8080:80", "9090:90"]
    labels: {mcp.hangar.enabled: "true"}
  c:
    image: i
    labels: {mcp.hangar.enabled: "true"}
  d:
    image: i
    ports: ["53:53/udp"]
    labels: {mcp.hangar.enabled: "true", mcp.hangar.port: "53"}
  e:
    image: i
    ports: ["\${P}:\${Q}"]
    labels: {mcp.hangar.enabled: "true", mcp.hangar.subnet: 10.0.0.5/28}
`
  const err = tt.throws(() => injectCompose(text, opts())) as ConfigError
  tt.ok(err instanceof ConfigError)
  const paths = err.issues.map((i) => i.path)
  for (const p of ['services.a.network_mode', 'services.b.privileged', 'services.b.cap_add', 'services.b.links', 'services.b.ports', 'services.c', 'services.d.ports[0]', 'services.e.ports', 'services.e.labels.mcp.hangar.subnet']) {
    tt.ok(paths.includes(p), `names ${p}`)
  }
  tt.match(err.issues.find((i) => i.path === 'services.b.cap_add')?.message, /NET_ADMIN, SYS_ADMIN/)
  tt.notMatch(err.issues.find((i) => i.path === 'services.b.cap_add')?.message, /CHOWN/)
  tt.match(err.issues.find((i) => i.path === 'services.c')?.message, /mcp\.hangar\.port/)
  tt.match(err.message, /services\.a\.network_mode: "host"/)
  tt.end()
})

t.test('other refusals and edge cases', (tt) => {
  const reserved = `services:\n  x:\n    image: i\n    expose: [80]\n    labels: {mcp.hangar.enabled: "true"}\n  hangar-aggregator:\n    image: mine\n`
  const e = tt.throws(() => injectCompose(reserved, opts())) as ConfigError
  tt.match(e.issues[0], { path: 'services.hangar-aggregator', message: /reserved/ })
  tt.throws(() => injectCompose('services: [1, 2]\n', opts()), ConfigError, 'services must be a mapping')
  tt.throws(() => injectCompose('services:\n  a: {image: x\n', opts()), ConfigError, 'YAML error')
  tt.throws(() => injectCompose(BASIC, opts({ subnetPool: '10.0.0.1/8' })), { code: 'HANGAR_USAGE' })
  const undeclared = `services:\n  x:\n    image: i\n    expose: [8080]\n    networks: [nope]\n    labels: {mcp.hangar.enabled: "true"}\n`
  const e2 = tt.throws(() => injectCompose(undeclared, opts())) as ConfigError
  tt.match(e2.issues[0], { path: 'services.x.networks.nope' })
  // MCP port on a port the sidecar's egress listeners use → ingress moves to 8080
  const on80 = `services:\n  x:\n    image: i\n    ports: ["9000:80"]\n    labels: {mcp.hangar.enabled: "true"}\n`
  const r = injectCompose(on80, opts())
  const sc = (parse(r.text) as Obj).services['hangar-sidecar-x']
  tt.same(sc.ports, ['9000:8080'])
  tt.ok(r.notes.some((n) => /8080/.test(n)))
  const none = injectCompose('services:\n  web: {image: nginx}\n', opts())
  tt.ok(none.notes.some((n) => /nothing to inject/.test(n)))
  tt.equal(none.providers.length, 0)
  composeConfig(tt, r.text, 'port80')
  tt.end()
})

t.test('own subnet label, existing aggregator, unpublished aggregator, user label', (tt) => {
  const text = `services:\n  x:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true", mcp.hangar.subnet: 11.254.30.0/28, mcp.hangar.user: image}\n`
  const r = injectCompose(text, opts({ aggregatorUrl: 'http://agg.internal:8000' }))
  const doc = parse(r.text) as Obj
  tt.equal(doc.networks.hangar_x_internal.ipam.config[0].subnet, '11.254.30.0/28')
  tt.equal(r.providers[0]!.sidecarAddress, '11.254.30.2')
  tt.equal(doc.services['hangar-aggregator'], undefined, 'no aggregator service')
  tt.equal(doc.networks.hangar_control, undefined, 'no control network')
  tt.equal(doc.services.x.user, undefined, 'image keeps its own user')
  const cfg = parse(doc.services['hangar-sidecar-x'].environment.HANGAR_CONFIG.replace(/\$\$/g, '$')) as Obj
  tt.equal(cfg.aggregator.url, 'http://agg.internal:8000')
  const r2 = injectCompose(text, opts({ aggregatorPublish: '' }))
  tt.equal((parse(r2.text) as Obj).services['hangar-aggregator'].ports, undefined)
  composeConfig(tt, r.text, 'own-subnet')
  tt.end()
})

t.test('two providers get different subnets; the same names give the same subnets', (tt) => {
  const text = `services:\n  a: {image: i, expose: [8080], labels: {mcp.hangar.enabled: "true"}}\n  b: {image: i, expose: [8080], labels: {mcp.hangar.enabled: "true"}}\n`
  const r1 = injectCompose(text, opts())
  const r2 = injectCompose(text, opts())
  tt.not(r1.providers[0]!.subnet, r1.providers[1]!.subnet)
  tt.same(r1.providers.map((p) => p.subnet), r2.providers.map((p) => p.subnet))
  const r3 = injectCompose(text, opts({ projectName: 'other' }))
  tt.not(r3.providers[0]!.subnet, r1.providers[0]!.subnet, 'another project picks elsewhere (hash of project/service)')
  composeConfig(tt, r1.text, 'two')
  tt.end()
})

t.test('editing the original after injection and injecting again applies the edit', (tt) => {
  const once = injectCompose(BASIC, opts()).text
  const at = once.lastIndexOf('image: example/fetch:1')
  tt.ok(at > once.indexOf('x-mcp-hangar'), 'the original copy is under x-mcp-hangar')
  const edited = once.slice(0, at) + 'image: example/fetch:2' + once.slice(at + 'image: example/fetch:1'.length)
  const again = injectCompose(edited, opts())
  const doc = parse(again.text) as Obj
  tt.equal(doc.services.fetch.image, 'example/fetch:2')
  tt.equal(doc['x-mcp-hangar'].originals.fetch.image, 'example/fetch:2')
  tt.same(again.notes, [], 'no warning')
  // an edit of the generated service itself is not kept, and inject says so
  const live = once.replace('image: example/fetch:1', 'image: example/fetch:3')
  const r = injectCompose(live, opts())
  tt.equal((parse(r.text) as Obj).services.fetch.image, 'example/fetch:1')
  tt.ok(r.notes.some((n) => /services\.fetch.*x-mcp-hangar\.originals\.fetch/.test(n)), 'the lost edit is reported')
  tt.end()
})
