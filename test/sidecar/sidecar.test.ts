/**
 * The one composition of a sidecar (sidecar/sidecar.ts) on loopback ports, with real listeners,
 * a real stdio provider and the signal output it opens from the config (JSON lines): one admin
 * listener serves every plane; the admin API switches the quarantine the egress listeners and the
 * MCP ingress share; a start that fails half-way closes what it bound; attachments report through
 * the sidecar's own signal output and stop after the provider.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import dnsPacket from 'dns-packet'
import { hangarConfigSchema } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { Sidecar, type SidecarAttachment, type SidecarOptions, type SidecarPlanes } from '../../sidecar/sidecar.js'
import type { Signal } from '../../signals/types.js'
import { TestDnsServer, makeQuery, rcodeOf, udpQuery } from '../helpers/dns-server.js'
import { connectClient, FIXTURE, freePort } from '../helpers/mcp.js'
import { close, echoServer, rawExchange } from '../helpers/net.js'

type Teardown = { teardown(fn: () => unknown): void }

/** A temp data dir, removed at teardown. */
function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sidecar-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The signals written to the JSON-lines signal log so far. */
function signalsIn(file: string): Signal[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Signal)
}

async function until<T>(f: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A sidecar of provider `p` on loopback: `raw` is its `providers.p` block, sidecar addresses and data dir filled in. */
function sidecarFor(t: Teardown, raw: Record<string, unknown>, o: { planes?: SidecarPlanes; tokens?: string[]; sidecar?: Record<string, unknown> } & Partial<SidecarOptions> = {}) {
  const dir = tempDir(t)
  const signalLog = join(dir, 'signals.jsonl')
  const { planes, tokens, sidecar: extraSidecar, ...rest } = o
  const config = hangarConfigSchema.parse({
    aggregator: { admin_tokens: tokens ?? [] },
    providers: {
      p: {
        ...raw,
        sidecar: {
          proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null, admin: '127.0.0.1:0',
          address: '127.0.0.1', upstream_dns: ['127.0.0.1:9'], observation_window_ms: 0, data_dir: dir, signal_log: signalLog,
          ...extraSidecar,
        },
      },
    },
  })
  const sidecar = new Sidecar({ config, provider: 'p', planes: planes ?? 'egress', log: silentLogger(), source: 'test', ...rest })
  return { sidecar, signalLog, dir }
}

/** The egress-only sidecar the moved admin tests ran against: an allowed `allowed.test`, a test DNS upstream. */
async function start(t: Teardown, extra: { mode?: string; tokens?: string[] } = {}) {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const dns = new TestDnsServer({ records: { 'allowed.test': [{ type: 'A', data: '127.0.0.1' }], 'other.test': [{ type: 'A', data: '127.0.0.1' }] } })
  await dns.listen()
  t.teardown(() => dns.close())
  const s = sidecarFor(t, {
    mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp',
    capabilities: { enforcement_mode: extra.mode ?? 'block', network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: echo.port, protocol: 'any' }] } },
  }, { tokens: extra.tokens ?? [], sidecar: { dns_mode: 'passthrough', upstream_dns: [dns.address] } })
  const ports = await s.sidecar.start()
  t.teardown(() => s.sidecar.stop())
  const egress = ports.egress!
  const admin = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${ports.admin}${path}`, init)
  return { echo, dns, sidecar: s.sidecar, signalLog: s.signalLog, ports: { ...egress, admin: ports.admin }, admin }
}

/** `connect` outcome: 'connected' or the error code. */
function dial(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.on('connect', () => { c.destroy(); resolve('connected') })
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
  })
}

t.test('admin: /health, /ready, /metrics, /v1/status', async (t) => {
  const s = await start(t)
  t.equal((await s.admin('/health')).status, 200)
  t.equal((await s.admin('/ready')).status, 200)
  await rawExchange(s.ports.proxy, 'CONNECT other.test:1 HTTP/1.1\r\n\r\n').then((a) => a.socket.destroy())
  const metrics = await (await s.admin('/metrics')).text()
  t.match(metrics, /mcp_hangar_egress_requests_total\{provider="p",protocol="tcp",decision="blocked"\} 1/)
  t.match(metrics, /mcp_hangar_capability_violations_total\{provider="p",violation_type="egress_denied",action="blocked"\} 1/)
  t.match(metrics, /process_resident_memory_bytes|mcp_hangar_process_resident_memory_bytes/)
  const status = (await (await s.admin('/v1/status')).json()) as Record<string, unknown>
  t.equal(status.provider, 'p')
  t.equal(status.quarantined, false)
  t.equal((await s.admin('/nope')).status, 404)
})

t.test('admin quarantine switch: needs the token, denies CONNECT and DNS at once, release restores', async (t) => {
  const s = await start(t, { tokens: ['s3cret'] })
  const post = (path: string, body: unknown, token?: string) =>
    s.admin(path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) })
  t.equal((await post('/v1/quarantine', { reason: 'x' })).status, 401, 'no token → 401')
  t.equal((await post('/v1/quarantine', { reason: 'x' }, 'wrong')).status, 401, 'wrong token → 401')
  t.equal(s.sidecar.enforcement.state.quarantined, false, 'nothing changed')
  t.equal((await post('/v1/quarantine', {}, 's3cret')).status, 400, 'reason required')
  const bad = await s.admin('/v1/quarantine', { method: 'POST', headers: { authorization: 'Bearer s3cret' }, body: '{not json' })
  t.equal(bad.status, 400, 'malformed JSON → 400')
  t.equal((await post('/v1/quarantine', { reason: 'suspicious egress' }, 's3cret')).status, 200)
  const a = await rawExchange(s.ports.proxy, `CONNECT allowed.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(a.status, 403)
  t.match(a.headers['x-hangar-decision'], /reason=quarantined/)
  const q = dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('allowed.test')))
  t.equal(rcodeOf(q), 'NXDOMAIN', 'DNS denied while quarantined')
  const trig = await until(() => signalsIn(s.signalLog).find((x) => x.type === 'quarantine_triggered'), 'quarantine_triggered in the signal log')
  t.equal(trig.reason, 'suspicious egress')
  t.equal(trig.details?.by, 'api')
  t.equal((await post('/v1/release', {}, 's3cret')).status, 200)
  const b = await rawExchange(s.ports.proxy, `CONNECT allowed.test:${s.echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(b.status, 200)
  b.socket.destroy()
  const r = dnsPacket.decode(await udpQuery(s.ports.dns, makeQuery('allowed.test')))
  t.equal(rcodeOf(r), 'NOERROR', 'DNS answered again after release')
})

t.test("bypass catalog, the sidecar's own ports: unreachable through it even with loopback and a covering cidr rule", async (t) => {
  const dns = new TestDnsServer({ records: { 'self.test': [{ type: 'A', data: '127.0.0.1' }] } })
  await dns.listen()
  t.teardown(() => dns.close())
  // The aggregator's default address (127.0.0.1:8000) is protected like the sidecar's own listeners.
  const s = sidecarFor(t, {
    mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp',
    capabilities: { network: { loopback_allowed: true, egress: [{ cidr: '127.0.0.0/8', port: 0, protocol: 'any' }, { host: 'self.test', port: 0, protocol: 'any' }] } },
  }, { sidecar: { upstream_dns: [dns.address] } })
  const started = await s.sidecar.start()
  t.teardown(() => s.sidecar.stop())
  const ports = { ...started.egress!, admin: started.admin }
  for (const target of [`127.0.0.1:${ports.admin}`, `127.0.0.1:${ports.proxy}`, `127.0.0.2:${ports.dns}`, '127.0.0.1:8000', `self.test:${ports.admin}`, `0.0.0.0:${ports.proxy}`]) {
    const a = await rawExchange(ports.proxy, `CONNECT ${target} HTTP/1.1\r\n\r\n`)
    t.equal(a.status, 403, target)
    t.match(a.headers['x-hangar-decision'], /self_connection|always-denied:unspecified/, target)
    a.socket.destroy()
  }
})

t.test('both planes: one admin listener, one quarantine for tool calls and egress, the MCP status nested, the baseline served', async (t) => {
  const echo = await echoServer()
  t.teardown(() => close(echo.server))
  const s = sidecarFor(t, {
    mode: 'subprocess', command: [process.execPath, FIXTURE], listen: '127.0.0.1:0',
    capabilities: { network: { loopback_allowed: true, egress: [{ cidr: '127.0.0.1/32', port: echo.port, protocol: 'any' }] } },
  }, { planes: 'all' })
  const ports = await s.sidecar.start()
  t.teardown(() => s.sidecar.stop())
  t.ok(ports.mcp! > 0 && ports.egress!.proxy > 0, 'the MCP ingress and the forward proxy are bound')
  const client = await connectClient(new URL(`http://127.0.0.1:${ports.mcp}/mcp`))
  t.teardown(() => client.close())
  t.match(JSON.stringify((await client.callTool({ name: 'echo', arguments: { text: 'before' } })).content), /before/, 'a tool call passes before the quarantine')
  const ok = await rawExchange(ports.egress!.proxy, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(ok.status, 200, 'and so does an allowed CONNECT')
  ok.socket.destroy()
  const admin = `http://127.0.0.1:${ports.admin}`
  const status = (await (await fetch(`${admin}/v1/status`)).json()) as { ports: { admin: number; proxy: number }; mcp: { mcp_port: number; sessions: number } }
  t.equal(status.ports.admin, ports.admin, '/v1/status reports the admin port with the egress ports')
  t.equal(status.mcp.mcp_port, ports.mcp, 'and the MCP ingress under "mcp"')
  const baseline = (await (await fetch(`${admin}/v1/baseline`)).json()) as { schema: string; provider: string }
  t.match(baseline, { schema: 'hangar.baseline/v1', provider: 'p' }, '/v1/baseline serves the recorder both planes feed')
  t.equal((await fetch(`${admin}/v1/quarantine`, { method: 'POST', body: JSON.stringify({ reason: 'both planes' }) })).status, 200, 'quarantined through the admin API')
  const refused = await client.callTool({ name: 'echo', arguments: { text: 'after' } }).then((r) => JSON.stringify(r), (e: Error) => e.message)
  t.notMatch(refused, /"after"/, 'the tool call is refused while quarantined')
  const denied = await rawExchange(ports.egress!.proxy, `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`)
  t.equal(denied.status, 403, 'and so is the CONNECT: one quarantine state')
  denied.socket.destroy()
  await s.sidecar.stop()
  t.equal(await dial(ports.admin), 'ECONNREFUSED', 'stop closes the admin listener')
  t.equal(await dial(ports.mcp!), 'ECONNREFUSED', 'and the MCP ingress')
  const types = signalsIn(s.signalLog).map((x) => x.type)
  t.ok(types.includes('sidecar_started') && types.includes('sidecar_stopped'), 'the egress plane signalled start and stop')
  t.ok(existsSync(join(s.dir, 'baseline.json')), 'the baseline was written to the data dir at stop')
})

