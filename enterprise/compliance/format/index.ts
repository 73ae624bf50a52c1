/**
 * The export formats: one function per format, from a stored signal to the record a sink sends
 * (one line of text, without its trailing newline). Pure.
 */
import type { Signal } from '../../../signals/types.js'
import { cef } from './cef.js'
import { leef } from './leef.js'
import { ocsf } from './ocsf.js'
import { syslog, toSyslog } from './syslog.js'

export { toSyslog }

/** The formats a sink may name (`aggregator.export.sinks.<name>.format`). */
export type ExportFormat = 'jsonl' | 'cef' | 'leef' | 'syslog' | 'ocsf'

/** Per-sink settings a format may use. */
export interface FormatOptions {
  /** The aggregator's host name (CEF `dvchost`, syslog HOSTNAME). */
  hostname: string
  /** Syslog facility, 0–23 (RFC 5424 §6.2.1); default 13, log audit. Only the `syslog` format and {@link toSyslog} read it. */
  facility?: number
}

/** One record per signal. */
export type Formatter = (signal: Signal, o: FormatOptions) => string

/** `jsonl`: the signal as stored, one JSON object. */
export const jsonl: Formatter = (signal) => JSON.stringify(signal)

/** Every format by name (docs/siem.md describes each field by field). */
export const FORMATTERS: Partial<Record<ExportFormat, Formatter>> = { jsonl, cef, leef, syslog, ocsf: (signal, o) => JSON.stringify(ocsf(signal, o)) }
