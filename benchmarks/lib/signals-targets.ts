/**
 * Starts what the signals benchmark measures, each from a rendered config in the run's temp
 * folder and each waited for until it serves: the aggregator (`dist/mcp-hangar.mjs aggregator`),
 * the floor (lib/signals-floor.ts, compiled with esbuild so it runs on plain node), and the
 * sidecar (`dist/mcp-hangar.mjs egress` shipping to the aggregator). `cpu` pins a process
 * (all its threads) with taskset, like lib/targets.ts.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { transformSync } from 'esbuild'
import { writeConfig } from './configs.js'
import { queryA } from './dns-client.js'
import { startServer, tcpAccepts, waitUntil, type Server } from './procs.js'

/** Tokens of one benchmark run (random, so a stray process cannot post into it). */
export interface Tokens {
  signal: string
  admin: string
}

export function newTokens(): Tokens {
  return { signal: `sig-${randomBytes(12).toString('hex')}`, admin: `adm-${randomBytes(12).toString('hex')}` }
}

export interface TargetContext {
  /** The run's temp folder. */
  dir: string
  /** `dist/mcp-hangar.mjs`. */
  mainJs: string
  /** Node flags of every node process started (sidecar/node-flags.ts, plus --cpu-prof when asked). */
  nodeArgs: readonly string[]
  /** MCP_LOG_LEVEL. */
  logLevel: string
  tokens: Tokens
}

/** An aggregator, or the floor, under test. */
export interface IngestServer {
  server: Server
  port: number
  /** Where it writes: the aggregator's data dir, or the floor's file. */
  output: string
}

function pinned(cpu: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]]
}

/** The environment of our processes: this one's, without what would override the config. */
function ourEnv(logLevel: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MCP_LOG_LEVEL: logLevel, MCP_JSON_LOGS: 'true' }
  for (const k of ['MCP_HTTP_HOST', 'MCP_HTTP_PORT', 'MCP_CONFIG', 'OTEL_EXPORTER_OTLP_ENDPOINT']) delete env[k]
  return env
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

/** Ports of one rendered hangar.yaml. The sidecar's are 0 when only the aggregator runs. */
export interface ConfigPorts {
  aggregator: number
  proxy: number
  dns: number
}

/** Renders configs/signals-hangar.yaml.tmpl into `<dir>/<name>/hangar.yaml`. */
export function renderConfig(ctx: TargetContext, name: string, ports: ConfigPorts): { configPath: string; aggregatorDir: string; sidecarDir: string } {
  const dir = path.join(ctx.dir, name)
  const aggregatorDir = path.join(dir, 'aggregator-data')
  const sidecarDir = path.join(dir, 'sidecar-data')
  fs.mkdirSync(sidecarDir, { recursive: true })
  const configPath = writeConfig(dir, 'hangar.yaml', 'signals-hangar.yaml.tmpl', {
    AGGREGATOR_PORT: ports.aggregator,
    AGGREGATOR_DIR: aggregatorDir,
    SIGNAL_TOKEN: ctx.tokens.signal,
    ADMIN_TOKEN: ctx.tokens.admin,
    PROXY_PORT: ports.proxy,
    DNS_PORT: ports.dns,
    SIDECAR_DIR: sidecarDir,
  })
  return { configPath, aggregatorDir, sidecarDir }
}

/** Starts `node dist/mcp-hangar.mjs aggregator -c <config>` and waits for GET /ready → 200. */
export async function startAggregator(ctx: TargetContext, name: string, configPath: string, aggregatorDir: string, port: number, cpu: string | undefined, extraNodeArgs: readonly string[] = []): Promise<IngestServer> {
  const [cmd, args] = pinned(cpu, process.execPath, [...ctx.nodeArgs, ...extraNodeArgs, ctx.mainJs, 'aggregator', '-c', configPath])
  const s = startServer(name, cmd, args, { logDir: ctx.dir, env: ourEnv(ctx.logLevel) })
  await waitUntil(`GET /ready of ${name} on :${port}`, async () => (await httpStatus(port, '/ready')) === 200, { timeoutMs: 30_000, server: s })
  return { server: s, port, output: aggregatorDir }
}

/** Compiles lib/signals-floor.ts to `<dir>/signals-floor.mjs` (type stripping only) once per run. */
export function buildFloor(dir: string): string {
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), 'signals-floor.ts')
  const out = path.join(dir, 'signals-floor.mjs')
  const { code } = transformSync(fs.readFileSync(src, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' })
  fs.writeFileSync(out, code)
  return out
}

/** Starts the floor on `port`, appending to `<dir>/<name>.jsonl`. */
export async function startFloor(ctx: TargetContext, floorJs: string, name: string, port: number, cpu: string | undefined): Promise<IngestServer> {
  const file = path.join(ctx.dir, `${name}.jsonl`)
  const [cmd, args] = pinned(cpu, process.execPath, [...ctx.nodeArgs, floorJs, String(port), file, ctx.tokens.signal])
  const s = startServer(name, cmd, args, { logDir: ctx.dir })
  await waitUntil(`${name} on :${port}`, () => tcpAccepts(port), { timeoutMs: 10_000, server: s })
  return { server: s, port, output: file }
}

/**
 * Starts `node dist/mcp-hangar.mjs egress -c <config> --provider bench` and waits until its DNS
 * listener answers (a denied name: NXDOMAIN) and its proxy accepts. That readiness query is itself
 * a decision; its host is `ready.denied.test`, which no measured run uses.
 */
export async function startSidecar(ctx: TargetContext, configPath: string, ports: ConfigPorts, cpu: string | undefined): Promise<Server> {
  const [cmd, args] = pinned(cpu, process.execPath, [...ctx.nodeArgs, ctx.mainJs, 'egress', '-c', configPath, '--provider', 'bench'])
  const s = startServer('sidecar', cmd, args, { logDir: ctx.dir, env: ourEnv(ctx.logLevel) })
  const opts = { timeoutMs: 20_000, server: s }
  await waitUntil(`the sidecar's DNS on :${ports.dns}`, async () => (await queryA(ports.dns, 'ready.denied.test', 300)).rcode === 'NXDOMAIN', opts)
  await waitUntil(`the sidecar's proxy on :${ports.proxy}`, () => tcpAccepts(ports.proxy), opts)
  return s
}

/** SIGTERM, then waits (≤ 20 s) for the exit, so --cpu-prof profiles get written. */
export async function stop(s: Server): Promise<void> {
  if (s.exitedYet()) return
  process.kill(s.pid, 'SIGTERM')
  const t = setTimeout(() => {
    try {
      process.kill(s.pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }, 20_000)
  await s.exited
  clearTimeout(t)
}
