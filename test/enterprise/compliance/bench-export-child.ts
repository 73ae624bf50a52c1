// The measuring child of `npm run bench:export` (benchmarks/export.ts). It lives with the
// enterprise tests because benchmarks/ may not import enterprise/. One process, loopback only:
//   audit: signals/s and CPU per 1,000 signals of the bare audit-log write (store.ingest, fsynced
//     batches of 500), the floor every export figure is compared with;
//   per format: a store pre-filled with N signals, then one sink (syslog over TCP, octet counting)
//     to a discarding receiver in another process: time and CPU until the cursor reaches N;
//   lag: the jsonl sink while signals arrive at a fixed rate: the lag sampled every 50 ms, and the
//     time to drain after the load stops.
// argv: <work dir> <N> <rate/s> <seconds>. Prints one JSON object on stdout.
import { spawn } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { openStore, type SignalStore } from '../../../aggregator/store/store.js'
import { silentLogger } from '../../../core/log.js'
import { FORMATTERS } from '../../../enterprise/compliance/format/index.js'
import { createComplianceExport } from '../../../enterprise/compliance/index.js'
import { signal } from '../../fixtures/aggregator/signals.js'

const [work, nArg, rateArg, secondsArg] = process.argv.slice(2) as [string, string, string, string]
const N = Number(nArg)
const RATE = Number(rateArg)
const SECONDS = Number(secondsArg)
const log = silentLogger()
let next = 1
const batch = (n: number) => Array.from({ length: n }, () => signal(next++, { reason: 'connection to a destination outside the allowlist' }))
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

async function fresh(name: string): Promise<SignalStore> {
  const dir = join(work, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return openStore({ dir, log })
}

/** A TCP receiver in another process that reads and discards; resolves with its port. */
async function receiver(): Promise<{ port: number; stop: () => void }> {
  const c = spawn(process.execPath, ['-e', "const s=require('net').createServer((c)=>c.resume());s.listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve) => c.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
  return { port, stop: () => c.kill('SIGKILL') }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5))
}

function ctx(store: SignalStore, dir: string, sinks: Record<string, unknown>) {
  return { dataDir: dir, config: { sinks }, log, registry: new Registry(), subscribe: store.follow.bind(store) as never, lastSeq: () => store.lastSeq }
}

const out: Record<string, unknown> = { n: N, rate: RATE, seconds: SECONDS, formats: {} as Record<string, unknown> }
const recv = await receiver()
try {
  // audit floor
  {
    const store = await fresh('audit')
    const c0 = cpuMs()
    const t0 = performance.now()
    for (let i = 0; i < N; i += 500) await store.ingest(batch(500))
    const ms = performance.now() - t0
    out.audit = { signals_per_s: Math.round((N / ms) * 1000), cpu_ms_per_1000: +((cpuMs() - c0) / (N / 1000)).toFixed(2) }
    await store.close()
  }
  for (const format of Object.keys(FORMATTERS)) {
    const store = await fresh(`fmt-${format}`)
    for (let i = 0; i < N; i += 500) await store.ingest(batch(500))
    const port = createComplianceExport()
    const c0 = cpuMs()
    const t0 = performance.now()
    await port.start(ctx(store, join(work, `fmt-${format}`), { bench: { format, transport: { type: 'syslog', protocol: 'tcp', address: `127.0.0.1:${recv.port}` }, batch_max: 500 } }))
    await until(() => port.status()[0]!.cursor >= store.lastSeq)
    const ms = performance.now() - t0
    const cpu = cpuMs() - c0
    ;(out.formats as Record<string, unknown>)[format] = { signals_per_s: Math.round((N / ms) * 1000), cpu_ms_per_1000: +(cpu / (N / 1000)).toFixed(2) }
    await port.stop()
    await store.close()
  }
  // lag under a fixed load
  {
    const store = await fresh('lag')
    const port = createComplianceExport()
    await port.start(ctx(store, join(work, 'lag'), { bench: { format: 'jsonl', transport: { type: 'syslog', protocol: 'tcp', address: `127.0.0.1:${recv.port}` }, batch_max: 500 } }))
    const lags: number[] = []
    const sampler = setInterval(() => lags.push(port.status()[0]!.lag), 50)
    const tick = 20
    const per = Math.max(1, Math.round((RATE * tick) / 1000))
    const t0 = performance.now()
    let sent = 0
    while (performance.now() - t0 < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE)
      if (sent < due) {
        const n = Math.min(due - sent, per * 5)
        await store.ingest(batch(n))
        sent += n
      } else await new Promise((r) => setTimeout(r, tick))
    }
    const achieved = Math.round(sent / ((performance.now() - t0) / 1000))
    const d0 = performance.now()
    await until(() => port.status()[0]!.cursor >= store.lastSeq)
    clearInterval(sampler)
    lags.sort((a, b) => a - b)
    out.lag = { offered_per_s: RATE, achieved_per_s: achieved, signals: sent, lag_p50: lags[Math.floor(lags.length * 0.5)] ?? 0, lag_p99: lags[Math.floor(lags.length * 0.99)] ?? 0, lag_max: lags.at(-1) ?? 0, drain_ms: Math.round(performance.now() - d0) }
    await port.stop()
    await store.close()
  }
} finally {
  recv.stop()
}
process.stdout.write(JSON.stringify(out) + '\n')
