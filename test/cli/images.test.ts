// `mcp-hangar images build` from an installed package, for real: `npm run build` (when stale), `npm pack`, the
// tarball installed into a temporary prefix, and the installed bin run from a directory that is not
// a git checkout. The three images exist with the version label, the entrypoint and default
// commands of their Dockerfiles, and the injector image runs `mcp-hangar --version`. `--push` to
// an unreachable registry (127.0.0.1:1) exits 2 with a message naming the image and the registry,
// after applying the registry tag. Docker missing from PATH and an engine that does not answer are
// clear errors (control: the same command with the real engine built the images). The test's
// images carry a tag of their own and only those tags are removed at the end (the shared base
// image and the tags other tests use are left alone).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { HANGAR_VERSION } from '../../core/version.js'
import { BASE_IMAGE, INPUT_LABEL, VERSION_LABEL } from '../../sidecar/image-build.js'
import { docker, dockerUnavailable } from '../helpers/docker.js'
import { ensureBuilt } from '../helpers/build.js'
import { runCommand, type NodeRun } from '../helpers/child.js'

t.setTimeout(1_200_000)
const root = new URL('../../', import.meta.url).pathname
const TAG = `test-images-${process.pid}`
const NAMES = ['mcp-hangar/sidecar', 'mcp-hangar/aggregator', 'mcp-hangar/injector'] as const
const REGISTRY = '127.0.0.1:1'
const work = mkdtempSync(join(tmpdir(), 'hangar-images-test-'))
const prefix = join(work, 'prefix')
const cwd = join(work, 'not-a-checkout')
const bin = join(prefix, 'node_modules/.bin/mcp-hangar')
let tarball: { path: string; files: string[] } = { path: '', files: [] }

/** Runs `cmd` in the run directory (10 min at most); exit code and output. */
function exec(cmd: string, args: string[], opts: { env?: Record<string, string> } = {}): Promise<NodeRun> {
  return runCommand(cmd, args, { cwd, timeoutMs: 600_000, ...opts })
}

const exists = (ref: string) => spawnSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' }).status === 0
const inspect = async (ref: string) => JSON.parse(await docker(['image', 'inspect', '-f', '{{json .Config}}', ref])) as { Labels: Record<string, string>; Entrypoint: string[]; Cmd: string[]; User: string }

t.teardown(async () => {
  // exactly the tags this test made; the layers they share with other tags stay
  const refs = NAMES.flatMap((n) => [`${n}:${TAG}`, `${REGISTRY}/${n}:${TAG}`]).filter(exists)
  if (refs.length) await docker(['rmi', ...refs])
  rmSync(work, { recursive: true, force: true })
})

