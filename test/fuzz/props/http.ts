/**
 * The HTTP/1.x request-head parser and the CONNECT target path (egress/sniff/http.ts parseHttpHead;
 * policy/host.ts splitHostPort and parseTarget; policy/ip.ts). Heads are built field by field
 * (RFC 9112 §2–§5) and must parse to exactly those fields; each request-smuggling flaw of the
 * class (bare LF, bare CR, obsolete folding, whitespace before the colon, control characters,
 * conflicting Host lines) injected anywhere makes the head `malformed`, never a request; CONNECT
 * authorities round-trip to the host and port they were built from; a host that parseTarget
 * accepts as a name is never a number the WHATWG URL parser (inet_aton rules) would make an IPv4
 * address; and any bytes never throw, keep `need` within the cap and finish in time.
 */
import { isIP } from 'node:net'
import { domainToASCII } from 'node:url'
import fc from 'fast-check'
import { parseIpLiteral } from '../../../policy/ip.js'
import { parseTarget, splitHostPort } from '../../../policy/host.js'
import { MAX_HTTP_HEAD_BYTES, parseHttpHead, type HttpHeadResult } from '../../../egress/sniff/http.js'
import { sniffTunnel } from '../../../egress/sniff/tunnel.js'
import { mutated, rawBytes, withinTime, type FuzzTarget } from '../lib/fuzz.js'

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".split('')
const token = (max: number) => fc.array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: max }).map((a) => a.join(''))
const VCHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
/** A field value: visible characters with inner spaces and tabs (RFC 9110 §5.5), no leading/trailing whitespace. */
const fieldValue = fc
  .array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...VCHARS) }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t') }), { maxLength: 60 })
  .map((a) => a.join('').trim())
const HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]".split('')
const hostValue = fc.oneof(
  fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,15}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}(:[0-9]{1,5})?$/),
  fc.array(fc.constantFrom(...HOST_CHARS), { minLength: 1, maxLength: 40 }).map((a) => a.join('')),
)
const target = fc.oneof(
  fc.stringMatching(/^\/[!-~]{0,60}$/),
  fc.stringMatching(/^http:\/\/[a-z0-9.-]{1,30}(:[0-9]{1,5})?\/[!-~]{0,30}$/),
  fc.constant('*'),
)

interface HeadSpec {
  method: string
  target: string
  version: '1.0' | '1.1'
  leadingCrlf: number
  fields: Array<[string, string]>
  /** Host value and how many identical (case-varied) Host lines carry it; null = no Host line. */
  host: { value: string; lines: number; at: number } | null
  body: Uint8Array
}

const headSpec: fc.Arbitrary<HeadSpec> = fc.record({
  method: fc.oneof(fc.constantFrom('GET', 'POST', 'CONNECT', 'OPTIONS', 'PROPFIND'), token(32)),
  target,
  version: fc.constantFrom('1.0' as const, '1.1' as const),
  leadingCrlf: fc.nat(2),
  fields: fc.array(fc.tuple(token(20).filter((n) => n.toLowerCase() !== 'host'), fieldValue), { maxLength: 10 }),
  host: fc.option(fc.record({ value: hostValue, lines: fc.integer({ min: 1, max: 3 }), at: fc.nat() }), { nil: null }),
  body: fc.uint8Array({ maxLength: 40 }),
})

function headLines(h: HeadSpec): string[] {
  const fields = h.fields.map(([n, v]) => `${n}: ${v}`)
  if (h.host) {
    for (let i = 0; i < h.host.lines; i++) {
      const v = i % 2 ? h.host.value.toUpperCase() : h.host.value
      fields.splice((h.host.at + i) % (fields.length + 1), 0, `${i === 1 ? 'HOST' : 'Host'}:  ${v} `)
    }
  }
  return fields
}

function encodeHead(h: HeadSpec, lines = headLines(h)): Buffer {
  const text = '\r\n'.repeat(h.leadingCrlf) + `${h.method} ${h.target} HTTP/${h.version}\r\n` + lines.map((l) => `${l}\r\n`).join('') + '\r\n'
  return Buffer.from(text, 'latin1')
}

