/** Command-line options of benchmarks/signals.ts: its own, on the harness's program and groups. */
import { InvalidArgumentError, Option, type Command } from 'commander'
import { benchProgram, measurementOptions, parseProgram, pick, positive, positiveInt, withMeasurement, withReport, type MeasurementValues, type ProgramOutput, type ReportValues } from '../harness/options.js'

export const SIGNALS_PHASES = ['ingest', 'e2e'] as const
export type SignalsPhase = (typeof SIGNALS_PHASES)[number]

/** How an end-to-end decision is made: a denied DNS query or a denied CONNECT. */
export const DECISION_KINDS = ['dns', 'connect'] as const
export type DecisionKind = (typeof DECISION_KINDS)[number]

/** One end-to-end load: `dns:5000` = denied DNS queries at 5000 decisions/s. */
export interface E2eLoad {
  via: DecisionKind
  rate: number
}

/** Parses `dns:1000,connect:1000`. @throws InvalidArgumentError naming the bad entry. */
export function parseLoads(v: string): E2eLoad[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [via, rate] = entry.split(':')
      const r = Number(rate)
      if (!(DECISION_KINDS as readonly string[]).includes(via ?? '') || !Number.isInteger(r) || r <= 0) {
        throw new InvalidArgumentError(`expected <dns|connect>:<decisions per second>, got "${entry}"`)
      }
      return { via: via as DecisionKind, rate: r }
    })
}

/** The end-to-end loads without `--e2e-loads`. */
export const DEFAULT_LOADS = 'dns:1000,dns:5000,connect:1000'

/** Signals per POST the aggregator takes at most (docs/signals.md, "Batches"). */
export const MAX_BATCH = 1000

/** The program of `npm run bench:signals`, with every option. */
export function signalsProgram(output?: ProgramOutput): Command {
  const cmd = benchProgram('bench:signals', 'Signals benchmark: aggregator ingest vs the floor, and decision → audit log end to end.', output)
    .option('--runs <n>', 'ingest runs per server, the aggregator and the floor interleaved (default 3; --quick 1)', positiveInt)
    .option('--duration <s>', 'recorded seconds per ingest run (default 10; --quick 3)', positive)
    .option('--warmup <s>', 'unrecorded seconds before each ingest run (default 2; --quick 1)', positive)
    .option('--senders <n>', 'concurrent senders, each with one batch in flight', positiveInt, 8)
    .option('--batch <n>', `signals per POST, at most ${MAX_BATCH}`, (v) => {
      const n = positiveInt(v)
      if (n > MAX_BATCH) throw new InvalidArgumentError(`at most ${MAX_BATCH} signals per POST, got ${n}`)
      return n
    }, 500)
    .addOption(new Option('--e2e-loads <list>', 'decision loads of the end-to-end phase').argParser(parseLoads).default(parseLoads(DEFAULT_LOADS), DEFAULT_LOADS))
    .option('--e2e-duration <s>', 'seconds of decisions per load (default 20; --quick 5)', positive)
    .option('--e2e-runs <n>', 'runs per load', positiveInt, 1)
    .option('--node-flags <flags>', 'node flags of every server process, space-separated in one argument (default: sidecar/node-flags.ts, as the bin runs)')
  withMeasurement(cmd, SIGNALS_PHASES, {
    logLevel: 'MCP_LOG_LEVEL of the aggregator and the sidecar',
    noPin: 'do not pin the aggregator (and the floor) to CPU 1 and the rest to CPU 0',
    cpuProf: 'run the aggregator of one more ingest run with --cpu-prof and print where its CPU went',
    keepTmp: 'keep the temp folder (configs, logs, audit logs)',
  })
  return withReport(cmd, 'docs/benchmarks/signals.md')
}

interface Values extends MeasurementValues<SignalsPhase>, ReportValues {
  runs?: number
  duration?: number
  warmup?: number
  senders: number
  batch: number
  e2eLoads: E2eLoad[]
  e2eDuration?: number
  e2eRuns: number
  nodeFlags?: string
}

/**
 * Parses the arguments of `npm run bench:signals -- …` (durations in seconds).
 * @throws CommanderError on a bad option (naming it) or after `--help`.
 */
export function signalsOptions(argv: readonly string[] = process.argv.slice(2), output?: ProgramOutput) {
  const v = parseProgram<Values>(signalsProgram(output), argv)
  const q = v.quick
  return {
    ...measurementOptions(v),
    runs: pick(v.runs, q, 1, 3),
    durationS: pick(v.duration, q, 3, 10),
    warmupS: pick(v.warmup, q, 1, 2),
    senders: v.senders,
    batch: v.batch,
    e2eLoads: v.e2eLoads,
    e2eDurationS: pick(v.e2eDuration, q, 5, 20),
    e2eRuns: v.e2eRuns,
    /** undefined = sidecar/node-flags.ts. */
    nodeFlags: v.nodeFlags?.split(/\s+/).filter(Boolean),
  }
}

export type SignalsOptions = ReturnType<typeof signalsOptions>
