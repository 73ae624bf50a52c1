#!/usr/bin/env node
/**
 * Builds the images MCP Hangar runs in, with no registry, from this checkout:
 *
 *   node compose/build-images.mjs [--base-only] [--base IMAGE] [--examples] [--force]
 *
 * The product images are built by the code `mcp-hangar images build` runs (sidecar/image-build.ts,
 * loaded from dist/: run `npm run build` first); this script adds what only a checkout has:
 *
 * - `mcp-hangar/node-base:<node version>-local`, `mcp-hangar/sidecar:<version>`,
 *   `mcp-hangar/aggregator:<version>` and `mcp-hangar/injector:<version>` (images/Dockerfile.*);
 * - `--examples`: the images of examples/compose (the mcp-fetch-server provider behind a
 *   stdio→Streamable HTTP bridge, and the test site);
 * - for tests: a FROM-scratch Python image ({@link buildPythonBase}) and {@link ensureImages}, which
 *   builds what the tests need under a machine-wide lock.
 *
 * Each image carries a label with a digest of its inputs and is rebuilt only when they changed
 * (`--force` rebuilds anyway). Exits 1 with the failing command's output when a build fails. Run
 * as a user who may use Docker.
 */
import process from 'node:process'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))

export const BASE_IMAGE = `mcp-hangar/node-base:${process.versions.node}-local`
export const SIDECAR_IMAGE = `mcp-hangar/sidecar:${pkg.version}`
export const AGGREGATOR_IMAGE = `mcp-hangar/aggregator:${pkg.version}`
export const INJECTOR_IMAGE = `mcp-hangar/injector:${pkg.version}`
export const EXAMPLE_FETCH_IMAGE = 'hangar-example/fetch:local'
export const EXAMPLE_SITE_IMAGE = 'hangar-example/site:local'
/** The label build-images puts on every image: a digest of what went into it, so an unchanged image is not rebuilt. */
export const INPUT_LABEL = 'mcp.hangar.inputs'

