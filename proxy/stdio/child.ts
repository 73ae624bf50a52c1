/**
 * One stdio provider process: spawned without a shell, framed per MCP "Transports/stdio"
 * (proxy/stdio/framing.ts), stderr kept as logging. This file knows nothing of MCP beyond the
 * framing: the lifecycle and the handshake live in proxy/stdio/provider.ts.
 *
 * - argv is `[...wrap, ...command]` (`wrap` runs it inside e.g. `ip netns exec <ns>`), no shell.
 * - The child runs in its own process group (`detached`), and signals go to the whole group, so a
 *   launcher such as `npx` or `sh -c` cannot leave its grandchildren behind on stop.
 * - Its environment is {@link childEnvironment}: a short inherited set plus the configured env,
 *   never the sidecar's whole environment (it holds tokens).
 * - stdout: one JSON-RPC message per line; non-JSON-RPC lines are logged (warn, truncated) and
 *   skipped; a line over `maxLineBytes` (16 MiB) kills the child (SIGKILL) and explains its exit.
 * - stderr: each line is logged at debug with the provider name (truncated to 2 KiB); the last 20
 *   are kept to explain an exit ("exited with code 1: <last stderr line>").
 * - A write to a closed stdin (EPIPE) is logged, never thrown: the sidecar outlives its children.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import type { Logger } from '../../core/log.js'
import { PROVIDER_INHERITED_ENV } from '../../core/env.js'
import type { JsonRpcMessage } from '../types.js'
import { ChildOutput, settlesWithin } from './child-output.js'
import { encodeMessage } from './framing.js'

/**
 * Environment variables a stdio provider inherits from the sidecar when set: the MCP SDK's
 * `getDefaultEnvironment` list for POSIX (itself sudo's default `env_keep`), plus locale and time
 * zone (`LANG`, `LC_ALL`, `TZ`), `TMPDIR`, and the CA settings `NODE_EXTRA_CA_CERTS` and
 * `SSL_CERT_FILE` (a private CA). core/env.ts reads these and the caller passes the values in.
 */
export const INHERITED_ENV_NAMES = PROVIDER_INHERITED_ENV

export { STDERR_LINE_MAX_BYTES, STDERR_TAIL_LINES } from './child-output.js'

/**
 * The child's environment: the inherited values whose names are in `names` (default
 * {@link INHERITED_ENV_NAMES}; undefined ones and values that look like exported shell functions,
 * `()…`, are dropped, as the MCP SDK does), then the configured `env` over them. Anything else in
 * `inherited` is ignored, so passing the whole environment by mistake leaks nothing. Pure.
 */
export function childEnvironment(
  inherited: Readonly<Record<string, string | undefined>>,
  configured: Readonly<Record<string, string>> = {},
  names: readonly string[] = INHERITED_ENV_NAMES,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const name of names) {
    const v = inherited[name]
    if (v !== undefined && !v.startsWith('()')) env[name] = v
  }
  return { ...env, ...configured }
}

/** How a child ended. */
export interface ChildExit {
  /** Exit code, or null when killed by a signal or never started. */
  code: number | null
  signal: NodeJS.Signals | null
  /** Set when the process could not be spawned (`spawn foo ENOENT`) or was killed for a framing error. */
  error?: string
  /** The last stderr lines (≤ 20, each ≤ 2 KiB), oldest first. */
  stderrTail: string[]
  /** One sentence: "exited with code 1: <last stderr line>", "killed by SIGKILL", "failed to start: …". */
  description: string
}

/**
 * The sentence that explains an exit (used in errors and logs). Pure.
 * A spawn error wins, then a framing error, then the code or signal; the last non-empty stderr
 * line is appended after a colon.
 */
export function describeExit(e: { code: number | null; signal: NodeJS.Signals | null; error?: string; spawnFailed?: boolean; stderrTail: readonly string[] }): string {
  const last = [...e.stderrTail].reverse().find((l) => l.trim() !== '')
  const tail = last !== undefined ? `: ${last.trim()}` : ''
  if (e.spawnFailed) return `failed to start: ${e.error ?? 'spawn error'}`
  const how = e.signal ? `killed by ${e.signal}` : e.code !== null ? `exited with code ${e.code}` : 'exited'
  return e.error ? `${how} (${e.error})${tail}` : `${how}${tail}`
}

