/** Command-line options of benchmarks/egress.ts: its own, on the harness's program and groups. */
import type { Command } from 'commander'
import { benchProgram, measurementOptions, parseProgram, pick, positive, positiveInt, withMeasurement, withReport, type MeasurementValues, type ProgramOutput, type ReportValues } from '../harness/options.js'

export const PHASES = ['connect', 'throughput', 'dns'] as const
export type Phase = (typeof PHASES)[number]

/** The program of `npm run bench:egress`, with every option. */
export function egressProgram(output?: ProgramOutput): Command {
  const cmd = benchProgram('bench:egress', 'Egress benchmark: CONNECT, tunnel throughput and DNS of the sidecar vs direct, Squid and dnsmasq.', output)
    .option('--runs <n>', 'runs per path for rates and DNS (default 3; --quick 1)', positiveInt)
    .option('--duration <s>', 'recorded seconds per CONNECT run (default 5; --quick 2)', positive)
    .option('--warmup <s>', 'unrecorded seconds before each CONNECT run (default 1; --quick 0.5)', positive)
    .option('--concurrency <n>', 'CONNECT connections in flight', positiveInt, 32)
    .option('--bulk-reps <n>', 'transfers per path (default 7; --quick 5)', positiveInt)
    .option('--bulk-mib <n>', 'MiB per transfer', positive, 64)
    .option('--dns-seconds <s>', 'seconds per dnsperf run (default 10; --quick 3)', positive)
    .option('--dns-clients <n>', 'dnsperf clients', positiveInt, 4)
    .option('--dns-max-qps <n>', 'dnsperf -Q (default: none)', positive)
    .option('--dns-fixed-qps <n>', 'queries/s of the latency run at a fixed rate', positive, 10000)
    .option('--dns-names <n>', 'distinct names queried', positiveInt, 100)
    .option('--skip-ours', 'measure only direct, Squid and dnsmasq (before the sidecar builds)')
  withMeasurement(cmd, PHASES, {
    logLevel: 'sidecar MCP_LOG_LEVEL',
    noPin: 'do not pin the server under test to CPU 1 and the load to CPU 0',
    cpuProf: 'run the sidecar with --cpu-prof and print where its CPU went',
    keepTmp: 'keep the temp folder (configs, logs)',
  })
  return withReport(cmd, 'docs/benchmarks/egress.md')
}

interface Values extends MeasurementValues<Phase>, ReportValues {
  runs?: number
  duration?: number
  warmup?: number
  concurrency: number
  bulkReps?: number
  bulkMib: number
  dnsSeconds?: number
  dnsClients: number
  dnsMaxQps?: number
  dnsFixedQps: number
  dnsNames: number
  skipOurs?: boolean
}

/**
 * Parses the arguments of `npm run bench:egress -- …` (durations in seconds, sizes in bytes).
 * @throws CommanderError on a bad option (naming it) or after `--help`.
 */
export function options(argv: readonly string[] = process.argv.slice(2), output?: ProgramOutput) {
  const v = parseProgram<Values>(egressProgram(output), argv)
  const q = v.quick
  return {
    ...measurementOptions(v),
    runs: pick(v.runs, q, 1, 3),
    durationS: pick(v.duration, q, 2, 5),
    warmupS: pick(v.warmup, q, 0.5, 1),
    concurrency: v.concurrency,
    bulkReps: pick(v.bulkReps, q, 5, 7),
    bulkBytes: v.bulkMib * 2 ** 20,
    dnsSeconds: pick(v.dnsSeconds, q, 3, 10),
    latencySeconds: q ? 2 : 5,
    dnsClients: v.dnsClients,
    dnsMaxQps: v.dnsMaxQps,
    dnsFixedQps: v.dnsFixedQps,
    dnsNames: v.dnsNames,
    skipOurs: v.skipOurs === true,
  }
}

export type Options = ReturnType<typeof options>
