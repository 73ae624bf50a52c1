/**
 * `compose inject` end to end on a real Docker engine with docker-compose v1 (docs/compose.md):
 * examples/compose (mcp-fetch-server from npm as the provider, in an image built locally, and a
 * test site of ours on the provider's original network) is injected by the bundled CLI and run.
 * - an MCP client through the sidecar fetches the allowed site (mcp-fetch-server uses Node 20's
 *   fetch, which ignores HTTP_PROXY: this is DNS steering);
 * - a denied name gets NXDOMAIN and a `dns_denied` signal;
 * - from inside the provider container: a direct connection to the site's IP fails, and so do the
 *   aggregator's port, the sidecar's admin port and the host's bridge address;
 * - the signals reach the aggregator's audit log;
 * - `docker inspect` shows the provider's hardening and its single internal network;
 * - `docker-compose down -v` leaves no container, network or volume of the project.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { docker, dockerExec, dockerSkip, labelled, removeStaleNetworks, tcpProbe } from '../helpers/docker.js'
import { connectClient, freePort, textOf } from '../helpers/mcp.js'
// @ts-expect-error plain ES module without types
import { ensureImages } from '../../compose/build-images.mjs'

const root = new URL('../../', import.meta.url).pathname
const BUNDLE = join(root, 'dist/mcp-hangar.mjs')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)
let composeMissing: string | undefined
try {
  execFileSync('docker-compose', ['version'], { stdio: 'ignore' })
} catch {
  composeMissing = 'docker-compose (v1, Debian package) is not installed'
  if (process.env.CI) t.fail(composeMissing)
}
const skip = dockerSkip() || missing || composeMissing || false
t.setTimeout(600_000)

interface HostConfig { CapDrop: string[]; ReadonlyRootfs: boolean; SecurityOpt: string[]; PidsLimit: number; Memory: number; NanoCpus?: number; Tmpfs?: Record<string, string>; Dns: string[] }
interface Stored { type: string; provider: string; action?: string; destination?: { host?: string; ip?: string; port?: number }; details?: Record<string, unknown> }

t.test('compose inject on the example, run by docker-compose', { skip }, async (t) => {
  ensureImages({ examples: true })
  const stale = await removeStaleNetworks(['11.254.30.0/28', '198.18.30.0/24'])
  if (stale.length) t.comment(`removed networks a crashed earlier run left: ${stale.join(', ')}`)
  const dir = mkdtempSync(join(tmpdir(), 'hangar-compose-'))
  cpSync(join(root, 'examples/compose'), dir, { recursive: true })
  const project = `hgtest${randomBytes(3).toString('hex')}`
  const fetchPort = await freePort()
  const aggPort = await freePort()
  const SIGNAL = randomBytes(12).toString('hex')
  const ADMIN = randomBytes(12).toString('hex')
  const env = { ...process.env, HANGAR_SIGNAL_TOKEN: SIGNAL, HANGAR_ADMIN_TOKEN: ADMIN, FETCH_PORT: String(fetchPort) }
  const out = join(dir, 'docker-compose.hangar.yml')
  const compose = (args: string[], timeout = 240_000) =>
    execFileSync('docker-compose', ['-p', project, '-f', out, ...args], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout })

  const summary = execFileSync(process.execPath, [BUNDLE, 'compose', 'inject', '-f', join(dir, 'docker-compose.yml'), '-o', out, '--aggregator-publish', `127.0.0.1:${aggPort}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  t.comment(summary)
  const injected = parse(readFileSync(out, 'utf8')) as { services: Record<string, Record<string, unknown>> }
  t.ok(injected.services['hangar-sidecar-fetch'], 'the sidecar service was added')

  t.teardown(async () => {
    try {
      compose(['down', '-v', '--remove-orphans', '-t', '5'])
    } catch (err) {
      t.comment(`docker-compose down: ${(err as Error).message}`)
    }
    rmSync(dir, { recursive: true, force: true })
  })
  try {
    compose(['up', '-d'])
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string }
    t.fail(`docker-compose up failed: ${e.stderr ?? ''}${e.stdout ?? ''}`)
    try {
      t.comment(compose(['logs', '--no-color', '--tail', '40']))
    } catch {
      // logs are only a help here
    }
    return
  }
  const cid = async (svc: string) => (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${svc}`])).trim()
  const provider = await cid('fetch')
  const sidecar = await cid('hangar-sidecar-fetch')
  const aggregator = await cid('hangar-aggregator')
  const site = await cid('site')
  t.ok(provider && sidecar && aggregator && site, 'all four containers run')

  // The MCP endpoint answers once the bridge in the provider has started.
  const url = new URL(`http://127.0.0.1:${fetchPort}/mcp`)
  let client: Awaited<ReturnType<typeof connectClient>> | undefined
  const until = Date.now() + 90_000
  let lastErr = ''
  while (!client && Date.now() < until) {
    try {
      client = await connectClient(url)
    } catch (err) {
      lastErr = (err as Error).message
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
  if (!client) {
    t.fail(`no MCP session through the sidecar: ${lastErr}`)
    t.comment(compose(['logs', '--no-color', '--tail', '60']))
    return
  }
  t.teardown(() => client?.close())

  await t.test('tools/list through the sidecar is filtered by the profile', async (t) => {
    const names = (await client!.listTools()).tools.map((x) => x.name)
    t.ok(names.includes('fetch_txt'), 'fetch_txt offered')
    t.notOk(names.includes('fetch_youtube_transcript'), 'the denied tool is hidden')
  })

  await t.test('the allowed site is fetched (Node 20 fetch: DNS steering)', async (t) => {
    const r = await client!.callTool({ name: 'fetch_txt', arguments: { url: 'http://site.hangar.test/' } })
    t.notOk(r.isError, 'no tool error')
    t.match(textOf(r), /Hello from site\.hangar\.test/, 'the page came back')
  })

  await t.test('a denied name is refused', async (t) => {
    const r = await client!.callTool({ name: 'fetch_txt', arguments: { url: 'http://denied.hangar.test/' } })
    t.ok(r.isError, 'the tool reports an error')
    t.notMatch(textOf(r), /Hello from/, 'nothing of the site came back')
    const lookup = await dockerExec(provider, ['node', '-e', "require('dns').lookup('denied.hangar.test',(e,a)=>console.log(e?e.code:'RESOLVED '+a))"])
    t.match(lookup.stdout, 'ENOTFOUND', 'NXDOMAIN inside the provider')
    const allowed = await dockerExec(provider, ['node', '-e', "require('dns').lookup('site.hangar.test',(e,a)=>console.log(e?e.code:'RESOLVED '+a))"])
    t.match(allowed.stdout, 'RESOLVED 11.254.30.2', 'an allowed name resolves to the sidecar (steering)')
  })

  await t.test('plain fetch inside the provider reaches the allowed site through steering', async (t) => {
    const r = await dockerExec(provider, ['node', '-e', "fetch('http://site.hangar.test/').then(r=>r.text()).then(t=>console.log(t),e=>console.log('ERR '+(e.cause?.code||e.message)))"])
    t.match(r.stdout, /Hello from site\.hangar\.test/)
  })

  await t.test('direct connections from the provider fail', async (t) => {
    const aggIp = (await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', aggregator])).trim().split(/\s+/)[0]!
    const checks: Array<[string, string, number]> = [
      ["the site's IP", '198.18.30.10', 80],
      ["the aggregator's port", aggIp, 8000],
      ["the sidecar's admin port", '11.254.30.2', 9901],
      ['the host bridge address, aggregator port', '11.254.30.1', aggPort],
    ]
    for (const [what, host, port] of checks) {
      const r = await dockerExec(provider, tcpProbe(host, port))
      t.match(r.stdout.trim(), /^(error (ENETUNREACH|EHOSTUNREACH|ECONNREFUSED)|timeout)$/, `${what} (${host}:${port}) is unreachable: ${r.stdout.trim()}`)
    }
  })

  await t.test('docker inspect shows the hardening and the one internal network', async (t) => {
    const info = JSON.parse(await docker(['inspect', provider]))[0] as { Config: { User: string; Env: string[] }; HostConfig: HostConfig; NetworkSettings: { Networks: Record<string, unknown> } }
    const hc = info.HostConfig
    t.same(hc.CapDrop, ['ALL'], 'cap_drop ALL')
    t.equal(hc.ReadonlyRootfs, true, 'read-only root')
    t.ok(hc.SecurityOpt.includes('no-new-privileges:true'), 'no-new-privileges')
    t.ok(hc.SecurityOpt.some((o: string) => o.startsWith('seccomp=') && o.includes('SCMP_ACT_ERRNO')), 'the seccomp allowlist')
    t.equal(hc.PidsLimit, 256, 'pids_limit')
    t.equal(hc.Memory, 512 * 1024 * 1024, 'mem_limit')
    t.ok(hc.Tmpfs && '/tmp' in hc.Tmpfs, 'tmpfs /tmp')
    t.equal(info.Config.User, '65534:65534', 'not root')
    t.same(hc.Dns, ['11.254.30.2'], 'dns: the sidecar')
    t.same(Object.keys(info.NetworkSettings.Networks), [`${project}_hangar_fetch_internal`], 'on the internal network only')
    t.ok(info.Config.Env.includes('HTTP_PROXY=http://11.254.30.2:3128'), 'HTTP_PROXY: the sidecar')
    const net = JSON.parse(await docker(['network', 'inspect', `${project}_hangar_fetch_internal`]))[0] as { Internal: boolean }
    t.equal(net.Internal, true, 'the network is internal')
  })

  await t.test('the signals are in the aggregator audit log', async (t) => {
    const read = async (): Promise<Stored[]> => {
      const r = await dockerExec(aggregator, ['node', '-e', "const f='/var/lib/mcp-hangar/audit/audit.jsonl';process.stdout.write(require('fs').existsSync(f)?require('fs').readFileSync(f,'utf8'):'')"])
      return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored)
    }
    let stored: Stored[] = []
    const end = Date.now() + 30_000
    const complete = (s: Stored[]) => s.some((x) => x.type === 'dns_denied' && x.destination?.host === 'denied.hangar.test') && s.some((x) => x.type === 'egress_allowed' && x.destination?.host === 'site.hangar.test')
    while (Date.now() < end && !complete((stored = await read()))) await new Promise((r) => setTimeout(r, 500))
    t.ok(stored.some((x) => x.type === 'dns_denied' && x.destination?.host === 'denied.hangar.test' && x.provider === 'fetch'), 'dns_denied for denied.hangar.test')
    t.ok(stored.some((x) => x.type === 'egress_allowed' && x.destination?.host === 'site.hangar.test'), 'egress_allowed for site.hangar.test')
    const res = await fetch(`http://127.0.0.1:${aggPort}/v1/providers`, { headers: { authorization: `Bearer ${ADMIN}` } })
    const body = (await res.json()) as { providers: Array<{ name: string; state: string }> }
    t.ok(body.providers.some((p) => p.name === 'fetch'), 'the aggregator knows the provider (heartbeats)')
  })

  await client.close()
  client = undefined
  compose(['down', '-v', '--remove-orphans', '-t', '5'])
  const left = await labelled(`com.docker.compose.project=${project}`)
  t.same(left, { containers: [], networks: [], volumes: [] }, 'teardown leaves no container, network or volume of the project')
})
