/**
 * egress/sniff.ts: ClientHello and HTTP head sniffing over real node:tls hellos, synthetic
 * hellos with hostile fields, byte-by-byte and record-by-record splits, and seeded fuzzing.
 */
import t from 'tap'
import { decideRequest, decideTunnelContent } from '../../policy/egress.js'
import { parseTarget } from '../../policy/host.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import {
  MAX_CLIENT_HELLO_BYTES, MAX_HTTP_HEAD_BYTES, parseClientHello, parseHttpHead, sniffTunnel,
  type ClientHelloResult, type HttpHeadResult,
} from '../../egress/sniff.js'
import type { Decision } from '../../policy/egress-types.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import { buildClientHello, buildHelloMessage, captureClientHello, frameRecords, serverNameData } from '../helpers/tls.js'

/** Deterministic PRNG (mulberry32) so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const KINDS = new Set(['need-more', 'not-tls', 'malformed', 'client-hello'])
const HTTP_KINDS = new Set(['need-more', 'not-http', 'malformed', 'request'])

function kindOf(r: ClientHelloResult | HttpHeadResult): string {
  return r.kind
}

/** Feeds `full` one byte at a time; every proper prefix must ask for more, within bounds. */
function byteByByte(t: { equal(found: unknown, wanted: unknown, msg: string): unknown }, full: Buffer, parse: (b: Buffer) => ClientHelloResult | HttpHeadResult, cap: number): ClientHelloResult | HttpHeadResult {
  let bad = 0
  for (let n = 0; n < full.length; n++) {
    const r = parse(full.subarray(0, n))
    if (r.kind !== 'need-more' || r.need <= n || r.need > cap || r.need > full.length) bad++
  }
  t.equal(bad, 0, `all ${full.length} proper prefixes answer need-more with n < need ≤ full length`)
  return parse(full)
}

/** Reads exactly what `need` asks for, like a careful caller; counts the steps. */
function readAsAsked(full: Buffer): { result: ClientHelloResult; steps: number } {
  let have = 0
  let steps = 0
  for (;;) {
    const r = parseClientHello(full.subarray(0, have))
    steps++
    if (r.kind !== 'need-more' || steps > full.length + 2) return { result: r, steps }
    have = Math.min(full.length, r.need)
  }
}

let real: { sni: Buffer; noSni: Buffer; idn: Buffer; upper: Buffer; alpn12: Buffer; ip: Buffer }

t.before(async () => {
  process.removeAllListeners('warning') // DEP0123: node:tls warns when the servername is an IP (that is the point)
  real = {
    sni: await captureClientHello({ servername: 'api.test.example' }),
    noSni: await captureClientHello({}),
    idn: await captureClientHello({ servername: 'xn--bcher-kva.test.example' }),
    upper: await captureClientHello({ servername: 'API.Test.Example.' }),
    alpn12: await captureClientHello({ servername: 'api.test.example', ALPNProtocols: ['h2', 'http/1.1'], maxVersion: 'TLSv1.2' }),
    ip: await captureClientHello({ servername: '10.0.0.1' }),
  }
})

t.test('real ClientHellos from node:tls', async (t) => {
  const cases: Array<[string, () => Buffer, ClientHelloResult]> = [
    ['SNI', () => real.sni, { kind: 'client-hello', sni: 'api.test.example' }],
    ['no SNI (connect by IP)', () => real.noSni, { kind: 'client-hello', sni: null }],
    ['IDN SNI (A-label)', () => real.idn, { kind: 'client-hello', sni: 'xn--bcher-kva.test.example' }],
    ['uppercase + trailing dot kept raw', () => real.upper, { kind: 'client-hello', sni: 'API.Test.Example.' }],
    ['TLS 1.2 with ALPN', () => real.alpn12, { kind: 'client-hello', sni: 'api.test.example', alpn: ['h2', 'http/1.1'] }],
    ['IP literal SNI', () => real.ip, { kind: 'client-hello', sni: '10.0.0.1' }],
  ]
  for (const [name, buf, want] of cases) t.same(parseClientHello(buf()), want, name)
  t.equal(parseTarget('API.Test.Example.').ok && (parseTarget('API.Test.Example.') as { target: { host: string } }).target.host, 'api.test.example', 'the raw SNI normalises in host.ts')
  t.equal((parseTarget('xn--bcher-kva.test.example') as { target: { host: string } }).target.host, 'xn--bcher-kva.test.example')
})

