/** Command-line options of benchmarks/signals.ts. */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from './options.js'

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

function phaseList(v: string): SignalsPhase[] {
  const out: SignalsPhase[] = []
  for (const x of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(SIGNALS_PHASES as readonly string[]).includes(x)) throw new Error(`--only: unknown phase "${x}" (phases: ${SIGNALS_PHASES.join(', ')})`)
    out.push(x as SignalsPhase)
  }
  return out
}

/** Parses `dns:1000,connect:1000`. @throws Error naming the bad entry. */
export function parseLoads(v: string): E2eLoad[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [via, rate] = entry.split(':')
      const r = Number(rate)
      if (!(DECISION_KINDS as readonly string[]).includes(via ?? '') || !Number.isInteger(r) || r <= 0) {
        throw new Error(`--e2e-loads: expected <dns|connect>:<decisions per second>, got "${entry}"`)
      }
      return { via: via as DecisionKind, rate: r }
    })
}

export const SIGNALS_HELP = `usage: npm run bench:signals -- [options]
  --quick              short runs, for trying the harness (not for the docs)
  --runs N             ingest runs per server, the aggregator and the floor interleaved (default 3)
  --duration S         recorded seconds per ingest run (default 10); --warmup S (default 2)
  --senders N          concurrent senders, each with one batch in flight (default 8)
  --batch N            signals per POST (default 500)
  --e2e-loads LIST     decision loads of the end-to-end phase (default dns:1000,dns:5000,connect:1000)
  --e2e-duration S     seconds of decisions per load (default 20); --e2e-runs N (default 1)
  --node-flags=F,…     node flags of every server process, space-separated in one argument
                       (default: sidecar/node-flags.ts, as the bin runs)
  --log-level L        MCP_LOG_LEVEL of the aggregator and the sidecar (default warn)
  --no-pin             do not pin the aggregator (and the floor) to CPU 1 and the rest to CPU 0
  --out FILE           markdown output (default docs/benchmarks/signals.md); --no-write to skip
  --quiet-cores C      other work (cores) tolerated during a measurement (default 0.05)
  --max-wait S         longest wait for a quiet machine before each measurement (default 600)
  --retries N          repeats of a measurement disturbed by other work (default 3)
  --only LIST          phases to run, of ingest,e2e (default both)
  --cpu-prof           run the aggregator of one more ingest run with --cpu-prof and print where its CPU went
  --keep-tmp           keep the temp folder (configs, logs, audit logs)`

/** Parses argv. @throws Error on a bad value. */
export function signalsOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      senders: { type: 'string', default: '8' },
      batch: { type: 'string', default: '500' },
      'e2e-loads': { type: 'string', default: 'dns:1000,dns:5000,connect:1000' },
      'e2e-duration': { type: 'string' },
      'e2e-runs': { type: 'string', default: '1' },
      'node-flags': { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      'no-pin': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(ROOT, 'docs', 'benchmarks', 'signals.md') },
      'no-write': { type: 'boolean', default: false },
      'keep-tmp': { type: 'boolean', default: false },
      'quiet-cores': { type: 'string', default: '0.05' },
      'max-wait': { type: 'string', default: '600' },
      retries: { type: 'string', default: '3' },
      only: { type: 'string', default: SIGNALS_PHASES.join(',') },
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
  const batch = Math.floor(n(values.batch, 500))
  if (batch > 1000) throw new Error('--batch: at most 1000 signals per POST (docs/signals.md §Delivery)')
  return {
    help: values.help,
    runs: Math.floor(n(values.runs, q ? 1 : 3)),
    durationS: n(values.duration, q ? 3 : 10),
    warmupS: n(values.warmup, q ? 1 : 2),
    senders: Math.floor(n(values.senders, 8)),
    batch,
    e2eLoads: parseLoads(values['e2e-loads']),
    e2eDurationS: n(values['e2e-duration'], q ? 5 : 20),
    e2eRuns: Math.floor(n(values['e2e-runs'], 1)),
    /** undefined = sidecar/node-flags.ts. */
    nodeFlags: values['node-flags']?.split(/\s+/).filter(Boolean),
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

export type SignalsOptions = ReturnType<typeof signalsOptions>
