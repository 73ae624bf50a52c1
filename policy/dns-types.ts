/**
 * DNS record types as a configuration names them: the QTYPE table, presentation names and the
 * parser for `egress[].dns_types` (RFC 1035 §3.2.2, RFC 3597 §5 for `TYPE<n>`). Pure: the wire
 * encoder in egress/dns/wire.ts re-exports these for the forwarder.
 */
import { toString as packetTypeToString, toType as packetTypeToType } from 'dns-packet/types.js'

/** Record types the forwarder treats specially. */
export const QType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  DNSKEY: 48,
  SVCB: 64,
  HTTPS: 65,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
} as const

const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA',
  33: 'SRV', 35: 'NAPTR', 41: 'OPT', 43: 'DS', 46: 'RRSIG', 48: 'DNSKEY', 52: 'TLSA', 64: 'SVCB',
  65: 'HTTPS', 99: 'SPF', 251: 'IXFR', 252: 'AXFR', 255: 'ANY', 257: 'CAA', 10: 'NULL',
}

// A static import, so the bundle carries it (the sidecar image has no node_modules).
const packetTypes = { toString: packetTypeToString, toType: packetTypeToType }

/** The `type` string dns-packet gives records of a QTYPE when decoding (`TXT`, `UNKNOWN_65`). */
export function packetTypeName(qtype: number): string {
  return packetTypes.toString(qtype)
}

/** Types a configuration may not ask the forwarder to forward, and why. */
const UNFORWARDABLE: Readonly<Record<number, string>> = {
  [QType.ANY]: 'ANY is answered locally (RFC 8482) and never forwarded',
  [QType.AXFR]: 'zone transfers are not implemented (NOTIMP)',
  [QType.IXFR]: 'zone transfers are not implemented (NOTIMP)',
  [QType.MAILA]: 'MAILA is obsolete and answered NOTIMP',
  [QType.MAILB]: 'MAILB is obsolete and answered NOTIMP',
  [QType.OPT]: 'OPT is a pseudo-record, not a question type (RFC 6891)',
  [QType.HTTPS]: 'HTTPS records are answered without records: their address hints would bypass answer filtering and steering',
  [QType.SVCB]: 'SVCB records are answered without records: their address hints would bypass answer filtering and steering',
}

/**
 * Parses a record type named in a configuration: a mnemonic (`TXT`, `mx`, `SRV`; dns-packet's
 * list, case-insensitive) or the generic `TYPE<n>` form (RFC 3597 §5, n 1–65535).
 * @returns the QTYPE, or an error sentence for unknown types and types that are never forwarded
 */
export function parseDnsTypeName(name: string): { qtype: number } | { error: string } {
  const up = name.trim().toUpperCase()
  const generic = /^TYPE(\d{1,5})$/.exec(up)
  const known: Readonly<Record<string, number>> = { HTTPS: QType.HTTPS, SVCB: QType.SVCB, MAILA: QType.MAILA, MAILB: QType.MAILB }
  const qtype = generic ? Number(generic[1]) : (known[up] ?? packetTypes.toType(up))
  if (!Number.isInteger(qtype) || qtype < 1 || qtype > 65535) {
    return { error: `"${name}" is not a DNS record type; write a mnemonic such as TXT, MX or SRV, or TYPE<n> (RFC 3597)` }
  }
  const why = UNFORWARDABLE[qtype]
  if (why) return { error: `"${name}" cannot be forwarded: ${why}` }
  return { qtype }
}

/** Presentation name of a record type: `A`, `AAAA`, … or `TYPE1234` (RFC 3597 §5). */
export function typeName(qtype: number): string {
  return TYPE_NAMES[qtype] ?? `TYPE${qtype}`
}