t.test('a real hello split byte by byte (TCP segments)', async (t) => {
  for (const [name, buf] of [['SNI', real.sni], ['no SNI', real.noSni], ['ALPN', real.alpn12]] as const) {
    const full = parseClientHello(buf)
    const last = byteByByte(t, buf, parseClientHello, MAX_CLIENT_HELLO_BYTES)
    t.same(last, full, `${name}: the complete buffer gives the same answer`)
    const asked = readAsAsked(buf)
    t.same(asked.result, full, `${name}: reading exactly what need asks for completes`)
    t.ok(asked.steps <= 4, `${name}: in ${asked.steps} reads (header, record)`)
  }
})

t.test('a real hello re-framed into several TLS records', async (t) => {
  const msg = real.sni.subarray(5) // one record in, handshake message out
  for (const fragment of [1, 2, 3, 4, 5, 7, 64, 200, msg.length - 1]) {
    const framed = frameRecords(msg, fragment)
    t.same(parseClientHello(framed), { kind: 'client-hello', sni: 'api.test.example' }, `${fragment}-byte records (${framed.length} bytes)`)
  }
  const two = frameRecords(msg, 200)
  const last = byteByByte(t, two, parseClientHello, MAX_CLIENT_HELLO_BYTES)
  t.same(last, { kind: 'client-hello', sni: 'api.test.example' }, 'two records, byte by byte')
  const tiny = frameRecords(msg, 1)
  t.same(readAsAsked(tiny).result, { kind: 'client-hello', sni: 'api.test.example' }, '1-byte records read as asked')
  t.same(parseClientHello(Buffer.concat([real.sni, Buffer.from([23, 3, 3, 0, 5, 1, 2, 3, 4, 5])])), { kind: 'client-hello', sni: 'api.test.example' }, 'bytes after the hello are ignored')
})

