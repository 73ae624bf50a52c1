/**
 * egress/sniff/http.ts: HTTP/1.x request head sniffing (RFC 9112): Host rules, smuggling vectors,
 * byte-by-byte prefixes, the size cap, and seeded fuzzing.
 */
import t from 'tap'
import { MAX_HTTP_HEAD_BYTES, parseHttpHead } from '../../../egress/sniff/http.js'
import { byteByByte, HTTP_KINDS, rng } from './helpers.js'

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
