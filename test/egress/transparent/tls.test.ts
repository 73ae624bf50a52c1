/**
 * Acceptance of the transparent TLS listener (egress/transparent/tls.ts): real TLS clients
 * (node:https / node:tls) connect to the listener on 127.0.0.1 as if DNS steering had sent them
 * there; the ClientHello SNI picks the destination; a local HTTPS server signed by a test CA is
 * the upstream. The resolver is a static map (an input here). Only 127.0.0.1 is ever dialled:
 * names mapped to 10.0.0.1 / 169.254.169.254 are refused before any dial.
 */
import { get as httpsGet } from 'node:https'
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import t from 'tap'
import { TransparentTlsListener } from '../../../egress/transparent/tls.js'
import type { Signal } from '../../../signals/types.js'
import { makeEgressContext, type TestEgress } from '../../helpers/egress-context.js'
import { closed } from '../../helpers/net.js'
import { buildClientHello, makeTestPki, startTlsServer, type TestPki, type TlsTestServer } from '../../helpers/tls.js'

let pki: TestPki
let upstream: TlsTestServer

t.before(async () => {
  process.removeAllListeners('warning') // DEP0123 when a test sends an IP literal as servername on purpose
  pki = makeTestPki(['api.test.example', 'other.test.example', '*.svc.test.example', '127.0.0.1'])
  upstream = await startTlsServer(pki)
})
t.teardown(() => upstream.close())

interface Harness extends TestEgress {
  port: number
  listener: TransparentTlsListener
  calls: string[]
}

async function setup(t: Tap, opts: { mode?: 'alert' | 'block' | 'quarantine'; limits?: Record<string, number> } = {}): Promise<Harness> {
  const P = upstream.port
  const e = makeEgressContext({
    capabilities: {
      enforcement_mode: opts.mode ?? 'block',
      network: {
        loopback_allowed: true,
        egress: [
          { host: 'api.test.example', port: P, protocol: 'https' },
          { host: '*.svc.test.example', port: P, protocol: 'https' },
          { host: 'private.test.example', port: P, protocol: 'https' },
          { host: 'metadata.test.example', port: P, protocol: 'https' },
          { cidr: '127.0.0.1/32', port: P, protocol: 'https' },
        ],
      },
    },
    limits: { first_bytes_timeout_ms: 2000, ...opts.limits },
    dns: {
      'api.test.example': ['127.0.0.1'],
      'a.svc.test.example': ['127.0.0.1'],
      'other.test.example': ['127.0.0.1'],
      'private.test.example': ['10.0.0.1'],
      'metadata.test.example': ['169.254.169.254'],
    },
  })
  const listener = new TransparentTlsListener(e.connector, { logicalPort: P })
  const port = await listener.listen('127.0.0.1', 0)
  t.teardown(() => listener.close())
  return { ...e, port, listener, calls: (e.ctx.resolver as unknown as { calls: string[] }).calls }
}
type Tap = { teardown(fn: () => unknown): void }

/** An HTTPS GET through the listener, as a client whose DNS answered the sidecar's address. */
function get(port: number, servername: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet({ host: '127.0.0.1', port, servername, ca: pki.ca, path: '/', agent: false, headers: { host: servername }, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** A TLS handshake through the listener that must fail because the sidecar closes the connection. */
function refusedTls(port: number, opts: { servername?: string } = {}): Promise<Error> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca, ...opts })
    s.setTimeout(5000, () => reject(new Error('no close within 5 s')))
    s.on('secureConnect', () => reject(new Error('handshake unexpectedly succeeded')))
    s.on('error', (e) => resolve(e))
    s.on('close', () => resolve(new Error('closed')))
  })
}

/** Sends raw bytes and resolves when the sidecar closes; rejects if it answers anything. */
async function rawRefused(port: number, bytes: Buffer | null): Promise<{ ms: number; answer: Buffer }> {
  const s = connect(port, '127.0.0.1')
  const started = performance.now()
  const got: Buffer[] = []
  s.on('data', (b: Buffer) => got.push(b))
  s.on('error', () => {})
  if (bytes) s.write(bytes)
  await closed(s, 10_000)
  return { ms: performance.now() - started, answer: Buffer.concat(got) }
}

