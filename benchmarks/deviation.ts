/**
 * Deviation detection benchmark: the detector's cost per decision on the DNS and CONNECT hot
 * paths, side by side with it off (target: ≤ 5% slower). In one process, on loopback:
 *   1. DNS: the real DnsForwarder answering cached queries (`respond()`, the hot path) for 40
 *      learned names, fed to a baseline recorder alone (off) or to the sidecar's tee feeding the
 *      recorder and a mature detector (on);
 *   2. CONNECT: the real egress plane (sidecar/egress.ts: forward proxy, connector, signals) with
 *      tunnels to a loopback echo service (CONNECT, 16 bytes each way, close), 8 at a time, off
 *      and on as above;
 *   3. per decision, in a loop: `dnsQuery` (the DNS full path), `egress` (a CONNECT decision) and
 *      `toolCalled` on known keys, recorder alone vs the tee with the detector.
 * Off and on runs alternate (each pair under the same background load); ratios are medians of
 * per-pair ratios of work per CPU second of this process. The detector comes in as a
 * `DeviationPort` (core/ports.ts): the entry point, enterprise/scripts/bench-deviation.mjs, passes
 * the enterprise one (no code outside enterprise/ imports it).
 *
 *   npm run bench:deviation [-- --quick] [-- --out PATH | --no-write] [-- --help]
 *   (node --import ./benchmarks/register.mjs enterprise/scripts/bench-deviation.mjs)
 *
 * Needs no build and no external tool; about a minute on 2 cores.
 */
import os from 'node:os'
import path from 'node:path'
import { connect, createServer, type Socket } from 'node:net'
import * as dnsPacket from 'dns-packet'
import { deviationConfigSchema } from '../config/deviation-schema.js'
import { hangarConfigSchema, sidecarSchema } from '../config/schema.js'
import { silentLogger } from '../core/log.js'
import { createMetrics } from '../core/metrics.js'
import type { DeviationPort } from '../core/ports.js'
import { DnsForwarder } from '../egress/dns/forwarder.js'
import type { DnsUpstream } from '../egress/dns/upstream.js'
import { EgressSignals } from '../egress/signals.js'
import type { BaselineObserver } from '../policy/baseline-observer.js'
import { capabilitiesSchema } from '../policy/capabilities.js'
import { compilePolicy } from '../policy/egress-policy.js'
import { QuarantineSwitch } from '../policy/quarantine.js'
import { BaselineRecorder } from '../profiles/baseline/recorder.js'
import { DeviationTee } from '../sidecar/baseline.js'
import { EgressSidecar } from '../sidecar/egress.js'
import { MemorySink } from '../signals/sink.js'
import { machineInfo, machineSection } from './harness/machine.js'
import { benchProgram, parseProgram } from './harness/options.js'
import { writeReport } from './harness/report.js'
import { log, ROOT } from './harness/run.js'
import { fmt, summarize } from './lib/stats.js'

const REPORT = path.join(ROOT, 'docs', 'benchmarks', 'deviation.md')
const PROVIDER = 'bench'
const NAMES = Array.from({ length: 40 }, (_, i) => `n${i}.bench.example`)
const HOUR = 3_600_000
const quiet = silentLogger()

interface Values { quick: boolean; out?: string; write: boolean }

function options(argv = process.argv.slice(2)) {
  const cmd = benchProgram('bench:deviation', 'Deviation detection: cost per decision on the DNS and CONNECT hot paths, with the detector off and on.')
    .option('--quick', 'short runs (a smoke test; writes nothing unless --out)')
    .option('--out <file>', 'where to write the report (default docs/benchmarks/deviation.md)')
    .option('--no-write', 'print only')
  const v = parseProgram<Values>(cmd, argv)
  const out = !v.write ? undefined : v.out ? path.resolve(v.out) : v.quick ? undefined : REPORT
  return { out, quick: v.quick, seconds: v.quick ? 0.3 : 1, runs: v.quick ? 3 : 11 }
}

