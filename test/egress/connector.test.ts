/**
 * EgressConnector (egress/connector.ts), the one path from "the provider wants host:port" to a
 * connected upstream: decide → enforce → resolve → check the answers → dial, with one signal per
 * outcome and the HTTP status a listener answers (403 denied, 502 DNS or dial failure, 504
 * timeouts, 429 tunnel limit). Real sockets on 127.0.0.1; names map to them through a static
 * resolver (DNS is tested on its own). Also refusalHeaders, decisionHeader and dropSignal.
 */
import t from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { decisionHeader, dropSignal, refusalHeaders, type ConnectRefusal, type ConnectSuccess } from '../../egress/connector.js'
import type { Decision, EgressRequest } from '../../policy/egress-types.js'
import { makeEgressContext } from '../helpers/egress-context.js'
import { close, closed, echoServer, listen, roundTrip, staticResolver } from '../helpers/net.js'

type Tap = { teardown(fn: () => unknown): void }

async function echo(t: Tap) {
  const e = await echoServer()
  t.teardown(() => close(e.server))
  return e
}

const req = (host: string, port: number, protocol: EgressRequest['protocol'] = 'tcp'): EgressRequest => ({ host, port, protocol, via: 'connect' })

/** The value of a gauge/counter with labels `{provider: 'test'}` in the context's registry. */
async function metric(h: ReturnType<typeof makeEgressContext>, name: string): Promise<number> {
  const m = (await h.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name)
  const v = m?.values.find((x) => x.labels.provider === 'test' && !('le' in x.labels))
  return Number(v?.value ?? 0)
}

function ok(r: ConnectSuccess | ConnectRefusal): ConnectSuccess {
  if (!r.ok) throw new Error(`refused: ${r.status} ${r.message}`)
  return r
}

const loopCaps = (port: number, extra: Record<string, unknown> = {}) => ({ network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port, protocol: 'tcp' }] }, ...extra })

t.test('decisionHeader and refusalHeaders: denied/allowed wording, rule and reason; Retry-After only at 429', async (t) => {
  const deny = { verdict: 'deny', code: 'no_matching_rule', rule: 'default-deny', reason: 'x' } as Decision
  const allow = { verdict: 'allow', rule: 'egress[3]' } as unknown as Decision
  t.equal(decisionHeader(deny), 'denied; rule=default-deny; reason=no_matching_rule')
  t.equal(decisionHeader(allow), 'allowed; rule=egress[3]; reason=allowed')
  t.same(refusalHeaders({ ok: false, status: 403, message: 'm', decisionHeader: 'denied; rule=r; reason=c' }), { 'X-Hangar-Decision': 'denied; rule=r; reason=c' })
  t.same(refusalHeaders({ ok: false, status: 429, message: 'm' }), { 'Retry-After': '1' })
  t.same(refusalHeaders({ ok: false, status: 502, message: 'm' }), {})
  t.same(refusalHeaders({ ok: false, status: 504, message: 'm' }), {})
})

t.test('open(): an allowed name is resolved and dialled; the slot is held until release(), once', async (t) => {
  const e = await echo(t)
  const h = makeEgressContext({ capabilities: loopCaps(e.port), dns: { 'allowed.test': ['127.0.0.1'] } })
  const up = ok(await h.connector.open(req('allowed.test', e.port), '10.0.0.5'))
  t.equal(up.address.ip, '127.0.0.1')
  t.equal(up.decision.verdict, 'allow')
  t.equal(up.decision.rule, 'egress[0]')
  t.equal((await roundTrip(up.socket, 'ping', 4)).toString(), 'ping', 'the socket is connected to the upstream')
  t.equal(h.connector.active, 1)
  t.equal(await metric(h, 'mcp_hangar_egress_active_tunnels'), 1, 'the gauge follows')
  const allowed = h.of('egress_allowed')
  t.equal(allowed.length, 1)
  t.match(allowed[0], { rule: 'egress[0]', destination: { host: 'allowed.test', ip: '127.0.0.1', port: e.port } })
  up.release()
  up.release()
  t.equal(h.connector.active, 0, 'a second release() does not free another slot')
  t.equal(await metric(h, 'mcp_hangar_egress_active_tunnels'), 0)
  up.socket.destroy()
})

