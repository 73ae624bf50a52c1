// sidecar/image-build.ts, the parts below `docker build` (the builds themselves run for real in
// test/cli/images.test.ts): the image tags, finding the installation's root (and refusing a
// folder that is not mcp-hangar's), staging runtime packages as Node would find them (hoisted,
// nested, optional and missing dependencies), the inputs digest, ldd, and the errors that come
// before Docker is asked anything (no docker on PATH, a registry with a scheme, an unbuilt checkout).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { HANGAR_VERSION } from '../../core/version.js'
import { buildHangarImages, digestOf, hangarImageTags, libraries, packageRoot, pushImages, requireDocker, stagePackages } from '../../sidecar/image-build.js'
import { DEFAULT_AGGREGATOR_IMAGE, DEFAULT_INJECTOR_IMAGE, DEFAULT_SIDECAR_IMAGE } from '../../sidecar/images.js'
import { thrown } from '../helpers/thrown.js'

const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '')

t.test('tags: the defaults of sidecar/images.ts, or another tag', async (t) => {
  t.strictSame(hangarImageTags(), { sidecar: DEFAULT_SIDECAR_IMAGE, aggregator: DEFAULT_AGGREGATOR_IMAGE, injector: DEFAULT_INJECTOR_IMAGE })
  t.equal(DEFAULT_INJECTOR_IMAGE, `mcp-hangar/injector:${HANGAR_VERSION}`)
  t.strictSame(hangarImageTags('x1'), { sidecar: 'mcp-hangar/sidecar:x1', aggregator: 'mcp-hangar/aggregator:x1', injector: 'mcp-hangar/injector:x1' })
})

t.test("packageRoot: this checkout from the module; an installed layout; another package's folder refused", async (t) => {
  t.equal(packageRoot(), root, 'from sidecar/image-build.ts')
  // outside this checkout (t.testdir is inside it, and the search would find the checkout above)
  const dir = mkdtempSync(join(tmpdir(), 'hangar-image-root-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, pkg] of [['ok', 'mcp-hangar'], ['other', 'not-hangar']] as const) {
    mkdirSync(join(dir, name, 'images'), { recursive: true })
    mkdirSync(join(dir, name, 'dist/sidecar'), { recursive: true })
    writeFileSync(join(dir, name, 'package.json'), JSON.stringify({ name: pkg }))
    writeFileSync(join(dir, name, 'images/Dockerfile.sidecar'), 'FROM x')
  }
  t.equal(packageRoot(pathToFileURL(join(dir, 'ok/dist/sidecar/m.js'))), join(dir, 'ok'), 'two levels up (dist/sidecar/)')
  const e = thrown(() => packageRoot(pathToFileURL(join(dir, 'other/dist/sidecar/m.js'))))
  t.type(e, HangarError)
  t.equal((e as HangarError).code, ERROR_CODES.IMAGE_BUILD_FAILED)
  t.match((e as Error).message, /no mcp-hangar package with images\/ above .*other\/dist/)
})

t.test('stagePackages: dependencies found as Node finds them, layout kept, optional missing ones skipped', async (t) => {
  const pkg = (name: string, version: string, deps: Record<string, string> = {}, optional: Record<string, string> = {}) => ({ 'package.json': JSON.stringify({ name, version, dependencies: deps, optionalDependencies: optional }), 'index.js': `// ${name}@${version}` })
  const dir = t.testdir({
    app: { 'package.json': '{}' },
    node_modules: {
      a: { ...pkg('a', '1.0.0', { b: '*', c: '*' }, { gone: '*' }), node_modules: { c: pkg('c', '2.0.0') } },
      b: pkg('b', '1.1.0', { c: '*' }),
      c: pkg('c', '1.0.0'),
      broken: pkg('broken', '0.1.0', { missing: '*' }),
    },
    out: {},
  })
  const staged = stagePackages(['a'], join(dir, 'app'), join(dir, 'out'))
  t.strictSame(staged, ['a@1.0.0', 'b@1.1.0', 'c@1.0.0', 'c@2.0.0'], 'a, the hoisted b and c, and the c nested under a')
  t.match(readFileSync(join(dir, 'out/node_modules/a/node_modules/c/index.js'), 'utf8'), /c@2\.0\.0/, "a's own c stays nested")
  t.match(readFileSync(join(dir, 'out/node_modules/c/index.js'), 'utf8'), /c@1\.0\.0/, 'the hoisted c stays hoisted')
  t.throws(() => stagePackages(['broken'], join(dir, 'app'), join(dir, 'out2')), /cannot find package missing/, 'a missing required dependency')
  const real = t.testdir({})
  t.match(stagePackages(['yaml'], root, real), [/^yaml@\d/], "control: this checkout's yaml")
})

t.test('digestOf: a file counts by its content, a string by itself', async (t) => {
  const dir = t.testdir({ f: 'one' })
  const a = digestOf(join(dir, 'f'), 'x')
  t.match(a, /^[0-9a-f]{16}$/)
  t.equal(digestOf(join(dir, 'f'), 'x'), a, 'stable')
  writeFileSync(join(dir, 'f'), 'two')
  t.not(digestOf(join(dir, 'f'), 'x'), a, 'a changed file changes it')
  t.not(digestOf('a', 'bc'), digestOf('ab', 'c'), 'parts are separated')
})

t.test("libraries: ldd's list for node (the base image's contents)", async (t) => {
  const libs = libraries(process.execPath)
  t.ok(libs.some((l) => /\/libc\.so\.6$/.test(l)), 'libc')
  t.ok(libs.some((l) => /ld-linux/.test(l)), 'the dynamic loader')
  t.ok(libs.every((l) => l.startsWith('/')), 'absolute paths')
})

t.test('errors before Docker is asked: no docker on PATH, a registry with a scheme, an unbuilt checkout', async (t) => {
  const path = process.env.PATH
  const dir = t.testdir({})
  process.env.PATH = dir
  try {
    const e = thrown(() => requireDocker())
    t.equal((e as HangarError).code, ERROR_CODES.IMAGE_BUILD_FAILED)
    t.match((e as Error).message, /docker is not installed \(no `docker` on PATH\)/)
  } finally {
    process.env.PATH = path
  }
  for (const reg of ['https://reg.example', 'reg example', '']) {
    const e = thrown(() => pushImages(hangarImageTags('never'), reg, () => {}))
    t.equal((e as HangarError).code, ERROR_CODES.USAGE, JSON.stringify(reg))
  }
  const bare = t.testdir({ 'package.json': '{"name":"mcp-hangar"}', images: { 'Dockerfile.sidecar': '' } })
  mkdirSync(join(bare, 'dist'), { recursive: true })
  const e = thrown(() => buildHangarImages('base', hangarImageTags('never'), { root: bare }))
  t.equal((e as HangarError).code, ERROR_CODES.IMAGE_BUILD_FAILED)
  t.match((e as Error).message, /dist\/mcp-hangar\.mjs is missing: run `npm run build` first/)
  // The CLI bundle alone is not enough: the images carry the enterprise bundle beside it.
  writeFileSync(join(bare, 'dist/mcp-hangar.mjs'), '')
  const e2 = thrown(() => buildHangarImages('base', hangarImageTags('never'), { root: bare }))
  t.equal((e2 as HangarError).code, ERROR_CODES.IMAGE_BUILD_FAILED)
  t.match((e2 as Error).message, /dist\/mcp-hangar-enterprise\.mjs is missing: run `npm run build` first/)
})
