/**
 * The results of one run as a markdown page (docs/benchmarks/egress.md): machine, method,
 * every figure with its samples and spread, ratios, and pass/fail against the targets.
 */
import { machineSection, type MachineInfo } from '../harness/machine.js'
import { quietNote, type QuietSummary } from '../harness/quiet.js'
import { targetsTable, type Verdict } from '../harness/report.js'
import type { DnsLatency, DnsperfRun, RateRun } from './measure.js'
import { fmt, fmtSummary, summarize, type Summary } from './stats.js'

export type ProxyPath = 'direct' | 'squid' | 'ours'
export type DnsServer = 'dnsmasq' | 'ours'

export interface DnsResult {
  runs: DnsperfRun[]
  /** Queries the upstream received during each measured run. */
  upstreamQueries: number[]
  latSaturated?: DnsLatency
  latFixed?: DnsLatency
}

export interface Results {
  machine: MachineInfo
  params: {
    concurrency: number
    warmupS: number
    durationS: number
    runs: number
    bulkBytes: number
    bulkReps: number
    dnsSeconds: number
    dnsClients: number
    dnsNames: number
    dnsMaxQps: number | undefined
    dnsFixedQps: number
    dnsmasqCacheSize: number
    oursLogLevel: string
  }
  pinning: string
  connect: Partial<Record<ProxyPath, RateRun[]>>
  throughput: Partial<Record<ProxyPath, number[]>>
  dns: Partial<Record<DnsServer, DnsResult>>
  rss: {
    /** 2–4 s after the sidecar is ready. */
    oursIdleMiB?: number[]
    /** After 20 s without traffic: V8's memory reducer has run (it starts ~8 s after activity stops). */
    oursSettledMiB?: number[]
    oursAfterLoadMiB?: number[]
    /** 20 s after the load stopped. */
    oursAfterLoadSettledMiB?: number[]
    oursPeakMiB?: number
    squidIdleMiB?: number
    dnsmasqIdleMiB?: number
    bareNodeMiB?: number
  }
  quiet?: QuietSummary
  notes: string[]
}

const MIB_TO_MB = 1.048576

function ratio(a: Summary | undefined, b: Summary | undefined): number {
  return a && b && a.n > 0 && b.n > 0 ? a.median / b.median : NaN
}

export function verdicts(r: Results): Verdict[] {
  const rate = (p: ProxyPath) => (r.connect[p] ? summarize(r.connect[p]!.map((x) => x.rate)) : undefined)
  const tput = (p: ProxyPath) => (r.throughput[p] ? summarize(r.throughput[p]!) : undefined)
  const qps = (s: DnsServer) => (r.dns[s] ? summarize(r.dns[s]!.runs.map((x) => x.qps)) : undefined)
  const judge = (v: number, min: number) => (Number.isFinite(v) ? v >= min : undefined)
  const rr = ratio(rate('ours'), rate('squid'))
  const tr = ratio(tput('ours'), tput('direct'))
  const qr = ratio(qps('ours'), qps('dnsmasq'))
  const idle = r.rss.oursSettledMiB ? summarize(r.rss.oursSettledMiB).median * MIB_TO_MB : NaN
  return [
    { target: 'CONNECT setup rate, ours / Squid', measured: `${fmt(rr, 2)}×`, required: '≥ 1.50×', pass: judge(rr, 1.5) },
    { target: 'tunnel throughput, ours / direct', measured: `${fmt(tr * 100, 1)} %`, required: '≥ 90 %', pass: judge(tr, 0.9) },
    { target: 'DNS queries/s (cached), ours / dnsmasq', measured: `${fmt(qr, 2)}×`, required: '≥ 1.00×', pass: judge(qr, 1) },
    {
      target: 'sidecar RSS at idle',
      measured: `${fmt(idle, 1)} MB`,
      required: '≤ 60 MB',
      pass: Number.isFinite(idle) ? idle <= 60 : undefined,
    },
  ]
}

