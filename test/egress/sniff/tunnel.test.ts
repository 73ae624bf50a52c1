/**
 * egress/sniff/tunnel.ts: what a CONNECT tunnel carries, from real and synthetic first bytes, judged
 * with the egress decision functions; random byte streams through both sniffers.
 */
import t from 'tap'
import { decideRequest, decideTunnelContent } from '../../../policy/egress.js'
import { compilePolicy } from '../../../policy/egress-policy.js'
import type { Decision } from '../../../policy/egress-types.js'
import { capabilitiesSchema } from '../../../policy/capabilities.js'
import { MAX_HTTP_HEAD_BYTES, parseHttpHead } from '../../../egress/sniff/http.js'
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from '../../../egress/sniff/tls.js'
import { sniffTunnel } from '../../../egress/sniff/tunnel.js'
import { buildClientHello, captureClientHello } from '../../helpers/tls.js'
import { captureRealHellos, HTTP_KINDS, kindOf, rng, type RealHellos } from './helpers.js'

let real: RealHellos

t.before(async () => {
  real = await captureRealHellos()
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