t.test('synthetic hellos: server_name and ALPN rules (RFC 6066 §3, RFC 7301)', async (t) => {
  const ok = (sni: string | null, alpn?: string[]): ClientHelloResult => (alpn ? { kind: 'client-hello', sni, alpn } : { kind: 'client-hello', sni })
  const cases: Array<[string, Buffer, ClientHelloResult | 'malformed']> = [
    ['plain name', buildClientHello({ sni: 'db.test.example' }), ok('db.test.example')],
    ['no extensions block at all', buildClientHello({ noExtensions: true }), ok(null)],
    ['extensions without server_name', buildClientHello({ extensions: [[10, Buffer.from([0, 2, 0, 29])]] }), ok(null)],
    ['ALPN', buildClientHello({ sni: 'a.test.example', alpn: ['http/1.1'] }), ok('a.test.example', ['http/1.1'])],
    ['IPv4 literal', buildClientHello({ sni: '169.254.169.254' }), ok('169.254.169.254')],
    ['IPv6 literal', buildClientHello({ sni: '::1' }), ok('::1')],
    ['underscore label', buildClientHello({ sni: '_srv.test.example' }), ok('_srv.test.example')],
    ['253 characters', buildClientHello({ sni: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}` }), ok(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`)],
    ['NUL inside the name', buildClientHello({ sni: 'api.test.example\0.evil.net' }), 'malformed'],
    ['NUL at the end', buildClientHello({ sni: 'api.test.example\0' }), 'malformed'],
    ['space', buildClientHello({ sni: 'api test.example' }), 'malformed'],
    ['percent-encoding', buildClientHello({ sni: 'api%2etest.example' }), 'malformed'],
    ['slash', buildClientHello({ sni: 'api.test.example/x' }), 'malformed'],
    ['CR LF', buildClientHello({ sni: 'api.test.example\r\n' }), 'malformed'],
    ['UTF-8 U-label (not an A-label)', buildClientHello({ sni: Buffer.from('bücher.test.example', 'utf8') }), 'malformed'],
    ['empty name', buildClientHello({ sni: '' }), 'malformed'],
    ['255 characters', buildClientHello({ sni: 'a'.repeat(255) }), 'malformed'],
    ['name_type 1', buildClientHello({ serverNameData: serverNameData('api.test.example', 1) }), 'malformed'],
    ['two host_names', buildClientHello({ serverNameData: (() => {
      const e = (n: string) => Buffer.concat([Buffer.from([0, 0, n.length]), Buffer.from(n)])
      const l = Buffer.concat([e('api.test.example'), e('evil.example')])
      return Buffer.concat([Buffer.from([l.length >> 8, l.length & 0xff]), l])
    })() }), 'malformed'],
    ['empty server_name extension', buildClientHello({ serverNameData: Buffer.alloc(0) }), 'malformed'],
    ['list length longer than the extension', buildClientHello({ serverNameData: Buffer.from([0, 40, 0, 0, 3, 0x61, 0x62, 0x63]) }), 'malformed'],
    ['list length shorter than the extension', buildClientHello({ serverNameData: Buffer.from([0, 3, 0, 0, 3, 0x61, 0x62, 0x63]) }), 'malformed'],
    ['name length beyond the list', buildClientHello({ serverNameData: Buffer.from([0, 6, 0, 0xff, 0xff, 0x61, 0x62, 0x63]) }), 'malformed'],
    ['server_name twice', buildClientHello({ sni: 'api.test.example', extensions: [[0, serverNameData('evil.example')]] }), 'malformed'],
    ['any extension twice', buildClientHello({ sni: 'a.test.example', extensions: [[10, Buffer.from([0, 2, 0, 29])], [10, Buffer.from([0, 2, 0, 23])]] }), 'malformed'],
    ['empty ALPN name', buildClientHello({ extensions: [[16, Buffer.from([0, 3, 1, 0x61, 0])]] }), 'malformed'],
    ['ALPN list length mismatch', buildClientHello({ extensions: [[16, Buffer.from([0, 9, 2, 0x68, 0x32])]] }), 'malformed'],
    ['session id of 33 bytes', buildClientHello({ sni: 'a.test.example', sessionId: Buffer.alloc(33) }), 'malformed'],
  ]
  for (const [name, buf, want] of cases) {
    const r = parseClientHello(buf)
    if (want === 'malformed') t.equal(r.kind, 'malformed', `${name}: ${r.kind === 'malformed' ? r.reason : JSON.stringify(r)}`)
    else t.same(r, want, name)
  }
})

/** Offsets inside a one-record synthetic hello: record 0, handshake 5, body 9. */
function mutate(buf: Buffer, at: number, bytes: number[]): Buffer {
  const b = Buffer.from(buf)
  bytes.forEach((v, i) => (b[at + i] = v))
  return b
}