/** Options of {@link StdioChild}. */
export interface StdioChildOptions {
  /** Provider name, for logs. */
  name: string
  /** argv of the provider; `command[0]` is the executable (looked up in the child env's PATH). */
  command: readonly string[]
  /** The complete child environment (see {@link childEnvironment}). */
  env: Record<string, string>
  /** Working directory; default the sidecar's. */
  cwd?: string
  /** argv prefix, e.g. `['ip', 'netns', 'exec', 'hangar-fetch']`. */
  wrap?: readonly string[]
  /** Longest stdout line, bytes; default 16 MiB. */
  maxLineBytes?: number
  logger?: Logger
}

/** Events of {@link StdioChild}. */
export interface StdioChildEvents {
  /** One JSON-RPC message from stdout. */
  message: [JsonRpcMessage]
  /** The process is gone (emitted once, also for a spawn failure). */
  exit: [ChildExit]
}

/**
 * What the stdio lifecycle (proxy/stdio/provider.ts) needs of a provider: a process
 * ({@link StdioChild}) or a container behind the broker of `mcp-hangar up`
 * (proxy/stdio/container-child.ts).
 */
export interface ProviderChild extends EventEmitter<StdioChildEvents> {
  /** OS process id; undefined for a container or a failed spawn. */
  readonly pid: number | undefined
  readonly exitInfo: ChildExit | undefined
  readonly stderrTail: readonly string[]
  /** Resolves with the exit (never rejects). */
  readonly exited: Promise<ChildExit>
  /** Writes one message to stdin; false when it is closed or gone. */
  send(message: JsonRpcMessage): boolean
  closeStdin(): void
  kill(signal: NodeJS.Signals): boolean
  /** True when it has exited within `ms`. */
  waitExit(ms: number): Promise<boolean>
}

/** A spawned provider process speaking newline-delimited JSON-RPC (see the file comment). */
export class StdioChild extends EventEmitter<StdioChildEvents> implements ProviderChild {
  readonly #proc: ChildProcess
  readonly #log: Logger | undefined
  readonly #name: string
  readonly #output: ChildOutput
  #exit: ChildExit | undefined
  #fatal: string | undefined
  #spawnFailed = false
  readonly #exited: Promise<ChildExit>
  #resolveExited!: (e: ChildExit) => void

