/**
 * `leef`: IBM QRadar Log Event Extended Format 2.0:
 * `LEEF:2.0|MCP Hangar|mcp-hangar|<version>|<signal type>|<TAB>|key=value<TAB>key=value…`, one
 * line. The fifth header field declares the attribute delimiter: TAB (QRadar's default), written
 * as the character itself. Values never hold a raw TAB (it is escaped as `\t`), so even a receiver
 * that does not unescape splits the attributes where they are; a printable delimiter such as `^`
 * would let a value that holds one forge an attribute at such a receiver. The field mapping is in
 * docs/siem.md ("leef").
 */
import { isIP } from 'node:net'
import { HANGAR_VERSION } from '../../../core/version.js'
import type { Signal } from '../../../signals/types.js'
import { CEF_SEVERITY, PRODUCT, VENDOR, epochMs, requestUrl, severityOn, transportOf } from './fields.js'
import type { FormatOptions } from './index.js'

/** The attribute delimiter the header declares: TAB. */
export const LEEF_DELIMITER = '\t'

/**
 * `devTimeFormat`: a Java `SimpleDateFormat` pattern (what QRadar parses `devTime` with) for the
 * RFC 3339 UTC time the signal carries, e.g. `2025-01-02T03:04:05.678Z`.
 */
export const LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"

/**
 * A LEEF header field: `\` → `\\`, `|` → `\|`; CR, LF and TAB become spaces (a header is one line).
 */
export function leefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\r\n\t]/g, ' ')
}

/**
 * A LEEF attribute value: `\` → `\\`, TAB (the delimiter) → `\t`, LF → `\n`, CR → `\r`. `=` needs
 * no escape: an attribute splits at its first `=`, and keys never hold one.
 */
export function leefValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
}

/**
 * The attributes, in the order they are written (before escaping): the predefined LEEF keys
 * (`devTime`, `devTimeFormat`, `sev`, `cat`, `dst`, `dstPort`, `proto`, `usrName`, `policy`, `url`,
 * `identHostName`) where one fits, then product attributes named after the signal field.
 */
export function leefAttributes(signal: Signal, o: FormatOptions): Array<[string, string]> {
  const out: Array<[string, string]> = []
  const put = (k: string, v: string | number | undefined): void => {
    if (v !== undefined) out.push([k, String(v)])
  }
  const d = signal.destination
  epochMs(signal)
  put('devTime', signal.time)
  put('devTimeFormat', LEEF_TIME_FORMAT)
  put('sev', severityOn(CEF_SEVERITY, signal.severity))
  put('cat', signal.kind)
  put('signalId', signal.id)
  put('action', signal.action)
  put('enforcementMode', signal.enforcement_mode)
  put('provider', signal.provider)
  put('sidecarId', signal.sidecar_id)
  put('identHostName', o.hostname)
  if (d) {
    put('app', d.protocol)
    put('proto', transportOf(d.protocol))
    put('dstHost', d.host)
    if (d.ip !== undefined) put(isIP(d.ip) !== 0 ? 'dst' : 'hangarDstIp', d.ip)
    put('dstPort', d.port)
    put('url', requestUrl(d))
  }
  put('isolation', signal.isolation)
  put('tool', signal.tool)
  put('policy', signal.rule)
  put('sessionId', signal.session_id)
  put('usrName', signal.caller)
  if (signal.caller_verified !== undefined) put('callerVerified', String(signal.caller_verified))
  put('traceId', signal.trace_id)
  put('spanId', signal.span_id)
  put('reason', signal.reason)
  if (signal.details !== undefined) put('details', JSON.stringify(signal.details))
  return out
}

/**
 * One signal as a LEEF:2.0 line (no trailing newline). Event ID = the signal `type`; `sev` on the
 * same 1–10 scale as CEF (info 1, low 3, medium 5, high 8, critical 10).
 * @throws Error naming `time` or `severity` when the signal's value does not parse.
 */
export function leef(signal: Signal, o: FormatOptions): string {
  const header = [VENDOR, PRODUCT, HANGAR_VERSION, signal.type].map(leefHeader)
  const attrs = leefAttributes(signal, o).map(([k, v]) => `${k}=${leefValue(v)}`).join(LEEF_DELIMITER)
  return `LEEF:2.0|${header.join('|')}|${LEEF_DELIMITER}|${attrs}`
}
