import { spawn } from 'node:child_process'

/** Runs `src` as an ES module in a child node (TypeScript imports through tsx) from `cwd`; resolves with its stdout, stderr and exit code when it closes. */
export function runModule(src: string, cwd: string): Promise<{ out: string; err: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.on('data', (b: Buffer) => (out += b.toString()))
    c.stderr.on('data', (b: Buffer) => (err += b.toString()))
    c.on('error', reject)
    c.on('close', (code) => resolve({ out, err, code }))
  })
}

/** What {@link runNode} gives back. */
export interface NodeRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `cmd ...args` to its end with a minimal environment (PATH, HOME, then `env` over them),
 * `input` on stdin, and SIGKILL after `timeoutMs` (default 60 s).
 */
export function runCommand(cmd: string, args: string[], o: { cwd?: string; env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<NodeRun> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { ...(o.cwd !== undefined && { cwd: o.cwd }), env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += String(d)))
    c.stderr.on('data', (d: Buffer) => (stderr += String(d)))
    const timer = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 60_000)
    c.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    c.stdin.on('error', () => {})
    c.stdin.end(o.input ?? '')
  })
}

/** {@link runCommand} of this process's node. */
export function runNode(args: string[], o: Parameters<typeof runCommand>[2] = {}): Promise<NodeRun> {
  return runCommand(process.execPath, args, o)
}