/** A recorder that learned the benchmark's names and echo destination 100 h ago; its clock then runs in real time. */
function learned(echoPort: number): BaselineRecorder {
  let offset = -100 * HOUR
  const recorder = new BaselineRecorder({ provider: PROVIDER, mode: 'block', clock: () => Date.now() + offset })
  for (let m = 0; m < 30; m++) {
    for (const n of NAMES) recorder.dnsQuery(n, 'A', 'allowed')
    recorder.egress({ ip: '127.0.0.1', port: echoPort, protocol: 'tunnel', via: 'connect', action: 'allowed' })
    recorder.egressBytes({ ip: '127.0.0.1', port: echoPort, protocol: 'tunnel' }, 500_000_000, 500_000_000) // the runs' byte rate stays inside it
    recorder.toolCalled('read_file', false, { path: 'x', encoding: 'utf8' }, (k) => k)
    offset += 60_000
  }
  offset = 0
  return recorder
}

/** The tee over a fresh learned recorder with a mature detector (asserted), or the recorder alone. */
function observer(port: DeviationPort, echoPort: number, on: boolean, sink: MemorySink): BaselineObserver {
  const recorder = learned(echoPort)
  if (!on) return recorder
  const tee = new DeviationTee(recorder)
  const detector = port.create({
    provider: PROVIDER, mode: 'block', config: deviationConfigSchema.parse({ enabled: true }), baseline: () => recorder.snapshot(),
    emit: (s) => sink.emit(s as never), quarantine: () => {}, log: quiet,
  })
  tee.detector = detector
  if (!(detector as unknown as { mature: boolean }).mature) throw new Error('the detector is not mature: the benchmark would measure nothing')
  return tee
}

