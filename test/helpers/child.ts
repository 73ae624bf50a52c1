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