function connectTable(r: Results): string[] {
  const rows = [
    '| path | conn/s | p50 setup ms | p99 setup ms | proxy CPU (cores) | errors | upstream DNS queries per run | vs Squid |',
    '|---|---|---|---|---|---|---|---|',
  ]
  const squid = r.connect.squid ? summarize(r.connect.squid.map((x) => x.rate)) : undefined
  for (const p of ['direct', 'squid', 'ours'] as const) {
    const runs = r.connect[p]
    if (!runs) {
      rows.push(`| ${p} | not measured | | | | | | |`)
      continue
    }
    const rate = summarize(runs.map((x) => x.rate))
    const cpu = runs.every((x) => x.serverCpu !== undefined) ? fmtSummary(summarize(runs.map((x) => x.serverCpu!)), 2) : '—'
    const errors = runs.reduce((a, x) => a + x.errors, 0)
    rows.push(
      `| ${p} | ${fmtSummary(rate)} | ${fmtSummary(summarize(runs.map((x) => x.p50Ms)), 2)} | ` +
        `${fmtSummary(summarize(runs.map((x) => x.p99Ms)), 2)} | ${cpu} | ${errors} | ` +
        `${runs.map((x) => x.upstreamDnsQueries ?? 'n/a').join(', ')} | ${fmt(ratio(rate, squid), 2)}× |`,
    )
  }
  return rows
}

function throughputTable(r: Results): string[] {
  const rows = ['| path | MB/s | vs direct |', '|---|---|---|']
  const direct = r.throughput.direct ? summarize(r.throughput.direct) : undefined
  for (const p of ['direct', 'squid', 'ours'] as const) {
    const v = r.throughput[p]
    if (!v) {
      rows.push(`| ${p} | not measured | |`)
      continue
    }
    const s = summarize(v)
    rows.push(`| ${p} | ${fmtSummary(s)} | ${fmt(ratio(s, direct) * 100, 1)} % |`)
  }
  return rows
}

function dnsTable(r: Results): string[] {
  const rows = [
    `| server | queries/s | mean latency ms | p50 / p99 ms at full load | p50 / p99 ms at ${fmt(r.params.dnsFixedQps, 0)} q/s | server CPU (cores) | upstream queries per run | lost, non-NOERROR | vs dnsmasq |`,
    '|---|---|---|---|---|---|---|---|---|',
  ]
  const base = r.dns.dnsmasq ? summarize(r.dns.dnsmasq.runs.map((x) => x.qps)) : undefined
  const lat = (l: DnsLatency | undefined) =>
    l ? `${fmt(l.p50Ms, 3)} / ${fmt(l.p99Ms, 3)} (n=${l.samples.toLocaleString('en-US')})` : 'n/a'
  for (const s of ['dnsmasq', 'ours'] as const) {
    const d = r.dns[s]
    if (!d) {
      rows.push(`| ${s} | not measured | | | | | | | |`)
      continue
    }
    const q = summarize(d.runs.map((x) => x.qps))
    const cpu = d.runs.every((x) => x.serverCpu !== undefined) ? fmtSummary(summarize(d.runs.map((x) => x.serverCpu!)), 2) : '—'
    const lost = d.runs.reduce((a, x) => a + x.lost, 0)
    const other = d.runs.reduce((a, x) => a + Object.values(x.otherRcodes).reduce((b, y) => b + y, 0), 0)
    rows.push(
      `| ${s} | ${fmtSummary(q)} | ${fmtSummary(summarize(d.runs.map((x) => x.avgLatencyMs)), 3)} | ${lat(d.latSaturated)} | ` +
        `${lat(d.latFixed)} | ${cpu} | ${d.upstreamQueries.join(', ')} | ${lost}, ${other} | ${fmt(ratio(q, base), 2)}× |`,
    )
  }
  return rows
}

function rssTable(r: Results): string[] {
  const m = r.rss
  const s = (v: number[] | undefined) => (v ? fmtSummary(summarize(v), 1) : 'n/a')
  const one = (v: number | undefined) => (v === undefined ? 'n/a' : `${fmt(v, 1)} (n=1)`)
  return [
    '| process | RSS MiB 2–4 s after start | RSS MiB idle (20 s after start) | RSS MiB 2–4 s after the load | RSS MiB idle (20 s after the load) | peak RSS MiB (VmHWM) |',
    '|---|---|---|---|---|---|',
    `| ours | ${s(m.oursIdleMiB)} | ${s(m.oursSettledMiB)} | ${s(m.oursAfterLoadMiB)} | ${s(m.oursAfterLoadSettledMiB)} | ${m.oursPeakMiB === undefined ? 'n/a' : fmt(m.oursPeakMiB, 1)} |`,
    `| squid | ${one(m.squidIdleMiB)} | | | | |`,
    `| dnsmasq | ${one(m.dnsmasqIdleMiB)} | | | | |`,
    `| bare Node (\`node -e 'setInterval(…)'\`, for reference) | ${one(m.bareNodeMiB)} | | | | |`,
  ]
}

