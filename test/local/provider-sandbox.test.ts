// local/provider-sandbox.ts (root): preparing a subprocess provider's sandbox on this host (its
// cgroup with the provider's resources or up's defaults, its passwd/group, write_paths created
// and owned by the provider, the spec file the sidecar reads) and releasing it (everything in the
// cgroup, or of the provider's uid, killed; the cgroup removed). Without a cgroup file system the
// sandbox is still made and the note says resources are not applied.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { hangarConfigSchema } from '../../config/schema.js'
import { detectCgroups } from '../../local/cgroup.js'
import { PROVIDER_UID_BASE } from '../../local/identity.js'
import { planNetns } from '../../local/plan.js'
import { DEFAULT_PROVIDER_LIMITS, prepareProviderSandbox, releaseProviderSandbox, type PrepareInput } from '../../local/provider-sandbox.js'
import { sandboxSpecSchema } from '../../local/sandbox.js'
import { captureLog } from '../fixtures/aggregator/signals.js'

const root = process.getuid?.() === 0
const layout = detectCgroups()

function input(t: Test, raw: Record<string, unknown> = {}, o: Partial<PrepareInput> = {}): PrepareInput {
  const dir = t.testdir({ run: {}, work: { existing: {} } })
  const key = randomBytes(4).toString('hex')
  const uid = PROVIDER_UID_BASE + 0xfe00 + Math.floor(Math.random() * 200)
  const provider = hangarConfigSchema.parse({ providers: { fetch: { command: ['node', 'server.js'], ...raw } } }).providers.fetch!
  const i: PrepareInput = {
    name: 'fetch', provider, plan: planNetns({ provider: 'fetch', key, taken: new Set() }), uid, gid: uid,
    runDir: join(dir, 'run'), cwd: join(dir, 'work'), inheritedEnv: { PATH: '/usr/bin:/bin' }, protect: [join(dir, 'run')],
    layout, log: captureLog().log, ...o,
  }
  t.teardown(async () => {
    await releaseProviderSandbox({ name: 'fetch', uid, cgroup: undefined })
  })
  return i
}

t.test('prepare: cgroup with the provider resources, accounts, write paths, a valid spec file', { skip: root ? false : 'needs root' }, async (t) => {
  const i = input(t, { resources: { pids: 64, memory: '256m', cpu: 0.5 }, capabilities: { filesystem: { read_paths: ['ro'], write_paths: ['out/deep', 'existing'] } } })
  const s = await prepareProviderSandbox(i)
  t.teardown(async () => {
    await releaseProviderSandbox({ name: 'fetch', uid: i.uid, ...(s.cgroup && { cgroup: s.cgroup }) })
  })
  if (layout.v2 || layout.v1.pids) {
    t.ok(s.cgroup, 'a cgroup was made')
    const pids = s.cgroup!.limits.find((l) => l.file.endsWith('pids.max'))
    t.equal(pids?.value, '64')
    if (pids) t.equal(readFileSync(pids.file, 'utf8').trim(), '64', 'written to the kernel')
    const mem = s.cgroup!.limits.find((l) => /memory\.(max|limit_in_bytes)$/.test(l.file))
    t.equal(mem?.value, String(256 * 1024 * 1024))
    t.strictSame(s.spec.cgroupProcs, s.cgroup!.procs)
  }
  t.match(readFileSync(join(i.runDir, 'sandbox', 'fetch', 'passwd'), 'utf8'), new RegExp(`^hangar-fetch:x:${i.uid}:${i.uid}:`, 'm'))
  t.equal(statSync(join(i.runDir, 'sandbox', 'fetch', 'passwd')).mode & 0o777, 0o644)
  const out = join(i.cwd, 'out/deep')
  t.ok(existsSync(out), 'a missing write path is created')
  t.equal(statSync(out).uid, i.uid, 'owned by the provider')
  t.equal(statSync(out).mode & 0o777, 0o700)
  t.ok(s.notes.some((n) => n.includes(`write path ${join(i.cwd, 'existing')} is owned by uid 0`)), 'an existing write path owned by someone else is noted')
  t.equal(statSync(s.specFile).mode & 0o777, 0o600)
  const spec = sandboxSpecSchema.parse(JSON.parse(readFileSync(s.specFile, 'utf8')))
  t.equal(spec.netns, i.plan.netns)
  t.equal(spec.uid, i.uid)
  t.ok(spec.writePaths.includes(out))
  t.equal(spec.files['/etc/resolv.conf'], `/etc/netns/${i.plan.netns}/resolv.conf`)
})

