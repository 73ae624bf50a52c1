// local/run-state.ts: the record of what one `up` started (written atomically, mode 0600, read back
// with its errors named), process identity by start time (a reused pid is never killed), and the
// cleanup of a crashed run on a real kernel: recorded processes killed, a reused pid spared,
// a provider's cgroup or uid processes killed, its namespace removed, containers handed over.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createProviderCgroup, detectCgroups, planProviderCgroup, removeCgroup } from '../../local/cgroup.js'
import { PROVIDER_UID_BASE } from '../../local/identity.js'
import { netnsExists, setupNetns, takenSubnets, teardownNetns } from '../../local/netns.js'
import { planNetns } from '../../local/plan.js'
import { RUN_STATE_FILE, cleanupProvider, cleanupRun, procStartTime, readRunState, recordedPlan, removeRunDir, sameProcess, writeRunState, type RunState } from '../../local/run-state.js'
import { netnsSkip } from '../helpers/netns.js'

const root = process.getuid?.() === 0

async function sleeper(t: { teardown(fn: () => void): void }, opts: { uid?: number } = {}): Promise<ChildProcess> {
  const c = spawn('sleep', ['60'], { stdio: 'ignore', ...(opts.uid !== undefined && { uid: opts.uid, gid: opts.uid }) })
  t.teardown(() => {
    c.kill('SIGKILL')
  })
  await new Promise((r) => c.once('spawn', r))
  return c
}
const exited = (c: ChildProcess) => new Promise<NodeJS.Signals | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.signalCode) : c.once('exit', (_code, sig) => r(sig))))

const state = (over: Partial<RunState> = {}): RunState => ({
  version: 1,
  up: { pid: 999_999_999, starttime: '1' },
  config: '/etc/hangar.yaml',
  started: '2025-01-01T00:00:00.000Z',
  processes: [],
  providers: [],
  containers: [],
  ...over,
})

t.test('procStartTime: a live process has one, stable; a gone pid has none', async (t) => {
  const c = await sleeper(t)
  const st = procStartTime(c.pid!)
  t.match(st, /^\d+$/)
  t.equal(procStartTime(c.pid!), st, 'stable')
  t.ok(sameProcess(c.pid!, st!))
  t.notOk(sameProcess(c.pid!, String(Number(st) + 1)), 'another start time: not the same process')
  c.kill('SIGKILL')
  await exited(c)
  t.equal(procStartTime(c.pid!), undefined, 'gone (reaped)')
  t.equal(procStartTime(999_999_999), undefined)
})

t.test('procStartTime: a command name with spaces and parentheses is read from the last ")"', async (t) => {
  const c = spawn(process.execPath, ['-e', 'process.title = "a b) (c"; setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  t.teardown(() => {
    c.kill('SIGKILL')
  })
  await new Promise((r) => setTimeout(r, 300))
  const stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8')
  const expected = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  t.equal(procStartTime(c.pid!), expected)
})

