/**
 * Builds the images MCP Hangar runs in, from an installed package or a checkout, with no registry
 * (`mcp-hangar images build`; compose/build-images.mjs calls the same code from dist/):
 *
 * - `mcp-hangar/node-base:<node version>-local`: FROM scratch, this host's `node` binary and its
 *   `nft` (for the Kubernetes init container, when the host has it) with the shared libraries
 *   `ldd` lists for them, CA certificates, /etc/passwd with root, nobody (65534)
 *   and hangar (65532), a 1777 /tmp. No shell, no package manager.
 * - `mcp-hangar/sidecar:<tag>` and `mcp-hangar/aggregator:<tag>` from images/Dockerfile.sidecar and
 *   images/Dockerfile.aggregator on that base: dist/mcp-hangar.mjs and the enterprise bundle beside
 *   it (dist/mcp-hangar-enterprise.mjs, loaded when licensed), profiles/builtin, security/ and
 *   the runtime packages the bundle loads from node_modules (core/transient-module.ts,
 *   core/metrics.ts).
 * - `mcp-hangar/injector:<tag>` from images/Dockerfile.injector: the sidecar image with the default
 *   command `k8s webhook` (the admission webhook that injects pods).
 *
 * Every image carries the label {@link INPUT_LABEL} (a digest of what went into it: an unchanged
 * image is not rebuilt unless `force`) and `org.opencontainers.image.version` (the package
 * version). Docker is driven through its CLI (`docker build` with the classic builder, as the
 * Dockerfiles' `ARG` before `FROM` needs nothing newer).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { rawEnv } from '../core/env.js'
import { HANGAR_VERSION } from '../core/version.js'

/** The label holding a digest of an image's inputs. */
export const INPUT_LABEL = 'mcp.hangar.inputs'
/** The OCI label holding the package version. */
export const VERSION_LABEL = 'org.opencontainers.image.version'
/** The local base image of this host's node. */
export const BASE_IMAGE = `mcp-hangar/node-base:${process.versions.node}-local`

/** The enterprise bundle's file name under dist/ (scripts/bundle.mjs writes it; the CLI loads it beside itself). */
export const ENTERPRISE_BUNDLE = 'mcp-hangar-enterprise.mjs'

/** Runtime packages the bundle does not contain (core/transient-module.ts, core/metrics.ts). */
const RUNTIME_PACKAGES = ['prom-client', 'yaml', 'tldts', 'ip-address']

/** The repository names of the product images (tag separate). */
export const IMAGE_NAMES = Object.freeze({ sidecar: 'mcp-hangar/sidecar', aggregator: 'mcp-hangar/aggregator', injector: 'mcp-hangar/injector' })

/** Tags of the product images. */
export interface HangarImageTags {
  sidecar: string
  aggregator: string
  injector: string
}

/** The product image names with `tag` (default the package version). */
export function hangarImageTags(tag: string = HANGAR_VERSION): HangarImageTags {
  return { sidecar: `${IMAGE_NAMES.sidecar}:${tag}`, aggregator: `${IMAGE_NAMES.aggregator}:${tag}`, injector: `${IMAGE_NAMES.injector}:${tag}` }
}

/**
 * The folder of this installation holding `package.json` (name `mcp-hangar`) and `images/`: found
 * upward from this module (dist/mcp-hangar.mjs, dist/sidecar/, or sidecar/ under tsx).
 * @throws HangarError `HANGAR_IMAGE_BUILD_FAILED` when this installation lacks images/.
 */
export function packageRoot(moduleUrl: string | URL = import.meta.url): string {
  const start = dirname(fileURLToPath(moduleUrl))
  for (let d = start; ; d = dirname(d)) {
    const manifest = join(d, 'package.json')
    if (existsSync(manifest) && existsSync(join(d, 'images/Dockerfile.sidecar'))) {
      if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mcp-hangar') return d
    }
    if (dirname(d) === d) throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `no mcp-hangar package with images/ above ${start}: this installation cannot build images`)
  }
}

