/**
 * Baseline benchmark ("the baseline survives a sidecar restart and stays within its size bound
 * under 1,000,000 recorded events"), in one run, in process:
 *   1. memory and disk: a BaselineRecorder fed 1,000,000 events of a realistic provider and of
 *      adversarial junk (every limit hit), and the same junk in plain Maps without limits (the
 *      reference); heap and RSS before and after, the snapshot, baseline.json written by the real
 *      BaselineKeeper, read back by loadBaselineFile, ns per event; the documented upper bound of
 *      baseline.json (every limit full, every string at its maximum length, every counter at
 *      2^53 − 1); what longer strings than the baseline keeps cost in memory;
 *   2. restart: 500,000 events, BaselineKeeper, loadBaselineFile, a new recorder restored from it,
 *      500,000 more — compared with one recorder fed all 1,000,000;
 *   3. the DNS hot path: the real DnsForwarder answering cached queries (`respond()`), with and
 *      without a recorder, side by side.
 * Every scenario runs in a child process of its own (benchmarks/baseline-child.ts, with
 * `--expose-gc`), so its heap figures hold only what it keeps. Prints a markdown report and a
 * JSON summary; writes docs/benchmarks/baseline.md (not with --quick, unless --out is given).
 *
 *   npm run bench:baseline [-- --quick] [-- --events N] [-- --out PATH | --no-write] [-- --help]
 *   (node --import ./benchmarks/register.mjs benchmarks/baseline.ts)
 *
 * Needs no build and no external tool; about a minute on 2 cores.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { InvalidArgumentError } from 'commander'
import { MAX_HEARTBEAT_BODY_BYTES } from '../aggregator/http/control.js'
import { DEFAULT_BASELINE_LIMITS } from '../policy/baseline-schema.js'
import type { HotPathResult, Kept, LongStringsResult, MemoryResult, RestartCase, WorstCaseResult } from './baseline-child.js'
import { machineInfo, machineSection, type MachineInfo } from './harness/machine.js'
import { benchProgram, parseProgram, positiveInt, type ProgramOutput } from './harness/options.js'
import { writeReport } from './harness/report.js'
import { log, ROOT, runMain } from './harness/run.js'
import { fmt, fmtSummary, summarize } from './lib/stats.js'

/** The default report: docs/benchmarks/baseline.md (not with --quick, unless --out is given). */
const BASELINE_REPORT = path.join(ROOT, 'docs', 'benchmarks', 'baseline.md')

interface Values {
  quick: boolean
  events?: number
  out?: string
  write: boolean
}

/**
 * Parses the arguments of `npm run bench:baseline -- …`.
 * @throws CommanderError on a bad option (naming it) or after `--help`.
 */
function baselineOptions(argv: readonly string[] = process.argv.slice(2), output?: ProgramOutput) {
  const cmd = benchProgram('bench:baseline', 'Baseline benchmark: memory, disk, restart and the DNS hot path, in process.', output)
    .option('--quick', '100,000 events and short DNS runs (a smoke test; writes nothing unless --out)')
    .option('--events <n>', 'events per memory and restart scenario (default 1,000,000)', (v) => {
      const n = positiveInt(v)
      if (n < 1000) throw new InvalidArgumentError(`expected an integer ≥ 1000, got "${v}"`)
      return n
    })
    .option('--out <file>', 'where to write the report (default docs/benchmarks/baseline.md)')
    .option('--no-write', 'print only')
  const v = parseProgram<Values>(cmd, argv)
  const out = !v.write ? undefined : v.out ? path.resolve(v.out) : v.quick ? undefined : BASELINE_REPORT
  return { events: v.events ?? (v.quick ? 100_000 : 1_000_000), quick: v.quick, out, seconds: v.quick ? 0.2 : 0.3, runs: v.quick ? 6 : 20 }
}