t.test('procStartTime: a zombie counts as gone', async (t) => {
  // the shell's child exits at once, the shell never reaps it while it sleeps
  const sh = spawn('sh', ['-c', 'true & exec sleep 30'], { stdio: 'ignore' })
  t.teardown(() => {
    sh.kill('SIGKILL')
  })
  let zombie: number | undefined
  for (let i = 0; i < 50 && zombie === undefined; i++) {
    await new Promise((r) => setTimeout(r, 50))
    try {
      const kids = readFileSync(`/proc/${sh.pid}/task/${sh.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
      zombie = kids.find((k) => / Z /.test(readFileSync(`/proc/${k}/stat`, 'utf8')))
    } catch {
      /* not yet */
    }
  }
  t.ok(zombie !== undefined, 'a zombie child was made')
  t.equal(procStartTime(zombie!), undefined)
  t.ok(procStartTime(sh.pid!), 'control: its parent is alive')
})

t.test('writeRunState / readRunState: atomic, 0600, round trip; damage named', async (t) => {
  const dir = t.testdir({})
  t.equal(readRunState(dir), undefined, 'no file')
  const s = state({ providers: [{ name: 'fetch', key: 'abcdef01', netns: 'hg-abcdef01', uid: PROVIDER_UID_BASE }], containers: ['0123abcd'] })
  writeRunState(dir, s)
  t.equal(statSync(join(dir, RUN_STATE_FILE)).mode & 0o777, 0o600)
  t.strictSame(readRunState(dir), { state: s })
  writeFileSync(join(dir, RUN_STATE_FILE), '{nope')
  t.match((readRunState(dir) as { invalid: string }).invalid, /JSON/)
  writeFileSync(join(dir, RUN_STATE_FILE), JSON.stringify({ ...s, version: 2, providers: [{ name: 'x', key: 'XYZ' }] }))
  const bad = (readRunState(dir) as { invalid: string }).invalid
  t.match(bad, /version: /)
  t.match(bad, /providers\.0\.key: /)
  removeRunDir(dir)
  t.equal(readRunState(dir), undefined, 'run dir removed')
})

t.test('recordedPlan: only with netns, veth and table recorded', async (t) => {
  t.equal(recordedPlan({ name: 'a', key: '00000000' }), undefined)
  t.equal(recordedPlan({ name: 'a', key: '00000000', netns: 'hg-1', vethHost: 'hgh1' }), undefined)
  t.strictSame(recordedPlan({ name: 'a', key: '00000000', netns: 'hg-1', vethHost: 'hgh1', hostTable: 'hangar_1' }), { provider: 'a', netns: 'hg-1', vethHost: 'hgh1', hostTable: 'hangar_1', vethNs: '', hostIp: '', nsIp: '', network: '', steering: '', tcpPorts: [] })
})

t.test('cleanupRun kills recorded processes whose start time matches, spares a reused pid, hands containers over', async (t) => {
  const a = await sleeper(t)
  const b = await sleeper(t)
  const s = state({
    up: { pid: a.pid!, starttime: procStartTime(a.pid!)! },
    processes: [{ role: 'sidecar', name: 'fetch', pid: b.pid!, starttime: String(Number(procStartTime(b.pid!)) + 7) }],
    containers: ['k1', 'k2'],
  })
  let handed: readonly string[] = []
  const report = await cleanupRun(s, (keys) => {
    handed = keys
  })
  t.equal(await exited(a), 'SIGKILL', 'the recorded process is killed')
  t.ok(sameProcess(b.pid!, procStartTime(b.pid!)!), 'a pid with another start time (reused) is left alone')
  t.strictSame(handed, ['k1', 'k2'])
  t.strictSame(report.removed, [`process ${a.pid} (up up)`, 'containers of 2 container provider(s)'])
  t.strictSame(report.left, [])
})

t.test('cleanupRun never throws: a failing container removal is reported as left', async (t) => {
  const report = await cleanupRun(state({ containers: ['k'] }), () => {
    throw new Error('docker is gone')
  })
  t.strictSame(report.left, ['containers: docker is gone'])
})

t.test('cleanupProvider kills by uid only inside the providers range', { skip: root ? false : 'needs root' }, async (t) => {
  const uid = PROVIDER_UID_BASE + 0xff00 + Math.floor(Math.random() * 200)
  const victim = await sleeper(t, { uid })
  const outsider = await sleeper(t, { uid: 65533 })
  const report = { removed: [] as string[], left: [] as string[] }
  await cleanupProvider({ name: 'p', key: '00000000', uid }, report)
  t.equal(await exited(victim), 'SIGKILL')
  await cleanupProvider({ name: 'q', key: '00000000', uid: 65533 }, report)
  await new Promise((r) => setTimeout(r, 200))
  t.equal(outsider.exitCode, null, 'a uid outside the range (an explicit --run-as user) is never killed by uid')
  t.equal(outsider.signalCode, null)
  t.strictSame(report.left, [])
})

const layout = detectCgroups()
t.test('cleanupProvider: a recorded cgroup is emptied and removed, a recorded namespace torn down', { skip: netnsSkip() || (layout.v2 || layout.v1.pids ? false : 'no cgroup file system') }, async (t) => {
  const key = randomBytes(4).toString('hex')
  const plan = { ...planNetns({ provider: 'p', key, taken: takenSubnets() }), netns: `hgt${key}`, vethHost: `hgth${key.slice(0, 7)}`, vethNs: `hgtn${key.slice(0, 7)}`, hostTable: `hangar_t${key}` }
  const cg = planProviderCgroup(layout, `t${key}`, {})
  if (!('cgroup' in cg)) throw new Error(cg.unavailable)
  t.teardown(() => {
    teardownNetns(plan)
    removeCgroup(cg.cgroup)
  })
  setupNetns(plan)
  createProviderCgroup(cg.cgroup, layout)
  const inside = await sleeper(t)
  for (const f of cg.cgroup.procs) writeFileSync(f, String(inside.pid))
  const report = { removed: [] as string[], left: [] as string[] }
  await cleanupProvider({ name: 'p', key, netns: plan.netns, vethHost: plan.vethHost, hostTable: plan.hostTable, cgroup: cg.cgroup }, report)
  t.equal(await exited(inside), 'SIGKILL', 'the process in the cgroup is killed')
  t.notOk(netnsExists(plan.netns), 'namespace removed')
  t.strictSame(report.left, [])
  t.strictSame(report.removed, ['cgroup of p', `namespace ${plan.netns}, veth ${plan.vethHost}, nftables table ${plan.hostTable}`])
  const again = { removed: [] as string[], left: [] as string[] }
  await cleanupProvider({ name: 'p', key, netns: plan.netns, vethHost: plan.vethHost, hostTable: plan.hostTable, cgroup: cg.cgroup }, again)
  t.strictSame(again, { removed: [], left: [] }, 'a second cleanup finds nothing to do')
})
