/**
 * End-to-end helpers for the MCP data plane: start real MCP servers (npm packages, our fixture),
 * build a provider config the way hangar.yaml would, run an McpSidecar in-process, and connect
 * the MCP SDK's own client to it over Streamable HTTP. Loopback only.
 */
import type { PortRegistry } from '../../core/ports.js'
import type { BaselineRecorder } from '../../profiles/baseline/recorder.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { pino } from 'pino'
import { providerSchema, type ProviderConfig } from '../../config/schema.js'
import { providerEnv } from '../../core/env.js'
import { createMetrics, type HangarMetrics } from '../../core/metrics.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { McpSidecar } from '../../sidecar/mcp.js'
import type { McpTracer } from '../../proxy/trace/tracer.js'
import { MemorySink } from '../../signals/sink.js'
import { EVERYTHING_SERVER } from '../fixtures/mcp/harness.js'

export { EVERYTHING_SERVER as EVERYTHING, FILESYSTEM_SERVER as FILESYSTEM, FIXTURE_SERVER as FIXTURE, pidAlive } from '../fixtures/mcp/harness.js'

/** Ports this process handed out already (a port is given once per test process). */
const handed = new Set<number>()

/** True when `port` can be bound on 127.0.0.1 now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/**
 * A port free on 127.0.0.1 for a server the test starts next (in a child process, usually).
 * Picked at random in 20000–31999, below Linux's ephemeral range (32768–60999 by default): an
 * OS-assigned port (`listen(0)`) is released before the child binds it, and in that gap any
 * outgoing connection of the parallel test files may take it as its source port (seen as
 * EADDRINUSE in CI); ports outside the ephemeral range are never given to outgoing connections.
 */
/**
 * The listener lines of a `providers.<name>.sidecar` block for a sidecar run on the test machine:
 * every listener on a free loopback port, no transparent listeners, and a dead loopback port as
 * the DNS upstream (nothing leaves the machine). YAML indented 6 spaces, ending in a newline.
 */
export const LOOPBACK_SIDECAR_YAML = `      proxy: 127.0.0.1:0
      dns: 127.0.0.1:0
      transparent_http: null
      transparent_tls: null
      admin: 127.0.0.1:0
      upstream_dns: ["127.0.0.1:9"]
`

export async function freePort(): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const port = 20000 + randomInt(12000)
    if (handed.has(port)) continue
    handed.add(port)
    if (await canBind(port)) return port
  }
  throw new Error('freePort: no free port in 20000-31999 after 500 tries')
}

/** A child process that runs until the test ends. */
export interface RunningServer {
  port: number
  child: ChildProcess
  stop(): Promise<void>
}

/** Starts `server-everything streamableHttp` on a free loopback port; resolves once it listens. */
export async function startEverythingHttp(): Promise<RunningServer> {
  const port = await freePort()
  const child = spawn(process.execPath, [EVERYTHING_SERVER, 'streamableHttp'], { env: { ...providerEnv(), PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let err = ''
    const timer = setTimeout(() => reject(new Error(`server-everything did not start: ${err}`)), 20_000)
    const onData = (b: Buffer) => {
      err += b.toString()
      if (/listening on port/i.test(err)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stderr!.on('data', onData)
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`server-everything exited with ${code}: ${err}`)))
  })
  return { port, child, stop: () => stopChild(child) }
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 3000).unref()
  })
}

/** A provider config as `hangar.yaml` would give it (defaults applied by the one schema). */
export function providerConfig(raw: Record<string, unknown>): ProviderConfig {
  return providerSchema.parse({ listen: '127.0.0.1:0', ...raw })
}

export interface SidecarRig {
  sidecar: McpSidecar
  sink: MemorySink
  metrics: HangarMetrics
  enforcement: QuarantineSwitch
  url: URL
  dataDir: string
  stop(): Promise<void>
}

/**
 * Runs the MCP side of a sidecar in-process for `config` (data_dir: a fresh temp folder, removed at
 * stop, unless `opts.dataDir` is given). `opts.tracer`: request spans (proxy/trace/), off by
 * default. `opts.baseline`: a recorder fed by the Inspector. `opts.ports`: the enterprise ports
 * (e.g. a registry with `identity` for `ingress.auth.oidc`).
 */
export async function startSidecar(name: string, raw: Record<string, unknown>, opts: { tracer?: McpTracer; baseline?: BaselineRecorder; dataDir?: string; ports?: PortRegistry } = {}): Promise<SidecarRig> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hangar-mcp-'))
  const sidecarBlock = (raw.sidecar as Record<string, unknown> | undefined) ?? {}
  const config = providerConfig({ ...raw, sidecar: { data_dir: dataDir, ...sidecarBlock } })
  const sink = new MemorySink()
  const metrics = createMetrics({ processMetrics: false })
  const enforcement = new QuarantineSwitch()
  const sidecar = new McpSidecar({
    provider: name,
    config,
    sink,
    log: pino({ level: 'silent' }),
    metrics,
    enforcement,
    sidecarId: `${name}-test`,
    inheritedEnv: providerEnv(),
    ...(opts.tracer && { tracer: opts.tracer }),
    ...(opts.baseline && { baseline: opts.baseline }),
    ...(opts.ports && { ports: opts.ports }),
  })
  const port = await sidecar.start()
  return {
    sidecar,
    sink,
    metrics,
    enforcement,
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    dataDir,
    stop: async () => {
      await sidecar.stop()
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** An MCP SDK client connected over Streamable HTTP. */
export async function connectClient(url: URL, opts: { headers?: Record<string, string>; capabilities?: Record<string, unknown>; name?: string } = {}): Promise<Client> {
  const client = new Client({ name: opts.name ?? 'hangar-test', version: '1.0.0' }, { capabilities: opts.capabilities ?? {} })
  const transport = new StreamableHTTPClientTransport(url, opts.headers ? { requestInit: { headers: opts.headers } } : undefined)
  await client.connect(transport)
  return client
}

/** Text of the first content item of a tools/call result. */
export function textOf(result: unknown): string {
  const c = (result as { content?: Array<{ type: string; text?: string }> }).content
  return c?.find((x) => x.type === 'text')?.text ?? ''
}
