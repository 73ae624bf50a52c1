/**
 * Side-by-side MCP proxy benchmark, in one run, on loopback only:
 * `tools/call` of a trivial tool on a local Streamable HTTP MCP server (the MCP SDK's own),
 * direct vs through nginx as a plain reverse proxy vs through a bare Node relay (the floor of any
 * Node proxy: benchmarks/servers/mcp-node-relay.mjs) vs through our sidecar, at fixed concurrency
 * (wrk, closed loop: req/s, p50/p99) and at a fixed rate (open loop, 1000 req/s: p50/p99/p99.9),
 * for two upstream servers (the SDK's own, and a minimal hand-written one with a flat tail) in two
 * CPU layouts (lib/mcp-options.ts SERVERS, LAYOUTS). Reports the latency each proxy adds over the
 * direct path and the max-throughput ratio, against the targets (lib/mcp-report.ts TARGETS).
 * Writes docs/benchmarks/mcp-proxy.md and benchmarks/results/mcp-proxy-<date>.json.
 *
 *   npm run bench:mcp [-- --quick] [-- --help]
 *   (node --import ./benchmarks/register.mjs benchmarks/mcp-proxy.ts)
 *
 * Needs `npm run build` (dist/mcp-hangar.mjs), and nginx and wrk (apt-get install nginx wrk).
 * Every child process is killed on exit, error or interrupt (lib/procs.ts).
 */
import fs from 'node:fs'
import path from 'node:path'
import { SIDECAR_NODE_FLAGS } from '../sidecar/node-flags.js'
import { machineInfo, packageVersion, toolVersion } from './harness/machine.js'
import { QuietGuard } from './harness/quiet.js'
import { resultsPath, writeReport } from './harness/report.js'
import { BUNDLE, log, pinRunner, requireBundle, ROOT, runMain, stopAndKeepProfile, workspace } from './harness/run.js'
import { summarizeProfile } from './lib/cpuprofile.js'
import { fixedRun, rateRun, type FixedRun, type McpPath, type McpPathName, type RateRun } from './lib/mcp-measure.js'
import { mcpOptions, type Layout, type McpOptions, type ServerKind } from './lib/mcp-options.js'
import { markdown, verdicts, type LayoutResult, type McpResults } from './lib/mcp-report.js'
import { checkEcho, checkInspector, openSession, startMcpUpstream, startNginx, startRelay, startSidecar } from './lib/mcp-targets.js'
import { freePort } from './lib/ports.js'
import { killAll, type Server } from './lib/procs.js'
import { memory, pin } from './lib/sysinfo.js'
import { requireTool } from './lib/targets.js'

/** Connections the open-loop generator may open (it needs ~2 at 1000 req/s; more during a stall). */
const RATE_CONNECTIONS = 64

function rotate<T>(xs: readonly T[], k: number): T[] {
  return xs.map((_, i) => xs[(i + k) % xs.length]!)
}

/** Every pid in the tree under `pid` (nginx: master and worker). */
function treePids(pid: number): number[] {
  const out = [pid]
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) out.push(...treePids(Number(c)))
    }
  } catch {
    /* gone */
  }
  return [...new Set(out)]
}

function pinTree(s: Server, cpu: string): void {
  for (const pid of treePids(s.pid)) pin(pid, cpu)
}

function rssTree(s: Server): number {
  return treePids(s.pid).reduce((a, pid) => a + memory(pid).rssMiB, 0)
}

const PLACEMENT: Record<Layout, string> = {
  shared: 'the upstream and the proxy under test (all threads, nginx master and worker) share CPU 1; the load generator and the runner have CPU 0',
  split: 'the proxy under test alone on CPU 1; the upstream, the load generator and the runner share CPU 0',
}

/** The CPU of the upstream in a layout (proxies are always on CPU 1, the load on CPU 0). */
const UPSTREAM_CPU: Record<Layout, string> = { shared: '1', split: '0' }

function newResults(o: McpOptions, nginx: string, wrk: string, pinning: boolean): McpResults {
  const r: McpResults = {
    machine: machineInfo({ nginx: toolVersion(nginx, ['-v']), wrk: toolVersion(wrk, ['-v']), '@modelcontextprotocol/sdk': packageVersion('@modelcontextprotocol/sdk') }),
    params: {
      runs: o.runs,
      concurrency: o.concurrency,
      durationS: o.durationS,
      warmupS: o.warmupS,
      rate: o.rate,
      rateDurationS: o.rateDurationS,
      rateConnections: RATE_CONNECTIONS,
      upstream: o.upstream,
      answer: o.answer,
      maxConcurrency: Math.max(1024, ...o.concurrency),
      oursLogLevel: o.logLevel,
      oursNodeFlags: [...SIDECAR_NODE_FLAGS],
    },
    scenarios: {},
    checks: {},
    rssAfterMiB: {},
    notes: [],
  }
  if (!pinning) r.notes.push('Not pinned (--no-pin or no taskset): the layouts are not what their names say.')
  if (o.runs < 3 || o.durationS < 5 || o.rateDurationS < 10) r.notes.push('Short run (--quick or custom durations): not for comparison.')
  if (o.cpuProf) r.notes.push('The sidecar ran under --cpu-prof (sampling profiler on): its figures are a little worse than without.')
  return r
}

