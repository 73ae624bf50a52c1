/**
 * The results of one signals benchmark run as a markdown page (docs/benchmarks/signals.md):
 * machine, method, every figure with its samples and spread, the ratio to the floor, data
 * integrity, and pass/fail against the targets ({@link TARGETS}).
 */
import { machineSection, type MachineInfo } from '../harness/machine.js'
import { quietNote, type QuietSummary } from '../harness/quiet.js'
import { targetsTable, type Verdict } from '../harness/report.js'
import type { SignalsOptions } from './signals-options.js'
import type { E2eRun } from './signals-e2e.js'
import type { IngestRun } from './signals-load.js'
import { fmt, fmtSummary, summarize } from './stats.js'

/** The signal pipeline's targets: ingest ≥ 20,000 signals/s (batches of 500); decision → audit log p99 ≤ 1.5 s. */
export const TARGETS = { ingestPerS: 20_000, e2eP99Ms: 1500 } as const

export type IngestServerName = 'ours' | 'floor'

export interface SignalsResults {
  machine: MachineInfo
  params: Pick<SignalsOptions, 'runs' | 'durationS' | 'warmupS' | 'senders' | 'batch' | 'e2eDurationS' | 'e2eRuns' | 'logLevel'> & {
    e2eLoads: string[]
    batchBytes: number
    nodeFlags: readonly string[]
  }
  pinning: { ingest: string; e2e: string }
  ingest: Partial<Record<IngestServerName, IngestRun[]>>
  e2e: E2eRun[]
  /** `--cpu-prof`: the summary of the aggregator's profile under ingest load. */
  profile?: string
  quiet?: QuietSummary
  notes: string[]
}

/** True when every signal a server acknowledged is in its output exactly once and nothing failed. */
export function ingestIntact(r: IngestRun): boolean {
  return r.errors === 0 && r.duplicates === 0 && r.rejected === 0 && r.audit !== undefined &&
    r.audit.corrupt === 0 && r.audit.lines === r.acceptedTotal && r.audit.uniqueIds === r.acceptedTotal && r.acceptedTotal === r.sentTotal
}

/** True when every refused decision reached the stream and the audit log exactly once. */
export function e2eIntact(r: E2eRun): boolean {
  return r.unexpected === 0 && r.missing === 0 && r.duplicates === 0 && r.audit.more === 0 && r.audit.never === 0 &&
    r.audit.once === r.delivered + r.extra
}

const rateOf = (runs: IngestRun[] | undefined) => (runs?.length ? summarize(runs.map((x) => x.rate)) : undefined)

export function verdicts(r: SignalsResults): Verdict[] {
  const ours = rateOf(r.ingest.ours)
  const out: Verdict[] = [
    {
      target: 'ingest, signals/s (batches of 500)',
      measured: ours ? fmt(ours.median, 0) : 'n/a',
      required: `≥ ${fmt(TARGETS.ingestPerS, 0)}`,
      pass: ours ? ours.median >= TARGETS.ingestPerS : undefined,
    },
  ]
  for (const e of r.e2e) {
    out.push({
      target: `decision → audit log p99, ${e.via} at ${fmt(e.rate, 0)}/s`,
      measured: `${fmt(e.p99Ms, 0)} ms`,
      required: `≤ ${fmt(TARGETS.e2eP99Ms, 0)} ms`,
      pass: Number.isFinite(e.p99Ms) ? e.p99Ms <= TARGETS.e2eP99Ms : undefined,
    })
  }
  const runs = [...(r.ingest.ours ?? []), ...(r.ingest.floor ?? [])]
  if (runs.length || r.e2e.length) {
    const bad = runs.filter((x) => !ingestIntact(x)).length + r.e2e.filter((x) => !e2eIntact(x)).length
    out.push({
      target: 'no signal lost or doubled (every run)',
      measured: bad ? `${bad} run(s) with a gap or a duplicate` : 'all intact',
      required: 'all intact',
      pass: bad === 0,
    })
  }
  return out
}

