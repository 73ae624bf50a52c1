/**
 * An injected Kubernetes pod, for real (root), without a cluster: a network namespace is the pod's
 * network namespace. The test injects a Deployment with the built CLI (`k8s inject`), then runs
 * what the pod spec says, as the kubelet would:
 * - the init container's command (`k8s init` with its flags) as root in the pod namespace;
 * - the sidecar's command as uid/gid 65532, with its env (the signal token) and the generated
 *   ConfigMap's hangar.yaml (volume mounts become directories of the test);
 * - the provider, the real mcp-fetch-server (npm) behind supergateway (a stdio → Streamable HTTP
 *   bridge, as in the Compose example), as uid/gid 65534 (the hardening injection gave it).
 * A "world" namespace, joined to the pod by a veth and routed nowhere else, holds the cluster DNS,
 * a web site answering for the names the test gives it (its addresses are the test's own), tcp and
 * udp echoes, the aggregator and the MCP client (outside the pod, like another pod).
 *
 * Then: the client reaches the server at its own port and is captured by the sidecar's ingress
 * (denied tools refused; control: over loopback inside the pod the server lists them); a fetch of
 * an allowed name works through the transparent listener; a denied name is NXDOMAIN and
 * `dns_denied`; from the provider's uid, direct tcp, udp and IPv6 connections fail and are
 * `egress_bypass_attempt` (control: the sidecar's uid reaches the same echo); the admin port is
 * closed to the provider; every signal carries `isolation: "k8s"`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, randomInt } from 'node:crypto'
import t from 'tap'
import { parseAllDocuments, parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { netnsSkip } from '../helpers/netns.js'
import { BUNDLE, sh } from '../helpers/up.js'
import { until } from '../helpers/isolation.js'

const root = new URL('../../', import.meta.url).pathname
const WORLD = join(root, 'test/fixtures/k8s/world.mjs')
const CLIENT = join(root, 'test/fixtures/k8s/mcp-client.mjs')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)
const skip = netnsSkip() || missing || false

t.setTimeout(240_000)

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed manifests, read by the paths the injection writes
type Obj = Record<string, any>
interface Stored { type: string; kind: string; provider: string; isolation?: string; rule?: string; destination?: { host?: string; ip?: string; port?: number; protocol?: string }; details?: Obj; tool?: string }

t.test('an injected pod: capture, fetch, denials, bypass attempts, the admin port, isolation k8s', { skip }, async (t) => {
  const x = randomInt(2, 250)
  const tag = randomBytes(3).toString('hex')
  const pod = `hgt-kpod-${tag}`
  const world = `hgt-kw-${tag}`
  const [w4, p4, w6, p6] = [`11.254.${x}.1`, `11.254.${x}.2`, `fd52:${x}::1`, `fd52:${x}::2`]
  const dir = mkdtempSync(join(tmpdir(), 'hangar-k8s-pod-'))
  chmodSync(dir, 0o755)
  const procs: ChildProcess[] = []
  t.teardown(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)))
    for (const ns of [pod, world]) spawnSync('ip', ['netns', 'del', ns])
    rmSync(`/etc/netns/${pod}`, { recursive: true, force: true })
    rmSync(dir, { recursive: true, force: true })
  })

  // ---- the network: pod ↔ world, nothing else
  sh('ip', ['netns', 'add', pod])
  sh('ip', ['netns', 'add', world])
  sh('ip', ['-n', world, 'link', 'add', 'eth-pod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod])
  for (const [ns, dev, a4, a6] of [[world, 'eth-pod', w4, w6], [pod, 'eth0', p4, p6]] as const) {
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    sh('ip', ['-n', ns, 'addr', 'add', `${a4}/24`, 'dev', dev])
    sh('ip', ['-n', ns, 'addr', 'add', `${a6}/64`, 'dev', dev, 'nodad'])
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up'])
  }
  sh('ip', ['-n', pod, 'route', 'add', 'default', 'via', w4])
  sh('ip', ['-n', pod, '-6', 'route', 'add', 'default', 'via', w6, 'dev', 'eth0'])
  // The pod's resolv.conf names the cluster DNS (the world's), as the kubelet writes it.
  mkdirSync(`/etc/netns/${pod}`, { recursive: true })
  writeFileSync(`/etc/netns/${pod}/resolv.conf`, `nameserver ${w4}\noptions ndots:1 attempts:1 timeout:2\n`)

  const run = (ns: string, argv: string[], opts: { uid?: number; env?: Record<string, string>; cwd?: string } = {}): ChildProcess & { out: string } => {
    const pre = opts.uid === undefined ? [] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', '--']
    const child = spawn('ip', ['netns', 'exec', ns, ...pre, 'env', '-i', `PATH=${process.env.PATH ?? ''}`, 'HOME=/tmp', ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`), ...argv], { cwd: opts.cwd ?? dir, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { out: string }
    child.out = ''
    child.stdout!.on('data', (d: Buffer) => (child.out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (child.out += d.toString()))
    procs.push(child)
    return child
  }
  const exec = async (ns: string, argv: string[], opts: { uid?: number; env?: Record<string, string> } = {}): Promise<{ code: number | null; out: string }> => {
    const c = run(ns, argv, opts)
    const code = await new Promise<number | null>((r) => c.once('exit', r))
    return { code, out: c.out }
  }

  // ---- the world: DNS, the site, the echoes, the aggregator
  const names = ['example.com', 'denied.hangar.test']
  const worldProc = run(world, [process.execPath, WORLD, JSON.stringify({ ip4: w4, ip6: w6, names })])
  t.ok(await until(() => worldProc.out.includes('"ready"'), 15_000), `the world is up: ${worldProc.out}`)
  const token = randomBytes(16).toString('hex')
  const admin = randomBytes(16).toString('hex')
  writeFileSync(join(dir, 'aggregator.yaml'), stringifyYaml({ aggregator: { listen: `${w4}:8000`, data_dir: join(dir, 'agg'), signal_tokens: [token], admin_tokens: [admin] }, providers: {} }))
  const agg = run(world, [process.execPath, BUNDLE, 'aggregator', '-c', join(dir, 'aggregator.yaml')], { env: { MCP_LOG_LEVEL: 'warn' } })
  t.ok(await until(async () => (await exec(world, [process.execPath, '-e', `fetch('http://${w4}:8000/health').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`])).code === 0, 20_000), `the aggregator is up: ${agg.out}`)

  // ---- inject a Deployment with the built CLI
  const manifest = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'fetch', namespace: 'mcp' },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'fetch' } },
      template: {
        metadata: { labels: { app: 'fetch' }, annotations: { 'mcp.hangar.io/inject': 'true', 'mcp.hangar.io/profile': 'fetch', 'mcp.hangar.io/aggregator': `http://${w4}:8000` } },
        spec: {
          containers: [{
            name: 'server', image: 'hangar-example/fetch:local',
            command: ['node', '/app/node_modules/supergateway/dist/index.js', '--stdio', 'node /app/node_modules/mcp-fetch-server/dist/index.js', '--outputTransport', 'streamableHttp', '--stateful', '--port', '3000', '--streamableHttpPath', '/mcp'],
            ports: [{ containerPort: 3000 }],
          }],
        },
      },
    },
  }
  writeFileSync(join(dir, 'deploy.yaml'), stringifyYaml(manifest))
  const injected = await exec(world, [process.execPath, BUNDLE, 'k8s', 'inject', '-f', join(dir, 'deploy.yaml'), '-o', join(dir, 'injected.yaml')])
  t.equal(injected.code, 0, injected.out)
  const docs = parseAllDocuments(readFileSync(join(dir, 'injected.yaml'), 'utf8')).map((d) => d.toJS() as Obj)
  const cm = docs.find((d) => d.kind === 'ConfigMap')!
  const dep = docs.find((d) => d.kind === 'Deployment')!
  const spec = dep.spec.template.spec
  const init = spec.initContainers.find((c: Obj) => c.name === 'mcp-hangar-init')
  const sidecar = spec.initContainers.find((c: Obj) => c.name === 'mcp-hangar-sidecar')
  const server = spec.containers.find((c: Obj) => c.name === 'server')
  t.equal(sidecar.securityContext.runAsUser, 65532)
  t.equal(server.securityContext.runAsUser, 65534, 'the provider got a non-root uid from the hardening')
  t.equal(init.securityContext.runAsUser, 0)

  // Volume mounts become directories: the ConfigMap's hangar.yaml, the data emptyDir.
  const configDir = join(dir, 'etc-mcp-hangar')
  const dataDir = join(dir, 'var-lib-mcp-hangar')
  mkdirSync(configDir)
  mkdirSync(dataDir)
  sh('chown', ['65532:65532', dataDir])
  const mount = (p: string) => p.replace(/^\/etc\/mcp-hangar/, configDir)
  const sidecarConfig = parseYaml(cm.data['hangar.yaml']) as Obj
  const dataMount = sidecar.volumeMounts.find((m: Obj) => m.name === 'mcp-hangar-data').mountPath as string
  for (const p of Object.values(sidecarConfig.providers as Obj)) p.sidecar.data_dir = String(p.sidecar.data_dir).replace(dataMount, dataDir)
  writeFileSync(join(configDir, 'hangar.yaml'), stringifyYaml(sidecarConfig))
  chmodSync(join(configDir, 'hangar.yaml'), 0o644)

  // ---- the init container, then the sidecar, then the provider (the kubelet's order)
  const initRun = await exec(pod, ['node', BUNDLE, ...init.args])
  t.equal(initRun.code, 0, `k8s init loaded the rules: ${initRun.out}`)
  const sidecarProc = run(pod, ['node', BUNDLE, ...sidecar.args.map(mount)], { uid: 65532, env: { HANGAR_SIGNAL_TOKEN: token, MCP_LOG_LEVEL: 'info' } })
  const health = sidecar.readinessProbe.exec.command as string[]
  t.ok(await until(async () => (await exec(pod, health, { uid: 65532 })).code === 0, 30_000), `the sidecar's readiness probe passes: ${sidecarProc.out}`)
  const appDir = join(root)
  const provider = run(pod, server.command.map((a: string) => a.replaceAll('/app/', `${appDir}`)), { uid: 65534 })
  t.ok(await until(async () => (await exec(pod, [process.execPath, '-e', "fetch('http://127.0.0.1:3000/mcp',{method:'POST'}).then(()=>process.exit(0),()=>process.exit(1))"], { uid: 65532 })).code === 0, 30_000), `the provider listens on 3000: ${provider.out}`)

  const client = async (url: string, actions: unknown[], ns = world, uid?: number) => {
    const r = await exec(ns, [process.execPath, CLIENT, url, JSON.stringify(actions)], uid === undefined ? {} : { uid })
    try {
      return JSON.parse(r.out.trim().split('\n').at(-1)!) as Obj[]
    } catch {
      throw new Error(`client output: ${r.out}`)
    }
  }

  // ---- inbound capture: the server's own port, from outside the pod, is the sidecar's ingress
  const outside = await client(`http://${p4}:3000/mcp`, [
    { list: true },
    { call: 'fetch_html', args: { url: 'http://example.com/' } },
    { call: 'fetch_html', args: { url: 'http://denied.hangar.test/' } },
    { call: 'fetch_youtube_transcript', args: { url: 'https://www.youtube.com/watch?v=x' } },
  ])
  t.ok(outside[0]!.tools, `tools/list through the captured port: ${JSON.stringify(outside[0])}`)
  t.notOk((outside[0]!.tools as string[]).includes('fetch_youtube_transcript'), 'the denied tool is not listed through the sidecar')
  t.match(outside[1], { text: /hello from example\.com/, isError: false }, 'an allowed site is fetched (DNS through the sidecar, tcp 80 through the transparent listener)')
  t.match(JSON.stringify(outside[2]), /ENOTFOUND|not found|NXDOMAIN|getaddrinfo|failed/i, `a denied name does not resolve: ${JSON.stringify(outside[2])}`)
  t.match(JSON.stringify(outside[3]), /denied|not allowed|refused|unknown tool/i, `the denied tool is refused: ${JSON.stringify(outside[3])}`)
  t.match(worldProc.out, /"http":"example.com"/, 'the site saw the request')
  // Control: over loopback inside the pod the server answers directly and lists every tool.
  const inside = await client('http://127.0.0.1:3000/mcp', [{ list: true }], pod, 65532)
  t.ok((inside[0]!.tools as string[]).includes('fetch_youtube_transcript'), 'control: the server itself offers the tool the sidecar hides')

  // ---- direct attempts from the provider's uid
  const probe = async (uid: number, script: string) => (await exec(pod, [process.execPath, '-e', script], { uid })).out.trim()
  const tcpTry = (host: string, port: number) => `const s=require('net').connect({host:'${host}',port:${port}});let d='';s.on('data',(b)=>d+=b);s.on('close',()=>console.log(JSON.stringify({data:d})));s.on('error',(e)=>{console.log(JSON.stringify({error:e.code,data:d}));process.exit(0)});setTimeout(()=>{console.log(JSON.stringify({error:'timeout',data:d}));process.exit(0)},4000)`
  const udpTry = (host: string, port: number) => `const s=require('dgram').createSocket('${host.includes(':') ? 'udp6' : 'udp4'}');s.on('message',(m)=>{console.log(JSON.stringify({data:m.toString()}));process.exit(0)});s.send('q',${port},'${host}');setTimeout(()=>{console.log(JSON.stringify({error:'timeout'}));process.exit(0)},2000)`
  t.notMatch(await probe(65534, tcpTry(w4, 7000)), /"data":"echo"/, 'the provider cannot reach the echo over tcp/IPv4')
  t.notMatch(await probe(65534, udpTry(w4, 7001)), /"data":"echo"/, 'nor over udp')
  t.notMatch(await probe(65534, tcpTry(w6, 7000)), /"data":"echo"/, 'nor over tcp/IPv6')
  t.match(await probe(65534, tcpTry('127.0.0.1', 15901)), /ECONNREFUSED|ECONNRESET/, "the provider cannot reach the sidecar's admin port")
  t.match(await probe(65534, `require('dns').resolve4('denied.hangar.test',(e)=>console.log(e?e.code:'resolved'))`), /ENOTFOUND/, 'a denied name is NXDOMAIN for the provider too')
  // Controls: the sidecar's uid reaches the same echo and its own admin port.
  t.match(await probe(65532, tcpTry(w4, 7000)), /"data":"echo"/, "control: the sidecar's uid reaches the echo over tcp")
  t.match(await probe(65532, udpTry(w4, 7001)), /"data":"echo"/, "control: and over udp")
  t.match(await probe(65532, tcpTry(w6, 7000)), /"data":"echo"/, 'control: and over IPv6')

  // ---- what the aggregator recorded
  const audit = () => {
    const f = join(dir, 'agg/audit/audit.jsonl')
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored) : []
  }
  const bypass = (proto: string, family: string) => (s: Stored) => s.type === 'egress_bypass_attempt' && s.destination?.protocol === proto && s.details?.family === family
  const has = (f: (s: Stored) => boolean) => audit().some(f)
  t.ok(await until(() => has(bypass('tcp', 'ipv4')) && has(bypass('udp', 'ipv4')) && has(bypass('tcp', 'ipv6')) && has((s) => s.type === 'dns_denied'), 20_000), `bypass attempts and dns_denied reached the aggregator: ${audit().map((s) => s.type).join(', ')}`)
  const all = audit().filter((s) => s.provider === 'fetch')
  t.ok(all.some((s) => s.type === 'dns_denied' && /denied\.hangar\.test/.test(JSON.stringify(s))), 'dns_denied names the denied name')
  t.ok(all.some((s) => s.kind === 'violation' && /tool/.test(s.type)), `the tool denial is a violation: ${[...new Set(all.map((s) => s.type))].join(', ')}`)
  t.ok(all.length > 0 && all.every((s) => s.isolation === 'k8s'), `every signal carries isolation k8s: ${[...new Set(all.map((s) => s.isolation))].join(', ')}`)

  // ---- the sidecar dies and the provider takes its ingress port: captured clients get nothing from it
  sidecarProc.kill('SIGKILL')
  await new Promise((r) => sidecarProc.once('exit', r))
  const hijack = (port: number) => `require('net').createServer((s)=>{s.on('error',()=>{});s.end('hijacked')}).listen(${port},'0.0.0.0',()=>console.log('listening'))`
  const thief = run(pod, [process.execPath, '-e', hijack(15006)], { uid: 65534 })
  const control = run(pod, [process.execPath, '-e', hijack(7777)], { uid: 65534 })
  t.ok(await until(() => thief.out.includes('listening') && control.out.includes('listening'), 10_000), `the provider's listeners are up: ${thief.out} ${control.out}`)
  const fromWorld = async (port: number) => (await exec(world, [process.execPath, '-e', tcpTry(p4, port)])).out
  t.notMatch(await fromWorld(3000), /hijacked/, "a provider holding the ingress port cannot answer the clients captured from the MCP port")
  t.match(await fromWorld(7777), /hijacked/, 'control: the same listener on a port of its own answers an outside client')

  if (!t.passing()) t.comment(`sidecar output:\n${sidecarProc.out.slice(-6000)}\nprovider output:\n${provider.out.slice(-2000)}`)
})
