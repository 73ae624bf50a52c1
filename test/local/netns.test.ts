// local/netns.ts on a real kernel (root): setupNetns makes the namespace, veth, dead-end routes,
// resolv.conf/hosts and both nftables tables; inside it only the sidecar's ports on the veth
// address are reachable, every other connect is refused at once and recorded in the drop set
// (read and deleted here); a failing setup leaves nothing; teardown is idempotent. Plus the pure
// parsers of `nft -j` output and `run`'s typed error.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import t from 'tap'
import { ERROR_CODES } from '../../core/errors.js'
import { IsolationError, deleteBypassElements, netnsExists, parseBypassSet, parseCounter, readBypassSet, run, setupNetns, takenSubnets, teardownNetns } from '../../local/netns.js'
import { NETNS_PORTS, NS_TABLE, planNetns, resolvConf, type NetnsPlan } from '../../local/plan.js'
import { netnsSkip } from '../helpers/netns.js'

const skip = netnsSkip()

/** A plan with test names (hgt*, hangar_t*), removed in teardown even when the test fails. */
function testPlan(t: { teardown(fn: () => void): void }, o: Partial<NetnsPlan> = {}): NetnsPlan {
  const key = randomBytes(4).toString('hex')
  const base = planNetns({ provider: 'p', key, taken: takenSubnets() })
  const plan: NetnsPlan = { ...base, netns: `hgt${key}`, vethHost: `hgth${key.slice(0, 7)}`, vethNs: `hgtn${key.slice(0, 7)}`, hostTable: `hangar_t${key}`, ...o }
  t.teardown(() => teardownNetns(plan))
  return plan
}

/** Runs `node -e` in the namespace as nobody; resolves with its stdout. */
function inNs(ns: string, script: string): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
    let out = ''
    c.stdout.on('data', (d: Buffer) => (out += d.toString()))
    // stderr is left out: tap's process tracking, injected into every child, cannot write its
    // record as nobody and says so there
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000)
    c.on('close', () => {
      clearTimeout(timer)
      resolve(out.trim())
    })
  })
}

const connect = (host: string, port: number) =>
  `const s = require('net').connect({ host: '${host}', port: ${port} }); const t0 = Date.now(); s.on('connect', () => { console.log('connected'); s.destroy() }); s.on('error', (e) => console.log(e.code, Date.now() - t0 < 1000 ? 'fast' : 'slow')); setTimeout(() => { console.log('timeout'); process.exit() }, 8000).unref()`

t.test('run: stdout back; a failing command is IsolationError with the command line and stderr', async (t) => {
  t.equal(run('echo', ['hello']), 'hello\n')
  t.equal(run('cat', [], 'piped'), 'piped')
  const e = t.throws(() => run('ls', ['/nonexistent-hangar-path'])) as unknown
  t.ok(e instanceof IsolationError)
  t.equal((e as IsolationError).code, ERROR_CODES.ISOLATION_FAILED)
  t.match((e as Error).message, /^ls \/nonexistent-hangar-path: .*No such file/)
})

t.test('pure parsers of nft -j output', async (t) => {
  const text = JSON.stringify({ nftables: [
    { metainfo: {} },
    { counter: { name: 'dropped', packets: 7, bytes: 400 } },
    { counter: { name: 'overflow', packets: 2 } },
    { set: { name: 'bypass4', elem: [
      { elem: { val: { concat: ['198.18.0.1', 'tcp', 2000] }, counter: { packets: 3, bytes: 180 } } },
      { concat: ['198.18.0.2', 'udp', 53] },
      { concat: ['198.18.0.3', 'icmp', 0] },
      { concat: ['short'] },
    ] } },
    { set: { name: 'bypass6', elem: [{ concat: ['2001:db8::1', 'tcp', 443] }] } },
    { set: { name: 'other', elem: [{ concat: ['1.1.1.1', 'tcp', 1] }] } },
  ] })
  t.equal(parseCounter(text, 'dropped'), 7)
  t.equal(parseCounter(text, 'overflow'), 2)
  t.equal(parseCounter(text, 'missing'), 0)
  t.strictSame(parseBypassSet(text), [
    { ip: '198.18.0.1', protocol: 'tcp', port: 2000, packets: 3, bytes: 180 },
    { ip: '198.18.0.2', protocol: 'udp', port: 53, packets: 0, bytes: 0 },
    { ip: '2001:db8::1', protocol: 'tcp', port: 443, packets: 0, bytes: 0 },
  ], 'other sets, other protocols and malformed elements skipped')
  t.strictSame(parseBypassSet('{}'), [])
})