const denials = (h: Harness): Signal[] => h.of('egress_denied')

t.test('an allowed SNI reaches the TLS server (certificate verified with the test CA)', async (t) => {
  const h = await setup(t)
  const before = upstream.sni.length
  const res = await get(h.port, 'api.test.example')
  t.equal(res.status, 200)
  t.equal(res.body, `${upstream.marker} sni=api.test.example`, 'the marker, and the server saw the same SNI')
  t.same(upstream.sni.slice(before), ['api.test.example'])
  t.same(h.calls, ['api.test.example'], 'resolved once, by our resolver')
  const allowed = h.of('egress_allowed')
  t.equal(allowed.length, 1)
  t.match(allowed[0], { action: 'allowed', rule: 'egress[0]', destination: { host: 'api.test.example', ip: '127.0.0.1', port: upstream.port, protocol: 'https' }, details: { via: 'transparent_tls' } })
  t.equal(denials(h).length, 0)
})

t.test('a disallowed SNI is refused: closed, one egress_denied, never resolved nor dialled', async (t) => {
  const h = await setup(t)
  const conns = upstream.connections.length
  await t.rejects(get(h.port, 'other.test.example'))
  const d = denials(h)
  t.equal(d.length, 1, 'exactly one signal')
  t.match(d[0], { kind: 'violation', action: 'blocked', rule: 'default-deny', destination: { host: 'other.test.example', port: upstream.port, protocol: 'https' }, details: { code: 'no_matching_rule', via: 'transparent_tls', client: '127.0.0.1' } })
  t.same(h.calls, [], 'a denied name is not resolved')
  t.equal(upstream.connections.length, conns, 'the upstream never saw a connection')
})

t.test('no SNI → missing_host', async (t) => {
  const h = await setup(t)
  await refusedTls(h.port) // host is an IP: node:tls sends no server_name
  const d = denials(h)
  t.equal(d.length, 1)
  t.match(d[0], { action: 'blocked', rule: 'default-deny', destination: { port: upstream.port, protocol: 'https' }, details: { code: 'missing_host', via: 'transparent_tls', content: 'tls' } })
  t.notOk(d[0]!.destination?.host, 'no host to name')
})

t.test('bytes that are not TLS, malformed hellos and SSLv2 hellos are denied without an answer', async (t) => {
  const h = await setup(t)
  const cases: Array<[string, Buffer, string, Record<string, unknown>]> = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: api.test.example\r\n\r\n'), 'missing_host', { content: 'not_tls' }],
    ['garbage', Buffer.from('\x00\x01hello world\r\n\r\n', 'latin1'), 'missing_host', { content: 'not_tls' }],
    ['NUL-smuggled SNI', buildClientHello({ sni: 'api.test.example\0.evil.net' }), 'malformed_host', { content: 'tls' }],
    ['duplicate server_name', buildClientHello({ sni: 'api.test.example', extensions: [[0, Buffer.from([0, 15, 0, 0, 12, ...Buffer.from('evil.example')])]] }), 'malformed_host', { content: 'tls' }],
    ['hostile record length', Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01]), 'malformed_host', { content: 'tls' }],
    ['SSLv2-compatible hello', Buffer.from('802e0103010015000000100000030000060000040300800700c0030080c0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7', 'hex'), 'missing_host', { sslv2: true }],
  ]
  for (const [name, bytes, code, details] of cases) {
    const n = denials(h).length
    const r = await rawRefused(h.port, bytes)
    t.equal(r.answer.length, 0, `${name}: no answer bytes`)
    const d = denials(h).slice(n)
    t.equal(d.length, 1, `${name}: one signal`)
    t.match(d[0], { rule: 'default-deny', details: { code, ...details } }, `${name}: ${code}`)
  }
  t.same(h.calls, [])
  // A connection closed before any byte (a port probe) is not an egress attempt: no signal.
  const n = denials(h).length
  const probe = connect(h.port, '127.0.0.1')
  probe.on('connect', () => probe.end())
  await closed(probe)
  await new Promise((r) => setTimeout(r, 50))
  t.equal(denials(h).length, n, 'an empty connection is closed quietly')
})