t.before(async () => {
  const why = dockerUnavailable()
  if (why) throw new Error(`images build needs Docker: ${why}`)
  ensureBuilt()
  const packed = spawnSync('npm', ['pack', '--pack-destination', work, '--json'], { cwd: root, encoding: 'utf8', timeout: 300_000 })
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`)
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = { path: join(work, info!.filename), files: info!.files.map((f) => f.path) }
  mkdirSync(prefix)
  writeFileSync(join(prefix, 'package.json'), '{"name":"images-test-prefix","private":true}')
  const inst = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball.path], { cwd: prefix, encoding: 'utf8', timeout: 600_000 })
  if (inst.status !== 0) throw new Error(`npm install of the tarball failed: ${inst.stdout}${inst.stderr}`)
  mkdirSync(cwd)
})

t.test('the package ships the Dockerfiles and the bin; the run directory is no git checkout', async (t) => {
  for (const f of ['images/Dockerfile.sidecar', 'images/Dockerfile.aggregator', 'images/Dockerfile.injector', 'dist/mcp-hangar.mjs', 'dist/sidecar/image-build.js']) t.ok(tarball.files.includes(f), `${f} in the tarball`)
  t.notOk(tarball.files.some((f) => f.startsWith('compose/')), 'compose/ (the checkout-only script) is not shipped')
  t.ok(existsSync(bin), 'the installed bin')
  t.not(spawnSync('git', ['rev-parse', '--git-dir'], { cwd, stdio: 'ignore' }).status, 0, 'control: git finds no repository around the run directory')
})

t.test('images build from the installed package: three images, labels, entrypoints, the injector runs --version', async (t) => {
  for (const n of NAMES) t.notOk(exists(`${n}:${TAG}`), `${n}:${TAG} does not exist before`)
  const r = await exec(bin, ['images', 'build', '--tag', TAG])
  t.equal(r.code, 0, r.stderr)
  for (const n of NAMES) t.match(r.stderr, new RegExp(`ready ${n}:${TAG}`))
  const sidecar = await inspect(`mcp-hangar/sidecar:${TAG}`)
  const aggregator = await inspect(`mcp-hangar/aggregator:${TAG}`)
  const injector = await inspect(`mcp-hangar/injector:${TAG}`)
  for (const [name, c] of [['sidecar', sidecar], ['aggregator', aggregator], ['injector', injector]] as const) {
    t.equal(c.Labels[VERSION_LABEL], HANGAR_VERSION, `${name}: version label`)
    t.match(c.Labels[INPUT_LABEL], /^[0-9a-f]{16}$/, `${name}: inputs digest label`)
    t.equal(c.User, '65532:65532', `${name}: not root`)
  }
  t.strictSame(sidecar.Entrypoint, ['node', '--single-threaded', '/opt/mcp-hangar/dist/mcp-hangar.mjs'])
  t.strictSame(sidecar.Cmd, ['sidecar', '--help'])
  t.strictSame(aggregator.Entrypoint, ['node', '/opt/mcp-hangar/dist/mcp-hangar.mjs'])
  t.strictSame(aggregator.Cmd, ['aggregator', '-c', 'env:HANGAR_CONFIG'])
  t.strictSame(injector.Entrypoint, sidecar.Entrypoint, "the injector: the sidecar's entrypoint")
  t.strictSame(injector.Cmd, ['k8s', 'webhook'], 'the injector: k8s webhook by default')
  const version = await docker(['run', '--rm', '--network', 'none', `mcp-hangar/injector:${TAG}`, '--version'])
  t.equal(version.trim(), HANGAR_VERSION, 'the injector image runs mcp-hangar --version')
  const k8s = await docker(['run', '--rm', '--network', 'none', `mcp-hangar/injector:${TAG}`, 'k8s', '--help'])
  t.match(k8s, /networkpolicy/, 'the bundle in the image is this build')
  // The sidecar image is also the pod's init container: run it as the injection does (uid 0,
  // NET_ADMIN and NET_RAW only, read-only root) in a network namespace of its own.
  const initArgs = ['k8s', 'init', '--dns-port', '15053', '--http-port', '15080', '--tls-port', '15443', '--admin-port', '15901', '--mcp-port', '3000', '--ingress-port', '15006', '--trap-port', '15999']
  const asInit = ['run', '--rm', '--network', 'none', '--user', '0:0', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges']
  const loaded = await docker([...asInit, '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', `mcp-hangar/sidecar:${TAG}`, ...initArgs])
  t.match(loaded, /pod nftables rules loaded \(table inet hangar\)/, 'the sidecar image carries nft: k8s init loads the pod rules as the init container')
  const denied = await docker([...asInit, `mcp-hangar/sidecar:${TAG}`, ...initArgs]).then((o) => `exit 0: ${o}`, (e: Error) => e.message)
  t.match(denied, /Operation not permitted|EPERM/i, 'control: without NET_ADMIN the same command fails, so the load above was real')
  const again = await exec(bin, ['images', 'build', '--tag', TAG])
  t.equal(again.code, 0, again.stderr)
  t.notMatch(again.stderr, /built mcp-hangar\//, 'unchanged inputs: nothing rebuilt')
  t.ok(exists(BASE_IMAGE), 'the shared base image is there (and left in place)')
})

t.test('--push to an unreachable registry: exit 2, a message naming image and registry, the tag applied', async (t) => {
  const r = await exec(bin, ['images', 'build', '--tag', TAG, '--push', REGISTRY])
  t.equal(r.code, 2, r.stderr)
  t.match(r.stderr, new RegExp(`mcp-hangar: could not push ${REGISTRY.replace('.', '\\.')}/mcp-hangar/sidecar:${TAG} to ${REGISTRY.replace('.', '\\.')}: .*(refused|connect)`, 'i'))
  t.ok(exists(`${REGISTRY}/mcp-hangar/sidecar:${TAG}`), 'the registry tag was applied')
  t.notMatch(r.stderr, /pushed /, 'nothing claims to be pushed')
  const bad = await exec(bin, ['images', 'build', '--tag', TAG, '--push', 'https://reg.example'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--push: expected a registry as host\[:port\]\[\/path\] \(no scheme\), got "https:\/\/reg\.example"/)
})

t.test('no docker on PATH, an engine that does not answer, a bad tag: clear errors, exit 2', async (t) => {
  const nodeDir = join(work, 'node-only')
  mkdirSync(nodeDir, { recursive: true })
  execFileSync('ln', ['-sf', process.execPath, join(nodeDir, 'node')])
  const noDocker = await exec(bin, ['images', 'build', '--tag', TAG], { env: { PATH: nodeDir, HOME: '/root' } })
  t.equal(noDocker.code, 2, noDocker.stderr)
  t.match(noDocker.stderr, /mcp-hangar: docker is not installed \(no `docker` on PATH\)/)
  const dead = await exec(bin, ['images', 'build', '--tag', TAG], { env: { PATH: process.env.PATH ?? '', HOME: '/root', DOCKER_HOST: `unix://${join(work, 'no-engine.sock')}` } })
  t.equal(dead.code, 2, dead.stderr)
  t.match(dead.stderr, /mcp-hangar: the Docker engine does not answer \(.*\): start dockerd/)
  const tag = await exec(bin, ['images', 'build', '--tag', '-bad'])
  t.not(tag.code, 0)
  const tag2 = await exec(bin, ['images', 'build', '--tag', 'a:b'])
  t.equal(tag2.code, 2)
  t.match(tag2.stderr, /--tag: expected a Docker tag/)
  t.strictSame(readdirSync(cwd), [], 'nothing written to the working directory')
})
