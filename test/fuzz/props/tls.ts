/**
 * The TLS ClientHello / SNI sniffer (egress/sniff/tls.ts parseClientHello, egress/sniff/tunnel.ts sniffTunnel). Hellos are
 * built field by field (RFC 8446 §4.1.2; server_name RFC 6066 §3; ALPN RFC 7301 §3.1) and cut
 * into any number of records, and real hellos are captured from Node's TLS stack over loopback.
 * Properties: the exact SNI and ALPN come out, at any fragmentation; every prefix asks for more
 * within the cap; a decision never changes with more bytes; and for any bytes (raw, or a hello
 * mutated) nothing throws, `need` is within bounds, and a name is returned only when the
 * reassembled handshake really carries it as a server_name entry.
 */
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { connect } from 'node:tls'
import fc from 'fast-check'
import { MAX_CLIENT_HELLO_BYTES, parseClientHello, type ClientHelloResult } from '../../../egress/sniff/tls.js'
import { sniffTunnel } from '../../../egress/sniff/tunnel.js'
import { chunk, mutated, rawBytes, splits, withinTime, type FuzzTarget } from '../lib/fuzz.js'

interface HelloSpec {
  version: number
  sessionId: Uint8Array
  ciphers: number
  compression: Uint8Array
  /** Extensions other than server_name and ALPN (distinct types). */
  others: Array<{ type: number; data: Uint8Array }>
  sni: string | null
  alpn: string[] | null
  /** Where in the extension list server_name and ALPN go. */
  sniAt: number
  alpnAt: number
  /** No extensions block at all (a pre-TLS-1.2 hello). */
  bare: boolean
}

const SNI_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:'.split('')
const sniName = fc.oneof(
  fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,4}\.?$/),
  fc.array(fc.constantFrom(...SNI_CHARS), { minLength: 1, maxLength: 254 }).map((a) => a.join('')),
)
const alpnList = fc.array(fc.oneof(fc.constantFrom('h2', 'http/1.1', 'acme-tls/1'), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 20 })), { minLength: 1, maxLength: 5 })

const helloSpec: fc.Arbitrary<HelloSpec> = fc.record({
  version: fc.constantFrom(0x0301, 0x0302, 0x0303),
  sessionId: fc.uint8Array({ maxLength: 32 }),
  ciphers: fc.integer({ min: 1, max: 60 }),
  compression: fc.uint8Array({ minLength: 1, maxLength: 3 }),
  others: fc.uniqueArray(fc.record({ type: fc.integer({ min: 1, max: 0xffff }).filter((t) => t !== 16), data: fc.uint8Array({ maxLength: 48 }) }), { selector: (e) => e.type, maxLength: 8 }),
  sni: fc.option(sniName, { nil: null }),
  alpn: fc.option(alpnList, { nil: null }),
  sniAt: fc.nat(9),
  alpnAt: fc.nat(9),
  bare: fc.boolean(),
}).map((h) => (h.bare ? { ...h, sni: null, alpn: null, others: [] } : h))

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function sniExtension(name: string): Buffer {
  const entry = Buffer.concat([Buffer.from([0]), u16(name.length), Buffer.from(name, 'latin1')])
  return Buffer.concat([u16(entry.length), entry])
}

function alpnExtension(list: readonly string[]): Buffer {
  const body = Buffer.concat(list.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])))
  return Buffer.concat([u16(body.length), body])
}

/** The handshake message (type, 24-bit length, body) of a hello. */
function handshake(h: HelloSpec): Buffer {
  const exts: Array<{ type: number; data: Buffer }> = h.others.map((e) => ({ type: e.type, data: Buffer.from(e.data) }))
  if (h.sni !== null) exts.splice(h.sniAt % (exts.length + 1), 0, { type: 0, data: sniExtension(h.sni) })
  if (h.alpn !== null) exts.splice(h.alpnAt % (exts.length + 1), 0, { type: 16, data: alpnExtension(h.alpn) })
  const extBytes = Buffer.concat(exts.map((e) => Buffer.concat([u16(e.type), u16(e.data.length), e.data])))
  const ciphers = Buffer.alloc(h.ciphers * 2, 0x13)
  const body = Buffer.concat([
    u16(h.version),
    Buffer.alloc(32, 7),
    Buffer.from([h.sessionId.length]),
    Buffer.from(h.sessionId),
    u16(ciphers.length),
    ciphers,
    Buffer.from([h.compression.length]),
    Buffer.from(h.compression),
    ...(h.bare ? [] : [u16(extBytes.length), extBytes]),
  ])
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body])
}