t.test('hostile lengths never read out of range', async (t) => {
  const base = buildClientHello({ sni: 'api.test.example', alpn: ['h2'] })
  const body = 9
  const afterSid = body + 2 + 32 + 1 + 32 // version, random, sid len, sid
  const cases: Array<[string, Buffer, string]> = [
    ['record length 0xffff', mutate(base, 3, [0xff, 0xff]), 'malformed'],
    ['record length 2^14 + 1', mutate(base, 3, [0x40, 0x01]), 'malformed'],
    ['record length 0', mutate(base, 3, [0, 0]), 'malformed'],
    ['record version 3.5', mutate(base, 2, [5]), 'malformed'],
    ['record version 2.0 (not TLS)', mutate(base, 1, [2]), 'not-tls'],
    ['handshake length 0xffffff', mutate(base, 6, [0xff, 0xff, 0xff]), 'malformed'],
    ['handshake length 16381 (over the cap)', mutate(base, 6, [0x00, 0x3f, 0xfd]), 'malformed'],
    ['handshake length shorter than the body', mutate(base, 6, [0, 0, 40]), 'malformed'],
    ['handshake type server_hello', mutate(base, 5, [2]), 'malformed'],
    ['legacy_version 0x0203', mutate(base, body, [2, 3]), 'malformed'],
    ['session id length 255', mutate(base, body + 34, [255]), 'malformed'],
    ['cipher suites length 0', mutate(base, afterSid, [0, 0]), 'malformed'],
    ['cipher suites length odd', mutate(base, afterSid, [0, 3]), 'malformed'],
    ['cipher suites length 0xfffe', mutate(base, afterSid, [0xff, 0xfe]), 'malformed'],
    ['compression methods length 0', mutate(base, afterSid + 6, [0]), 'malformed'],
    ['compression methods length 255', mutate(base, afterSid + 6, [255]), 'malformed'],
    ['extensions length 0xffff', mutate(base, afterSid + 8, [0xff, 0xff]), 'malformed'],
    ['extensions length 1 short', mutate(base, afterSid + 8, [base[afterSid + 8]!, base[afterSid + 9]! - 1]), 'malformed'],
    ['first extension length 0xffff', mutate(base, afterSid + 12, [0xff, 0xff]), 'malformed'],
    ['second record not handshake', Buffer.concat([frameRecords(buildHelloMessage({ sni: 'a.test.example' }), 50).subarray(0, 55), Buffer.from([23, 3, 3, 0, 10])]), 'malformed'],
  ]
  for (const [name, buf, want] of cases) {
    const r = parseClientHello(buf)
    t.equal(r.kind, want, `${name}${r.kind === 'malformed' ? `: ${r.reason}` : ''}`)
  }
  // Fragmenting into 1-byte records multiplies the size by 6: a big hello then exceeds the cap.
  const big = buildHelloMessage({ sni: 'a.test.example', extensions: [[21, Buffer.alloc(3000)]] })
  const shredded = frameRecords(big, 1)
  t.ok(shredded.length > MAX_CLIENT_HELLO_BYTES)
  t.equal(parseClientHello(shredded).kind, 'malformed', '1-byte records of a 3 kB hello exceed the cap')
  const firstNeed = readAsAsked(shredded)
  t.equal(firstNeed.result.kind, 'malformed', 'and a caller reading as asked is told so before the cap, not asked for more')
})

t.test('the largest hello that fits: 16384 handshake bytes in one record', async (t) => {
  const probe = buildHelloMessage({ sni: 'a.test.example', extensions: [[21, Buffer.alloc(0)]] })
  const pad = 16384 - probe.length
  const max = buildHelloMessage({ sni: 'a.test.example', extensions: [[21, Buffer.alloc(pad)]] })
  t.equal(max.length, 16384)
  const rec = frameRecords(max)
  t.equal(rec.length, MAX_CLIENT_HELLO_BYTES)
  t.same(parseClientHello(rec), { kind: 'client-hello', sni: 'a.test.example' })
  const over = frameRecords(buildHelloMessage({ sni: 'a.test.example', extensions: [[21, Buffer.alloc(pad + 1)]] }))
  t.equal(parseClientHello(over).kind, 'malformed', 'one byte more is refused')
  const prefix = parseClientHello(rec.subarray(0, 100))
  t.same(prefix, { kind: 'need-more', need: MAX_CLIENT_HELLO_BYTES }, 'need is capped at 16 KiB + record header')
})

