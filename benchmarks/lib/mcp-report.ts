/**
 * The results of one benchmarks/mcp-proxy.ts run, and that run as a markdown page
 * (docs/benchmarks/mcp-proxy.md): machine, method, every figure with its spread, the latency each
 * proxy adds over the direct path, throughput ratios, and pass/fail against the targets ({@link TARGETS}).
 */
import { machineSection, type MachineInfo } from '../harness/machine.js'
import { quietNote, type QuietSummary } from '../harness/quiet.js'
import { mark as markOf } from '../harness/report.js'
import type { Layout, ServerKind } from './mcp-options.js'
import type { FixedRun, McpPathName, RateRun } from './mcp-measure.js'
import { fmt, fmtSummary, summarize, type Summary } from './stats.js'

export const PATHS: readonly McpPathName[] = ['direct', 'nginx', 'relay', 'ours']

/** Targets of the MCP ingress: what the sidecar may add over the direct path. */
export const TARGETS = {
  /** Added p99 at the fixed rate, ours − direct, ms (Istio's two sidecars add 0.298 ms at p99). */
  addedP99Ms: 1,
  /** Max throughput, ours / direct. */
  throughputRatio: 0.8,
} as const

/** One upstream server in one CPU layout. */
export interface LayoutResult {
  server: ServerKind
  layout: Layout
  /** What runs where. */
  placement: string
  /** Fixed-concurrency runs, per path, per concurrency. */
  fixed: Partial<Record<McpPathName, Record<string, FixedRun[]>>>
  /** Open-loop runs at the fixed rate, per path. */
  rate: Partial<Record<McpPathName, RateRun[]>>
}

export interface McpResults {
  machine: MachineInfo
  params: {
    runs: number
    concurrency: number[]
    durationS: number
    warmupS: number
    rate: number
    rateDurationS: number
    rateConnections: number
    upstream: 'stateful' | 'stateless'
    answer: 'json' | 'sse'
    maxConcurrency: number
    oursLogLevel: string
    oursNodeFlags: string[]
  }
  /** Keyed `<server>/<layout>`. */
  scenarios: Record<string, LayoutResult>
  /** What was checked about each path before measuring, per server. */
  checks: Partial<Record<ServerKind, string[]>>
  /** RSS after the load, MiB, per server: the upstream, nginx (master + worker), the sidecar. */
  rssAfterMiB: Partial<Record<ServerKind, Partial<Record<'upstream' | 'nginx' | 'relay' | 'ours', number>>>>
  quiet?: QuietSummary
  /** The sidecar's CPU profile summary (--cpu-prof), per server, if taken. */
  profile?: Partial<Record<ServerKind, string>>
  notes: string[]
}

export interface McpVerdict {
  scenario: string
  target: string
  measured: string
  nginx: string
  /** The same figure for the bare Node relay (benchmarks/servers/mcp-node-relay.mjs). */
  relay?: string
  required: string
  pass: boolean | undefined
}

const med = (xs: number[]): Summary => summarize(xs)

function errorsOf(runs: { errors: number }[] | undefined): number {
  return (runs ?? []).reduce((a, r) => a + r.errors, 0)
}

/** Median over runs of each run's p50/p99 at the fixed rate, ms. */
export function rateLatency(l: LayoutResult, p: McpPathName): { p50: Summary; p99: Summary; p999: Summary } | undefined {
  const runs = l.rate[p]
  if (!runs?.length) return undefined
  return {
    p50: med(runs.map((r) => r.latencyMs.p50)),
    p99: med(runs.map((r) => r.latencyMs.p99)),
    p999: med(runs.map((r) => r.latencyMs.p999)),
  }
}

/** The highest median rate over the concurrency levels measured, and at which level. */
export function maxThroughput(l: LayoutResult, p: McpPathName): { rate: number; concurrency: string } | undefined {
  const byC = l.fixed[p]
  if (!byC) return undefined
  let best: { rate: number; concurrency: string } | undefined
  for (const [c, runs] of Object.entries(byC)) {
    const m = med(runs.map((r) => r.rate)).median
    if (!best || m > best.rate) best = { rate: m, concurrency: c }
  }
  return best
}

