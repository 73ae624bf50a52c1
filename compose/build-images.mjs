#!/usr/bin/env node
/**
 * Builds the images MCP Hangar runs in, with no registry:
 *
 *   node compose/build-images.mjs [--base-only] [--base IMAGE] [--examples] [--force]
 *
 * Each image carries a label with a digest of its inputs and is rebuilt only when they changed
 * (`--force` rebuilds anyway).
 *
 * - `mcp-hangar/node-base:<node version>-local`: FROM scratch, this host's `node` binary and the
 *   shared libraries `ldd` lists for it, CA certificates, /etc/passwd with root, nobody (65534)
 *   and hangar (65532), a 1777 /tmp. Nothing else: no shell, no package manager.
 * - `mcp-hangar/sidecar:<version>` and `mcp-hangar/aggregator:<version>` from compose/Dockerfile.sidecar
 *   and compose/Dockerfile.aggregator, whose `BASE_IMAGE` build argument defaults to the official
 *   `node:20-bookworm-slim` for connected machines; this script passes the local base instead
 *   (`--base IMAGE` to use another). They hold dist/mcp-hangar.mjs (run `npm run build` first),
 *   profiles/builtin and the runtime dependencies the bundle loads from node_modules.
 * - `--examples`: the images of examples/compose (the mcp-fetch-server provider behind a
 *   stdio→Streamable HTTP bridge, and the test site).
 *
 * Exits 1 with the failing command's output when a build fails. Run as a user who may use Docker.
 */
import { execFileSync } from 'node:child_process'
import process from 'node:process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))

export const BASE_IMAGE = `mcp-hangar/node-base:${process.versions.node}-local`
export const SIDECAR_IMAGE = `mcp-hangar/sidecar:${pkg.version}`
export const AGGREGATOR_IMAGE = `mcp-hangar/aggregator:${pkg.version}`
export const EXAMPLE_FETCH_IMAGE = 'hangar-example/fetch:local'
export const EXAMPLE_SITE_IMAGE = 'hangar-example/site:local'

/** Runtime packages the bundle does not contain (core/transient-module.ts, core/metrics.ts). */
const RUNTIME_PACKAGES = ['prom-client', 'yaml', 'tldts', 'ip-cidr']

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts })
  } catch (err) {
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n')
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${out}`)
  }
}

/** The shared libraries (absolute paths, symlinks resolved and kept) a binary needs, from ldd. */
function libraries(binary) {
  const out = run('ldd', [binary])
  const libs = new Set()
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s*\(/.exec(line)
    if (m) libs.add(m[1])
  }
  return [...libs]
}

/** Copies `src` to `root` + src, keeping a symlinked path as a symlink to a copied target. */
function copyIntoRoot(root, src) {
  const dest = join(root, src)
  mkdirSync(dirname(dest), { recursive: true })
  const real = realpathSync(src)
  copyFileSync(real, dest)
  if (real !== src) {
    const realDest = join(root, real)
    mkdirSync(dirname(realDest), { recursive: true })
    copyFileSync(real, realDest)
  }
}

/**
 * Copies `names` and everything they depend on (their `dependencies` and `optionalDependencies`,
 * resolved as Node resolves them) from `fromDir`'s node_modules into `toDir/node_modules`.
 * @returns the package directories copied.
 */
export function stagePackages(names, fromDir, toDir) {
  const seen = new Map()
  // Node's lookup of a package directory: <dir>/node_modules/<name>, from `from` up to the root
  // (package "exports" do not matter here: the whole directory is copied).
  const find = (name, from) => {
    for (let d = from; ; d = dirname(d)) {
      const m = join(d, 'node_modules', name, 'package.json')
      if (existsSync(m)) return m
      if (dirname(d) === d) throw new Error(`cannot find package ${name} from ${from}`)
    }
  }
  const visit = (name, fromDir) => {
    const manifest = find(name, fromDir)
    const dir = dirname(manifest)
    if (seen.has(dir)) return
    seen.set(dir, name)
    const m = JSON.parse(readFileSync(manifest, 'utf8'))
    for (const dep of Object.keys({ ...m.dependencies, ...m.optionalDependencies })) {
      try {
        visit(dep, dirname(manifest))
      } catch (err) {
        if (!m.optionalDependencies?.[dep]) throw err
      }
    }
  }
  for (const n of names) visit(n, fromDir)
  const nm = realpathSync(join(fromDir, 'node_modules'))
  for (const dir of seen.keys()) {
    const rel = realpathSync(dir).slice(nm.length + 1)
    cpSync(dir, join(toDir, 'node_modules', rel), { recursive: true, dereference: true })
  }
  return [...seen.keys()]
}

/** The label build-images puts on every image: a digest of what went into it, so an unchanged image is not rebuilt. */
export const INPUT_LABEL = 'mcp.hangar.inputs'

function imageInputs(tag) {
  try {
    return run('docker', ['image', 'inspect', '-f', `{{ index .Config.Labels "${INPUT_LABEL}" }}`, tag]).trim()
  } catch {
    return undefined
  }
}

function digestOf(...parts) {
  const h = createHash('sha256')
  for (const p of parts) h.update(typeof p === 'string' && existsSync(p) && statSync(p).isFile() ? readFileSync(p) : String(p)).update('\0')
  return h.digest('hex').slice(0, 16)
}

function dockerBuild(tag, dockerfile, context, buildArgs = {}, inputs = undefined) {
  const args = ['build', '-q', '-t', tag, '-f', dockerfile]
  if (inputs) args.push('--label', `${INPUT_LABEL}=${inputs}`)
  for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`)
  args.push(context)
  run('docker', args, { env: { ...process.env, DOCKER_BUILDKIT: '0' } })
  process.stderr.write(`built ${tag}\n`)
}

