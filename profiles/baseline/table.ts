/**
 * `mcp-hangar baseline show`: a `hangar.baseline/v1` document (policy/baseline-schema.ts) as
 * readable fixed-width tables. Pure: text in, text out. Also the small formatters the profile
 * suggestion's evidence comments share (profiles/suggest.ts): byte sizes, time windows, counts.
 */
import type { Baseline, EgressRecord } from '../../policy/baseline-schema.js'

/** `0 B`, `512 B`, `3.2 KiB`, `120 KiB`, `4.0 MiB` (binary units; one decimal below 100). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`
}

/** RFC 3339 time without milliseconds: `2026-11-22T10:00:01Z`. A string that is no time is returned as is. */
export function formatTime(iso: string): string {
  const ms = Date.parse(iso)
  return Number.isNaN(ms) ? iso : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * `first … last`, the last shortened to its time of day when both fall on the same UTC day:
 * `2026-11-22T10:00:01Z … 10:04:55Z`; one time when they are equal.
 */
export function formatWindow(first: string, last: string): string {
  const a = formatTime(first)
  const b = formatTime(last)
  if (a === b) return a
  return a.slice(0, 10) === b.slice(0, 10) && b.length === 20 ? `${a} … ${b.slice(11)}` : `${a} … ${b}`
}

/** `{a: 2, b: 1}` → `a:2 b:1`, keys sorted; `-` when empty. */
export function formatCounts(r: Readonly<Record<string, number>> | undefined): string {
  const keys = Object.keys(r ?? {}).sort()
  return keys.length ? keys.map((k) => `${k}:${r![k]}`).join(' ') : '-'
}

/** Control characters (and line separators) shown as `\uXXXX`, so a name sent by a provider cannot break a line. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** `host:port` or `ip:port` (`[v6]:port`) of an egress record. */
export function destinationOf(r: Pick<EgressRecord, 'host' | 'ip' | 'port'>): string {
  const where = r.host ?? r.ip ?? '?'
  return `${where.includes(':') ? `[${where}]` : where}:${r.port}`
}

/** `tunnel/tls`, `tunnel/tls+http` (what the CONNECT tunnels carried), or the protocol itself. */
export function protocolOf(r: Pick<EgressRecord, 'protocol' | 'content'>): string {
  if (r.protocol !== 'tunnel' || !r.content) return r.protocol
  const kinds = Object.keys(r.content).filter((k) => (r.content![k] ?? 0) > 0).sort(contentOrder)
  return kinds.length ? `tunnel/${kinds.join('+')}` : 'tunnel'
}

const CONTENT_ORDER = ['tls', 'http', 'other']
function contentOrder(a: string, b: string): number {
  return (CONTENT_ORDER.indexOf(a) + 1 || 99) - (CONTENT_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b)
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

/** Fixed-width columns, two spaces apart; the last column is not padded. `(none)` for no rows. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  if (rows.length === 0) return ['(none)']
  const all = [header, ...rows]
  const width = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd())
}

const MAX_ADDRESSES_SHOWN = 3
const MAX_ARG_KEYS_WIDTH = 60

function addressesOf(r: EgressRecord): string {
  if (r.addresses.length === 0) return '-'
  const shown = r.addresses.slice(0, MAX_ADDRESSES_SHOWN).map((a) => (a.class === 'global' ? a.ip : `${a.ip} (${a.class})`))
  const more = r.addresses.length - shown.length
  return shown.join(', ') + (more > 0 ? ` +${more}` : '')
}

/** `dropped: none` or the three counts. */
function droppedText(b: Baseline): string {
  const d = b.dropped
  if (d.destinations + d.dns_names + d.tools === 0) return 'none'
  return `${d.destinations} destinations, ${d.dns_names} DNS names, ${d.tools} tools did not fit the limits (the baseline is incomplete)`
}

/** `calls/minute over 12 active minutes: min 1, median 2, p95 5, max 9`, or `no calls`. */
export function formatCallRate(b: Baseline): string {
  const r = b.call_rate
  if (r.active_minutes === 0) return 'no calls'
  return `calls/minute over ${r.active_minutes} active minute${r.active_minutes === 1 ? '' : 's'}: min ${r.min}, median ${r.median}, p95 ${r.p95}, max ${r.max}`
}

/**
 * The whole baseline as text: a header (provider, window, events, mode, dropped), then the
 * EGRESS, DNS and TOOLS tables (rows sorted by destination, name, tool) and a CALL RATE line.
 * An empty section prints `(none)`. BLOCKED counts `blocked` and `quarantined` attempts.
 * Ends with a newline.
 */
export function formatBaselineTable(b: Baseline): string {
  const lines: string[] = [
    `PROVIDER   ${b.provider}`,
    `WINDOW     ${formatWindow(b.started, b.updated)}`,
    `EVENTS     ${b.events} (revision ${b.revision})`,
    `MODE       ${b.enforcement_mode}`,
    `DROPPED    ${droppedText(b)}`,
    '',
  ]
  const egress = [...b.egress].sort((x, y) => destinationOf(x).localeCompare(destinationOf(y)) || x.port - y.port || x.protocol.localeCompare(y.protocol))
  lines.push(`EGRESS (${b.egress.length})`)
  lines.push(...formatTable(
    ['DESTINATION', 'PROTO', 'VIA', 'COUNT', 'ALLOWED/ALERTED/BLOCKED', 'BYTES UP/DOWN', 'ADDRESSES', 'LAST SEEN'],
    egress.map((r) => [
      destinationOf(r),
      protocolOf(r),
      Object.keys(r.via).sort().join(',') || '-',
      String(r.count),
      `${r.actions.allowed ?? 0}/${r.actions.alerted ?? 0}/${(r.actions.blocked ?? 0) + (r.actions.quarantined ?? 0)}`,
      `${formatBytes(r.bytes_up)}/${formatBytes(r.bytes_down)}`,
      addressesOf(r),
      formatTime(r.last_seen),
    ]),
  ))
  lines.push('', `DNS (${b.dns.length})`)
  const dns = [...b.dns].sort((x, y) => x.name.localeCompare(y.name))
  lines.push(...formatTable(
    ['NAME', 'QTYPES', 'ANSWERS', 'COUNT', 'ACTIONS'],
    dns.map((r) => [printable(r.name), formatCounts(r.qtypes), formatCounts(r.answers), String(r.count), formatCounts(r.actions)]),
  ))
  lines.push('', `TOOLS (${b.tools.length})`)
  const tools = [...b.tools].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  lines.push(...formatTable(
    ['NAME', 'LISTED', 'CALLS', 'ERRORS', 'REFUSED', 'ARG KEYS'],
    tools.map((r) => [printable(r.name), String(r.listed), String(r.calls), String(r.errors), String(r.refused), cut(printable(r.argument_keys.join(',')), MAX_ARG_KEYS_WIDTH) || '-']),
  ))
  lines.push('', `CALL RATE  ${formatCallRate(b)}`)
  return `${lines.join('\n')}\n`
}
