/**
 * The drop sets on a real kernel (root): a provider namespace made by `up`'s own setupNetns, a
 * flood of more distinct destinations than a set holds, and the BypassMonitor with the real nft
 * reader. Packets a full set cannot take are counted in `overflow` and reported; the monitor
 * deletes what it reported, so a destination after the flood is reported again.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createMetrics } from '../../core/metrics.js'
import { createLogger } from '../../core/log.js'
import type { SignalInput } from '../../signals/build.js'
import { BypassMonitor } from '../../local/bypass-monitor.js'
import { readBypassSet, setupNetns, teardownNetns } from '../../local/netns.js'
import { BYPASS_SET_SIZE, NS_TABLE, planNetns } from '../../local/plan.js'
import { netnsSkip } from '../helpers/netns.js'

const skip = netnsSkip()

/** Runs `node -e` in the namespace as nobody; resolves with stdout. */
function inNs(ns: string, script: string): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
    let out = ''
    c.stdout.on('data', (d: Buffer) => (out += d.toString()))
    c.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000)
    c.on('close', () => { clearTimeout(timer); resolve(out) })
  })
}

const connects = (from: number, count: number) => `
  const net = require('net'); let refused = 0, other = {}
  const one = (h, p) => new Promise((r) => { const s = net.connect({ host: h, port: p }); s.on('connect', () => { s.destroy(); r() }); s.on('error', (e) => { if (e.code === 'ECONNREFUSED') refused++; else other[e.code] = 1; r() }) })
  ;(async () => { for (let i = ${from}; i < ${from + count}; i += 200) { const b = []; for (let j = i; j < Math.min(i + 200, ${from + count}); j++) b.push(one('198.18.' + (j >> 8) + '.' + (j & 255), 2000 + (j % 5))); await Promise.all(b) } console.log(JSON.stringify({ refused, other: Object.keys(other) })) })()`

t.test('a full drop set: overflow counted and reported, the set rotated, a new destination reported', { skip }, async (t) => {
  const key = `e${randomBytes(4).toString('hex').slice(1)}`
  const plan = planNetns({ provider: 'flood', key, taken: new Set() })
  setupNetns(plan)
  t.teardown(() => teardownNetns(plan))
  const signals: SignalInput[] = []
  const metrics = createMetrics({ processMetrics: false })
  const monitor = new BypassMonitor({
    netns: plan.netns, hostTable: plan.hostTable, emit: (s) => signals.push(s), enforcementMode: 'block',
    log: createLogger({ level: 'silent', json: true, name: 't' }), provider: 'flood', overflowMetric: metrics.egress.bypassOverflow,
  })

  // Control: one destination, one signal naming it.
  t.match(await inNs(plan.netns, connects(0, 1)), '"refused":1', 'a direct connect is refused at once')
  await monitor.poll()
  t.match(signals, [{ type: 'egress_bypass_attempt', destination: { ip: '198.18.0.0', port: 2000, protocol: 'tcp' }, details: { where: 'namespace' } }])
  signals.length = 0

  const flood = BYPASS_SET_SIZE + 300
  t.match(await inNs(plan.netns, connects(1, flood)), `"refused":${flood}`, `all ${flood} connects were refused at once, also past the full set`)
  const before = await readBypassSet(NS_TABLE, plan.netns)
  t.equal(before.entries.length, BYPASS_SET_SIZE, 'the set is full')
  t.ok(before.overflowPackets >= 300, `the rest went to the overflow counter (${before.overflowPackets})`)
  await monitor.poll()
  const per = signals.filter((s) => s.destination)
  const over = signals.filter((s) => (s.details as { overflow?: boolean } | undefined)?.overflow)
  t.equal(per.length, BYPASS_SET_SIZE, 'one signal per recorded destination')
  t.equal(over.length, 1, 'and one overflow signal')
  t.equal((over[0]!.details as { packets: number }).packets, before.overflowPackets, 'carrying the packets not recorded')
  const metric = await metrics.registry.getSingleMetricAsString('mcp_hangar_egress_bypass_overflow_packets_total')
  t.match(metric, `mcp_hangar_egress_bypass_overflow_packets_total{provider="flood",where="namespace"} ${before.overflowPackets}`, 'counted in the metric')
  t.equal((await readBypassSet(NS_TABLE, plan.netns)).entries.length, 0, 'the reported elements were deleted: the set has room again')

  signals.length = 0
  await inNs(plan.netns, `require('net').connect({ host: '198.19.9.9', port: 9999 }).on('error', () => {})`)
  await monitor.poll()
  t.match(signals, [{ destination: { ip: '198.19.9.9', port: 9999 } }], 'a destination after the flood is reported')
  t.equal(signals.filter((s) => (s.details as { overflow?: boolean }).overflow).length, 0, 'and no overflow now')
  await monitor.stop()
})