t.test('not TLS, and SSLv2-compatible hellos', async (t) => {
  const sslv2 = Buffer.from('802e0103010015000000100000030000060000040300800700c0030080c0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7', 'hex')
  const cases: Array<[string, Buffer, ClientHelloResult]> = [
    ['HTTP request', Buffer.from('GET / HTTP/1.1\r\n'), { kind: 'not-tls' }],
    ['SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), { kind: 'not-tls' }],
    ['postgres startup', Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), { kind: 'not-tls' }],
    ['0x16 then not 3', Buffer.from([0x16, 0x01]), { kind: 'not-tls' }],
    ['empty', Buffer.alloc(0), { kind: 'need-more', need: 5 }],
    ['one byte 0x16', Buffer.from([0x16]), { kind: 'need-more', need: 5 }],
    ['SSLv2-compatible hello', sslv2, { kind: 'client-hello', sni: null, sslv2: true }],
    ['SSLv2 header, not a hello', Buffer.from([0x80, 0x2e, 0x02, 0x03, 0x01]), { kind: 'not-tls' }],
    ['SSLv2 header, bad version', Buffer.from([0x80, 0x2e, 0x01, 0x07, 0x01]), { kind: 'not-tls' }],
    ['SSLv2 prefix', Buffer.from([0x80, 0x2e]), { kind: 'need-more', need: 5 }],
    ['SSLv2 too short', Buffer.from([0x80, 0x03, 0x01, 0x03, 0x01]), { kind: 'malformed', reason: 'SSLv2-compatible hello of 3 bytes is too short' }],
  ]
  for (const [name, buf, want] of cases) t.same(parseClientHello(buf), want, name)
})

t.test('fuzz: 2000 truncated / mutated hellos never throw nor hang, and answer the same on any prefix', async (t) => {
  const rand = rng(0x5eed)
  const seeds = [real.sni, real.noSni, real.alpn12, frameRecords(real.sni.subarray(5), 37), buildClientHello({ sni: 'x.test.example', alpn: ['h2', 'http/1.1'] })]
  const counts: Record<string, number> = {}
  let bad = 0
  const started = performance.now()
  for (let i = 0; i < 2000; i++) {
    const src = seeds[i % seeds.length]!
    let b = Buffer.from(src)
    const op = i % 4
    if (op === 0) b = b.subarray(0, Math.floor(rand() * b.length))
    if (op === 1 || op === 3) {
      for (let k = 0, n = 1 + Math.floor(rand() * 8); k < n; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256)
    }
    if (op === 2 || op === 3) {
      // Overwrite a 16-bit or 24-bit field-sized window with an extreme length.
      const at = Math.floor(rand() * (b.length - 3))
      const v = [0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x40, 0x00][Math.floor(rand() * 8)]!
      b[at] = v
      b[at + 1] = rand() < 0.5 ? 0xff : 0
    }
    if (op === 3 && rand() < 0.5) b = b.subarray(0, Math.floor(rand() * b.length))
    let r: ClientHelloResult
    try {
      r = parseClientHello(b)
    } catch (e) {
      bad++
      t.fail(`variant ${i} threw: ${(e as Error).message}`)
      continue
    }
    counts[r.kind] = (counts[r.kind] ?? 0) + 1
    if (!KINDS.has(kindOf(r))) bad++
    if (r.kind === 'need-more' && (r.need <= b.length || r.need > MAX_CLIENT_HELLO_BYTES)) bad++
    if (r.kind === 'client-hello' && r.sni !== null && !/^[A-Za-z0-9._:-]+$/.test(r.sni)) bad++
    // Incremental consistency: a final answer on a prefix is the answer for the whole buffer.
    const cut = parseClientHello(b.subarray(0, Math.floor(rand() * (b.length + 1))))
    if (cut.kind !== 'need-more' && JSON.stringify(cut) !== JSON.stringify(r)) {
      bad++
      t.fail(`variant ${i}: prefix answered ${JSON.stringify(cut)}, whole buffer ${JSON.stringify(r)}`)
    }
    // The sniffer's view of a tunnel must agree and never throw either.
    const s = sniffTunnel(b)
    if (s !== 'need-more' && !['tls', 'http', 'other'].includes(s.kind)) bad++
  }
  const ms = performance.now() - started
  t.equal(bad, 0, `every variant answered within bounds (${JSON.stringify(counts)})`)
  t.ok(ms < 5000, `2000 variants in ${ms.toFixed(0)} ms`)
  t.ok((counts['malformed'] ?? 0) > 100 && (counts['need-more'] ?? 0) > 100, 'the fuzz reaches both malformed and need-more')
})