function invalid(l: LayoutResult, p: McpPathName): boolean {
  return errorsOf(l.rate[p]) > 0 || Object.values(l.fixed[p] ?? {}).some((runs) => errorsOf(runs) > 0)
}

export function verdicts(r: McpResults): McpVerdict[] {
  const out: McpVerdict[] = []
  for (const [name, l] of Object.entries(r.scenarios)) {
    const d = rateLatency(l, 'direct')
    const added = (p: McpPathName) => {
      const x = rateLatency(l, p)
      return x && d ? x.p99.median - d.p99.median : NaN
    }
    const ratio = (p: McpPathName) => {
      const x = maxThroughput(l, p)
      const base = maxThroughput(l, 'direct')
      return x && base ? x.rate / base.rate : NaN
    }
    const bad = invalid(l, 'ours') || invalid(l, 'direct')
    const a = added('ours')
    const t = ratio('ours')
    out.push({
      scenario: name,
      target: `added p99 at ${fmt(r.params.rate, 0)} req/s, ours − direct`,
      measured: `${fmt(a, 3)} ms`,
      nginx: `${fmt(added('nginx'), 3)} ms`,
      relay: `${fmt(added('relay'), 3)} ms`,
      required: `≤ ${TARGETS.addedP99Ms} ms`,
      pass: bad || !Number.isFinite(a) ? undefined : a <= TARGETS.addedP99Ms,
    })
    out.push({
      scenario: name,
      target: 'max throughput, ours / direct',
      measured: `${fmt(t * 100, 1)} %`,
      nginx: `${fmt(ratio('nginx') * 100, 1)} %`,
      relay: `${fmt(ratio('relay') * 100, 1)} %`,
      required: `≥ ${TARGETS.throughputRatio * 100} %`,
      pass: bad || !Number.isFinite(t) ? undefined : t >= TARGETS.throughputRatio,
    })
  }
  return out
}