function expectRequest(r: HttpHeadResult, h: HeadSpec, headBytes: number, lines = headLines(h)): void {
  // The first Host line's value, trimmed (later ones are the same up to case).
  const first = lines.find((l) => /^host:/i.test(l))
  const want = { kind: 'request', method: h.method, target: h.target, version: h.version, host: first ? first.slice(5).trim() : null, headBytes }
  if (JSON.stringify(r) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(r)}, want ${JSON.stringify(want)}`)
}

/** One request-smuggling flaw of the class, injected into header line `at` (or the request line). */
const FLAWS: ReadonlyArray<[string, (line: string) => string]> = [
  ['bare LF inside a line', (l) => `${l.slice(0, 1)}\n${l.slice(1)}`],
  ['bare CR inside a line', (l) => `${l.slice(0, 1)}\r${l.slice(1)}`],
  ['obsolete line folding', (l) => ` ${l}`],
  ['whitespace before the colon', (l) => l.replace(':', ' :')],
  ['a NUL in the value', (l) => `${l}\u0000x`],
  ['a DEL in the value', (l) => `${l}\u007fx`],
  ['a field line without a colon', (l) => l.replace(/:/g, '')],
]

const flawed = fc.record({ spec: headSpec, flaw: fc.nat(FLAWS.length - 1), at: fc.nat() }).filter(({ spec }) => headLines(spec).length > 0)

/** A CONNECT authority: a host of some kind and a port, and what splitHostPort + parseTarget must give. */
const authority = fc.oneof(
  // LDH names; an `xn--` label must be valid punycode (parseTarget checks it), so none is generated here.
  fc.record({ host: fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\.[a-zA-Z][a-zA-Z0-9-]{0,10}[a-zA-Z0-9]){1,3}$/).filter((h) => !/(^|\.)xn--/i.test(h)), port: fc.integer({ min: 1, max: 65535 }), kind: fc.constant('name' as const) }),
  fc.record({ host: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')), port: fc.integer({ min: 1, max: 65535 }), kind: fc.constant('v4' as const) }),
  fc.record({ host: fc.ipV6(), port: fc.integer({ min: 1, max: 65535 }), kind: fc.constant('v6' as const) }),
)

/** Numeric-looking host text: the inet_aton class (`127.1`, `0x7f.0.0.1`, `0177.1`, `2130706433`). */
const numericish = fc
  .array(fc.oneof(fc.nat(300).map(String), fc.nat(0xffff).map((n) => `0x${n.toString(16)}`), fc.nat(0o777).map((n) => `0${n.toString(8)}`), fc.nat(0xffffffff).map(String), fc.constantFrom('', 'a', '0x', 'xn--')), { minLength: 1, maxLength: 5 })
  .map((ps) => ps.join('.'))
const hostText = fc.oneof(numericish, fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }), hostValue, fc.ipV6(), fc.ipV4Extended())

const anyHeadBytes = fc.oneof(
  { weight: 3, arbitrary: mutated(headSpec.map((h) => encodeHead(h))) },
  { weight: 1, arbitrary: rawBytes(300, [Buffer.from('GET / HTTP/1.1\r\n'), Buffer.from('CONNECT '), Buffer.from('\r\n')]) },
)

/** Everything parseHttpHead promises about one input, for the default cap and a small one. */
function headInvariants(buf: Buffer): void {
  for (const max of [MAX_HTTP_HEAD_BYTES, 64]) {
    const r = withinTime(() => parseHttpHead(buf, max))
    if (r.kind === 'need-more' && !(r.need > buf.length && r.need <= max)) throw new Error(`need ${r.need} for ${buf.length} bytes (cap ${max})`)
    if (r.kind === 'request') {
      if (r.headBytes > Math.min(buf.length, max)) throw new Error(`headBytes ${r.headBytes} past the input or the cap`)
      if (r.host !== null && !/^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]+$/.test(r.host)) throw new Error(`host "${r.host}" outside uri-host`)
      // Leading empty lines are skipped (RFC 9112 §2.2); the head ends at the first CRLFCRLF after them.
      let start = 0
      while (buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2
      if (buf.subarray(0, r.headBytes).indexOf('\r\n\r\n', start) !== r.headBytes - 4) throw new Error('head does not end at its first CRLFCRLF')
    }
    if (r.kind !== 'need-more') {
      const more = parseHttpHead(Buffer.concat([buf, Buffer.from('X: y\r\n\r\n')]), max)
      if (JSON.stringify(more) !== JSON.stringify(r)) throw new Error(`${JSON.stringify(r)} became ${JSON.stringify(more)} with more bytes`)
    }
  }
  if (buf.length && buf[0] !== 0x16) {
    const s = sniffTunnel(buf)
    const r = parseHttpHead(buf)
    if (r.kind === 'request' && (s === 'need-more' || s.kind !== 'http' || s.host !== r.host)) throw new Error('sniffTunnel disagrees with parseHttpHead')
  }
}

/** Everything parseTarget promises about one host text. */
function targetInvariants(raw: string): void {
  const r = withinTime(() => parseTarget(raw))
  if (!r.ok) return
  const h = r.target.host
  if (r.target.kind === 'ip') {
    if (isIP(h) === 0 || parseIpLiteral(h)?.ip !== h) throw new Error(`ip "${h}" is not canonical`)
    return
  }
  if (h.length > 253 || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(h)) throw new Error(`name "${h}" is not lowercase LDH`)
  const again = parseTarget(h)
  if (!again.ok || again.target.host !== h) throw new Error(`not idempotent: "${h}" → ${JSON.stringify(again)}`)
  // A name is never an address to a WHATWG/inet_aton parser: it would reach a different host than the one checked.
  let whatwg = ''
  try {
    whatwg = new URL(`http://${h}/`).hostname
  } catch {
    return
  }
  if (isIP(whatwg) !== 0) throw new Error(`"${raw}" accepted as the name "${h}" but URL parses it as the address ${whatwg}`)
  if (domainToASCII(h) !== h && !h.includes('_')) throw new Error(`"${h}" is not its own ASCII form`)
}

