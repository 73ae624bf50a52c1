/**
 * `extends` (Compose specification, "extends"): Compose merges the extended service, of this file
 * or of another (`file:`, relative to the file that names it), into the extending one, its
 * labels included. A service that inherits `mcp.hangar.*` labels this way is labelled for Compose
 * but not for a check that reads only the service itself, so the chain is followed here (docker-
 * compose v1: compose/config/config.py `ServiceExtendsResolver`; the extending service's labels
 * win over the extended one's).
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError, type ConfigIssue } from '../core/errors.js'
import { readLabels } from './labels.js'
import { parseComposeDocument } from './resolve.js'

type Yaml = typeof import('yaml')
type Obj = Record<string, unknown>

/** How many `extends` one service may chain (Compose has no limit; real files use one or two). */
export const MAX_EXTENDS_DEPTH = 16

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

/**
 * The labels service `name` of `services` (in the file `file`) has once Compose has applied its
 * `extends` chain. Other files are read and resolved as compose/resolve.ts reads the main one.
 * @throws ConfigError naming `services.<name>.extends` when the chain cannot be followed (a missing
 *   file or service, a variable, a cycle, more than {@link MAX_EXTENDS_DEPTH} links): Compose would
 *   refuse the file too, and inject cannot tell what it would merge.
 */
export function extendedLabels(Y: Yaml, name: string, services: Obj, file: string, cache = new Map<string, Obj>()): Record<string, string> {
  const at = `services.${name}.extends`
  const fail = (message: string): never => {
    throw new ConfigError(file, [{ path: at, message } satisfies ConfigIssue])
  }
  const chain: Array<Record<string, string>> = []
  const seen = new Set<string>()
  let cur: { name: string; services: Obj; file: string } = { name, services, file }
  for (let depth = 0; ; depth++) {
    const svc = cur.services[cur.name]
    if (!isObj(svc)) fail(`extends service "${cur.name}"${cur.file === file ? '' : ` of ${cur.file}`}, which does not exist`)
    const key = `${cur.file}\0${cur.name}`
    if (seen.has(key)) fail(`the extends chain returns to service "${cur.name}" (a cycle)`)
    seen.add(key)
    chain.push(readLabels((svc as Obj).labels))
    const ext = (svc as Obj).extends
    if (ext === undefined || ext === null) break
    if (depth >= MAX_EXTENDS_DEPTH) fail(`more than ${MAX_EXTENDS_DEPTH} extends in a row`)
    const target = typeof ext === 'string' ? { service: ext } : isObj(ext) ? ext : fail('extends is a service name or a mapping with service (and file)')
    if (typeof target.service !== 'string' || target.service.includes('$')) fail('extends.service must be a service name written out')
    let next = cur
    if (target.file !== undefined) {
      if (typeof target.file !== 'string' || target.file.includes('$')) fail('extends.file must be a path written out')
      const path = resolve(dirname(cur.file), target.file as string)
      let other = cache.get(path)
      if (!other) {
        let text: string
        try {
          text = readFileSync(path, 'utf8')
        } catch (err) {
          return fail(`cannot read the extended file ${path}: ${(err as Error).message}`)
        }
        const js = parseComposeDocument(Y, text, path).toJS() as unknown
        other = isObj(js) && isObj(js.services) ? js.services : {}
        cache.set(path, other)
      }
      next = { name: target.service as string, services: other, file: path }
    } else next = { ...cur, name: target.service as string }
    cur = next
  }
  return Object.assign({}, ...chain.reverse()) as Record<string, string>
}