/**
 * Builds a FROM-scratch image: `populate(root)` fills the root file system, to which this adds
 * /etc/passwd and /etc/group (`users`: lines `name:uid`), /etc/nsswitch.conf and a 1777 /tmp.
 */
function buildScratchImage(tag, inputs, { users, env }, populate) {
  const ctx = mkdtempSync(join(tmpdir(), 'hangar-scratch-'))
  try {
    const root = join(ctx, 'rootfs')
    mkdirSync(join(root, 'etc'), { recursive: true })
    populate(root)
    const entries = [['root', 0, '/root'], ...users]
    writeFileSync(join(root, 'etc/passwd'), entries.map(([n, id, home]) => `${n}:x:${id}:${id}:${n}:${home ?? '/nonexistent'}:/sbin/nologin\n`).join(''))
    writeFileSync(join(root, 'etc/group'), entries.map(([n, id]) => `${n === 'nobody' ? 'nogroup' : n}:x:${id}:\n`).join(''))
    writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n')
    mkdirSync(join(root, 'tmp'), { recursive: true })
    chmodSync(join(root, 'tmp'), 0o1777)
    writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV ${env}\n`)
    dockerBuild(tag, join(ctx, 'Dockerfile'), ctx, {}, inputs)
  } finally {
    rmSync(ctx, { recursive: true, force: true })
  }
  return tag
}

/** The FROM-scratch base image of this host's node (see the file comment). */
export function buildBaseImage(tag = BASE_IMAGE, { force = false } = {}) {
  const inputs = digestOf(realpathSync(process.execPath), ...libraries(realpathSync(process.execPath)), 'base-v2')
  if (!force && imageInputs(tag) === inputs) return tag
  return buildScratchImage(tag, inputs, { users: [['hangar', 65532, '/var/lib/mcp-hangar'], ['nobody', 65534]], env: 'PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' }, (root) => {
    const node = realpathSync(process.execPath)
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true })
    copyFileSync(node, join(root, 'usr/local/bin/node'))
    chmodSync(join(root, 'usr/local/bin/node'), 0o755)
    for (const lib of libraries(node)) copyIntoRoot(root, lib)
    mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true })
    if (existsSync('/etc/ssl/certs/ca-certificates.crt')) copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(root, 'etc/ssl/certs/ca-certificates.crt'))
  })
}

function listFiles(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))).filter((f) => statSync(f).isFile()).sort()
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
  const python = realpathSync('/usr/bin/python3')
  const version = /python(3\.\d+)$/.exec(python)?.[1]
  if (!version) throw new Error(`cannot tell the version of ${python}`)
  const stdlib = `/usr/lib/python${version}`
  const modules = listFiles(join(stdlib, 'lib-dynload')).filter((f) => f.endsWith('.so'))
  const libs = new Set([...libraries(python), ...modules.flatMap((m) => libraries(m))])
  const inputs = digestOf(python, ...[...libs].sort(), 'python-v2')
  if (!force && imageInputs(tag) === inputs) return tag
  return buildScratchImage(tag, inputs, { users: [['nobody', 65534]], env: 'PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1' }, (root) => {
    mkdirSync(join(root, 'usr/bin'), { recursive: true })
    copyFileSync(python, join(root, 'usr/bin/python3'))
    chmodSync(join(root, 'usr/bin/python3'), 0o755)
    for (const lib of libs) copyIntoRoot(root, lib)
    cpSync(stdlib, join(root, stdlib.slice(1)), { recursive: true, dereference: true, filter: (p) => !/\/(test|idlelib|tkinter|ensurepip|__pycache__)(\/|$)/.test(p) })
  })
}

/** The sidecar and aggregator images on `base`. */
export function buildHangarImages(base = BASE_IMAGE, tags = { sidecar: SIDECAR_IMAGE, aggregator: AGGREGATOR_IMAGE }, { force = false } = {}) {
  const bundle = join(ROOT, 'dist/mcp-hangar.mjs')
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`)
  const inputs = digestOf(bundle, join(ROOT, 'compose/Dockerfile.sidecar'), join(ROOT, 'compose/Dockerfile.aggregator'), join(ROOT, 'package-lock.json'), base, imageInputs(base) ?? '',
    ...['profiles/builtin', 'security/seccomp'].flatMap((d) => listFiles(join(ROOT, d))))
  if (!force && imageInputs(tags.sidecar) === inputs && imageInputs(tags.aggregator) === inputs) return tags
  const ctx = mkdtempSync(join(tmpdir(), 'hangar-img-'))
  try {
    const app = join(ctx, 'app')
    mkdirSync(join(app, 'dist'), { recursive: true })
    copyFileSync(bundle, join(app, 'dist/mcp-hangar.mjs'))
    cpSync(join(ROOT, 'profiles/builtin'), join(app, 'profiles/builtin'), { recursive: true })
    cpSync(join(ROOT, 'security'), join(app, 'security'), { recursive: true, filter: (p) => !p.endsWith('.ts') })
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2))
    stagePackages(RUNTIME_PACKAGES, ROOT, app)
    mkdirSync(join(ctx, 'data'))
    dockerBuild(tags.sidecar, join(ROOT, 'compose/Dockerfile.sidecar'), ctx, { BASE_IMAGE: base }, inputs)
    dockerBuild(tags.aggregator, join(ROOT, 'compose/Dockerfile.aggregator'), ctx, { BASE_IMAGE: base }, inputs)
  } finally {
    rmSync(ctx, { recursive: true, force: true })
  }
  return tags
}