export const httpTarget: FuzzTarget = {
  parser: 'http-head',
  source: 'egress/sniff/http.ts (parseHttpHead), policy/host.ts (splitHostPort, parseTarget), policy/ip.ts',
  properties: [
    {
      name: 'a head built field by field parses to exactly its method, target, version, Host and length; the body after it changes nothing',
      weight: 2,
      property: () =>
        fc.property(headSpec, (h) => {
          const head = encodeHead(h)
          expectRequest(parseHttpHead(Buffer.concat([head, h.body])), h, head.length)
          return true
        }),
    },
    {
      name: 'every proper prefix of a head asks for more, within the cap',
      property: () =>
        fc.property(headSpec, fc.nat(), (h, cut) => {
          const head = encodeHead(h)
          const n = cut % head.length
          const r = parseHttpHead(head.subarray(0, n))
          if (r.kind !== 'need-more' || r.need <= n || r.need > MAX_HTTP_HEAD_BYTES) throw new Error(`prefix ${n}/${head.length}: ${JSON.stringify(r)}`)
          return true
        }),
    },
    {
      name: 'each smuggling flaw (bare LF/CR, folding, space before colon, NUL/DEL, no colon) in any field line makes the head malformed; the unflawed head is a request',
      weight: 2,
      property: () =>
        fc.property(flawed, ({ spec, flaw, at }) => {
          const lines = headLines(spec)
          const i = at % lines.length
          expectRequest(parseHttpHead(encodeHead(spec, lines)), spec, encodeHead(spec, lines).length, lines)
          const bad = [...lines]
          bad[i] = FLAWS[flaw]![1](bad[i]!)
          const r = parseHttpHead(encodeHead(spec, bad))
          if (r.kind !== 'malformed') throw new Error(`${FLAWS[flaw]![0]} in line ${i}: ${JSON.stringify(r)}`)
          return true
        }),
    },
    {
      name: 'two Host lines with different values are malformed, with identical values (any case) the Host',
      property: () =>
        fc.property(headSpec, hostValue, hostValue, (h, a, b) => {
          const lines = [...headLines({ ...h, host: null }), `Host: ${a}`, `Host: ${b}`]
          const r = parseHttpHead(encodeHead(h, lines))
          if (a.toLowerCase() === b.toLowerCase()) return r.kind === 'request' && r.host === a
          return r.kind === 'malformed'
        }),
    },
    {
      name: 'CONNECT host:port round-trips through parseHttpHead, splitHostPort and parseTarget',
      weight: 2,
      property: () =>
        fc.property(authority, fc.boolean(), ({ host, port, kind }, upper) => {
          const text = kind === 'v6' ? `[${host}]:${port}` : `${upper ? host.toUpperCase() : host}:${port}`
          const r = parseHttpHead(Buffer.from(`CONNECT ${text} HTTP/1.1\r\nHost: ${text}\r\n\r\n`))
          if (r.kind !== 'request' || r.method !== 'CONNECT' || r.target !== text) throw new Error(JSON.stringify(r))
          const hp = splitHostPort(r.target, 0)
          if (!hp || hp.port !== port) throw new Error(`splitHostPort(${text}) = ${JSON.stringify(hp)}`)
          const t = parseTarget(hp.host)
          if (kind === 'name') return t.ok && t.target.kind === 'name' && t.target.host === host.toLowerCase()
          if (kind === 'v4') return t.ok && t.target.host === host
          return t.ok && t.target.kind === 'ip' && parseIpLiteral(host)?.ip === t.target.host
        }),
    },
    {
      name: 'a port outside 1–65535, or not 1–5 digits, is refused by splitHostPort',
      property: () =>
        fc.property(authority, fc.oneof(fc.constantFrom('0', '65536', '99999', '', '+80', '-1', '8O', '080000', ' 80'), fc.integer({ min: 65536 }).map(String)), ({ host, kind }, port) => {
          const text = kind === 'v6' ? `[${host}]:${port}` : `${host}:${port}`
          return splitHostPort(text, 0) === null
        }),
    },
    {
      name: 'any host text: parseTarget never throws; a name is lowercase LDH, idempotent, and never an address to the WHATWG URL parser',
      weight: 3,
      property: () => fc.property(hostText, (h) => (targetInvariants(h), true)),
    },
    {
      name: 'any bytes (raw, or a head mutated): no throw, need within the cap, a decision never changes with more bytes',
      weight: 6,
      property: () => fc.property(anyHeadBytes, (b) => (headInvariants(b), true)),
    },
  ],
}