t.test('fuzz: random byte streams', async (t) => {
  const rand = rng(42)
  let bad = 0
  for (let i = 0; i < 500; i++) {
    const b = Buffer.alloc(Math.floor(rand() * 600))
    for (let k = 0; k < b.length; k++) b[k] = Math.floor(rand() * 256)
    if (i % 2 === 0 && b.length > 5) {
      b[0] = 0x16
      b[1] = 0x03
      b[2] = 0x01
    }
    try {
      const r = parseClientHello(b)
      if (r.kind === 'need-more' && (r.need <= b.length || r.need > MAX_CLIENT_HELLO_BYTES)) bad++
      const h = parseHttpHead(b)
      if (!HTTP_KINDS.has(kindOf(h))) bad++
      if (h.kind === 'need-more' && (h.need <= b.length || h.need > MAX_HTTP_HEAD_BYTES)) bad++
    } catch {
      bad++
    }
  }
  t.equal(bad, 0)
})

t.test('HTTP request heads (RFC 9112)', async (t) => {
  const req = (s: string) => Buffer.from(s, 'latin1')
  const ok = (host: string | null, extra: Partial<{ method: string; target: string; version: string }> = {}) => ({ host, ...extra })
  const cases: Array<[string, string, ReturnType<typeof ok> | string]> = [
    ['Host', 'GET / HTTP/1.1\r\nHost: api.test.example\r\n\r\n', ok('api.test.example', { method: 'GET', target: '/', version: '1.1' })],
    ['Host with port', 'GET / HTTP/1.1\r\nhost: api.test.example:8080\r\nAccept: */*\r\n\r\n', ok('api.test.example:8080')],
    ['IPv6 Host', 'GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n', ok('[::1]:80')],
    ['Host with OWS', 'GET / HTTP/1.1\r\nHost: \t api.test.example \t\r\n\r\n', ok('api.test.example')],
    ['no Host (HTTP/1.0)', 'GET / HTTP/1.0\r\n\r\n', ok(null, { version: '1.0' })],
    ['no Host (HTTP/1.1)', 'POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n', ok(null, { method: 'POST', target: '/x' })],
    ['empty Host', 'GET / HTTP/1.1\r\nHost:\r\n\r\n', ok(null)],
    ['absolute-form', 'GET http://api.test.example/a?b HTTP/1.1\r\nHost: api.test.example\r\n\r\n', ok('api.test.example', { target: 'http://api.test.example/a?b' })],
    ['leading empty line', '\r\nGET / HTTP/1.1\r\nHost: a.test.example\r\n\r\n', ok('a.test.example')],
    ['same Host twice', 'GET / HTTP/1.1\r\nHost: a.test.example\r\nHost: A.Test.Example\r\n\r\n', ok('a.test.example')],
    ['different Hosts', 'GET / HTTP/1.1\r\nHost: a.test.example\r\nHost: evil.example\r\n\r\n', 'malformed'],
    ['different Hosts, one empty', 'GET / HTTP/1.1\r\nHost:\r\nHost: evil.example\r\n\r\n', 'malformed'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : evil.example\r\n\r\n', 'malformed'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a.test.example\r\n evil.example\r\n\r\n', 'malformed'],
    ['bare LF in a header', 'GET / HTTP/1.1\r\nX: 1\nHost: evil.example\r\n\r\n', 'malformed'],
    ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'malformed'],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nX: a\rHost: evil\r\n\r\n', 'malformed'],
    ['NUL in Host', 'GET / HTTP/1.1\r\nHost: a.test.example\0.evil\r\n\r\n', 'malformed'],
    ['space inside Host', 'GET / HTTP/1.1\r\nHost: a.test.example evil.example\r\n\r\n', 'malformed'],
    ['non-ASCII Host', 'GET / HTTP/1.1\r\nHost: b\xfccher.example\r\n\r\n', 'malformed'],
    ['space in the target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 'malformed'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'not-http'],
    ['HTTP/3.0 line', 'GET / HTTP/3.0\r\n\r\n', 'not-http'],
    ['no version', 'GET /\r\n\r\n', 'not-http'],
    ['redis inline', 'PING\r\n', 'not-http'],
    ['SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n', 'not-http'],
    ['TLS record', '\x16\x03\x01\x00\x05', 'not-http'],
    ['leading space', ' GET / HTTP/1.1\r\n\r\n', 'not-http'],
    ['method of 33 chars', `${'A'.repeat(33)} / HTTP/1.1\r\n\r\n`, 'not-http'],
  ]
  for (const [name, text, want] of cases) {
    const r = parseHttpHead(req(text))
    if (typeof want === 'string') t.equal(r.kind, want, `${name}${r.kind === 'malformed' ? `: ${r.reason}` : ''}`)
    else t.match(r, { kind: 'request', ...want }, name)
  }
  const head = 'GET / HTTP/1.1\r\nHost: a.test.example\r\n\r\n'
  const withBody = parseHttpHead(req(head + 'BODY'))
  t.equal(withBody.kind === 'request' && withBody.headBytes, head.length, 'headBytes stops at CRLFCRLF')
})

