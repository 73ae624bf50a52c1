/**
 * The built-in capability profiles (docs/profiles.md: `profile: <path or built-in name>`): one YAML
 * file per well-known MCP server under `profiles/builtin/`, named here. Each file is
 * `{description, capabilities}`; its header comment names the server package, what each egress
 * rule is for and where that came from (docs/profiles.md).
 *
 * The YAML files are data shipped beside the code, not bundled into it, so they are found at run
 * time relative to the running module's URL. The module runs from three layouts:
 * - source (tsx, tap): `config/builtin-profiles.ts` → `../profiles/builtin/`;
 * - the tsc output: `dist/config/builtin-profiles.js` → `../../profiles/builtin/`;
 * - the esbuild bundle: `dist/mcp-hangar.mjs` (import.meta.url is the bundle's) → `../profiles/builtin/`,
 *   or `./profiles/builtin/` when the files are copied next to the bundle (a container image).
 * The npm package ships `profiles/builtin` beside `dist` (package.json `files`).
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { loadTransient, releaseTransient } from '../core/transient-module.js'

/** Names of the built-in profiles, sorted; `profile: <name>` in hangar.yaml selects one. */
export const BUILTIN_PROFILES = ['brave-search', 'everything', 'fetch', 'filesystem', 'github', 'memory', 'postgres', 'slack'] as const

/** One built-in profile name. */
export type BuiltinProfileName = (typeof BUILTIN_PROFILES)[number]

/**
 * Where the YAML files are looked for, relative to the directory of the running module, in order
 * (see the file comment for which layout each serves). The first holding `<name>.yaml` wins.
 */
export const BUILTIN_PROFILE_DIRS = ['builtin', 'profiles/builtin', '../profiles/builtin', '../../profiles/builtin'] as const

/** True when `name` is a built-in profile name (exact, case-sensitive). */
export function isBuiltinProfile(name: string): name is BuiltinProfileName {
  return (BUILTIN_PROFILES as readonly string[]).includes(name)
}

/**
 * Absolute path of a built-in profile's YAML file.
 * @param moduleUrl the URL the search starts from; default this module's own (`import.meta.url`,
 *   which in the bundle is the bundle's URL). Tests pass the URL of a module in a temporary layout.
 * @throws HangarError `HANGAR_CONFIG_NOT_FOUND` naming every directory looked in, when no layout
 *   holds the file (an install that left out `profiles/builtin`).
 */
export function builtinProfilePath(name: BuiltinProfileName, moduleUrl: string | URL = import.meta.url): string {
  const here = dirname(fileURLToPath(moduleUrl))
  const tried: string[] = []
  for (const rel of BUILTIN_PROFILE_DIRS) {
    const path = join(here, rel, `${name}.yaml`)
    if (existsSync(path)) return path
    tried.push(path)
  }
  throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `built-in profile "${name}" not found; looked for ${tried.join(', ')} (is profiles/builtin installed next to dist/?)`)
}

/** One line of `mcp-hangar profile list`. */
export interface BuiltinProfileInfo {
  name: BuiltinProfileName
  /** The file's `description:`, one line; empty when it has none. */
  description: string
  /** Absolute path of the YAML file. */
  path: string
}

/**
 * Every built-in profile with its one-line description, in {@link BUILTIN_PROFILES} order. Reads
 * each file's top-level `description` only; validation is the config loader's
 * (config/load.ts `loadProfile`).
 * @throws HangarError `HANGAR_CONFIG_NOT_FOUND` when a file is missing (see {@link builtinProfilePath}).
 */
export function listBuiltinProfiles(moduleUrl: string | URL = import.meta.url): BuiltinProfileInfo[] {
  try {
    const yaml = loadTransient<typeof import('yaml')>('yaml')
    return BUILTIN_PROFILES.map((name) => {
      const path = builtinProfilePath(name, moduleUrl)
      const doc: unknown = yaml.parse(readFileSync(path, 'utf8'))
      const d = doc && typeof doc === 'object' ? (doc as { description?: unknown }).description : undefined
      return { name, description: typeof d === 'string' ? d.replace(/\s+/g, ' ').trim() : '', path }
    })
  } finally {
    releaseTransient('yaml')
  }
}