t.test("prepare: up's defaults when the provider sets no resources", { skip: root && (layout.v2 || layout.v1.pids) ? false : 'needs root and a cgroup file system' }, async (t) => {
  const i = input(t)
  const s = await prepareProviderSandbox(i)
  t.teardown(async () => {
    await releaseProviderSandbox({ name: 'fetch', uid: i.uid, ...(s.cgroup && { cgroup: s.cgroup }) })
  })
  t.equal(s.cgroup!.limits.find((l) => l.file.endsWith('pids.max'))?.value, String(DEFAULT_PROVIDER_LIMITS.pids))
  t.equal(s.cgroup!.limits.find((l) => /memory\./.test(l.file))?.value, String(1024 ** 3))
  t.notOk(s.cgroup!.limits.some((l) => /cpu\./.test(l.file)), 'no cpu limit unless set')
})

t.test('release kills everything in the cgroup and removes it; a leftover of the same key is replaced at prepare', { skip: root && (layout.v2 || layout.v1.pids) ? false : 'needs root and a cgroup file system' }, async (t) => {
  const i = input(t)
  const first = await prepareProviderSandbox(i)
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await new Promise((r) => child.once('spawn', r))
  for (const f of first.cgroup!.procs) writeFileSync(f, String(child.pid))
  // preparing again (a crashed run's leftover): the old cgroup's processes are killed first
  const dead = new Promise((r) => child.once('exit', (_c, sig) => r(sig)))
  const second = await prepareProviderSandbox(i)
  t.equal(await dead, 'SIGKILL', "the leftover's process was killed")
  const child2 = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => {
    child2.kill('SIGKILL')
  })
  await new Promise((r) => child2.once('spawn', r))
  for (const f of second.cgroup!.procs) writeFileSync(f, String(child2.pid))
  const dead2 = new Promise((r) => child2.once('exit', (_c, sig) => r(sig)))
  t.strictSame(await releaseProviderSandbox({ name: 'fetch', uid: i.uid, cgroup: second.cgroup! }), [])
  t.equal(await dead2, 'SIGKILL')
  t.notOk(existsSync(second.cgroup!.dirs.at(-1)!), 'cgroup removed')
})

t.test('without a cgroup file system: the sandbox is made, the note says why, release kills by uid', { skip: root ? false : 'needs root' }, async (t) => {
  const i = input(t, {}, { layout: { v2Controllers: [], v1: {} } })
  const s = await prepareProviderSandbox(i)
  t.equal(s.cgroup, undefined)
  t.ok(s.notes.some((n) => n === `no cgroup for fetch (no cgroup file system is mounted): resources are not applied, and its processes are killed by uid ${i.uid} at stop`))
  t.strictSame(s.spec.cgroupProcs, [])
  const victim = spawn('sleep', ['60'], { uid: i.uid, gid: i.uid, stdio: 'ignore' })
  t.teardown(() => {
    victim.kill('SIGKILL')
  })
  await new Promise((r) => victim.once('spawn', r))
  const dead = new Promise((r) => victim.once('exit', (_c, sig) => r(sig)))
  t.strictSame(await releaseProviderSandbox({ name: 'fetch', uid: i.uid }), [])
  t.equal(await dead, 'SIGKILL', 'killed by its uid')
})

t.test('a cgroup that cannot be made is a note, not a failure', { skip: root ? false : 'needs root' }, async (t) => {
  // a "v2 mount" that is a plain directory where subtree_control cannot be written
  const fake = mkdtempSync(join(tmpdir(), 'hangar-cg-'))
  t.teardown(() => rmSync(fake, { recursive: true, force: true }))
  mkdirSync(join(fake, 'cg', 'cgroup.subtree_control'), { recursive: true })
  const i = input(t, { resources: { pids: 32 } }, { layout: { v2: join(fake, 'cg'), v2Controllers: ['pids'], v1: {} } })
  const s = await prepareProviderSandbox(i)
  t.equal(s.cgroup, undefined)
  t.ok(s.notes.some((n) => /^no cgroup for fetch \(cannot write \+pids to .*cgroup\.subtree_control/.test(n)), s.notes.join(' | '))
  t.notOk(existsSync(join(fake, 'cg', 'mcp-hangar')), 'what was made (the parent directory) is removed')
})

t.test('release of a uid outside the providers range never kills by uid', async (t) => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await new Promise((r) => child.once('spawn', r))
  t.strictSame(await releaseProviderSandbox({ name: 'x', uid: process.getuid!() }), [])
  await new Promise((r) => setTimeout(r, 200))
  t.equal(child.exitCode, null)
  t.equal(child.signalCode, null, 'our own process is alive')
})
