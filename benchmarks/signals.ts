/**
 * Signals benchmark, in one run, on loopback only:
 *   ingest: signals/s of `POST /v1/signals` (batches of 500) into the real aggregator, side by
 *     side with the floor (a bare node:http server that only parses, appends and fdatasyncs),
 *     reported as the ratio to it; batch latency (the 202 follows the fsync);
 *   end to end: p50/p99 from a denied decision at the real sidecar to its signal durable in the
 *     aggregator's audit log, at fixed decision rates.
 * Every run checks that nothing was lost or doubled (a benchmark that loses data is invalid).
 * Writes docs/benchmarks/signals.md and benchmarks/results/signals-<date>.json.
 *
 *   npm run bench:signals [-- --quick] [-- --help]
 *   (node --import ./benchmarks/register.mjs benchmarks/signals.ts)
 *
 * Needs `npm run build` (dist/mcp-hangar.mjs). Every child process is killed on exit, error or
 * interrupt (lib/procs.ts).
 */
import fs from 'node:fs'
import path from 'node:path'
import { SIDECAR_NODE_FLAGS } from '../sidecar/node-flags.js'
import { machineInfo, packageVersion } from './harness/machine.js'
import { QuietGuard } from './harness/quiet.js'
import { resultsPath, writeReport } from './harness/report.js'
import { keepProfile, log, pinRunner, requireBundle, ROOT, runMain, workspace } from './harness/run.js'
import { freePort } from './lib/ports.js'
import { killAll, sleep, type Server } from './lib/procs.js'
import { auditFiles, countIds, hostCounts } from './lib/signals-audit.js'
import { e2eRun, SignalStream, type E2eRun, type OnStreamSignal } from './lib/signals-e2e.js'
import { batchTemplate, ingestRun, type BatchTemplate, type IngestRun } from './lib/signals-load.js'
import { signalsOptions, type E2eLoad, type SignalsOptions } from './lib/signals-options.js'
import { profileText, summarizeMapped } from './lib/signals-profile.js'
import { markdown, verdicts, type IngestServerName, type SignalsResults } from './lib/signals-report.js'
import { buildFloor, newTokens, renderConfig, startAggregator, startFloor, startSidecar, stop, type IngestServer, type TargetContext } from './lib/signals-targets.js'
import { cpuSeconds } from './lib/sysinfo.js'

/** Source folders bundled into dist/mcp-hangar.mjs: a newer file means the build is stale. */
const SOURCE_DIRS = ['core', 'signals', 'policy', 'config', 'egress', 'proxy', 'profiles', 'aggregator', 'sidecar', 'local', 'compose', 'cli']

function newestSource(): { file: string; mtimeMs: number } {
  let best = { file: '', mtimeMs: 0 }
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ts')) {
        const m = fs.statSync(p).mtimeMs
        if (m > best.mtimeMs) best = { file: p, mtimeMs: m }
      }
    }
  }
  for (const d of SOURCE_DIRS) if (fs.existsSync(path.join(ROOT, d))) walk(path.join(ROOT, d))
  return best
}

function newResults(o: SignalsOptions, template: BatchTemplate, pinning: boolean): SignalsResults {
  const r: SignalsResults = {
    machine: machineInfo({ undici: packageVersion('undici'), zod: packageVersion('zod') }),
    params: {
      runs: o.runs,
      durationS: o.durationS,
      warmupS: o.warmupS,
      senders: o.senders,
      batch: o.batch,
      batchBytes: template.body.length,
      e2eLoads: o.e2eLoads.map((l) => `${l.via}:${l.rate}`),
      e2eDurationS: o.e2eDurationS,
      e2eRuns: o.e2eRuns,
      logLevel: o.logLevel,
      nodeFlags: o.nodeFlags ?? SIDECAR_NODE_FLAGS,
    },
    pinning: pinning
      ? {
          ingest: 'the server under test (the aggregator or the floor, all threads) on CPU 1; the senders and the runner on CPU 0',
          e2e: 'the aggregator on CPU 1; the sidecar on CPU 0 with the runner that makes the decisions and reads the stream (as a sidecar shares its pod with its provider)',
        }
      : { ingest: 'not pinned', e2e: 'not pinned' },
    ingest: {},
    e2e: [],
    notes: [],
  }
  if (o.runs < 3 || o.durationS < 10 || o.e2eDurationS < 20) r.notes.push('Short run (--quick or custom durations): not for comparison.')
  if (o.nodeFlags) r.notes.push(`Node flags overridden with --node-flags: not the flags the bin runs with.`)
  return r
}