/** Upstream stand-in: A records, TTL 300 (the cache serves the rest). */
function stubUpstream(): DnsUpstream {
  const header = Buffer.from([0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
  return {
    async query(question: Buffer): Promise<Buffer> {
      const q = dnsPacket.decode(Buffer.concat([header, question])).questions![0]!
      return dnsPacket.encode({ id: 0, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: [q], answers: [{ name: q.name, type: 'A', ttl: 300, data: '192.0.2.1' }] })
    },
    close() {},
  } as unknown as DnsUpstream
}

function forwarder(baseline: BaselineObserver): DnsForwarder {
  const policy = compilePolicy(PROVIDER, capabilitiesSchema.parse({ network: { egress: [{ host: '*.bench.example' }] } }))
  const metrics = createMetrics({ defaultMetrics: false })
  const enforcement = new QuarantineSwitch()
  const sidecar = sidecarSchema.parse({ upstream_dns: ['127.0.0.1:53'], dns_mode: 'passthrough' })
  const signals = new EgressSignals({ provider: PROVIDER, sidecar_id: `${PROVIDER}-1` }, policy, new MemorySink(1000), metrics, enforcement, quiet, sidecar.observation_window_ms, baseline)
  return new DnsForwarder({ ctx: { policy, enforcement, signals, metrics, log: quiet }, sidecar, upstream: stubUpstream() })
}

interface Pairs { off: number[]; on: number[] }

/**
 * `runs` pairs of (off, on) work per CPU second. Within a pair the two sides alternate batch by
 * batch (`step(on)` does one batch and returns its units) for `ms` in all, each batch's CPU time
 * charged to its side: both sides see the same background load, so the per-pair ratio holds
 * even on a busy machine. One unmeasured pair warms up first.
 */
async function interleaved(runs: number, ms: number, step: (on: boolean) => Promise<number>): Promise<Pairs> {
  const pair = async (forMs: number): Promise<[number, number]> => {
    const units = [0, 0]
    const cpu = [0, 0]
    const end = performance.now() + forMs
    for (let k = 0; performance.now() < end; k++) {
      for (const on of k % 2 ? [true, false] : [false, true]) {
        const c0 = process.cpuUsage()
        units[on ? 1 : 0]! += await step(on)
        const c = process.cpuUsage(c0)
        cpu[on ? 1 : 0]! += c.user + c.system
      }
    }
    return [units[0]! / (cpu[0]! / 1e6), units[1]! / (cpu[1]! / 1e6)]
  }
  await pair(Math.min(ms, 1000))
  const r: Pairs = { off: [], on: [] }
  for (let i = 0; i < runs; i++) {
    const [off, on] = await pair(ms)
    r.off.push(off)
    r.on.push(on)
  }
  return r
}

/** The DNS hot path, recorder alone vs the tee; `control`: recorder alone on both sides (the A/A noise floor). */
async function dnsHotPath(port: DeviationPort, seconds: number, runs: number, control = false): Promise<Pairs> {
  const queries = NAMES.map((name, i) => dnsPacket.encode({ id: i * 797 % 65536, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] }))
  // Four forwarders built off, on, on, off (ABBA), each side alternating over its two: an instance's
  // position (V8 tends to run the one built later slower) falls on both sides alike.
  const make = (on: boolean) => forwarder(observer(port, 1, on && !control, new MemorySink(10)))
  const off1 = make(false)
  const on1 = make(true)
  const on2 = make(true)
  const off2 = make(false)
  const all = [off1, on1, on2, off2]
  for (const f of all) for (let k = 0; k < 3; k++) for (const q of queries) await f.respond(q, '127.0.0.1', 'udp')
  let i = 0
  const turns = [0, 0]
  const r = await interleaved(runs, seconds * 1000, async (on) => {
    const n = turns[on ? 1 : 0]!++
    const f = on ? (n % 2 ? on2 : on1) : (n % 2 ? off2 : off1)
    for (let k = 0; k < 8192; k++) {
      const a = f.respond(queries[(i + k) % queries.length]!, '127.0.0.1', 'udp')
      if (a === null || a instanceof Promise) throw new Error('a cached query left the hot path')
    }
    i += 8192
    await new Promise<void>((resolve) => setImmediate(resolve))
    return 8192
  })
  for (const f of all) f.close()
  return r
}

/** Opens a tunnel through the proxy, sends 16 bytes, reads them back, closes. */
function tunnel(proxy: number, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(proxy, '127.0.0.1')
    let buf = ''
    let open = false
    s.setEncoding('latin1')
    s.on('error', reject)
    s.on('data', (d: string) => {
      buf += d
      if (!open && buf.includes('\r\n\r\n')) {
        if (!buf.startsWith('HTTP/1.1 200')) return reject(new Error(`CONNECT refused: ${buf.split('\r\n')[0]}`))
        open = true
        buf = ''
        s.write('0123456789abcdef')
      } else if (open && buf.length >= 16) {
        s.end()
      }
    })
    s.on('close', () => resolve())
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  })
}

async function connectPath(port: DeviationPort, echoPort: number, seconds: number, runs: number): Promise<Pairs & { signals: number }> {
  const config = hangarConfigSchema.parse({
    providers: {
      [PROVIDER]: {
        mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp',
        capabilities: { enforcement_mode: 'block', network: { loopback_allowed: true, egress: [{ cidr: '127.0.0.1/32', port: echoPort }] } },
        sidecar: { proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null, address: '127.0.0.1', upstream_dns: ['127.0.0.1:9'], observation_window_ms: 60_000 },
      },
    },
  })
  const p = config.providers[PROVIDER]!
  const sinks = { off: new MemorySink(100_000), on: new MemorySink(100_000) }
  const planes = {
    off: new EgressSidecar({ provider: PROVIDER, config: p, sink: sinks.off, log: quiet, baseline: observer(port, echoPort, false, sinks.off) }),
    on: new EgressSidecar({ provider: PROVIDER, config: p, sink: sinks.on, log: quiet, baseline: observer(port, echoPort, true, sinks.on) }),
  }
  const ports = { off: (await planes.off.start()).proxy, on: (await planes.on.start()).proxy }
  const target = `127.0.0.1:${echoPort}`
  const r = await interleaved(runs, seconds * 1000, async (on) => {
    await Promise.all(Array.from({ length: 8 }, () => tunnel(on ? ports.on : ports.off, target)))
    return 8
  })
  await planes.off.stop()
  await planes.on.stop()
  return { ...r, signals: sinks.on.signals.filter((s) => s.type === 'behavior_deviation').length }
}