/** Runs one scenario in a child process with --expose-gc; returns its RESULT. */
function child<T>(scenario: string, args: string[] = []): Promise<T> {
  const register = pathToFileURL(path.join(ROOT, 'benchmarks', 'register.mjs')).href
  const script = path.join(ROOT, 'benchmarks', 'baseline-child.ts')
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const p = spawn(process.execPath, ['--expose-gc', '--import', register, script, scenario, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.setEncoding('utf8')
    p.stdout.on('data', (d: string) => (out += d))
    p.on('error', reject)
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      if (code !== 0 || !line) return reject(new Error(`scenario ${scenario} failed (exit ${code})`))
      log(`${scenario}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      resolve(JSON.parse(line.slice(7)) as T)
    })
  })
}

interface Results {
  machine: MachineInfo
  events: number
  quick: boolean
  realistic: MemoryResult
  adversarial: MemoryResult
  unbounded: MemoryResult
  worstCase: WorstCaseResult
  longStrings: LongStringsResult
  restart: RestartCase[]
  hotPath: HotPathResult
}

// ---- formatting --------------------------------------------------------------------------------

const MiB = 1024 * 1024
const n0 = (v: number) => fmt(v, 0)
const mib = (b: number, d = 1) => `${fmt(b / MiB, d)} MiB`
const size = (b: number) => (b >= MiB ? `${fmt(b / MiB, 2)} MiB` : `${fmt(b / 1024, 1)} KiB`)
const signed = (b: number, d = 1) => `${b >= 0 ? '+' : '−'}${fmt(Math.abs(b) / MiB, d)}`
const ms = (v: number) => fmt(v, v < 10 ? 1 : 0)

function memRow(label: string, r: MemoryResult): string {
  const f = r.file
  const disk = f ? `${size(f.fileBytes)} (${n0(f.fileBytes)} B)` : `(not written; its JSON would be ${size(r.jsonBytes ?? NaN)})`
  const times = f ? `${ms(f.snapshotMs)} / ${ms(f.writeMs)} / ${ms(f.loadMs)}` : '—'
  const parse = f ? (f.parseOk ? 'accepted' : `**rejected**: ${f.parseError ?? 'loadBaselineFile returned nothing'}`) : '—'
  return `| ${label} | ${n0(r.fed.total)} | ${mib(r.before.heapUsed)} → ${mib(r.after.heapUsed)} (**${signed(r.after.heapUsed - r.before.heapUsed, 2)}**) | ${mib(r.before.rss)} → ${mib(r.after.rss)} (${signed(r.after.rss - r.before.rss)}); peak ${mib(r.peakRss)} | ${f ? size(f.snapshotBytes) : '—'} | ${disk} | ${times} | ${fmt(r.nsPerEvent, 0)} | ${parse} |`
}

function keptRow(label: string, k: Kept | undefined, recorded: string): string {
  if (!k) return `| ${label} | — | — | — | — | — | — | — |`
  const d = k.dropped
  return `| ${label} | ${recorded} | ${n0(k.destinations)} | ${n0(k.dnsNames)} | ${n0(k.tools)} | ${n0(k.callMinutes)} | ${k.maxAddresses} / ${k.maxQtypes} / ${k.maxAnswers} / ${k.maxArgumentKeys} / ${k.maxDigests} | ${n0(d.destinations)} / ${n0(d.dns_names)} / ${n0(d.tools)} |`
}

function median(xs: number[]): number {
  return summarize(xs).median
}

/** with[i] / without[i]: each pair ran back to back, under the same background load. */
function pairRatios(withRec: number[], without: number[]): number[] {
  return withRec.map((w, i) => w / without[i]!)
}

interface Summary {
  events: number
  bounded_heap_mib: { realistic: number; adversarial: number }
  unbounded_heap_mib: number
  bounded_vs_unbounded_heap: number
  rss_delta_mib: { realistic: number; adversarial: number; unbounded: number }
  baseline_json_bytes: { realistic: number; adversarial: number; worst_case_as_fed: number; worst_case_bound: number; unbounded_would_be: number }
  worst_case_vs_heartbeat_limit: number
  ns_per_event: { realistic: number; adversarial: number; unbounded: number }
  conservation: { realistic: boolean; adversarial: boolean }
  restart: string
  dns_hot_path: { qps_without: number; qps_with: number; qps_per_cpu_s_without: number; qps_per_cpu_s_with: number; ratio: number; ratio_wall: number; added_ns_per_query: number; dns_hit_ns: number }
  baseline_clock_after_hot_path: { started: string; updated: string }
  long_strings: { heap_mib_names: number; heap_mib_keys: number; file_bytes: number; records_after_restart: number }
}

function summary(r: Results): Summary {
  const heap = (m: MemoryResult) => (m.after.heapUsed - m.before.heapUsed) / MiB
  const rss = (m: MemoryResult) => (m.after.rss - m.before.rss) / MiB
  const hp = r.hotPath
  const cWithout = median(hp.withoutCpu)
  const cWith = median(hp.withCpu)
  const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d
  const restartOk = r.restart.every((c) => c.equal && c.fileRoundTripEqual)
  return {
    events: r.events,
    bounded_heap_mib: { realistic: round(heap(r.realistic), 3), adversarial: round(heap(r.adversarial)) },
    unbounded_heap_mib: round(heap(r.unbounded), 1),
    bounded_vs_unbounded_heap: round(heap(r.adversarial) / heap(r.unbounded), 4),
    rss_delta_mib: { realistic: round(rss(r.realistic), 1), adversarial: round(rss(r.adversarial), 1), unbounded: round(rss(r.unbounded), 1) },
    baseline_json_bytes: {
      realistic: r.realistic.file!.fileBytes, adversarial: r.adversarial.file!.fileBytes,
      worst_case_as_fed: r.worstCase.asFed.fileBytes, worst_case_bound: r.worstCase.maxed.fileBytes, unbounded_would_be: r.unbounded.jsonBytes ?? NaN,
    },
    worst_case_vs_heartbeat_limit: round(r.worstCase.maxed.fileBytes / MAX_HEARTBEAT_BODY_BYTES, 3),
    ns_per_event: { realistic: round(r.realistic.nsPerEvent, 0), adversarial: round(r.adversarial.nsPerEvent, 0), unbounded: round(r.unbounded.nsPerEvent, 0) },
    conservation: { realistic: r.realistic.conservation?.ok ?? false, adversarial: r.adversarial.conservation?.ok ?? false },
    restart: restartOk ? 'counts equal' : r.restart.flatMap((c) => c.differences.map((d) => `${c.stream}: ${d}`)).join('; ') || 'the file read back differs',
    dns_hot_path: {
      qps_without: round(median(hp.without), 0), qps_with: round(median(hp.with), 0), qps_per_cpu_s_without: round(cWithout, 0), qps_per_cpu_s_with: round(cWith, 0),
      ratio: round(median(pairRatios(hp.withCpu, hp.withoutCpu)), 3), ratio_wall: round(median(pairRatios(hp.with, hp.without)), 3),
      added_ns_per_query: round(1e9 / cWith - 1e9 / cWithout, 0), dns_hit_ns: round(hp.micro.dnsHitNs, 0),
    },
    baseline_clock_after_hot_path: { started: r.hotPath.started, updated: r.hotPath.updated },
    long_strings: {
      heap_mib_names: round(r.longStrings.heapDeltaNames / MiB, 1), heap_mib_keys: round(r.longStrings.heapDeltaKeys / MiB, 1),
      file_bytes: r.longStrings.file.fileBytes, records_after_restart: r.longStrings.recordsAfterRestart,
    },
  }
}

function markdown(r: Results, s: Summary): string {
  const L = DEFAULT_BASELINE_LIMITS
  const m = r.machine
  const a = r.adversarial
  const w = r.worstCase
  const hp = r.hotPath
  const ls = r.longStrings
  const restartOk = s.restart === 'counts equal'
  const half = Math.floor(r.events / 2)
  const adversarialBounded = a.kept!.destinations <= L.max_destinations && a.kept!.dnsNames <= L.max_dns_names && a.kept!.tools <= L.max_tools && a.kept!.callMinutes <= L.rate_minutes
  const limitsHit = a.kept!.destinations === L.max_destinations && a.kept!.dnsNames === L.max_dns_names && a.kept!.tools === L.max_tools && a.kept!.callMinutes === L.rate_minutes &&
    a.kept!.maxAddresses === 16 && a.kept!.maxQtypes === 64 && a.kept!.maxAnswers === 16 && a.kept!.maxArgumentKeys === 64 && a.kept!.maxDigests === 8
  const clockBroken = Date.parse(hp.updated) < Date.parse(hp.started)
  const overHeartbeat = w.maxed.fileBytes > MAX_HEARTBEAT_BODY_BYTES
  const heapBounded = a.after.heapUsed - a.before.heapUsed <= w.heapDelta * 1.1
  const diskBounded = a.file!.fileBytes <= w.maxed.fileBytes && r.realistic.file!.fileBytes <= w.maxed.fileBytes
  const lines: string[] = []
  const p = (...xs: string[]) => lines.push(...xs)
  p(
    '# Baseline benchmark: memory, disk, restart and the DNS hot path',
    '',
    `Generated by \`npm run bench:baseline\` (benchmarks/baseline.ts) on ${m.date}. What it checks:`,
    '"The baseline survives a sidecar restart and stays within its size bound under 1,000,000 recorded',
    'events (memory and disk measured in `benchmarks/`)." Everything runs in process: no build, no network.',
    ...(r.quick ? ['', `**Short run (--quick, ${n0(r.events)} events): not for comparison.**`] : []),
    '',
    ...machineSection(m, [
      '- Not pinned, not isolated: other work ran on the machine during the run. Memory and sizes do not',
      '  depend on it; timings (ns per event, queries/s) do, by some per cent.',
    ]),
    '## Results',
    '',
    '| claim | measured | result |',
    '|---|---|---|',
    `| bounded: ${n0(r.events)} junk events keep at most the limits (${n0(L.max_destinations)} destinations, ${n0(L.max_dns_names)} names, ${L.max_tools} tools, ${n0(L.rate_minutes)} minutes) | ${n0(a.kept!.destinations)} / ${n0(a.kept!.dnsNames)} / ${a.kept!.tools} / ${n0(a.kept!.callMinutes)}, every inner list at its cap: ${limitsHit ? 'yes' : 'no'}; every event recorded or counted in \`dropped\`: ${a.conservation?.ok ? 'yes' : '**no**'} | ${adversarialBounded && a.conservation?.ok ? '**pass**' : '**fail**'} |`,
    `| memory held after ${n0(r.events)} events (heap, after GC) | realistic ${signed(r.realistic.after.heapUsed - r.realistic.before.heapUsed, 2)} MiB; adversarial **${signed(a.after.heapUsed - a.before.heapUsed, 1)} MiB** vs ${signed(r.unbounded.after.heapUsed - r.unbounded.before.heapUsed, 0)} MiB without limits (${fmt(s.bounded_vs_unbounded_heap * 100, 1)} %, 1/${fmt(1 / s.bounded_vs_unbounded_heap, 0)}); at most ${mib(w.heapDelta)} at the limits with every string at its maximum | ${heapBounded ? '**pass**' : '**fail**'}${ls.recordsAfterRestart > 1 || ls.heapDeltaNames + ls.heapDeltaKeys > 8 * ls.file.fileBytes ? ' for strings within the lengths kept (longer ones: see the notes)' : ''} |`,
    `| baseline.json on disk | realistic ${size(r.realistic.file!.fileBytes)}; adversarial ${size(a.file!.fileBytes)}; upper bound at the default limits **${size(w.maxed.fileBytes)}** (${n0(w.maxed.fileBytes)} B); without limits it would be ${size(r.unbounded.jsonBytes ?? NaN)} | ${diskBounded ? '**pass** (bounded)' : '**fail**'}${overHeartbeat ? `; the bound is **above** the aggregator's ${size(MAX_HEARTBEAT_BODY_BYTES)} heartbeat limit` : ''} |`,
    `| survives a restart (${n0(half)} events, BaselineKeeper, loadBaselineFile, ${n0(r.events - half)} more) | ${restartOk ? 'restart: counts equal (realistic and adversarial), the final file too' : `differences: ${s.restart}`} | ${restartOk ? '**pass**' : '**fail**'} |`,
    `| DNS hot path (cached answers, real DnsForwarder) with a recorder | ${n0(s.dns_hot_path.qps_per_cpu_s_with)} vs ${n0(s.dns_hot_path.qps_per_cpu_s_without)} queries per CPU second without: **${fmt(s.dns_hot_path.ratio, 2)}×** (${s.dns_hot_path.added_ns_per_query >= 0 ? '+' : ''}${s.dns_hot_path.added_ns_per_query} ns per query) | — |`,
    '',
    '## Method',
    '',
    'Every scenario runs in a child process of its own (benchmarks/baseline-child.ts) started with `--expose-gc`:',
    'the JIT is warmed on 100,000 events of another seed, `gc()` runs four times, `process.memoryUsage()` is read',
    '(before), the scenario runs, `gc()` again, and it is read again (after) with the recorder still referenced. "Heap"',
    'is `heapUsed` (live JavaScript objects after a full GC: what the recorder keeps); RSS is the process\'s resident',
    'memory (V8 does not hand freed pages back at once, so RSS moves with what was allocated on the way, not only with',
    'what is kept); "peak" is VmHWM. The clock is injected: the recorder sees simulated time.',
    '',
    `- **realistic**: ${r.realistic.streamSizes?.destinations ?? 30} destinations (hosts and two IP literals; CONNECT tunnels, transparent TLS, plain HTTP, tcp forwards; 1–3`,
    `  addresses each), ${r.realistic.streamSizes?.dnsNames ?? 40} DNS names (3 denied: NXDOMAIN), ${r.realistic.streamSizes?.tools ?? 12} tools with 2–5 argument keys, Zipf-distributed. DNS repeats are answered`,
    '  from a modelled forwarder cache (TTL 60 s) through `dnsHit`; misses go through `dnsQuery` + `dnsAnswer`.',
    '  Tunnels report their content and bytes; tools are called (2 % fail), refused and listed (one tool\'s digest',
    '  changes once). Mix: 45 % DNS, 30 % egress, 25 % tools. The clock advances 21.6 ms per event (1,000,000 ≈ 6 h).',
    '- **adversarial**: 60 % of the events name a destination, DNS name or tool never seen (random hosts of 8–253',
    '  characters, IP literals, random ports, tool names up to 256, three new argument keys per call, new digests);',
    '  25 % grow what is kept (new addresses, QTYPEs `TYPE<n>`, answer types, argument keys, digests, bytes,',
    '  refusals, cache hits with new QTYPEs); 15 % name keys never seen in `egressBytes`, `egressContent`, `dnsAnswer`,',
    '  `toolRefused` (ignored by design). The clock advances 200 ms per event (≈ 55 h: more minutes than `rate_minutes`).',
    '- **unbounded reference**: the same adversarial stream into plain Maps with the same records and no limit',
    '  anywhere (benchmarks/baseline-streams.ts `NaiveBaseline`): what a recorder without limits would hold.',
    '- **baseline.json**: written by a real `BaselineKeeper` (`close()`: snapshot, write, fsync, rename) into a temp',
    '  dir and measured with `statSync`; read back with `loadBaselineFile` (which runs `parseBaseline`).',
    '- **ns per event**: the recorder\'s own cost. The stream is recorded once on a tape (every call, its arguments',
    '  and the clock) and replayed into three fresh recorders (median) and into a no-op sink; the difference per event.',
    '',
    `### Memory and disk (${n0(r.events)} events)`,
    '',
    '| scenario | events fed | heap used before → after (Δ MiB) | RSS before → after (Δ MiB) | snapshot JSON | baseline.json on disk | snapshot / write / load ms | ns per event | parseBaseline |',
    '|---|---|---|---|---|---|---|---|---|',
    memRow('realistic, bounded', r.realistic),
    memRow('adversarial, bounded (the size bound)', a),
    memRow('adversarial, no limits (reference)', r.unbounded),
    '',
    'What each holds: max addresses / QTYPEs / answer types / argument keys / digests are the largest inner lists.',
    '',
    '| scenario | events recorded | destinations | DNS names | tools | call minutes | max addresses / QTYPEs / answers / argument keys / digests | dropped: destinations / names / tools |',
    '|---|---|---|---|---|---|---|---|',
    keptRow('realistic, bounded', r.realistic.kept, n0(r.realistic.kept!.events)),
    keptRow('adversarial, bounded', a.kept, n0(a.kept!.events)),
    keptRow('adversarial, no limits', r.unbounded.kept, n0(r.unbounded.kept!.events)),
    '',
    'Every event fed is in the baseline or counted in `dropped` (the recorder never loses one silently):',
    '',
    ...(['realistic', 'adversarial'] as const).flatMap((k) => [`- ${k}:`, ...(r[k].conservation?.lines ?? []).map((l) => `  - ${l}`)]),
    '',
    '### Upper bound of baseline.json',
    '',
    `Every list at its default limit (${n0(L.max_destinations)} destinations, ${n0(L.max_dns_names)} names, ${L.max_tools} tools, ${n0(L.rate_minutes)} call minutes) and every`,
    'string at its maximum length: 253-character hosts and names, 256-character tool names, a 64-character provider,',
    '16 addresses of 45 characters per destination with every via, action and content kind, 64 QTYPEs (`TYPE65535`…)',
    'and 16 answer types (`UNKNOWN_65535`…) per name, 8 digests and 64 argument keys of 80 characters per tool. Fed',
    `through the recorder's own methods (${n0(w.events)} events), written by BaselineKeeper; then every counter set to`,
    '2^53 − 1 (16 digits, the largest a JSON number holds exactly), checked with `parseBaseline`, restored into a',
    'recorder and written again: **the largest baseline.json the default limits allow**.',
    '',
    '| case | heap held | snapshot JSON | baseline.json | snapshot / write / load ms | parseBaseline |',
    '|---|---|---|---|---|---|',
    `| every limit full, strings at their maximum, counters as fed | ${mib(w.heapDelta, 1)} | ${size(w.asFed.snapshotBytes)} | ${size(w.asFed.fileBytes)} (${n0(w.asFed.fileBytes)} B) | ${ms(w.asFed.snapshotMs)} / ${ms(w.asFed.writeMs)} / ${ms(w.asFed.loadMs)} | ${w.asFed.parseOk ? 'accepted' : '**rejected**'} |`,
    `| the same, every counter 2^53 − 1: **the bound** | — | ${size(w.maxed.snapshotBytes)} | **${size(w.maxed.fileBytes)}** (${n0(w.maxed.fileBytes)} B) | ${ms(w.maxed.snapshotMs)} / ${ms(w.maxed.writeMs)} / ${ms(w.maxed.loadMs)} | ${w.maxed.parseOk ? 'accepted' : '**rejected**'} |`,
    '',
    `Of the bound: \`egress\` ${size(w.sections.egress)}, \`dns\` ${size(w.sections.dns)}, \`tools\` ${size(w.sections.tools)}, \`call_minutes\` ${size(w.sections.call_minutes)}. The aggregator takes a`,
    `heartbeat (which carries the baseline) of at most ${size(MAX_HEARTBEAT_BODY_BYTES)} (aggregator/http/control.ts \`MAX_HEARTBEAT_BODY_BYTES\`): the bound is`,
    `${fmt(s.worst_case_vs_heartbeat_limit * 100, 0)} % of it${overHeartbeat ? ', so a baseline near its limits cannot be shipped (413) — see the notes' : ''}.`,
    '',
    '### Restart',
    '',
    'One recorder fed every event, against: a recorder fed the first half, its baseline written by `BaselineKeeper`,',
    'read back with `loadBaselineFile`, a new recorder constructed with `restore:` it and fed the second half (the',
    'forwarder\'s DNS handles are gone after a restart: the first repeat of each cached name goes through `dnsQuery`,',
    'which counts exactly as `dnsHit`). The two final snapshots are compared field by field, and the final baseline is',
    'written and read back once more.',
    '',
    '| stream | events | restart after | baseline.json at the restart | load ms | final baseline vs one recorder | final file read back |',
    '|---|---|---|---|---|---|---|',
    ...r.restart.map((c) => `| ${c.stream} | ${n0(c.events)} | ${n0(c.restartAt)} | ${size(c.fileBytes)} | ${ms(c.loadMs)} | ${c.equal ? '**equal** (every field)' : `**${c.differences.length} difference(s)**: ${c.differences.join('; ')}`} | ${c.fileRoundTripEqual ? 'equal' : '**differs**'} |`),
    '',
    `restart: ${s.restart}`,
    '',
    '### DNS hot path',
    '',
    `Two real \`DnsForwarder\`s (egress/dns/forwarder.ts) in one process, built like the sidecar builds them (\`dns_mode:`,
    'passthrough`, `observation_window_ms` 60000, EgressSignals, metrics, a MemorySink), one with a BaselineRecorder',
    'reached through `ctx.signals.baseline` (Date.now clock, as shipped). The upstream is an in-process stand-in',
    `(TTL 300 s); ${hp.names} names × A/AAAA (${hp.queries} questions) are asked three times to fill the cache and the hot entries, then`,
    `\`respond()\` is called in a loop (batches of 8192, then one event-loop turn so the batched metrics flush), ${hp.runs} pairs`,
    `of runs of ${hp.seconds} s, one per forwarder back to back, their order alternated, after 1 s of warm-up each. No sockets: this is`,
    'the forwarder\'s own cost per cached answer, the part a recorder can add to. Other work shared the 2 cores, so',
    'besides queries per wall-clock second the table gives queries per CPU second of the process (`process.cpuUsage()`),',
    'and the ratio is the median of the ratios of the pairs (each pair ran under the same background load).',
    '',
    '| forwarder | queries/s (wall clock) | queries per CPU second | ns of CPU per query |',
    '|---|---|---|---|',
    `| without a recorder | ${fmtSummary(summarize(hp.without), 0)} | ${fmtSummary(summarize(hp.withoutCpu), 0)} | ${fmt(1e9 / median(hp.withoutCpu), 0)} |`,
    `| with a recorder | ${fmtSummary(summarize(hp.with), 0)} | ${fmtSummary(summarize(hp.withCpu), 0)} | ${fmt(1e9 / median(hp.withCpu), 0)} |`,
    `| with / without (median of the pairs) | ${fmtSummary(summarize(pairRatios(hp.with, hp.without)), 3)} | **${fmtSummary(summarize(pairRatios(hp.withCpu, hp.withoutCpu)), 3)}** | ${s.dns_hot_path.added_ns_per_query >= 0 ? '+' : ''}${s.dns_hot_path.added_ns_per_query} |`,
    '',
    `Every answer was recorded: Σ dns[].count = ${n0(hp.recorded)}, queries answered by that forwarder = ${n0(hp.answered)}${hp.recorded === hp.answered ? '' : ' (**differ**)'}; ${hp.failures} queries without a synchronous answer.`,
    `The recorder alone, per call in a loop (fastest of 5): \`dnsHit\` ${fmt(hp.micro.dnsHitNs, 0)} ns, \`egress()\` on a known destination ${fmt(hp.micro.egressNs, 0)} ns, \`toolCalled()\` with two argument keys ${fmt(hp.micro.toolCalledNs, 0)} ns.`,
    '',
    '### Strings longer than the baseline keeps (probe)',
    '',
    `${ls.longNames} tools called with ${n0(ls.nameChars / 1024)} KiB names, and ${ls.keyTools} tools called ${ls.keysPerTool} times each with one new ${n0(ls.keyChars / 1024)} KiB argument key (cut to 64`,
    'characters + "…" by the ingress\'s redactKey, as proxy/inspect/inspector.ts does). The baseline keeps 256 characters of',
    'a name and 64 argument keys per tool.',
    '',
    '| what | heap held | baseline.json |',
    '|---|---|---|',
    `| ${ls.longNames} names of ${n0(ls.nameChars / 1024)} KiB | ${mib(ls.heapDeltaNames)} | ${size(ls.file.fileBytes)} (both rows) |`,
    `| ${ls.keyTools} × ${ls.keysPerTool} raw argument keys of ${n0(ls.keyChars / 1024)} KiB | ${mib(ls.heapDeltaKeys)} | |`,
    '',
    `A tool with a 300-character name, called, written, restored, called again: ${ls.recordsAfterRestart} record(s) with its (cut) name afterwards${ls.recordsAfterRestart > 1 ? ' (**duplicated**)' : ''}.`,
    '',
    '## Conclusion',
    '',
    `- **Memory is bounded by the limits.** After ${n0(r.events)} junk events the recorder holds ${fmt((a.after.heapUsed - a.before.heapUsed) / MiB, 1)} MiB of heap (its records`,
    `  at the limits), against ${fmt((r.unbounded.after.heapUsed - r.unbounded.before.heapUsed) / MiB, 0)} MiB for the same events without limits (${fmt(s.bounded_vs_unbounded_heap * 100, 1)} %), which grows with every new key. A realistic`,
    `  provider's baseline costs ${fmt((r.realistic.after.heapUsed - r.realistic.before.heapUsed) / 1024, 0)} KiB. The heap at the limits with every string at its maximum is ${fmt(w.heapDelta / MiB, 1)} MiB.`,
    `- **Disk is bounded by the limits.** baseline.json is ${size(r.realistic.file!.fileBytes)} for the realistic provider, ${size(a.file!.fileBytes)} after the junk, and at`,
    `  most **${size(w.maxed.fileBytes)}** with the default limits (every list full, every string and counter at its maximum); without`,
    `  limits the junk alone would make ${size(r.unbounded.jsonBytes ?? NaN)}. It is rewritten whole (${ms(w.maxed.writeMs)} ms at the bound) and read back in ${ms(w.maxed.loadMs)} ms.`,
    `- **Restart:** ${restartOk ? `the baseline written at ${n0(half)} events and restored gives, after ${n0(r.events - half)} more, exactly the baseline of one recorder fed all ${n0(r.events)} (every count, time, list and \`dropped\`), for both streams.` : `**the restored baseline differs**: ${s.restart}.`}`,
    `- **DNS hot path:** a recorder makes cached answers ${fmt(s.dns_hot_path.ratio, 2)}× as fast (${s.dns_hot_path.added_ns_per_query >= 0 ? '+' : ''}${s.dns_hot_path.added_ns_per_query} ns per query; \`dnsHit\` alone is ${fmt(hp.micro.dnsHitNs, 0)} ns); the recorder costs ${fmt(r.realistic.nsPerEvent, 0)} ns per event of the realistic mix.`,
    '',
    '## Notes',
    '',
  )
  const notes: string[] = []
  if (overHeartbeat) {
    notes.push(
      `The bound of baseline.json (${size(w.maxed.fileBytes)}) is above the aggregator's heartbeat limit (${size(MAX_HEARTBEAT_BODY_BYTES)}); with counters as fed it is ${size(w.asFed.fileBytes)}. ` +
        'A provider whose baseline fills the default limits with long names (or an adversary that fills them) produces a heartbeat the aggregator refuses with 413. ' +
        'Lower limits, shorter kept strings, or a heartbeat limit derived from the limits would close the gap.',
    )
  }
  if (clockBroken) {
    notes.push(
      `After the DNS hot-path runs the recorder's \`updated\` was ${hp.updated}, before its \`started\` (${hp.started}): the forwarder passes its cache clock ` +
        '(egress/dns/cache.ts: `performance.now()`, ms since the process started) as `now` to `BaselineRecorder.dnsHit`, which takes ms since the epoch. ' +
        'Every cached answer sets `updated` to 1970-01-01 plus the process\'s uptime; a name\'s `last_seen` is not moved by cached answers (only by the slow path, once a second per name and QTYPE).',
    )
  }
  if (ls.heapDeltaNames + ls.heapDeltaKeys > 8 * ls.file.fileBytes) {
    notes.push(
      `Names and raw argument keys longer than the baseline keeps are held whole in memory: ${mib(ls.heapDeltaNames)} for ${ls.longNames} long tool names and ${mib(ls.heapDeltaKeys)} for ` +
        `${ls.keyTools} × ${ls.keysPerTool} long argument keys, for a ${size(ls.file.fileBytes)} baseline.json. The recorder's maps are keyed by the full name, \`seenRaw\` keeps up to 128 raw keys per tool, ` +
        'and the cut strings it keeps (`slice`, the ingress\'s `${k.slice(0, 64)}…`) are V8 sliced strings that keep their whole originals alive. ' +
        'The limits bound how many strings, not how long: a tools/call body may be `ingress.max_body_bytes` (4 MiB by default), so one allowed tool can be made to hold 128 × 4 MiB.',
    )
  }
  if (ls.recordsAfterRestart > 1) {
    notes.push('A tool name longer than 256 characters is a different key after a restart (the restored record is keyed by the cut name, new events by the full name): the tool gets a second record with the same name.')
  }
  if (!notes.length) notes.push('None.')
  p(...notes.map((n) => `- ${n}`))
  p('', '## How to run', '', '```', 'npm run bench:baseline             # node --import ./benchmarks/register.mjs benchmarks/baseline.ts', 'npm run bench:baseline -- --quick  # 100,000 events, a smoke test', 'npm run bench:baseline -- --help', '```', '')
  p('Summary as JSON (also printed by the run):', '', '```json', JSON.stringify(s, null, 2), '```', '')
  return lines.join('\n')
}

async function main(): Promise<number> {
  const o = baselineOptions()
  const started = Date.now()
  const events = ['--events', String(o.events)]
  log(`${n0(o.events)} events per scenario; each scenario in a child process`)
  const realistic = await child<MemoryResult>('realistic', events)
  const adversarial = await child<MemoryResult>('adversarial', events)
  const unbounded = await child<MemoryResult>('unbounded', events)
  const worstCase = await child<WorstCaseResult>('worst-case')
  const longStrings = await child<LongStringsResult>('long-strings')
  const restart = await child<RestartCase[]>('restart', events)
  const hotPath = await child<HotPathResult>('dns-hot-path', ['--seconds', String(o.seconds), '--runs', String(o.runs)])
  const results: Results = { machine: machineInfo(), events: o.events, quick: o.quick, realistic, adversarial, unbounded, worstCase, longStrings, restart, hotPath }
  const s = summary(results)
  const md = markdown(results, s)
  process.stdout.write(`\n${md}\n`)
  process.stdout.write(`${JSON.stringify(s)}\n`)
  writeReport({ markdown: md, out: o.out })
  log(`${((Date.now() - started) / 1000).toFixed(0)} s in all`)
  return 0
}

runMain(main)
