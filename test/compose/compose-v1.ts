/**
 * docker-compose v1 (the Debian package) as the judge of what Compose sees: many files read by its
 * own loader in one Python process (compose-config.py beside this file), so that a fuzz run can
 * check hundreds of files. The interpreter is the one docker-compose's own script names.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Compose's configuration, inspected field by field
export type ComposeView = Record<string, any>

/** One file as docker-compose read it: its configuration (`docker-compose config`), or its error. */
export type ComposeResult = { ok: true; config: ComposeView } | { ok: false; error: string }

const SCRIPT = fileURLToPath(new URL('./compose-config.py', import.meta.url))

/** The Python that runs docker-compose, or undefined when docker-compose is not installed. */
export function composePython(): string | undefined {
  try {
    const bin = execFileSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' }).trim()
    const shebang = /^#!\s*(\S+)/.exec(readFileSync(bin, 'utf8').split('\n')[0] ?? '')
    return shebang?.[1]
  } catch {
    return undefined
  }
}

/** Environment for the generated files' required variables. */
export const COMPOSE_ENV = { HANGAR_SIGNAL_TOKEN: 'signal-token', HANGAR_ADMIN_TOKEN: 'admin-token' }

/**
 * Reads each of `paths` with docker-compose's loader (validation, variables from `env`, extends,
 * merge keys), in one process.
 * @throws Error when the Python process itself fails.
 */
export function composeRead(python: string, paths: readonly string[], env: Record<string, string> = {}): ComposeResult[] {
  const out = execFileSync(python, [SCRIPT], {
    input: JSON.stringify(paths),
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    timeout: 300_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...COMPOSE_ENV, ...env },
  })
  return JSON.parse(out) as ComposeResult[]
}