function ingestTable(r: SignalsResults): string[] {
  const rows = [
    '| server | signals/s | batch p50 ms | batch p99 ms | batch max ms | server CPU (cores) | signals/s per core | acknowledged = lines = distinct ids | errors | vs floor |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  const floor = rateOf(r.ingest.floor)
  const label: Record<IngestServerName, string> = { ours: 'aggregator (ours)', floor: 'floor (bare node:http + fdatasync)' }
  for (const name of ['floor', 'ours'] as const) {
    const runs = r.ingest[name]
    if (!runs?.length) {
      rows.push(`| ${label[name]} | not measured | | | | | | | | |`)
      continue
    }
    const rate = summarize(runs.map((x) => x.rate))
    const cpuOk = runs.every((x) => x.serverCpu !== undefined)
    const cpu = cpuOk ? fmtSummary(summarize(runs.map((x) => x.serverCpu!)), 2) : '—'
    const perCore = cpuOk ? fmtSummary(summarize(runs.map((x) => x.rate / x.serverCpu!))) : '—'
    const intact = runs
      .map((x) => (ingestIntact(x) ? `yes (${x.acceptedTotal.toLocaleString('en-US')})` : `**no** (${x.acceptedTotal} acked of ${x.sentTotal} sent, ${x.audit?.lines ?? '?'} lines, ${x.audit?.uniqueIds ?? '?'} ids)`))
      .join(', ')
    const errors = runs.reduce((a, x) => a + x.errors, 0)
    rows.push(
      `| ${label[name]} | ${fmtSummary(rate)} | ${fmtSummary(summarize(runs.map((x) => x.p50Ms)), 1)} | ` +
        `${fmtSummary(summarize(runs.map((x) => x.p99Ms)), 1)} | ${fmtSummary(summarize(runs.map((x) => x.maxMs)), 1)} | ${cpu} | ${perCore} | ${intact} | ${errors} | ` +
        `${floor ? `${fmt(rate.median / floor.median, 2)}×` : 'n/a'} |`,
    )
  }
  return rows
}

function e2eTable(r: SignalsResults): string[] {
  const rows = [
    '| decisions | sent/s | refused | streamed once | missing | duplicates | p50 ms | p99 ms | max ms | p99 ms from the refusal | last decision → last signal ms | sidecar CPU | aggregator CPU | audit log: once / more / never |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  const cores = (x: number | undefined) => (x === undefined ? '—' : fmt(x, 2))
  const n = (x: number) => x.toLocaleString('en-US')
  for (const e of r.e2e) {
    rows.push(
      `| ${e.via} × ${n(e.decisions)} at ${fmt(e.rate, 0)}/s | ${fmt(e.sentRate, 0)} | ${n(e.denied)}${e.unexpected ? ` (+${n(e.unexpected)} unexpected)` : ''} | ` +
        `${n(e.delivered)}${e.extra ? ` (+${n(e.extra)} unanswered)` : ''} | ${n(e.missing)} | ${n(e.duplicates)} | ${fmt(e.p50Ms, 1)} | ${fmt(e.p99Ms, 1)} | ${fmt(e.maxMs, 1)} | ` +
        `${fmt(e.p99FromAnswerMs, 1)} | ${fmt(e.drainMs, 0)} | ${cores(e.sidecarCpu)} | ${cores(e.aggregatorCpu)} | ` +
        `${n(e.audit.once)} / ${n(e.audit.more)} / ${n(e.audit.never)} |`,
    )
  }
  return rows
}

export function markdown(r: SignalsResults): string {
  const p = r.params
  const mi = r.machine
  return [
    '# Signals benchmarks: aggregator ingest and decision → audit log',
    '',
    `Generated by \`npm run bench:signals\` (benchmarks/signals.ts) on ${mi.date}. Every figure is the`,
    'median of its samples, with (min–max, n=samples) after it. All traffic is on 127.0.0.1; the',
    'audit logs and the floor\'s file are on the machine\'s disk (ext4 in the run\'s temp folder), so',
    'every fsync is real.',
    '',
    ...machineSection(mi, [
      `- Node flags of every server process: ${p.nodeFlags.length ? p.nodeFlags.map((f) => `\`${f}\``).join(' ') : 'none'} (sidecar/node-flags.ts, the \`mcp-hangar\` shebang)`,
      `- CPU placement, ingest: ${r.pinning.ingest}`,
      `- CPU placement, end to end: ${r.pinning.e2e}`,
    ]),
    '## Targets',
    '',
    ...targetsTable(verdicts(r)),
    '',
    '## Ingest: POST /v1/signals',
    '',
    `The real aggregator (\`node dist/mcp-hangar.mjs aggregator -c hangar.yaml\`, a fresh data dir per run) and,`,
    'side by side, the **floor**: a bare `node:http` server (benchmarks/lib/signals-floor.ts) that does',
    'only the durable part of the same work — bearer check, read the body, `JSON.parse`, one',
    '`JSON.stringify` line per signal, append, `fdatasync`, then 202 — with no validation, dedup,',
    'index, group commit, rotation or metrics. "vs floor" is the ratio of the medians.',
    '',
    `${p.senders} closed-loop senders (undici, one batch in flight each, like ${p.senders} sidecars), each POSTing`,
    `\`{signals: [${p.batch} valid signals]}\` (${fmt(p.batchBytes / 1024, 0)} KiB; a mix of egress, DNS and tool`,
    'violations and observations built with signals/build.ts, every id a fresh UUIDv7) with the signal token.',
    `${p.runs} runs per server of ${p.durationS} s recorded after ${p.warmupS} s of warm-up, the two servers interleaved and`,
    'their order alternated. signals/s counts the `accepted` of the 202s that arrived in the recorded window;',
    'batch latency is POST → 202 (the aggregator answers only after the batch is fsynced).',
    'After each run every line the server wrote is parsed: the signals it acknowledged (warm-up included),',
    'the lines and the distinct ids must be equal, or the run is invalid.',
    '',
    ...ingestTable(r),
    '',
    'A server below one core of CPU is bounded by the load (the senders\' batches in flight and the fsync',
    'latency), not by its own work; "signals/s per core" compares the work per signal either way.',
    '',
    '## End to end: decision → audit log',
    '',
    'The real sidecar (`node dist/mcp-hangar.mjs egress -c hangar.yaml --provider bench`, `aggregator.url`',
    'set: its signals go through the durable spool and the shipper) and the real aggregator. The runner makes',
    'denied decisions at a fixed rate (open loop), each for a host of its own (`n<i>.<run>.denied.test`):',
    'a DNS query to the sidecar\'s DNS listener (answered NXDOMAIN, a `dns_denied` signal) or a',
    '`CONNECT host:443` to its forward proxy (answered 403, an `egress_denied` signal); denials are never',
    'sampled. It reads `GET /v1/signals/stream` (SSE, admin token), which carries a signal only after its',
    'batch is appended to the audit log and fsynced. Latency = arrival on the stream − the moment the',
    'query was sent (an upper bound: it includes the query\'s round trip; "from the refusal" starts when the',
    `refusal reached the runner). ${p.e2eDurationS} s per load, ${p.e2eRuns} run(s) each, after a 2 s unrecorded warm-up at the same rate.`,
    'Afterwards the audit log is read: every refused decision must be in it exactly once.',
    '',
    ...e2eTable(r),
    '',
    'The sidecar ships a batch when it holds 1000 signals or 250 ms after its oldest signal (sidecar/control-plane.ts',
    '`lingerMs`), one batch in flight; at low rates the linger dominates the latency.',
    '',
    ...(r.profile
      ? [
          '## Where the aggregator\'s CPU goes (ingest, --cpu-prof)',
          '',
          'One more aggregator ingest run, unrecorded, under `node --cpu-prof`; locations through dist/mcp-hangar.mjs.map.',
          '',
          '```',
          r.profile,
          '```',
          '',
        ]
      : []),
    '## How to run',
    '',
    '```',
    'npm run build            # the benchmark runs dist/mcp-hangar.mjs',
    'npm run bench:signals    # node --import ./benchmarks/register.mjs benchmarks/signals.ts',
    'npm run bench:signals -- --help',
    '```',
    '',
    'Writes this page and benchmarks/results/signals-<date>.json. Needs taskset (util-linux) for pinning.',
    '',
    '## Notes',
    '',
    `- Servers run with MCP_LOG_LEVEL=${p.logLevel}.`,
    ...(r.quiet ? [quietNote(r.quiet)] : []),
    ...r.notes.map((n) => `- ${n}`),
    '',
  ].join('\n')
}
