/**
 * One measurement each: CONNECT setup rate and tunnel throughput with the C load generator,
 * DNS queries/s and latency with dnsperf. Each returns the raw numbers; spread and ratios
 * are computed by the caller.
 */
import fs from 'node:fs'
import readline from 'node:readline'
import { run, type Server } from './procs.js'
import { percentile } from './stats.js'
import { cpuSeconds } from './sysinfo.js'

/** A path measured: the proxy port plus the CONNECT target, or the upstream itself ("-"). */
export interface Path {
  name: string
  port: number
  connectTarget: string
  /** The proxy, whose CPU use is recorded, if any. */
  server?: Server
}

export interface RateRun {
  rate: number
  completed: number
  errors: number
  p50Ms: number
  p99Ms: number
  latSamples: number
  perSec: number[]
  /** CPU seconds per wall second the proxy used during the run (1 = one full core). */
  serverCpu: number | undefined
  /** Queries the benchmark's authoritative DNS received during the run (filled in by the phase). */
  upstreamDnsQueries?: number
}

interface LoadgenRate {
  rate: number
  completed: number
  errors: number
  connect_fail: number
  bad_status: number
  first_bad: string
  p50_ms: number
  p99_ms: number
  lat_samples: number
  per_sec: number[]
}

export async function connectRate(
  loadgen: string,
  p: Path,
  o: { concurrency: number; warmupS: number; durationS: number },
): Promise<RateRun> {
  const cpu0 = serverCpu(p.server)
  const t0 = process.hrtime.bigint()
  const r = await run(
    loadgen,
    ['rate', String(p.port), p.connectTarget, String(o.concurrency), String(o.warmupS), String(o.durationS)],
    { timeoutMs: (o.warmupS + o.durationS + 60) * 1000 },
  )
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  serverCpu(p.server)
  if (r.code !== 0) throw new Error(`loadgen rate against ${p.name} failed (exit ${r.code}): ${r.stderr}`)
  const j = JSON.parse(r.stdout) as LoadgenRate
  if (j.completed === 0) throw new Error(`no connection completed through ${p.name}: ${r.stdout}`)
  return {
    rate: j.rate,
    completed: j.completed,
    errors: j.errors,
    p50Ms: j.p50_ms,
    p99Ms: j.p99_ms,
    latSamples: j.lat_samples,
    perSec: j.per_sec,
    serverCpu: p.server ? (serverCpu(p.server) - cpu0) / wall : undefined,
  }
}

/** MB/s (10^6 bytes) of each transfer of `bytes` from the upstream through `p`. */
export async function tunnelThroughput(loadgen: string, p: Path, bytes: number, reps: number): Promise<number[]> {
  const r = await run(loadgen, ['bulk', String(p.port), p.connectTarget, String(bytes), String(reps)], {
    timeoutMs: 120_000,
  })
  if (r.code !== 0) throw new Error(`loadgen bulk through ${p.name} failed (exit ${r.code}): ${r.stderr}`)
  const j = JSON.parse(r.stdout) as { runs: { mb_s: number }[] }
  return j.runs.map((x) => x.mb_s)
}

export interface DnsperfRun {
  qps: number
  sent: number
  completed: number
  lost: number
  avgLatencyMs: number
  /** Response codes other than NOERROR, e.g. { NXDOMAIN: 3 }. */
  otherRcodes: Record<string, number>
  serverCpu: number | undefined
}

export interface DnsperfOptions {
  port: number
  queryFile: string
  seconds: number
  clients: number
  maxQps: number | undefined
  server?: Server
}

/** CPU seconds the server has used; a clear error if it died. */
function serverCpu(s: Server | undefined): number {
  if (!s) return 0
  if (s.exitedYet()) throw new Error(`${s.name} has exited; its log ends:\n${s.logTail()}`)
  return cpuSeconds(s.pid)
}

function dnsperfArgs(o: DnsperfOptions): string[] {
  const a = ['-s', '127.0.0.1', '-p', String(o.port), '-d', o.queryFile, '-l', String(o.seconds), '-c', String(o.clients)]
  if (o.maxQps !== undefined) a.push('-Q', String(o.maxQps))
  return a
}

function parseDnsperf(text: string): Omit<DnsperfRun, 'serverCpu'> {
  const num = (re: RegExp) => {
    const m = re.exec(text)
    if (!m) throw new Error(`dnsperf output lacks ${re}:\n${text}`)
    return Number(m[1])
  }
  const otherRcodes: Record<string, number> = {}
  const codes = /Response codes:\s+(.*)/.exec(text)?.[1] ?? ''
  for (const m of codes.matchAll(/([A-Z]+) (\d+)/g)) if (m[1] !== 'NOERROR') otherRcodes[m[1]!] = Number(m[2])
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1e3,
    otherRcodes,
  }
}

export async function dnsperf(bin: string, o: DnsperfOptions): Promise<DnsperfRun> {
  const cpu0 = serverCpu(o.server)
  const t0 = process.hrtime.bigint()
  const r = await run(bin, dnsperfArgs(o), { timeoutMs: (o.seconds + 60) * 1000 })
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  if (r.code !== 0) throw new Error(`dnsperf against :${o.port} failed (exit ${r.code}): ${r.stderr}${r.stdout}`)
  return { ...parseDnsperf(r.stdout), serverCpu: o.server ? (serverCpu(o.server) - cpu0) / wall : undefined }
}

export interface DnsLatency {
  qps: number
  samples: number
  p50Ms: number
  p99Ms: number
}

/**
 * Per-query latencies from `dnsperf -v` (this dnsperf prints only mean and stddev):
 * each answered query is a line "> NOERROR name A 0.000123". `-v` costs dnsperf some
 * throughput, so queries/s is measured in separate runs without it.
 */
export async function dnsLatency(bin: string, o: DnsperfOptions, outFile: string): Promise<DnsLatency> {
  const r = await run(bin, [...dnsperfArgs(o), '-v'], { timeoutMs: (o.seconds + 60) * 1000, stdoutFile: outFile })
  if (r.code !== 0) throw new Error(`dnsperf -v against :${o.port} failed (exit ${r.code}): ${r.stderr}`)
  const lat: number[] = []
  let summary = ''
  const rl = readline.createInterface({ input: fs.createReadStream(outFile), crlfDelay: Infinity })
  for await (const line of rl) {
    if (line.startsWith('> ')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1))
      if (Number.isFinite(v)) lat.push(v * 1e3)
    } else if (/Queries per second/.test(line)) {
      summary = line
    }
  }
  fs.rmSync(outFile, { force: true })
  lat.sort((a, b) => a - b)
  return {
    qps: Number(/([\d.]+)\s*$/.exec(summary)?.[1] ?? NaN),
    samples: lat.length,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
  }
}