/** Runs a command; its stdout, or a HangarError with the command and the last 30 lines of its output. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 900_000, ...(opts.env && { env: opts.env }) })
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string }
    if (e.code === 'ENOENT') throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `${cmd} is not installed (not found on PATH)`)
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n') || e.message
    throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `${cmd} ${args.join(' ')} failed:\n${out}`)
  }
}

/**
 * Checks that a Docker engine answers.
 * @throws HangarError `HANGAR_IMAGE_BUILD_FAILED`: no `docker` on PATH, or the engine does not
 *   answer (the message says which, with the CLI's first line).
 */
export function requireDocker(): void {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer; message: string }
    if (e.code === 'ENOENT') throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, 'docker is not installed (no `docker` on PATH): install Docker to build the images')
    const why = (e.stderr?.toString() || e.message).trim().split('\n')[0]
    throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `the Docker engine does not answer (${why}): start dockerd, or point DOCKER_HOST at a running engine`)
  }
}

/** The shared libraries (absolute paths) a binary needs, from `ldd`. */
export function libraries(binary: string): string[] {
  const libs = new Set<string>()
  for (const line of run('ldd', [binary]).split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s*\(/.exec(line)
    if (m) libs.add(m[1]!)
  }
  return [...libs]
}

/** Copies `src` to `root` + src, and, when `src` is a symlink, its target too (same relative place). */
export function copyIntoRoot(root: string, src: string): void {
  const dest = join(root, src)
  mkdirSync(dirname(dest), { recursive: true })
  const real = realpathSync(src)
  copyFileSync(real, dest)
  if (real !== src) {
    mkdirSync(dirname(join(root, real)), { recursive: true })
    copyFileSync(real, join(root, real))
  }
}

/**
 * Copies `names` and everything they depend on (`dependencies`, `optionalDependencies`), found as
 * Node finds packages (`<dir>/node_modules/<name>` from `fromDir` upward), into
 * `toDir/node_modules`, keeping their layout relative to the topmost node_modules.
 * @returns the package directories copied with their versions (`name@version`), sorted.
 * @throws Error when a required package is missing.
 */
export function stagePackages(names: readonly string[], fromDir: string, toDir: string): string[] {
  const seen = new Map<string, string>()
  const find = (name: string, from: string): string => {
    for (let d = from; ; d = dirname(d)) {
      const m = join(d, 'node_modules', name, 'package.json')
      if (existsSync(m)) return m
      if (dirname(d) === d) throw new Error(`cannot find package ${name} from ${from}`)
    }
  }
  const visit = (name: string, from: string): void => {
    const manifest = find(name, from)
    const dir = dirname(manifest)
    if (seen.has(dir)) return
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
    seen.set(dir, `${name}@${m.version ?? '?'}`)
    for (const dep of Object.keys({ ...m.dependencies, ...m.optionalDependencies })) {
      try {
        visit(dep, dir)
      } catch (err) {
        if (!m.optionalDependencies?.[dep]) throw err
      }
    }
  }
  for (const n of names) visit(n, fromDir)
  for (const dir of seen.keys()) {
    // the path below the first node_modules of the real path: …/node_modules/x/node_modules/y stays x/node_modules/y
    const real = realpathSync(dir)
    const rel = real.slice(real.indexOf('/node_modules/') + '/node_modules/'.length)
    cpSync(dir, join(toDir, 'node_modules', rel), { recursive: true, dereference: true })
  }
  return [...seen.values()].sort()
}

/** The digest label of an image, or undefined when there is no such image. */
export function imageInputs(tag: string): string | undefined {
  try {
    return execFileSync('docker', ['image', 'inspect', '-f', `{{ index .Config.Labels "${INPUT_LABEL}" }}`, tag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

/** A short digest of strings and files (a part naming an existing file counts by its content). */
export function digestOf(...parts: string[]): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(existsSync(p) && statSync(p).isFile() ? readFileSync(p) : p).update('\0')
  return h.digest('hex').slice(0, 16)
}

/** The files under `dir`, recursively, sorted; none when it does not exist. */
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))).filter((f) => statSync(f).isFile()).sort()
}

/**
 * `docker build -q` with the classic builder, labels {@link INPUT_LABEL} (when `inputs`) and
 * {@link VERSION_LABEL}.
 * @throws HangarError `HANGAR_IMAGE_BUILD_FAILED` with the build's last lines.
 */
