/**
 * A provider container seen as a stdio child: the same surface as {@link StdioChild}, over a
 * connection to the container broker of `mcp-hangar up` (proxy/stdio/broker-protocol.ts). The
 * connection is the container: opening it makes the broker create and start one, closing it makes
 * the broker stop and remove it. So the stdio lifecycle (lazy start, idle stop, restart with
 * backoff, circuit breaker; proxy/stdio/provider.ts) runs a container exactly as it runs a process.
 *
 * - stdout frames are split into JSON-RPC messages as a process's stdout is (framing.ts);
 * - stderr frames are kept (last 20 lines) and logged at debug;
 * - `kill(signal)` asks the broker to signal the container; `closeStdin()` closes its stdin;
 * - the exit frame (or the connection closing without one) ends it.
 */
import { connect, type Socket } from 'node:net'
import { EventEmitter } from 'node:events'
import type { Logger } from '../../core/log.js'
import type { JsonRpcMessage } from '../types.js'
import { FRAME, FrameDecoder, encodeFrame, type ContainerExitInfo } from './broker-protocol.js'
import { describeExit, type ChildExit, type ProviderChild, type StdioChildEvents } from './child.js'
import { ChildOutput, settlesWithin } from './child-output.js'
import { encodeMessage } from './framing.js'

/** Options of {@link ContainerChild}. */
export interface ContainerChildOptions {
  /** Provider name, for logs. */
  name: string
  /** The broker's Unix socket. */
  socketPath: string
  /** Longest stdout line, bytes; default 16 MiB. */
  maxLineBytes?: number
  logger?: Logger
}

/** A provider container driven through the broker (see the file comment). */
export class ContainerChild extends EventEmitter<StdioChildEvents> implements ProviderChild {
  readonly #sock: Socket
  readonly #log: Logger | undefined
  readonly #name: string
  readonly #output: ChildOutput
  readonly #frames = new FrameDecoder()
  #exit: ChildExit | undefined
  #fatal: string | undefined
  #containerId: string | undefined
  #stdinClosed = false
  readonly #exited: Promise<ChildExit>
  #resolveExited!: (e: ChildExit) => void

  constructor(opts: ContainerChildOptions) {
    super()
    this.#name = opts.name
    this.#log = opts.logger
    this.#output = new ChildOutput({
      name: opts.name,
      ...(opts.logger && { log: opts.logger }),
      ...(opts.maxLineBytes !== undefined && { maxLineBytes: opts.maxLineBytes }),
      onMessage: (m) => this.emit('message', m),
      onOverflow: (err) => {
        this.#fatal = `stdout ${err.message}`
        this.#log?.error({ provider: this.#name, maxLineBytes: err.maxLineBytes }, 'provider stdout line too long; killing the container')
        this.kill('SIGKILL')
      },
    })
    this.#exited = new Promise((resolve) => (this.#resolveExited = resolve))
    this.#sock = connect(opts.socketPath)
    this.#sock.on('data', (chunk: Buffer) => this.#onData(chunk))
    this.#sock.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code
      if (!this.#containerId) this.#fatal ??= `container broker unreachable at ${opts.socketPath} (${code ?? err.message})`
      this.#log?.debug({ provider: this.#name, err: err.message }, 'container broker connection error')
    })
    this.#sock.on('close', () => this.#finish({ code: null, error: this.#fatal ?? (this.#containerId ? 'the container broker closed the connection' : undefined) }))
  }

  /** Containers have no pid here: the short container id stands in for logs, when known. */
  get pid(): number | undefined {
    return undefined
  }

  /** The container's id, once started. */
  get containerId(): string | undefined {
    return this.#containerId
  }

  get exitInfo(): ChildExit | undefined {
    return this.#exit
  }

  get stderrTail(): readonly string[] {
    return this.#output.stderrTail
  }

  get exited(): Promise<ChildExit> {
    return this.#exited
  }

  send(message: JsonRpcMessage): boolean {
    if (this.#exit || this.#stdinClosed || this.#sock.destroyed) return false
    this.#sock.write(encodeFrame(FRAME.stdin, encodeMessage(message)))
    return true
  }

  closeStdin(): void {
    if (this.#exit || this.#stdinClosed || this.#sock.destroyed) return
    this.#stdinClosed = true
    this.#sock.write(encodeFrame(FRAME.stdinEnd))
  }

  /** Asks the broker to signal the container; SIGKILL also drops the connection, so the broker removes it whatever happens. */
  kill(signal: NodeJS.Signals): boolean {
    if (this.#exit || this.#sock.destroyed) return false
    this.#sock.write(encodeFrame(FRAME.signal, signal))
    if (signal === 'SIGKILL') this.#sock.end()
    return true
  }

  async waitExit(ms: number): Promise<boolean> {
    return this.#exit !== undefined || settlesWithin(this.#exited, ms)
  }

  #onData(chunk: Buffer): void {
    let frames
    try {
      frames = this.#frames.push(chunk)
    } catch (err) {
      this.#fatal = (err as Error).message
      this.#sock.destroy()
      return
    }
    for (const f of frames) {
      if (f.type === FRAME.stdout) this.#output.stdout(f.payload)
      else if (f.type === FRAME.stderr) this.#output.stderr(f.payload)
      else if (f.type === FRAME.started) {
        try {
          this.#containerId = String((JSON.parse(f.payload.toString('utf8')) as { id?: unknown }).id ?? '')
        } catch {
          this.#containerId = '?'
        }
        this.#log?.debug({ provider: this.#name, container: this.#containerId.slice(0, 12) }, 'provider container started')
      } else if (f.type === FRAME.exit) {
        let info: ContainerExitInfo = { code: null }
        try {
          info = JSON.parse(f.payload.toString('utf8')) as ContainerExitInfo
        } catch {
          info = { code: null, error: 'unreadable exit frame' }
        }
        this.#finish(info)
        this.#sock.end()
      }
    }
  }

  #finish(info: ContainerExitInfo): void {
    if (this.#exit) return
    this.#output.stdoutEnd()
    this.#output.stderrEnd()
    const stderrTail = [...this.#output.stderrTail]
    const signal = (info.signal as NodeJS.Signals | undefined) ?? null
    const error = this.#fatal ?? info.error
    const spawnFailed = !this.#containerId && error !== undefined
    const exit: ChildExit = { code: info.code, signal, stderrTail, description: describeExit({ code: info.code, signal, ...(error !== undefined && { error }), spawnFailed, stderrTail }) }
    if (error !== undefined) exit.error = error
    this.#exit = exit
    this.#resolveExited(exit)
    this.emit('exit', exit)
  }
}