t.test('HTTP heads: prefixes and the size cap', async (t) => {
  const head = Buffer.from('GET /path HTTP/1.1\r\nHost: api.test.example\r\nUser-Agent: t\r\n\r\n')
  const last = byteByByte(t, head, (b) => parseHttpHead(b), MAX_HTTP_HEAD_BYTES)
  t.match(last, { kind: 'request', host: 'api.test.example' })

  const big = (n: number) => Buffer.from(`GET / HTTP/1.1\r\nHost: a.test.example\r\nX-Pad: ${'a'.repeat(n)}\r\n\r\n`)
  const base = big(0).length
  t.equal(parseHttpHead(big(MAX_HTTP_HEAD_BYTES - base)).kind, 'request', 'a head of exactly 16 KiB is accepted')
  t.equal(parseHttpHead(big(MAX_HTTP_HEAD_BYTES - base + 1)).kind, 'malformed', 'one byte more is refused')
  const endless = Buffer.from(`GET / HTTP/1.1\r\nX-Pad: ${'a'.repeat(MAX_HTTP_HEAD_BYTES)}`)
  t.equal(parseHttpHead(endless).kind, 'malformed', 'no terminator within the cap → malformed, not need-more')
  t.equal(parseHttpHead(Buffer.from(`GET /${'a'.repeat(MAX_HTTP_HEAD_BYTES)}`)).kind, 'malformed', 'endless request line')
  t.equal(parseHttpHead(big(2000), 1024).kind, 'malformed', 'custom cap')
  t.match(parseHttpHead(big(500), 1024), { kind: 'request' }, 'custom cap, fits')
  const partial = parseHttpHead(Buffer.from('GET / HTTP/1.1\r\nHost: a'))
  t.same(partial, { kind: 'need-more', need: 24 })
})

