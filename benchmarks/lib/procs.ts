/**
 * Child processes of a benchmark run: every one is tracked and killed when the runner
 * exits, fails or is interrupted. Servers log to files (not pipes) so the runner reads
 * nothing while a measurement runs.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

export interface Server {
  readonly name: string
  readonly pid: number
  readonly logPath: string
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  exitedYet(): boolean
  /** The last `bytes` of its log, for error messages. */
  logTail(bytes?: number): string
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

const live = new Set<ChildProcess>()
const exitHooks: (() => void)[] = []
let hooksInstalled = false

/** Runs `fn` (synchronous) when the runner exits, however it exits. */
export function atExit(fn: () => void): void {
  installHooks()
  exitHooks.push(fn)
}

function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL')
      } catch {
        /* already gone */
      }
    }
    for (const fn of exitHooks) {
      try {
        fn()
      } catch {
        /* best effort */
      }
    }
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping children\n`)
      void killAll().finally(() => process.exit(130))
    })
  }
}

function track(c: ChildProcess): void {
  installHooks()
  live.add(c)
  c.once('exit', () => live.delete(c))
}

function tail(file: string, bytes: number): string {
  try {
    const st = fs.statSync(file)
    const fd = fs.openSync(file, 'r')
    const len = Math.min(bytes, st.size)
    const buf = Buffer.alloc(len)
    fs.readSync(fd, buf, 0, len, st.size - len)
    fs.closeSync(fd)
    return buf.toString('utf8')
  } catch {
    return ''
  }
}

/** Starts a long-running server; its stdout and stderr go to `<logDir>/<name>.log`. */
export function startServer(
  name: string,
  cmd: string,
  args: string[],
  opts: { logDir: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Server {
  const logPath = path.join(opts.logDir, `${name}.log`)
  const fd = fs.openSync(logPath, 'a')
  const child = spawn(cmd, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  })
  fs.closeSync(fd)
  track(child)
  let done = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true
      resolve({ code, signal })
    })
    child.once('error', (err) => {
      done = true
      fs.appendFileSync(logPath, `\nspawn error: ${err.message}\n`)
      resolve({ code: -1, signal: null })
    })
  })
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`)
  return {
    name,
    pid: child.pid,
    logPath,
    exited,
    exitedYet: () => done,
    logTail: (bytes = 2000) => tail(logPath, bytes),
  }
}

/** Runs a command to completion (load generators, dnsperf), capturing its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; stdoutFile?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const outFd = opts.stdoutFile !== undefined ? fs.openSync(opts.stdoutFile, 'w') : undefined
    const child = spawn(cmd, args, { stdio: ['ignore', outFd ?? 'pipe', 'pipe'] })
    if (outFd !== undefined) fs.closeSync(outFd)
    track(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(new Error(`${cmd}: ${e.message}`))
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
  })
}

/** SIGTERM to every live child, SIGKILL to those still there after `graceMs`. */
export async function killAll(graceMs = 3000): Promise<void> {
  const all = [...live]
  await Promise.all(
    all.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve()
          const t = setTimeout(() => {
            try {
              c.kill('SIGKILL')
            } catch {
              /* gone */
            }
          }, graceMs)
          c.once('exit', () => {
            clearTimeout(t)
            resolve()
          })
          try {
            c.kill('SIGTERM')
          } catch {
            clearTimeout(t)
            resolve()
          }
        }),
    ),
  )
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Waits until `check` resolves true, failing early with the server's log if it exits. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; server?: Server },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs
  for (;;) {
    if (opts.server?.exitedYet()) {
      throw new Error(`${opts.server.name} exited before ${what}; its log ends:\n${opts.server.logTail()}`)
    }
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) {
      const log = opts.server ? `; ${opts.server.name}'s log ends:\n${opts.server.logTail()}` : ''
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${log}`)
    }
    await sleep(100)
  }
}

/** True when 127.0.0.1:<port> accepts a TCP connection. */
export function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(1000, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

/** Finds an executable on PATH, then in the sbin folders Debian puts daemons in. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin']
  for (const d of dirs) {
    if (!d) continue
    const p = path.join(d, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {
      /* next */
    }
  }
  return undefined
}
