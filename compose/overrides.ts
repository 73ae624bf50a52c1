/**
 * Files Compose reads when it runs, beside the one inject checks.
 *
 * Compose's override file. Run without `-f`, Compose reads the project's file under its default
 * name (`compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml`) and merges
 * the override file beside it (`compose.override.yaml`, …, `docker-compose.override.yml`) over it
 * (Compose specification, "Merge and override"; docker-compose v1 `config.find`). An override that
 * touches an isolated provider (a `network_mode`, a bind, a port) or labels another service would
 * change at `up` what inject checked, so when inject writes a file under a default name, such an
 * override is refused.
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { ConfigError, type ConfigIssue } from '../core/errors.js'
import { isOurLabel, readLabels } from './labels.js'
import { parseComposeDocument } from './resolve.js'

type Yaml = typeof import('yaml')

/** File names Compose reads without `-f`. */
export const DEFAULT_COMPOSE_FILES = Object.freeze(['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'])
/** Override files Compose merges over a default-named file. */
export const OVERRIDE_FILES = Object.freeze(['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'])

/**
 * The other files `COMPOSE_FILE` in the project's `.env` makes Compose merge with `out` when it runs
 * without `-f` (Compose CLI environment variables; `COMPOSE_PATH_SEPARATOR`, default `:`), or none
 * when it does not list `out`.
 */
function composeFileList(projectDir: string, out: string): string[] {
  let env: string
  try {
    env = readFileSync(join(projectDir, '.env'), 'utf8')
  } catch {
    return []
  }
  const vars = new Map<string, string>()
  for (const line of env.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (m) vars.set(m[1]!, m[2]!.replace(/^(['"])(.*)\1$/, '$2'))
  }
  const list = vars.get('COMPOSE_FILE')
  if (!list) return []
  const files = list.split(vars.get('COMPOSE_PATH_SEPARATOR') || ':').filter(Boolean).map((f) => resolve(projectDir, f))
  return files.includes(out) ? files.filter((f) => f !== out) : []
}

/**
 * Checks the files Compose would merge with `out` when run without `-f`: the override files beside
 * it when it has a default name, and the other files of `COMPOSE_FILE` in the project's `.env` when
 * that lists it. None may name one of `providers` (the isolated Compose services) or give a service
 * an `mcp.hangar.*` label.
 * @throws ConfigError naming the override file and `services.<name>`, with the fix.
 */
export function checkOverrides(Y: Yaml, out: string, providers: readonly string[]): void {
  const merged = DEFAULT_COMPOSE_FILES.includes(basename(out)) ? OVERRIDE_FILES.map((n) => join(dirname(out), n)) : []
  merged.push(...composeFileList(dirname(out), out))
  for (const path of merged) {
    if (!existsSync(path)) continue
    const js = parseComposeDocument(Y, readFileSync(path, 'utf8'), path).toJS() as { services?: Record<string, { labels?: unknown } | null> } | null
    const issues: ConfigIssue[] = []
    for (const [svc, def] of Object.entries(js?.services ?? {})) {
      const ours = Object.keys(readLabels(def?.labels)).filter(isOurLabel)
      if (providers.includes(svc)) {
        issues.push({ path: `services.${svc}`, message: `Compose merges this over the isolated provider ${svc} when it runs ${basename(out)} without -f; move the settings into the file inject reads, or write the output under another name (-o, outside COMPOSE_FILE) and run it with -f` })
      } else if (ours.length) {
        issues.push({ path: `services.${svc}.labels`, message: `${ours.join(', ')}: Compose merges these labels at up, after inject ran; set them in the file inject reads` })
      }
    }
    if (issues.length) throw new ConfigError(path, issues)
  }
}

/**
 * `label_file` (Compose v2): labels Compose reads from files (`KEY=VALUE` lines, relative to the
 * Compose file) when it runs. An `mcp.hangar.*` label there would label a service inject did not
 * see labelled, so it is refused, as is a label file that cannot be read here.
 */
export function labelFileIssues(name: string, labelFile: unknown, baseDir: string): ConfigIssue[] {
  const files = typeof labelFile === 'string' ? [labelFile] : Array.isArray(labelFile) ? labelFile : [labelFile]
  const issues: ConfigIssue[] = []
  files.forEach((f, i) => {
    const at = `services.${name}.label_file${typeof labelFile === 'string' ? '' : `[${i}]`}`
    if (typeof f !== 'string' || f.includes('$')) return issues.push({ path: at, message: 'a label file must be a path written out' })
    let text: string
    try {
      text = readFileSync(f.startsWith('/') ? f : join(baseDir, f), 'utf8')
    } catch (err) {
      return issues.push({ path: at, message: `cannot read ${f}: ${(err as Error).message}` })
    }
    const ours = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split('=')[0]!).filter(isOurLabel)
    if (ours.length) issues.push({ path: at, message: `${ours.join(', ')}: mcp-hangar labels must be written under labels, where inject reads them` })
    return undefined
  })
  return issues
}
