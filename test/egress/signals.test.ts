/**
 * EgressSignals (egress/signals.ts): egress and DNS decisions become signals and metrics. Denials
 * always signal (with severity critical for metadata and self-connections) and count as
 * violations; allows and closes are sampled once per destination per observation window; a
 * quarantine-mode denial quarantines the provider and the switch is itself signalled; the
 * baseline sees every decision before sampling; a failing sink never throws into the data path.
 * Decisions come from the real policy (compilePolicy, decideRequest, enforce).
 */
import t from 'tap'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import { createMetrics } from '../../core/metrics.js'
import { silentLogger } from '../../core/log.js'
import { EgressSignals, signalProtocol, type AttemptInfo } from '../../egress/signals.js'
import type { BaselineObserver, EgressEvent, EgressKey } from '../../policy/baseline-observer.js'
import { decideRequest, enforce } from '../../policy/egress.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import type { Decision, EgressRequest } from '../../policy/egress-types.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { MemorySink, type SignalSink } from '../../signals/sink.js'
import type { Signal } from '../../signals/types.js'

/** Every call the egress side makes on the baseline port, in order. */
class SeenByBaseline implements BaselineObserver {
  readonly calls: Array<[string, unknown]> = []
  egress(e: EgressEvent): void { this.calls.push(['egress', e]) }
  egressContent(k: EgressKey, kind: string): void { this.calls.push(['content', { ...k, kind }]) }
  egressBytes(k: EgressKey, up: number, down: number): void { this.calls.push(['bytes', { ...k, up, down }]) }
  dnsQuery(): undefined { return undefined }
  dnsHit(): void {}
  dnsAnswer(): void {}
  toolListed(): void {}
  toolCalled(): void {}
  toolRefused(): void {}
}

function rig(opts: { mode?: string; windowMs?: number; sink?: SignalSink; baseline?: BaselineObserver } = {}) {
  const caps = capabilitiesSchema.parse({ enforcement_mode: opts.mode ?? 'block', network: { egress: [{ host: 'api.example.com', port: 443, protocol: 'https' }] } })
  const policy = compilePolicy('p1', caps, { ips: new Set(), ports: new Set() })
  const sink = new MemorySink()
  const metrics = createMetrics({ defaultMetrics: false })
  const enforcement = new QuarantineSwitch()
  const signals = new EgressSignals({ provider: 'p1', sidecar_id: 'sc-1' }, policy, opts.sink ?? sink, metrics, enforcement, silentLogger(), opts.windowMs ?? 0, opts.baseline)
  const decide = (host: string, port = 443, protocol: EgressRequest['protocol'] = 'https') => {
    const d = decideRequest({ host, port, protocol, via: 'connect' }, policy, enforcement.state)
    return { d, enf: enforce(d, policy.mode) }
  }
  const value = async (name: string, labels: Record<string, string>) => {
    const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name)
    const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val))
    return Number(v?.value ?? 0)
  }
  return { signals, sink, metrics, enforcement, decide, value, of: (type: string) => sink.signals.filter((s) => s.type === type) }
}

const attempt = (host: string, port = 443, extra: Partial<AttemptInfo> = {}): AttemptInfo => ({ host, port, protocol: 'https', via: 'connect', ...extra })

t.test('signalProtocol: a tunnel is https on 443 and tcp elsewhere; other protocols pass through', async (t) => {
  t.equal(signalProtocol('tunnel', 443), 'https')
  t.equal(signalProtocol('tunnel', 22), 'tcp')
  t.equal(signalProtocol('http', 80), 'http')
  t.equal(signalProtocol('tcp', 443), 'tcp')
})

