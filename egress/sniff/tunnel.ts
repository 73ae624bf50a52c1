/**
 * What a CONNECT tunnel carries, from its first bytes: a TLS ClientHello (egress/sniff/tls.ts), an
 * HTTP/1.x request head (egress/sniff/http.ts), or anything else. Pure, never throws.
 */
import type { TunnelContent } from '../../policy/egress.js'
import { MAX_HTTP_HEAD_BYTES, parseHttpHead } from './http.js'
import { parseClientHello } from './tls.js'

/** Result of {@link sniffTunnel}: what the tunnel carries, or `'need-more'` while the bytes are a valid prefix. */
export type TunnelSniff = TunnelContent | 'need-more'

const OTHER: TunnelContent = Object.freeze({ kind: 'other' as const })

/**
 * Classifies the first bytes of a CONNECT tunnel for `decideTunnelContent`
 * (policy/egress.ts): a TLS ClientHello gives `{kind: 'tls', sni}`, an HTTP/1.x request head
 * `{kind: 'http', host}`, anything else `{kind: 'other'}`.
 *
 * A malformed hello or head is `other`, never `tls`/`http` without a name: under an `http` or
 * `https` rule that is denied (`protocol_not_allowed`); under a `tcp`/`any` rule opaque bytes are
 * what the rule allows. So a hello we cannot parse never passes the SNI check by default.
 *
 * @param maxHttpHeadBytes cap of an HTTP head (default {@link MAX_HTTP_HEAD_BYTES}); a ClientHello is capped at `MAX_CLIENT_HELLO_BYTES` (egress/sniff/tls.ts)
 * @returns `'need-more'` while the first bytes are a valid prefix of either (the caller caps what it
 *   holds: both parsers answer `malformed`, hence `other`, beyond their caps); never throws
 */
export function sniffTunnel(buf: Buffer, maxHttpHeadBytes: number = MAX_HTTP_HEAD_BYTES): TunnelSniff {
  if (buf.length === 0) return 'need-more'
  const tls = parseClientHello(buf)
  switch (tls.kind) {
    case 'client-hello':
      return { kind: 'tls', sni: tls.sni }
    case 'need-more':
      return 'need-more'
    case 'malformed':
      return OTHER
    case 'not-tls':
      break
  }
  const http = parseHttpHead(buf, maxHttpHeadBytes)
  switch (http.kind) {
    case 'request':
      return { kind: 'http', host: http.host }
    case 'need-more':
      return 'need-more'
    default:
      return OTHER
  }
}