t.test('open(): a denied name is 403 with the decision header and one egress_denied; no resolve, no dial, slot given back', async (t) => {
  const e = await echo(t)
  const resolver = staticResolver({ 'allowed.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] })
  const h = makeEgressContext({ capabilities: loopCaps(e.port), resolver })
  const r = await h.connector.open(req('other.test', e.port))
  t.match(r, { ok: false, status: 403, decisionHeader: 'denied; rule=default-deny; reason=no_matching_rule' })
  t.same(resolver.calls, [], 'never resolved')
  t.equal(e.connections(), 0, 'never dialled')
  t.equal(h.connector.active, 0)
  t.equal(h.of('egress_denied').length, 1)
  const wrongPort = await h.connector.open(req('allowed.test', e.port + 1 > 65535 ? e.port - 1 : e.port + 1))
  t.match(wrongPort, { ok: false, status: 403 }, 'the right name on another port is denied too')
  t.ok((await h.connector.open(req('allowed.test', e.port))).ok, 'control: the allowed name and port connects')
})

t.test('open(): an IP literal target is dialled without resolving; a disallowed literal is 403', async (t) => {
  const e = await echo(t)
  const resolver = staticResolver({})
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: '127.0.0.1', port: e.port, protocol: 'tcp' }] } }, resolver })
  const up = ok(await h.connector.open(req('127.0.0.1', e.port)))
  t.equal(up.address.ip, '127.0.0.1')
  t.same(resolver.calls, [])
  up.socket.destroy()
  up.release()
  t.match(await h.connector.open(req('127.0.0.2', e.port)), { ok: false, status: 403 })
})

t.test('open(): DNS failures are 502 (no address) and 504 (timeout) with the DNS error in the signal', async (t) => {
  const e = await echo(t)
  const resolver = staticResolver({ 'allowed.test': ['127.0.0.1'] }, { timeoutNames: ['slow.test'] })
  const h = makeEgressContext({ capabilities: { network: { loopback_allowed: true, egress: [{ host: 'gone.test', port: e.port, protocol: 'tcp' }, { host: 'slow.test', port: e.port, protocol: 'tcp' }] } }, resolver })
  const gone = await h.connector.open(req('gone.test', e.port))
  t.match(gone, { ok: false, status: 502, message: /cannot resolve gone\.test/ })
  const slow = await h.connector.open(req('slow.test', e.port))
  t.match(slow, { ok: false, status: 504, message: /cannot resolve slow\.test/ })
  const details = h.sink.signals.map((s) => s.details?.dns_error)
  t.same(details.filter(Boolean), ['HANGAR_DNS_NO_ADDRESS', 'HANGAR_DNS_TIMEOUT'])
  t.equal(h.connector.active, 0)
  t.equal(e.connections(), 0)
})

t.test('open(): answers outside the allowlist (private, metadata, loopback when not allowed) are 403 in every mode; never dialled', async (t) => {
  const e = await echo(t)
  for (const mode of ['block', 'alert'] as const) {
    const h = makeEgressContext({
      capabilities: { enforcement_mode: mode, network: { loopback_allowed: false, egress: [{ host: 'rebind.test', port: e.port, protocol: 'tcp' }, { host: 'meta.test', port: e.port, protocol: 'tcp' }, { host: 'loop.test', port: e.port, protocol: 'tcp' }] } },
      dns: { 'rebind.test': ['10.0.0.1'], 'meta.test': ['169.254.169.254'], 'loop.test': ['127.0.0.1'] },
    })
    for (const name of ['rebind.test', 'meta.test', 'loop.test']) {
      const r = await h.connector.open(req(name, e.port))
      t.match(r, { ok: false, status: 403 }, `${mode}: ${name} refused`)
      t.match((r as ConnectRefusal).decisionHeader, /^denied; /, `${mode}: ${name} carries the denial`)
    }
    t.same(h.of('egress_denied').map((s) => s.details?.resolved), [['10.0.0.1'], ['169.254.169.254'], ['127.0.0.1']], `${mode}: signals name the answers`)
  }
  t.equal(e.connections(), 0)
  const control = makeEgressContext({ capabilities: loopCaps(e.port), dns: { 'allowed.test': ['10.0.0.1', '127.0.0.1'] } })
  const up = ok(await control.connector.open(req('allowed.test', e.port)))
  t.equal(up.address.ip, '127.0.0.1', 'control: with loopback allowed, the loopback answer is dialled (the private one dropped)')
  up.socket.destroy()
  up.release()
})