/** ns per call: the fastest of 5 loops. */
function loop(n: number, f: () => void): number {
  for (let i = 0; i < Math.min(n, 200_000); i++) f()
  let best = Infinity
  for (let k = 0; k < 5; k++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) f()
    best = Math.min(best, Number(process.hrtime.bigint() - t) / n)
  }
  return best
}

/**
 * ns per call on known keys: the recorder alone, and the detector alone (what the tee adds). Each
 * measured in a loop of its own (a call site shared by both would be measured polymorphic).
 */
function micro(port: DeviationPort) {
  const recorder = observer(port, 7, false, new MemorySink(10))
  const detector = (observer(port, 7, true, new MemorySink(10)) as DeviationTee).detector!
  const e = { ip: '127.0.0.1', port: 7, protocol: 'tunnel' as const, via: 'connect' as const, action: 'allowed' as const }
  const k = { ip: '127.0.0.1', port: 7, protocol: 'tunnel' as const }
  const args = { path: '/tmp/x', encoding: 'utf8' }
  const id = (x: string) => x
  const name = NAMES[3]!
  return {
    dnsQuery: { off: loop(1_000_000, () => recorder.dnsQuery(name, 'A', 'allowed')), on: loop(1_000_000, () => detector.dnsQuery(name, 'A', 'allowed')) },
    egress: { off: loop(1_000_000, () => recorder.egress(e)), on: loop(1_000_000, () => detector.egress(e)) },
    egressBytes: { off: loop(1_000_000, () => recorder.egressBytes(k, 16, 16)), on: loop(1_000_000, () => detector.egressBytes(k, 16, 16)) },
    toolCalled: { off: loop(1_000_000, () => recorder.toolCalled('read_file', false, args, id)), on: loop(1_000_000, () => detector.toolCalled('read_file', false, args, id)) },
  }
}

/**
 * Runs the benchmark with `port` (the enterprise deviation port) and writes the report.
 * @param argv the script's arguments (`--quick`, `--out`, `--no-write`, `--help`)
 * @returns the exit status: 0 when both paths are within 5%, else 1
 * @throws CommanderError on a bad option or after `--help`; Error when the detector is not mature
 */
