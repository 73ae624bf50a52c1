/**
 * `mcp-hangar up` with a `mode: container` provider on a real Docker engine (docs/compose.md):
 * mcp-fetch-server (npm, in an image built locally, stdio) behind a sidecar container, both made by
 * `up` through the Docker API.
 * - lazy start: no provider container until the first call; idle stop: it is gone after idle_ttl_s;
 *   the next call starts a new one;
 * - the allowed site is fetched (Node 20 fetch: DNS steering); a denied name gets NXDOMAIN and
 *   `dns_denied`; direct connections from the provider container fail (the site's IP, the
 *   aggregator relay, the host);
 * - signals reach the audit log marked `isolation: container`; `docker inspect` shows the hardening;
 * - SIGINT leaves no container, network or socket; after a crash (SIGKILL) the next `up` removes
 *   what was left and starts clean.
 * The site and the test DNS live on a veth link of the host (198.18.78.0/24), reached by the
 * sidecar container through its egress network.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { TestDnsServer } from '../helpers/dns-server.js'
import { docker, dockerExec, dockerSkip, labelled, removeStaleNetworks, tcpProbe } from '../helpers/docker.js'
import { connectClient, freePort, textOf } from '../helpers/mcp.js'
import { netnsSkip } from '../helpers/netns.js'
// @ts-expect-error plain ES module without types
import { EXAMPLE_FETCH_IMAGE, ensureImages } from '../../compose/build-images.mjs'

const root = new URL('../../', import.meta.url).pathname
const BUNDLE = join(root, 'dist/mcp-hangar.mjs')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)
const skip = dockerSkip() || netnsSkip() || missing || false
t.setTimeout(600_000)

const LINK = 'hgupc0'
const HOST = '198.18.78.1'
const SITE = '198.18.78.10'
const STEER = '11.254.31.2'
const ADMIN = 'admin-token-up-container'

interface HostConfig { CapDrop: string[]; ReadonlyRootfs: boolean; SecurityOpt: string[]; PidsLimit: number; Memory: number; NanoCpus?: number; Tmpfs?: Record<string, string>; Dns: string[] }
interface Stored { type: string; provider: string; isolation?: string; destination?: { host?: string; ip?: string; port?: number } }
interface Up { proc: ChildProcess; out: string; exited: Promise<number | null> }

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

async function startUp(t: Test, cfg: string, cwd: string): Promise<Up> {
  const proc = spawn(process.execPath, [BUNDLE, 'up', '-c', cfg], { cwd, env: { ...process.env, MCP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const up: Up = { proc, out: '', exited: new Promise((r) => proc.once('exit', (code) => r(code))) }
  proc.stdout!.on('data', (d: Buffer) => (up.out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (up.out += d.toString()))
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL')
  })
  const until = Date.now() + 180_000
  while (!/ready — Ctrl-C/.test(up.out)) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error(`up did not become ready:\n${up.out}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  return up
}

t.test('mcp-hangar up with a container provider', { skip }, async (t) => {
  ensureImages({ examples: true })
  const stale = await removeStaleNetworks(['11.254.31.0/28'])
  if (stale.length) t.comment(`removed networks a crashed earlier run left: ${stale.join(', ')}`)
  const dir = mkdtempSync(join(tmpdir(), 'hangar-upc-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  try { sh('ip', ['link', 'del', LINK]) } catch { /* none */ }
  sh('ip', ['link', 'add', LINK, 'type', 'veth', 'peer', 'name', `${LINK}p`])
  t.teardown(() => { try { sh('ip', ['link', 'del', LINK]) } catch { /* gone */ } })
  for (const a of [HOST, SITE]) sh('ip', ['addr', 'add', `${a}/32`, 'dev', LINK])
  sh('ip', ['link', 'set', LINK, 'up'])
  sh('ip', ['link', 'set', `${LINK}p`, 'up'])
  const site = createServer((req, res) => res.end(`Hello from ${req.headers.host} (${SITE})`))
  await new Promise<void>((r) => site.listen(80, SITE, r))
  t.teardown(() => new Promise<void>((r) => site.close(() => r())))
  const dns = new TestDnsServer({ host: HOST, records: { 'site.upc.test': [{ type: 'A', data: SITE }], 'denied.upc.test': [{ type: 'A', data: SITE }] } })
  await dns.listen()
  t.teardown(() => dns.close())

  const aggPort = await freePort()
  const mcpPort = await freePort()
  mkdirSync(join(dir, 'files'))
  writeFileSync(join(dir, 'files', 'note.txt'), 'mounted from the host\n')
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:
  listen: 127.0.0.1:${aggPort}
  data_dir: ${dir}/agg
  signal_tokens: [signal-token-upc]
  admin_tokens: [${ADMIN}]
