/**
 * egress/sniff/tls.ts: ClientHello sniffing over real node:tls hellos, synthetic hellos with hostile
 * fields, byte-by-byte and record-by-record splits, and seeded fuzzing.
 */
import t from 'tap'
import { parseTarget } from '../../../policy/host.js'
import { MAX_CLIENT_HELLO_BYTES, parseClientHello, type ClientHelloResult } from '../../../egress/sniff/tls.js'
import { sniffTunnel } from '../../../egress/sniff/tunnel.js'
import { buildClientHello, buildHelloMessage, frameRecords, serverNameData } from '../../helpers/tls.js'
import { byteByByte, captureRealHellos, KINDS, kindOf, rng, type RealHellos } from './helpers.js'


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

let real: RealHellos

t.before(async () => {
  real = await captureRealHellos()
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