const mark = (p: boolean | undefined) => markOf(p, 'not judged (not measured or had errors)')
const cpuCell = (xs: (number | undefined)[]) => (xs.every((x) => x !== undefined) && xs.length ? fmtSummary(med(xs as number[]), 2) : '—')
const signed = (v: number, d = 3) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${fmt(v, d)}` : 'n/a')

function fixedTable(l: LayoutResult, concurrency: number[]): string[] {
  const rows = [
    '| path | connections | req/s | p50 ms | p99 ms | p99.9 ms | added p50 / p99 ms | vs direct | proxy CPU (cores) | upstream CPU (cores) | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const c of concurrency.map(String)) {
    const base = l.fixed.direct?.[c]
    for (const p of PATHS) {
      const runs = l.fixed[p]?.[c]
      if (!runs?.length) {
        rows.push(`| ${p} | ${c} | not measured | | | | | | | | |`)
        continue
      }
      const rate = med(runs.map((x) => x.rate))
      const p50 = med(runs.map((x) => x.p50Ms))
      const p99 = med(runs.map((x) => x.p99Ms))
      const d50 = base ? p50.median - med(base.map((x) => x.p50Ms)).median : NaN
      const d99 = base ? p99.median - med(base.map((x) => x.p99Ms)).median : NaN
      const ratio = base ? rate.median / med(base.map((x) => x.rate)).median : NaN
      rows.push(
        `| ${p} | ${c} | ${fmtSummary(rate)} | ${fmtSummary(p50, 2)} | ${fmtSummary(p99, 2)} | ${fmtSummary(med(runs.map((x) => x.p999Ms)), 2)} | ` +
          `${p === 'direct' ? '—' : `${signed(d50, 2)} / ${signed(d99, 2)}`} | ${fmt(ratio * 100, 1)} % | ${cpuCell(runs.map((x) => x.proxyCpu))} | ` +
          `${cpuCell(runs.map((x) => x.upstreamCpu))} | ${errorsOf(runs)} |`,
      )
    }
  }
  return rows
}

function rateTable(l: LayoutResult): string[] {
  const rows = [
    '| path | answered/s | p50 ms | p99 ms | p99.9 ms | max ms | added p50 / p99 ms | service p50 / p99 ms | generator lag p99 ms | proxy CPU (cores) | upstream CPU (cores) | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  const d = rateLatency(l, 'direct')
  for (const p of PATHS) {
    const runs = l.rate[p]
    if (!runs?.length) {
      rows.push(`| ${p} | not measured | | | | | | | | | | |`)
      continue
    }
    const x = rateLatency(l, p)!
    const added = d ? `${signed(x.p50.median - d.p50.median)} / ${signed(x.p99.median - d.p99.median)}` : 'n/a'
    rows.push(
      `| ${p} | ${fmtSummary(med(runs.map((r) => r.achievedRate)), 0)} | ${fmtSummary(x.p50, 3)} | ${fmtSummary(x.p99, 3)} | ${fmtSummary(x.p999, 2)} | ` +
        `${fmtSummary(med(runs.map((r) => r.latencyMs.max)), 1)} | ${p === 'direct' ? '—' : added} | ` +
        `${fmt(med(runs.map((r) => r.serviceMs.p50)).median, 3)} / ${fmt(med(runs.map((r) => r.serviceMs.p99)).median, 3)} | ` +
        `${fmt(med(runs.map((r) => r.lagMs.p99)).median, 3)} | ${cpuCell(runs.map((r) => r.proxyCpu))} | ${cpuCell(runs.map((r) => r.upstreamCpu))} | ${errorsOf(runs)} |`,
    )
  }
  return rows
}

export function markdown(r: McpResults): string {
  const p = r.params
  const mi = r.machine
  const v = verdicts(r)
  const sections: string[] = []
  for (const [name, l] of Object.entries(r.scenarios)) {
    sections.push(
      `## \`${name}\`: ${l.server === 'sdk' ? 'the SDK server' : 'the minimal server'}, layout \`${l.layout}\``,
      '',
      `CPU placement: ${l.placement}.`,
      '',
      `### Fixed concurrency (closed loop, wrk)`,
      '',
      ...fixedTable(l, p.concurrency),
      '',
      `### ${fmt(p.rate, 0)} req/s (open loop)`,
      '',
      ...rateTable(l),
      '',
    )
  }
  return [
    '# MCP proxy benchmark: sidecar vs direct and nginx',
    '',
    `Generated by \`npm run bench:mcp\` (benchmarks/mcp-proxy.ts) on ${mi.date}. Every figure is the`,
    'median of its runs, with (min–max, n=runs) after it; "added" is the path\'s median minus the direct',
    "path's median. All traffic is on 127.0.0.1.",
    '',
    ...machineSection(mi),
    '## Targets',
    '',
    '| server/layout | target | ours | nginx (peer, for reference) | bare Node relay (floor of any Node proxy) | required | result |',
    '|---|---|---|---|---|---|---|',
    ...v.map((x) => `| ${x.scenario} | ${x.target} | ${x.measured} | ${x.nginx} | ${x.relay ?? 'n/a'} | ${x.required} | ${mark(x.pass)} |`),
    '',
    'For scale: Istio reports 0.298 ms added at p99 for its two sidecars (client and server side) at',
    '1000 req/s; it gives each proxy its own CPUs, as the `split` layout does.',
    '',
    '## Method',
    '',
    `- **Upstream \`sdk\`**: benchmarks/servers/mcp-trivial.mjs, the MCP TypeScript SDK's own McpServer and`,
    `  StreamableHTTPServerTransport on node:http, one tool \`echo\`; ${p.upstream === 'stateful' ? 'stateful (one session per client, Mcp-Session-Id)' : 'stateless (a new SDK server and transport per request, no session)'},`,
    `  answering each POST with ${p.answer === 'sse' ? 'an SSE stream carrying the one response (the SDK default)' : 'a JSON body'}. What most MCP servers run; it`,
    '  allocates over 100 KB per call and pauses for garbage collection (5–16 ms) several times a second',
    '  at 1000 req/s, so its own p99 is tens of ms.',
    '- **Upstream `minimal`**: benchmarks/servers/mcp-minimal.mjs, the same tool with Streamable HTTP',
    '  written out by hand (sessions, JSON answers), no SDK: a flat tail, so that what a proxy adds at',
    '  p99 is not lost in the upstream\'s own pauses.',
    '- Each server process serves all four paths of its scenarios.',
    '- **Paths**: `direct` (the server itself); `nginx` (Debian package, one worker, keep-alive to the',
    '  upstream, proxy_buffering off, no access log: benchmarks/configs/nginx-mcp.conf.tmpl); `relay`',
    '  (benchmarks/servers/mcp-node-relay.mjs: node:http in front, an undici Pool behind, the MCP headers',
    '  passed, nothing checked or parsed: what any MCP proxy written for Node costs at least); `ours`',
    '  (`node dist/mcp-hangar.mjs sidecar --no-egress`, the bundled CLI with the flags of',
    `  sidecar/node-flags.ts, mode remote, block mode with \`allow_list: [echo]\`, \`expected_tools: [echo]\`, every`,
    `  secret detector, max_payload_bytes and the inputSchema check on; max_concurrency ${p.maxConcurrency} so the limiter`,
    `  never queues; MCP_LOG_LEVEL=${p.oursLogLevel}: benchmarks/configs/mcp-hangar.yaml.tmpl).`,
    `- **Requests**: \`tools/call\` of \`echo\` with \`{"text": "hangar-bench"}\`, each with a unique id, with`,
    '  Content-Type, Accept (both media types), MCP-Protocol-Version 2025-11-25 and, for a stateful',
    '  upstream, the Mcp-Session-Id of a session opened through that same path (initialize +',
    '  notifications/initialized). Every answer is checked (HTTP 200, a JSON-RPC result carrying the',
    '  echoed text; the open-loop generator also checks the id); a run with any error is invalid.',
    `- **Fixed concurrency**: wrk (Debian), one thread, ${p.concurrency.join(' and ')} connections, ${p.durationS} s recorded after`,
    `  ${p.warmupS} s of unrecorded warm-up (a separate wrk run), closed loop; benchmarks/lib/mcp-wrk.lua.`,
    `  "max throughput" is a path's best median req/s over the connection counts.`,
    `- **Fixed rate**: ${fmt(p.rate, 0)} req/s open loop (benchmarks/lib/mcp-load.ts, undici Pool of up to`,
    `  ${p.rateConnections} connections): each request starts at its scheduled time whatever the earlier ones`,
    '  are doing, and latency is measured from the scheduled time, so a stall is not hidden by',
    `  coordinated omission. ${p.rateDurationS} s recorded after ${p.warmupS} s at the same rate. "service" is measured`,
    "  from the moment the request left; \"generator lag\" is the generator's own delay (Node timers",
    '  have 1 ms resolution), part of every path alike.',
    `- ${p.runs} runs per path and load, the paths interleaved and their order rotated from run to run;`,
    '  each measurement waits for a quiet machine and is repeated if other work ran meanwhile',
    '  (benchmarks/harness/quiet.ts). CPU is each process tree\'s user+system time over the run\'s wall time.',
    '- Checked through every path before measuring, per server:',
    ...Object.entries(r.checks).flatMap(([srv, cs]) => cs.map((c) => `  - ${srv}: ${c}`)),
    '',
    ...sections,
    '## Memory after the load',
    '',
    ...Object.entries(r.rssAfterMiB).map(
      ([srv, m]) =>
        `- ${srv}: ` +
        (['upstream', 'nginx', 'relay', 'ours'] as const)
          .filter((x) => m[x] !== undefined)
          .map((x) => `${x} ${fmt(m[x]!, 1)} MiB${x === 'nginx' ? ' (master + worker)' : ''}`)
          .join(', ') +
        ' RSS',
    ),
    '',
    '## Notes',
    '',
    ...(r.quiet ? [quietNote(r.quiet)] : []),
    ...r.notes.map((n) => `- ${n}`),
    ...Object.entries(r.profile ?? {}).flatMap(([srv, prof]) => ['', `## Where the sidecar spends its CPU (--cpu-prof, ${srv} server)`, '', '```', prof, '```']),
    '',
  ].join('\n')
}
