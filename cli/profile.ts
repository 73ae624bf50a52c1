/**
 * `mcp-hangar profile list`, `mcp-hangar profile validate FILE…` (docs/profiles.md) and
 * `mcp-hangar profile suggest` (docs/baseline.md). Composition only: profiles are read by the
 * config loader's own `loadProfile` (config/load.ts), so a file that validates here is a
 * file `profile:` accepts; suggestions and diffs come from profiles/suggest.ts and
 * profiles/suggest-diff.ts, baselines from cli/baseline.ts `loadBaselineSource`.
 *
 * Exit codes: 0 every file valid (or the list printed, or the profile suggested, or nothing
 * would be denied by `--diff`); 1 `--diff`: something recorded would be denied; 2 a file is
 * invalid, missing, names an unknown built-in or an unset `${VAR}`, the baseline cannot be read,
 * or the sub-command or an option is wrong.
 */
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { loadProfile, type LoadedProfile } from '../config/load.js'
import { rawEnv } from '../core/env.js'
import { ConfigError, ERROR_CODES, HangarError } from '../core/errors.js'
import { formatTable, formatWindow, printable } from '../profiles/baseline/table.js'
import type { Baseline } from '../policy/baseline-schema.js'
import { listBuiltinProfiles } from '../config/builtin-profiles.js'
import { capabilitiesSchema } from '../policy/capabilities.js'
import { ruleText } from '../policy/tool-policy.js'
import { suggestProfile } from '../profiles/suggest.js'
import { diffProfile, type ProfileDiff } from '../profiles/suggest-diff.js'
import { baselineSourceOptions, failedCommand, loadBaselineSource, sourceOptionsOf, type BaselineSourceOptions } from './baseline.js'

/** Where the commands write: one call per line, without the newline. */
export interface ProfileCommandIo {
  out(line: string): void
  err(line: string): void
}

/** Options of {@link runProfileCommand}. */
export interface ProfileCommandOptions {
  /** Relative FILEs are resolved from here. Default: the working directory. */
  cwd?: string
  /** For `${VAR}` in profile files. Default: the process environment (core/env.ts `rawEnv`). */
  env?: Readonly<Record<string, string | undefined>>
}

const stdio: ProfileCommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}

/** The parts of a profile the commands print, from its block with defaults applied. */
export interface ProfileSummary {
  enforcement: string
  egressRules: number
  /** `allow all` or `allow <glob>` / `allow <n>`, then `deny none` / `deny <n>`, then `expect <n>` when declared. */
  tools: string
  secretPatterns: number
}

/** Summarizes a loaded profile (see {@link ProfileSummary}). */
export function summarizeProfile(p: LoadedProfile): ProfileSummary {
  const c = capabilitiesSchema.parse(p.capabilities)
  const t = c.tools
  const tools = [
    t.allow_list.length ? `allow ${t.allow_list.length === 1 ? ruleText(t.allow_list[0]!) : t.allow_list.length}` : 'allow all',
    t.deny_list.length ? `deny ${t.deny_list.length}` : 'deny none',
    ...(t.expected_tools ? [`expect ${t.expected_tools.length}`] : []),
  ].join(', ')
  return { enforcement: c.enforcement_mode, egressRules: c.network.egress.length, tools, secretPatterns: c.arguments.secret_patterns.length }
}

/** `block, 1 egress rule, tools: allow all, deny 7, expect 26, 7 secret patterns`. */
export function formatProfileSummary(s: ProfileSummary): string {
  return `${s.enforcement}, ${s.egressRules} egress rule${s.egressRules === 1 ? '' : 's'}, tools: ${s.tools}, ${s.secretPatterns} secret pattern${s.secretPatterns === 1 ? '' : 's'}`
}

/**
 * Runs `profile list` (`argv = ['list']`) or `profile validate FILE…` (`argv = ['validate', …files]`),
 * writing to `io`. Never exits the process; returns the exit code (see the file comment).
 * A FILE is read as `providers.<p>.profile` would be: a path, or a bare built-in name.
 */
export function runProfileCommand(argv: readonly string[], io: ProfileCommandIo = stdio, opts: ProfileCommandOptions = {}): number {
  const [sub, ...args] = argv
  if (sub === 'list' && args.length === 0) return list(io)
  if (sub === 'validate' && args.length > 0) return validate(args, io, opts)
  io.err('usage: mcp-hangar profile list | mcp-hangar profile validate FILE...')
  return 2
}

function list(io: ProfileCommandIo): number {
  let rows: string[][]
  try {
    rows = listBuiltinProfiles().map((b) => {
      const s = summarizeProfile(loadProfile(b.name))
      return [b.name, String(s.egressRules), s.tools, b.description]
    })
  } catch (e) {
    return failed('built-in profiles', e, io)
  }
  const table = [['NAME', 'EGRESS', 'TOOLS', 'DESCRIPTION'], ...rows]
  const width = (i: number) => Math.max(...table.map((r) => r[i]!.length))
  for (const r of table) io.out(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(width(i)))).join('  '))
  return 0
}

function validate(files: readonly string[], io: ProfileCommandIo, opts: ProfileCommandOptions): number {
  let code = 0
  for (const file of files) {
    try {
      const p = loadProfile(file, { baseDir: opts.cwd ?? process.cwd(), env: opts.env ?? rawEnv() })
      io.out(`${file}: ok (${formatProfileSummary(summarizeProfile(p))})`)
    } catch (e) {
      code = failed(file, e, io)
    }
  }
  return code
}

