/**
 * Starts what is measured: the C upstream, Squid, the forwarding dnsmasq and our sidecar,
 * each from a rendered config in the run's temp folder, each waited for until it serves.
 * The servers under test may be pinned to their own CPU (`cpu`), the load on another.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { writeConfig } from './configs.js'
import { queryA } from './dns-client.js'
import { findExecutable, run, startServer, tcpAccepts, waitUntil, type Server } from './procs.js'

export interface StartContext {
  /** The run's temp folder. */
  dir: string
  /** CPU list for the server under test ("1"), or undefined for no pinning. */
  cpu: string | undefined
}

export const BENCH_HOST = 'bench.test'

function pinned(ctx: StartContext, cmd: string, args: string[]): [string, string[]] {
  return ctx.cpu === undefined ? [cmd, args] : ['taskset', ['-c', ctx.cpu, cmd, ...args]]
}

export function requireTool(name: string, install: string): string {
  const p = findExecutable(name)
  if (!p) throw new Error(`${name} is not installed (needed for the side-by-side benchmark): apt-get install ${install}`)
  return p
}

export async function startUpstream(ctx: StartContext, bin: string, port: number, bulkBytes: number): Promise<Server> {
  const s = startServer('upstream', bin, [String(port), String(bulkBytes)], { logDir: ctx.dir })
  await waitUntil(`the upstream on :${port}`, () => tcpAccepts(port), { timeoutMs: 5000, server: s })
  return s
}

/** The user Squid drops to when started as root: `proxy` on Debian, else `nobody`. */
function squidUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const passwd = fs.readFileSync('/etc/passwd', 'utf8').split('\n')
  for (const want of ['proxy', 'nobody']) {
    const line = passwd.find((l) => l.startsWith(`${want}:`))
    if (line) {
      const f = line.split(':')
      return { name: want, uid: Number(f[2]), gid: Number(f[3]) }
    }
  }
  return undefined
}

export async function startSquid(
  ctx: StartContext,
  squid: string,
  port: number,
  upstreamPort: number,
): Promise<Server> {
  const dir = path.join(ctx.dir, 'squid')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 ${BENCH_HOST}\n`)
  const user = squidUser()
  const conf = writeConfig(dir, 'squid.conf', 'squid.conf.tmpl', {
    PORT: port,
    UPSTREAM_PORT: upstreamPort,
    DIR: dir,
    USER: user?.name ?? 'nobody',
  })
  if (user) {
    for (const f of [dir, ...fs.readdirSync(dir).map((f) => path.join(dir, f))]) fs.chownSync(f, user.uid, user.gid)
  }
  const parse = await run(squid, ['-k', 'parse', '-f', conf], { timeoutMs: 30_000 })
  if (parse.code !== 0) throw new Error(`squid -k parse rejected ${conf}:\n${parse.stderr}${parse.stdout}`)
  const [cmd, args] = pinned(ctx, squid, ['-N', '-f', conf])
  const s = startServer('squid', cmd, args, { logDir: ctx.dir })
  await waitUntil(`Squid on :${port}`, () => tcpAccepts(port), { timeoutMs: 20_000, server: s })
  return s
}

export async function startDnsmasq(
  ctx: StartContext,
  dnsmasq: string,
  port: number,
  upstreamDnsPort: number,
  cacheSize: number,
): Promise<Server> {
  const dir = path.join(ctx.dir, 'dnsmasq')
  fs.mkdirSync(dir, { recursive: true })
  const conf = writeConfig(dir, 'dnsmasq.conf', 'dnsmasq.conf.tmpl', {
    PORT: port,
    UPSTREAM_DNS_PORT: upstreamDnsPort,
    CACHE_SIZE: cacheSize,
  })
  const [cmd, args] = pinned(ctx, dnsmasq, ['-k', '-C', conf])
  const s = startServer('dnsmasq', cmd, args, { logDir: ctx.dir })
  await waitUntil(`dnsmasq on :${port}`, async () => (await queryA(port, BENCH_HOST, 300)).addresses.length > 0, {
    timeoutMs: 10_000,
    server: s,
  })
  return s
}

export interface OursPorts {
  proxy: number
  dns: number
  admin: number
  upstreamDns: number
  upstream: number
}

function httpStatus(port: number, p: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

/** Starts `node dist/mcp-hangar.mjs egress -c <hangar.yaml> --provider bench` (the bundled bin at `mainJs`). */
export async function startOurs(
  ctx: StartContext,
  mainJs: string,
  ports: OursPorts,
  logLevel: string,
  nodeArgs: string[] = [],
): Promise<{ server: Server; ready: boolean; configPath: string }> {
  const dir = path.join(ctx.dir, 'ours')
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true })
  const configPath = writeConfig(dir, 'hangar.yaml', 'hangar.yaml.tmpl', {
    PROXY_PORT: ports.proxy,
    DNS_PORT: ports.dns,
    ADMIN_PORT: ports.admin,
    UPSTREAM_DNS_PORT: ports.upstreamDns,
    UPSTREAM_PORT: ports.upstream,
    DIR: dir,
  })
  const [cmd, args] = pinned(ctx, process.execPath, [...nodeArgs, mainJs, 'egress', '-c', configPath, '--provider', 'bench'])
  const env = { ...process.env, MCP_LOG_LEVEL: logLevel, MCP_JSON_LOGS: 'true' }
  const s = startServer('ours', cmd, args, { logDir: ctx.dir, env })
  const opts = { timeoutMs: 20_000, server: s }
  await waitUntil(`the sidecar's proxy on :${ports.proxy}`, () => tcpAccepts(ports.proxy), opts)
  await waitUntil(
    `the sidecar's DNS on :${ports.dns}`,
    async () => (await queryA(ports.dns, BENCH_HOST, 300)).addresses.length > 0,
    opts,
  )
  let ready = true
  try {
    await waitUntil(`GET /ready on :${ports.admin}`, async () => (await httpStatus(ports.admin, '/ready')) === 200, {
      timeoutMs: 10_000,
      server: s,
    })
  } catch {
    ready = false
  }
  return { server: s, ready, configPath }
}