t.test('a denial: one egress_denied violation with rule, reason, code, destination and client; counted', async (t) => {
  const r = rig()
  const { d, enf } = r.decide('evil.example.net')
  r.signals.egress(d, enf, attempt('evil.example.net', 443, { client: '10.0.0.7' }))
  const s = r.of('egress_denied')
  t.equal(s.length, 1)
  t.match(s[0], {
    schema: 'hangar.signal/v1', kind: 'violation', action: 'blocked', enforcement_mode: 'block', provider: 'p1', sidecar_id: 'sc-1', severity: 'high',
    rule: 'default-deny', destination: { host: 'evil.example.net', port: 443, protocol: 'https' }, details: { code: 'no_matching_rule', via: 'connect', client: '10.0.0.7' },
  })
  t.equal(await r.value('mcp_hangar_capability_violations_total', { violation_type: 'egress_denied', action: 'blocked' }), 1)
  t.equal(await r.value('mcp_hangar_egress_requests_total', { protocol: 'https', decision: 'blocked' }), 1)
  t.equal(await r.value('mcp_hangar_signals_emitted_total', { kind: 'violation' }), 1)
  r.signals.egress(d, enf, attempt('evil.example.net'))
  t.equal(r.of('egress_denied').length, 2, 'denials are never sampled, even for the same destination')
})

t.test('a metadata address is a critical denial; other always-denied classes keep the catalogue severity', async (t) => {
  const r = rig()
  const meta = r.decide('169.254.169.254', 80, 'http')
  r.signals.egress(meta.d, meta.enf, { ip: '169.254.169.254', port: 80, protocol: 'http', via: 'http_proxy' })
  const priv = r.decide('10.0.0.1', 80, 'http')
  r.signals.egress(priv.d, priv.enf, { ip: '10.0.0.1', port: 80, protocol: 'http', via: 'http_proxy' })
  const s = r.of('egress_denied')
  t.match(s[0], { rule: 'always-denied:metadata', severity: 'critical', destination: { ip: '169.254.169.254', port: 80, protocol: 'http' } })
  t.notOk('host' in s[0]!.destination!, 'no host for an IP-literal attempt')
  t.match(s[1], { rule: 'always-denied:private', severity: 'high' })
})

t.test('allows: one egress_allowed per destination per window; every allow is still counted', async (t) => {
  const r = rig({ windowMs: 60_000 })
  const { d, enf } = r.decide('api.example.com')
  for (let i = 0; i < 5; i++) r.signals.egress(d, enf, attempt('api.example.com'))
  r.signals.egress(d, enf, attempt('api.example.com', 8443))
  const s = r.of('egress_allowed')
  t.equal(s.length, 2, 'one for :443, one for :8443')
  t.match(s[0], { kind: 'observation', action: 'allowed', rule: 'egress[0]', severity: 'info', destination: { host: 'api.example.com', port: 443 } })
  t.equal(await r.value('mcp_hangar_egress_requests_total', { protocol: 'https', decision: 'allowed' }), 6)
  const every = rig({ windowMs: 0 })
  for (let i = 0; i < 3; i++) every.signals.egress(d, enf, attempt('api.example.com'))
  t.equal(every.of('egress_allowed').length, 3, 'control: window 0 emits every allow')
})

t.test('the window reopens after observation_window_ms', async (t) => {
  const r = rig({ windowMs: 100 })
  const { d, enf } = r.decide('api.example.com')
  r.signals.egress(d, enf, attempt('api.example.com'))
  r.signals.egress(d, enf, attempt('api.example.com'))
  await new Promise((res) => setTimeout(res, 130))
  r.signals.egress(d, enf, attempt('api.example.com'))
  t.equal(r.of('egress_allowed').length, 2)
})

t.test('alert mode: the denial is signalled as alerted and counted as such', async (t) => {
  const r = rig({ mode: 'alert' })
  const { d, enf } = r.decide('evil.example.net')
  t.equal(enf.permit, true)
  r.signals.egress(d, enf, attempt('evil.example.net'))
  t.match(r.of('egress_denied'), [{ action: 'alerted', enforcement_mode: 'alert' }])
  t.equal(await r.value('mcp_hangar_capability_violations_total', { violation_type: 'egress_denied', action: 'alerted' }), 1)
})

