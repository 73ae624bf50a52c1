/**
 * Shared by the sniffer tests under test/egress/sniff/: a seeded PRNG, the prefix check, and real
 * ClientHellos captured from node:tls.
 */
import type { HttpHeadResult } from '../../../egress/sniff/http.js'
import type { ClientHelloResult } from '../../../egress/sniff/tls.js'
import { captureClientHello } from '../../helpers/tls.js'

/** Deterministic PRNG (mulberry32) so a failing fuzz case can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

export const KINDS = new Set(['need-more', 'not-tls', 'malformed', 'client-hello'])
export const HTTP_KINDS = new Set(['need-more', 'not-http', 'malformed', 'request'])

export function kindOf(r: ClientHelloResult | HttpHeadResult): string {
  return r.kind
}

/** Feeds `full` one byte at a time; every proper prefix must ask for more, within bounds. */
export function byteByByte(t: { equal(found: unknown, wanted: unknown, msg: string): unknown }, full: Buffer, parse: (b: Buffer) => ClientHelloResult | HttpHeadResult, cap: number): ClientHelloResult | HttpHeadResult {
  let bad = 0
  for (let n = 0; n < full.length; n++) {
    const r = parse(full.subarray(0, n))
    if (r.kind !== 'need-more' || r.need <= n || r.need > cap || r.need > full.length) bad++
  }
  t.equal(bad, 0, `all ${full.length} proper prefixes answer need-more with n < need ≤ full length`)
  return parse(full)
}

/** Real ClientHellos from node:tls, one per kind of server name. */
export interface RealHellos { sni: Buffer; noSni: Buffer; idn: Buffer; upper: Buffer; alpn12: Buffer; ip: Buffer }

/** Captures {@link RealHellos} (a loopback TLS handshake each). */
export async function captureRealHellos(): Promise<RealHellos> {
  process.removeAllListeners('warning') // DEP0123: node:tls warns when the servername is an IP (that is the point)
  return {
    sni: await captureClientHello({ servername: 'api.test.example' }),
    noSni: await captureClientHello({}),
    idn: await captureClientHello({ servername: 'xn--bcher-kva.test.example' }),
    upper: await captureClientHello({ servername: 'API.Test.Example.' }),
    alpn12: await captureClientHello({ servername: 'api.test.example', ALPNProtocols: ['h2', 'http/1.1'], maxVersion: 'TLSv1.2' }),
    ip: await captureClientHello({ servername: '10.0.0.1' }),
  }
}