export function markdown(r: Results): string {
  const p = r.params
  const mi = r.machine
  return [
    '# Egress benchmarks: sidecar vs direct, Squid and dnsmasq',
    '',
    `Generated by \`npm run bench:egress\` (benchmarks/egress.ts) on ${mi.date}. Every figure is the`,
    'median of its samples, with (min–max, n=samples) after it. All traffic is on 127.0.0.1.',
    '',
    ...machineSection(mi, [`- CPU placement: ${r.pinning}`]),
    '## Targets',
    '',
    ...targetsTable(verdicts(r)),
    '',
    '## CONNECT setup',
    '',
    `${p.concurrency} connections in flight; each: TCP connect, \`CONNECT bench.test:<port>\`, wait for the`,
    '200, send one byte, wait for its echo; the upstream closes after the echo, the client closes on',
    'EOF ("direct": the same without a proxy). The upstream closes first so that TIME_WAIT stays with',
    'the accepting sockets and no connecting side runs short of ephemeral ports. Latency is connect()',
    `to echo; conn/s counts finished connections. ${p.runs} runs of ${p.durationS} s each after ${p.warmupS} s of unrecorded warm-up,`,
    'the three paths interleaved. p50/p99 are the median over runs of each run\'s percentile.',
    'Squid finds bench.test in its hosts_file and sends no DNS query; the sidecar resolves it through',
    'the benchmark\'s DNS server (the last column counts what reached that server).',
    '',
    ...connectTable(r),
    '',
    '## Tunnel throughput',
    '',
    `${fmt(p.bulkBytes / 2 ** 20, 0)} MiB from the upstream through the tunnel to the client, one transfer at a`,
    `time, ${p.bulkReps} transfers per path after one unrecorded; MB = 10^6 bytes.`,
    '',
    ...throughputTable(r),
    '',
    '## DNS (cached answers)',
    '',
    `dnsperf, ${p.dnsClients} clients, ${p.dnsSeconds} s per run, ${p.runs} runs per server, interleaved;`,
    `${p.dnsNames} names \`nN.bench.test A\`, each answered and cached before measuring`,
    `(dnsmasq: cache-size ${p.dnsmasqCacheSize}). Both forward to the same authoritative test server`,
    '(benchmarks/lib/auth-dns.ts, TTL 3600); its query count shows whether answers came from the cache.',
    `${p.dnsMaxQps === undefined ? 'No rate limit (-Q)' : `-Q ${p.dnsMaxQps}`}. This dnsperf prints only the mean latency,`,
    'so p50/p99 come from one more run per server with `-v` (every query\'s latency), at full load and',
    'at a fixed rate both can sustain.',
    '',
    ...dnsTable(r),
    '',
    '## Memory',
    '',
    'VmRSS from /proc/<pid>/status, sampled once a second for 3 s: 2 s after start-up (before any load),',
    'again once the sidecar has been idle for 20 s, and the same two after the load has stopped. V8 shrinks',
    'the heap of an idle process (its memory reducer starts ~8 s after the last activity), so the idle',
    'columns are the steady state and the target is judged on the first of them. The sidecar runs as',
    'shipped: the bundled `dist/mcp-hangar.mjs` (scripts/bundle.mjs) with the flags of sidecar/node-flags.ts.',
    '',
    ...rssTable(r),
    '',
    '## Notes',
    '',
    `- The sidecar runs with MCP_LOG_LEVEL=${p.oursLogLevel} (Squid: access_log none; dnsmasq: no query log).`,
    ...(r.quiet ? [quietNote(r.quiet)] : []),
    ...r.notes.map((n) => `- ${n}`),
    '',
  ].join('\n')
}
