/**
 * `syslog`: RFC 5424 messages, `<PRI>1 TIMESTAMP HOSTNAME mcp-hangar - MSGID [hangar@32473 …] MSG`,
 * one line. The structured data element carries every signal field; MSG is the reason. `cef`, `leef`
 * and `jsonl` records ride in MSG through {@link toSyslog}. The field mapping is in docs/siem.md
 * ("syslog").
 */
import type { Signal } from '../../../signals/types.js'
import { PRODUCT, SYSLOG_SEVERITY, epochMs, severityOn } from './fields.js'
import type { FormatOptions } from './index.js'

/**
 * The private enterprise number of the SD-ID. 32473 is the number IANA reserves for documentation
 * and examples (RFC 5612): the project has no PEN of its own, and RFC 5424 §7.2.2 requires one for
 * an SD-ID that is not IANA-registered.
 */
export const SYSLOG_PEN = 32473

/** The SD-ID of the structured data element (`name@PEN`, RFC 5424 §6.3.2). */
export const SD_ID = `hangar@${SYSLOG_PEN}`

/**
 * The default facility: 13, "log audit" (RFC 5424 §6.2.1, table 1): signals are audit records.
 * A sink may pick another (`FormatOptions.facility`, 0–23), e.g. 10 (security/authorization) or 16 (local0).
 */
export const DEFAULT_FACILITY = 13

/** The UTF-8 byte order mark that starts a MSG written in UTF-8 (RFC 5424 §6.4). */
export const BOM = '\uFEFF'

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g

/** CR, LF and the other control characters (TAB excepted) as `\r`, `\n`, `\xHH`, so a record stays one line. */
function escapeControls(v: string): string {
  return v.replace(/\n/g, '\\n').replace(CONTROL, (c) => (c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
}

/**
 * An SD-PARAM value: `\`, `"` and `]` escaped with `\` (RFC 5424 §6.3.3), then control characters
 * written `\n`, `\r`, `\xHH`. A receiver that applies only the RFC's three escapes shows those as
 * the two or four characters; since every literal `\` is doubled, the result is unambiguous.
 */
export function sdValue(v: string): string {
  return escapeControls(v.replace(/[\\"\]]/g, (c) => `\\${c}`))
}

/** The syslog format's own MSG: the reason with `\` doubled and control characters escaped as in {@link sdValue}. */
export function msgText(v: string): string {
  return escapeControls(v.replace(/\\/g, '\\\\'))
}

/** PRINTUSASCII (RFC 5424 §6: `%d33-126`), other characters replaced with `_`, cut to `max`; `-` (NILVALUE) when empty. */
function printable(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '_').slice(0, max)
  return s === '' ? '-' : s
}

/**
 * The facility of a sink's options.
 * @throws Error `facility: expected an integer 0-23, got <value>` (RFC 5424 §6.2.1 has 24 facilities).
 */
function facilityOf(o: FormatOptions): number {
  const f = o.facility ?? DEFAULT_FACILITY
  if (!Number.isInteger(f) || f < 0 || f > 23) throw new Error(`facility: expected an integer 0-23, got ${JSON.stringify(f)}`)
  return f
}

/** The SD-PARAMs of a signal, in order (before escaping): every field but `schema` and `reason`. */
export function sdParams(signal: Signal): Array<[string, string]> {
  const out: Array<[string, string]> = []
  const put = (k: string, v: string | number | undefined): void => {
    if (v !== undefined) out.push([k, String(v)])
  }
  const d = signal.destination
  put('id', signal.id)
  put('type', signal.type)
  put('kind', signal.kind)
  put('severity', signal.severity)
  put('action', signal.action)
  put('enforcement_mode', signal.enforcement_mode)
  put('provider', signal.provider)
  put('sidecar_id', signal.sidecar_id)
  put('protocol', d?.protocol)
  put('dst_host', d?.host)
  put('dst_ip', d?.ip)
  put('dst_port', d?.port)
  put('isolation', signal.isolation)
  put('tool', signal.tool)
  put('session_id', signal.session_id)
  put('caller', signal.caller)
  if (signal.caller_verified !== undefined) put('caller_verified', String(signal.caller_verified))
  put('rule', signal.rule)
  put('trace_id', signal.trace_id)
  put('span_id', signal.span_id)
  if (signal.details !== undefined) put('details', JSON.stringify(signal.details))
  return out
}

/**
 * One signal as an RFC 5424 message (no trailing newline, no transport framing):
 * PRI = facility × 8 + severity ({@link SYSLOG_SEVERITY}: info 6, low 5, medium 4, high 3,
 * critical 2); VERSION 1; TIMESTAMP = the signal's time (UTC, milliseconds); HOSTNAME =
 * `o.hostname` (printable ASCII, ≤ 255); APP-NAME `mcp-hangar`; PROCID `-`; MSGID = the signal
 * type (printable ASCII, ≤ 32).
 *
 * With `body` null: the structured data element `[hangar@32473 …]` carries every field ({@link sdParams})
 * and MSG is the reason ({@link msgText}). With a body (a `cef`, `leef` or `jsonl` record): the
 * element carries only `id` (the receiver's dedup key) and MSG is the body, verbatim. MSG starts
 * with a BOM when it holds a non-ASCII character (RFC 5424 §6.4: MSG-UTF8); pure ASCII is MSG-ANY.
 * @throws Error naming `time`, `severity` or `facility` when a value does not fit, or `body` when it holds CR or LF.
 */
export function toSyslog(signal: Signal, body: string | null, o: FormatOptions): string {
  if (body !== null && /[\r\n]/.test(body)) throw new Error('body: a syslog MSG carried in one record may not hold CR or LF')
  const pri = facilityOf(o) * 8 + severityOn(SYSLOG_SEVERITY, signal.severity)
  const ts = new Date(epochMs(signal)).toISOString()
  const params = body === null ? sdParams(signal) : [['id', signal.id] as [string, string]]
  const sd = `[${SD_ID}${params.map(([k, v]) => ` ${k}="${sdValue(v)}"`).join('')}]`
  const msg = body ?? msgText(signal.reason)
  const text = /[^\p{ASCII}]/u.test(msg) ? BOM + msg : msg
  return `<${pri}>1 ${ts} ${printable(o.hostname, 255)} ${PRODUCT} - ${printable(signal.type, 32)} ${sd}${text === '' ? '' : ` ${text}`}`
}

/** The `syslog` format: {@link toSyslog} with the structured data message. */
export function syslog(signal: Signal, o: FormatOptions): string {
  return toSyslog(signal, null, o)
}