/** Stops the sidecar with SIGTERM so --cpu-prof writes its profile; returns the summary. */
async function stopAndProfile(ours: Server, profDir: string): Promise<string | undefined> {
  const keep = await stopAndKeepProfile(ours, profDir, 'mcp-ours', 'the sidecar')
  return keep && summarizeProfile(keep, 20)
}

interface PhaseCtx {
  o: McpOptions
  guard: QuietGuard
  wrk: string
  upstream: Server
  paths: McpPath[]
  /** `<server>/<layout>`, for logs and wrk request ids. */
  layout: string
  result: LayoutResult
}

async function fixedPhase(c: PhaseCtx): Promise<void> {
  const { o } = c
  for (const conc of o.concurrency) {
    for (const p of c.paths) await fixedRun(c.wrk, p, c.upstream, conc, o.warmupS, `warm-${c.layout}-${conc}`)
    for (let i = 0; i < o.runs; i++) {
      for (const p of rotate(c.paths, i)) {
        const tag = `${c.layout}-${conc}-${i}`
        const r: FixedRun = await c.guard.measure(`${c.layout} ${p.name} c=${conc}`, async () => {
          await fixedRun(c.wrk, p, c.upstream, conc, Math.min(2, o.warmupS), `warm-${tag}`)
          return fixedRun(c.wrk, p, c.upstream, conc, o.durationS, tag)
        })
        const byC = (c.result.fixed[p.name] ??= {})
        ;(byC[String(conc)] ??= []).push(r)
        log(
          `${c.layout} ${p.name} c=${conc} run ${i + 1}: ${r.rate.toFixed(0)} req/s p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms ` +
            `errors ${r.errors}${r.proxyCpu !== undefined ? ` proxy CPU ${r.proxyCpu.toFixed(2)}` : ''} upstream CPU ${r.upstreamCpu.toFixed(2)}` +
            (r.errors ? ` first error: ${r.firstError}` : ''),
        )
      }
    }
  }
}

async function ratePhase(c: PhaseCtx): Promise<void> {
  const { o } = c
  const spec = { rate: o.rate, warmupS: o.warmupS, durationS: o.rateDurationS, connections: RATE_CONNECTIONS }
  for (let i = 0; i < o.runs; i++) {
    for (const p of rotate(c.paths, i)) {
      const r: RateRun = await c.guard.measure(`${c.layout} ${p.name} ${o.rate} req/s`, () => rateRun(p, c.upstream, spec))
      ;(c.result.rate[p.name] ??= []).push(r)
      log(
        `${c.layout} ${p.name} ${o.rate} req/s run ${i + 1}: p50 ${r.latencyMs.p50.toFixed(3)} p99 ${r.latencyMs.p99.toFixed(3)} ` +
          `p99.9 ${r.latencyMs.p999.toFixed(3)} ms (lag p99 ${r.lagMs.p99.toFixed(3)}) errors ${r.errors}` +
          `${r.proxyCpu !== undefined ? ` proxy CPU ${r.proxyCpu.toFixed(2)}` : ''} upstream CPU ${r.upstreamCpu.toFixed(2)}` +
          (r.errors ? ` first error: ${r.firstError}` : ''),
      )
    }
  }
}

/** One upstream with nginx and the sidecar in front of it, sessions open, checked. */
interface ServerSet {
  upstream: Server
  nginx: Server
  relay: Server
  ours: Server | undefined
  servers: Server[]
  paths: McpPath[]
  checks: string[]
  profDir: string
}

