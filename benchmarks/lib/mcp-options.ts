/** Command-line options of benchmarks/mcp-proxy.ts. */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from './options.js'

export const MCP_PHASES = ['fixed', 'rate'] as const
export type McpPhase = (typeof MCP_PHASES)[number]

/**
 * Where the processes run on a 2-core machine (CPU 0 always has the runner and the load generators):
 * - `shared`: the upstream and the proxy share CPU 1, as a sidecar shares its provider's CPU in one
 *   pod; the proxy's CPU cost then shows in throughput and latency alike;
 * - `split`: the proxy alone on CPU 1, the upstream on CPU 0 with the load generator; the added
 *   latency is the hop and the proxy's work, not CPU contention (the Istio method: proxies get
 *   their own CPUs).
 */
export const LAYOUTS = ['shared', 'split'] as const
export type Layout = (typeof LAYOUTS)[number]

/**
 * The upstream MCP server: `sdk` (benchmarks/servers/mcp-trivial.mjs, the MCP SDK's own server,
 * what most MCP servers run) or `minimal` (benchmarks/servers/mcp-minimal.mjs, hand-written, no
 * GC pauses: what a proxy adds at p99 shows above its flat tail).
 */
export const SERVERS = ['sdk', 'minimal'] as const
export type ServerKind = (typeof SERVERS)[number]

function list<T extends string>(flag: string, v: string, known: readonly T[]): T[] {
  const out: T[] = []
  for (const x of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(known as readonly string[]).includes(x)) throw new Error(`${flag}: unknown value "${x}" (known: ${known.join(', ')})`)
    out.push(x as T)
  }
  return out
}

export const MCP_HELP = `usage: npm run bench:mcp -- [options]
  --quick              short runs, for trying the harness (not for the docs)
  --runs N             runs per path and load (default 3), paths interleaved
  --concurrency LIST   wrk connections of the fixed-concurrency runs (default 16,64)
  --duration S         recorded seconds per fixed-concurrency run (default 10); --warmup S (default 3)
  --rate N             requests/s of the open-loop runs (default 1000)
  --rate-duration S    recorded seconds per open-loop run (default 20)
  --servers LIST       upstream MCP servers, of sdk,minimal (default both)
  --layouts LIST       CPU layouts, of shared,split (default both; see docs/benchmarks/mcp-proxy.md)
  --upstream MODE      the sdk server: stateful (default) or stateless
  --answer MODE        the sdk server answers POSTs with sse (default) or json
  --skip-ours          measure only direct and nginx
  --log-level L        sidecar MCP_LOG_LEVEL (default warn)
  --no-pin             no taskset pinning at all
  --out FILE           markdown output (default docs/benchmarks/mcp-proxy.md); --no-write to skip
  --quiet-cores C      other work (cores) tolerated during a measurement (default 0.05)
  --max-wait S         longest wait for a quiet machine before each measurement (default 600)
  --retries N          repeats of a measurement disturbed by other work (default 3)
  --only LIST          phases to run, of fixed,rate (default both)
  --cpu-prof           run the sidecar with --cpu-prof and print where its CPU went
  --keep-tmp           keep the temp folder (configs, logs)`

/** Parses argv; throws on a bad value. */
export function mcpOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      concurrency: { type: 'string', default: '16,64' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      'rate-duration': { type: 'string' },
      servers: { type: 'string', default: SERVERS.join(',') },
      layouts: { type: 'string', default: LAYOUTS.join(',') },
      upstream: { type: 'string', default: 'stateful' },
      answer: { type: 'string', default: 'sse' },
      'skip-ours': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
      'no-pin': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(ROOT, 'docs', 'benchmarks', 'mcp-proxy.md') },
      'no-write': { type: 'boolean', default: false },
      'keep-tmp': { type: 'boolean', default: false },
      'quiet-cores': { type: 'string', default: '0.05' },
      'max-wait': { type: 'string', default: '600' },
      retries: { type: 'string', default: '3' },
      only: { type: 'string', default: MCP_PHASES.join(',') },
      'cpu-prof': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  const q = values.quick
  const n = (v: string | undefined, dflt: number) => {
    const x = v === undefined ? dflt : Number(v)
    if (!Number.isFinite(x) || x <= 0) throw new Error(`bad number: ${v}`)
    return x
  }
  const upstream = values.upstream
  if (upstream !== 'stateful' && upstream !== 'stateless') throw new Error(`--upstream: stateful or stateless, not "${upstream}"`)
  const answer = values.answer
  if (answer !== 'json' && answer !== 'sse') throw new Error(`--answer: json or sse, not "${answer}"`)
  const concurrency = values.concurrency.split(',').map((s) => Math.floor(n(s.trim(), 1)))
  return {
    help: values.help,
    runs: Math.floor(n(values.runs, q ? 1 : 3)),
    concurrency,
    durationS: n(values.duration, q ? 3 : 10),
    warmupS: n(values.warmup, q ? 1 : 3),
    rate: n(values.rate, 1000),
    rateDurationS: n(values['rate-duration'], q ? 5 : 20),
    servers: list('--servers', values.servers, SERVERS),
    layouts: list('--layouts', values.layouts, LAYOUTS),
    upstream: upstream as 'stateful' | 'stateless',
    answer: answer as 'json' | 'sse',
    skipOurs: values['skip-ours'],
    logLevel: values['log-level'],
    pin: !values['no-pin'],
    out: values['no-write'] ? undefined : values.out,
    keepTmp: values['keep-tmp'],
    quietCores: n(values['quiet-cores'], 0.05),
    maxWaitS: n(values['max-wait'], 600),
    retries: Math.floor(Number(values.retries)),
    phases: new Set(list('--only', values.only, MCP_PHASES)),
    cpuProf: values['cpu-prof'],
  }
}

export type McpOptions = ReturnType<typeof mcpOptions>
