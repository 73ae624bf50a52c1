/**
 * Host normalisation (docs/egress.md §Names and IP literals; smokescreen's rules): lowercase, strip one trailing dot,
 * IDNA → punycode (UTS #46 via `url.domainToASCII`), then a strict LDH check. IP literals are
 * parsed strictly (ip.ts). Anything else is malformed and denied, never handed to a resolver:
 * in particular the inet_aton forms `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1` (which the
 * WHATWG host parser would turn into 127.0.0.1) and percent-encoded names.
 */
import { domainToASCII } from 'node:url'
import { parseIpLiteral } from './ip.js'
import type { Target } from './egress-types.js'

/** Result of {@link parseTarget}: a target, or the reason the input is malformed. */
export type ParsedTarget = { ok: true; target: Target } | { ok: false; reason: string }

// Printable ASCII that may appear in a host name before IDNA, plus any non-ASCII (IDN) code point.
const RAW_OK = /^[A-Za-z0-9._\-\u0080-\uffff]+$/
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/
// A last label of digits only, or 0x-hex, makes inet_aton treat the whole name as an address.
const NUMERIC_LAST_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i

/**
 * Normalises a raw host (from CONNECT, an absolute URI, Host, SNI or a DNS question).
 * @returns `{ok: true, target}` with the canonical name or IP; `{ok: false, reason}` when malformed.
 */
export function parseTarget(raw: string): ParsedTarget {
  if (raw.length === 0) return { ok: false, reason: 'empty host' }
  if (raw.length > 300) return { ok: false, reason: 'host longer than 253 characters' }
  const ip = parseIpLiteral(raw)
  if (ip) return { ok: true, target: { kind: 'ip', host: ip.ip, address: ip } }
  if (raw.startsWith('[')) return { ok: false, reason: `"${raw}" is not a valid IPv6 literal` }
  let s = raw
  const strippedDot = s.endsWith('.')
  if (strippedDot) s = s.slice(0, -1)
  if (!RAW_OK.test(s)) return { ok: false, reason: `"${raw}" contains characters not allowed in a host name` }
  if (NUMERIC_LAST_LABEL.test(lastLabel(s))) {
    return { ok: false, reason: `"${raw}" is not a canonical IP address nor a host name (numeric last label)` }
  }
  let ascii = s
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(s)) {
    ascii = domainToASCII(s.toLowerCase())
    if (ascii === '') return { ok: false, reason: `"${raw}" is not a valid internationalised domain name` }
    // A full stop that IDNA maps to "." (U+3002, U+FF0E, U+FF61) counts as the one trailing dot.
    if (ascii.endsWith('.')) {
      if (strippedDot) return { ok: false, reason: `"${raw}" ends in more than one dot` }
      ascii = ascii.slice(0, -1)
    }
    if (parseIpLiteral(ascii) || NUMERIC_LAST_LABEL.test(lastLabel(ascii))) {
      return { ok: false, reason: `"${raw}" maps to a numeric address under IDNA` }
    }
  } else {
    ascii = s.toLowerCase()
    // An A-label must be valid punycode of a valid U-label (UTS #46 round trip).
    if (ascii.includes('xn--') && domainToASCII(ascii) !== ascii) {
      return { ok: false, reason: `"${raw}" has an invalid punycode (xn--) label` }
    }
  }
  if (ascii.length > 253) return { ok: false, reason: 'host longer than 253 characters' }
  for (const label of ascii.split('.')) {
    if (!LABEL.test(label)) return { ok: false, reason: `"${raw}" has an invalid label "${label}"` }
  }
  return { ok: true, target: { kind: 'name', host: ascii } }
}

function lastLabel(s: string): string {
  const i = s.lastIndexOf('.')
  return i === -1 ? s : s.slice(i + 1)
}

/**
 * Splits `host[:port]` / `[v6]:port` authority text. Returns null when the port is not 1–65535.
 * `defaultPort` applies when no port is present.
 */
export function splitHostPort(authority: string, defaultPort: number): { host: string; port: number } | null {
  let host = authority
  let portText: string | undefined
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']')
    if (end === -1) return null
    host = authority.slice(1, end)
    const rest = authority.slice(end + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return null
      portText = rest.slice(1)
    }
  } else {
    const colon = authority.lastIndexOf(':')
    if (colon !== -1) {
      if (authority.indexOf(':') !== colon) return null // bare IPv6 without brackets
      host = authority.slice(0, colon)
      portText = authority.slice(colon + 1)
    }
  }
  let port = defaultPort
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return null
    port = Number(portText)
  }
  if (port < 1 || port > 65535 || host === '') return null
  return { host, port }
}
