/**
 * Other work on the machine skews a loopback benchmark. This measures "foreign" CPU: what
 * the whole machine used (/proc/stat user+nice+system) less what the benchmark's own processes
 * used (the runner with its reaped children — load generators, dnsperf — and every server
 * it started). Before each measurement the runner waits for a quiet machine; a measurement
 * during which foreign CPU exceeded the threshold is repeated.
 */
import fs from 'node:fs'
import { sleep } from '../lib/procs.js'
import { cpuSeconds } from '../lib/sysinfo.js'
import { fmt } from '../lib/stats.js'

const CLK_TCK = 100

interface Snapshot {
  t: number
  machineBusy: number
  steal: number
  own: number
}

function machine(): { busy: number; steal: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return { busy: (f[0]! + f[1]! + f[2]!) / CLK_TCK, steal: (f[7] ?? 0) / CLK_TCK }
}

/** CPU seconds of the runner itself plus its children that have exited and been reaped. */
function runnerWithReapedChildren(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime 14, stime 15, cutime 16, cstime 17 (rest[0] is field 3)
  return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / CLK_TCK
}

/** How quiet the machine was over a run's accepted measurements: the report's "quiet" field. */
export interface QuietSummary {
  /** Other work tolerated during a measurement, cores. */
  thresholdCores: number
  /** Median and max of the other work during the accepted measurements, cores (NaN: none). */
  foreignMedianCores: number
  foreignMaxCores: number
  /** Measurements repeated because other work ran. */
  repeated: number
  /** Measurements kept although disturbed (the retries ran out). */
  keptDisturbed: number
  /** Seconds spent waiting for a quiet machine. */
  waitedS: number
  /** Highest hypervisor steal seen during a measurement, cores. */
  stealMaxCores: number
}

/** The note every report gives on the quiet check, one markdown list item. */
export function quietNote(q: QuietSummary): string {
  return (
    `- Other work on the machine during the accepted measurements (CPU not used by the benchmark's own ` +
    `processes): median ${fmt(q.foreignMedianCores, 3)}, max ${fmt(q.foreignMaxCores, 3)} cores ` +
    `(threshold ${fmt(q.thresholdCores, 2)}); ${q.repeated} measurement(s) repeated, ${q.keptDisturbed} kept although disturbed; ` +
    `${fmt(q.waitedS, 0)} s spent waiting for quiet; hypervisor steal up to ${fmt(q.stealMaxCores, 3)} cores.`
  )
}

/**
 * The quiet check: {@link QuietGuard.measure} runs a measurement once the machine is idle
 * (other work under `thresholdCores` for 1 s, or after `maxWaitS` seconds), and again, up to
 * `maxRetries` times, if other work ran meanwhile. Add the pid of every server the benchmark
 * starts to {@link QuietGuard.servers} so its CPU counts as the benchmark's own.
 */
export class QuietGuard {
  readonly servers = new Set<number>()
  /** Foreign CPU (cores) of every accepted measurement, for the report. */
  readonly accepted: number[] = []
  waitedS = 0
  retries = 0
  gaveUp = 0
  stealMax = 0

  constructor(
    readonly thresholdCores: number,
    readonly maxWaitS: number,
    readonly maxRetries: number,
    private readonly log: (m: string) => void,
  ) {}

  /** What the report states about the quiet check so far. */
  summary(): QuietSummary {
    const fq = [...this.accepted].sort((a, b) => a - b)
    return {
      thresholdCores: this.thresholdCores,
      foreignMedianCores: fq[Math.floor(fq.length / 2)] ?? NaN,
      foreignMaxCores: fq[fq.length - 1] ?? NaN,
      repeated: this.retries,
      keptDisturbed: this.gaveUp,
      waitedS: this.waitedS,
      stealMaxCores: this.stealMax,
    }
  }

  private snap(): Snapshot {
    const m = machine()
    let own = runnerWithReapedChildren()
    for (const pid of this.servers) {
      try {
        own += cpuSeconds(pid)
      } catch {
        this.servers.delete(pid)
      }
    }
    return { t: performance.now() / 1000, machineBusy: m.busy, steal: m.steal, own }
  }

  private foreign(a: Snapshot, b: Snapshot): { cores: number; steal: number } {
    const wall = Math.max(1e-3, b.t - a.t)
    return {
      cores: Math.max(0, (b.machineBusy - a.machineBusy - (b.own - a.own)) / wall),
      steal: (b.steal - a.steal) / wall,
    }
  }

  /** Waits until the machine runs nothing else (foreign CPU under the threshold for 1 s). */
  async waitQuiet(): Promise<void> {
    const start = performance.now()
    let said = false
    for (;;) {
      const a = this.snap()
      await sleep(1000)
      const f = this.foreign(a, this.snap())
      if (f.cores < this.thresholdCores) break
      const waited = (performance.now() - start) / 1000
      if (waited > this.maxWaitS) {
        this.log(`machine still busy (${f.cores.toFixed(2)} cores of other work) after ${this.maxWaitS} s; measuring anyway`)
        break
      }
      if (!said) this.log(`waiting for a quiet machine (${f.cores.toFixed(2)} cores of other work)`)
      said = true
    }
    this.waitedS += (performance.now() - start) / 1000
  }

  /** Runs `fn` on a quiet machine, again (up to maxRetries) if other work ran meanwhile. */
  async measure<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.waitQuiet()
      const a = this.snap()
      const v = await fn()
      const b = this.snap()
      const f = this.foreign(a, b)
      this.stealMax = Math.max(this.stealMax, f.steal)
      // /proc/stat counts in 10 ms ticks: allow two ticks of error on short runs.
      if (f.cores < this.thresholdCores + 2 / CLK_TCK / Math.max(1e-3, b.t - a.t)) {
        this.accepted.push(f.cores)
        return v
      }
      if (attempt >= this.maxRetries) {
        this.log(`${what}: other work used ${f.cores.toFixed(2)} cores during the run; kept after ${attempt + 1} tries`)
        this.accepted.push(f.cores)
        this.gaveUp++
        return v
      }
      this.retries++
      this.log(`${what}: other work used ${f.cores.toFixed(2)} cores during the run; repeating it`)
    }
  }
}
