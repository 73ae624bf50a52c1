/**
 * The export formats: one function per format, from a stored signal to the record a sink sends
 * (one line of text, without its trailing newline). Pure.
 */
import type { Signal } from '../../../signals/types.js'

/** The formats a sink may name (`aggregator.export.sinks.<name>.format`). */
export type ExportFormat = 'jsonl' | 'cef' | 'leef' | 'syslog' | 'ocsf'

/** Per-sink settings a format may use. */
export interface FormatOptions {
  /** The aggregator's host name (CEF `dvchost`, syslog HOSTNAME). */
  hostname: string
}

/** One record per signal. */
export type Formatter = (signal: Signal, o: FormatOptions) => string

/** `jsonl`: the signal as stored, one JSON object. */
export const jsonl: Formatter = (signal) => JSON.stringify(signal)

/** Every format by name (the other formats register here as they are written). */
export const FORMATTERS: Partial<Record<ExportFormat, Formatter>> = { jsonl }