/** Phase 1: the aggregator and the floor, each fresh for every run, interleaved. */
async function ingestPhase(o: SignalsOptions, ctx: TargetContext, results: SignalsResults, guard: QuietGuard, template: BatchTemplate, floorJs: string, cpu: string | undefined): Promise<void> {
  let n = 0
  const once = async (name: IngestServerName): Promise<IngestRun> => {
    const id = `${name}-${n++}`
    const port = await freePort()
    let srv: IngestServer
    if (name === 'ours') {
      const cfg = renderConfig(ctx, id, { aggregator: port, proxy: 0, dns: 0 })
      srv = await startAggregator(ctx, id, cfg.configPath, cfg.aggregatorDir, port, cpu)
    } else {
      srv = await startFloor(ctx, floorJs, id, port, cpu)
    }
    guard.servers.add(srv.server.pid)
    try {
      await sleep(500)
      const run = await ingestRun({ origin: `http://127.0.0.1:${port}`, token: ctx.tokens.signal, senders: o.senders, warmupS: o.warmupS, durationS: o.durationS, template, server: srv.server })
      if (srv.server.exitedYet()) throw new Error(`${id} exited during the run; its log ends:\n${srv.server.logTail()}`)
      await stop(srv.server)
      run.audit = await countIds(name === 'ours' ? auditFiles(srv.output) : [srv.output])
      return run
    } finally {
      await stop(srv.server)
      fs.rmSync(path.join(ctx.dir, id), { recursive: true, force: true })
      fs.rmSync(srv.output, { recursive: true, force: true })
    }
  }
  for (let i = 0; i < o.runs; i++) {
    for (const name of (i % 2 ? ['ours', 'floor'] : ['floor', 'ours']) as IngestServerName[]) {
      const run = await guard.measure(`ingest ${name} run ${i + 1}`, () => once(name))
      ;(results.ingest[name] ??= []).push(run)
      log(
        `ingest ${name} run ${i + 1}: ${run.rate.toFixed(0)} signals/s, batch p50 ${run.p50Ms.toFixed(1)} ms p99 ${run.p99Ms.toFixed(1)} ms, ` +
          `CPU ${run.serverCpu?.toFixed(2) ?? '?'}; acked ${run.acceptedTotal}, lines ${run.audit?.lines}, ids ${run.audit?.uniqueIds}, errors ${run.errors}` +
          (run.firstError ? ` (${run.firstError})` : ''),
      )
    }
  }
}

/** `--cpu-prof`: one more (unrecorded) aggregator ingest run under the sampling profiler. */
async function profileRun(o: SignalsOptions, ctx: TargetContext, template: BatchTemplate, cpu: string | undefined): Promise<string | undefined> {
  const port = await freePort()
  const profDir = path.join(ctx.dir, 'prof')
  const cfg = renderConfig(ctx, 'profiled', { aggregator: port, proxy: 0, dns: 0 })
  const srv = await startAggregator(ctx, 'profiled', cfg.configPath, cfg.aggregatorDir, port, cpu, ['--cpu-prof', `--cpu-prof-dir=${profDir}`])
  const run = await ingestRun({ origin: `http://127.0.0.1:${port}`, token: ctx.tokens.signal, senders: o.senders, warmupS: o.warmupS, durationS: o.durationS, template, server: srv.server })
  log(`profiled ingest run: ${run.rate.toFixed(0)} signals/s (under the profiler, not recorded)`)
  await stop(srv.server)
  const keep = keepProfile(profDir, 'aggregator')
  if (!keep) {
    log(`no .cpuprofile in ${profDir}; the aggregator's log ends:\n${srv.server.logTail()}`)
    return undefined
  }
  log(`aggregator profile kept in ${keep} (open it in Chrome DevTools)`)
  return profileText(summarizeMapped(keep, ctx.mainJs, 15))
}