t.test('quarantine mode: a denial quarantines the provider once; the switch and its release are signalled and on the gauge', async (t) => {
  const r = rig({ mode: 'quarantine' })
  const { d, enf } = r.decide('evil.example.net')
  r.signals.egress(d, enf, attempt('evil.example.net'))
  t.equal(r.enforcement.state.quarantined, true)
  t.match(r.of('quarantine_triggered'), [{ kind: 'enforcement', action: 'quarantined', severity: 'critical', details: { by: 'violation' }, reason: /^egress_denied: / }])
  t.equal(await r.value('mcp_hangar_quarantined', { provider: 'p1' }), 1)
  r.signals.egress(d, enf, attempt('evil.example.net'))
  t.equal(r.of('quarantine_triggered').length, 1, 'a second denial does not re-trigger')
  r.enforcement.release('operator', 'api')
  t.match(r.of('quarantine_released'), [{ action: 'allowed', reason: 'operator', details: { by: 'api' } }])
  t.equal(await r.value('mcp_hangar_quarantined', { provider: 'p1' }), 0)
  const block = rig({ mode: 'block' })
  const b = block.decide('evil.example.net')
  block.signals.egress(b.d, b.enf, attempt('evil.example.net'))
  t.equal(block.enforcement.state.quarantined, false, 'control: block mode does not quarantine')
})

t.test('dns(): allowed names sampled per (name, qtype); denials as dns_denied or dns_tunnel_suspected with the qtype', async (t) => {
  const r = rig({ windowMs: 60_000 })
  const allow = { verdict: 'allow', rule: 'egress[0]', reason: 'ok', name: 'api.example.com' } as Parameters<EgressSignals['dns']>[0]
  const ok = { permit: true, action: 'allowed', triggersQuarantine: false } as const
  r.signals.dns(allow, ok, 'A')
  r.signals.dns(allow, ok, 'A')
  r.signals.dns(allow, ok, 'AAAA')
  t.same(r.of('dns_allowed').map((s) => s.details?.qtype), ['A', 'AAAA'])
  const denied = { verdict: 'deny', rule: 'default-deny', reason: 'no', code: 'no_matching_rule', name: 'x.test' } as Parameters<EgressSignals['dns']>[0]
  const tunnel = { verdict: 'deny', rule: 'egress[0]', reason: 'random', code: 'dns_tunnel_suspected', name: 'abc.example.com' } as Parameters<EgressSignals['dns']>[0]
  const blocked = { permit: false, action: 'blocked', triggersQuarantine: false } as const
  r.signals.dns(denied, blocked, 'TXT', '10.0.0.3')
  r.signals.dns(tunnel, blocked, 'A')
  t.match(r.of('dns_denied'), [{ destination: { host: 'x.test', protocol: 'dns' }, details: { qtype: 'TXT', client: '10.0.0.3', code: 'no_matching_rule' }, severity: 'medium' }])
  t.match(r.of('dns_tunnel_suspected'), [{ rule: 'egress[0]', severity: 'high', details: { code: 'dns_tunnel_suspected' } }])
  t.equal(await r.value('mcp_hangar_dns_queries_total', { decision: 'allowed' }), 3)
  t.equal(await r.value('mcp_hangar_dns_queries_total', { decision: 'blocked' }), 2)
})

t.test('closed(): bytes counted every time; egress_closed sampled per destination', async (t) => {
  const r = rig({ windowMs: 60_000 })
  r.signals.closed(attempt('api.example.com'), 100, 2000, 1234, 'egress[0]')
  r.signals.closed(attempt('api.example.com'), 1, 2, 3, 'egress[0]')
  t.match(r.of('egress_closed'), [{ rule: 'egress[0]', reason: 'tunnel closed after 1234 ms', details: { bytes_up: 100, bytes_down: 2000, duration_ms: 1234 } }])
  t.equal(r.of('egress_closed').length, 1)
  t.equal(await r.value('mcp_hangar_egress_bytes_total', { direction: 'upstream' }), 101)
  t.equal(await r.value('mcp_hangar_egress_bytes_total', { direction: 'downstream' }), 2002)
})

t.test('limited(): rate_limited with the limit, via and client; an over-long raw host is left out of the destination', async (t) => {
  const r = rig()
  r.signals.limited('max_tunnels', 5, { attempt: attempt('api.example.com', 443, { client: '10.0.0.2' }) })
  r.signals.limited('max_tunnels', 5, { attempt: attempt('a'.repeat(254)) })
  r.signals.limited('max_tunnels', 5, { attempt: attempt('a'.repeat(253)) })
  r.signals.limited('max_connections', 9, { listener: 'transparent_tls', port: 443 })
  const s = r.of('rate_limited')
  t.match(s[0], { kind: 'enforcement', action: 'blocked', rule: 'limits.max_tunnels', reason: 'too many open tunnels (limit 5); answered 429', destination: { host: 'api.example.com' }, details: { limit: 5, via: 'connect', client: '10.0.0.2' } })
  t.same(s[1]!.destination, { port: 443, protocol: 'https' }, '254 characters: not a host name, dropped')
  t.equal(s[2]!.destination?.host, 'a'.repeat(253), 'control: 253 characters kept')
  t.same(s[3]!.details, { limit: 9, listener: 'transparent_tls', port: 443 })
  t.equal(s[3]!.destination, undefined)
})