t.test('MCP plane alone: no egress listener, the admin listener still runs, the MCP fields at the top of /v1/status', async (t) => {
  const s = sidecarFor(t, { mode: 'subprocess', command: [process.execPath, FIXTURE], listen: '127.0.0.1:0' }, { planes: 'mcp' })
  const ports = await s.sidecar.start()
  t.teardown(() => s.sidecar.stop())
  t.equal(ports.egress, null, 'no egress ports')
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/ready`)).status, 200, '/ready answers 200')
  const status = (await (await fetch(`http://127.0.0.1:${ports.admin}/v1/status`)).json()) as Record<string, unknown>
  t.equal(status.mcp_port, ports.mcp, 'mcp_port at the top level')
  t.equal((status.ports as { proxy: number }).proxy, 0, 'the forward proxy was never bound')
  t.equal(status.provider, 'p')
})

t.test('egress plane alone records no baseline: /v1/baseline answers 404; start() runs once', async (t) => {
  const s = sidecarFor(t, { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' })
  const ports = await s.sidecar.start()
  t.teardown(() => s.sidecar.stop())
  t.equal(ports.mcp, null, 'no MCP ingress')
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/v1/baseline`)).status, 404)
  await t.rejects(s.sidecar.start(), { message: /runs once/ }, 'a second start() is refused')
})

t.test('a start that fails half-way (the DNS port is taken) rejects with HANGAR_LISTEN_FAILED and closes the admin listener it bound', async (t) => {
  const taken: Server = createServer()
  const takenPort = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)))
  t.teardown(() => close(taken))
  // The DNS forwarder also binds tcp on its port: a tcp listener there makes it fail.
  const adminPort = await freePort()
  const s = sidecarFor(t, { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' }, { sidecar: { dns: `127.0.0.1:${takenPort}`, admin: `127.0.0.1:${adminPort}` } })
  await t.rejects(s.sidecar.start(), { code: 'HANGAR_LISTEN_FAILED' })
  t.equal(await dial(adminPort), 'ECONNREFUSED', 'the admin listener is closed again')
  const control = sidecarFor(t, { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' }, { sidecar: { admin: `127.0.0.1:${adminPort}` } })
  await control.sidecar.start()
  t.teardown(() => control.sidecar.stop())
  t.equal(await dial(adminPort), 'connected', 'control: the same admin port binds for a sidecar whose listeners are free')
})

t.test('attachments report through the signal output, marked with the isolation, and stop after the listeners', async (t) => {
  const events: string[] = []
  const s = sidecarFor(t, { mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' }, {
    isolation: 'cooperative',
    attachments: [(ctx) => {
      const a: SidecarAttachment = {
        start: () => {
          events.push('start')
          ctx.emit({ kind: 'violation', type: 'egress_bypass_attempt', action: 'blocked', enforcement_mode: ctx.enforcementMode, reason: 'planted by the test', destination: { ip: '127.0.0.9', port: 1, protocol: 'tcp' } })
        },
        stop: async () => {
          events.push(`stop (sidecar_stopped already written: ${signalsIn(s.signalLog).some((x) => x.type === 'sidecar_stopped')})`)
        },
      }
      return a
    }],
  })
  await s.sidecar.start()
  t.same(events, ['start'], 'started once the sidecar is ready')
  await s.sidecar.stop()
  t.same(events, ['start', 'stop (sidecar_stopped already written: true)'], 'stopped after the egress listeners')
  const signals = signalsIn(s.signalLog)
  const planted = signals.find((x) => x.type === 'egress_bypass_attempt')
  t.match(planted, { provider: 'p', sidecar_id: s.sidecar.sidecarId, reason: 'planted by the test' }, 'the attachment signal is in the signal log with the sidecar origin')
  t.ok(signals.length >= 3 && signals.every((x) => x.isolation === 'cooperative'), 'every signal is marked with the isolation')
  await s.sidecar.stop()
  t.equal(events.length, 2, 'stop is idempotent')
})