/** Phase 2: the sidecar ships to the aggregator; decisions at fixed rates, matched on the stream. */
async function e2ePhase(o: SignalsOptions, ctx: TargetContext, results: SignalsResults, guard: QuietGuard, pinning: boolean): Promise<void> {
  const ports = { aggregator: await freePort(), proxy: await freePort(), dns: await freePort() }
  const cfg = renderConfig(ctx, 'e2e', ports)
  const agg = await startAggregator(ctx, 'e2e-aggregator', cfg.configPath, cfg.aggregatorDir, ports.aggregator, pinning ? '1' : undefined)
  guard.servers.add(agg.server.pid)
  const arrivals: { on?: OnStreamSignal } = {}
  const stream = new SignalStream(`http://127.0.0.1:${ports.aggregator}/v1/signals/stream?provider=bench`, ctx.tokens.admin, (h, at) => arrivals.on?.(h, at))
  let sidecar: Server | undefined
  try {
    await Promise.race([stream.connected, sleep(10_000).then(() => { throw new Error('the signal stream did not open within 10 s') })])
    sidecar = await startSidecar(ctx, cfg.configPath, ports, pinning ? '0' : undefined)
    guard.servers.add(sidecar.pid)
    const sc = sidecar
    const alive = (s: Server) => (s.exitedYet() ? undefined : cpuSeconds(s.pid))
    let seq = 0
    const one = (l: E2eLoad, seconds: number) =>
      e2eRun({
        via: l.via,
        rate: l.rate,
        count: Math.round(l.rate * seconds),
        label: `x${seq++}${l.via[0]}${l.rate}`,
        dnsPort: ports.dns,
        proxyPort: ports.proxy,
        arrivals,
        settleMs: 30_000,
        auditCounts: (suffix) => hostCounts(auditFiles(agg.output), suffix),
        cpu: { sidecar: () => alive(sc), aggregator: () => alive(agg.server) },
      })
    for (let r = 0; r < o.e2eRuns; r++) {
      for (const l of o.e2eLoads) {
        await one(l, 2) // warm-up at the same rate, not recorded
        const run: E2eRun = await guard.measure(`e2e ${l.via} at ${l.rate}/s run ${r + 1}`, () => one(l, o.e2eDurationS))
        for (const s of [sc, agg.server]) if (s.exitedYet()) throw new Error(`${s.name} exited; its log ends:\n${s.logTail()}`)
        results.e2e.push(run)
        log(
          `e2e ${l.via} at ${l.rate}/s run ${r + 1}: p50 ${run.p50Ms.toFixed(1)} ms p99 ${run.p99Ms.toFixed(1)} ms max ${run.maxMs.toFixed(1)} ms; ` +
            `refused ${run.denied}, streamed ${run.delivered}, missing ${run.missing}, duplicates ${run.duplicates}, ` +
            `audit once/more/never ${run.audit.once}/${run.audit.more}/${run.audit.never}` + (run.firstUnexpected ? `; unexpected: ${run.firstUnexpected}` : ''),
        )
      }
    }
    if (stream.reconnects) results.notes.push(`The signal stream was resumed ${stream.reconnects} time(s) with Last-Event-ID during the end-to-end phase.`)
  } finally {
    await stream.close()
    if (sidecar) await stop(sidecar)
    await stop(agg.server)
  }
}

async function main(): Promise<number> {
  const o = signalsOptions()
  const mainJs = requireBundle()
  const ws = workspace('hangar-bench-signals-', o.keepTmp)
  const tmp = ws.dir
  try {
    const pinning = pinRunner(o.pin)
    const cpu = pinning ? '1' : undefined
    const template = batchTemplate(o.batch)
    const results = newResults(o, template, pinning)
    const src = newestSource()
    if (src.mtimeMs > fs.statSync(mainJs).mtimeMs) {
      results.notes.push(`dist/mcp-hangar.mjs is older than ${path.relative(ROOT, src.file)}: the measured build may not be the current source.`)
      log(results.notes.at(-1)!)
    }
    const ctx: TargetContext = { dir: tmp, mainJs, nodeArgs: o.nodeFlags ?? SIDECAR_NODE_FLAGS, logLevel: o.logLevel, tokens: newTokens() }
    const guard = new QuietGuard(o.quietCores, o.maxWaitS, o.retries, log)
    log(`temp folder ${tmp}; batch of ${o.batch} signals = ${template.body.length} bytes`)

    if (o.phases.has('ingest')) {
      await ingestPhase(o, ctx, results, guard, template, buildFloor(tmp), cpu)
      if (o.cpuProf) results.profile = await profileRun(o, ctx, template, cpu)
      if (results.profile) process.stderr.write(`\n${results.profile}\n`)
    }
    if (o.phases.has('e2e')) await e2ePhase(o, ctx, results, guard, pinning)

    results.quiet = guard.summary()
    writeReport({ markdown: markdown(results), out: o.out, json: { path: resultsPath('signals', results.machine.date), data: results }, print: true })
    const missed = verdicts(results).filter((v) => v.pass === false)
    if (missed.length) log(`targets missed: ${missed.map((v) => v.target).join('; ')}`)
    return 0
  } finally {
    await killAll()
    ws.close()
  }
}

runMain(main)
