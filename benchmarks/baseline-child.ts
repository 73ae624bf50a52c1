/**
 * One scenario of the baseline benchmark, in a process of its own (benchmarks/baseline.ts starts
 * it with `--expose-gc`, so the heap figures hold only what the scenario keeps). Prints progress on
 * stderr and one `RESULT <json>` line on stdout.
 *
 *   node --expose-gc --import ./benchmarks/register.mjs benchmarks/baseline-child.ts <scenario> [--events N] [--seconds S]
 *
 * Scenarios: realistic, adversarial (a bounded BaselineRecorder fed N events), unbounded (the
 * adversarial stream into NaiveBaseline), worst-case (every limit full, every string at its
 * maximum length; then every counter at 2^53 − 1), long-strings (names and argument keys longer
 * than the baseline keeps), restart (BaselineKeeper + loadBaselineFile halfway, compared with one
 * recorder fed everything), dns-hot-path (the real DnsForwarder answering cached queries with and
 * without a recorder).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as dnsPacket from 'dns-packet'
import { sidecarSchema } from '../config/schema.js'
import { silentLogger } from '../core/log.js'
import { createMetrics } from '../core/metrics.js'
import { DnsForwarder } from '../egress/dns/forwarder.js'
import type { DnsUpstream } from '../egress/dns/upstream.js'
import { QuarantineSwitch } from '../policy/quarantine.js'
import { compilePolicy } from '../policy/egress-policy.js'
import { EgressSignals } from '../egress/signals.js'
import type { EgressProtocol, EgressVia } from '../policy/egress-types.js'
import { BaselineRecorder } from '../profiles/baseline/recorder.js'
import { baselinePath, BaselineKeeper, loadBaselineFile } from '../profiles/baseline/store.js'
import { DEFAULT_BASELINE_LIMITS, parseBaseline, type Baseline } from '../policy/baseline-schema.js'
import { capabilitiesSchema } from '../policy/capabilities.js'
import { MemorySink } from '../signals/sink.js'
import type { SignalAction } from '../signals/types.js'
import { AdversarialStream, digestOf, Junk, NaiveBaseline, NoopSink, prng, RealisticStream, T0, Tape, type Clock, type Fed, type Sink } from './baseline-streams.js'

const log = (msg: string) => process.stderr.write(`bench child: ${msg}\n`)
const quiet = silentLogger()
const PROVIDER = 'bench'
const MiB = 1024 * 1024

// ---- measuring ---------------------------------------------------------------------------------

const runGc = (globalThis as { gc?: () => void }).gc

function gcAll(): void {
  if (!runGc) throw new Error('run with --expose-gc (benchmarks/baseline.ts does)')
  for (let i = 0; i < 4; i++) runGc()
}

export interface Mem {
  heapUsed: number
  rss: number
}

function mem(): Mem {
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, rss: m.rss }
}

/** Peak RSS of this process so far (VmHWM), bytes. */
function peakRss(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-bench-baseline-'))
}

