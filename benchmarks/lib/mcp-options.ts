/** Command-line options of benchmarks/mcp-proxy.ts: its own, on the harness's program and groups. */
import { Option, type Command } from 'commander'
import { benchProgram, listOf, measurementOptions, oneOf, parseProgram, pick, positive, positiveInt, positiveIntList, withMeasurement, withReport, type MeasurementValues, type ProgramOutput, type ReportValues } from '../harness/options.js'

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

/** How the `sdk` upstream keeps sessions, and how it answers a POST. */
export const UPSTREAM_MODES = ['stateful', 'stateless'] as const
export const ANSWER_MODES = ['sse', 'json'] as const

/** The program of `npm run bench:mcp`, with every option. */
export function mcpProgram(output?: ProgramOutput): Command {
  const cmd = benchProgram('bench:mcp', 'MCP proxy benchmark: tools/call direct vs nginx, a bare Node relay and the sidecar.', output)
    .option('--runs <n>', 'runs per path and load, paths interleaved (default 3; --quick 1)', positiveInt)
    .option('--concurrency <list>', 'wrk connections of the fixed-concurrency runs', positiveIntList, [16, 64])
    .option('--duration <s>', 'recorded seconds per fixed-concurrency run (default 10; --quick 3)', positive)
    .option('--warmup <s>', 'unrecorded warm-up seconds (default 3; --quick 1)', positive)
    .option('--rate <n>', 'requests/s of the open-loop runs', positive, 1000)
    .option('--rate-duration <s>', 'recorded seconds per open-loop run (default 20; --quick 5)', positive)
    .addOption(new Option('--servers <list>', `upstream MCP servers, of ${SERVERS.join(',')}`).argParser(listOf(SERVERS)).default([...SERVERS], 'both'))
    .addOption(new Option('--layouts <list>', `CPU layouts, of ${LAYOUTS.join(',')} (see docs/benchmarks/mcp-proxy.md)`).argParser(listOf(LAYOUTS)).default([...LAYOUTS], 'both'))
    .option('--upstream <mode>', 'the sdk server: stateful or stateless', oneOf(UPSTREAM_MODES), 'stateful')
    .option('--answer <mode>', 'the sdk server answers POSTs with sse or json', oneOf(ANSWER_MODES), 'sse')
    .option('--skip-ours', 'measure only direct and nginx')
  withMeasurement(cmd, MCP_PHASES, {
    logLevel: 'sidecar MCP_LOG_LEVEL',
    noPin: 'no taskset pinning at all',
    cpuProf: 'run the sidecar with --cpu-prof and print where its CPU went',
    keepTmp: 'keep the temp folder (configs, logs)',
  })
  return withReport(cmd, 'docs/benchmarks/mcp-proxy.md')
}

interface Values extends MeasurementValues<McpPhase>, ReportValues {
  runs?: number
  concurrency: number[]
  duration?: number
  warmup?: number
  rate: number
  rateDuration?: number
  servers: ServerKind[]
  layouts: Layout[]
  upstream: (typeof UPSTREAM_MODES)[number]
  answer: (typeof ANSWER_MODES)[number]
  skipOurs?: boolean
}

/**
 * Parses the arguments of `npm run bench:mcp -- …` (durations in seconds, rates in requests/s).
 * @throws CommanderError on a bad option (naming it) or after `--help`.
 */
export function mcpOptions(argv: readonly string[] = process.argv.slice(2), output?: ProgramOutput) {
  const v = parseProgram<Values>(mcpProgram(output), argv)
  const q = v.quick
  return {
    ...measurementOptions(v),
    runs: pick(v.runs, q, 1, 3),
    concurrency: v.concurrency,
    durationS: pick(v.duration, q, 3, 10),
    warmupS: pick(v.warmup, q, 1, 3),
    rate: v.rate,
    rateDurationS: pick(v.rateDuration, q, 5, 20),
    servers: v.servers,
    layouts: v.layouts,
    upstream: v.upstream,
    answer: v.answer,
    skipOurs: v.skipOurs === true,
  }
}

export type McpOptions = ReturnType<typeof mcpOptions>