export function dockerBuild(tag: string, dockerfile: string, context: string, buildArgs: Record<string, string> = {}, inputs?: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const args = ['build', '-q', '-t', tag, '-f', dockerfile, '--label', `${VERSION_LABEL}=${HANGAR_VERSION}`]
  if (inputs) args.push('--label', `${INPUT_LABEL}=${inputs}`)
  for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`)
  args.push(context)
  run('docker', args, { env: { ...rawEnv(), DOCKER_BUILDKIT: '0' } })
  log(`built ${tag}`)
}

/** What a FROM-scratch image gets besides its files: users (`[name, uid, home?]`) and an `ENV` line. */
export interface ScratchImageSpec {
  users: Array<[name: string, uid: number, home?: string]>
  env: string
}

/**
 * Builds a FROM-scratch image: `populate(root)` fills the root file system, to which this adds
 * /etc/passwd and /etc/group (root and `users`), /etc/nsswitch.conf and a 1777 /tmp.
 * @returns `tag`.
 */
export function buildScratchImage(tag: string, inputs: string, spec: ScratchImageSpec, populate: (root: string) => void): string {
  const ctx = mkdtempSync(join(tmpdir(), 'hangar-scratch-'))
  try {
    const root = join(ctx, 'rootfs')
    mkdirSync(join(root, 'etc'), { recursive: true })
    populate(root)
    const entries: Array<[string, number, string?]> = [['root', 0, '/root'], ...spec.users]
    writeFileSync(join(root, 'etc/passwd'), entries.map(([n, id, home]) => `${n}:x:${id}:${id}:${n}:${home ?? '/nonexistent'}:/sbin/nologin\n`).join(''))
    writeFileSync(join(root, 'etc/group'), entries.map(([n, id]) => `${n === 'nobody' ? 'nogroup' : n}:x:${id}:\n`).join(''))
    writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n')
    mkdirSync(join(root, 'tmp'), { recursive: true })
    chmodSync(join(root, 'tmp'), 0o1777)
    writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV ${spec.env}\n`)
    dockerBuild(tag, join(ctx, 'Dockerfile'), ctx, {}, inputs)
  } finally {
    rmSync(ctx, { recursive: true, force: true })
  }
  return tag
}

/**
 * This host's `nft` (nftables), which the Kubernetes init container (`mcp-hangar k8s init`, run
 * from the sidecar image) needs; undefined when the host has none (the base is then built
 * without it, and `k8s init` in that image fails saying so).
 */
export function findNft(): string | undefined {
  for (const p of ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft']) if (existsSync(p)) return realpathSync(p)
  return undefined
}

/** The FROM-scratch base image of this host's node (see the file comment). @returns `tag`. */
export function buildBaseImage(tag: string = BASE_IMAGE, { force = false }: { force?: boolean } = {}): string {
  const node = realpathSync(process.execPath)
  const nft = findNft()
  const libs = [...new Set([...libraries(node), ...(nft ? libraries(nft) : [])])]
  const inputs = digestOf(node, ...(nft ? [nft] : []), ...libs, 'base-v3')
  if (!force && imageInputs(tag) === inputs) return tag
  return buildScratchImage(tag, inputs, { users: [['hangar', 65532, '/var/lib/mcp-hangar'], ['nobody', 65534]], env: 'PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' }, (root) => {
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true })
    copyFileSync(node, join(root, 'usr/local/bin/node'))
    chmodSync(join(root, 'usr/local/bin/node'), 0o755)
    if (nft) {
      mkdirSync(join(root, 'usr/sbin'), { recursive: true })
      copyFileSync(nft, join(root, 'usr/sbin/nft'))
      chmodSync(join(root, 'usr/sbin/nft'), 0o755)
    }
    for (const lib of libs) copyIntoRoot(root, lib)
    mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true })
    if (existsSync('/etc/ssl/certs/ca-certificates.crt')) copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(root, 'etc/ssl/certs/ca-certificates.crt'))
  })
}

/**
 * The sidecar, aggregator and injector images on `base`, from the installation at `root`.
 * @returns the tags.
 * @throws HangarError `HANGAR_IMAGE_BUILD_FAILED`: dist/mcp-hangar.mjs or dist/mcp-hangar-enterprise.mjs missing (a checkout not
 *   built), a runtime package missing, or a build failed.
 */