/** Writes the recorder's baseline with a real BaselineKeeper; times the write and the read back. */
async function keep(rec: BaselineRecorder, provider = PROVIDER): Promise<FileFacts> {
  const dir = tmpDir()
  try {
    let t = process.hrtime.bigint()
    const text = JSON.stringify(rec.snapshot())
    const snapshotMs = ms(t)
    t = process.hrtime.bigint()
    await new BaselineKeeper({ recorder: rec, dataDir: dir, log: quiet }).close()
    const writeMs = ms(t)
    const file = baselinePath(dir)
    const fileBytes = fs.statSync(file).size
    let parseError: string | undefined
    try {
      parseBaseline(JSON.parse(fs.readFileSync(file, 'utf8')))
    } catch (err) {
      parseError = (err as Error).message
    }
    t = process.hrtime.bigint()
    const loaded = loadBaselineFile(dir, provider, quiet)
    const loadMs = ms(t)
    return { snapshotBytes: Buffer.byteLength(text), fileBytes, snapshotMs, writeMs, loadMs, parseOk: parseError === undefined && loaded !== undefined, ...(parseError && { parseError }) }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export interface FileFacts {
  snapshotBytes: number
  fileBytes: number
  /** rec.snapshot() + JSON.stringify, ms. */
  snapshotMs: number
  /** BaselineKeeper.close() (snapshot, write, fsync, rename), ms. */
  writeMs: number
  /** loadBaselineFile (read, JSON.parse, parseBaseline), ms: the cost at a restart. */
  loadMs: number
  parseOk: boolean
  parseError?: string
}

/** What a baseline holds, and its largest inner lists. */
export interface Kept {
  destinations: number
  dnsNames: number
  tools: number
  callMinutes: number
  maxAddresses: number
  maxQtypes: number
  maxAnswers: number
  maxArgumentKeys: number
  maxDigests: number
  dropped: Baseline['dropped']
  events: number
}

function kept(b: Baseline): Kept {
  const max = (xs: number[]) => xs.reduce((a, x) => Math.max(a, x), 0)
  return {
    destinations: b.egress.length,
    dnsNames: b.dns.length,
    tools: b.tools.length,
    callMinutes: b.call_minutes.length,
    maxAddresses: max(b.egress.map((e) => e.addresses.length)),
    maxQtypes: max(b.dns.map((d) => Object.keys(d.qtypes).length)),
    maxAnswers: max(b.dns.map((d) => Object.keys(d.answers).length)),
    maxArgumentKeys: max(b.tools.map((t) => t.argument_keys.length)),
    maxDigests: max(b.tools.map((t) => t.digests.length)),
    dropped: { ...b.dropped },
    events: b.events,
  }
}

/** Every event fed is in the baseline or in `dropped` (or, for keys never seen, ignored by design). */
function conservation(b: Baseline, fed: Fed): { ok: boolean; lines: string[] } {
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0)
  const checks: Array<[string, number, number]> = [
    ['events recorded = events fed − calls on keys never seen', b.events, fed.total - fed.ignored],
    ['Σ egress[].count + dropped.destinations = egress() calls', sum(b.egress.map((e) => e.count)) + b.dropped.destinations, fed.egress],
    ['Σ dns[].count + dropped.dns_names = dnsQuery() + dnsHit() calls', sum(b.dns.map((d) => d.count)) + b.dropped.dns_names, fed.dns],
    ['Σ tools[].(listed + calls) + dropped.tools = toolListed() + toolCalled() calls', sum(b.tools.map((t) => t.listed + t.calls)) + b.dropped.tools, fed.tools],
    ['Σ tools[].refused = toolRefused() calls on kept tools', sum(b.tools.map((t) => t.refused)), fed.refused],
    ['revision = events (a fresh recorder)', b.revision, b.events],
  ]
  return { ok: checks.every(([, a, e]) => a === e), lines: checks.map(([what, a, e]) => `${a === e ? 'ok' : 'MISMATCH'}: ${what}: ${a.toLocaleString('en-US')} vs ${e.toLocaleString('en-US')}`) }
}

// ---- scenarios ---------------------------------------------------------------------------------

type StreamKind = 'realistic' | 'adversarial'
type AnyStream = { clock: Clock; fed: Fed; run<H>(sink: Sink<H>, until: number): void; resetHandles(): void }

function stream(kind: StreamKind, n: number, seed = 1): AnyStream {
  return kind === 'realistic' ? new RealisticStream(seed, Math.floor(n * 0.4)) : new AdversarialStream(seed + 6)
}

function recorder(clock: Clock, restore?: Baseline, provider = PROVIDER): BaselineRecorder {
  return new BaselineRecorder({ provider, mode: 'block', clock: () => clock.now, ...(restore && { restore }) })
}

export interface MemoryResult {
  scenario: string
  fed: Fed
  before: Mem
  after: Mem
  peakRss: number
  /**
   * The sink's own cost, ns per event: the stream recorded on a {@link Tape}, replayed into fresh
   * sinks (median of the runs) minus the replay into a no-op sink.
   */
  nsPerEvent: number
  /** Every replay, ms: into the sink, and into the no-op sink. */
  replayMs: number[]
  replayNoopMs: number
  kept?: Kept
  file?: FileFacts
  /** NaiveBaseline only: bytes of the JSON it would make. */
  jsonBytes?: number
  conservation?: { ok: boolean; lines: string[] }
  streamSizes?: { destinations: number; dnsNames: number; tools: number }
}

/** Warms the JIT on both sinks with another seed; the garbage is collected before measuring. */
function warm(kind: StreamKind, n: number, naive: boolean): void {
  const w = Math.min(n, 100_000)
  const a = stream(kind, n, 99)
  a.run(naive ? new NaiveBaseline(() => a.clock.now) : recorder(a.clock), w)
  stream(kind, n, 99).run(new NoopSink(), w)
}

async function bounded(kind: StreamKind, n: number): Promise<MemoryResult> {
  warm(kind, n, false)
  gcAll()
  const before = mem()
  const s = stream(kind, n)
  const rec = recorder(s.clock)
  const t = process.hrtime.bigint()
  s.run(rec, n)
  const runMs = ms(t)
  gcAll()
  const after = mem()
  const peak = peakRss()
  log(`${kind}: ${s.fed.total.toLocaleString('en-US')} events in ${runMs.toFixed(0)} ms (generated on the fly); heap ${((after.heapUsed - before.heapUsed) / MiB).toFixed(2)} MiB more`)
  const snap = rec.snapshot()
  const file = await keep(rec)
  const timing = timeOnTape(kind, n, 3, (clock) => recorder(clock))
  return {
    scenario: kind, fed: { ...s.fed }, before, after, peakRss: peak, ...timing,
    kept: kept(snap), file, conservation: conservation(snap, s.fed),
    ...(s instanceof RealisticStream && { streamSizes: s.sizes }),
  }
}

async function unbounded(n: number): Promise<MemoryResult> {
  warm('adversarial', n, true)
  gcAll()
  const before = mem()
  const s = stream('adversarial', n)
  const naive = new NaiveBaseline(() => s.clock.now)
  const t = process.hrtime.bigint()
  s.run(naive, n)
  const runMs = ms(t)
  gcAll()
  const after = mem()
  const peak = peakRss()
  log(`unbounded: ${s.fed.total.toLocaleString('en-US')} events in ${runMs.toFixed(0)} ms (generated on the fly); heap ${((after.heapUsed - before.heapUsed) / MiB).toFixed(1)} MiB more`)
  const maxSize = (xs: number[]) => xs.reduce((a, x) => Math.max(a, x), 0)
  const jsonBytes = naive.jsonBytes()
  const k = {
    destinations: naive.egressMap.size, dnsNames: naive.dns.size, tools: naive.tools.size, callMinutes: naive.minutes.size,
    maxAddresses: maxSize([...naive.egressMap.values()].map((d) => d.addresses.length)),
    maxQtypes: maxSize([...naive.dns.values()].map((d) => Object.keys(d.qtypes).length)),
    maxAnswers: maxSize([...naive.dns.values()].map((d) => Object.keys(d.answers).length)),
    maxArgumentKeys: maxSize([...naive.tools.values()].map((t) => t.keys.size)),
    maxDigests: maxSize([...naive.tools.values()].map((t) => t.digests.length)),
    dropped: { destinations: 0, dns_names: 0, tools: 0 },
    events: naive.events,
  }
  const timing = timeOnTape('adversarial', n, 1, (clock) => new NaiveBaseline(() => clock.now))
  return {
    scenario: 'unbounded', fed: { ...s.fed }, before, after, peakRss: peak, ...timing, jsonBytes, kept: k,
  }
}

/** ns per event of a sink: the stream recorded once, replayed `runs` times into fresh sinks and once into a no-op sink. */
function timeOnTape<H>(kind: StreamKind, n: number, runs: number, make: (clock: Clock) => Sink<H>): { nsPerEvent: number; replayMs: number[]; replayNoopMs: number } {
  const s = stream(kind, n)
  const tape = new Tape(s.clock)
  s.run(tape, n)
  const clock: Clock = { now: T0 }
  tape.replay(new NoopSink(), clock) // warm the replay loop
  const replayNoopMs = tape.replay(new NoopSink(), clock)
  const replayMs: number[] = []
  for (let i = 0; i < runs; i++) {
    gcAll()
    replayMs.push(tape.replay(make(clock), clock))
  }
  const median = [...replayMs].sort((a, b) => a - b)[Math.floor(runs / 2)]!
  log(`${kind} into ${runs > 1 ? 'a recorder' : 'the naive maps'}: replays ${replayMs.map((x) => x.toFixed(0)).join(', ')} ms, no-op ${replayNoopMs.toFixed(0)} ms for ${tape.length.toLocaleString('en-US')} events`)
  return { nsPerEvent: ((median - replayNoopMs) * 1e6) / tape.length, replayMs, replayNoopMs }
}

const VIAS: EgressVia[] = ['connect', 'http_proxy', 'transparent_http', 'transparent_tls', 'tcp_forward']
const ACTIONS: SignalAction[] = ['allowed', 'alerted', 'blocked', 'quarantined']
const KEY_CHARS = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_')
const IDENTITY = (k: string): string => k

/**
 * Fills every list to its default limit with every string at its maximum length: 1000
 * destinations (253-character hosts, every via, action and content kind, 16 addresses of 45
 * characters), 2000 names (253 characters, 64 QTYPEs, 4 actions, 16 answer types), 256 tools (256
 * characters, 8 digests, 64 argument keys of 80 characters), 1440 minutes of calls.
 */
function fillWorstCase(rec: BaselineRecorder, clock: Clock): number {
  const L = DEFAULT_BASELINE_LIMITS
  const j = new Junk(prng(3))
  let events = 0
  const tick = () => {
    clock.now += 1
    events++
  }
  for (let i = 0; i < L.max_destinations; i++) {
    const key = { host: j.host(i, 253), port: 65535, protocol: 'tunnel' as EgressProtocol }
    for (let a = 0; a < 16; a++) {
      tick()
      rec.egress({ ...key, ip: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.${200 + a}`, via: VIAS[a % 5]!, action: ACTIONS[a % 4]! })
    }
    tick()
    rec.egress({ ...key, ip: '203.0.113.1', via: 'connect', action: 'allowed', failed: true })
    for (const c of ['tls', 'http', 'other'] as const) {
      tick()
      rec.egressContent(key, c)
    }
    tick()
    rec.egressBytes(key, 1, 1)
  }
  const answers = Array.from({ length: 16 }, (_, k) => `UNKNOWN_${65535 - k}`)
  for (let i = 0; i < L.max_dns_names; i++) {
    const name = j.host(i, 253)
    for (let q = 0; q < 64; q++) {
      tick()
      rec.dnsQuery(name, `TYPE${65535 - q}`, ACTIONS[q % 4]!)
    }
    tick()
    rec.dnsAnswer(name, answers)
  }
  const names: string[] = []
  for (let i = 0; i < L.max_tools; i++) {
    const name = j.text(`${i.toString(36)}_`, 256, KEY_CHARS)
    names.push(name)
    for (let d = 0; d < 8; d++) {
      tick()
      rec.toolListed(name, digestOf(`${i}/${d}`))
    }
    const args = Object.create(null) as Record<string, number>
    for (let k = 0; k < 64; k++) args[j.text(`${k}_`, 80, KEY_CHARS)] = k
    tick()
    rec.toolCalled(name, true, args, IDENTITY)
    tick()
    rec.toolRefused(name)
  }
  for (let m = 0; m < L.rate_minutes + 60; m++) {
    clock.now += 60_000
    tick()
    rec.toolCalled(names[m % names.length]!, false, {}, IDENTITY)
  }
  return events
}

/** The same baseline with every counter at 2^53 − 1 (the largest a file holds exactly). */
function maxCounters(b: Baseline): Baseline {
  const M = Number.MAX_SAFE_INTEGER
  const c = (r: Record<string, number>) => Object.fromEntries(Object.keys(r).map((k) => [k, M]))
  return {
    ...b, revision: M, events: M, dropped: { destinations: M, dns_names: M, tools: M },
    egress: b.egress.map((e) => ({ ...e, via: c(e.via), actions: c(e.actions), ...(e.content && { content: c(e.content) }), errors: M, count: M, bytes_up: M, bytes_down: M })),
    dns: b.dns.map((d) => ({ ...d, qtypes: c(d.qtypes), actions: c(d.actions), answers: c(d.answers), count: M })),
    tools: b.tools.map((t) => ({ ...t, listed: M, calls: M, errors: M, refused: M })),
    call_rate: { active_minutes: b.call_minutes.length, min: M, median: M, p95: M, max: M },
    call_minutes: b.call_minutes.map(([m]) => [m, M] as [number, number]),
  }
}

export interface WorstCaseResult {
  events: number
  heapDelta: number
  kept: Kept
  asFed: FileFacts
  maxed: FileFacts
  /** JSON bytes of each list, counters at 2^53 − 1. */
  sections: { egress: number; dns: number; tools: number; call_minutes: number }
}

async function worstCase(): Promise<WorstCaseResult> {
  const provider = 'p'.repeat(64) // the longest provider name the schema takes
  gcAll()
  const before = mem()
  const clock: Clock = { now: T0 }
  const rec = recorder(clock, undefined, provider)
  const events = fillWorstCase(rec, clock)
  gcAll()
  const heapDelta = mem().heapUsed - before.heapUsed
  const snap = rec.snapshot()
  const asFed = await keep(rec, provider)
  const maxed = parseBaseline(maxCounters(snap))
  const big = recorder(clock, maxed, provider)
  const maxedFacts = await keep(big, provider)
  log(`worst case: ${asFed.fileBytes} bytes as fed, ${maxedFacts.fileBytes} bytes with every counter at 2^53 − 1`)
  const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v))
  const sections = { egress: bytes(maxed.egress), dns: bytes(maxed.dns), tools: bytes(maxed.tools), call_minutes: bytes(maxed.call_minutes) }
  return { events, heapDelta, kept: kept(snap), asFed, maxed: maxedFacts, sections }
}

export interface LongStringsResult {
  /** Tools with names of `nameChars` characters (the baseline keeps 256). */
  longNames: number
  nameChars: number
  heapDeltaNames: number
  /** Tools × raw argument keys of `keyChars` characters (the baseline keeps 64 of 65 characters). */
  keyTools: number
  keysPerTool: number
  keyChars: number
  heapDeltaKeys: number
  file: FileFacts
  /** A tool with a 300-character name, called before and after a restart: records with its (cut) name afterwards. */
  recordsAfterRestart: number
  droppedAfterRestart: number
}

/** What the recorder holds for names and argument keys longer than the baseline keeps. */
async function longStrings(): Promise<LongStringsResult> {
  const j = new Junk(prng(5))
  const ingressRedact = (k: string) => (k.length > 64 ? `${k.slice(0, 64)}…` : k) // proxy/inspect/inspector.ts #redactKey
  const nameChars = 64 * 1024
  const keyChars = 16 * 1024
  const longNames = 240
  const keyTools = 16
  const keysPerTool = 128
  gcAll()
  const m0 = mem()
  const clock: Clock = { now: T0 }
  const rec = recorder(clock)
  for (let i = 0; i < longNames; i++) rec.toolCalled(j.text(`${i}_`, nameChars, KEY_CHARS), false, { a: 1 }, ingressRedact)
  gcAll()
  const m1 = mem()
  for (let t = 0; t < keyTools; t++) {
    for (let k = 0; k < keysPerTool; k++) {
      const args = Object.create(null) as Record<string, number>
      args[j.text(`${t}_${k}_`, keyChars, KEY_CHARS)] = 1
      rec.toolCalled(`tool_${t}`, false, args, ingressRedact)
    }
  }
  gcAll()
  const m2 = mem()
  const file = await keep(rec)
  // Restart with a name longer than the 256 characters the baseline keeps.
  const name = j.text('restart_', 300, KEY_CHARS)
  const a = recorder(clock)
  a.toolCalled(name, false, {}, IDENTITY)
  const dir = tmpDir()
  try {
    await new BaselineKeeper({ recorder: a, dataDir: dir, log: quiet }).close()
    const b = recorder(clock, loadBaselineFile(dir, PROVIDER, quiet))
    b.toolCalled(name, false, {}, IDENTITY)
    const s = b.snapshot()
    return {
      longNames, nameChars, heapDeltaNames: m1.heapUsed - m0.heapUsed, keyTools, keysPerTool, keyChars, heapDeltaKeys: m2.heapUsed - m1.heapUsed, file,
      recordsAfterRestart: s.tools.filter((t) => t.name === name.slice(0, 256)).length, droppedAfterRestart: s.dropped.tools,
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Paths where two JSON values differ (at most `max`). */
function diff(a: unknown, b: unknown, at = '', out: string[] = [], max = 12): string[] {
  if (out.length >= max) return out
  if (a === b) return out
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    out.push(`${at || '(root)'}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`)
    return out
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  for (const k of new Set([...ka, ...kb])) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k, out, max)
  return out
}

export interface RestartCase {
  stream: StreamKind
  events: number
  restartAt: number
  /** baseline.json at the restart. */
  fileBytes: number
  loadMs: number
  equal: boolean
  differences: string[]
  /** The final baseline written and read back once more equals the one-recorder baseline too. */
  fileRoundTripEqual: boolean
  summary: { events: number; destinations: number; dnsNames: number; tools: number; dropped: Baseline['dropped'] }
}

async function restartCase(kind: StreamKind, n: number): Promise<RestartCase> {
  const half = Math.floor(n / 2)
  // One recorder fed everything.
  const s1 = stream(kind, n)
  const one = recorder(s1.clock)
  s1.run(one, n)
  const want = one.snapshot()
  // Half, written by the keeper, read back by a new recorder (the sidecar restarted), the rest.
  const s2 = stream(kind, n)
  const first = recorder(s2.clock)
  s2.run(first, half)
  const dir = tmpDir()
  try {
    await new BaselineKeeper({ recorder: first, dataDir: dir, log: quiet }).close()
    const fileBytes = fs.statSync(baselinePath(dir)).size
    let t = process.hrtime.bigint()
    const restored = loadBaselineFile(dir, PROVIDER, quiet)
    const loadMs = ms(t)
    if (!restored) throw new Error('loadBaselineFile returned nothing at the restart')
    s2.resetHandles()
    const second = recorder(s2.clock, restored)
    s2.run(second, n)
    const got = second.snapshot()
    const differences = diff(want, got)
    await new BaselineKeeper({ recorder: second, dataDir: dir, log: quiet }).close()
    t = process.hrtime.bigint()
    const again = loadBaselineFile(dir, PROVIDER, quiet)
    const fileRoundTripEqual = again !== undefined && diff(want, again).length === 0
    log(`restart ${kind}: ${differences.length ? `${differences.length} difference(s)` : 'counts equal'}`)
    return {
      stream: kind, events: s2.fed.total, restartAt: half, fileBytes, loadMs, equal: differences.length === 0, differences, fileRoundTripEqual,
      summary: { events: got.events, destinations: got.egress.length, dnsNames: got.dns.length, tools: got.tools.length, dropped: got.dropped },
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// ---- DNS hot path ------------------------------------------------------------------------------

export interface HotPathResult {
  names: number
  queries: number
  runs: number
  seconds: number
  /** Queries per wall-clock second, per run, without and with a recorder. */
  without: number[]
  with: number[]
  /** Queries per CPU second of this process (user + system), per run: less disturbed by other work on the machine. */
  withoutCpu: number[]
  withCpu: number[]
  /** Σ dns[].count of the recorder = queries the forwarder with the recorder answered. */
  recorded: number
  answered: number
  failures: number
  /** The recorder's `started` and `updated` after the runs (its clock: Date.now). */
  started: string
  updated: string
  /** The recorder alone, ns per call in a loop (fastest of 5): dnsHit on a held handle; egress() and toolCalled() on known keys (Date.now clock, as shipped). */
  micro: { dnsHitNs: number; egressNs: number; toolCalledNs: number }
}

function micro(): HotPathResult['micro'] {
  const rec = new BaselineRecorder({ provider: PROVIDER, mode: 'block' })
  const h = rec.dnsQuery('n0.bench.example', 'A', 'allowed')!
  const e = { host: 'api.github.com', ip: '203.0.113.1', port: 443, protocol: 'tunnel' as const, via: 'connect' as const, action: 'allowed' as const }
  const args = { path: '/tmp/x', encoding: 'utf8' }
  /** ns per call: the fastest of 5 loops (the least disturbed by other work). */
  const loop = (n: number, f: (i: number) => void): number => {
    for (let i = 0; i < Math.min(n, 200_000); i++) f(i) // warm
    let best = Infinity
    for (let k = 0; k < 5; k++) {
      const t = process.hrtime.bigint()
      for (let i = 0; i < n; i++) f(i)
      best = Math.min(best, Number(process.hrtime.bigint() - t) / n)
    }
    return best
  }
  const now = Date.now()
  return {
    dnsHitNs: loop(2_000_000, () => rec.dnsHit(h, 'A', now)),
    egressNs: loop(1_000_000, () => rec.egress(e)),
    toolCalledNs: loop(1_000_000, () => rec.toolCalled('read_file', false, args, IDENTITY)),
  }
}

/** Upstream stand-in: answers A / AAAA with one record, TTL 300 (the cache serves the rest). */
function stubUpstream(): DnsUpstream {
  const header = Buffer.from([0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
  return {
    async query(question: Buffer): Promise<Buffer> {
      const q = dnsPacket.decode(Buffer.concat([header, question])).questions![0]!
      const data = q.type === 'AAAA' ? '2606:2800:220:1:248:1893:25c8:1946' : '93.184.216.34'
      return dnsPacket.encode({ id: 0, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: [q], answers: [{ name: q.name, type: q.type === 'AAAA' ? 'AAAA' : 'A', ttl: 300, data }] })
    },
    close() {},
  } as unknown as DnsUpstream
}

function forwarder(baseline: BaselineRecorder | undefined): DnsForwarder {
  const caps = capabilitiesSchema.parse({ network: { egress: [{ host: '*.bench.example' }] } })
  const policy = compilePolicy(PROVIDER, caps)
  const metrics = createMetrics({ defaultMetrics: false })
  const enforcement = new QuarantineSwitch()
  const sidecar = sidecarSchema.parse({ upstream_dns: ['127.0.0.1:53'], dns_mode: 'passthrough' }) // observation_window_ms 60000, as shipped
  const signals = new EgressSignals({ provider: PROVIDER, sidecar_id: `${PROVIDER}-1` }, policy, new MemorySink(1000), metrics, enforcement, quiet, sidecar.observation_window_ms, baseline)
  return new DnsForwarder({ ctx: { policy, enforcement, signals, metrics, log: quiet }, sidecar, upstream: stubUpstream() })
}

async function dnsHotPath(seconds: number, runs: number): Promise<HotPathResult> {
  const names = 40
  const queries: Buffer[] = []
  for (let i = 0; i < names; i++) {
    for (const type of ['A', 'AAAA'] as const) {
      queries.push(dnsPacket.encode({ id: (i * 2 + (type === 'A' ? 0 : 1)) * 797 % 65536, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: `n${i}.bench.example`, type }] }))
    }
  }
  const rec = new BaselineRecorder({ provider: PROVIDER, mode: 'block' })
  const plain = forwarder(undefined)
  const recorded = forwarder(rec)
  let answered = 0
  let failures = 0
  // Warm: a miss (upstream), then a cache hit that makes the hot entry.
  for (const fw of [plain, recorded]) {
    for (let k = 0; k < 3; k++) {
      for (const q of queries) {
        const r = await fw.respond(q, '127.0.0.1', 'udp')
        if (!r) failures++
        if (fw === recorded) answered++
      }
    }
  }
  const run = async (fw: DnsForwarder, forMs: number): Promise<{ wall: number; cpu: number }> => {
    const Q = queries.length
    let n = 0
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const end = t0 + forMs
    for (;;) {
      for (let i = 0; i < 8192; i++) {
        const r = fw.respond(queries[(n + i) % Q]!, '127.0.0.1', 'udp')
        if (r === null || r instanceof Promise) failures++
      }
      n += 8192
      await new Promise<void>((resolve) => setImmediate(resolve)) // let the batched metrics flush, like a server's event loop
      if (performance.now() >= end) break
    }
    const wallS = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    if (fw === recorded) answered += n
    return { wall: n / wallS, cpu: n / ((c.user + c.system) / 1e6) }
  }
  await run(plain, 1000)
  await run(recorded, 1000)
  const without: number[] = []
  const withRec: number[] = []
  const withoutCpu: number[] = []
  const withCpu: number[] = []
  for (let i = 0; i < runs; i++) {
    for (const fw of i % 2 ? [recorded, plain] : [plain, recorded]) {
      const q = await run(fw, seconds * 1000)
      ;(fw === plain ? without : withRec).push(q.wall)
      ;(fw === plain ? withoutCpu : withCpu).push(q.cpu)
    }
    log(`dns hot path run ${i + 1}: ${without.at(-1)!.toFixed(0)} q/s without, ${withRec.at(-1)!.toFixed(0)} q/s with a recorder (per CPU second: ${withoutCpu.at(-1)!.toFixed(0)}, ${withCpu.at(-1)!.toFixed(0)})`)
  }
  plain.close()
  recorded.close()
  const snap = rec.snapshot()
  return {
    names, queries: queries.length, runs, seconds, without, with: withRec, withoutCpu, withCpu,
    recorded: snap.dns.reduce((a, d) => a + d.count, 0), answered, failures, started: snap.started, updated: snap.updated, micro: micro(),
  }
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const [scenario, ...rest] = process.argv.slice(2)
  const opt = (name: string, dflt: number) => {
    const i = rest.indexOf(name)
    return i >= 0 ? Number(rest[i + 1]) : dflt
  }
  const n = opt('--events', 1_000_000)
  let result: unknown
  switch (scenario) {
    case 'realistic':
    case 'adversarial':
      result = await bounded(scenario, n)
      break
    case 'unbounded':
      result = await unbounded(n)
      break
    case 'worst-case':
      result = await worstCase()
      break
    case 'long-strings':
      result = await longStrings()
      break
    case 'restart':
      result = [await restartCase('realistic', n), await restartCase('adversarial', n)]
      break
    case 'dns-hot-path':
      result = await dnsHotPath(opt('--seconds', 1.5), opt('--runs', 5))
      break
    default:
      throw new Error(`unknown scenario "${scenario}"`)
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
