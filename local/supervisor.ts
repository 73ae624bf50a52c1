/**
 * One supervised child process of `mcp-hangar up` (the aggregator, or one provider's sidecar):
 * started, checked ready over HTTP, its output passed on line by line with a `[name]` prefix,
 * restarted with backoff when it exits unexpectedly (at most {@link MAX_RESTARTS} times within
 * {@link RESTART_WINDOW_MS}; then `onGiveUp`), and stopped with SIGTERM, then SIGKILL after
 * `stopTimeoutMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { request } from 'undici'
import { backoffDelay, NO_JITTER, type BackoffOptions } from '../core/backoff.js'
import type { Logger } from '../core/log.js'

export const MAX_RESTARTS = 5
export const RESTART_WINDOW_MS = 5 * 60_000
/** Restart delays: 1 s doubling to at most 30 s, no jitter (one process, nothing to de-synchronise). */
const RESTART_BACKOFF: BackoffOptions = { initialMs: 1000, capMs: 30_000, jitter: NO_JITTER }

export interface ManagedProcessOptions {
  name: string
  /** argv[0] and the rest: `process.execPath` and its arguments. */
  command: string
  args: readonly string[]
  env: NodeJS.ProcessEnv
  /** GET this URL for readiness (200 = ready). */
  readyUrl: string
  log: Logger
  /** Where child output goes (default process.stderr). */
  out?: NodeJS.WritableStream
  /** SIGTERM → SIGKILL, ms. Default 15000. */
  stopTimeoutMs?: number
  /** Called when the restart budget is spent. */
  onGiveUp: (why: string) => void
  /**
   * Run through `setpriv --pdeathsig KILL` (util-linux): the kernel SIGKILLs the process when
   * `up` dies, even by SIGKILL (prctl(2) PR_SET_PDEATHSIG). Default false.
   */
  dieWithParent?: boolean
  /** Called with the pid of each process started (the first and every restart). */
  onSpawn?: (pid: number) => void
}

export class ManagedProcess {
  readonly #o: ManagedProcessOptions
  #child: ChildProcess | undefined
  #stopping = false
  #restarts: number[] = []
  #exited: Promise<void> = Promise.resolve()

  constructor(o: ManagedProcessOptions) {
    this.#o = o
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** Spawns the process (without waiting for it to be ready). */
  start(): void {
    const { o } = { o: this.#o }
    // Its own process group: a terminal's Ctrl-C reaches `up` alone, which then stops the
    // processes in order (sidecars before the aggregator that receives their last signals).
    const [command, args] = o.dieWithParent ? ['setpriv', ['--pdeathsig', 'KILL', '--', o.command, ...o.args]] : [o.command, o.args]
    const child = spawn(command, args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    this.#child = child
    if (child.pid !== undefined) o.onSpawn?.(child.pid)
    const out = o.out ?? process.stderr
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => out.write(`[${o.name}] ${line}\n`))
    }
    this.#exited = new Promise<void>((done) => {
      child.once('exit', (code, signal) => {
        done()
        if (this.#stopping || this.#child !== child) return
        this.#onUnexpectedExit(code, signal)
      })
    })
    child.once('error', (err) => o.log.error({ process: o.name, err: err.message }, 'cannot start process'))
  }

  #onUnexpectedExit(code: number | null, signal: NodeJS.Signals | null): void {
    const now = Date.now()
    this.#restarts = this.#restarts.filter((t) => now - t < RESTART_WINDOW_MS)
    const why = `${this.#o.name} exited (${signal ?? `code ${code}`})`
    if (this.#restarts.length >= MAX_RESTARTS) {
      this.#o.log.error({ process: this.#o.name }, `${why}; restarted ${MAX_RESTARTS} times in ${RESTART_WINDOW_MS / 60_000} min, giving up`)
      this.#o.onGiveUp(why)
      return
    }
    const delay = backoffDelay(this.#restarts.length + 1, RESTART_BACKOFF, 0)
    this.#restarts.push(now)
    this.#o.log.warn({ process: this.#o.name, restart_in_ms: delay }, `${why}; restarting`)
    setTimeout(() => {
      if (!this.#stopping) this.start()
    }, delay).unref()
  }

  /**
   * Resolves once `readyUrl` answers 200; rejects when the process exits first or after
   * `timeoutMs`.
   */
  async ready(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs
    let exited = false
    void this.#exited.then(() => (exited = true))
    for (;;) {
      if (exited) throw new Error(`${this.#o.name} exited before it was ready`)
      try {
        const res = await request(this.#o.readyUrl, { headersTimeout: 2000, bodyTimeout: 2000 })
        await res.body.dump()
        if (res.statusCode === 200) return
      } catch {
        /* not listening yet */
      }
      if (Date.now() > until) throw new Error(`${this.#o.name} was not ready within ${timeoutMs} ms (${this.#o.readyUrl})`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** SIGKILL now, synchronously (`up` itself is exiting abnormally). */
  killNow(): void {
    this.#stopping = true
    try {
      this.#child?.kill('SIGKILL')
    } catch {
      /* already gone */
    }
  }

  /** From now on an exit is expected: no restart. */
  markStopping(): void {
    this.#stopping = true
  }

  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves when the process is gone. */
  async stop(): Promise<void> {
    this.#stopping = true
    const child = this.#child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), this.#o.stopTimeoutMs ?? 15_000)
    await this.#exited
    clearTimeout(timer)
  }
}