async function startSet(
  o: McpOptions,
  kind: ServerKind,
  env: { tmp: string; pinning: boolean; nginxBin: string; sidecarJs: string; maxConcurrency: number },
): Promise<ServerSet> {
  const port = { upstream: await freePort(), nginx: await freePort(), relay: await freePort(), ours: await freePort() }
  log(`${kind} server: ports ${JSON.stringify(port)}`)
  const first = o.layouts[0]!
  const upstream = await startMcpUpstream({ dir: env.tmp, cpu: env.pinning ? UPSTREAM_CPU[first] : undefined }, port.upstream, kind, o.upstream, o.answer)
  const proxyCtx = { dir: env.tmp, cpu: env.pinning ? '1' : undefined }
  const nginx = await startNginx(proxyCtx, env.nginxBin, port.nginx, port.upstream)
  const relay = await startRelay(proxyCtx, port.relay, port.upstream)
  const profDir = path.join(env.tmp, `prof-${kind}`)
  const ours = o.skipOurs
    ? undefined
    : await startSidecar(proxyCtx, {
        mainJs: env.sidecarJs,
        listenPort: port.ours,
        upstreamPort: port.upstream,
        maxConcurrency: env.maxConcurrency,
        logLevel: o.logLevel,
        nodeArgs: [...SIDECAR_NODE_FLAGS, ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
      })
  const url = (p: number) => `http://127.0.0.1:${p}/mcp`
  const paths: McpPath[] = [
    { name: 'direct', url: url(port.upstream) },
    { name: 'nginx', url: url(port.nginx), proxy: nginx },
    { name: 'relay', url: url(port.relay), proxy: relay },
    ...(ours ? [{ name: 'ours' as McpPathName, url: url(port.ours), proxy: ours.server }] : []),
  ]
  // A session through each path (stateful upstream), then one correct echo through each.
  for (const p of paths) {
    const sid = await openSession(p.url)
    if (sid !== undefined) p.sessionId = sid
    await checkEcho(p.name, p.url, p.sessionId)
  }
  const stateless = kind === 'sdk' && o.upstream === 'stateless'
  const checks = [
    `every path answered \`echo\` correctly${stateless ? ' (no session: the sidecar passes a stateless upstream through, no Mcp-Session-Id anywhere)' : ' in a session opened through that path'}`,
  ]
  if (ours) {
    const p = paths.find((x) => x.name === 'ours')!
    checks.push(...(await checkInspector(p.url, p.sessionId, ours.dataDir)))
  }
  // The nginx worker is the master's child: pin the whole tree again (its CPU is the benchmark's
  // own: the caller hands every pid of the tree to the QuietGuard).
  if (env.pinning) pinTree(nginx, '1')
  return { upstream, nginx, relay, ours: ours?.server, servers: [upstream, nginx, relay, ...(ours ? [ours.server] : [])], paths, checks, profDir }
}

async function main(): Promise<number> {
  const o = mcpOptions()
  const nginxBin = requireTool('nginx', 'nginx')
  const wrk = requireTool('wrk', 'wrk')
  const mainJs = o.skipOurs ? BUNDLE : requireBundle(' (or pass --skip-ours)')

  const ws = workspace('hangar-bench-mcp-', o.keepTmp)
  const tmp = ws.dir
  try {
    const pinning = pinRunner(o.pin)
    const results = newResults(o, nginxBin, wrk, pinning)
    const guard = new QuietGuard(o.quietCores, o.maxWaitS, o.retries, log)
    log(`temp folder ${tmp}`)
    if (o.skipOurs) results.notes.push('The sidecar was not measured (--skip-ours).')
    // Profiled, the sidecar runs from the unbundled build (dist/cli/main.js, the same code) so
    // that hot spots are named by file and line; the bundle is minified into a few long lines.
    const unbundled = path.join(ROOT, 'dist', 'cli', 'main.js')
    const sidecarJs = o.cpuProf && fs.existsSync(unbundled) ? unbundled : mainJs
    if (sidecarJs !== mainJs) results.notes.push('Profiled: the sidecar ran from the unbundled build (dist/cli/main.js) so that the profile names files and lines.')
    const json = resultsPath('mcp-proxy', results.machine.date)
    const write = (final: boolean) => {
      results.quiet = guard.summary()
      writeReport({ markdown: markdown(results), out: o.out, json: { path: json, data: results }, print: final, note: final ? '' : ' (so far)' })
    }
    for (const kind of o.servers) {
      try {
        const set = await startSet(o, kind, { tmp, pinning, nginxBin, sidecarJs, maxConcurrency: results.params.maxConcurrency })
        for (const s of set.servers) for (const pid of treePids(s.pid)) guard.servers.add(pid)
        results.checks[kind] = set.checks
        for (const layout of o.layouts) {
          if (pinning) pinTree(set.upstream, UPSTREAM_CPU[layout])
          const result: LayoutResult = { server: kind, layout, placement: pinning ? PLACEMENT[layout] : 'not pinned', fixed: {}, rate: {} }
          results.scenarios[`${kind}/${layout}`] = result
          log(`${kind}/${layout}: ${result.placement}`)
          const c: PhaseCtx = { o, guard, wrk, upstream: set.upstream, paths: set.paths, layout: `${kind}/${layout}`, result }
          if (o.phases.has('fixed')) await fixedPhase(c)
          if (o.phases.has('rate')) await ratePhase(c)
          write(false)
        }
        results.rssAfterMiB[kind] = { upstream: rssTree(set.upstream), nginx: rssTree(set.nginx), relay: rssTree(set.relay), ...(set.ours && { ours: rssTree(set.ours) }) }
        if (set.ours && o.cpuProf) {
          const profile = await stopAndProfile(set.ours, set.profDir)
          if (profile) (results.profile ??= {})[kind] = profile
        }
      } catch (err) {
        // One server's failure does not throw away what the others measured.
        const msg = err instanceof Error ? err.message : String(err)
        log(`${kind} server: ${msg}`)
        results.notes.push(`The ${kind} server's scenarios stopped early: ${msg.split('\n')[0]}`)
      }
      await killAll()
    }
    write(true)
    const missed = verdicts(results).filter((v) => v.pass === false)
    if (missed.length) log(`targets missed: ${missed.map((v) => `${v.scenario}: ${v.target}`).join('; ')}`)
    return 0
  } finally {
    await killAll()
    ws.close()
  }
}

runMain(main)
