/** Command-line options of benchmarks/egress.ts. */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export const PHASES = ['connect', 'throughput', 'dns'] as const
export type Phase = (typeof PHASES)[number]

function phaseList(v: string): Phase[] {
  const out: Phase[] = []
  for (const x of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(PHASES as readonly string[]).includes(x)) throw new Error(`--only: unknown phase "${x}" (phases: ${PHASES.join(', ')})`)
    out.push(x as Phase)
  }
  return out
}

export const HELP = `usage: npm run bench:egress -- [options]
  --quick              short runs, for trying the harness (not for the docs)
  --runs N             runs per path for rates and DNS (default 3)
  --duration S         recorded seconds per CONNECT run (default 5); --warmup S (default 1)
  --concurrency N      CONNECT connections in flight (default 32)
  --bulk-reps N        64 MiB transfers per path (default 7); --bulk-mib N (default 64)
  --dns-seconds S      seconds per dnsperf run (default 10); --dns-clients N (default 4)
  --dns-max-qps N      dnsperf -Q (default: none); --dns-fixed-qps N (latency run, default 10000)
  --skip-ours          measure only direct, Squid and dnsmasq (before the sidecar builds)
  --log-level L        sidecar MCP_LOG_LEVEL (default warn)
  --no-pin             do not pin the server under test to CPU 1 and the load to CPU 0
  --out FILE           markdown output (default docs/benchmarks/egress.md); --no-write to skip
  --quiet-cores C      other work (cores) tolerated during a measurement (default 0.05)
  --max-wait S         longest wait for a quiet machine before each measurement (default 600)
  --retries N          repeats of a measurement disturbed by other work (default 3)
  --only LIST          phases to run, of connect,throughput,dns (default all)
  --cpu-prof           run the sidecar with --cpu-prof and print where its CPU went
  --keep-tmp           keep the temp folder (configs, logs)`

export function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string', default: '32' },
      'bulk-reps': { type: 'string' },
      'bulk-mib': { type: 'string', default: '64' },
      'dns-seconds': { type: 'string' },
      'dns-clients': { type: 'string', default: '4' },
      'dns-max-qps': { type: 'string' },
      'dns-fixed-qps': { type: 'string', default: '10000' },
      'dns-names': { type: 'string', default: '100' },
      'skip-ours': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
      'no-pin': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(ROOT, 'docs', 'benchmarks', 'egress.md') },
      'no-write': { type: 'boolean', default: false },
      'keep-tmp': { type: 'boolean', default: false },
      'quiet-cores': { type: 'string', default: '0.05' },
      'max-wait': { type: 'string', default: '600' },
      retries: { type: 'string', default: '3' },
      only: { type: 'string', default: 'connect,throughput,dns' },
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
  return {
    help: values.help,
    runs: n(values.runs, q ? 1 : 3),
    durationS: n(values.duration, q ? 2 : 5),
    warmupS: n(values.warmup, q ? 0.5 : 1),
    concurrency: n(values.concurrency, 32),
    bulkReps: n(values['bulk-reps'], q ? 5 : 7),
    bulkBytes: n(values['bulk-mib'], 64) * 2 ** 20,
    dnsSeconds: n(values['dns-seconds'], q ? 3 : 10),
    latencySeconds: q ? 2 : 5,
    dnsClients: n(values['dns-clients'], 4),
    dnsMaxQps: values['dns-max-qps'] === undefined ? undefined : n(values['dns-max-qps'], 0),
    dnsFixedQps: n(values['dns-fixed-qps'], 10000),
    dnsNames: n(values['dns-names'], 100),
    skipOurs: values['skip-ours'],
    logLevel: values['log-level'],
    pin: !values['no-pin'],
    out: values['no-write'] ? undefined : values.out,
    keepTmp: values['keep-tmp'],
    quietCores: n(values['quiet-cores'], 0.05),
    maxWaitS: n(values['max-wait'], 600),
    retries: Math.floor(Number(values.retries)),
    phases: new Set(phaseList(values.only)),
    cpuProf: values['cpu-prof'],
  }
}

export type Options = ReturnType<typeof options>