t.test('open(): alert mode lets a policy denial through (the decision stays the denial); block mode refuses it', async (t) => {
  const e = await echo(t)
  const caps = (mode: string) => ({ enforcement_mode: mode, network: { loopback_allowed: true, egress: [{ host: 'allowed.test', port: e.port, protocol: 'tcp' }] } })
  const alert = makeEgressContext({ capabilities: caps('alert'), dns: { 'other.test': ['127.0.0.1'] } })
  const up = ok(await alert.connector.open(req('other.test', e.port)))
  t.equal(up.decision.verdict, 'deny')
  t.equal(up.enforcement.permit, true)
  t.match(alert.of('egress_denied')[0], { action: 'alerted' })
  up.socket.destroy()
  up.release()
  const block = makeEgressContext({ capabilities: caps('block'), dns: { 'other.test': ['127.0.0.1'] } })
  t.match(await block.connector.open(req('other.test', e.port)), { ok: false, status: 403 })
})

t.test('open(): a dial failure is 502 with dial_error and the slot given back', async (t) => {
  const srv = createServer()
  const port = await listen(srv)
  await close(srv)
  const h = makeEgressContext({ capabilities: loopCaps(port), dns: { 'allowed.test': ['127.0.0.1'] } })
  const r = await h.connector.open(req('allowed.test', port))
  t.match(r, { ok: false, status: 502 })
  t.match(h.of('egress_allowed')[0]?.details, { dial_error: /./ }, 'the attempt is signalled with the dial error')
  t.equal(h.connector.active, 0)
})

t.test('limits.max_tunnels counts attempts still resolving: the next one is 429 with Retry-After and a rate_limited signal', async (t) => {
  const e = await echo(t)
  const resolver = staticResolver({ 'allowed.test': ['127.0.0.1'] }, { delayMs: 150 })
  const h = makeEgressContext({ capabilities: loopCaps(e.port), resolver, limits: { max_tunnels: 2 } })
  const pending = [h.connector.open(req('allowed.test', e.port)), h.connector.open(req('allowed.test', e.port))]
  t.equal(h.connector.active, 2, 'both slots taken before DNS answers')
  const third = await h.connector.open(req('allowed.test', e.port), '10.1.2.3')
  t.match(third, { ok: false, status: 429, message: 'too many open tunnels (limit 2)' })
  t.same(refusalHeaders(third as ConnectRefusal), { 'Retry-After': '1' })
  t.match(h.of('rate_limited'), [{ rule: 'limits.max_tunnels', action: 'blocked', details: { limit: 2, client: '10.1.2.3' } }])
  t.equal(resolver.calls.length, 2, 'the refused attempt never resolved')
  const ups = (await Promise.all(pending)).map(ok)
  t.equal(h.connector.active, 2)
  ups[0]!.socket.destroy()
  ups[0]!.release()
  const fourth = ok(await h.connector.open(req('allowed.test', e.port)))
  t.equal(h.connector.active, 2, 'control: a released slot is usable again')
  for (const u of [ups[1]!, fourth]) {
    u.socket.destroy()
    u.release()
  }
  t.equal(h.connector.active, 0)
})

t.test('a wildcard rule spends the subdomain budget: past it, new names are 403 dns_tunnel_suspected; exact rules are not counted', async (t) => {
  const e = await echo(t)
  const names: Record<string, string[]> = { 'exact.example.com': ['127.0.0.1'] }
  for (let i = 0; i < 6; i++) names[`n${i}.tunnel.example.com`] = ['127.0.0.1']
  const h = makeEgressContext({
    capabilities: { network: { loopback_allowed: true, subdomain_budget: { max_names: 3, window_s: 60 }, egress: [{ host: '*.tunnel.example.com', port: e.port, protocol: 'tcp' }, { host: 'exact.example.com', port: e.port, protocol: 'tcp' }] } },
    dns: names,
  })
  const codes: Array<number | 'ok'> = []
  for (let i = 0; i < 6; i++) {
    const r = await h.connector.open(req(`n${i}.tunnel.example.com`, e.port))
    codes.push(r.ok ? 'ok' : r.status)
    if (r.ok) {
      r.socket.destroy()
      r.release()
    }
  }
  t.same(codes, ['ok', 'ok', 'ok', 403, 403, 403])
  t.match(h.of('egress_denied')[0], { details: { code: 'dns_tunnel_suspected' } })
  const again = await h.connector.open(req('n0.tunnel.example.com', e.port))
  t.ok(again.ok, 'a name already admitted stays admitted')
  if (again.ok) {
    again.socket.destroy()
    again.release()
  }
  for (let i = 0; i < 5; i++) {
    const r = ok(await h.connector.open(req('exact.example.com', e.port)))
    r.socket.destroy()
    r.release()
  }
  t.equal(h.of('egress_denied').length, 3, 'an exact rule is outside the budget: five more connects, no new denial')
})