t.test('a slow client is closed after first_bytes_timeout_ms', async (t) => {
  const h = await setup(t, { limits: { first_bytes_timeout_ms: 300 } })
  const silent = await rawRefused(h.port, null)
  t.ok(silent.ms >= 250 && silent.ms < 3000, `silent client closed after ${silent.ms.toFixed(0)} ms`)
  const partial = await rawRefused(h.port, buildClientHello({ sni: 'api.test.example' }).subarray(0, 20))
  t.ok(partial.ms >= 250 && partial.ms < 3000, `half a hello closed after ${partial.ms.toFixed(0)} ms`)
  const d = denials(h)
  t.equal(d.length, 2)
  t.match(d[0], { details: { code: 'missing_host', timeout_ms: 300, received_bytes: 0 }, reason: /no TLS ClientHello within 300 ms/ })
  t.match(d[1], { details: { code: 'missing_host', received_bytes: 20 } })
})

t.test('an SNI with uppercase and a trailing dot is normalised and allowed', async (t) => {
  const h = await setup(t)
  const res = await get(h.port, 'API.Test.Example.')
  t.equal(res.status, 200)
  t.match(res.body, upstream.marker)
  t.match(h.of('egress_allowed')[0], { destination: { host: 'api.test.example' }, rule: 'egress[0]' })
  t.same(h.calls, ['api.test.example'], 'the normalised name is what gets resolved')
})

t.test('wildcard rule on a label boundary; suffix confusion denied', async (t) => {
  const h = await setup(t)
  const ok = await get(h.port, 'a.svc.test.example')
  t.equal(ok.body, `${upstream.marker} sni=a.svc.test.example`)
  for (const name of ['evil-test.example', 'api.test.example.evil.net', 'evil-svc.test.example', 'svc.test.example', 'xapi.test.example']) {
    const n = denials(h).length
    await refusedTls(h.port, { servername: name })
    const d = denials(h).slice(n)
    t.equal(d.length, 1, `${name}: one denial`)
    t.match(d[0], { rule: 'default-deny', destination: { host: name }, details: { code: 'no_matching_rule' } }, `${name} denied`)
  }
  t.same(h.calls, ['a.svc.test.example'], 'only the allowed name was resolved')
})

t.test('an allowed name resolving into always-denied ranges is refused before dialling', async (t) => {
  const h = await setup(t)
  await refusedTls(h.port, { servername: 'private.test.example' })
  await refusedTls(h.port, { servername: 'metadata.test.example' })
  const d = denials(h)
  t.equal(d.length, 2)
  t.match(d[0], { rule: 'always-denied:private', destination: { host: 'private.test.example' }, details: { code: 'no_allowed_address', resolved: ['10.0.0.1'] } })
  t.match(d[1], { rule: 'always-denied:metadata', severity: 'critical', destination: { host: 'metadata.test.example' }, details: { code: 'no_allowed_address', resolved: ['169.254.169.254'] } })
  t.equal(h.of('egress_allowed').length, 0)
})

t.test('an IP-literal SNI goes through the cidr rules', async (t) => {
  const h = await setup(t)
  const res = await get(h.port, '127.0.0.1')
  t.equal(res.body, `${upstream.marker} sni=127.0.0.1`, 'allowed by cidr 127.0.0.1/32')
  t.match(h.of('egress_allowed')[0], { rule: 'egress[4]', destination: { ip: '127.0.0.1' } })
  await rawRefused(h.port, buildClientHello({ sni: '10.0.0.1' }))
  await rawRefused(h.port, buildClientHello({ sni: '169.254.169.254' }))
  const d = denials(h)
  t.match(d[0], { rule: 'always-denied:private', destination: { ip: '10.0.0.1' }, details: { code: 'always_denied_address' } })
  t.match(d[1], { rule: 'always-denied:metadata', destination: { ip: '169.254.169.254' }, details: { code: 'always_denied_address' } })
  t.same(h.calls, [], 'IP literals are never resolved')
})

