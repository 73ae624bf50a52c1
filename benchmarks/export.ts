/**
 * SIEM export benchmark, in one run, on loopback only: signals/s and CPU per 1,000 signals of each
 * export format (a sink over syslog TCP to a discarding receiver in another process), side by side
 * with the bare audit-log write (the floor); then the sink's lag while signals arrive at a fixed
 * rate (default 5,000/s) and the time to drain after. The measuring child is
 * test/enterprise/fixtures/compliance/bench-export-child.ts (benchmarks/ may not import the enterprise
 * modules). Writes docs/benchmarks/export.md and benchmarks/results/export-<date>.json.
 *
 *   npm run bench:export [-- --quick] [-- --no-write]
 *   (node --import ./benchmarks/register.mjs benchmarks/export.ts)
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { machineInfo } from './harness/machine.js'
import { resultsPath, writeReport } from './harness/report.js'
import { log, ROOT, runMain } from './harness/run.js'

interface Figures { signals_per_s: number; cpu_ms_per_1000: number }
interface Result {
  n: number
  audit: Figures
  formats: Record<string, Figures>
  lag: { offered_per_s: number; achieved_per_s: number; signals: number; lag_p50: number; lag_p99: number; lag_max: number; drain_ms: number }
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick')
  const write = !process.argv.includes('--no-write')
  const n = quick ? 10_000 : 50_000
  const seconds = quick ? 5 : 20
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-bench-export-'))
  try {
    log(`export: ${n} signals per format, lag at 5000/s for ${seconds} s`)
    const child = spawn(process.execPath, ['--import', path.join(ROOT, 'benchmarks', 'register.mjs'), path.join(ROOT, 'test', 'enterprise', 'fixtures', 'compliance', 'bench-export-child.ts'), work, String(n), '5000', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout!.on('data', (d: Buffer) => { text += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    if (code !== 0) throw new Error(`the measuring child exited ${code}`)
    const r = JSON.parse(text) as Result
    const rows = [`| audit-log write (floor) | ${r.audit.signals_per_s} | ${r.audit.cpu_ms_per_1000} | 1.00 |`]
    for (const [f, x] of Object.entries(r.formats)) rows.push(`| export \`${f}\` → syslog/tcp | ${x.signals_per_s} | ${x.cpu_ms_per_1000} | ${(x.signals_per_s / r.audit.signals_per_s).toFixed(2)} |`)
    const md = [
      '# SIEM export benchmark', '',
      `Run ${new Date().toISOString()} on ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}. ${n} signals per row; loopback only.`, '',
      '| what | signals/s | CPU ms per 1,000 signals | × audit write |', '|---|---|---|---|', ...rows, '',
      `Lag of a \`jsonl\` sink (syslog/tcp) while ${r.lag.offered_per_s} signals/s are offered (${r.lag.achieved_per_s}/s achieved, ${r.lag.signals} signals): p50 ${r.lag.lag_p50}, p99 ${r.lag.lag_p99}, max ${r.lag.lag_max} signals behind; drained ${r.lag.drain_ms} ms after the load stopped.`, '',
      'The export reads from the store it follows (memory, then the audit files), so "signals/s" of a format is the rate a sink catches up at; the audit write is fsynced per batch of 500.', '',
    ].join('\n')
    writeReport({ markdown: md, out: write ? path.join(ROOT, 'docs', 'benchmarks', 'export.md') : undefined, json: { path: resultsPath('export', new Date().toISOString()), data: { machine: machineInfo({}), ...r } }, print: true })
    return 0
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

runMain(main)
