/**
 * `cef`: ArcSight Common Event Format, version 0 ("Implementing ArcSight CEF", revision 25):
 * `CEF:0|MCP Hangar|mcp-hangar|<version>|<signal type>|<name>|<severity>|<extension>`, one line.
 * The field mapping is in docs/siem.md ("cef").
 */
import { isIPv4, isIPv6 } from 'node:net'
import { HANGAR_VERSION } from '../../../core/version.js'
import type { Signal } from '../../../signals/types.js'
import { CEF_SEVERITY, PRODUCT, VENDOR, epochMs, requestUrl, severityOn, transportOf, typeName } from './fields.js'
import type { FormatOptions } from './index.js'

/**
 * A CEF header field: `\` → `\\`, `|` → `\|` (CEF rev. 25, "Character Encoding"); a header may not
 * hold a line break, so CR and LF become spaces.
 */
export function cefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')
}

/**
 * A CEF extension value: `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`
 * (CEF rev. 25, "Character Encoding"). Spaces and `|` stay as they are.
 */
export function cefValue(value: string): string {
  return value.replace(/[\\=]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r')
}

/** The custom string slots: CEF key, label, signal field. */
const CUSTOM: ReadonlyArray<readonly [string, string, (s: Signal) => string | undefined]> = [
  ['cs1', 'provider', (s) => s.provider],
  ['cs2', 'tool', (s) => s.tool],
  ['cs3', 'rule', (s) => s.rule],
  ['cs4', 'session_id', (s) => s.session_id],
  ['cs5', 'caller', (s) => s.caller],
  ['cs6', 'trace_id', (s) => s.trace_id],
  ['flexString1', 'enforcement_mode', (s) => s.enforcement_mode],
  ['flexString2', 'isolation', (s) => s.isolation],
]

/**
 * The extension's key/value pairs, in the order they are written (before escaping). Standard keys
 * of the CEF dictionary where one fits; `hangarSpanId`, `hangarCallerVerified` (`true`/`false`), `hangarDetails` (the `details` object as
 * JSON) and `hangarDstIp` (a `destination.ip` that is not an address) are vendor keys, which
 * receivers keep as additional data.
 */
export function cefExtension(signal: Signal, o: FormatOptions): Array<[string, string]> {
  const out: Array<[string, string]> = []
  const put = (k: string, v: string | number | undefined): void => {
    if (v !== undefined) out.push([k, String(v)])
  }
  const d = signal.destination
  put('rt', epochMs(signal))
  put('externalId', signal.id)
  put('cat', signal.kind)
  put('act', signal.action)
  put('outcome', signal.action === 'allowed' || signal.action === 'alerted' ? 'success' : 'failure')
  put('dvchost', o.hostname)
  put('deviceExternalId', signal.sidecar_id)
  if (d) {
    put('app', d.protocol)
    put('proto', transportOf(d.protocol))
    put('dhost', d.host)
    if (d.ip !== undefined) {
      if (isIPv4(d.ip)) put('dst', d.ip)
      else if (isIPv6(d.ip)) {
        put('c6a3', d.ip)
        put('c6a3Label', 'destination_ipv6')
      } else put('hangarDstIp', d.ip) // not an address: kept, but out of the typed keys a SIEM parses as one
    }
    put('dpt', d.port)
    put('request', requestUrl(d))
  }
  for (const [key, label, get] of CUSTOM) {
    const v = get(signal)
    if (v === undefined) continue
    put(key, v)
    put(`${key}Label`, label)
  }
  put('reason', signal.reason)
  put('hangarSpanId', signal.span_id)
  if (signal.caller_verified !== undefined) put('hangarCallerVerified', String(signal.caller_verified))
  if (signal.details !== undefined) put('hangarDetails', JSON.stringify(signal.details))
  return out
}

/**
 * One signal as a CEF:0 line (no trailing newline). Header: vendor `MCP Hangar`, product
 * `mcp-hangar`, the product version, Signature ID = the signal `type`, Name = the type in words,
 * Severity from {@link CEF_SEVERITY} (info 1, low 3, medium 5, high 8, critical 10).
 * @throws Error naming `time` or `severity` when the signal's value does not parse.
 */
export function cef(signal: Signal, o: FormatOptions): string {
  const header = ['CEF:0', VENDOR, PRODUCT, HANGAR_VERSION, signal.type, typeName(signal.type)].map((v, i) => (i === 0 ? v : cefHeader(v)))
  const ext = cefExtension(signal, o).map(([k, v]) => `${k}=${cefValue(v)}`).join(' ')
  return `${header.join('|')}|${severityOn(CEF_SEVERITY, signal.severity)}|${ext}`
}
