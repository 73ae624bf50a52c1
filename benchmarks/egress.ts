/**
 * Side-by-side egress benchmark, in one run, on loopback only:
 *   CONNECT setup rate and latency, and tunnel throughput: direct vs Squid vs our sidecar;
 *   DNS queries/s and latency on cached answers: dnsmasq vs our sidecar.
 * Squid and dnsmasq get the same allowlist and the same upstream as ours. Writes the table to
 * docs/benchmarks/egress.md and the raw numbers to benchmarks/results/egress.json.
 *
 *   npm run bench:egress [-- --quick] [-- --skip-ours] [-- --help]
 *
 * Every child process is killed on exit, error or interrupt (lib/procs.ts).
 */
import path from 'node:path'
import { SIDECAR_NODE_FLAGS } from '../sidecar/node-flags.js'
import { machineInfo, toolVersion } from './harness/machine.js'
import { QuietGuard } from './harness/quiet.js'
import { resultsPath, writeReport } from './harness/report.js'
import { BUNDLE, log, pinRunner, requireBundle, runMain, stopAndKeepProfile, workspace } from './harness/run.js'
import { startAuthDns, type AuthDns } from './lib/auth-dns.js'
import { summarizeProfile } from './lib/cpuprofile.js'
import { options, type Options } from './lib/egress-options.js'
import type { Path } from './lib/measure.js'
import { buildNative } from './lib/native.js'
import { connectPhase, dnsPhase, throughputPhase, type PhaseContext } from './lib/phases.js'
import { freePort } from './lib/ports.js'
import { killAll, sleep, startServer, type Server } from './lib/procs.js'
import { markdown, verdicts, type Results } from './lib/report.js'
import { memory } from './lib/sysinfo.js'
import { BENCH_HOST, requireTool, startDnsmasq, startOurs, startSquid, startUpstream } from './lib/targets.js'

async function sampleRss(pid: number, n = 3): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(1000)
    out.push(memory(pid).rssMiB)
  }
  return out
}

/** RSS of a Node process that only waits: the floor under any sidecar written for Node. */
async function bareNodeRss(dir: string): Promise<number> {
  const s = startServer('bare-node', process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { logDir: dir })
  await sleep(2000)
  const rss = memory(s.pid).rssMiB
  process.kill(s.pid, 'SIGTERM')
  await s.exited
  return rss
}

function newResults(o: Options, tools: { squid: string; dnsmasq: string; dnsperf: string }, pinning: boolean): Results {
  const r: Results = {
    machine: machineInfo({
      squid: toolVersion(tools.squid, ['-v'], /Version/),
      dnsmasq: toolVersion(tools.dnsmasq, ['-v'], /version/i),
      dnsperf: toolVersion(tools.dnsperf, ['-h'], /^Version/),
    }),
    params: {
      concurrency: o.concurrency,
      warmupS: o.warmupS,
      durationS: o.durationS,
      runs: o.runs,
      bulkBytes: o.bulkBytes,
      bulkReps: o.bulkReps,
      dnsSeconds: o.dnsSeconds,
      dnsClients: o.dnsClients,
      dnsNames: o.dnsNames,
      dnsMaxQps: o.dnsMaxQps,
      dnsFixedQps: o.dnsFixedQps,
      dnsmasqCacheSize: 10000,
      oursLogLevel: o.logLevel,
    },
    pinning: pinning
      ? 'each server under test (Squid, dnsmasq, the sidecar: all its threads) on CPU 1; load generator, dnsperf, upstream and runner on CPU 0'
      : 'not pinned',
    connect: {},
    throughput: {},
    dns: {},
    rss: {},
    notes: [],
  }
  if (o.runs < 3 || o.durationS < 5 || o.dnsSeconds < 10) r.notes.push('Short run (--quick or custom durations): not for comparison.')
  if (o.cpuProf) r.notes.push('The sidecar ran under --cpu-prof (sampling profiler on).')
  return r
}

/** Stops the sidecar with SIGTERM and waits for it, so --cpu-prof can write its profile. */
async function stopOurs(ours: Server, profDir: string): Promise<void> {
  const keep = await stopAndKeepProfile(ours, profDir, 'ours', 'the sidecar')
  if (keep) process.stderr.write(`\n${summarizeProfile(keep)}\n`)
}

