/**
 * `mcp-hangar up` process and file isolation, as root: the attacks of an adversarial review, run
 * from a compromised provider (test/fixtures/mcp/hostile-server.mjs, a real stdio MCP server that
 * runs whatever JavaScript the test sends, as the provider) against another provider and the host,
 * each with a control case that shows the same technique works where it should:
 * - provider A cannot read B's /proc/<pid>/environ, ptrace B, kill B or list B's processes, and can
 *   do each to a process of its own;
 * - a host file (0644 under /tmp), world-writable Unix sockets (/tmp, /run), the hangar config and
 *   the audit log are not reachable from A; an unsandboxed process of another user reaches the
 *   file and the sockets; A's own /tmp works; server-filesystem (npm) still serves its directory;
 * - its cgroup's pids.max holds; IPv6 connects fail at once and are reported; after 5,000 distinct
 *   bypass destinations a new one is still reported;
 * - a `setsid -f` child of A is gone after Ctrl-C of `up`, and after `kill -9` of `up` (then the
 *   next `up`, and `up --cleanup`, remove every leftover), checked by uid, namespace inode and cgroup.
 */
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { detectCgroups } from '../../local/cgroup.js'
import { procStartTime } from '../../local/run-state.js'
import { PROVIDER_UID_BASE, PROVIDER_UID_COUNT } from '../../local/identity.js'
import { connectClient, freePort, textOf } from '../helpers/mcp.js'
import { netnsSkip } from '../helpers/netns.js'
import { BUNDLE, sh, startUp, type Up } from '../helpers/up.js'
import { hostProcesses, inodeOf, js, nowTicks, startTicks, until } from '../helpers/isolation.js'

const root = new URL('../../', import.meta.url).pathname
const HOSTILE = join(root, 'test/fixtures/mcp/hostile-server.mjs')
const FILESYSTEM = join(root, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
const noBwrap = spawnSync('bwrap', ['--version']).status === 0 ? undefined : 'bubblewrap (bwrap) is not installed'
const noPython = spawnSync('/usr/bin/python3', ['-c', 'import ctypes']).status === 0 ? undefined : '/usr/bin/python3 (ptrace attempts) is missing'
for (const why of [missing, noBwrap, noPython]) if (why && process.env.CI) t.fail(why)
const skip = netnsSkip() || missing || noBwrap || noPython || false
const ADMIN = 'admin-token-isolation-e2e'
const SECRET = `ghp_${randomBytes(12).toString('hex')}`

t.setTimeout(420_000)

interface Stored { type: string; provider: string; destination?: { ip?: string; port?: number }; details?: { overflow?: boolean } }
const auditOf = (dir: string): Stored[] => {
  const f = join(dir, 'agg/audit/audit.jsonl')
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored) : []
}

