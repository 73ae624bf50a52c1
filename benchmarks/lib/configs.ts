/**
 * Renders the config templates in benchmarks/configs/: `{{NAME}}` is replaced from `vars`;
 * a placeholder left without a value is an error, so a template and its caller stay in step.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const configsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'configs')

export function render(template: string, vars: Record<string, string | number>): string {
  const text = fs.readFileSync(path.join(configsDir, template), 'utf8')
  const out = text.replace(/\{\{([A-Z_]+)\}\}/g, (m, key: string) => {
    const v = vars[key]
    if (v === undefined) throw new Error(`${template}: no value for ${m}`)
    return String(v)
  })
  return out
}

/** Renders `template` into `<dir>/<name>` and returns that path. */
export function writeConfig(
  dir: string,
  name: string,
  template: string,
  vars: Record<string, string | number>,
): string {
  const p = path.join(dir, name)
  fs.writeFileSync(p, render(template, vars))
  return p
}
