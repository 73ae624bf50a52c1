/**
 * The run of a benchmark script: the repository root, the progress log, the temp folder, the
 * build it measures, a kept CPU profile, and the tail every script ends with (run `main`, stop
 * every child, exit with its status).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CommanderError } from 'commander'
import { atExit, killAll, sleep, type Server } from '../lib/procs.js'
import { canPin, pin } from '../lib/sysinfo.js'

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The bundled bin every suite that starts our processes runs (scripts/bundle.mjs). */
export const BUNDLE = path.join(ROOT, 'dist', 'mcp-hangar.mjs')

/** Progress on stderr, one line, prefixed `bench:` (stdout carries the report). */
export function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`)
}

/** @throws Error saying to run `npm run build` when {@link BUNDLE} is missing; `hint` is appended. */
export function requireBundle(hint = ''): string {
  if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first${hint}`)
  return BUNDLE
}

/** A temp folder for one run's configs, logs and data. */
export interface Workspace {
  readonly dir: string
  /** Removes the folder (or, with keepTmp, says where it is). Idempotent. */
  close(): void
}

/**
 * Makes `<tmpdir>/<prefix>XXXXXX` (mode 0755, so servers that drop privileges can read it),
 * removed at exit however the runner exits, unless `keepTmp`.
 */
export function workspace(prefix: string, keepTmp: boolean): Workspace {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, 0o755)
  const remove = () => fs.rmSync(dir, { recursive: true, force: true })
  if (!keepTmp) atExit(remove)
  let closed = false
  return {
    dir,
    close() {
      if (closed) return
      closed = true
      if (keepTmp) log(`kept ${dir}`)
      else remove()
    },
  }
}

/**
 * Copies the first `.cpuprofile` that `node --cpu-prof --cpu-prof-dir=<profDir>` wrote to
 * `<tmpdir>/hangar-bench-<name>-<ms>.cpuprofile`, so it outlives the workspace.
 * @returns the copy's path, or undefined when the process wrote none.
 */
export function keepProfile(profDir: string, name: string): string | undefined {
  const prof = fs.existsSync(profDir) ? fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : []
  if (!prof.length) return undefined
  const keep = path.join(os.tmpdir(), `hangar-bench-${name}-${Date.now()}.cpuprofile`)
  fs.copyFileSync(path.join(profDir, prof[0]!), keep)
  return keep
}

/**
 * Stops `s` with SIGTERM, waiting up to 20 s so that `node --cpu-prof` writes its profile, and
 * keeps the profile ({@link keepProfile}); says so, or logs the end of `s`'s log when there is none.
 * @param who how the log names `s` ("the sidecar").
 */
export async function stopAndKeepProfile(s: Server, profDir: string, name: string, who: string): Promise<string | undefined> {
  process.kill(s.pid, 'SIGTERM')
  await Promise.race([s.exited, sleep(20_000)])
  const keep = keepProfile(profDir, name)
  if (!keep) log(`no .cpuprofile in ${profDir}; ${who}'s log ends:\n${s.logTail()}`)
  else log(`kept ${who}'s profile at ${keep} (open it in Chrome DevTools)`)
  return keep
}

/**
 * Pins the runner, and so every load generator it starts, to CPU 0 when `want` and the machine
 * can (taskset, two cores or more); the servers under test then go on CPU 1.
 * @returns whether the runner is pinned.
 */
export function pinRunner(want: boolean): boolean {
  const pinning = want && canPin()
  if (pinning) pin(process.pid, '0')
  return pinning
}

/** How a script's tail ends a failed run. */
export interface MainOptions {
  /** Exit status after an error (default 1). */
  errorExit?: number
  /** Prefix of the error line (default `bench`). */
  prefix?: string
}

/**
 * The tail of every benchmark script: runs `main`, stops every child process it started
 * (lib/procs.ts) and exits with `main`'s status. `--help` exits 0; a bad option exits `errorExit`
 * (commander has printed why); any other error is printed with its stack and exits `errorExit`.
 */
export function runMain(main: () => Promise<number>, o: MainOptions = {}): void {
  main().then(
    (code) => process.exit(code),
    async (err: unknown) => {
      await killAll()
      if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : (o.errorExit ?? 1))
      process.stderr.write(`${o.prefix ?? 'bench'}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exit(o.errorExit ?? 1)
    },
  )
}
