/** Types for the parts of `nsyslog-parser` (an independent syslog/CEF/LEEF parser) the export tests read. */
declare module 'nsyslog-parser' {
  export interface NsyslogEntry {
    err?: Error
    type?: string
    prival?: number
    facilityval?: number
    levelval?: number
    facility?: string
    level?: string
    version?: number
    ts?: Date
    host?: string
    appName?: string
    pid?: string
    messageid?: string
    structuredData?: Array<Record<string, string>>
    message?: string
    cef?: Record<string, string>
    leef?: Record<string, string>
    fields?: Record<string, string>
  }
  export default function parse(line: string, opts?: Record<string, boolean>): NsyslogEntry
}
