/**
 * The built bundles (`npm run build`: dist/mcp-hangar.mjs and dist/mcp-hangar-enterprise.mjs) for
 * the tests that run them: built once when missing or older than a source file, never again by
 * every test file that needs them (CI builds before the tests; a rebuild there would cost about
 * 25 s of a core and rewrite dist/ under tests that are reading it).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = new URL('../../', import.meta.url).pathname
/** The folders `tsconfig.build.json` compiles, and the files the bundler reads besides them. */
const SOURCES = ['core', 'signals', 'policy', 'config', 'egress', 'proxy', 'profiles', 'aggregator', 'sidecar', 'local', 'compose', 'k8s', 'cli', 'enterprise']
const FILES = ['scripts/bundle.mjs', 'package.json', 'tsconfig.build.json']
export const BUNDLES = ['dist/mcp-hangar.mjs', 'dist/mcp-hangar-enterprise.mjs'].map((f) => join(ROOT, f))

function newest(path: string): number {
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  let m = 0
  for (const e of readdirSync(path)) m = Math.max(m, newest(join(path, e)))
  return m
}

/** Why the bundles must be built, or undefined when they are current. */
export function staleBundles(): string | undefined {
  const missing = BUNDLES.find((b) => !existsSync(b))
  if (missing) return `${missing} is missing`
  const built = Math.min(...BUNDLES.map((b) => statSync(b).mtimeMs))
  for (const s of [...SOURCES, ...FILES]) {
    const p = join(ROOT, s)
    if (existsSync(p) && newest(p) > built) return `${s} changed after the last build`
  }
  return undefined
}

/**
 * Runs `npm run build` when {@link staleBundles} says so.
 * @throws Error with the build's output when it fails (5 min at most)
 */
export function ensureBuilt(): void {
  if (staleBundles() === undefined) return
  const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 })
  if (b.status !== 0) throw new Error(`npm run build failed: ${b.stdout}${b.stderr}`)
}