/** The example images of examples/compose. */
export function buildExampleImages(base = BASE_IMAGE, { force = false } = {}) {
  const dir = join(ROOT, 'examples/compose')
  const inputs = digestOf(join(ROOT, 'package-lock.json'), base, imageInputs(base) ?? '', ...listFiles(dir))
  if (!force && imageInputs(EXAMPLE_FETCH_IMAGE) === inputs && imageInputs(EXAMPLE_SITE_IMAGE) === inputs) return { fetch: EXAMPLE_FETCH_IMAGE, site: EXAMPLE_SITE_IMAGE }
  const ctx = mkdtempSync(join(tmpdir(), 'hangar-ex-'))
  try {
    const app = join(ctx, 'app')
    mkdirSync(app, { recursive: true })
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'hangar-example-fetch', private: true, type: 'module' }))
    stagePackages(['mcp-fetch-server', 'supergateway'], ROOT, app)
    cpSync(join(dir, 'provider-fetch'), ctx, { recursive: true })
    copyFileSync(realpathSync('/bin/sh'), join(ctx, 'sh'))
    chmodSync(join(ctx, 'sh'), 0o755)
    dockerBuild(EXAMPLE_FETCH_IMAGE, join(ctx, 'Dockerfile'), ctx, { BASE_IMAGE: base }, inputs)
  } finally {
    rmSync(ctx, { recursive: true, force: true })
  }
  dockerBuild(EXAMPLE_SITE_IMAGE, join(dir, 'site/Dockerfile'), join(dir, 'site'), { BASE_IMAGE: base }, inputs)
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