t.test('setupNetns: the namespace and its plumbing, then teardown removes all of it', { skip }, async (t) => {
  const plan = testPlan(t)
  setupNetns(plan)
  t.ok(netnsExists(plan.netns), 'namespace')
  t.ok(takenSubnets().has(plan.network), 'its /30 is now taken on the host')
  t.equal(readFileSync(`/etc/netns/${plan.netns}/resolv.conf`, 'utf8'), resolvConf(plan))
  t.match(readFileSync(`/etc/netns/${plan.netns}/hosts`, 'utf8'), /^127\.0\.0\.1 localhost$/m)
  t.match(run('ip', ['-n', plan.netns, 'route', 'show', 'default']), /default dev hgnull0/, 'the default route is the dead end')
  t.match(run('nft', ['list', 'table', 'inet', plan.hostTable]), new RegExp(`iifname "${plan.vethHost}"`), 'host table for the veth')
  t.match(run('ip', ['netns', 'exec', plan.netns, 'nft', 'list', 'table', 'inet', NS_TABLE]), /policy drop/, 'namespace table')
  teardownNetns(plan)
  t.notOk(netnsExists(plan.netns))
  t.notOk(existsSync(`/etc/netns/${plan.netns}`))
  t.throws(() => run('nft', ['list', 'table', 'inet', plan.hostTable]), IsolationError, 'host table gone')
  t.throws(() => run('ip', ['link', 'show', plan.vethHost]), IsolationError, 'veth gone')
  t.doesNotThrow(() => teardownNetns(plan), 'idempotent')
})

t.test('inside: the sidecar port on the veth address is reachable, another destination refused at once and recorded', { skip }, async (t) => {
  const plan = testPlan(t)
  setupNetns(plan)
  const server: Server = createServer((s) => s.end())
  await new Promise<void>((r) => server.listen(NETNS_PORTS.proxy, plan.hostIp, r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  t.equal(await inNs(plan.netns, connect(plan.hostIp, NETNS_PORTS.proxy)), 'connected', 'control: the sidecar proxy port')
  t.equal(await inNs(plan.netns, connect('198.18.7.7', 4444)), 'ECONNREFUSED fast', 'an outside address is refused at once')
  t.equal(await inNs(plan.netns, connect(plan.hostIp, 22)), 'ECONNREFUSED fast', 'another port of the veth address too')
  const read = await readBypassSet(NS_TABLE, plan.netns)
  const mine = read.entries.filter((e) => (e.ip === '198.18.7.7' && e.port === 4444) || (e.ip === plan.hostIp && e.port === 22))
  t.equal(mine.length, 2, 'both recorded in bypass4')
  t.ok(mine.every((e) => e.protocol === 'tcp' && e.packets >= 1))
  await deleteBypassElements(NS_TABLE, mine, plan.netns)
  t.strictSame((await readBypassSet(NS_TABLE, plan.netns)).entries.filter((e) => e.ip === '198.18.7.7'), [], 'deleted')
  await t.resolves(deleteBypassElements(NS_TABLE, [], plan.netns), 'nothing to delete')
  const host = await readBypassSet(plan.hostTable)
  t.equal(host.overflowPackets, 0)
  await t.rejects(readBypassSet('hangar_tnosuchtable'), IsolationError, 'a missing table')
})

t.test('setup over a leftover of the same plan replaces it', { skip }, async (t) => {
  const plan = testPlan(t)
  setupNetns(plan)
  t.doesNotThrow(() => setupNetns(plan))
  t.ok(netnsExists(plan.netns))
})

t.test('a steering address is routed to the veth and DNATed to the sidecar', { skip }, async (t) => {
  const plan = testPlan(t, { steering: '11.254.0.1' })
  setupNetns(plan)
  t.match(run('ip', ['-n', plan.netns, 'route', 'show', '11.254.0.1']), new RegExp(`via ${plan.hostIp.replace(/\./g, '\\.')}`))
  const server: Server = createServer((s) => s.end())
  await new Promise<void>((r) => server.listen(NETNS_PORTS.tls, plan.hostIp, r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  t.equal(await inNs(plan.netns, connect('11.254.0.1', NETNS_PORTS.tls)), 'connected')
})

t.test('a failing setup throws IsolationError and leaves nothing', { skip }, async (t) => {
  const plan = testPlan(t, { vethHost: 'hgt-name-far-too-long-for-ifnamsiz' })
  const e = t.throws(() => setupNetns(plan)) as unknown
  t.ok(e instanceof IsolationError)
  t.match((e as Error).message, /^ip link add hgt-name-far-too-long-for-ifnamsiz/)
  t.notOk(netnsExists(plan.netns), 'the namespace made before the failure is removed')
  t.notOk(existsSync(`/etc/netns/${plan.netns}`))
})