providers:
  fetch:
    mode: container
    image: ${EXAMPLE_FETCH_IMAGE}
    command: [node, /app/node_modules/mcp-fetch-server/dist/index.js]
    listen: 127.0.0.1:${mcpPort}
    idle_ttl_s: 15
    health_check_interval_s: 1
    resources: { memory: 256m, cpu: 1 }
    volumes: ["./files:/data:ro"]
    sidecar:
      # mcp-fetch-server refuses names that resolve to private addresses (its SSRF guard)
      address: ${STEER}
      upstream_dns: [${dns.address}]
      data_dir: ${dir}/fetch
      observation_window_ms: 0
    capabilities:
      enforcement_mode: block
      network:
        egress:
          - { host: site.upc.test, port: 80, protocol: http }
          - { cidr: 198.18.78.10/32, port: 80, protocol: http }
      tools:
        allow_list: [fetch_txt, fetch_html]
`)
  const up = await startUp(t, cfg, dir)
  const key = /hangar-([0-9a-f]{8})-internal/.exec(up.out)?.[1] ?? ''
  t.match(key, /^[0-9a-f]{8}$/, `up printed the internal network:\n${up.out.split('\n').filter((l) => /fetch|ready/.test(l) && !l.startsWith('[')).join('\n')}`)
  const providerContainers = async () => (await docker(['ps', '-q', '--filter', `label=mcp.hangar.up=${key}`, '--filter', 'label=mcp.hangar.role=provider'])).split('\n').filter(Boolean)
  t.same(await providerContainers(), [], 'lazy start: no provider container before the first call')

  const client = await connectClient(new URL(`http://127.0.0.1:${mcpPort}/mcp`))
  t.teardown(() => client.close())
  const names = (await client.listTools()).tools.map((x) => x.name).sort()
  t.same(names, ['fetch_html', 'fetch_txt'], 'tools/list through the sidecar, filtered')
  const [provider] = await providerContainers()
  t.ok(provider, 'the first call started a provider container')

  await t.test('the allowed site is fetched; a denied name is refused', async (t) => {
    const ok = await client.callTool({ name: 'fetch_txt', arguments: { url: 'http://site.upc.test/' } })
    t.match(textOf(ok), 'Hello from site.upc.test', 'fetched through DNS steering')
    const denied = await client.callTool({ name: 'fetch_txt', arguments: { url: 'http://denied.upc.test/' } })
    t.ok(denied.isError, 'the denied name fails')
    t.equal(dns.queriesFor('denied.upc.test').length, 0, 'the denied name never reached the upstream resolver')
    const lookup = await dockerExec(provider!, ['node', '-e', "require('dns').lookup('denied.upc.test',(e,a)=>console.log(e?e.code:'RESOLVED '+a))"])
    t.match(lookup.stdout, 'ENOTFOUND', 'NXDOMAIN inside the provider container')
  })

  await t.test('direct connections from the provider container fail', async (t) => {
    const gw = JSON.parse(await docker(['network', 'inspect', `hangar-${key}-egress`]))[0].IPAM.Config[0].Gateway as string
    for (const [what, host, port] of [["the site's IP", SITE, 80], ['the aggregator relay', gw, aggPort], ['the host link', HOST, 53], ['the internal gateway address', '11.254.31.1', aggPort]] as const) {
      const r = await dockerExec(provider!, tcpProbe(host, port, 1500))
      t.match(r.stdout.trim(), /^(error (ENETUNREACH|EHOSTUNREACH|ECONNREFUSED)|timeout)$/, `${what} (${host}:${port}): ${r.stdout.trim()}`)
    }
  })

  await t.test('docker inspect: hardening and the one internal network', async (t) => {
    const info = JSON.parse(await docker(['inspect', provider!]))[0] as { Config: { User: string }; HostConfig: HostConfig; NetworkSettings: { Networks: Record<string, unknown> } }
    const hc = info.HostConfig
    t.same(hc.CapDrop, ['ALL'])
    t.equal(hc.ReadonlyRootfs, true)
    t.ok(hc.SecurityOpt.includes('no-new-privileges:true'))
    t.ok(hc.SecurityOpt.some((o: string) => o.startsWith('seccomp=') && o.includes('SCMP_ACT_ERRNO')), 'seccomp allowlist')
    t.equal(hc.Memory, 256 * 1024 * 1024, 'resources.memory')
    t.equal(hc.NanoCpus, 1e9, 'resources.cpu')
    t.equal(info.Config.User, '65534:65534')
    t.same(hc.Dns, [STEER])
    t.same(Object.keys(info.NetworkSettings.Networks), [`hangar-${key}-internal`])
    const net = JSON.parse(await docker(['network', 'inspect', `hangar-${key}-internal`]))[0] as { Internal: boolean; Options: Record<string, string> }
    t.equal(net.Internal, true)
    t.equal(net.Options['com.docker.network.bridge.inhibit_ipv4'], 'true', 'no host address on the bridge')
  })

  await t.test('volumes: the host directory is mounted read-only', async (t) => {
    const read = await dockerExec(provider!, ['node', '-e', "process.stdout.write(require('fs').readFileSync('/data/note.txt','utf8'))"])
    t.equal(read.stdout, 'mounted from the host\n', 'the file is there')
    const write = await dockerExec(provider!, ['node', '-e', "try{require('fs').writeFileSync('/data/x','y');console.log('wrote')}catch(e){console.log(e.code)}"])
    t.equal(write.stdout.trim(), 'EROFS', 'and cannot be written')
    const root = await dockerExec(provider!, ['node', '-e', "try{require('fs').writeFileSync('/etc/x','y');console.log('wrote')}catch(e){console.log(e.code)}"])
    t.equal(root.stdout.trim(), 'EROFS', 'the root file system is read-only too')
  })

  await t.test('idle stop, then a new container on the next call', async (t) => {
    const until = Date.now() + 60_000
    while (Date.now() < until && (await providerContainers()).length) await new Promise((r) => setTimeout(r, 500))
    t.same(await providerContainers(), [], 'idle: the provider container was stopped and removed')
    const again = await client.callTool({ name: 'fetch_txt', arguments: { url: 'http://site.upc.test/again' } })
    t.match(textOf(again), 'Hello from site.upc.test')
    const next = await providerContainers()
    t.equal(next.length, 1, 'a new provider container')
    t.not(next[0], provider, 'not the old one')
  })

  const audit = join(dir, 'agg/audit/audit.jsonl')
  const read = (): Stored[] => (existsSync(audit) ? readFileSync(audit, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored) : [])
  const until = Date.now() + 20_000
  while (Date.now() < until && !read().some((s) => s.type === 'dns_denied')) await new Promise((r) => setTimeout(r, 250))
  const stored = read().filter((s) => s.provider === 'fetch')
  t.ok(stored.some((s) => s.type === 'dns_denied' && s.destination?.host === 'denied.upc.test'), 'dns_denied in the audit log')
  t.ok(stored.some((s) => s.type === 'egress_allowed' && s.destination?.host === 'site.upc.test'), 'egress_allowed in the audit log')
  t.ok(stored.length > 0 && stored.every((s) => s.isolation === 'container'), `every signal is marked isolation: container (${stored.length})`)

  await client.close()
  up.proc.kill('SIGINT')
  t.equal(await up.exited, 0, 'up exits 0 on SIGINT')
  t.same(await labelled(`mcp.hangar.up=${key}`), { containers: [], networks: [], volumes: [] }, 'no container or network left')
  t.notOk(existsSync(join(dir, 'agg/run')), 'the run dir (broker socket, effective config) is gone')

  await t.test('after a crash, the next up removes the leftovers and starts clean', async (t) => {
    const first = await startUp(t, cfg, dir)
    const c = await connectClient(new URL(`http://127.0.0.1:${mcpPort}/mcp`))
    await c.listTools()
    await c.close()
    first.proc.kill('SIGKILL')
    await first.exited
    const left = await labelled(`mcp.hangar.up=${key}`)
    t.ok(left.containers.length + left.networks.length > 0, `a crash leaves objects behind (${left.containers.length} containers, ${left.networks.length} networks)`)
    const second = await startUp(t, cfg, dir)
    t.match(second.out, /cleaned up after an earlier run: containers of 1 container provider/, 'the next up removes what the crash left, from its run state')
    const c2 = await connectClient(new URL(`http://127.0.0.1:${mcpPort}/mcp`))
    t.ok((await c2.listTools()).tools.length > 0, 'works again')
    await c2.close()
    second.proc.kill('SIGTERM')
    t.equal(await second.exited, 0)
    t.same(await labelled(`mcp.hangar.up=${key}`), { containers: [], networks: [], volumes: [] }, 'and stops clean')
  })
})
