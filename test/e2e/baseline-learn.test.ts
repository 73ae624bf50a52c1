/**
 * Learn, suggest, enforce (docs/baseline.md), as root, on the real bundle with a real MCP server
 * (mcp-fetch-server from npm) in its own network namespace under `mcp-hangar up`:
 *
 * 1. Alert mode, a profile that names no host (only a cidr for our stand-in internet). A scripted
 *    workload: MCP `fetch_txt` calls to three subdomains of one domain (Node's fetch: DNS steering
 *    and the transparent :80 listener), and probes from inside the namespace as the provider's
 *    user: an HTTP request through a CONNECT tunnel on port 8080, an opaque TCP protocol through a
 *    CONNECT tunnel on port 5432, an IP-literal CONNECT, and an absolute-form proxy request.
 * 2. `mcp-hangar profile suggest --from-aggregator` turns the shipped baseline into a profile.
 * 3. Block mode with the suggested profile and the same data dir: the same workload passes with
 *    zero violations, the baseline continued where it stopped (restart), and one extra
 *    destination is denied with `egress_denied`.
 *
 * Our "internet": a veth link on the host holding the sites' addresses (198.18.79.0/24), a web
 * site on :80 and :8080, an echo service on :5432, and our DNS (docs/testing.md: our own hosts only).
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { parseBaseline, type Baseline } from '../../policy/baseline-schema.js'
import { TestDnsServer } from '../helpers/dns-server.js'
import { connectClient, freePort, textOf } from '../helpers/mcp.js'
import { netnsSkip } from '../helpers/netns.js'
import { BUNDLE, probeIn, startUp, testInternet, type Up } from '../helpers/up.js'

const root = new URL('../../', import.meta.url).pathname
const FETCH = join(root, 'node_modules/mcp-fetch-server/dist/index.js')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)
const skip = netnsSkip() || missing || false
const ADMIN = 'admin-token-learn-e2e'
const LINK = 'hglearn0'
const SITE = '198.18.79.10'
const IPSITE = '198.18.79.20'
const EXTRA = '198.18.79.66'

interface Stored { type: string; kind: string; provider: string; action: string; destination?: { host?: string; ip?: string; port?: number } }

t.setTimeout(300_000)


t.test('alert-mode baseline → profile suggest → block mode: the workload passes, an extra destination is denied', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-learn-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  testInternet(t, LINK, [SITE, IPSITE, EXTRA])
  const web = (addr: string, port: number) => {
    const s = createServer((req, res) => res.end(`SITE ${addr}:${port} host=${req.headers.host} path=${req.url}`))
    return new Promise<typeof s>((r) => s.listen(port, addr, () => r(s)))
  }
  const echo = createNetServer((s) => s.on('data', (d) => s.write(`PONG ${d.toString().trim()}\n`)))
  await new Promise<void>((r) => echo.listen(5432, SITE, r))
  const servers = [await web(SITE, 80), await web(SITE, 8080), await web(IPSITE, 80), await web(EXTRA, 80)]
  t.teardown(async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
    await new Promise<void>((r) => echo.close(() => r()))
  })
  const dns = new TestDnsServer({
    records: Object.fromEntries([
      ...['a.docs.learn.test', 'b.docs.learn.test', 'c.docs.learn.test', 'api.learn.test', 'db.learn.test', 'web.learn.test'].map((n) => [n, [{ type: 'A' as const, data: SITE }]]),
      ['extra.learn.test', [{ type: 'A' as const, data: EXTRA }]],
    ]),
  })
  await dns.listen()
  t.teardown(() => dns.close())

  const mcpPort = await freePort()
  const config = (aggPort: number, agg: string, caps: string) => `aggregator:
  listen: 127.0.0.1:${aggPort}
  data_dir: ${dir}/${agg}
  admin_tokens: [${ADMIN}]
providers:
  fetch:
    mode: subprocess
    command: [${process.execPath}, ${FETCH}]
    listen: 127.0.0.1:${mcpPort}
    sidecar:
      address: 11.254.0.1
      upstream_dns: [${dns.address}]
      data_dir: ${dir}/fetch
      baseline: { ship_interval_ms: 0, flush_interval_ms: 500 }
${caps}`

  /** The workload: the same in both runs. Returns what each step answered. */
  const workload = async (up: Up): Promise<Record<string, string>> => {
    const out: Record<string, string> = {}
    const client = await connectClient(new URL(`http://127.0.0.1:${mcpPort}/mcp`))
    try {
      const tools = await client.listTools()
      out.tools = tools.tools.map((x) => x.name).sort().join(',')
      for (const h of ['a', 'b', 'c']) {
        const r = await client.callTool({ name: 'fetch_txt', arguments: { url: `http://${h}.docs.learn.test/page-${h}` } })
        out[`fetch_${h}`] = textOf(r)
      }
    } finally {
      await client.close()
    }
    const sidecarIp = new RegExp(`netns ${up.netns}: provider [0-9.]+ → sidecar ([0-9.]+)`).exec(up.out)?.[1] ?? ''
    const connect = (target: string, payload: string) =>
      `const http=require('http');const r=http.request({host:'${sidecarIp}',port:3128,method:'CONNECT',path:'${target}'});r.on('connect',(res,s)=>{if(res.statusCode!==200){console.log('STATUS',res.statusCode);s.destroy();return}s.write(${JSON.stringify(payload)});let b='';s.on('data',d=>{b+=d;if(b.includes('PONG'))s.end()});s.on('close',()=>console.log('STATUS',res.statusCode,JSON.stringify(b.split('\\r\\n\\r\\n').pop())))});r.on('error',e=>console.log('ERR',e.code));r.end()`
    out.api = await probeIn(up.netns, connect('api.learn.test:8080', 'GET /v1 HTTP/1.1\r\nHost: api.learn.test:8080\r\nConnection: close\r\n\r\n'))
    out.db = await probeIn(up.netns, connect('db.learn.test:5432', 'PING 1\n'))
    out.ip = await probeIn(up.netns, connect(`${IPSITE}:80`, `GET /by-ip HTTP/1.1\r\nHost: ${IPSITE}\r\nConnection: close\r\n\r\n`))
    out.web = await probeIn(up.netns, `require('http').get({host:'${sidecarIp}',port:3128,path:'http://web.learn.test/abs'},res=>{let b='';res.on('data',d=>b+=d);res.on('end',()=>console.log('STATUS',res.statusCode,b))}).on('error',e=>console.log('ERR',e.code))`)
    out.extra = connect('extra.learn.test:80', 'GET / HTTP/1.1\r\nHost: extra.learn.test\r\nConnection: close\r\n\r\n')
    return out
  }
  const expectWorked = (t: Test, w: Record<string, string>, what: string) => {
    for (const h of ['a', 'b', 'c']) t.match(w[`fetch_${h}`], `SITE ${SITE}:80 host=${h}.docs.learn.test path=/page-${h}`, `${what}: fetch_txt of ${h}.docs.learn.test`)
    t.match(w.api, `STATUS 200 "SITE ${SITE}:8080 host=api.learn.test:8080 path=/v1"`, `${what}: HTTP through a CONNECT tunnel on :8080`)
    t.match(w.db, 'STATUS 200 "PONG PING 1', `${what}: an opaque protocol through a CONNECT tunnel on :5432`)
    t.match(w.ip, `STATUS 200 "SITE ${IPSITE}:80 host=${IPSITE} path=/by-ip"`, `${what}: an IP-literal CONNECT`)
    t.match(w.web, `STATUS 200 SITE ${SITE}:80 host=web.learn.test path=/abs`, `${what}: an absolute-form proxy request`)
  }
  const audit = (agg: string): Stored[] => {
    const f = join(dir, agg, 'audit/audit.jsonl')
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored) : []
  }
  /** The aggregator's copy of the baseline once `ok` holds (heartbeats every 10 s carry it when it changed). */
  const shippedBaseline = async (aggPort: number, ok: (b: Baseline) => boolean): Promise<Baseline | undefined> => {
    const until = Date.now() + 30_000
    while (Date.now() < until) {
      const res = await fetch(`http://127.0.0.1:${aggPort}/v1/providers/fetch/baseline`, { headers: { authorization: `Bearer ${ADMIN}` } })
      if (res.status === 200) {
        const b = parseBaseline(await res.json())
        if (ok(b)) return b
      } else await res.body?.cancel()
      await new Promise((r) => setTimeout(r, 500))
    }
    return undefined
  }

  // ---- 1. learn ------------------------------------------------------------------------------
  const aggA = await freePort()
  const cfgA = join(dir, 'learn.yaml')
  writeFileSync(cfgA, config(aggA, 'agg-learn', `    capabilities:
      enforcement_mode: alert
      network:
        egress:
          - { cidr: 198.18.79.0/24 }   # our stand-in for the internet: a range that is always denied otherwise
`))
  const learn = await startUp(t, cfgA, dir)
  const first = await workload(learn)
  expectWorked(t, first, 'alert mode')
  t.match(first.tools, /fetch_html.*fetch_txt/, 'alert mode offers every tool')
  t.ok(audit('agg-learn').some((s) => s.type === 'egress_denied' && s.action === 'alerted' && s.destination?.host === 'a.docs.learn.test'), 'the unknown names were alerted, not blocked')

  // The baseline reaches the aggregator with a heartbeat.
  const shipped = await shippedBaseline(aggA, (b) => b.egress.some((e) => e.host === 'web.learn.test') && b.tools.some((x) => x.calls === 3))
  t.ok(shipped, 'the aggregator has the baseline with the whole workload')
  const suggested = join(dir, 'suggested.yaml')
  const sug = spawnSync(process.execPath, [BUNDLE, 'profile', 'suggest', '--provider', 'fetch', '--from-aggregator', `http://127.0.0.1:${aggA}`, '--token', ADMIN, '-o', suggested], { encoding: 'utf8' })
  t.equal(sug.status, 0, `profile suggest exits 0\n${sug.stderr}`)
  const text = readFileSync(suggested, 'utf8')
  const profile = parseYaml(text) as { capabilities: { enforcement_mode: string; network: { egress: Array<Record<string, unknown>> }; tools: { allow_list: string[]; expected_tools: string[] } } }
  const rules = profile.capabilities.network.egress
  t.equal(profile.capabilities.enforcement_mode, 'block')
  t.ok(rules.some((r) => r.host === '*.docs.learn.test' && r.port === 80 && r.protocol === 'http'), 'three subdomains of one domain → one *. glob')
  t.ok(rules.some((r) => r.host === 'api.learn.test' && r.port === 8080 && r.protocol === 'http'), 'the port and the protocol seen inside the tunnel are kept')
  t.ok(rules.some((r) => r.host === 'db.learn.test' && r.port === 5432 && r.protocol === 'tcp'), 'an opaque protocol → a tcp rule')
  t.ok(rules.some((r) => r.cidr === `${IPSITE}/32` && r.port === 80), 'an IP-literal destination → a /32 cidr rule')
  t.ok(rules.some((r) => r.host === 'web.learn.test' && r.port === 80 && r.protocol === 'http'))
  t.notOk(rules.some((r) => typeof r.host === 'string' && r.host.includes('extra')), 'nothing outside the workload')
  t.same(profile.capabilities.tools.allow_list, ['fetch_txt'], 'only the tool the workload called')
  t.ok(profile.capabilities.tools.expected_tools.includes('fetch_html'), 'expected_tools lists every tool the server offered')
  t.match(text, /# .*\d+ .*(request|connection|attempt)/i, 'rules carry their evidence as comments')

  learn.proc.kill('SIGINT')
  t.equal(await learn.exited, 0, 'up stops on SIGINT')
  const onDisk = parseBaseline(JSON.parse(readFileSync(join(dir, 'fetch/baseline.json'), 'utf8')))
  t.ok(onDisk.events >= shipped!.events, `the baseline was written to the data dir (${onDisk.events} events)`)

  // ---- 2. enforce ----------------------------------------------------------------------------
  const aggB = await freePort()
  const cfgB = join(dir, 'enforce.yaml')
  writeFileSync(cfgB, config(aggB, 'agg-enforce', `    profile: ${suggested}\n`))
  const enforce = await startUp(t, cfgB, dir)
  const second = await workload(enforce)
  expectWorked(t, second, 'block mode')
  t.equal(second.tools, 'fetch_txt', 'block mode offers only the tool the workload used')
  await new Promise((r) => setTimeout(r, 2500)) // signals leave in batches of ≤ 1 s
  const violations = audit('agg-enforce').filter((s) => s.provider === 'fetch' && (s.kind === 'violation' || s.action === 'blocked'))
  t.same(violations.map((s) => `${s.type} ${s.destination?.host ?? s.destination?.ip ?? ''}`), [], 'the same workload: zero violations')

  const restored = await shippedBaseline(aggB, (b) => b.egress.find((e) => e.host === 'web.learn.test')?.count === 2)
  t.ok(restored, 'after the restart the baseline counts both runs (one request to web.learn.test in each)')
  t.equal(restored?.started, onDisk.started, 'the baseline continued after the restart (same start)')
  t.ok(restored && restored.events > onDisk.events, `and kept counting (${onDisk.events} → ${restored?.events} events)`)

  const extra = await probeIn(enforce.netns, second.extra!)
  t.match(extra, 'STATUS 403', 'the extra destination is refused')
  let denied: Stored | undefined
  const until2 = Date.now() + 10_000
  while (!denied && Date.now() < until2) {
    denied = audit('agg-enforce').find((s) => s.type === 'egress_denied' && s.destination?.host === 'extra.learn.test')
    if (!denied) await new Promise((r) => setTimeout(r, 250))
  }
  t.match(denied, { type: 'egress_denied', action: 'blocked', provider: 'fetch' }, 'and signalled as egress_denied')
  enforce.proc.kill('SIGINT')
  t.equal(await enforce.exited, 0)
})
