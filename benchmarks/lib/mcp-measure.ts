/**
 * One measurement each for benchmarks/mcp-proxy.ts:
 * - fixed concurrency (closed loop): wrk, one thread, N connections, with benchmarks/lib/mcp-wrk.lua;
 * - fixed rate (open loop): benchmarks/lib/mcp-load.ts in its own process.
 * Each also records the CPU the proxy and the upstream used meanwhile (all their processes and
 * threads), and returns raw numbers; spread, added latency and ratios are the caller's.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { LoadResult, LoadSpec, Percentiles } from './mcp-load.js'
import { ECHO_TEXT, PROTOCOL_VERSION } from './mcp-targets.js'
import { ROOT } from '../harness/run.js'
import { run, type Server } from './procs.js'
import { cpuSeconds } from './sysinfo.js'

const here = path.join(ROOT, 'benchmarks', 'lib')

/** A path measured: the URL the load goes to, the proxy process (none for direct), the session. */
export interface McpPath {
  name: McpPathName
  url: string
  proxy?: Server
  /** `Mcp-Session-Id` opened through this path (stateful upstream), else undefined. */
  sessionId?: string
}

/** `relay`: benchmarks/servers/mcp-node-relay.mjs, the floor of any Node proxy (no checks at all). */
export type McpPathName = 'direct' | 'nginx' | 'relay' | 'ours'

/** CPU seconds of `pid` and every process below it (nginx's worker is the master's child). */
export function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid)
  let children: string[] = []
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      children.push(...fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean))
    }
  } catch {
    children = []
  }
  for (const c of new Set(children)) {
    try {
      total += treeCpuSeconds(Number(c))
    } catch {
      /* exited meanwhile */
    }
  }
  return total
}

/** Cores used by the proxy and the upstream during `fn` (1 = one full core). */
async function withCpu<T>(proxy: Server | undefined, upstream: Server, fn: () => Promise<T>): Promise<{ value: T; proxyCpu: number | undefined; upstreamCpu: number }> {
  for (const s of [proxy, upstream]) if (s?.exitedYet()) throw new Error(`${s.name} has exited; its log ends:\n${s.logTail()}`)
  const p0 = proxy ? treeCpuSeconds(proxy.pid) : 0
  const u0 = treeCpuSeconds(upstream.pid)
  const t0 = process.hrtime.bigint()
  const value = await fn()
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  for (const s of [proxy, upstream]) if (s?.exitedYet()) throw new Error(`${s.name} exited during the run; its log ends:\n${s.logTail()}`)
  return {
    value,
    proxyCpu: proxy ? (treeCpuSeconds(proxy.pid) - p0) / wall : undefined,
    upstreamCpu: (treeCpuSeconds(upstream.pid) - u0) / wall,
  }
}

/** One closed-loop run. Latencies in ms. */
export interface FixedRun {
  concurrency: number
  /** Correct answers per second. */
  rate: number
  requests: number
  /** Wrong answers + socket errors + HTTP errors + timeouts: a run with any is invalid. */
  errors: number
  firstError: string
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
  proxyCpu: number | undefined
  upstreamCpu: number
}

interface WrkOut {
  requests: number
  duration_us: number
  bad: number
  first_bad: string
  connect_errors: number
  read_errors: number
  write_errors: number
  status_errors: number
  timeouts: number
  p50_us: number
  p90_us: number
  p99_us: number
  p999_us: number
  max_us: number
}

/**
 * wrk with `concurrency` connections for `seconds` through `p`.
 * @throws Error when wrk fails or prints no result line
 */
export async function fixedRun(wrk: string, p: McpPath, upstream: Server, concurrency: number, seconds: number, tag: string): Promise<FixedRun> {
  const args = [
    '-t1', `-c${concurrency}`, `-d${seconds}s`, '--timeout', '10s',
    '-s', path.join(here, 'mcp-wrk.lua'), p.url, '--', p.sessionId ?? '-', PROTOCOL_VERSION, ECHO_TEXT, tag,
  ]
  const m = await withCpu(p.proxy, upstream, () => run(wrk, args, { timeoutMs: (seconds + 60) * 1000 }))
  const r = m.value
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"requests"'))
  if (r.code !== 0 || !line) throw new Error(`wrk through ${p.name} failed (exit ${r.code}): ${r.stderr}${r.stdout}`)
  const j = JSON.parse(line) as WrkOut
  const socketErrors = j.connect_errors + j.read_errors + j.write_errors + j.timeouts
  const errors = j.bad + socketErrors + j.status_errors
  return {
    concurrency,
    rate: (j.requests - j.bad) / (j.duration_us / 1e6),
    requests: j.requests,
    errors,
    firstError: j.first_bad || (socketErrors ? `socket errors: connect ${j.connect_errors}, read ${j.read_errors}, write ${j.write_errors}, timeout ${j.timeouts}` : ''),
    p50Ms: j.p50_us / 1000,
    p90Ms: j.p90_us / 1000,
    p99Ms: j.p99_us / 1000,
    p999Ms: j.p999_us / 1000,
    maxMs: j.max_us / 1000,
    proxyCpu: m.proxyCpu,
    upstreamCpu: m.upstreamCpu,
  }
}

/** One open-loop run (recorded window only). */
export interface RateRun {
  rate: number
  scheduled: number
  ok: number
  errors: number
  firstError: string
  achievedRate: number
  latencyMs: Percentiles
  serviceMs: Percentiles
  lagMs: Percentiles
  proxyCpu: number | undefined
  upstreamCpu: number
}

/**
 * The open-loop generator (benchmarks/lib/mcp-load.ts) at `rate` req/s through `p`, in its own
 * Node process (it inherits the runner's CPU pinning).
 * @throws Error when the generator fails
 */
export async function rateRun(p: McpPath, upstream: Server, o: { rate: number; warmupS: number; durationS: number; connections: number }): Promise<RateRun> {
  const spec: LoadSpec = {
    url: p.url,
    rate: o.rate,
    warmupS: o.warmupS,
    durationS: o.durationS,
    connections: o.connections,
    protocolVersion: PROTOCOL_VERSION,
    text: ECHO_TEXT,
    timeoutMs: 10_000,
    ...(p.sessionId !== undefined && { sessionId: p.sessionId }),
  }
  const args = ['--import', path.join(ROOT, 'benchmarks', 'register.mjs'), path.join(here, 'mcp-load.ts'), JSON.stringify(spec)]
  const m = await withCpu(p.proxy, upstream, () => run(process.execPath, args, { timeoutMs: (o.warmupS + o.durationS + 60) * 1000 }))
  const r = m.value
  if (r.code !== 0) throw new Error(`the open-loop generator through ${p.name} failed (exit ${r.code}): ${r.stderr}`)
  const j = JSON.parse(r.stdout) as LoadResult
  return { rate: o.rate, ...j, proxyCpu: m.proxyCpu, upstreamCpu: m.upstreamCpu }
}