/** Prints every bad field of a ConfigError, or the message of another HangarError; 2. Rethrows the unexpected. */
function failed(what: string, e: unknown, io: ProfileCommandIo): number {
  if (e instanceof ConfigError) {
    io.err(`${what}: invalid`)
    for (const i of e.issues) io.err(`  ${i.path}: ${i.message}`)
    return 2
  }
  if (e instanceof HangarError) {
    io.err(`${what}: ${e.message}`)
    return 2
  }
  throw e
}

/** Options of {@link runProfileSuggest}: the baseline source, and what to make of it. */
export interface ProfileSuggestOptions extends BaselineSourceOptions {
  /** `-o FILE`: write the profile here instead of printing it. */
  out?: string
  /** `--glob-threshold N`: subdomains of one domain that make a `*.` glob (an integer ≥ 2). Default 3. */
  globThreshold?: string | number
  /** `--diff PROFILE`: compare this profile (a file or a built-in name) with the baseline instead. */
  diff?: string
}

function thresholdOf(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = typeof v === 'number' ? v : /^\d{1,6}$/.test(v) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < 2) throw new HangarError(ERROR_CODES.USAGE, `--glob-threshold: expected an integer ≥ 2, got "${v}"`)
  return n
}

/** The text of `profile suggest --diff`: what the profile allows that was never used, and what was used that it would deny. */
export function formatProfileDiff(profile: string, mode: string, b: Baseline, d: ProfileDiff): string[] {
  const lines = [`profile ${profile} (${mode} mode) against the baseline of ${b.provider}, ${formatWindow(b.started, b.updated)}:`, '']
  lines.push(`allowed but never used (${d.unused.length}):`)
  lines.push(...formatTable(['RULE', 'WHAT'], d.unused.map((u) => [u.rule, u.text])).map((l) => `  ${l}`))
  lines.push('', `used but would be denied (${d.wouldDeny.length}):`)
  lines.push(...formatTable(['WHAT', 'COUNT', 'REASON'], d.wouldDeny.map((w) => [w.what, String(w.count), printable(w.reason)])).map((l) => `  ${l}`))
  return lines
}

/**
 * `profile suggest`: reads the baseline ({@link loadBaselineSource}) and writes the suggested
 * profile (profiles/suggest.ts) to `io.out` or `-o FILE`, its notes to `io.err` as `note: …`.
 * With `diff`, prints {@link formatProfileDiff} instead and returns 1 when something would be
 * denied. Never exits the process; returns the exit code (see the file comment).
 */
export async function runProfileSuggest(o: ProfileSuggestOptions, io: ProfileCommandIo = stdio): Promise<number> {
  try {
    const cwd = o.cwd ?? process.cwd()
    const threshold = thresholdOf(o.globThreshold)
    if (o.diff !== undefined && o.out !== undefined) throw new HangarError(ERROR_CODES.USAGE, '--diff prints a comparison; -o writes a suggested profile: give one of them')
    const { baseline, source } = await loadBaselineSource(o)
    io.err(`baseline of "${baseline.provider}" from ${source}`)
    if (o.diff !== undefined) {
      const p = loadProfile(o.diff, { baseDir: cwd, env: o.env ?? rawEnv() })
      const d = diffProfile(baseline, p.capabilities)
      for (const l of formatProfileDiff(o.diff, capabilitiesSchema.parse(p.capabilities).enforcement_mode, baseline, d)) io.out(l)
      return d.wouldDeny.length ? 1 : 0
    }
    const s = suggestProfile(baseline, threshold === undefined ? {} : { globThreshold: threshold })
    for (const n of s.notes) io.err(`note: ${n}`)
    if (o.out !== undefined) {
      const path = resolve(cwd, o.out)
      try {
        writeFileSync(path, s.yaml)
      } catch (e) {
        throw new HangarError(ERROR_CODES.USAGE, `-o ${path}: cannot write: ${(e as Error).message}`)
      }
      io.err(`wrote ${path}`)
    } else io.out(s.yaml.trimEnd())
    return 0
  } catch (e) {
    return failedCommand(e, io)
  }
}

/**
 * Adds `profile list`, `profile validate <files...>` and `profile suggest` to the `mcp-hangar` program (commander 12).
 * The actions set `process.exitCode`; they never call `process.exit`.
 * @returns the `profile` command.
 */
export function registerProfileCommands(program: Command, io: ProfileCommandIo = stdio): Command {
  const profile = program.command('profile').description('capability profiles: list the built-ins, validate a profile file, suggest one from a baseline')
  profile
    .command('list')
    .description('list the built-in profiles: name, description, enforcement, egress rules, tool policy')
    .action(() => {
      process.exitCode = runProfileCommand(['list'], io)
    })
  profile
    .command('validate')
    .description('load profile files (or built-in names) exactly as `providers.<name>.profile` does; exit 2 naming every bad field')
    .argument('<files...>', 'profile YAML files')
    .action((files: string[]) => {
      process.exitCode = runProfileCommand(['validate', ...files], io)
    })
  baselineSourceOptions(profile.command('suggest'))
    .description("suggest the tightest profile that keeps a provider's recorded baseline working (YAML with evidence comments), or with --diff compare a profile with the baseline")
    .option('-o, --out <file>', 'write the profile here (default: stdout); notes go to stderr')
    .option('--glob-threshold <n>', 'subdomains of one domain (same port and protocol) that become one "*." rule', '3')
    .option('--diff <profile>', 'compare this profile (a file or a built-in name) with the baseline: rules never used, acts it would deny (exit 1 when any)')
    .action(async (o: Record<string, unknown>) => {
      process.exitCode = await runProfileSuggest({
        ...sourceOptionsOf(o),
        ...(typeof o.out === 'string' && { out: o.out }),
        ...(typeof o.globThreshold === 'string' && { globThreshold: o.globThreshold }),
        ...(typeof o.diff === 'string' && { diff: o.diff }),
      }, io)
    })
  return profile
}