t.test('forward(): splices client and upstream, signals egress_closed with byte counts, frees the slot on close', async (t) => {
  const e = await echo(t)
  const h = makeEgressContext({ capabilities: loopCaps(e.port), dns: { 'allowed.test': ['127.0.0.1'] } })
  const front = createServer((client) => {
    void h.connector.forward(client, req('allowed.test', e.port), { head: Buffer.from('HEAD-'), onConnected: () => client.write('OK\n') })
  })
  const fport = await listen(front)
  t.teardown(() => close(front))
  const s = connect(fport, '127.0.0.1')
  const got = await roundTrip(s, 'data', 3 + 5 + 4)
  t.equal(got.toString(), 'OK\nHEAD-data', 'onConnected first, then the head and the client bytes echoed')
  t.equal(h.connector.active, 1)
  s.end()
  const c = await h.sink.waitFor((x) => x.type === 'egress_closed')
  t.match(c.details, { bytes_up: 9, bytes_down: 9 })
  t.equal(c.rule, 'egress[0]')
  t.equal(h.connector.active, 0)
})

t.test('forward(): a refusal is returned for the caller to answer; a client gone during the dial releases the upstream', async (t) => {
  const e = await echo(t)
  const h = makeEgressContext({ capabilities: loopCaps(e.port), resolver: staticResolver({ 'allowed.test': ['127.0.0.1'] }, { delayMs: 100 }) })
  const results: Array<ConnectRefusal | null> = []
  let clientSock: Socket | undefined
  const front = createServer((client) => {
    clientSock = client
    void h.connector.forward(client, req('allowed.test', e.port)).then((r) => results.push(r))
  })
  const fport = await listen(front)
  t.teardown(() => close(front))
  const s = connect(fport, '127.0.0.1')
  await new Promise((r) => s.once('connect', r))
  await new Promise((r) => setTimeout(r, 20))
  clientSock!.destroy()
  await closed(s)
  await new Promise((r) => setTimeout(r, 250))
  t.same(results, [null], 'nothing to answer')
  t.equal(h.connector.active, 0, 'the upstream slot was released')
  t.equal(h.of('egress_closed').length, 0, 'no tunnel was spliced')

  const other = connect(e.port, '127.0.0.1')
  other.on('error', () => {})
  t.teardown(() => other.destroy())
  const denied = await h.connector.forward(other, req('other.test', e.port))
  t.match(denied, { ok: false, status: 403 })
  t.notOk(other.destroyed, 'the client socket is left to the caller (it answers the refusal)')
})

t.test('dropSignal: one rate_limited signal per connection dropped at accept, naming the listener, port and client', async (t) => {
  const h = makeEgressContext({ capabilities: {}, limits: { max_connections: 7 } })
  const drop = dropSignal(h.connector, 'forward_proxy')
  drop({ localAddress: '127.0.0.1', localPort: 3128, localFamily: 'IPv4', remoteAddress: '10.0.0.9', remotePort: 5555, remoteFamily: 'IPv4' })
  drop(undefined)
  const s = h.of('rate_limited')
  t.equal(s.length, 2)
  t.match(s[0], { rule: 'limits.max_connections', action: 'blocked', details: { limit: 7, listener: 'forward_proxy', port: 3128, client: '10.0.0.9' } })
  t.same(s[1]!.details, { limit: 7, listener: 'forward_proxy' }, 'without drop data: only the listener')
  t.notOk(s[0]!.destination, 'no destination: no request was read')
})