/** The handshake cut into records at `cuts` (each record non-empty). */
function records(hs: Buffer, cuts: readonly number[], minor = 1): Buffer {
  return Buffer.concat(chunk(hs, cuts).map((f) => Buffer.concat([Buffer.from([22, 3, minor]), u16(f.length), f])))
}

const builtHello = helloSpec.chain((h) => {
  const hs = handshake(h)
  return fc.record({ spec: fc.constant(h), cuts: splits(hs.length, 4), minor: fc.constantFrom(1, 3) }).map(({ spec, cuts, minor }) => ({ spec, bytes: records(hs, cuts, minor) }))
}).filter(({ bytes }) => bytes.length <= MAX_CLIENT_HELLO_BYTES)

/** Real ClientHellos, captured from Node's TLS client over loopback by {@link captureHellos}. */
const real: Array<{ bytes: Buffer; sni: string | null; alpn: string[] | null }> = []

/** Captures ClientHellos Node's TLS stack sends (several server names and ALPN lists) on 127.0.0.1. */
export async function captureHellos(): Promise<void> {
  if (real.length) return
  const names = ['example.com', 'api.github.com', 'A.Very-Long.Name.with.Many.Labels.example.org', 'xn--bcher-kva.example', null]
  const alpns = [null, ['h2', 'http/1.1'], ['acme-tls/1']]
  const server = createServer((s) => {
    s.once('data', (d: Buffer) => {
      pending.shift()?.(d)
      s.destroy()
    })
  })
  const pending: Array<(b: Buffer) => void> = []
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  try {
    for (const sni of names) {
      for (const alpn of alpns) {
        const got = new Promise<Buffer>((resolve) => pending.push(resolve))
        const c = connect({ host: '127.0.0.1', port, ...(sni !== null && { servername: sni }), ...(alpn && { ALPNProtocols: alpn }), rejectUnauthorized: false })
        c.on('error', () => {})
        const bytes = await got
        c.destroy()
        real.push({ bytes, sni, alpn })
      }
    }
  } finally {
    server.close()
  }
}

const realHello = fc.constant(null).chain(() => fc.constantFrom(...real))
const anyHelloBytes = fc.oneof(
  { weight: 3, arbitrary: mutated(builtHello.map((h) => h.bytes)) },
  { weight: 2, arbitrary: mutated(realHello.map((h) => h.bytes)) },
  { weight: 1, arbitrary: rawBytes(400, [Buffer.from([22, 3, 1]), Buffer.from([22, 3, 3, 0, 0x40, 1, 0, 0, 0x3c, 3, 3]), Buffer.from([0x80, 0x2e, 1, 3, 1])]) },
)

function expectHello(r: ClientHelloResult, sni: string | null, alpn: readonly string[] | null): void {
  if (r.kind !== 'client-hello') throw new Error(`got ${JSON.stringify(r)}`)
  if (r.sni !== sni) throw new Error(`sni ${JSON.stringify(r.sni)}, want ${JSON.stringify(sni)}`)
  if (JSON.stringify(r.alpn ?? null) !== JSON.stringify(alpn)) throw new Error(`alpn ${JSON.stringify(r.alpn)}, want ${JSON.stringify(alpn)}`)
}

/** The handshake bytes of every leading handshake record, an independent reassembly for the oracle. */
function reassemble(buf: Buffer): Buffer {
  const parts: Buffer[] = []
  let off = 0
  while (off + 5 <= buf.length && buf[off] === 22) {
    const len = buf.readUInt16BE(off + 3)
    parts.push(buf.subarray(off + 5, Math.min(buf.length, off + 5 + len)))
    off += 5 + len
  }
  return Buffer.concat(parts)
}