export function buildHangarImages(base: string = BASE_IMAGE, tags: HangarImageTags = hangarImageTags(), { force = false, root = packageRoot() }: { force?: boolean; root?: string } = {}): HangarImageTags {
  const bundle = join(root, 'dist/mcp-hangar.mjs')
  if (!existsSync(bundle)) throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `${bundle} is missing: run \`npm run build\` first`)
  const enterprise = join(root, `dist/${ENTERPRISE_BUNDLE}`)
  if (!existsSync(enterprise)) throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `${enterprise} is missing: run \`npm run build\` first`)
  const ctx = mkdtempSync(join(tmpdir(), 'hangar-img-'))
  try {
    const app = join(ctx, 'app')
    mkdirSync(join(app, 'dist'), { recursive: true })
    copyFileSync(bundle, join(app, 'dist/mcp-hangar.mjs'))
    copyFileSync(enterprise, join(app, `dist/${ENTERPRISE_BUNDLE}`))
    // The licenses travel with the code they cover (the BSL asks to be displayed on every copy).
    for (const f of ['LICENSE', 'enterprise/LICENSE.BSL']) {
      if (!existsSync(join(root, f))) continue
      mkdirSync(dirname(join(app, f)), { recursive: true })
      copyFileSync(join(root, f), join(app, f))
    }
    cpSync(join(root, 'profiles/builtin'), join(app, 'profiles/builtin'), { recursive: true })
    cpSync(join(root, 'security'), join(app, 'security'), { recursive: true, filter: (p) => !p.endsWith('.ts') })
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'mcp-hangar', version: HANGAR_VERSION, type: 'module', private: true }, null, 2))
    let staged: string[]
    try {
      staged = stagePackages(RUNTIME_PACKAGES, root, app)
    } catch (e) {
      throw new HangarError(ERROR_CODES.IMAGE_BUILD_FAILED, `the runtime packages of the images: ${(e as Error).message}`)
    }
    mkdirSync(join(ctx, 'data'))
    const dockerfile = (n: string) => join(root, 'images', `Dockerfile.${n}`)
    const inputs = digestOf(bundle, enterprise, dockerfile('sidecar'), dockerfile('aggregator'), dockerfile('injector'), HANGAR_VERSION, ...staged, base, imageInputs(base) ?? '', ...listFiles(join(app, 'profiles')), ...listFiles(join(app, 'security')))
    if (!force && imageInputs(tags.sidecar) === inputs && imageInputs(tags.aggregator) === inputs && imageInputs(tags.injector) === inputs) return tags
    dockerBuild(tags.sidecar, dockerfile('sidecar'), ctx, { BASE_IMAGE: base }, inputs)
    dockerBuild(tags.aggregator, dockerfile('aggregator'), ctx, { BASE_IMAGE: base }, inputs)
    const empty = join(ctx, 'injector')
    mkdirSync(empty)
    dockerBuild(tags.injector, dockerfile('injector'), empty, { SIDECAR_IMAGE: tags.sidecar }, inputs)
  } finally {
    rmSync(ctx, { recursive: true, force: true })
  }
  return tags
}

/**
 * Tags each image `<registry>/<image>` and pushes it with `docker push`.
 * @param registry `host[:port][/path]`, no scheme.
 * @returns the pushed names.
 * @throws HangarError `HANGAR_USAGE` for a registry with a scheme or spaces; `HANGAR_IMAGE_PUSH_FAILED`
 *   naming the image and the registry's answer (the tag stays applied).
 */
export function pushImages(tags: HangarImageTags, registry: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string[] {
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._/-]+)?$/.test(registry)) throw new HangarError(ERROR_CODES.USAGE, `--push: expected a registry as host[:port][/path] (no scheme), got "${registry}"`)
  const pushed: string[] = []
  for (const tag of Object.values(tags)) {
    const remote = `${registry.replace(/\/$/, '')}/${tag}`
    run('docker', ['tag', tag, remote])
    try {
      run('docker', ['push', remote], { timeoutMs: 600_000 })
    } catch (e) {
      throw new HangarError(ERROR_CODES.IMAGE_PUSH_FAILED, `could not push ${remote} to ${registry}: ${(e as Error).message.split('\n').slice(1).join(' ').trim() || (e as Error).message}`)
    }
    log(`pushed ${remote}`)
    pushed.push(remote)
  }
  return pushed
}