/** A test dir with two copies of the hostile server, a directory for server-filesystem, and the config. */
function layout(dir: string, aggPort: number, ports: { a: number; b: number; fs: number }): string {
  for (const p of ['a', 'b']) {
    mkdirSync(join(dir, p), { recursive: true })
    copyFileSync(HOSTILE, join(dir, p, 'hostile.mjs'))
  }
  mkdirSync(join(dir, 'files'))
  writeFileSync(join(dir, 'files/hello.txt'), 'hello from the declared directory\n')
  chmodSync(join(dir, 'files'), 0o755)
  chmodSync(join(dir, 'files/hello.txt'), 0o644)
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:
  listen: 127.0.0.1:${aggPort}
  data_dir: ${dir}/agg
  admin_tokens: [${ADMIN}]
providers:
  a:
    command: [${process.execPath}, ${dir}/a/hostile.mjs]
    listen: 127.0.0.1:${ports.a}
    resources: { pids: 64, memory: 256m }
    sidecar: { data_dir: ${dir}/data-a, observation_window_ms: 0 }
    capabilities: { enforcement_mode: block, network: { egress: [] } }
  b:
    command: [${process.execPath}, ${dir}/b/hostile.mjs]
    listen: 127.0.0.1:${ports.b}
    env: { GITHUB_TOKEN: "${SECRET}" }
    sidecar: { data_dir: ${dir}/data-b }
    capabilities: { network: { egress: [] } }
  fs:
    command: [${process.execPath}, ${FILESYSTEM}, ${dir}/files]
    listen: 127.0.0.1:${ports.fs}
    sidecar: { data_dir: ${dir}/data-fs }
    capabilities: { network: { egress: [] }, tools: { allow_list: [read_text_file, list_allowed_directories] } }
`)
  return cfg
}

/** A fresh test dir (removed at teardown) with the layout, and the ports it uses. */
async function testDir(t: Test, prefix: string): Promise<{ dir: string; cfg: string; aggPort: number; ports: { a: number; b: number; fs: number } }> {
  const dir = mkdtempSync(prefix)
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const aggPort = await freePort()
  const ports = { a: await freePort(), b: await freePort(), fs: await freePort() }
  return { dir, cfg: layout(dir, aggPort, ports), aggPort, ports }
}

/** The uid and netns `up` printed for a provider. */
function printed(up: Up, name: string): { uid: number; netns: string } {
  const m = new RegExp(`^${name}\\s+\\S+\\s+\\(subprocess, netns (hg-[0-9a-f]{8}):.*uid (\\d+)\\)`, 'm').exec(up.out)
  if (!m) throw new Error(`no line for ${name} in:\n${up.out}`)
  return { netns: m[1]!, uid: Number(m[2]) }
}

/** The provider's main process on the host: its uid, running the given script. */
function providerProcess(uid: number, script: string) {
  return hostProcesses().find((p) => p.uid === uid && p.cmdline.includes(script))
}

t.test('up isolation: identity, process view, files, limits, IPv6, drop sets, Ctrl-C', { skip }, async (t) => {
  const { dir, cfg, ports } = await testDir(t, '/tmp/hangar-iso-')

  // The host's own secrets: a world-readable file and world-writable sockets in /tmp and /run.
  const tag = randomBytes(4).toString('hex')
  const hostFile = `/tmp/hangar-host-secret-${tag}.txt`
  writeFileSync(hostFile, 'HOST SECRET\n')
  chmodSync(hostFile, 0o644)
  const sockets = [`/tmp/hangar-host-${tag}.sock`, `/run/hangar-host-${tag}.sock`]
  const servers: Server[] = []
  for (const path of sockets) {
    const s = createServer((c) => c.end('SOCKET ANSWERED\n'))
    await new Promise<void>((r) => s.listen(path, r))
    chmodSync(path, 0o777)
    servers.push(s)
  }
  t.teardown(async () => {
    rmSync(hostFile, { force: true })
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  })

  const up = await startUp(t, cfg, dir)
  t.teardown(() => { if (!t.passing()) t.comment(up.out.slice(-6000)) })
  const A = printed(up, 'a')
  const B = printed(up, 'b')
  const clients: Client[] = []
  t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))))
  const a = await connectClient(new URL(`http://127.0.0.1:${ports.a}/mcp`))
  const b = await connectClient(new URL(`http://127.0.0.1:${ports.b}/mcp`))
  const fsc = await connectClient(new URL(`http://127.0.0.1:${ports.fs}/mcp`))
  clients.push(a, b, fsc)
  // Both providers started (a call starts a lazy provider).
  const aSelf = await js<{ pid: number; uid: number; gid: number; groups: number[] }>(a, 'return { pid: process.pid, uid: process.getuid(), gid: process.getgid(), groups: process.getgroups() }')
  const bSelf = await js<{ pid: number; uid: number }>(b, 'return { pid: process.pid, uid: process.getuid() }')
  const bHost = providerProcess(B.uid, 'b/hostile.mjs')
  const aHost = providerProcess(A.uid, 'a/hostile.mjs')
  t.ok(bHost && aHost, 'both providers run on the host under their printed uids')

  await t.test('one identity per provider, from the documented range, unknown to the host', async (t) => {
    t.equal(aSelf.uid, A.uid, "A runs as the uid up printed")
    t.equal(bSelf.uid, B.uid)
    t.not(A.uid, B.uid, 'A and B have different uids')
    for (const u of [A.uid, B.uid]) t.ok(u >= PROVIDER_UID_BASE && u < PROVIDER_UID_BASE + PROVIDER_UID_COUNT, `${u} is in the providers' range`)
    t.same(aSelf.groups, [aSelf.gid], 'no supplementary groups')
    const passwd = readFileSync('/etc/passwd', 'utf8')
    t.notMatch(passwd, new RegExp(`:${A.uid}:`), "the host's /etc/passwd has no such uid")
    t.ok(aSelf.pid < 10 && bSelf.pid < 10, `each sees itself with a small pid of its own PID namespace (A ${aSelf.pid}, B ${bSelf.pid})`)
    t.not(aHost!.ns.pid, bHost!.ns.pid, 'A and B are in different PID namespaces')
    t.not(aHost!.ns.mnt, bHost!.ns.mnt, 'and different mount namespaces')
  })

  await t.test("A cannot read B's environ, ptrace B, kill B or list B; each works on A's own process", async (t) => {
    const r = await js<Record<string, string>>(a, `
      const fs = require('fs'), cp = require('child_process')
      const out = {}
      const B = ${bHost!.pid}
      const own = cp.spawn('sleep', ['60'], { env: { PATH: process.env.PATH, OWN_MARKER: 'own-child-env' }, stdio: 'ignore' })
      await new Promise((r) => setTimeout(r, 300))
      const tryIt = (f) => { try { return 'OK ' + f() } catch (e) { return 'ERR ' + (e.code || e.message) } }
      out.environB = tryIt(() => fs.readFileSync('/proc/' + B + '/environ', 'utf8'))
      out.environOwn = tryIt(() => fs.readFileSync('/proc/' + own.pid + '/environ', 'utf8').split('\\0').find((l) => l.startsWith('OWN_MARKER')))
      out.killB = tryIt(() => { process.kill(B, 0); return 'alive' })
      const ptrace = (pid) => cp.spawnSync('/usr/bin/python3', ['-c', 'import ctypes,os,sys\\nlibc=ctypes.CDLL(None,use_errno=True)\\nr=libc.ptrace(16,int(sys.argv[1]),0,0)\\nprint("ATTACHED" if r==0 else "DENIED "+os.strerror(ctypes.get_errno()))', String(pid)], { encoding: 'utf8' }).stdout.trim() + ' ' + cp.spawnSync('true').status
      out.ptraceB = ptrace(B)
      out.ptraceOwn = ptrace(own.pid)
      const procs = fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n))
      out.list = procs.map((p) => { try { return p + ':' + fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').replaceAll('\\0', ' ') } catch { return p + ':?' } }).join('\\n')
      out.killOwn = tryIt(() => { process.kill(own.pid, 'SIGKILL'); return 'sent' })
      return out`)
    t.match(r.environB, /^ERR (ENOENT|EACCES|ESRCH)/, "B's environ cannot be read")
    t.notMatch(JSON.stringify(r), SECRET, "B's GITHUB_TOKEN appears nowhere in what A got")
    t.equal(r.environOwn, 'OK OWN_MARKER=own-child-env', "control: A reads its own child's environ")
    t.equal(r.killB, 'ERR ESRCH', 'B cannot be signalled (not even signal 0)')
    t.match(r.killOwn, 'OK sent', 'control: A kills its own child')
    t.match(r.ptraceB, /^DENIED /, `B cannot be ptraced (${r.ptraceB})`)
    t.match(r.ptraceOwn, /^ATTACHED/, 'control: A ptraces its own child')
    t.notMatch(r.list, /b\/hostile\.mjs/, "B's process is not in A's /proc")
    t.notMatch(r.list, /mcp-hangar|sidecar/, 'neither is any sidecar or up')
    t.match(r.list, /a\/hostile\.mjs/, "control: A's own process is listed")
    t.ok(providerProcess(B.uid, 'b/hostile.mjs'), 'B still runs')
    const bStill = await js<{ token: string }>(b, 'return { token: process.env.GITHUB_TOKEN }')
    t.equal(bStill.token, SECRET, 'and B has its token (the attack target was real)')
  })

  await t.test('host files, sockets, the config and the audit log are out of reach; A\'s /tmp works', async (t) => {
    const probe = (sock: string) => `await new Promise((r) => { const s = require('net').connect(${JSON.stringify(sock)}); s.on('data', (d) => { r('OK ' + d.toString().trim()); s.destroy() }); s.on('error', (e) => r('ERR ' + e.code)) })`
    const r = await js<Record<string, string>>(a, `
      const fs = require('fs')
      const tryIt = (f) => { try { return 'OK ' + f() } catch (e) { return 'ERR ' + (e.code || e.message) } }
      return {
        file: tryIt(() => fs.readFileSync(${JSON.stringify(hostFile)}, 'utf8').trim()),
        sockTmp: ${probe(sockets[0]!)},
        sockRun: ${probe(sockets[1]!)},
        config: tryIt(() => fs.readFileSync(${JSON.stringify(cfg)}, 'utf8').slice(0, 20)),
        audit: tryIt(() => fs.readdirSync(${JSON.stringify(join(dir, 'agg'))}).join(',')),
        otherProvider: tryIt(() => fs.readFileSync(${JSON.stringify(join(dir, 'b/hostile.mjs'))}, 'utf8').slice(0, 5)),
        etcShadow: tryIt(() => fs.readFileSync('/etc/shadow', 'utf8').slice(0, 5)),
        own: tryIt(() => { fs.writeFileSync('/tmp/mine.txt', 'mine'); return fs.readFileSync('/tmp/mine.txt', 'utf8') }),
        ownScript: tryIt(() => fs.readFileSync(${JSON.stringify(join(dir, 'a/hostile.mjs'))}, 'utf8').slice(0, 2)),
        writeScript: tryIt(() => { fs.appendFileSync(${JSON.stringify(join(dir, 'a/hostile.mjs'))}, '//'); return 'written' }),
        home: process.env.HOME,
      }`)
    t.match(r.file, /^ERR ENOENT/, 'the 0644 host file under /tmp does not exist for A')
    t.match(r.sockTmp, /^ERR ENOENT/, 'the world-writable socket in /tmp does not exist for A')
    t.match(r.sockRun, /^ERR ENOENT/, 'nor the one in /run')
    t.match(r.config, /^ERR ENOENT/, 'the hangar config is not visible')
    t.match(r.audit, /^ERR ENOENT/, 'the aggregator data dir (audit log) is not visible')
    t.match(r.otherProvider, /^ERR ENOENT/, "B's working files are not visible")
    t.match(r.etcShadow, /^ERR ENOENT/, "the rest of /etc is not there")
    t.equal(r.own, 'OK mine', "A's private /tmp works")
    t.equal(r.ownScript, 'OK #!', 'A reads its own script')
    t.match(r.writeScript, /^ERR (EROFS|EACCES)/, 'but cannot change it')
    t.equal(r.home, '/tmp', 'HOME is the private /tmp')
    // Control: the same reads from outside the sandbox, as another unprivileged user, succeed
    // (spawned, not run synchronously: the sockets' servers live in this process).
    const outside = await new Promise<string>((resolve) => {
      const c = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', `
      const fs = require('fs'), net = require('net')
      const sock = (p) => new Promise((r) => { const s = net.connect(p); s.on('data', (d) => { r('OK ' + d.toString().trim()); s.destroy() }); s.on('error', (e) => r('ERR ' + e.code)) })
      ;(async () => console.log(JSON.stringify({ file: fs.readFileSync(${JSON.stringify(hostFile)}, 'utf8').trim(), tmp: await sock(${JSON.stringify(sockets[0])}), run: await sock(${JSON.stringify(sockets[1])}) })))()`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
      let o = ''
      c.stdout.on('data', (d: Buffer) => (o += d.toString()))
      c.stderr.on('data', (d: Buffer) => (o += d.toString()))
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000)
      c.on('close', () => { clearTimeout(timer); resolve(o) })
    })
    t.same(JSON.parse(outside.split('\n').find((l) => l.startsWith('{')) ?? outside), { file: 'HOST SECRET', tmp: 'OK SOCKET ANSWERED', run: 'OK SOCKET ANSWERED' }, 'control: an unsandboxed process of another user reads the file and reaches both sockets')
    const hello = await fsc.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'files/hello.txt') } })
    t.equal(textOf(hello).trim(), 'hello from the declared directory', 'server-filesystem from npm still serves its declared directory')
  })

  await t.test('IPv6: a connect fails in under 1 s and is reported', async (t) => {
    const r = await js<{ ms: number; code: string }>(a, `
      const t0 = Date.now()
      const code = await new Promise((r) => { const s = require('net').connect({ host: '2001:db8::77', port: 443 }); s.on('connect', () => { r('CONNECTED'); s.destroy() }); s.on('error', (e) => r(e.code)); setTimeout(() => r('TIMEOUT'), 5000) })
      return { ms: Date.now() - t0, code }`)
    t.ok(r.ms < 1000, `failed after ${r.ms} ms`)
    t.match(r.code, /ECONNREFUSED|EACCES|ENETUNREACH|EHOSTUNREACH/)
    const seen = await until(() => auditOf(dir).some((s) => s.type === 'egress_bypass_attempt' && s.provider === 'a' && s.destination?.ip === '2001:db8::77'), 15_000)
    t.ok(seen, 'egress_bypass_attempt for [2001:db8::77]:443 is in the audit log')
  })

  await t.test('after 5,000 distinct bypass destinations a new one is still reported', async (t) => {
    const r = await js<{ refused: number; other: string[] }>(a, `
      const net = require('net')
      let refused = 0; const other = new Set()
      const one = (host, port) => new Promise((r) => { const s = net.connect({ host, port }); s.on('connect', () => { s.destroy(); r() }); s.on('error', (e) => { if (e.code === 'EHOSTUNREACH' || e.code === 'ECONNREFUSED' || e.code === 'EACCES') refused++; else other.add(e.code); r() }) })
      for (let i = 0; i < 5000; i += 250) {
        const batch = []
        for (let j = i; j < i + 250; j++) batch.push(one('198.18.' + (100 + (j >> 8)) + '.' + (j & 255), 1000 + (j % 7)))
        await Promise.all(batch)
      }
      return { refused, other: [...other] }`)
    t.equal(r.refused, 5000, `all 5,000 were refused at once (${r.other.join(',')})`)
    await new Promise((res) => setTimeout(res, 2500))
    await js(a, `await new Promise((r) => { const s = require('net').connect({ host: '198.19.250.1', port: 4444 }); s.on('error', r); s.on('connect', r) })`)
    const seen = await until(() => auditOf(dir).some((s) => s.type === 'egress_bypass_attempt' && s.destination?.ip === '198.19.250.1' && s.destination?.port === 4444), 20_000)
    t.ok(seen, 'the new destination 198.19.250.1:4444 is reported')
  })

  await t.test("the cgroup's pids.max holds (64 for A)", async (t) => {
    const r = await js<{ started: number; failed: number; error?: string }>(a, `
      const cp = require('child_process')
      const kids = []
      let failed = 0, error
      for (let i = 0; i < 100 && !failed; i++) {
        const c = cp.spawn('sleep', ['5'], { stdio: 'ignore' })
        await new Promise((r) => { c.once('spawn', () => { kids.push(c); r() }); c.once('error', (e) => { failed++; error = e.code; r() }) })
      }
      for (const k of kids) k.kill('SIGKILL')
      return { started: kids.length, failed, error }`)
    t.ok(r.started >= 10, `control: A can start processes (${r.started})`)
    t.ok(r.failed > 0, `but not past pids.max: the spawn after ${r.started} failed (${r.error})`)
    t.ok(r.started < 64, `fewer than 64 started (${r.started})`)
    const still = await js<number>(a, 'return process.pid')
    t.ok(still > 0, 'and A itself keeps working')
  })

  await t.test('a setsid -f child of A is gone after Ctrl-C of up; nothing of the run remains', async (t) => {
    await js(a, `require('child_process').spawnSync('setsid', ['-f', 'sleep', '1000'], { stdio: 'ignore' }); return null`)
    // setsid -f returns before its child has exec'd sleep: wait for it.
    t.ok(await until(() => hostProcesses().some((p) => p.uid === A.uid && p.cmdline === 'sleep 1000'), 5000), 'the detached child runs, as A')
    const nsInodes = new Set(hostProcesses().filter((p) => p.uid === A.uid || p.uid === B.uid).flatMap((p) => [p.ns.pid, p.ns.net]))
    const layoutCg = detectCgroups()
    const cgDir = `${layoutCg.v2}${aHost!.cgroup}`
    t.match(aHost!.cgroup, /^\/mcp-hangar\/hg-[0-9a-f]{8}$/, `A is in its own cgroup (${aHost!.cgroup})`)
    const stopAt = nowTicks()
    up.proc.kill('SIGINT')
    t.equal(await up.exited, 0, 'up exits 0')
    // Namespace inode numbers are reused at once: a holder started after the stop is not ours. An
    // exiting process may still be listed for a moment (a zombie being reaped): allow 5 s.
    const ours = () => hostProcesses().filter((p) => startTicks(p.pid) <= stopAt && (p.uid === A.uid || p.uid === B.uid || (p.ns.pid !== undefined && nsInodes.has(p.ns.pid)) || (p.ns.net !== undefined && nsInodes.has(p.ns.net))))
    await until(() => ours().length === 0, 5000)
    t.same(ours().map((p) => `${p.pid} ${p.cmdline}`), [], 'no process of either uid or namespace is left')
    t.notOk(existsSync(cgDir), `the cgroup ${cgDir} is gone`)
    for (const ns of [A.netns, B.netns]) {
      t.notMatch(sh('ip', ['netns', 'list']), ns, `namespace ${ns} is gone`)
      t.notMatch(sh('nft', ['list', 'tables']), `hangar_${ns.slice(3)}`, 'its host table too')
      t.notOk(existsSync(`/etc/netns/${ns}`), 'and /etc/netns/<ns>')
    }
    t.notOk(existsSync(join(dir, 'agg/run')), 'the run dir is gone')
  })
})

t.test('kill -9 of up: providers die with it; the next up and up --cleanup remove the leftovers', { skip }, async (t) => {
  const { dir, cfg, ports } = await testDir(t, '/tmp/hangar-iso9-')

  const first = await startUp(t, cfg, dir)
  t.teardown(() => { if (!t.passing()) t.comment(first.out.slice(-6000)) })
  const A = printed(first, 'a')
  const a = await connectClient(new URL(`http://127.0.0.1:${ports.a}/mcp`))
  await js(a, `require('child_process').spawnSync('setsid', ['-f', 'sleep', '1000'], { stdio: 'ignore' }); return null`)
  await a.close().catch(() => {})
  t.ok(await until(() => hostProcesses().some((p) => p.uid === A.uid && p.cmdline === 'sleep 1000'), 5000), 'the detached child runs')
  const procs = hostProcesses().filter((p) => p.uid === A.uid)
  const oldNetns = inodeOf(`/run/netns/${A.netns}`)
  const oldPidNs = procs[0]!.ns.pid
  const cgPath = `${detectCgroups().v2}${procs[0]!.cgroup}`
  const tree = hostProcesses().filter((p) => p.cmdline.includes(dir)).map((p) => p.pid)
  t.ok(tree.length >= 6, `up, the aggregator, sidecars and providers run (${tree.length} processes name the test dir)`)

  first.proc.kill('SIGKILL')
  await first.exited
  const died = await until(() => hostProcesses().every((p) => p.uid !== A.uid && !tree.includes(p.pid)), 10_000)
  t.ok(died, 'within 10 s of kill -9: the aggregator, sidecars and every process of A (the setsid child too) are gone')
  t.ok(existsSync(`/run/netns/${A.netns}`), 'control: the namespace outlived the SIGKILL (what the next up must remove)')
  t.ok(existsSync(join(dir, 'agg/run/state.json')), 'the run state is left for the next up')

  // Namespace and cgroup inode numbers are reused by the kernel as soon as they are free, so "a
  // leftover of the first run" is told by start time: nothing the first run started may be running.
  const secondStart = Number(procStartTime(process.pid)) // a floor: this test process started earlier
  const oldInodes = new Set([oldNetns, oldPidNs].filter((x): x is number => x !== undefined))
  const second = await startUp(t, cfg, dir)
  const upStart = Number(procStartTime(second.proc.pid!))
  t.ok(upStart >= secondStart, 'the second up started after this test')
  t.match(second.out, /cleaned up after an earlier run: .*namespace hg-/, 'the next up says what it removed')
  const c = await connectClient(new URL(`http://127.0.0.1:${ports.a}/mcp`))
  await js(c, 'return null')
  await c.close().catch(() => {})
  const holders = hostProcesses().filter((p) => p.uid === A.uid || (p.ns.net !== undefined && oldInodes.has(p.ns.net)) || (p.ns.pid !== undefined && oldInodes.has(p.ns.pid)))
  t.ok(holders.length > 0, `A runs again (${holders.length} processes)`)
  const stale = holders.filter((p) => Number(procStartTime(p.pid)) < upStart || tree.includes(p.pid))
  t.same(stale.map((p) => `${p.pid} ${p.cmdline}`), [], 'none of them, and no holder of the first run\'s namespace inodes, is from the first run')
  t.notOk(hostProcesses().some((p) => p.cmdline === 'sleep 1000'), "the first run's setsid child is gone")
  t.ok(existsSync(`/run/netns/${A.netns}`), 'the namespace exists again, made by the second run')

  // Once more, and this time `up --cleanup` tidies up.
  second.proc.kill('SIGKILL')
  await second.exited
  const r = spawnSync(process.execPath, [BUNDLE, 'up', '--cleanup', '-c', cfg], { cwd: dir, encoding: 'utf8', env: { ...process.env, MCP_LOG_LEVEL: 'warn' } })
  t.equal(r.status, 0, `up --cleanup exits 0\n${r.stdout}${r.stderr}`)
  t.match(r.stdout, /removed: .*namespace/, 'and lists what it removed')
  t.notMatch(sh('ip', ['netns', 'list']), A.netns, 'the namespace is gone')
  t.notMatch(sh('nft', ['list', 'tables']), `hangar_${A.netns.slice(3)}`, 'the host table is gone')
  t.notOk(existsSync(cgPath), 'the cgroup is gone')
  t.notOk(existsSync(`/etc/netns/${A.netns}`), '/etc/netns/<ns> is gone')
  t.notOk(hostProcesses().some((p) => p.uid === A.uid), 'no process of A')
  const again = spawnSync(process.execPath, [BUNDLE, 'up', '--cleanup', '-c', cfg], { cwd: dir, encoding: 'utf8', env: { ...process.env, MCP_LOG_LEVEL: 'warn' } })
  t.match(again.stdout, /nothing to clean up/, 'a second --cleanup finds nothing')
})

t.test('a second up of a running config is refused, the first keeps running', { skip }, async (t) => {
  const { dir, cfg, aggPort } = await testDir(t, '/tmp/hangar-iso2-')
  const first = await startUp(t, cfg, dir)
  const second = spawn(process.execPath, [BUNDLE, 'up', '-c', cfg], { cwd: dir, env: { ...process.env, MCP_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  second.stdout.on('data', (d: Buffer) => (out += d.toString()))
  second.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const code = await new Promise<number | null>((r) => second.once('exit', r))
  t.not(code, 0, 'the second up fails')
  t.match(out, /another mcp-hangar up \(pid \d+/, 'and says which up runs')
  const res = await fetch(`http://127.0.0.1:${aggPort}/health`)
  t.equal(res.status, 200, 'the first run is untouched')
  first.proc.kill('SIGTERM')
  t.equal(await first.exited, 0)
})

t.test('--run-as: one explicit identity for every provider, still a private PID view each', { skip }, async (t) => {
  const { dir, cfg, ports } = await testDir(t, '/tmp/hangar-isoR-')
  const up = await startUp(t, cfg, dir, ['--run-as', '65534:65534'])
  t.equal(printed(up, 'a').uid, 65534, 'up prints the explicit uid')
  const a = await connectClient(new URL(`http://127.0.0.1:${ports.a}/mcp`))
  const b = await connectClient(new URL(`http://127.0.0.1:${ports.b}/mcp`))
  t.teardown(() => Promise.all([a.close(), b.close()]).catch(() => {}))
  const ids = await js<{ uid: number; gid: number }>(a, 'return { uid: process.getuid(), gid: process.getgid() }')
  t.same(ids, { uid: 65534, gid: 65534 }, 'A runs as the given identity')
  await js(b, 'return null')
  const bHost = providerProcess(65534, 'b/hostile.mjs')
  t.ok(bHost, 'B runs as the same uid')
  const r = await js<{ kill: string; list: string }>(a, `
    const fs = require('fs')
    let kill; try { process.kill(${bHost!.pid}, 0); kill = 'alive' } catch (e) { kill = e.code }
    return { kill, list: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).map((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8') } catch { return '' } }).join('\\n') }`)
  t.equal(r.kill, 'ESRCH', 'even with the same uid, A cannot signal B: B is not in its PID namespace')
  t.notMatch(r.list, /b\/hostile\.mjs/, "nor list it")
  const refused = spawnSync(process.execPath, [BUNDLE, 'up', '--cleanup', '-c', cfg], { encoding: 'utf8' })
  t.equal(refused.status, 2, '--cleanup refuses while the run goes on')
  up.proc.kill('SIGTERM')
  t.equal(await up.exited, 0)
})
