/**
 * sidecar/aggregator-link.ts against a real aggregator on loopback: heartbeats register the
 * sidecar; the policy follower applies each newer policy once, in order, within a second of the
 * change (long poll); while the aggregator is down the current policy is kept and the outage
 * logged once per streak; stop() ends the long poll at once. Baseline shipping is tested in
 * test/aggregator/baselines.test.ts.
 */
import t from 'tap'
import { hangarConfigSchema } from '../../config/schema.js'
import { Aggregator } from '../../aggregator/aggregator.js'
import type { ProviderPolicy } from '../../aggregator/policy.js'
import { SidecarLink } from '../../sidecar/aggregator-link.js'
import type { PolicyActions } from '../../sidecar/policy-actions.js'
import { captureLog, tempDir } from '../fixtures/aggregator/signals.js'
import { freePort } from '../helpers/mcp.js'

const SIGNAL = 'sig-token-link'
const ADMIN = 'adm-token-link'

async function aggregatorAt(t: { teardown(fn: () => unknown): void }, port: number, dir: string) {
  const config = hangarConfigSchema.parse({
    aggregator: { listen: `127.0.0.1:${port}`, data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN] },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
  const agg = new Aggregator({ config, log: captureLog().log })
  await agg.start()
  let stopped = false
  const stop = async () => {
    if (!stopped) await agg.stop()
    stopped = true
  }
  t.teardown(stop)
  const admin = (action: 'quarantine' | 'approve', reason: string) =>
    fetch(`http://127.0.0.1:${port}/v1/providers/fetch/${action}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ reason }) })
  return { agg, admin, stop }
}

async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function startLink(t: { teardown(fn: () => unknown): void }, port: number, token = SIGNAL) {
  const { log, lines } = captureLog()
  const applied: Array<{ actions: PolicyActions; version: number }> = []
  const link = new SidecarLink({
    url: `http://127.0.0.1:${port}`, token, provider: 'fetch', sidecarId: 'fetch-link', version: '0.1.0',
    status: () => ({ state: 'ready', quarantined: false, mcp_url: 'http://127.0.0.1:8101/mcp' }),
    apply: (actions, policy: ProviderPolicy) => applied.push({ actions, version: policy.version }),
    log, intervalMs: 100, pollWaitS: 2,
  })
  link.start()
  t.teardown(() => link.stop())
  return { link, applied, lines }
}

t.test('heartbeats register the sidecar; each newer policy is applied once, in order, within a second', async (t) => {
  const dir = tempDir(t, 'hangar-link-')
  const port = await freePort()
  const { agg, admin } = await aggregatorAt(t, port, dir)
  const { link, applied } = startLink(t, port)
  await until('the registration', () => agg.registry.get('fetch') !== undefined)
  t.match(agg.registry.get('fetch')!.heartbeat, { sidecar_id: 'fetch-link', version: '0.1.0', state: 'ready', mcp_url: 'http://127.0.0.1:8101/mcp' }, 'the heartbeat carries the status')
  await until('the first policy', () => link.policy !== undefined)
  t.same(applied, [{ actions: {}, version: 0 }], 'the first policy sets the baseline and does nothing')
  const at = Date.now()
  t.equal((await admin('quarantine', 'link test')).status, 200)
  await until('the quarantine', () => applied.length === 2)
  t.ok(Date.now() - at < 1000, `applied within 1 s (${Date.now() - at} ms)`)
  t.same(applied[1], { actions: { quarantine: 'link test' }, version: 1 })
  t.equal((await admin('approve', 'reviewed')).status, 200)
  await until('the approval', () => applied.length === 3)
  t.same(applied[2], { actions: { approve: 'reviewed' }, version: 2 })
  await new Promise((r) => setTimeout(r, 300))
  t.equal(applied.length, 3, 'no version is applied twice')
})

t.test('an aggregator that goes away: the policy is kept, the outage logged once, and the link recovers', async (t) => {
  const dir = tempDir(t, 'hangar-link-')
  const port = await freePort()
  const first = await aggregatorAt(t, port, dir)
  const { link, lines } = startLink(t, port)
  await until('the first policy', () => link.policy !== undefined)
  const before = link.policy
  await first.stop()
  await new Promise((r) => setTimeout(r, 1500))
  t.equal(link.policy, before, 'the current policy is kept while the aggregator is down')
  const warned = (msg: string) => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(msg)).length
  t.equal(warned('aggregator heartbeat failed'), 1, 'the heartbeat outage is logged once for the streak')
  t.equal(warned('aggregator policy poll failed'), 1, 'and the poll outage once')
  const second = await aggregatorAt(t, port, dir)
  await until('heartbeats again', () => second.agg.registry.get('fetch') !== undefined, 10_000)
  await until('the recovery line', () => lines.some((l) => l.msg === 'aggregator heartbeat accepted again'), 5000)
  t.ok(lines.some((l) => l.msg === 'aggregator heartbeat accepted again'), 'the recovery is logged')
})

t.test('a wrong signal token is refused; the control with the right one registers', async (t) => {
  const dir = tempDir(t, 'hangar-link-')
  const port = await freePort()
  const { agg } = await aggregatorAt(t, port, dir)
  const bad = startLink(t, port, 'not-the-token')
  await until('a failed heartbeat', () => bad.lines.some((l) => l.msg === 'aggregator heartbeat failed; retrying every interval'))
  t.equal(agg.registry.get('fetch'), undefined, 'not registered with a wrong token')
  t.equal(bad.link.policy, undefined, 'and no policy followed')
  await bad.link.stop()
  const good = startLink(t, port)
  await until('the registration', () => agg.registry.get('fetch') !== undefined)
  t.equal(agg.registry.get('fetch')?.heartbeat.sidecar_id, 'fetch-link', 'control: the right token registers')
  await until('the first policy', () => good.link.policy !== undefined)
  t.equal(good.link.policy?.version, 0, 'and follows the policy')
})

t.test('stop() ends the pending long poll at once', async (t) => {
  const dir = tempDir(t, 'hangar-link-')
  const port = await freePort()
  await aggregatorAt(t, port, dir)
  const { link } = startLink(t, port)
  await until('the first policy', () => link.policy !== undefined)
  await new Promise((r) => setTimeout(r, 200)) // the follower is now in a 2 s long poll
  const at = Date.now()
  await link.stop()
  t.ok(Date.now() - at < 500, `stopped in ${Date.now() - at} ms`)
})
