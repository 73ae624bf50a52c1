/**
 * What benchmarks/mcp-proxy.ts measures: the trivial MCP server (benchmarks/servers/mcp-trivial.mjs),
 * nginx as a plain reverse proxy in front of it, and our sidecar (`mcp-hangar sidecar
 * --no-egress`, mode remote) in front of it; each from a rendered config in the run's temp
 * folder, each waited for until it serves, each optionally pinned to a CPU list. Plus the MCP
 * client steps the load needs (a session through each path) and the checks that prove each path
 * answers correctly and that the sidecar's Inspector is really on.
 */
import fs from 'node:fs'
import path from 'node:path'
import { writeConfig } from './configs.js'
import { answerOf } from './mcp-load.js'
import type { ServerKind } from './mcp-options.js'
import { ROOT } from '../harness/run.js'
import { freePort } from './ports.js'
import { run, startServer, tcpAccepts, waitUntil, type Server } from './procs.js'

/** Where a server runs: the run's temp folder and a CPU list for taskset (undefined: not pinned). */
export interface McpStartContext {
  dir: string
  cpu: string | undefined
}

/** `stateful`: sessions (Mcp-Session-Id); `stateless`: a new SDK server per request, no session. */
export type UpstreamSessions = 'stateful' | 'stateless'
/** How the upstream answers a POST: one JSON body, or an SSE stream with one event. */
export type UpstreamAnswer = 'json' | 'sse'

/** The MCP protocol revision the benchmark's client speaks (spec 2025-11-25). */
export const PROTOCOL_VERSION = '2025-11-25'
/** The `text` argument of every `echo` call, and what the answer must carry. */
export const ECHO_TEXT = 'hangar-bench'

function pinned(cpu: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]]
}

/**
 * Starts the upstream MCP server on 127.0.0.1:`port`: `sdk` (benchmarks/servers/mcp-trivial.mjs
 * with `sessions` and `answer`) or `minimal` (benchmarks/servers/mcp-minimal.mjs, stateful, JSON).
 */
export async function startMcpUpstream(ctx: McpStartContext, port: number, kind: ServerKind, sessions: UpstreamSessions, answer: UpstreamAnswer): Promise<Server> {
  const script = path.join(ROOT, 'benchmarks', 'servers', kind === 'sdk' ? 'mcp-trivial.mjs' : 'mcp-minimal.mjs')
  const [cmd, args] = pinned(ctx.cpu, process.execPath, [script, String(port), ...(kind === 'sdk' ? [sessions, answer] : [])])
  const s = startServer(`mcp-upstream-${kind}`, cmd, args, { logDir: ctx.dir, cwd: ROOT })
  await waitUntil(`the ${kind} MCP server on :${port}`, () => tcpAccepts(port), { timeoutMs: 10_000, server: s })
  return s
}

/**
 * Starts nginx in the foreground (one worker) with benchmarks/configs/nginx-mcp.conf.tmpl,
 * after `nginx -t` accepted the rendered file.
 * @throws Error with nginx's own words when the config is refused or it does not start
 */
export async function startNginx(ctx: McpStartContext, nginx: string, port: number, upstreamPort: number): Promise<Server> {
  const dir = path.join(ctx.dir, `nginx-${port}`)
  fs.mkdirSync(dir, { recursive: true })
  const conf = writeConfig(dir, 'nginx.conf', 'nginx-mcp.conf.tmpl', { DIR: dir, PORT: port, UPSTREAM_PORT: upstreamPort })
  const base = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf]
  const test = await run(nginx, ['-t', ...base], { timeoutMs: 30_000 })
  if (test.code !== 0) throw new Error(`nginx -t rejected ${conf}:\n${test.stderr}${test.stdout}`)
  const [cmd, args] = pinned(ctx.cpu, nginx, base)
  const s = startServer(`nginx-${port}`, cmd, args, { logDir: ctx.dir })
  await waitUntil(`nginx on :${port}`, () => tcpAccepts(port), { timeoutMs: 10_000, server: s })
  return s
}

/**
 * Starts the bare Node relay (benchmarks/servers/mcp-node-relay.mjs) on 127.0.0.1:`port` in front
 * of the upstream: the floor of any MCP proxy written for Node.
 */
export async function startRelay(ctx: McpStartContext, port: number, upstreamPort: number): Promise<Server> {
  const script = path.join(ROOT, 'benchmarks', 'servers', 'mcp-node-relay.mjs')
  const [cmd, args] = pinned(ctx.cpu, process.execPath, [script, String(port), String(upstreamPort)])
  const s = startServer(`relay-${port}`, cmd, args, { logDir: ctx.dir, cwd: ROOT })
  await waitUntil(`the Node relay on :${port}`, () => tcpAccepts(port), { timeoutMs: 10_000, server: s })
  return s
}

export interface SidecarStart {
  /** The bundled CLI, dist/mcp-hangar.mjs. */
  mainJs: string
  listenPort: number
  upstreamPort: number
  /** `max_concurrency` of the provider: above the highest concurrency measured. */
  maxConcurrency: number
  /** MCP_LOG_LEVEL. */
  logLevel: string
  /** Node flags before the script (sidecar/node-flags.ts, --cpu-prof). */
  nodeArgs: string[]
}