export async function deviationBench(port: DeviationPort, argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const o = options([...argv])
  const load = os.loadavg()[0]!
  const echo = createServer((s) => {
    s.on('error', () => s.destroy())
    s.pipe(s)
  })
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()))
  const echoPort = (echo.address() as { port: number }).port
  log('DNS hot path …')
  const dns = await dnsHotPath(port, o.seconds, o.runs)
  log('DNS hot path, A/A control …')
  const dnsAA = await dnsHotPath(port, o.seconds, o.runs, true)
  log('CONNECT …')
  const conn = await connectPath(port, echoPort, o.seconds, o.runs)
  log('per decision …')
  const m = micro(port)
  await new Promise<void>((r) => echo.close(() => r()))

  const ratio = (p: Pairs) => summarize(p.off.map((off, i) => off / p.on[i]!)).median
  const slower = (p: Pairs) => (ratio(p) - 1) * 100
  const spread = (p: Pairs) => {
    const r = p.off.map((off, i) => (off / p.on[i]! - 1) * 100).sort((a, b) => a - b)
    return `${pct(r[0]!)} … ${pct(r.at(-1)!)}`
  }
  const pct = (v: number) => `${v >= 0 ? '+' : '−'}${fmt(Math.abs(v), 1)}%`
  const dnsSlower = slower(dns)
  const connSlower = slower(conn)
  const mi = machineInfo()
  const lines = [
    '# Benchmark: deviation detection',
    '',
    'The detector\'s cost per decision on the DNS and CONNECT hot paths, side by side with it off',
    '(`npm run bench:deviation`, benchmarks/deviation.ts). "Off": the sidecar feeds its baseline recorder',
    'alone; "on": the tee feeds the recorder and a mature detector (docs/deviation.md). Work per CPU',
    'second of the process; within each pair off and on alternate batch by batch (8192 queries, 8 tunnels), each',
    'batch\'s CPU time charged to its side (for DNS each side alternates over two forwarders built off, on, on, off,',
    'so the order instances were built in weighs on both alike); the figure is the median of the per-pair ratios.',
    '',
    '| target | measured | required | result |',
    '|---|---|---|---|',
    `| DNS hot path (cached answers), on vs off | ${pct(dnsSlower)} | ≤ +5% | ${dnsSlower <= 5 ? '**pass**' : '**FAIL**'} |`,
    `| CONNECT tunnels through the egress plane, on vs off | ${pct(connSlower)} | ≤ +5% | ${connSlower <= 5 ? '**pass**' : '**FAIL**'} |`,
    '',
    '## Hot paths',
    '',
    '| path | off (per CPU s) | on (per CPU s) | on vs off |',
    '|---|---|---|---|',
    `| DNS: \`DnsForwarder.respond()\`, cached, 40 learned names | ${fmt(summarize(dns.off).median, 0)} q | ${fmt(summarize(dns.on).median, 0)} q | ${pct(dnsSlower)} |`,
    `| DNS, A/A control: the recorder alone on both sides | ${fmt(summarize(dnsAA.off).median, 0)} q | ${fmt(summarize(dnsAA.on).median, 0)} q | ${pct(slower(dnsAA))} (spread ${spread(dnsAA)}) |`,
    `| CONNECT: tunnel to a loopback echo (16 B each way), 8 at a time | ${fmt(summarize(conn.off).median, 0)} tunnels | ${fmt(summarize(conn.on).median, 0)} tunnels | ${pct(connSlower)} |`,
    '',
    `${o.runs} pairs of ${o.seconds} s each; per-pair "on vs off" ranged ${spread(dns)} (DNS) and ${spread(conn)} (CONNECT), the noise of a`,
    `shared machine (1-minute load average ${fmt(load, 1)} on ${os.cpus().length} cores at the start). Deviations signalled during the CONNECT runs`,
    `(all to learned destinations): ${conn.signals}.`,
    'Cached DNS answers never reach the detector (the forwarder\'s hot path feeds `dnsHit` to the recorder',
    'only), so the DNS figure is the tee\'s cost alone; every CONNECT decision reaches it. The A/A row measures two',
    'identical recorder-only forwarders the same way: what the method reads as a difference where there is none.',
    '',
    '## Per decision (a loop; fastest of 5)',
    '',
    '| call (known key) | the recorder | the detector (what the tee adds) |',
    '|---|---|---|',
    ...(['dnsQuery', 'egress', 'egressBytes', 'toolCalled'] as const).map((k) => `| \`${k}\` | ${fmt(m[k].off, 0)} ns | ${fmt(m[k].on, 0)} ns |`),
    '',
    '`dnsQuery` is the DNS full path (a query the hot path did not answer), `egress` a CONNECT decision,',
    '`egressBytes` a closed tunnel, `toolCalled` a forwarded tool call. A known destination or name is a',
    'Map or Set lookup with no clock read; bytes and calls read the clock for their per-minute counts.',
    '',
    ...machineSection(mi),
    '',
  ]
  writeReport({ markdown: lines.join('\n'), out: o.out, print: true, json: o.out ? { path: path.join(ROOT, 'benchmarks', 'results', 'deviation.json'), data: { machine: mi, dns, dnsAA, conn, micro: m } } : undefined })
  return dnsSlower <= 5 && connSlower <= 5 ? 0 : 1
}