async function main(): Promise<number> {
  const o = options()
  // Preflight: every tool, with the package that brings it.
  const tools = {
    squid: requireTool('squid', 'squid'),
    dnsmasq: requireTool('dnsmasq', 'dnsmasq-base'),
    dnsperf: requireTool('dnsperf', 'dnsperf'),
  }
  const mainJs = o.skipOurs ? BUNDLE : requireBundle(' (or pass --skip-ours)')

  const ws = workspace('hangar-bench-', o.keepTmp)
  const tmp = ws.dir
  let auth: AuthDns | undefined
  try {
    const pinning = pinRunner(o.pin)
    const ctx = { dir: tmp, cpu: pinning ? '1' : undefined }
    const native = buildNative(tmp)
    const port = {
      upstream: await freePort(),
      squid: await freePort(),
      authDns: await freePort(),
      dnsmasq: await freePort(),
      proxy: await freePort(),
      dns: await freePort(),
      admin: await freePort(),
    }
    const results = newResults(o, tools, pinning)
    log(`temp folder ${tmp}; ports ${JSON.stringify(port)}`)

    auth = await startAuthDns(port.authDns)
    const guard = new QuietGuard(o.quietCores, o.maxWaitS, o.retries, log)
    const upstream = await startUpstream(ctx, native.upstream, port.upstream, o.bulkBytes)
    const squid = await startSquid(ctx, tools.squid, port.squid, port.upstream)
    const dnsmasq = await startDnsmasq(ctx, tools.dnsmasq, port.dnsmasq, port.authDns, results.params.dnsmasqCacheSize)
    for (const srv of [upstream, squid, dnsmasq]) guard.servers.add(srv.pid)
    let ours: Server | undefined
    const profDir = path.join(tmp, 'prof')
    if (!o.skipOurs) {
      // The flags the sidecar is deployed with (sidecar/node-flags.ts; the mcp-hangar shebang).
      const nodeArgs = [...SIDECAR_NODE_FLAGS, ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])]
      const ourPorts = { proxy: port.proxy, dns: port.dns, admin: port.admin, upstreamDns: port.authDns, upstream: port.upstream }
      const started = await startOurs(ctx, mainJs, ourPorts, o.logLevel, nodeArgs)
      ours = started.server
      guard.servers.add(ours.pid)
      if (!started.ready) results.notes.push('The sidecar never answered 200 on GET /ready; it was measured once its listeners accepted.')
      await sleep(2000)
      results.rss.oursIdleMiB = await sampleRss(ours.pid)
      await sleep(14_000)
      results.rss.oursSettledMiB = await sampleRss(ours.pid)
      log(`sidecar RSS after start ${results.rss.oursIdleMiB.map((x) => x.toFixed(1)).join(', ')} MiB, idle ${results.rss.oursSettledMiB.map((x) => x.toFixed(1)).join(', ')} MiB`)
    } else {
      results.notes.push('The sidecar was not measured (--skip-ours).')
    }
    results.rss.squidIdleMiB = memory(squid.pid).rssMiB
    results.rss.dnsmasqIdleMiB = memory(dnsmasq.pid).rssMiB
    results.rss.bareNodeMiB = await bareNodeRss(tmp)

    const target = `${BENCH_HOST}:${port.upstream}`
    const paths: Path[] = [
      { name: 'direct', port: port.upstream, connectTarget: '-' },
      { name: 'squid', port: port.squid, connectTarget: target, server: squid },
      ...(ours ? [{ name: 'ours', port: port.proxy, connectTarget: target, server: ours }] : []),
    ]
    const pc: PhaseContext = { o, results, guard, log, loadgen: native.loadgen, auth, upstream }
    if (o.phases.has('connect')) await connectPhase(pc, paths)
    if (o.phases.has('throughput')) await throughputPhase(pc, paths)
    if (o.phases.has('dns')) {
      await dnsPhase(pc, tools.dnsperf, tmp, [
        { name: 'dnsmasq', port: port.dnsmasq, server: dnsmasq },
        ...(ours ? [{ name: 'ours' as const, port: port.dns, server: ours }] : []),
      ])
    }
    if (ours) {
      await sleep(2000)
      results.rss.oursAfterLoadMiB = await sampleRss(ours.pid)
      await sleep(14_000)
      results.rss.oursAfterLoadSettledMiB = await sampleRss(ours.pid)
      results.rss.oursPeakMiB = memory(ours.pid).hwmMiB
      if (o.cpuProf) await stopOurs(ours, profDir)
    }

    results.quiet = guard.summary()
    writeReport({ markdown: markdown(results), out: o.out, json: { path: resultsPath('egress'), data: results }, print: true })
    const missed = verdicts(results).filter((v) => v.pass === false)
    if (missed.length) log(`targets missed: ${missed.map((v) => v.target).join('; ')}`)
    return 0
  } finally {
    await killAll()
    await auth?.close()
    ws.close()
  }
}

runMain(main)
