/**
 * What the machine is and what was measured (versions, commit, date): the "Machine" section
 * every report opens with.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './run.js'

export interface MachineInfo {
  /** `process.version`, e.g. `v20.18.0`. */
  node: string
  cpuModel: string
  cores: number
  /** `os.type() os.release()`. */
  kernel: string
  memTotalGiB: number
  /** Tool or package → version; always has `mcp-hangar commit`. */
  versions: Record<string, string>
  /** ISO 8601, when the run started. */
  date: string
}

/**
 * The first line of `cmd args` output matching `match` (or the first non-empty line), from
 * stdout and stderr alike: nginx prints its version on stderr, wrk and `dnsperf -h` exit non-zero.
 * @returns 'unknown' when the tool prints nothing that matches.
 */
export function toolVersion(cmd: string, args: string[], match?: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 })
  const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim())
  return (match ? lines.find((l) => match.test(l)) : lines.find(Boolean)) ?? 'unknown'
}

/** The version of an installed npm package (node_modules/<name>/package.json), or 'unknown'. */
export function packageVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/** The measured code: commit, and whether the work tree had changes. */
function commit(repo: string): string {
  try {
    const run = (args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    const head = run(['rev-parse', '--short', 'HEAD'])
    return run(['status', '--porcelain']) ? `${head} with uncommitted changes` : head
  } catch {
    return 'unknown (not a git work tree)'
  }
}

/** This machine, the commit of `repo` (default the repository root) and the given tool versions. */
export function machineInfo(versions: Record<string, string> = {}, repo = ROOT): MachineInfo {
  return {
    node: process.version,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    memTotalGiB: Math.round(os.totalmem() / 2 ** 30),
    versions: { 'mcp-hangar commit': commit(repo), ...versions },
    date: new Date().toISOString(),
  }
}

/**
 * The report's "## Machine" section: heading, the machine line, one line per version, then
 * `extra` lines (CPU placement, flags) as given, and a blank line.
 */
export function machineSection(mi: MachineInfo, extra: readonly string[] = []): string[] {
  return [
    '## Machine',
    '',
    `- Node ${mi.node}; ${mi.kernel}; ${mi.cores} cores: ${mi.cpuModel}; ${mi.memTotalGiB} GiB RAM`,
    ...Object.entries(mi.versions).map(([k, val]) => `- ${k}: ${val}`),
    ...extra,
    '',
  ]
}