  constructor(opts: StdioChildOptions) {
    super()
    this.#log = opts.logger
    this.#name = opts.name
    this.#exited = new Promise((resolve) => (this.#resolveExited = resolve))
    const argv = [...(opts.wrap ?? []), ...opts.command]
    const [file, ...args] = argv
    if (file === undefined) throw new TypeError('StdioChild: empty command')
    this.#proc = spawn(file, args, {
      env: opts.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      detached: process.platform !== 'win32',
      windowsHide: true,
    })
    this.#output = new ChildOutput({
      name: opts.name,
      ...(opts.logger && { log: opts.logger }),
      ...(opts.maxLineBytes !== undefined && { maxLineBytes: opts.maxLineBytes }),
      logFields: () => ({ pid: this.pid }),
      onMessage: (m) => this.emit('message', m),
      onOverflow: (err) => {
        this.#fatal = `stdout ${err.message}`
        this.#log?.error({ provider: this.#name, pid: this.pid, maxLineBytes: err.maxLineBytes }, 'provider stdout line too long; killing the provider')
        this.kill('SIGKILL')
      },
    })
    this.#proc.stdout!.on('data', (chunk: Buffer) => this.#output.stdout(chunk))
    this.#proc.stdout!.on('end', () => this.#output.stdoutEnd())
    this.#proc.stderr!.on('data', (chunk: Buffer) => this.#output.stderr(chunk))
    this.#proc.stderr!.on('end', () => this.#output.stderrEnd())
    // EPIPE/ECONNRESET when the child closed its stdin or died: the exit handler reports it.
    this.#proc.stdin!.on('error', (err) => this.#log?.debug({ provider: this.#name, pid: this.pid, err: err.message }, 'provider stdin write failed'))
    this.#proc.stdout!.on('error', () => {})
    this.#proc.stderr!.on('error', () => {})
    this.#proc.on('error', (err) => {
      // Either the spawn failed (no pid: ENOENT, EACCES, bad cwd) or a kill failed (ignored).
      if (this.#proc.pid === undefined) {
        this.#spawnFailed = true
        const code = (err as NodeJS.ErrnoException).code
        this.#fatal = code === 'ENOENT' ? `${err.message} (no such executable, or the cwd does not exist)` : err.message
        this.#finish(null, null)
      } else {
        this.#log?.debug({ provider: this.#name, pid: this.pid, err: err.message }, 'provider process error')
      }
    })
    // 'exit' fires when the process is gone; its stdio may still hold the last stderr lines.
    // 'close' (all stdio closed) follows at once, unless a grandchild keeps the pipes open:
    // then report after a short grace so a crash is never missed.
    this.#proc.on('exit', (code, signal) => {
      const t = setTimeout(() => this.#finish(code, signal), 200)
      t.unref()
      this.#proc.once('close', () => {
        clearTimeout(t)
        this.#finish(code, signal)
      })
    })
  }

  /** The OS process id; undefined when the spawn failed. */
  get pid(): number | undefined {
    return this.#proc.pid
  }

  /** The exit, once it happened. */
  get exitInfo(): ChildExit | undefined {
    return this.#exit
  }

  /** The last stderr lines (≤ 20), oldest first. */
  get stderrTail(): readonly string[] {
    return this.#output.stderrTail
  }

  /** Resolves with the exit (never rejects). */
  get exited(): Promise<ChildExit> {
    return this.#exited
  }

  /**
   * Writes one message to stdin as a frame. Returns false (and writes nothing) when stdin is
   * closed or the process is gone; a write error (EPIPE) is logged, not thrown.
   */
  send(message: JsonRpcMessage): boolean {
    const stdin = this.#proc.stdin
    if (this.#exit || !stdin || stdin.destroyed || stdin.writableEnded) return false
    stdin.write(encodeMessage(message))
    return true
  }

  /** Closes stdin: the first step of the MCP stdio shutdown (spec "Lifecycle/Shutdown"). */
  closeStdin(): void {
    const stdin = this.#proc.stdin
    if (stdin && !stdin.destroyed && !stdin.writableEnded) stdin.end()
  }

  /**
   * Sends `signal` to the child's process group (so grandchildren go too), falling back to the
   * child alone. Returns false when there was nothing to signal.
   */
  kill(signal: NodeJS.Signals): boolean {
    const pid = this.#proc.pid
    if (pid === undefined || this.#exit || this.#proc.exitCode !== null || this.#proc.signalCode !== null) return false
    if (process.platform !== 'win32') {
      try {
        process.kill(-pid, signal)
        return true
      } catch {
        // the group is gone or not ours: signal the child itself
      }
    }
    try {
      return this.#proc.kill(signal)
    } catch {
      return false
    }
  }

  /** Resolves true when the child has exited within `ms`, false on timeout. */
  async waitExit(ms: number): Promise<boolean> {
    return this.#exit !== undefined || settlesWithin(this.#exited, ms)
  }

  #finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exit) return
    const stderrTail = [...this.#output.stderrTail]
    const exit: ChildExit = { code, signal, stderrTail, description: describeExit({ code, signal, error: this.#fatal, spawnFailed: this.#spawnFailed, stderrTail }) }
    if (this.#fatal !== undefined) exit.error = this.#fatal
    this.#exit = exit
    this.#proc.stdin?.destroy()
    this.#resolveExited(exit)
    this.emit('exit', exit)
  }
}

/** Spawns a provider process (see {@link StdioChild}). Spawn errors arrive as its `exit` event. */
export function spawnStdioChild(opts: StdioChildOptions): StdioChild {
  return new StdioChild(opts)
}