t.test('alert mode lets a denied SNI through, signalled as alerted; hard denials stay blocked', async (t) => {
  const h = await setup(t, { mode: 'alert' })
  const res = await get(h.port, 'other.test.example')
  t.equal(res.body, `${upstream.marker} sni=other.test.example`)
  const d = denials(h)
  t.equal(d.length, 1)
  t.match(d[0], { action: 'alerted', enforcement_mode: 'alert', details: { code: 'no_matching_rule' }, destination: { host: 'other.test.example' } })
  await refusedTls(h.port)
  t.match(denials(h)[1], { action: 'blocked', details: { code: 'missing_host' } }, 'no SNI cannot be routed, even in alert mode')
  await refusedTls(h.port, { servername: 'metadata.test.example' })
  t.match(denials(h)[2], { action: 'blocked', rule: 'always-denied:metadata' }, 'cloud metadata is never let through')
})

t.test('quarantine refuses every connection, with or without SNI', async (t) => {
  const h = await setup(t)
  h.enforcement.quarantine('test', 'api')
  await refusedTls(h.port, { servername: 'api.test.example' })
  await refusedTls(h.port)
  const d = denials(h)
  t.equal(d.length, 2)
  t.match(d[0], { action: 'quarantined', rule: 'quarantine', details: { code: 'quarantined' } })
  t.match(d[1], { action: 'quarantined', rule: 'quarantine', details: { code: 'quarantined' } })
  t.same(h.calls, [])
})

t.test('byte counts in egress_closed match the bytes on the wire', async (t) => {
  const h = await setup(t)
  const serverClosed = upstream.connections.length + 1
  const raw = connect(h.port, '127.0.0.1')
  const tls: TLSSocket = tlsConnect({ socket: raw, servername: 'api.test.example', ca: pki.ca })
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', () => resolve())
    tls.once('error', reject)
  })
  tls.write('GET /count HTTP/1.1\r\nHost: api.test.example\r\nConnection: close\r\n\r\n')
  let body = ''
  tls.setEncoding('utf8')
  tls.on('data', (c: string) => (body += c))
  await closed(raw as Socket)
  t.match(body, upstream.marker)
  const closedSig = await h.sink.waitFor((s) => s.type === 'egress_closed')
  const conns = await upstream.closedConnections(serverClosed)
  const srv = conns[serverClosed - 1]!
  t.match(closedSig, { rule: 'egress[0]', destination: { host: 'api.test.example', ip: '127.0.0.1', port: upstream.port }, details: { via: 'transparent_tls' } })
  const det = closedSig.details as { bytes_up: number; bytes_down: number }
  // Tunnels are half-open (TCP semantics): after the server's FIN the client's close_notify alert
  // (24 bytes) is still forwarded and counted, though a server that closed fully never reads it.
  t.ok(det.bytes_up >= srv.bytesRead && det.bytes_up - srv.bytesRead <= 24, `bytes_up ${det.bytes_up} = bytes the server read (${srv.bytesRead}, ClientHello included) + at most a late alert`)
  t.equal(det.bytes_down, srv.bytesWritten, 'bytes_down = bytes the server wrote')
  t.equal(det.bytes_down, raw.bytesRead, 'and every one of them reached the client')
  t.equal(det.bytes_up, raw.bytesWritten, 'bytes_up = every byte the client sent')
  t.equal(h.connector.active, 0, 'the tunnel slot is released')
})

t.test('the tunnel limit refuses without dialling; close() ends open tunnels', async (t) => {
  const h = await setup(t, { limits: { max_tunnels: 1 } })
  const held = tlsConnect({ host: '127.0.0.1', port: h.port, servername: 'api.test.example', ca: pki.ca })
  held.on('error', () => {})
  await new Promise<void>((resolve) => held.once('secureConnect', () => resolve()))
  t.equal(h.connector.active, 1)
  await refusedTls(h.port, { servername: 'api.test.example' })
  t.equal(h.of('egress_allowed').length, 1, 'the second connection was not opened')
  await h.listener.close()
  await closed(held)
  await h.sink.waitFor((s) => s.type === 'egress_closed')
  t.equal(h.connector.active, 0)
})