/** Starts `mcp-hangar sidecar -c <mcp-hangar.yaml> --provider bench --no-egress`. */
export async function startSidecar(ctx: McpStartContext, o: SidecarStart): Promise<{ server: Server; dataDir: string }> {
  const dir = path.join(ctx.dir, `ours-${o.listenPort}`)
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true })
  const conf = writeConfig(dir, 'hangar.yaml', 'mcp-hangar.yaml.tmpl', {
    UPSTREAM_PORT: o.upstreamPort,
    LISTEN_PORT: o.listenPort,
    MAX_CONCURRENCY: o.maxConcurrency,
    // Not started with --no-egress (the admin listener may be): free ports all the same.
    PROXY_PORT: await freePort(),
    DNS_PORT: await freePort(),
    ADMIN_PORT: await freePort(),
    DIR: dir,
  })
  const [cmd, args] = pinned(ctx.cpu, process.execPath, [...o.nodeArgs, o.mainJs, 'sidecar', '-c', conf, '--provider', 'bench', '--no-egress'])
  const env = { ...process.env, MCP_LOG_LEVEL: o.logLevel, MCP_JSON_LOGS: 'true' }
  const s = startServer(`ours-${o.listenPort}`, cmd, args, { logDir: ctx.dir, env })
  await waitUntil(`the sidecar's MCP ingress on :${o.listenPort}`, () => tcpAccepts(o.listenPort), { timeoutMs: 20_000, server: s })
  return { server: s, dataDir: path.join(dir, 'data') }
}

/** One JSON-RPC exchange: the HTTP status, the session header and the message (JSON or SSE). */
export interface Exchange {
  status: number
  sessionId: string | undefined
  message: { id?: unknown; result?: unknown; error?: { code: number; message: string } } | undefined
}

/** POSTs one JSON-RPC message to `url` as an MCP client does. */
export async function post(url: string, body: unknown, sessionId?: string): Promise<Exchange> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL_VERSION,
  }
  if (sessionId) headers['mcp-session-id'] = sessionId
  const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
  const text = await r.text()
  return {
    status: r.status,
    sessionId: r.headers.get('mcp-session-id') ?? undefined,
    message: answerOf(r.headers.get('content-type') ?? '', text) as Exchange['message'],
  }
}

/**
 * Opens an MCP session through `url` (MCP lifecycle: `initialize`, then
 * `notifications/initialized`). Returns the server's `Mcp-Session-Id`, or undefined from a
 * stateless server (which issues none).
 * @throws Error when initialize fails
 */
export async function openSession(url: string): Promise<string | undefined> {
  const init = await post(url, {
    jsonrpc: '2.0',
    id: 'init',
    method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'hangar-bench', version: '1.0.0' } },
  })
  if (init.status !== 200 || !init.message?.result) throw new Error(`initialize through ${url} failed: HTTP ${init.status} ${JSON.stringify(init.message)}`)
  const note = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, init.sessionId)
  if (note.status !== 202) throw new Error(`notifications/initialized through ${url}: HTTP ${note.status}`)
  return init.sessionId
}

/** `tools/call` of `name` with `args`; the answer as the client sees it. */
export function callTool(url: string, sessionId: string | undefined, name: string, args: unknown, id: string): Promise<Exchange> {
  return post(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, sessionId)
}

/**
 * Checks that `echo` answers through `url` with its text.
 * @throws Error naming the path otherwise
 */
export async function checkEcho(name: string, url: string, sessionId: string | undefined): Promise<void> {
  const r = await callTool(url, sessionId, 'echo', { text: ECHO_TEXT }, `check-${name}`)
  const content = (r.message?.result as { content?: { text?: unknown }[] } | undefined)?.content
  if (r.status !== 200 || r.message?.id !== `check-${name}` || content?.[0]?.text !== ECHO_TEXT) {
    throw new Error(`echo through ${name} did not answer correctly: HTTP ${r.status} ${JSON.stringify(r.message)}`)
  }
}

/**
 * Proves the sidecar inspects `tools/call` (the Inspector's checks are what is measured): a tool
 * outside `allow_list` is refused with -32001, arguments that fail `echo`'s inputSchema with
 * -32602, and the pin of `echo` (written when the Inspector first saw its definition) is on disk.
 * Returns one line per check for the report.
 * @throws Error when a check fails
 */
export async function checkInspector(url: string, sessionId: string | undefined, dataDir: string): Promise<string[]> {
  const denied = await callTool(url, sessionId, 'not_allowed', {}, 'check-denied')
  if (denied.message?.error?.code !== -32001) throw new Error(`the sidecar forwarded a tool outside allow_list: ${JSON.stringify(denied.message)}`)
  const invalid = await callTool(url, sessionId, 'echo', { text: 5 }, 'check-schema')
  if (invalid.message?.error?.code !== -32602) throw new Error(`the sidecar forwarded arguments that fail the inputSchema: ${JSON.stringify(invalid.message)}`)
  // The pin file is written asynchronously (temp file, fsync, rename: proxy/inspect/pins.ts).
  const pins = path.join(dataDir, 'tool-pins.json')
  const pinned = async () => {
    try {
      return Boolean((JSON.parse(fs.readFileSync(pins, 'utf8')) as { tools?: Record<string, unknown> }).tools?.echo)
    } catch {
      return false
    }
  }
  try {
    await waitUntil(`the pin of echo in ${pins}`, pinned, { timeoutMs: 10_000 })
  } catch {
    throw new Error(`the sidecar has not pinned echo (${pins}) within 10 s: it never saw its definition`)
  }
  return [
    'tools/call of a tool outside allow_list → -32001 (tool policy on)',
    'echo with `text: 5` → -32602 (inputSchema check on)',
    "echo's definition pinned in tool-pins.json: the Inspector fetched tools/list itself on the first tools/call (the client never listed tools)",
  ]
}