/** sidecar/image-build.ts as compiled in dist/ (a synchronous require of an ES module, Node >= 20.19). */
function lib() {
  const path = join(ROOT, 'dist/sidecar/image-build.js')
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`)
  return createRequire(import.meta.url)(path)
}

/** Copies `names` and their dependencies into `toDir/node_modules` (sidecar/image-build.ts stagePackages). */
export function stagePackages(names, fromDir, toDir) {
  return lib().stagePackages(names, fromDir, toDir)
}

/** The FROM-scratch base image of this host's node (sidecar/image-build.ts buildBaseImage). */
export function buildBaseImage(tag = BASE_IMAGE, { force = false } = {}) {
  return lib().buildBaseImage(tag, { force })
}

/** The sidecar, aggregator and injector images on `base` (sidecar/image-build.ts buildHangarImages). */
export function buildHangarImages(base = BASE_IMAGE, tags = { sidecar: SIDECAR_IMAGE, aggregator: AGGREGATOR_IMAGE, injector: INJECTOR_IMAGE }, { force = false } = {}) {
  return lib().buildHangarImages(base, tags, { force, root: ROOT })
}

/**
 * Every image the tests need, each built only when what went into it changed (label
 * {@link INPUT_LABEL}). Returns the tags.
 */
export function ensureImages({ examples = false } = {}) {
  return withBuildLock(() => {
    const base = buildBaseImage()
    const tags = buildHangarImages(base)
    return { base, ...tags, ...(examples && buildExampleImages(base)) }
  })
}

/**
 * Runs `fn` holding a machine-wide lock (a directory under the temp dir), so test files running in
 * parallel do not build the same images twice at once. A lock older than 15 minutes is stale.
 */
export function withBuildLock(fn) {
  const lock = join(tmpdir(), 'mcp-hangar-build-images.lock')
  const deadline = Date.now() + 20 * 60_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true })
      } catch {
        // removed meanwhile
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500)
    }
  }
  try {
    return fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

export const PYTHON_BASE_IMAGE = 'mcp-hangar/python-base:local'

/**
 * A FROM-scratch image with this host's Debian python3 (/usr/bin/python3, its standard library
 * and the shared libraries of the interpreter and its extension modules). Tests use it to run a
 * Python MCP server under the seccomp profile; it is not part of the product.
 */
export function buildPythonBase(tag = PYTHON_BASE_IMAGE, { force = false } = {}) {
  const L = lib()
  const python = realpathSync('/usr/bin/python3')
  const version = /python(3\.\d+)$/.exec(python)?.[1]
  if (!version) throw new Error(`cannot tell the version of ${python}`)
  const stdlib = `/usr/lib/python${version}`
  const modules = L.listFiles(join(stdlib, 'lib-dynload')).filter((f) => f.endsWith('.so'))
  const libs = new Set([...L.libraries(python), ...modules.flatMap((m) => L.libraries(m))])
  const inputs = L.digestOf(python, ...[...libs].sort(), 'python-v2')
  if (!force && L.imageInputs(tag) === inputs) return tag
  return L.buildScratchImage(tag, inputs, { users: [['nobody', 65534]], env: 'PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1' }, (root) => {
    mkdirSync(join(root, 'usr/bin'), { recursive: true })
    copyFileSync(python, join(root, 'usr/bin/python3'))
    chmodSync(join(root, 'usr/bin/python3'), 0o755)
    for (const so of libs) L.copyIntoRoot(root, so)
    cpSync(stdlib, join(root, stdlib.slice(1)), { recursive: true, dereference: true, filter: (p) => !/\/(test|idlelib|tkinter|ensurepip|__pycache__)(\/|$)/.test(p) })
  })
}

/** The example images of examples/compose. */
export function buildExampleImages(base = BASE_IMAGE, { force = false } = {}) {
  const L = lib()
  const dir = join(ROOT, 'examples/compose')
  const inputs = L.digestOf(join(ROOT, 'package-lock.json'), base, L.imageInputs(base) ?? '', ...L.listFiles(dir))
  if (!force && L.imageInputs(EXAMPLE_FETCH_IMAGE) === inputs && L.imageInputs(EXAMPLE_SITE_IMAGE) === inputs) return { fetch: EXAMPLE_FETCH_IMAGE, site: EXAMPLE_SITE_IMAGE }
  const ctx = mkdtempSync(join(tmpdir(), 'hangar-ex-'))
  try {
    const app = join(ctx, 'app')
    mkdirSync(app, { recursive: true })
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'hangar-example-fetch', private: true, type: 'module' }))
    stagePackages(['mcp-fetch-server', 'supergateway'], ROOT, app)
    cpSync(join(dir, 'provider-fetch'), ctx, { recursive: true })
    copyFileSync(realpathSync('/bin/sh'), join(ctx, 'sh'))
    chmodSync(join(ctx, 'sh'), 0o755)
    L.dockerBuild(EXAMPLE_FETCH_IMAGE, join(ctx, 'Dockerfile'), ctx, { BASE_IMAGE: base }, inputs)
  } finally {
    rmSync(ctx, { recursive: true, force: true })
  }
  L.dockerBuild(EXAMPLE_SITE_IMAGE, join(dir, 'site/Dockerfile'), join(dir, 'site'), { BASE_IMAGE: base }, inputs)
  return { fetch: EXAMPLE_FETCH_IMAGE, site: EXAMPLE_SITE_IMAGE }
}

if (import.meta.url === `file://${process.argv[1]}` || realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2)
  const opt = (name) => {
    const i = argv.indexOf(name)
    return i >= 0 ? argv[i + 1] : undefined
  }
  try {
    const force = argv.includes('--force')
    const base = opt('--base') ?? buildBaseImage(BASE_IMAGE, { force })
    if (!argv.includes('--base-only')) buildHangarImages(base, undefined, { force })
    if (argv.includes('--examples')) buildExampleImages(base, { force })
  } catch (err) {
    process.stderr.write(`build-images: ${err.message}\n`)
    process.exit(1)
  }
}
