/**
 * The three measured phases. Paths and servers are interleaved and their order rotated from
 * run to run, so a slow drift of the machine spreads over all of them alike; every
 * measurement runs under the QuietGuard.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { AuthDns } from './auth-dns.js'
import { queryA } from './dns-client.js'
import { connectRate, dnsLatency, dnsperf, tunnelThroughput, type Path } from './measure.js'
import type { Options } from './egress-options.js'
import type { Server } from './procs.js'
import type { QuietGuard } from '../harness/quiet.js'
import type { DnsServer, ProxyPath, Results } from './report.js'
import { BENCH_HOST } from './targets.js'

export interface PhaseContext {
  o: Options
  results: Results
  guard: QuietGuard
  log: (m: string) => void
  loadgen: string
  auth: AuthDns
  /** The C upstream: checked after every measurement. */
  upstream: Server
}

function upstreamAlive(c: PhaseContext): void {
  if (c.upstream.exitedYet()) throw new Error(`the upstream has exited; its log ends:\n${c.upstream.logTail()}`)
}

function rotate<T>(xs: readonly T[], k: number): T[] {
  return xs.map((_, i) => xs[(i + k) % xs.length]!)
}

/** (1) CONNECT setup rate and latency. */
export async function connectPhase(c: PhaseContext, paths: Path[]): Promise<void> {
  for (let i = 0; i < c.o.runs; i++) {
    for (const p of rotate(paths, i)) {
      let before = 0
      const r = await c.guard.measure(`connect ${p.name}`, () => {
        before = c.auth.queries()
        return connectRate(c.loadgen, p, c.o)
      })
      r.upstreamDnsQueries = c.auth.queries() - before
      upstreamAlive(c)
      ;(c.results.connect[p.name as ProxyPath] ??= []).push(r)
      c.log(
        `connect ${p.name} run ${i + 1}: ${r.rate.toFixed(0)} conn/s p50 ${r.p50Ms.toFixed(2)} ms ` +
          `p99 ${r.p99Ms.toFixed(2)} ms errors ${r.errors}` +
          (r.serverCpu !== undefined ? ` proxy CPU ${r.serverCpu.toFixed(2)}` : ''),
      )
    }
  }
}

/** (2) Tunnel throughput: one unrecorded transfer per path, then interleaved rounds. */
export async function throughputPhase(c: PhaseContext, paths: Path[]): Promise<void> {
  for (const p of paths) await tunnelThroughput(c.loadgen, p, c.o.bulkBytes, 1)
  for (let i = 0; i < c.o.bulkReps; i++) {
    // One guarded measurement per round of all paths: a single transfer is too short for
    // /proc/stat's 10 ms ticks to tell whether other work ran meanwhile.
    const round = await c.guard.measure(`throughput round ${i + 1}`, async () => {
      const out: [ProxyPath, number][] = []
      for (const p of rotate(paths, i)) {
        const [mbs] = await tunnelThroughput(c.loadgen, p, c.o.bulkBytes, 1)
        out.push([p.name as ProxyPath, mbs!])
      }
      return out
    })
    upstreamAlive(c)
    for (const [name, mbs] of round) (c.results.throughput[name] ??= []).push(mbs)
  }
  for (const p of paths) {
    c.log(`throughput ${p.name}: ${c.results.throughput[p.name as ProxyPath]!.map((x) => x.toFixed(0)).join(' ')} MB/s`)
  }
}

export interface DnsTarget {
  name: DnsServer
  port: number
  server: Server
}

/** (3) DNS queries/s and latency on cached answers. */
export async function dnsPhase(
  c: PhaseContext,
  dnsperfBin: string,
  tmp: string,
  servers: DnsTarget[],
): Promise<void> {
  const { o, results, auth } = c
  const names = Array.from({ length: o.dnsNames }, (_, i) => `n${i}.${BENCH_HOST}`)
  const queryFile = path.join(tmp, 'queries.txt')
  fs.writeFileSync(queryFile, names.map((n) => `${n} A\n`).join(''))
  const base = { queryFile, clients: o.dnsClients, maxQps: o.dnsMaxQps }
  // Warm each cache with every name, checking that each answers 127.0.0.1.
  for (const s of servers) {
    for (const n of names) {
      const r = await queryA(s.port, n, 2000)
      if (r.addresses[0] !== '127.0.0.1') throw new Error(`${s.name} answered ${n} with ${r.rcode} ${r.addresses.join(',')}`)
    }
  }
  for (let i = 0; i < o.runs; i++) {
    for (const s of rotate(servers, i)) {
      let before = 0
      const r = await c.guard.measure(`dns ${s.name}`, () => {
        before = auth.queries()
        return dnsperf(dnsperfBin, { ...base, port: s.port, seconds: o.dnsSeconds, server: s.server })
      })
      const d = (results.dns[s.name] ??= { runs: [], upstreamQueries: [] })
      d.runs.push(r)
      d.upstreamQueries.push(auth.queries() - before)
      c.log(
        `dns ${s.name} run ${i + 1}: ${r.qps.toFixed(0)} q/s mean ${r.avgLatencyMs.toFixed(3)} ms lost ${r.lost}` +
          (r.serverCpu !== undefined ? ` server CPU ${r.serverCpu.toFixed(2)}` : ''),
      )
    }
  }
  for (const s of servers) {
    const d = results.dns[s.name]!
    const outFile = path.join(tmp, `dnsperf-${s.name}.txt`)
    d.latSaturated = await c.guard.measure(`dns latency ${s.name}`, () =>
      dnsLatency(dnsperfBin, { ...base, port: s.port, seconds: o.latencySeconds }, outFile),
    )
    d.latFixed = await c.guard.measure(`dns latency ${s.name} at ${o.dnsFixedQps} q/s`, () =>
      dnsLatency(dnsperfBin, { ...base, port: s.port, seconds: o.latencySeconds, maxQps: o.dnsFixedQps }, outFile),
    )
    c.log(
      `dns ${s.name} p99 ${d.latSaturated.p99Ms.toFixed(3)} ms at full load, ` +
        `${d.latFixed.p99Ms.toFixed(3)} ms at ${o.dnsFixedQps} q/s`,
    )
    if (d.latFixed.qps < o.dnsFixedQps * 0.95) {
      results.notes.push(`${s.name} sustained only ${d.latFixed.qps.toFixed(0)} q/s of the fixed ${o.dnsFixedQps} q/s latency run.`)
    }
  }
}
