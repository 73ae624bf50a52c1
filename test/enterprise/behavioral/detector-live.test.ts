/**
 * Deviation detection live, through a real sidecar (sidecar/sidecar.ts, both planes, the
 * enterprise deviation port registered) in front of a real MCP server from npm
 * (@modelcontextprotocol/server-everything), with the quickstart's offline sites (examples/quickstart/sites.mjs
 * --loopback: web sites and their DNS on loopback) and a loopback echo service as the
 * destinations. The test plays the provider's network client through the sidecar's DNS listener
 * and CONNECT proxy (real sockets), and its MCP client through the ingress.
 *
 * 1. Learn: a workload (DNS, CONNECT to two sites and the echo service by IP, `echo` tool calls)
 *    three times; the baseline is immature (1 h learning window): zero deviations.
 * 2. Restart on the same data dir, learning window 0: the restored baseline is mature. The same
 *    workload for ~20 s: zero deviations. Then each class broken once and each detected with its
 *    severity within seconds: new destination, new DNS name, DNS shape, new tool, new argument
 *    keys, call rate, byte rate. (Off hours needs 48 h of rhythm: detector.test.ts covers it.)
 *    The signals reach a real aggregator, whose `hangar_violations` MCP tool lists each with the
 *    learned figure next to the observed one.
 * 3. Quarantine mode: a new destination quarantines the provider (the egress to a known site is
 *    then refused); the operator's approval on the aggregator releases it, which takes a new
 *    snapshot, so the same destination is no longer a deviation.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import dnsPacket from 'dns-packet'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { silentLogger } from '../../../core/log.js'
import { createPortRegistry } from '../../../core/ports.js'
import { createDeviation } from '../../../enterprise/behavioral/index.js'
import { parseBaseline } from '../../../policy/baseline-schema.js'
import { Sidecar } from '../../../sidecar/sidecar.js'
import type { Signal } from '../../../signals/types.js'
import { makeQuery, udpQuery } from '../../helpers/dns-server.js'
import { connectClient, EVERYTHING, freePort } from '../../helpers/mcp.js'
import { close, echoServer, rawExchange } from '../../helpers/net.js'
import { clockAt, detectorRig, replayBaseline } from './rig.js'

t.setTimeout(240_000)

const root = new URL('../../../', import.meta.url).pathname
const SITES = join(root, 'examples/quickstart/sites.mjs')
const ADMIN = 'deviation-live-admin'
const MCP_TOKEN = 'deviation-live-mcp'

type Teardown = { teardown(fn: () => unknown): void }

/** The quickstart's sites on loopback: name → port, and their DNS. */
async function startSites(t: Teardown): Promise<{ ports: Record<string, number>; dns: string }> {
  const dnsPort = await freePort()
  const child: ChildProcess = spawn(process.execPath, [SITES, '--loopback', '--dns', `127.0.0.1:${dnsPort}`, '--port-base', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => new Promise<void>((r) => {
    if (child.exitCode !== null) return r()
    child.once('exit', () => r())
    child.kill('SIGTERM')
  }))
  const ports: Record<string, number> = {}
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`sites did not start: ${out}`)), 15_000)
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (d: string) => {
      out += d
      for (const m of d.matchAll(/sites: (\S+) → http:\/\/127\.0\.0\.1:(\d+)\//g)) ports[m[1]!] = Number(m[2])
      if (out.includes('sites ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`sites exited ${code}: ${out}`)))
  })
  return { ports, dns: `127.0.0.1:${dnsPort}` }
}

function signalsIn(file: string): Signal[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Signal)
}

const deviations = (file: string): Signal[] => signalsIn(file).filter((s) => s.type === 'behavior_deviation')
const classOf = (s: Signal): string => String((s.details as { class?: unknown }).class)

async function until<T>(f: () => T | undefined | Promise<T | undefined>, what: string, ms = 8000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('learn, stay inside the baseline, break it in each class; hangar_violations shows them; quarantine mode quarantines and a release re-snapshots', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-deviation-live-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sites = await startSites(t)
  t.ok(sites.ports['example.com'] && sites.ports['en.wikipedia.org'] && sites.ports['evil.example.net'], 'the quickstart sites are up')
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const EX = sites.ports['example.com']!
  const WIKI = sites.ports['en.wikipedia.org']!
  const EVIL = sites.ports['evil.example.net']!
  const mcpPort = await freePort()

  const aggPort = await freePort()
  const aggregatorBlock = { listen: `127.0.0.1:${aggPort}`, url: `http://127.0.0.1:${aggPort}`, data_dir: join(dir, 'agg'), admin_tokens: [ADMIN], mcp_tokens: [MCP_TOKEN] }
  const start = async (phase: string, mode: 'alert' | 'quarantine', deviation: Record<string, unknown>) => {
    const signalLog = join(dir, `signals-${phase}.jsonl`)
    const config = hangarConfigSchema.parse({
      aggregator: aggregatorBlock,
      providers: {
        p: {
          mode: 'subprocess', command: [process.execPath, EVERYTHING], listen: `127.0.0.1:${mcpPort}`,
          capabilities: {
            enforcement_mode: mode,
            network: {
              loopback_allowed: true,
              egress: [
                { host: 'example.com', port: 0, protocol: 'any' }, { host: '*.example.com', port: 0, protocol: 'any' }, { host: 'en.wikipedia.org', port: 0, protocol: 'any' },
                { host: 'evil.example.net', port: 0, protocol: 'any' }, { cidr: '127.0.0.1/32', port: 0 },
              ],
            },
          },
          sidecar: {
            proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null, admin: '127.0.0.1:0', address: '127.0.0.1',
            upstream_dns: [sites.dns], dns_mode: 'passthrough', observation_window_ms: 0, data_dir: join(dir, 'data'), signal_log: signalLog,
            baseline: { flush_interval_ms: 500 },
            deviation: { enabled: true, min_active_minutes: 1, ...deviation },
          },
        },
      },
    })
    const ports = { ...createPortRegistry(), deviation: createDeviation() }
    const sidecar = new Sidecar({ config, provider: 'p', planes: 'all', log: silentLogger(), source: 'test', ports })
    const bound = await sidecar.start()
    let stopped = false
    const stop = async () => {
      if (stopped) return
      stopped = true
      await sidecar.stop()
    }
    t.teardown(stop)
    const client = await connectClient(new URL(`http://127.0.0.1:${bound.mcp}/mcp`))
    const proxy = bound.egress!.proxy
    const dns = bound.egress!.dns
    /** One CONNECT tunnel: sends `payload`, reads until the far end closes or `want` bytes came back, closes. */
    const tunnel = async (target: string, payload: Buffer | string, want?: number): Promise<{ status: number; got: number }> => {
      const a = await rawExchange(proxy, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
      if (a.status !== 200) {
        a.socket.destroy()
        return { status: a.status, got: 0 }
      }
      const s = a.socket
      let got = a.rest.length
      await new Promise<void>((resolve) => {
        const done = () => {
          s.removeAllListeners('data')
          s.end()
          s.once('close', () => resolve())
          setTimeout(() => { s.destroy(); resolve() }, 2000)
        }
        s.on('data', (b: Buffer) => {
          got += b.length
          if (want !== undefined && got >= want) done()
        })
        s.once('end', done)
        s.once('error', () => resolve())
        // A short first write: the proxy holds a tunnel's first bytes to sniff them (bounded).
        const head = typeof payload === 'string' ? Buffer.from(payload) : payload
        s.write(head.subarray(0, 256))
        if (head.length > 256) setTimeout(() => s.write(head.subarray(256)), 20)
      })
      return { status: 200, got }
    }
    const get = (host: string, port: number) => tunnel(`${host}:${port}`, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    const query = async (name: string) => dnsPacket.decode(await udpQuery(dns, makeQuery(name)))
    const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args })
    const admin = (path: string, body?: unknown) => fetch(`http://127.0.0.1:${bound.admin}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) })
    return { sidecar, client, signalLog, tunnel, get, query, call, admin, stop: async () => { await client.close(); await stop() } }
  }
  type Rig = Awaited<ReturnType<typeof start>>

  /** The learned workload; `echoBytes` through the echo service by IP; `calls` echo tool calls. */
  const workload = async (r: Rig, o: { echoBytes: number; calls: number }) => {
    for (const n of ['example.com', 'en.wikipedia.org']) t.equal((await r.query(n)).answers?.[0]?.type, 'A', `DNS ${n}`)
    t.match(await r.get('example.com', EX), { status: 200 })
    t.match(await r.get('en.wikipedia.org', WIKI), { status: 200 })
    const e = await r.tunnel(`127.0.0.1:${echo.port}`, Buffer.alloc(o.echoBytes, 0x61), o.echoBytes)
    t.match(e, { status: 200, got: o.echoBytes })
    for (let i = 0; i < o.calls; i++) {
      const res = await r.call('echo', { message: `m${i}` }) as { content?: Array<{ text?: string }> }
      t.equal(res.content?.[0]?.text, `Echo: m${i}`, 'the provider answered')
    }
  }

  // ---- 1. learn --------------------------------------------------------------------------------
  const a = await start('learn', 'alert', { learning_window_ms: 3_600_000 })
  for (let i = 0; i < 3; i++) await workload(a, { echoBytes: 20_000, calls: 2 })
  await a.query('learning.example.org')
  await new Promise((r) => setTimeout(r, 300))
  t.same(deviations(a.signalLog), [], 'immature (1 h learning window): even a new name is no deviation')
  await a.stop()
  // The baseline this run recorded through the real decision points, replayed as live traffic: nothing.
  const recorded = parseBaseline(JSON.parse(readFileSync(join(dir, 'data', 'baseline.json'), 'utf8')))
  const replayClock = clockAt(Date.now())
  const replay = detectorRig(() => recorded, replayClock, { config: { learning_window_ms: 0, min_active_minutes: 1 } })
  const replayed = replayBaseline(recorded, replay.detector, replayClock)
  t.same(replay.signals, [], `the recorded baseline (${recorded.events} events) replayed (${replayed} events): zero deviations`)

  // ---- 2. mature: inside, then each class ------------------------------------------------------
  const agg = new Aggregator({ config: hangarConfigSchema.parse({ aggregator: aggregatorBlock }), log: silentLogger(), ports: createPortRegistry() })
  await agg.start()
  t.teardown(() => agg.stop())
  const b = await start('detect', 'alert', { learning_window_ms: 0 })
  t.ok(existsSync(join(dir, 'data', 'baseline.json')), 'the learned baseline was restored from the data dir')
  const runUntil = Date.now() + 20_000
  let rounds = 0
  while (Date.now() < runUntil) {
    await workload(b, { echoBytes: 1000, calls: rounds % 3 === 0 ? 1 : 0 })
    rounds++
    await new Promise((r) => setTimeout(r, 1000))
  }
  await new Promise((r) => setTimeout(r, 300))
  t.same(deviations(b.signalLog).map((s) => `${classOf(s)} ${s.reason}`), [], `${rounds} rounds over 20 s inside the baseline: zero deviations`)
  t.match(await (await b.admin('/metrics')).text(), /mcp_hangar_behavior_baseline_mature\{provider="p"\} 1/, 'the baseline is mature')

  const expect = async (cls: string, severity: string, act: () => Promise<unknown>) => {
    const t0 = Date.now()
    await act()
    const s = await until(() => deviations(b.signalLog).find((x) => classOf(x) === cls), cls)
    t.equal(s.severity, severity, `${cls}: detected in ${Date.now() - t0} ms, severity ${severity}`)
    t.match(s, { kind: 'violation', action: 'alerted', enforcement_mode: 'alert', provider: 'p' })
    t.ok('baseline' in (s.details as object) && 'observed' in (s.details as object), `${cls}: the baseline figure next to the observed one`)
    return s
  }
  const nd = await expect('new_destination', 'critical', () => b.get('evil.example.net', EVIL))
  t.match(nd.destination, { host: 'evil.example.net', port: EVIL })
  const nn = await expect('new_dns_name', 'high', () => b.query('evil.example.net'))
  t.match(nn.destination, { host: 'evil.example.net', protocol: 'dns' })
  const shape = await expect('dns_shape', 'critical', async () => {
    for (let i = 0; i < 15; i++) await b.query(`c${i}x.example.com`)
  })
  t.match(shape.details, { domain: 'example.com', baseline: 1 }, 'the learned peak: one new name under example.com in a minute')
  const tool = await expect('new_tool', 'high', () => b.call('get-sum', { a: 1, b: 2 }))
  t.equal(tool.tool, 'get-sum')
  t.match(tool.details, { listed_before: true }, 'listed while learning, never called')
  const keys = await expect('new_argument_keys', 'medium', () => b.call('echo', { message: 'x', verbose: true }))
  t.match(keys.details, { baseline: ['message'], observed: ['verbose'] })
  const rate = await expect('call_rate', 'medium', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => b.call('echo', { message: `burst ${i}` })))
  })
  t.ok((rate.details as { observed: number; threshold: number }).observed > (rate.details as { threshold: number }).threshold)
  const bytes = await expect('byte_rate', 'high', () => b.tunnel(`127.0.0.1:${echo.port}`, Buffer.alloc(1 << 20, 0x62), 1 << 20))
  t.match(bytes.destination, { ip: '127.0.0.1', port: echo.port })
  t.equal(b.sidecar.enforcement.state.quarantined, false, 'alert mode: never quarantined')

  // The aggregator's hangar_violations: each class, the learned figure next to the observed one.
  const operator = await connectClient(new URL(`http://127.0.0.1:${aggPort}/mcp`), { headers: { authorization: `Bearer ${MCP_TOKEN}` } })
  t.teardown(() => operator.close())
  const CLASSES = ['new_destination', 'new_dns_name', 'dns_shape', 'new_tool', 'new_argument_keys', 'call_rate', 'byte_rate']
  const listed = await until(async () => {
    const res = await operator.callTool({ name: 'hangar_violations', arguments: { provider: 'p', type: 'behavior_deviation', limit: 200 } }) as { content: Array<{ text: string }> }
    const body = JSON.parse(res.content[0]!.text) as { signals: Signal[] }
    return CLASSES.every((c) => body.signals.some((x) => classOf(x) === c)) ? body.signals : undefined
  }, 'every class in hangar_violations', 15_000)
  for (const c of CLASSES) {
    const s = listed.find((x) => classOf(x) === c)!
    t.ok('baseline' in (s.details as object) && 'observed' in (s.details as object), `hangar_violations: ${c} with baseline ${JSON.stringify((s.details as { baseline: unknown }).baseline)} next to observed ${JSON.stringify((s.details as { observed: unknown }).observed)}`)
  }
  await b.stop()

  // ---- 3. quarantine mode ----------------------------------------------------------------------
  const c = await start('quarantine', 'quarantine', { learning_window_ms: 0 })
  await workload(c, { echoBytes: 1000, calls: 0 })
  t.same(deviations(c.signalLog), [], 'quarantine mode, inside the baseline: nothing')
  // A destination the policy allows but the baseline never saw: a known host on another port.
  const fresh = () => c.get('en.wikipedia.org', EVIL)
  t.equal((await fresh()).status, 200, 'the policy allows it (the deviation does not block the decision it judges)')
  const q = await until(() => deviations(c.signalLog).find((x) => classOf(x) === 'new_destination'), 'the quarantine-mode deviation')
  t.match(q, { action: 'quarantined', severity: 'critical', enforcement_mode: 'quarantine', destination: { host: 'en.wikipedia.org', port: EVIL } })
  t.equal(c.sidecar.enforcement.state.quarantined, true, 'the provider is quarantined')
  const trig = signalsIn(c.signalLog).find((s) => s.type === 'quarantine_triggered')
  t.match(trig?.reason, /^behavior deviation \(new_destination\)/, 'quarantine_triggered names the deviation')
  t.same(signalsIn(c.signalLog).filter((s) => s.type === 'egress_denied'), [], 'no policy violation before it: the deviation quarantined')
  t.equal((await c.get('example.com', EX)).status, 403, 'a known site is now refused')
  // The operator approves the provider on the aggregator (hangar_approve); its policy lifts the sidecar's quarantine.
  const approved = await operator.callTool({ name: 'hangar_approve', arguments: { provider: 'p' } }) as { isError?: boolean }
  t.notOk(approved.isError, 'hangar_approve answered')
  await until(() => (c.sidecar.enforcement.state.quarantined ? undefined : true), 'the release through the aggregator')
  t.ok(signalsIn(c.signalLog).some((s) => s.type === 'quarantine_released'), 'quarantine_released signalled')
  const before = deviations(c.signalLog).length
  t.equal((await fresh()).status, 200, 'the released destination works')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(deviations(c.signalLog).length, before, 'the release took a new snapshot: the same destination is no longer a deviation')
  t.equal(c.sidecar.enforcement.state.quarantined, false, 'and the provider stays released')
  await c.stop()
})
