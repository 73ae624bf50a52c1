// local/cgroup.ts: the cgroup layout from mountinfo, the plan of a provider's cgroup (v2 where the
// controller is, else v1), and on this host (root): making it with its limits, the pids limit
// enforced on a real process tree, killing everything in it, removing it; and the kill-by-uid
// fallback, which leaves other uids alone.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CGROUP_PARENT, cgroupPids, createProviderCgroup, detectCgroups, killByUid, killCgroup, parseMountinfo, planProviderCgroup, removeCgroup, type CgroupLayout, type ProviderCgroup } from '../../local/cgroup.js'
import { PROVIDER_UID_BASE } from '../../local/identity.js'

const HYBRID = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
  '',
  'garbage line',
].join('\n')

t.test('parseMountinfo: v2 mount point and v1 hierarchies by controller', async (t) => {
  t.strictSame(parseMountinfo(HYBRID), { v2: '/sys/fs/cgroup/unified', v1: { cpu: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' } })
  t.strictSame(parseMountinfo('29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n30 23 0:27 / /other rw - cgroup2 cgroup2 rw'), { v2: '/sys/fs/cgroup', v1: {} }, 'the first cgroup2 mount')
  t.strictSame(parseMountinfo('1 2 0:1 / /proc rw - proc proc rw'), { v1: {} })
  t.strictSame(parseMountinfo('1 2 0:1 / /x rw - cgroup cgroup rw,cpuacct'), { v1: {} }, '"cpuacct" is not "cpu"')
})

t.test('planProviderCgroup: pure v2 with controllers', async (t) => {
  const layout: CgroupLayout = { v2: '/cg', v2Controllers: ['cpu', 'memory', 'pids'], v1: {} }
  const p = planProviderCgroup(layout, 'abcd0123', { pids: 64, memoryBytes: 1 << 28, cpu: 0.5 })
  t.strictSame(p, {
    cgroup: {
      dirs: ['/cg/mcp-hangar', '/cg/mcp-hangar/hg-abcd0123'],
      procs: ['/cg/mcp-hangar/hg-abcd0123/cgroup.procs'],
      v2Dir: '/cg/mcp-hangar/hg-abcd0123',
      limits: [
        { file: '/cg/mcp-hangar/hg-abcd0123/pids.max', value: '64' },
        { file: '/cg/mcp-hangar/hg-abcd0123/memory.max', value: String(1 << 28) },
        { file: '/cg/mcp-hangar/hg-abcd0123/cpu.max', value: '50000 100000' },
      ],
    },
    unapplied: [],
  })
})

t.test('planProviderCgroup: hybrid host, controllers on v1; the v2 directory still made for the kill switch', async (t) => {
  const layout: CgroupLayout = { ...parseMountinfo(HYBRID), v2Controllers: [] }
  const p = planProviderCgroup(layout, 'k', { pids: 10, memoryBytes: 1000, cpu: 0.001 })
  if (!('cgroup' in p)) throw new Error('expected a cgroup')
  t.equal(p.cgroup.v2Dir, '/sys/fs/cgroup/unified/mcp-hangar/hg-k')
  t.strictSame(p.cgroup.limits, [
    { file: '/sys/fs/cgroup/pids/mcp-hangar/hg-k/pids.max', value: '10' },
    { file: '/sys/fs/cgroup/memory/mcp-hangar/hg-k/memory.limit_in_bytes', value: '1000' },
    { file: '/sys/fs/cgroup/cpu,cpuacct/mcp-hangar/hg-k/cpu.cfs_period_us', value: '100000' },
    { file: '/sys/fs/cgroup/cpu,cpuacct/mcp-hangar/hg-k/cpu.cfs_quota_us', value: '1000' },
  ], 'a tiny cpu share is raised to the 1 ms minimum quota')
  t.equal(p.cgroup.procs.length, 4, 'v2 and each v1 hierarchy once')
  t.equal(new Set(p.cgroup.dirs).size, p.cgroup.dirs.length, 'no directory twice')
})

t.test('planProviderCgroup: limits nowhere to go are unapplied; no cgroup fs is unavailable', async (t) => {
  const p = planProviderCgroup({ v2: '/cg', v2Controllers: ['pids'], v1: {} }, 'k', { pids: 5, memoryBytes: 1, cpu: 1 })
  if (!('cgroup' in p)) throw new Error('expected a cgroup')
  t.strictSame(p.unapplied, ['memory', 'cpu'])
  t.strictSame(p.cgroup.limits.map((l) => l.file), ['/cg/mcp-hangar/hg-k/pids.max'])
  t.strictSame(planProviderCgroup({ v2Controllers: [], v1: {} }, 'k', {}), { unavailable: 'no cgroup file system is mounted' })
  const none = planProviderCgroup({ v2: '/cg', v2Controllers: [], v1: {} }, 'k', {})
  t.ok('cgroup' in none && none.cgroup.limits.length === 0, 'no limits: just the directory')
})

const root = process.getuid?.() === 0
const layout = detectCgroups()
const usable = root && (layout.v2 !== undefined || layout.v1.pids !== undefined)

t.test('detectCgroups reads this host', async (t) => {
  t.strictSame({ v2: layout.v2, v1: layout.v1 }, parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')))
  if (layout.v2) t.ok(Array.isArray(layout.v2Controllers))
})

/** Makes a provider cgroup with a random key, removed in teardown (processes killed first). */
function makeCgroup(t: { teardown(fn: () => Promise<void>): void }, limits: Parameters<typeof planProviderCgroup>[2]): ProviderCgroup {
  const key = `t${randomBytes(4).toString('hex')}`
  const p = planProviderCgroup(layout, key, limits)
  if (!('cgroup' in p)) throw new Error(p.unavailable)
  t.teardown(async () => {
    await killCgroup(p.cgroup, 2000)
    removeCgroup(p.cgroup)
  })
  createProviderCgroup(p.cgroup, layout)
  return p.cgroup
}

t.test('on this host: limits written, a real process tree held by pids.max, killed, removed', { skip: usable ? false : 'needs root and a cgroup file system' }, async (t) => {
  const c = makeCgroup(t, { pids: 4, memoryBytes: 64 * 1024 * 1024, cpu: 0.5 })
  for (const d of c.dirs) t.ok(existsSync(d), `made ${d}`)
  for (const l of c.limits) t.equal(readFileSync(l.file, 'utf8').trim().split('\n')[0], l.value, l.file)
  // a shell joins the cgroup, then starts background sleeps: with pids.max 4, the fourth fork fails
  // (the shell and three sleeps fill it) and the shell exits on the error; the three sleeps stay
  const script = `for f in ${c.procs.join(' ')}; do echo $$ > $f; done; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; wait`
  const sh = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  sh.stderr!.on('data', (d: Buffer) => (stderr += String(d)))
  const code = await new Promise<number | null>((r) => sh.once('exit', (c) => r(c)))
  if (c.limits.some((l) => l.file.endsWith('pids.max'))) {
    t.not(code, 0, 'the shell failed')
    t.match(stderr, /fork/i, `a fork was refused: ${stderr.trim()}`)
    t.equal(cgroupPids(c).length, 3, 'three sleeps in the cgroup, no more')
  }
  t.strictSame(await killCgroup(c, 5000), [], 'every process killed')
  t.strictSame(cgroupPids(c), [])
  const left = removeCgroup(c)
  t.strictSame(left, [], 'directories removed (the shared parent may stay for others)')
  t.notOk(existsSync(c.dirs.at(-1)!), 'leaf gone')
})

t.test('removeCgroup: a leaf with a live process is reported as left; after the kill it goes', { skip: usable ? false : 'needs root and a cgroup file system' }, async (t) => {
  const c = makeCgroup(t, {})
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  await new Promise((r) => child.once('spawn', r))
  for (const f of c.procs) writeFileSync(f, String(child.pid))
  const busy = removeCgroup(c)
  t.ok(busy.length > 0, `busy directories left: ${busy.join(', ')}`)
  t.notOk(busy.some((d) => d.endsWith(`/${CGROUP_PARENT}`)), 'a busy shared parent is not a leftover')
  t.strictSame(await killCgroup(c), [])
  t.strictSame(removeCgroup(c), [])
})

t.test('killByUid kills the processes of one uid only', { skip: root ? false : 'needs root' }, async (t) => {
  const uid = PROVIDER_UID_BASE + 0xfff0 + Math.floor(Math.random() * 15)
  const victim = spawn('sleep', ['30'], { uid, gid: uid, stdio: 'ignore' })
  const bystander = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.teardown(() => {
    victim.kill('SIGKILL')
    bystander.kill('SIGKILL')
  })
  await Promise.all([new Promise((r) => victim.once('spawn', r)), new Promise((r) => bystander.once('spawn', r))])
  const gone = new Promise((r) => victim.once('exit', r))
  t.strictSame(await killByUid(uid, 3000), [])
  await gone
  t.equal(victim.signalCode, 'SIGKILL')
  t.equal(spawnSync('kill', ['-0', String(bystander.pid)]).status, 0, 'a process of another uid is untouched')
  t.strictSame(await killByUid(uid, 100), [], 'nothing left: resolves at once')
})

t.test('createProviderCgroup names the file it could not write', async (t) => {
  const dir = t.testdir({})
  const c: ProviderCgroup = { dirs: [join(dir, 'a')], procs: [], limits: [{ file: join(dir, 'missing', 'pids.max'), value: '5' }] }
  t.throws(() => createProviderCgroup(c, { v2Controllers: [], v1: {} }), new RegExp(`cannot write 5 to ${join(dir, 'missing', 'pids.max').replace(/\//g, '\\/')}`))
})
