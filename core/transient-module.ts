/**
 * Loads a CommonJS module for a one-off job (config parsing, the public-suffix check at load)
 * and drops it from the require cache afterwards, so its code and data can be garbage-collected.
 * ESM imports are cached for the life of the process; these libraries are only needed at start-up,
 * and the sidecar's idle memory is budgeted (≤ 60 MB RSS).
 */
import { createRequire } from 'node:module'
import { sep } from 'node:path'

const require = createRequire(import.meta.url)

/** Loads `name` (CommonJS build), or returns the copy already loaded in this job. */
export function loadTransient<T>(name: string): T {
  return require(name) as T
}

/** Forgets every cached module file under `node_modules/<name>/`. */
export function releaseTransient(...names: string[]): void {
  for (const key of Object.keys(require.cache)) {
    if (names.some((n) => key.includes(`${sep}node_modules${sep}${n}${sep}`))) delete require.cache[key]
  }
}