t.test('dnsStripped(): a violation listing each stripped address and class; counted', async (t) => {
  const r = rig()
  r.signals.dnsStripped('rebind.example.com', 'egress[0]', [{ ip: '10.0.0.1', cls: 'private' }, { ip: '169.254.169.254', cls: 'metadata' }])
  t.match(r.of('dns_answer_stripped'), [{ kind: 'violation', action: 'blocked', reason: 'rebind.example.com answered with always-denied addresses (10.0.0.1: private, 169.254.169.254: metadata); they were removed', details: { stripped: [{ ip: '10.0.0.1' }, { ip: '169.254.169.254' }] } }])
  t.equal(await r.value('mcp_hangar_capability_violations_total', { violation_type: 'dns_answer_stripped' }), 1)
})

t.test('the baseline sees every decision before sampling: content, failures and bytes are told apart', async (t) => {
  const b = new SeenByBaseline()
  const r = rig({ windowMs: 60_000, baseline: b })
  const allow = r.decide('api.example.com')
  const deny = r.decide('evil.example.net')
  r.signals.egress(allow.d, allow.enf, attempt('api.example.com', 443, { ip: '192.0.2.1' }))
  r.signals.egress(allow.d, allow.enf, attempt('api.example.com'))
  r.signals.egress(allow.d, allow.enf, attempt('api.example.com'), { dial_error: 'ECONNREFUSED' })
  r.signals.egress(allow.d, allow.enf, attempt('api.example.com'), { content: 'tls' })
  r.signals.egress(deny.d, deny.enf, attempt('evil.example.net'))
  r.signals.tunnelContent(attempt('api.example.com'), 'http')
  r.signals.closed(attempt('api.example.com'), 3, 4, 5, 'egress[0]')
  t.same(b.calls.map(([k]) => k), ['egress', 'egress', 'egress', 'content', 'egress', 'content', 'bytes'])
  t.match(b.calls[0]![1], { host: 'api.example.com', ip: '192.0.2.1', action: 'allowed', failed: false })
  t.match(b.calls[2]![1], { failed: true }, 'a dial error is a failed attempt')
  t.match(b.calls[3]![1], { kind: 'tls' }, 'a content decision is not a second attempt')
  t.match(b.calls[4]![1], { host: 'evil.example.net', action: 'blocked' })
  t.match(b.calls[6]![1], { up: 3, down: 4 })
  t.equal(r.of('egress_allowed').length, 1, 'while the signals were sampled')
})

t.test('lifecycle() signals; a sink that throws never reaches the caller', async (t) => {
  const r = rig()
  r.signals.lifecycle('sidecar_started', 'listening', { proxy: '127.0.0.1:3128' })
  t.match(r.of('sidecar_started'), [{ kind: 'lifecycle', action: 'allowed', reason: 'listening', details: { proxy: '127.0.0.1:3128' } }])
  const broken: SignalSink = { emit: () => { throw new Error('disk full') }, flush: async () => {}, close: async () => {} }
  const b = rig({ sink: broken })
  const { d, enf } = b.decide('evil.example.net')
  t.doesNotThrow(() => b.signals.egress(d, enf, attempt('evil.example.net')))
  t.doesNotThrow(() => b.signals.lifecycle('sidecar_stopped', 'bye'))
  t.equal(await b.value('mcp_hangar_capability_violations_total', { violation_type: 'egress_denied' }), 1, 'the decision is still counted')
})

t.test('signals carry a UUIDv7 id and an RFC 3339 UTC time with milliseconds', async (t) => {
  const r = rig()
  const { d, enf } = r.decide('evil.example.net')
  r.signals.egress(d as Decision, enf, attempt('evil.example.net'))
  const s = r.sink.signals[0] as Signal
  t.match(s.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.match(s.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
})
