/**
 * The pure parts of the provider sandbox under `mcp-hangar up`: the bwrap argv and its order, which
 * paths a command exposes and which protected paths are hidden, the uid range and its picking,
 * `--run-as`, the sandbox's accounts, cgroup planning from mountinfo, literal secrets in a config,
 * the run state file, and the drop-set overflow signal.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseMountinfo, planProviderCgroup } from '../../local/cgroup.js'
import { literalSecrets } from '../../local/config-secrets.js'
import { isProviderUid, parseIdFiles, pickProviderUid, PROVIDER_UID_BASE, PROVIDER_UID_COUNT, resolveRunAs, sandboxAccounts } from '../../local/identity.js'
import { collapse, exposureRoot, hostnameOf, parentDirs, readSandboxSpec, resolveSandbox, sandboxArgv, CGROUP_JOIN_SCRIPT, type SandboxSpec } from '../../local/sandbox.js'
import { procStartTime, readRunState, sameProcess, writeRunState, type RunState } from '../../local/run-state.js'
import { overflowSignal } from '../../local/bypass-monitor.js'
import { parseBypassSet, parseCounter } from '../../local/netns.js'
import { hostRuleset, namespaceRuleset, planNetns } from '../../local/plan.js'

const spec = (o: Partial<SandboxSpec> = {}): SandboxSpec => ({
  provider: 'fetch', netns: 'hg-0123abcd', uid: PROVIDER_UID_BASE + 5, gid: PROVIDER_UID_BASE + 5,
  cgroupProcs: ['/sys/fs/cgroup/mcp-hangar/hg-0123abcd/cgroup.procs'], cwd: '/srv/app',
  readPaths: ['/srv/app/node_modules'], writePaths: ['/srv/out'], hideDirs: ['/srv/app/node_modules/.cache'], hideFiles: ['/srv/app/node_modules/hangar.yaml'],
  files: { '/etc/passwd': '/run/x/passwd', '/etc/resolv.conf': '/etc/netns/hg-0123abcd/resolv.conf' },
  etc: ['ssl'], system: [{ path: '/usr' }, { path: '/bin', symlink: 'usr/bin' }], setenv: { HOME: '/tmp' }, tmpBytes: 1024 * 1024, ...o,
})

t.test('sandboxArgv: cgroup join, netns, bwrap, then setpriv to the uid; hiding after binding', async (t) => {
  const a = sandboxArgv(spec())
  t.same(a.slice(0, 5), ['sh', '-c', CGROUP_JOIN_SCRIPT, 'hangar-cgroup', '/sys/fs/cgroup/mcp-hangar/hg-0123abcd/cgroup.procs'], 'sh joins the cgroup first')
  const ipAt = a.indexOf('ip')
  t.same(a.slice(ipAt, ipAt + 4), ['ip', 'netns', 'exec', 'hg-0123abcd'])
  for (const flag of ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent']) t.ok(a.includes(flag), flag)
  t.notOk(a.includes('--unshare-net'), 'the network namespace is the one up made (ip netns exec), not a new empty one')
  t.notOk(a.includes('--share-net') && false)
  const bind = a.indexOf('/srv/app/node_modules')
  const hideDir = a.lastIndexOf('/srv/app/node_modules/.cache')
  const hideFile = a.lastIndexOf('/srv/app/node_modules/hangar.yaml')
  t.ok(bind < hideDir && bind < hideFile, 'protected paths are covered after the bind (later mounts win)')
  t.same(a.slice(hideFile - 2, hideFile + 1), ['--ro-bind', '/dev/null', '/srv/app/node_modules/hangar.yaml'], 'a file is hidden behind /dev/null')
  t.same(a.slice(a.indexOf('--bind'), a.indexOf('--bind') + 3), ['--bind', '/srv/out', '/srv/out'], 'write paths read-write')
  t.same(a.slice(a.indexOf('--size'), a.indexOf('--size') + 4), ['--size', String(1024 * 1024), '--tmpfs', '/tmp'], 'a private /tmp of the given size')
  const sp = a.indexOf('/usr/bin/setpriv')
  t.same(a.slice(sp), ['/usr/bin/setpriv', `--reuid=${PROVIDER_UID_BASE + 5}`, `--regid=${PROVIDER_UID_BASE + 5}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--'], 'setpriv drops to the uid with no capabilities, last')
  t.equal(a[sp - 1], '--', 'bwrap ends its options before setpriv')
  t.ok(a.indexOf('--chdir') > hideFile, 'chdir after every mount')
  t.same(sandboxArgv(spec({ cgroupProcs: [] })).slice(0, 4), ['ip', 'netns', 'exec', 'hg-0123abcd'], 'without a cgroup no sh step')
})

t.test('parentDirs: made 0755 before binds, except what exists', async (t) => {
  t.same(parentDirs({ readPaths: ['/work/main/node_modules', '/opt/x/bin'], writePaths: [], cwd: '/work/main', system: [{ path: '/usr' }] }), ['/opt', '/work', '/work/main', '/opt/x'].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b)))
  t.same(parentDirs({ readPaths: ['/tmp/t-1/a'], writePaths: [], cwd: '/tmp/t-1', system: [] }), ['/tmp/t-1'], 'a directory inside the private /tmp is made')
  t.same(parentDirs({ readPaths: ['/usr/lib/x'], writePaths: [], cwd: '/usr/lib/x', system: [{ path: '/usr' }] }), [], 'inside a system bind nothing is made')
  const argv = sandboxArgv(spec({ readPaths: ['/work/main/node_modules'], cwd: '/work/main' }))
  t.equal(argv.filter((x, i) => x === '/work/main' && argv[i - 1] === '--dir').length, 1, 'the cwd is made once')
})

t.test('hostnameOf, collapse', async (t) => {
  t.equal(hostnameOf('My.Server_1'), 'my-server-1')
  t.equal(hostnameOf('...'), 'provider')
  t.equal(hostnameOf('x'.repeat(80)).length, 63)
  t.same(collapse(['/a/b', '/a', '/c', '/a/bc', '/c']), ['/a', '/c'])
  t.same(collapse(['/ab', '/a']), ['/a', '/ab'], 'a sibling with a common prefix is not under it')
})

t.test('exposure: node_modules top, bin prefix, project root, directory; protected paths hidden; never /', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'hangar-sbx-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  mkdirSync(join(d, 'proj/node_modules/pkg/dist'), { recursive: true })
  mkdirSync(join(d, 'proj/node_modules/pkg/node_modules/dep'), { recursive: true })
  writeFileSync(join(d, 'proj/package.json'), '{}')
  writeFileSync(join(d, 'proj/node_modules/pkg/dist/index.js'), '')
  writeFileSync(join(d, 'proj/node_modules/pkg/node_modules/dep/x.js'), '')
  mkdirSync(join(d, 'proj/src/lib'), { recursive: true })
  writeFileSync(join(d, 'proj/src/lib/server.js'), '')
  mkdirSync(join(d, 'venv/bin'), { recursive: true })
  writeFileSync(join(d, 'venv/bin/python'), '')
  mkdirSync(join(d, 'loose'))
  writeFileSync(join(d, 'loose/tool.py'), '')
  t.equal(exposureRoot(join(d, 'proj/node_modules/pkg/dist/index.js')), join(d, 'proj/node_modules'), 'the topmost node_modules (hoisted dependencies)')
  t.equal(exposureRoot(join(d, 'proj/node_modules/pkg/node_modules/dep/x.js')), join(d, 'proj/node_modules'), 'also from a nested one')
  t.equal(exposureRoot(join(d, 'proj/src/lib/server.js')), join(d, 'proj'), 'the nearest project root')
  t.equal(exposureRoot(join(d, 'venv/bin/python')), join(d, 'venv'), 'the prefix of …/bin/x')
  t.equal(exposureRoot(join(d, 'loose/tool.py')), join(d, 'loose'), "else the file's directory")
  t.equal(exposureRoot(join(d, 'proj/src')), join(d, 'proj/src'), 'a directory as itself')
  t.equal(exposureRoot(join(d, 'missing.js')), undefined, 'a missing path: nothing')

  writeFileSync(join(d, 'proj/hangar.yaml'), 'x')
  mkdirSync(join(d, 'proj/data'))
  symlinkSync(join(d, 'loose'), join(d, 'link'))
  const base = {
    provider: 'p', netns: 'hg-00000001', uid: PROVIDER_UID_BASE, gid: PROVIDER_UID_BASE, cgroupProcs: [], cwd: join(d, 'proj'), cwdConfigured: false,
    path: '/usr/bin:/bin', readPaths: [], writePaths: [], env: {}, configuredEnv: [],
    files: { passwd: '/p', group: '/g', resolvConf: '/r', hosts: '/h' },
  }
  const r = resolveSandbox({ ...base, command: ['node', './src/lib/server.js', '--root=/', '/etc/hostname', join(d, 'link/tool.py'), 'not-a-path'], protect: [join(d, 'proj/hangar.yaml'), join(d, 'proj/data'), join(d, 'elsewhere')] })
  t.ok(r.spec.readPaths.includes(join(d, 'proj')), 'the project of a relative script argument')
  t.ok(r.spec.readPaths.includes(join(d, 'loose')), 'a symlinked path exposes its target')
  t.notOk(r.spec.readPaths.includes('/'), '/ is never exposed for an argument')
  t.ok(r.notes.some((n) => n.path === '/'), 'and up says so')
  t.ok(r.notes.some((n) => n.path === '/etc'), 'nor /etc (for /etc/hostname)')
  t.same(r.spec.hideFiles, [join(d, 'proj/hangar.yaml')], 'the config file inside an exposed project is hidden')
  t.same(r.spec.hideDirs, [join(d, 'proj/data')], 'so is a data dir')
  t.notOk(r.spec.readPaths.some((p) => p.startsWith('/usr')), 'system dirs are not listed again')
  t.same(r.spec.setenv, { HOME: '/tmp', TMPDIR: '/tmp', USER: 'hangar-p', LOGNAME: 'hangar-p' })

  const w = resolveSandbox({ ...base, command: ['node'], readPaths: [join(d, 'proj')], writePaths: [join(d, 'proj/src')], protect: [], configuredEnv: ['HOME'], env: { SSL_CERT_FILE: join(d, 'loose/tool.py') } })
  t.same(w.spec.writePaths, [join(d, 'proj/src')])
  t.ok(w.spec.readPaths.includes(join(d, 'proj')), 'a read path above a write path stays')
  t.ok(w.spec.readPaths.includes(join(d, 'loose/tool.py')), 'the CA file named by SSL_CERT_FILE is exposed')
  t.notOk('HOME' in w.spec.setenv, "the provider's own HOME wins")
  const around = resolveSandbox({ ...base, command: ['node'], readPaths: [join(d, 'proj/data/sub')], protect: [join(d, 'proj')] })
  t.ok(around.notes.some((n) => /inside/.test(n.why)), 'a path asked for inside a protected one is noted')
})

t.test('readSandboxSpec: a strict schema, errors name the field', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'hangar-spec-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  const f = join(d, 's.json')
  writeFileSync(f, JSON.stringify(spec()))
  t.same(readSandboxSpec(f), spec())
  writeFileSync(f, JSON.stringify({ ...spec(), uid: 0 }))
  t.throws(() => readSandboxSpec(f), /uid/, 'uid 0 is refused')
  writeFileSync(f, JSON.stringify({ ...spec(), extra: 1 }))
  t.throws(() => readSandboxSpec(f), /Unrecognized key/, 'an unknown key is refused')
  writeFileSync(f, JSON.stringify({ ...spec(), readPaths: ['relative'] }))
  t.throws(() => readSandboxSpec(f), /readPaths\.0: expected an absolute path/)
  writeFileSync(f, '{')
  t.throws(() => readSandboxSpec(f), /--sandbox/)
})

t.test('uids: derived, stable, distinct, never reserved; the range is documented', async (t) => {
  t.equal(PROVIDER_UID_BASE, 0x7a000000)
  t.ok(PROVIDER_UID_BASE + PROVIDER_UID_COUNT < 2 ** 31, 'below 2^31')
  const u = pickProviderUid('0000000a', new Set(), [])
  t.equal(u, PROVIDER_UID_BASE + 10)
  t.equal(pickProviderUid('0000000a', new Set(), []), u, 'stable')
  t.equal(pickProviderUid('0000000a', new Set([u]), []), u + 1, 'taken by another provider of the run: the next')
  t.equal(pickProviderUid('0000000a', new Set(), [{ from: u, count: 3 }]), u + 3, 'a reserved range is skipped')
  t.equal(pickProviderUid('0000ffff', new Set([PROVIDER_UID_BASE + 0xffff]), []), PROVIDER_UID_BASE, 'wraps around in the range')
  t.throws(() => pickProviderUid('00000000', new Set(), [{ from: PROVIDER_UID_BASE, count: PROVIDER_UID_COUNT }]), /no free uid/)
  t.ok(isProviderUid(u))
  t.notOk(isProviderUid(65534))
  t.same(parseIdFiles({ passwd: 'root:x:0:0::/root:/bin/sh\nfoo:x:1000:1000::/h:/bin/sh\n', group: 'g:x:5:\n', subuid: 'foo:100000:65536\nbad\n' }), [
    { from: 0, count: 1 }, { from: 1000, count: 1 }, { from: 5, count: 1 }, { from: 100000, count: 65536 },
  ])
  const lookup = (kind: string, name: string) => ({ 'user-uid:alice': 1001, 'user-gid:alice': 1002, 'group-gid:staff': 50 } as Record<string, number>)[`${kind}:${name}`] ?? Number.NaN
  t.same(resolveRunAs('alice', lookup), { uid: 1001, gid: 1002 })
  t.same(resolveRunAs('alice:staff', lookup), { uid: 1001, gid: 50 })
  t.same(resolveRunAs('4000', lookup), { uid: 4000, gid: 4000 })
  t.same(resolveRunAs('4000:77', lookup), { uid: 4000, gid: 77 })
  t.throws(() => resolveRunAs('nobody-here', lookup), /unknown user/)
  t.throws(() => resolveRunAs('0', lookup), /never run as root/)
  t.throws(() => resolveRunAs('alice:0', lookup), /never run as root/)
  const acc = sandboxAccounts('hangar-x', 5, 6)
  t.match(acc.passwd, /^hangar-x:x:5:6:[^:]*:\/tmp:\/usr\/sbin\/nologin$/m)
  t.match(acc.group, /^hangar-x:x:6:$/m)
  t.same(acc.passwd.trim().split('\n').map((l) => l.split(':')[0]), ['root', 'nobody', 'hangar-x'], 'only root, nobody and the provider')
})

t.test('cgroups: mountinfo parsed; limits go to v2 when it has the controller, else v1', async (t) => {
  const hybrid = [
    '30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
    '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    '33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
    '34 30 0:30 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids',
    '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
  ].join('\n')
  const m = parseMountinfo(hybrid)
  t.same(m, { v2: '/sys/fs/cgroup/unified', v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', cpu: '/sys/fs/cgroup/cpu,cpuacct' } })
  const p = planProviderCgroup({ ...m, v2Controllers: [] }, 'abcd0123', { pids: 64, memoryBytes: 1 << 28, cpu: 0.5 })
  if ('unavailable' in p) throw new Error('expected a plan')
  t.equal(p.cgroup.v2Dir, '/sys/fs/cgroup/unified/mcp-hangar/hg-abcd0123', 'the v2 cgroup (cgroup.kill) even without controllers')
  t.same(p.cgroup.limits, [
    { file: '/sys/fs/cgroup/pids/mcp-hangar/hg-abcd0123/pids.max', value: '64' },
    { file: '/sys/fs/cgroup/memory/mcp-hangar/hg-abcd0123/memory.limit_in_bytes', value: String(1 << 28) },
    { file: '/sys/fs/cgroup/cpu,cpuacct/mcp-hangar/hg-abcd0123/cpu.cfs_period_us', value: '100000' },
    { file: '/sys/fs/cgroup/cpu,cpuacct/mcp-hangar/hg-abcd0123/cpu.cfs_quota_us', value: '50000' },
  ], 'v1 files on a hybrid host')
  t.equal(p.cgroup.procs.length, 4, 'the provider joins the v2 cgroup and each v1 one')
  const v2 = parseMountinfo('31 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n')
  const q = planProviderCgroup({ ...v2, v2Controllers: ['cpu', 'memory', 'pids'] }, 'abcd0123', { pids: 10, memoryBytes: 5, cpu: 2 })
  if ('unavailable' in q) throw new Error('expected a plan')
  t.same(q.cgroup.limits.map((l) => [l.file.split('/').pop(), l.value]), [['pids.max', '10'], ['memory.max', '5'], ['cpu.max', '200000 100000']])
  t.same(q.cgroup.procs, ['/sys/fs/cgroup/mcp-hangar/hg-abcd0123/cgroup.procs'])
  const r = planProviderCgroup({ ...v2, v2Controllers: ['pids'] }, 'abcd0123', { pids: 10, memoryBytes: 5 })
  t.same('unapplied' in r && r.unapplied, ['memory'], 'a limit without a controller is reported, not silently dropped')
  t.match(planProviderCgroup({ v2Controllers: [], v1: {} }, 'abcd0123', {}), { unavailable: /no cgroup/ })
})

t.test('literal secrets in a config', async (t) => {
  const text = `aggregator:
  signal_tokens: [plain-token, "\${SIG}"]
  admin_tokens: ["x\${A}y"]
providers:
  gh:
    env: { GITHUB_TOKEN: ghp_abc, LOG_LEVEL: debug, API_KEY: "\${KEY}", DB_PASSWORD: hunter2 }
    ingress: { auth_tokens: [t1] }
  r:
    endpoint: http://user:pw@10.0.0.5/mcp
  base: &b { env: { SLACK_BOT_TOKEN: xoxb-1 } }
  merged: { <<: *b }
`
  t.same(literalSecrets(text).sort(), [
    'aggregator.signal_tokens[0]', 'providers.base.env.SLACK_BOT_TOKEN', 'providers.gh.env.DB_PASSWORD', 'providers.gh.env.GITHUB_TOKEN',
    'providers.gh.ingress.auth_tokens[0]', 'providers.merged.env.SLACK_BOT_TOKEN', 'providers.r.endpoint',
  ], 'literal ones only, merge keys resolved; ${VAR} and non-secret keys are not')
  t.same(literalSecrets('aggregator: [oops'), [], 'unparsable: nothing (the loader reports it)')
})

t.test('run state: written 0600, read back, a bad file is reported; pids told by start time', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'hangar-state-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  t.equal(readRunState(d), undefined)
  const me = procStartTime(process.pid)!
  t.match(me, /^\d+$/)
  t.ok(sameProcess(process.pid, me))
  t.notOk(sameProcess(process.pid, String(Number(me) + 1)), 'another start time: not the same process (a reused pid)')
  t.equal(procStartTime(2 ** 22 + 7), undefined)
  const st: RunState = { version: 1, up: { pid: process.pid, starttime: me }, config: '/c', started: 'now', processes: [{ role: 'sidecar', name: 'a', pid: 5, starttime: '1' }], providers: [{ name: 'a', key: '0123abcd', netns: 'hg-0123abcd', uid: PROVIDER_UID_BASE }], containers: [] }
  writeRunState(d, st)
  t.same(readRunState(d), { state: st })
  const { statSync } = await import('node:fs')
  t.equal(statSync(join(d, 'state.json')).mode & 0o777, 0o600)
  writeFileSync(join(d, 'state.json'), JSON.stringify({ ...st, version: 2 }))
  t.match(readRunState(d), { invalid: /version/ })
  writeFileSync(join(d, 'state.json'), 'not json')
  t.match(readRunState(d), { invalid: /JSON/ })
})

t.test('drop sets: IPv4 and IPv6, an overflow counter; overflow and counters parsed', async (t) => {
  const plan = planNetns({ provider: 'p', key: 'abcdef09', taken: new Set() })
  for (const rs of [namespaceRuleset(plan), hostRuleset(plan)]) {
    t.match(rs, 'set bypass6 {')
    t.match(rs, 'type ipv6_addr . inet_proto . inet_service')
    t.match(rs, 'counter overflow { }')
    t.match(rs, /update @bypass6 \{ ip6 daddr \. meta l4proto \. th dport \}/)
    t.match(rs, /meta l4proto tcp counter name "overflow"/)
  }
  t.match(namespaceRuleset(plan), /meta nfproto ipv6 meta l4proto tcp update @bypass6 .* reject with tcp reset/, 'IPv6 tcp refused with a reset: fails at once')
  const json = JSON.stringify({ nftables: [
    { counter: { name: 'dropped', packets: 9 } }, { counter: { name: 'overflow', packets: 42 } },
    { set: { name: 'bypass6', elem: [{ elem: { val: { concat: ['2001:db8::1', 'tcp', 443] }, counter: { packets: 2, bytes: 160 } } }] } },
    { set: { name: 'other', elem: [{ elem: { val: { concat: ['1.1.1.1', 'tcp', 1] }, counter: { packets: 1, bytes: 1 } } }] } },
  ] })
  t.equal(parseCounter(json, 'overflow'), 42)
  t.equal(parseCounter(json, 'missing'), 0)
  t.same(parseBypassSet(json), [{ ip: '2001:db8::1', protocol: 'tcp', port: 443, packets: 2, bytes: 160 }], 'only the drop sets')
  t.equal(overflowSignal(0, 'namespace', 'block'), undefined)
  t.match(overflowSignal(104, 'namespace', 'block'), { type: 'egress_bypass_attempt', kind: 'violation', action: 'blocked', details: { overflow: true, packets: 104, where: 'namespace' }, reason: /more distinct destinations than the drop set holds \(4096\)/ })
  t.notOk('destination' in overflowSignal(1, 'host', 'alert')!, 'no destination: none was recorded')
})
