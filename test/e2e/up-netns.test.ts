/**
 * `mcp-hangar up` end to end, as root: the bundled CLI starts the aggregator
 * and a sidecar for a real MCP server (server-everything over stdio) in its own network namespace.
 * From inside that namespace, as the unprivileged user the provider runs as:
 * - an allowed name through CONNECT (HTTP_PROXY-aware client) works;
 * - an allowed name through Node 20's plain `fetch` (ignores HTTP_PROXY) works by DNS steering;
 * - a denied name → NXDOMAIN and `dns_denied`;
 * - a direct connection to the IP of one of our own sites fails and is reported as
 *   `egress_bypass_attempt`; so is the aggregator's port on the sidecar's address;
 * - every signal reaches the audit log, marked `isolation: netns`.
 * Then SIGINT: no namespace, veth or nftables table is left, and a second run starts clean.
 * The "sites" are our own servers on addresses of a veth link the test makes (198.18.77.0/24).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { TestDnsServer } from '../helpers/dns-server.js'
import { freePort } from '../helpers/mcp.js'
import { netnsSkip } from '../helpers/netns.js'
import { BUNDLE, probeIn, sh, startUp, testInternet } from '../helpers/up.js'

const root = new URL('../../', import.meta.url).pathname
const EVERYTHING = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)
const skip = netnsSkip() || missing || false
const ADMIN = 'admin-token-up-e2e'

interface Stored { type: string; provider: string; isolation?: string; destination?: { ip?: string; host?: string; port?: number; protocol?: string }; details?: { where?: string } }
const LINK = 'hgupe2e0'
const SITE = '198.18.77.10'
const EVIL = '198.18.77.66'

t.setTimeout(180_000)


t.test('mcp-hangar up: the provider in its namespace reaches only its sidecar; clean shutdown', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-up-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  // Our "internet": a link on the host holding the sites' addresses, a site on each, our DNS.
  testInternet(t, LINK, [SITE, EVIL])
  const sites = [SITE, EVIL].map((addr) => createServer((req, res) => res.end(`SITE ${addr} host=${req.headers.host} path=${req.url}`)))
  await Promise.all(sites.map((s, i) => new Promise<void>((r) => s.listen(80, [SITE, EVIL][i], r))))
  t.teardown(() => Promise.all(sites.map((s) => new Promise<void>((r) => s.close(() => r())))))
  const dns = new TestDnsServer({
    records: {
      'api.up.test': [{ type: 'A', data: SITE }],
      'web.up.test': [{ type: 'A', data: SITE }],
      'evil.up.test': [{ type: 'A', data: EVIL }],
    },
  })
  await dns.listen()
  t.teardown(() => dns.close())

  const aggPort = await freePort()
  const mcpPort = await freePort()
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:
  listen: 127.0.0.1:${aggPort}
  data_dir: ${dir}/agg
  admin_tokens: [${ADMIN}]
providers:
  probe:
    mode: subprocess
    command: [${process.execPath}, ${EVERYTHING}, stdio]
    listen: 127.0.0.1:${mcpPort}
    sidecar:
      upstream_dns: [${dns.address}]
      data_dir: ${dir}/probe
      observation_window_ms: 0
    capabilities:
      enforcement_mode: block
      network:
        egress:
          - { host: api.up.test, port: 80, protocol: http }
          - { host: web.up.test, port: 80, protocol: http }
          - { cidr: 198.18.77.10/32, port: 80, protocol: http }
`)
  const up = await startUp(t, cfg, dir)
  const ns = up.netns
  t.match(ns, /^hg-[0-9a-f]{8}$/, 'up printed the namespace')
  t.match(up.out, /isolation: netns/)
  const sidecarIp = new RegExp(`netns ${ns}: provider [0-9.]+ → sidecar ([0-9.]+)`).exec(up.out)?.[1] ?? ''
  t.match(sidecarIp, /^10\.254\./)

  // Probes run inside the namespace as the provider does: as nobody, with its resolv.conf.
  const probe = (script: string) => probeIn(ns, script)

  await t.test('the namespace has no route out: no gateway, only the /30 on the veth', async (t) => {
    const routes = sh('ip', ['-n', ns, 'route', 'show'])
    t.notMatch(routes, / via /, `no route has a gateway:\n${routes}`)
    t.match(routes, /default dev hgnull0/, 'the catch-all leads into the dead-end link (so nftables sees and counts)')
    t.match(readFileSync(`/etc/netns/${ns}/resolv.conf`, 'utf8'), `nameserver ${sidecarIp}`)
  })

  await t.test('allowed name through CONNECT (HTTP_PROXY-aware client)', async (t) => {
    const out = await probe(`const http=require('http'),net=require('net');const r=http.request({host:'${sidecarIp}',port:3128,method:'CONNECT',path:'api.up.test:80'});r.on('connect',(res,s)=>{s.write('GET /via-connect HTTP/1.1\\r\\nHost: api.up.test\\r\\nConnection: close\\r\\n\\r\\n');let b='';s.on('data',d=>b+=d);s.on('end',()=>console.log('STATUS',res.statusCode,b.split('\\r\\n\\r\\n')[1]))});r.on('error',e=>console.log('ERR',e.code));r.end()`)
    t.match(out, `STATUS 200 SITE ${SITE} host=api.up.test path=/via-connect`)
  })

  await t.test('allowed name through plain fetch on Node 20 (ignores HTTP_PROXY): DNS steering', async (t) => {
    const out = await probe(`fetch('http://web.up.test/plain').then(r=>r.text()).then(b=>console.log('BODY',b),e=>console.log('ERR',e.cause?.code??e.message))`)
    t.match(out, `BODY SITE ${SITE} host=web.up.test path=/plain`)
  })

  await t.test('denied name: NXDOMAIN', async (t) => {
    const out = await probe(`require('dns').lookup('evil.up.test',(e,a)=>console.log(e?e.code:'RESOLVED '+a))`)
    t.match(out, 'ENOTFOUND')
    t.equal(dns.queriesFor('evil.up.test').length, 0, 'the denied name never reached the upstream resolver')
  })

  await t.test('direct connections fail: a site by IP, the aggregator port on the host, another resolver', async (t) => {
    const out = await probe(`const net=require('net'),dgram=require('dgram');const tcp=(h,p)=>new Promise(r=>{const s=net.connect({host:h,port:p,timeout:3000},()=>{r('CONNECTED');s.destroy()});s.on('error',e=>r(e.code));s.on('timeout',()=>{r('TIMEOUT');s.destroy()})});(async()=>{console.log('SITE',await tcp('${EVIL}',80));console.log('AGG',await tcp('${sidecarIp}',${aggPort}));console.log('AGGLO',await tcp('127.0.0.1',${aggPort}));const u=dgram.createSocket('udp4');u.send(Buffer.from('q'),53,'${SITE}',e=>{console.log('UDP',e?e.code:'sent');u.close()})})()`)
    t.match(out, /SITE (EHOSTUNREACH|ENETUNREACH|ECONNREFUSED|TIMEOUT)/, 'the evil site by IP is unreachable')
    t.match(out, /AGG (EHOSTUNREACH|ENETUNREACH|ECONNREFUSED|TIMEOUT)/, "the aggregator's port on the host is unreachable")
    t.match(out, /AGGLO ECONNREFUSED/, "127.0.0.1 is the namespace's own loopback: no aggregator there")
    t.notMatch(out, /CONNECTED/)
  })

  // Stop: SIGINT as a terminal's Ctrl-C would, then look for leftovers.
  const audit = join(dir, 'agg/audit/audit.jsonl')
  const signals = async (): Promise<Stored[]> => existsSync(audit) ? readFileSync(audit, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored) : []
  const until = Date.now() + 20_000
  while (Date.now() < until && !(await signals()).some((s) => s.type === 'egress_bypass_attempt' && s.destination?.port === aggPort)) await new Promise((r) => setTimeout(r, 250))
  const stored = await signals()
  t.ok(stored.some((s) => s.type === 'egress_bypass_attempt' && s.destination?.ip === EVIL && s.destination?.port === 80 && s.details?.where === 'namespace'), 'the direct connection to the site is an egress_bypass_attempt')
  t.ok(stored.some((s) => s.type === 'egress_bypass_attempt' && s.destination?.ip === sidecarIp && s.destination?.port === aggPort), 'so is the aggregator port')
  t.ok(stored.some((s) => s.type === 'egress_bypass_attempt' && s.destination?.protocol === 'udp' && s.destination?.port === 53 && s.destination?.ip === SITE), 'so is a DNS query to another resolver')
  t.ok(stored.some((s) => s.type === 'dns_denied' && s.destination?.host === 'evil.up.test'), 'dns_denied is in the audit log')
  t.ok(stored.some((s) => s.type === 'egress_allowed' && s.destination?.host === 'api.up.test'), 'the CONNECT is in the audit log')
  t.ok(stored.some((s) => s.type === 'egress_allowed' && s.destination?.host === 'web.up.test'), 'the steered fetch is in the audit log')
  const providerSignals = stored.filter((s) => s.provider === 'probe')
  t.ok(providerSignals.length > 0 && providerSignals.every((s) => s.isolation === 'netns'), `every signal is marked isolation: netns (${providerSignals.length})`)
  const res = await fetch(`http://127.0.0.1:${aggPort}/v1/providers`, { headers: { authorization: `Bearer ${ADMIN}` } })
  const body = (await res.json()) as { providers: Array<{ name: string; isolation?: string; state: string }> }
  t.match(body.providers.find((p) => p.name === 'probe'), { isolation: 'netns', state: 'ready' }, '/v1/providers says netns')

  up.proc.kill('SIGINT')
  t.equal(await up.exited, 0, 'up exits 0 on SIGINT')
  const key = ns.slice(3)
  t.notMatch(sh('ip', ['netns', 'list']), ns, 'the namespace is gone')
  t.notMatch(sh('ip', ['-br', 'link']), `hgh${key}`, 'the veth is gone')
  t.notMatch(sh('nft', ['list', 'tables']), `hangar_${key}`, 'the host nftables table is gone')
  t.notOk(existsSync(`/etc/netns/${ns}`), '/etc/netns/<ns> is gone')
  t.notOk(existsSync(join(dir, 'agg/run')), 'the run dir (effective config with tokens) is gone')
  const lines = (await signals()).length
  t.ok(lines >= stored.length, 'the audit log kept everything')

  await t.test('a second run starts clean on the same names and stops clean', async (t) => {
    const again = await startUp(t, cfg, dir)
    t.equal(again.netns, ns, 'the same namespace name (stable per config and provider)')
    again.proc.kill('SIGTERM')
    t.equal(await again.exited, 0)
    t.notMatch(sh('ip', ['netns', 'list']), ns)
    t.notMatch(sh('nft', ['list', 'tables']), `hangar_${key}`)
  })
})

t.test('mcp-hangar up --cooperative: says so, and marks signals and providers cooperative', { skip: missing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-upc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const aggPort = await freePort()
  const mcpPort = await freePort()
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:
  listen: 127.0.0.1:${aggPort}
  data_dir: ${dir}/agg
providers:
  coop:
    command: [${process.execPath}, ${EVERYTHING}, stdio]
    listen: 127.0.0.1:${mcpPort}
    sidecar: { data_dir: ${dir}/coop }
    capabilities: { tools: { deny_list: [get-env] } }
`)
  const up = await startUp(t, cfg, dir, ['--cooperative'])
  t.match(up.out, /isolation: COOPERATIVE — --cooperative was given/)
  t.equal(up.netns, '', 'no namespace')
  // A denied tool call through the sidecar gives a signal to look at.
  const init = await fetch(`http://127.0.0.1:${mcpPort}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) })
  const sid = init.headers.get('mcp-session-id') ?? ''
  await init.text()
  const call = await fetch(`http://127.0.0.1:${mcpPort}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get-env', arguments: {} } }) })
  t.match(await call.text(), /-32001/)
  const audit = join(dir, 'agg/audit/audit.jsonl')
  const until = Date.now() + 15_000
  let stored: Array<Record<string, unknown>> = []
  while (Date.now() < until) {
    stored = existsSync(audit) ? readFileSync(audit, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []
    if (stored.some((s) => s.type === 'tool_denied')) break
    await new Promise((r) => setTimeout(r, 200))
  }
  t.ok(stored.some((s) => s.type === 'tool_denied'), 'the tool_denied reached the audit log')
  t.ok(stored.filter((s) => s.provider === 'coop').every((s) => s.isolation === 'cooperative'), 'every signal is marked cooperative')
  const res = await fetch(`http://127.0.0.1:${aggPort}/v1/providers`)
  const body = (await res.json()) as { providers: Array<{ name: string; isolation?: string }> }
  t.equal(body.providers.find((p) => p.name === 'coop')?.isolation, 'cooperative')
  up.proc.kill('SIGTERM')
  t.equal(await up.exited, 0)
})
