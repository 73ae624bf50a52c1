/**
 * What the export formats share: the severity scales of each target format, the signal's time as
 * epoch milliseconds, and the destination as a transport protocol and a request URL. Pure.
 */
import { isIP } from 'node:net'
import type { Severity, Signal, SignalDestination } from '../../../signals/types.js'

/** Vendor and product as every format names them (CEF/LEEF header, OCSF `metadata.product`). */
export const VENDOR = 'MCP Hangar'
export const PRODUCT = 'mcp-hangar'

/**
 * Signal severity → CEF/LEEF severity (0–10). ArcSight reads 0–3 as Low, 4–6 Medium, 7–8 High,
 * 9–10 Very-High; the numbers are distinct so a receiver can map them back.
 */
export const CEF_SEVERITY: Readonly<Record<Severity, number>> = Object.freeze({ info: 1, low: 3, medium: 5, high: 8, critical: 10 })

/** Signal severity → RFC 5424 §6.2.1 severity: 6 Informational, 5 Notice, 4 Warning, 3 Error, 2 Critical. */
export const SYSLOG_SEVERITY: Readonly<Record<Severity, number>> = Object.freeze({ info: 6, low: 5, medium: 4, high: 3, critical: 2 })

/** Signal severity → OCSF `severity_id`: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical. */
export const OCSF_SEVERITY: Readonly<Record<Severity, number>> = Object.freeze({ info: 1, low: 2, medium: 3, high: 4, critical: 5 })

/**
 * The number a severity scale gives a signal's severity.
 * @throws Error `severity: expected info|low|medium|high|critical, got "<value>"` for a value outside the scale.
 */
export function severityOn(scale: Readonly<Record<Severity, number>>, severity: string): number {
  const n = (scale as Record<string, number | undefined>)[severity]
  if (n === undefined) throw new Error(`severity: expected info|low|medium|high|critical, got ${JSON.stringify(severity)}`)
  return n
}

/**
 * The signal's `time` (RFC 3339) as milliseconds since the Unix epoch.
 * @throws Error `time: expected an RFC 3339 timestamp, got "<value>"` when it does not parse.
 */
export function epochMs(signal: Pick<Signal, 'time'>): number {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(signal.time) ? Date.parse(signal.time) : NaN
  if (!Number.isFinite(ms)) throw new Error(`time: expected an RFC 3339 timestamp, got ${JSON.stringify(signal.time)}`)
  return ms
}

/** The transport under a destination protocol: `TCP` for http, https and tcp, `UDP` for udp and dns. */
export function transportOf(protocol: SignalDestination['protocol']): 'TCP' | 'UDP' {
  return protocol === 'udp' || protocol === 'dns' ? 'UDP' : 'TCP'
}

/**
 * The URL an http/https destination with a host names (`https://api.example.com`, `http://[::1]:8080`;
 * the port only when it is not the scheme's default), or undefined for other destinations.
 */
export function requestUrl(d: SignalDestination | undefined): string | undefined {
  if (!d?.host || (d.protocol !== 'http' && d.protocol !== 'https')) return undefined
  const host = isIP(d.host) === 6 ? `[${d.host}]` : d.host
  const dflt = d.protocol === 'https' ? 443 : 80
  return `${d.protocol}://${host}${d.port !== undefined && d.port !== dflt ? `:${d.port}` : ''}`
}

/** The signal type as words (`egress_denied` → `egress denied`): the CEF `Name`. */
export function typeName(type: string): string {
  return type.replace(/_/g, ' ')
}