t.test('fuzz: 2000 mutated HTTP heads', async (t) => {
  const rand = rng(7)
  const seed = Buffer.from('GET http://api.test.example/x HTTP/1.1\r\nHost: api.test.example\r\nAccept: */*\r\nHost: api.test.example\r\n\r\n')
  const alphabet = Buffer.from('\r\n :\t\0Hh\x7f\xff/aA')
  let bad = 0
  for (let i = 0; i < 2000; i++) {
    let b = Buffer.from(seed)
    for (let k = 0, n = 1 + Math.floor(rand() * 4); k < n; k++) b[Math.floor(rand() * b.length)] = alphabet[Math.floor(rand() * alphabet.length)]!
    if (rand() < 0.3) b = b.subarray(0, Math.floor(rand() * b.length))
    try {
      const r = parseHttpHead(b)
      if (!HTTP_KINDS.has(r.kind)) bad++
      if (r.kind === 'need-more' && r.need <= b.length) bad++
      const cut = parseHttpHead(b.subarray(0, Math.floor(rand() * (b.length + 1))))
      if (cut.kind !== 'need-more' && JSON.stringify(cut) !== JSON.stringify(r)) {
        bad++
        t.fail(`variant ${i}: prefix answered ${JSON.stringify(cut)}, whole buffer ${JSON.stringify(r)}`)
      }
      if (r.kind === 'request' && r.host !== null && !/^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]+$/.test(r.host)) bad++
    } catch {
      bad++
    }
  }
  t.equal(bad, 0)
})

t.test('sniffTunnel → TunnelContent for decideTunnelContent', async (t) => {
  t.equal(sniffTunnel(Buffer.alloc(0)), 'need-more')
  t.equal(sniffTunnel(real.sni.subarray(0, 40)), 'need-more')
  t.same(sniffTunnel(real.sni), { kind: 'tls', sni: 'api.test.example' })
  t.same(sniffTunnel(real.noSni), { kind: 'tls', sni: null })
  t.equal(sniffTunnel(Buffer.from('GET / HTTP/1.1\r\nHost: a')), 'need-more')
  t.same(sniffTunnel(Buffer.from('GET / HTTP/1.1\r\nHost: a.test.example\r\n\r\n')), { kind: 'http', host: 'a.test.example' })
  t.same(sniffTunnel(Buffer.from('SSH-2.0-x\r\n')), { kind: 'other' })
  t.same(sniffTunnel(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f])), { kind: 'other' })
  t.same(sniffTunnel(buildClientHello({ sni: 'a\0b' })), { kind: 'other' }, 'a malformed hello is opaque, never a TLS hello without a name')
  t.same(sniffTunnel(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')), { kind: 'other' }, 'conflicting Hosts are opaque')

  // With the decision functions: the SNI / Host must name the CONNECT host.
  const policy = compilePolicy('t', capabilitiesSchema.parse({ network: { egress: [{ host: 'api.test.example', port: 443, protocol: 'https' }, { host: 'plain.test.example', port: 80, protocol: 'http' }] } }))
  const state = { quarantined: false }
  const allowed = (host: string, port: number) => decideRequest({ host, port, protocol: 'tunnel', via: 'connect' }, policy, state) as Decision & { verdict: 'allow' }
  const judge = (host: string, port: number, bytes: Buffer) => {
    const c = sniffTunnel(bytes)
    if (c === 'need-more') return 'need-more'
    const d = decideTunnelContent(allowed(host, port), c)
    return d.verdict === 'allow' ? 'allow' : d.code
  }
  t.equal(judge('api.test.example', 443, real.sni), 'allow')
  t.equal(judge('API.test.example.', 443, real.upper), 'allow', 'case and trailing dot on both sides')
  t.equal(judge('api.test.example', 443, await captureClientHello({ servername: 'evil.example' })), 'sni_mismatch')
  t.equal(judge('api.test.example', 443, Buffer.from('GET / HTTP/1.1\r\nHost: api.test.example\r\n\r\n')), 'protocol_not_allowed')
  t.equal(judge('api.test.example', 443, buildClientHello({ sni: 'api.test.example\0evil' })), 'protocol_not_allowed', 'a NUL-smuggled SNI is not TLS we accept')
  t.equal(judge('plain.test.example', 80, Buffer.from('GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n')), 'host_mismatch')
  t.equal(judge('plain.test.example', 80, Buffer.from('GET / HTTP/1.1\r\nHost: plain.test.example:80\r\n\r\n')), 'allow')
})
