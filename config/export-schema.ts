/**
 * `aggregator.export`: the SIEM export sinks (docs/configuration.md §`aggregator.export`). Each sink
 * follows the audit log with its own cursor and sends what passes its filter, in its format, over
 * its transport. Every object is strict (an unknown key is a load error naming its path): a typo in
 * a security export must not silently send less, or send it somewhere else.
 */
import { z } from 'zod'
import { bool, num } from '../policy/coerce.js'

/** `host:port` of a receiver (IPv6 hosts in brackets), port 1–65535. */
const receiverAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})$/, 'expected "host:port" with a port 1–65535, e.g. "127.0.0.1:6514"')

const httpUrl = z.string().url().refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL')

/** TLS client settings shared by the transports that speak TLS (PEM file paths). */
const tlsKeys = {
  /** CA bundle that verifies the receiver's certificate (default: Node's bundled roots). */
  ca_file: z.string().min(1).optional(),
  /** Client certificate for mutual TLS (with `key_file`). */
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** Name checked against the receiver's certificate and sent as SNI (default: the host). */
  server_name: z.string().min(1).optional(),
}

const fileTransport = z
  .object({
    type: z.literal('file'),
    /** The file records are appended to, one per line. */
    path: z.string().min(1),
    /** Rotates (renames to `<path>.<n>`) when the file passes this size, bytes. Default 100 MiB. */
    rotate_bytes: num(z.number().int().min(1024)).default(100 * 1024 * 1024),
    /** Rotated files kept (`<path>.1` newest). Default 5. */
    keep_files: num(z.number().int().min(1).max(1000)).default(5),
  })
  .strict()

const syslogTransport = z
  .object({
    type: z.literal('syslog'),
    /** `udp` (RFC 5426, one record per datagram), `tcp` (RFC 6587), `tls` (RFC 5425). */
    protocol: z.enum(['udp', 'tcp', 'tls']),
    address: receiverAddress,
    /** Stream framing (tcp, tls): RFC 6587 §3.4.1 octet counting (default; RFC 5425 requires it) or §3.4.2 LF-terminated. */
    framing: z.enum(['octet-counting', 'non-transparent']).default('octet-counting'),
    ...tlsKeys,
  })
  .strict()

const splunkTransport = z
  .object({
    type: z.literal('splunk_hec'),
    /** Base URL of the HTTP Event Collector, e.g. `https://splunk:8088` (`/services/collector/event` is appended). */
    url: httpUrl,
    /** The HEC token (`Authorization: Splunk <token>`). */
    token: z.string().min(1),
    /** Indexer acknowledgement: poll `/services/collector/ack` until each batch is indexed. Default false. */
    ack: bool(z.boolean()).default(false),
    /** Channel for acknowledgements (a GUID). Default: one made per sink. */
    channel: z.string().uuid().optional(),
    index: z.string().min(1).optional(),
    sourcetype: z.string().min(1).optional(),
    ca_file: tlsKeys.ca_file,
  })
  .strict()

const elasticTransport = z
  .object({
    type: z.literal('elasticsearch'),
    /** Base URL, e.g. `https://es:9200` (`/_bulk` is appended). */
    url: httpUrl,
    /** Target index (or data stream: then `op_type` create, which `_bulk` `create` actions give). */
    index: z.string().regex(/^[a-z0-9][a-z0-9._+-]{0,254}$/, 'expected an Elasticsearch index name: lower case, no spaces'),
    /** `Authorization` header: either basic credentials or an API key. */
    auth: z
      .union([
        z.object({ username: z.string().min(1), password: z.string() }).strict(),
        z.object({ api_key: z.string().min(1) }).strict(),
      ])
      .optional(),
    ca_file: tlsKeys.ca_file,
  })
  .strict()

const webhookTransport = z
  .object({
    type: z.literal('webhook'),
    /** Receiver URL; https:// unless the host is loopback. */
    url: httpUrl.refine((u) => /^https:\/\//i.test(u) || /^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?\//i.test(u), 'a webhook carries the audit trail: https:// is required (http:// only to a loopback host)'),
    /** HMAC-SHA256 key: each POST carries `X-Hangar-Signature: sha256=<hex HMAC of the body>`. */
    secret: z.string().min(16, 'use a secret of at least 16 characters'),
    ca_file: tlsKeys.ca_file,
  })
  .strict()

/** One sink's transport, by `type`. */
export const exportTransportSchema = z.discriminatedUnion('type', [fileTransport, syslogTransport, splunkTransport, elasticTransport, webhookTransport])

/** Signals a sink sends: all of the listed kinds, types and at least the severity (an empty filter: all). */
export const exportFilterSchema = z
  .object({
    kinds: z.array(z.enum(['violation', 'enforcement', 'observation', 'lifecycle'])).min(1).optional(),
    types: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected a signal type, e.g. "egress_denied"')).min(1).optional(),
    min_severity: z.enum(['info', 'low', 'medium', 'high', 'critical']).optional(),
  })
  .strict()

/** Retry of a failed batch: exponential backoff with full jitter (core/backoff.ts), without end. */
export const exportRetrySchema = z
  .object({
    /** First delay, ms. Default 500. */
    initial_ms: num(z.number().int().min(1)).default(500),
    /** Cap of the delay, ms. Default 60000. */
    max_ms: num(z.number().int().min(1)).default(60_000),
    /** One attempt's deadline (connect + send + answer), ms. Default 10000. */
    timeout_ms: num(z.number().int().min(100)).default(10_000),
  })
  .strict()
  .refine((r) => r.max_ms >= r.initial_ms, { message: 'max_ms must be at least initial_ms', path: ['max_ms'] })

/** One sink. */
export const exportSinkSchema = z
  .object({
    format: z.enum(['jsonl', 'cef', 'leef', 'syslog', 'ocsf']),
    transport: exportTransportSchema,
    filter: exportFilterSchema.default({}),
    /** Most records per send. Default 500. */
    batch_max: num(z.number().int().min(1).max(10_000)).default(500),
    retry: exportRetrySchema.default({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    const t = s.transport
    if (t.type === 'syslog') {
      if (t.protocol !== 'tls') {
        for (const k of ['ca_file', 'cert_file', 'key_file', 'server_name'] as const)
          if (t[k] !== undefined) ctx.addIssue({ code: 'custom', path: ['transport', k], message: `only for protocol "tls" (this sink is "${t.protocol}")` })
      }
      if (t.protocol === 'tls' && t.framing !== 'octet-counting') ctx.addIssue({ code: 'custom', path: ['transport', 'framing'], message: 'RFC 5425 (syslog over TLS) requires octet-counting framing' })
      if (t.protocol === 'udp' && t.framing !== 'octet-counting') ctx.addIssue({ code: 'custom', path: ['transport', 'framing'], message: 'framing is for stream transports (tcp, tls); a UDP datagram is one record' })
      if ((t.cert_file === undefined) !== (t.key_file === undefined)) ctx.addIssue({ code: 'custom', path: ['transport', t.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'mutual TLS needs both cert_file and key_file' })
    }
  })

/** `aggregator.export`. */
export const exportConfigSchema = z
  .object({
    /** Sinks by name (letters, digits, `-`, `_`: the name is also the cursor's file name). */
    sinks: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'sink names are letters, digits, "-" and "_"'), exportSinkSchema).default({}),
  })
  .strict()

export type ExportConfig = z.infer<typeof exportConfigSchema>
export type ExportSinkConfig = z.infer<typeof exportSinkSchema>
export type ExportTransportConfig = z.infer<typeof exportTransportSchema>
export type ExportFilter = z.infer<typeof exportFilterSchema>
