/**
 * `mcp-hangar profile list` and `mcp-hangar profile validate FILE…` (docs/profiles.md).
 * Composition only: profiles are read by the config loader's own `loadProfile`
 * (core/config/load.ts), so a file that validates here is a file `profile:` accepts.
 *
 * Exit codes: 0 every file valid (or the list printed); 2 a file is invalid, missing, names an
 * unknown built-in or an unset `${VAR}`, or the sub-command is unknown.
 */
import type { Command } from 'commander'
import { loadProfile, type LoadedProfile } from '../core/config/load.js'
import { rawEnv } from '../core/env.js'
import { ConfigError, HangarError } from '../core/errors.js'
import { listBuiltinProfiles } from '../profiles/builtin.js'
import { capabilitiesSchema } from '../profiles/schema.js'

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
    t.allow_list.length ? `allow ${t.allow_list.length === 1 ? t.allow_list[0] : t.allow_list.length}` : 'allow all',
    t.deny_list.length ? `deny ${t.deny_list.length}` : 'deny none',
    ...(t.expected_tools ? [`expect ${t.expected_tools.length}`] : []),
  ].join(', ')
  return { enforcement: c.enforcement_mode, egressRules: c.network.egress.length, tools, secretPatterns: c.arguments.secret_patterns.length }
}

/** `block, 1 egress rule, tools: allow all, deny 7, expect 26, 7 secret patterns`. */
export function formatSummary(s: ProfileSummary): string {
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
      io.out(`${file}: ok (${formatSummary(summarizeProfile(p))})`)
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

/**
 * Adds `profile list` and `profile validate <files...>` to the `mcp-hangar` program (commander 12).
 * The actions set `process.exitCode`; they never call `process.exit`.
 * @returns the `profile` command.
 */
export function registerProfileCommands(program: Command, io: ProfileCommandIo = stdio): Command {
  const profile = program.command('profile').description('capability profiles: list the built-ins, validate a profile file')
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
  return profile
}