/** Everything the sniffer promises about one input, whatever the bytes. */
function sniffInvariants(buf: Buffer): void {
  const r = withinTime(() => parseClientHello(buf))
  switch (r.kind) {
    case 'need-more':
      if (!(r.need > buf.length && r.need <= MAX_CLIENT_HELLO_BYTES)) throw new Error(`need ${r.need} for ${buf.length} bytes`)
      break
    case 'client-hello': {
      if (r.sni !== null) {
        if (r.sslv2) throw new Error('an SSLv2 hello with a name')
        if (!/^[A-Za-z0-9._:-]{1,254}$/.test(r.sni)) throw new Error(`sni "${r.sni}" outside the host-name bytes`)
        // A name only when one is there: a host_name entry (type 0, its length, the name) in the handshake.
        const entry = Buffer.concat([Buffer.from([0]), u16(r.sni.length), Buffer.from(r.sni, 'latin1')])
        if (!reassemble(buf).includes(entry)) throw new Error(`sni "${r.sni}" is not a server_name entry of the input`)
      }
      const hs = reassemble(buf)
      for (const p of r.alpn ?? []) if (!hs.includes(Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')]))) throw new Error(`alpn "${p}" not in the input`)
      break
    }
    case 'malformed':
      if (typeof r.reason !== 'string' || r.reason.length > 300) throw new Error('reason missing or unbounded')
      break
    case 'not-tls':
      break
    default:
      throw new Error(`unknown kind ${JSON.stringify(r)}`)
  }
  // A decision never changes when more bytes arrive.
  if (r.kind !== 'need-more') {
    const more = parseClientHello(Buffer.concat([buf, Buffer.from([22, 3, 1, 0, 5, 1, 0, 0, 1, 0])]))
    if (JSON.stringify(more) !== JSON.stringify(r)) throw new Error(`${JSON.stringify(r)} became ${JSON.stringify(more)} with more bytes`)
  }
  const s = sniffTunnel(buf)
  if (r.kind === 'client-hello' && (s === 'need-more' || s.kind !== 'tls' || s.sni !== r.sni)) throw new Error('sniffTunnel disagrees with parseClientHello')
  if (r.kind === 'malformed' && (s === 'need-more' || s.kind !== 'other')) throw new Error('a malformed hello must sniff as other')
}

export const tlsTarget: FuzzTarget = {
  parser: 'tls-sni',
  source: 'egress/sniff/tls.ts (parseClientHello), egress/sniff/tunnel.ts (sniffTunnel)',
  prepare: captureHellos,
  properties: [
    {
      name: 'a hello built field by field, in any number of records, gives exactly its SNI and ALPN',
      weight: 2,
      property: () =>
        fc.property(builtHello, ({ spec, bytes }) => {
          expectHello(parseClientHello(bytes), spec.sni, spec.alpn)
          const s = sniffTunnel(bytes)
          return s !== 'need-more' && s.kind === 'tls' && s.sni === spec.sni
        }),
    },
    {
      name: 'real hellos from Node\'s TLS client give exactly their SNI and ALPN',
      weight: 1,
      property: () => fc.property(realHello, (h) => (expectHello(parseClientHello(h.bytes), h.sni, h.alpn), true)),
    },
    {
      name: 'every proper prefix of a hello asks for more, never more than the hello, and trailing bytes change nothing',
      weight: 2,
      property: () =>
        fc.property(fc.oneof(builtHello.map((h) => h.bytes), realHello.map((h) => h.bytes)), fc.nat(), fc.uint8Array({ maxLength: 64 }), (bytes, cut, extra) => {
          const p = parseClientHello(bytes.subarray(0, cut % bytes.length))
          if (p.kind !== 'need-more' || p.need > bytes.length) throw new Error(`prefix of ${cut % bytes.length}/${bytes.length}: ${JSON.stringify(p)}`)
          return JSON.stringify(parseClientHello(Buffer.concat([bytes, extra]))) === JSON.stringify(parseClientHello(bytes))
        }),
    },
    {
      name: 'any bytes (raw, a built or a real hello mutated): no throw, need within the cap, a name only when the input carries it',
      weight: 6,
      property: () => fc.property(anyHelloBytes, (b) => (sniffInvariants(b), true)),
    },
  ],
}
