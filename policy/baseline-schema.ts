/**
 * The behavioral baseline (`hangar.baseline/v1`): what one provider was seen doing, recorded by
 * its sidecar (profiles/baseline/recorder.ts), persisted at `<sidecar.data_dir>/baseline.json`,
 * served at the admin `GET /v1/baseline`, shipped to the aggregator with heartbeats and turned
 * into a least-privilege profile by `mcp-hangar profile suggest` (profiles/suggest.ts).
 *
 * One zod schema; the TypeScript types are derived from it. Every list is bounded by the limits
 * the recorder ran with (recorded in `limits`); what did not fit is counted in `dropped`, never
 * silently lost. Times are RFC 3339 UTC with milliseconds; byte counts are bytes.
 */
import { z } from 'zod'
import { ERROR_CODES, HangarError } from '../core/errors.js'

export const BASELINE_SCHEMA = 'hangar.baseline/v1' as const

const time = z.string().datetime({ offset: true })
const count = z.number().int().min(0)
/** `{ key: count }` with at most `max` keys. */
const counts = (max: number) => z.record(count).refine((r) => Object.keys(r).length <= max, { message: `at most ${max} keys` })

/** The recorder's size bounds (`sidecar.baseline` in the config). */
export const baselineLimitsSchema = z
  .object({
    /** Distinct egress destinations (host or IP, port, protocol). Default 1000. */
    max_destinations: z.number().int().min(1).max(100_000),
    /** Distinct DNS names. Default 2000. */
    max_dns_names: z.number().int().min(1).max(100_000),
    /** Distinct tools. Default 256. */
    max_tools: z.number().int().min(1).max(10_000),
    /** Minutes of per-minute call counts kept for the rate statistics. Default 1440 (a day). */
    rate_minutes: z.number().int().min(1).max(100_000),
  })
  .strict()
export type BaselineLimits = z.infer<typeof baselineLimitsSchema>

/** Defaults of {@link BaselineLimits}. */
export const DEFAULT_BASELINE_LIMITS: BaselineLimits = { max_destinations: 1000, max_dns_names: 2000, max_tools: 256, rate_minutes: 1440 }

/** Dialled addresses kept per destination. */
export const MAX_ADDRESSES_PER_DESTINATION = 16
/** Argument keys kept per tool (the ingress already cuts a call's keys to 64 of 64 characters). */
export const MAX_ARGUMENT_KEYS_PER_TOOL = 64
/** DNS answer types kept per name. */
export const MAX_ANSWER_TYPES = 16

/** `egress[i]`: one destination as (host or IP literal, port, protocol). */
export const egressRecordSchema = z
  .object({
    /** The normalised host name the provider asked for; absent for an IP-literal destination. */
    host: z.string().max(253).optional(),
    /** The IP literal the provider asked for (no host name). */
    ip: z.string().max(45).optional(),
    port: z.number().int().min(0).max(65535),
    /**
     * The attempt's protocol (policy/egress-types.ts `EgressProtocol`): `http` (absolute-form or
     * transparent :80), `https` (transparent :443 by SNI), `tunnel` (CONNECT; see `content`),
     * `tcp` (a tcp forward).
     */
    protocol: z.enum(['http', 'https', 'tunnel', 'tcp']),
    /** Attempts by how they reached the sidecar: `connect`, `http_proxy`, `transparent_http`, `transparent_tls`, `tcp_forward`. */
    via: counts(8),
    /** Attempts by outcome: `allowed`, `alerted`, `blocked`, `quarantined`. */
    actions: counts(4),
    /** What CONNECT tunnels carried, by their first bytes: `tls`, `http`, `other`. */
    content: counts(3).optional(),
    /** Attempts that were permitted but failed to resolve or connect. */
    errors: count,
    /** Addresses dialled, with their class (policy/address-class.ts: `global`, `private`, …). */
    addresses: z.array(z.object({ ip: z.string().max(45), class: z.string().max(32) }).strict()).max(MAX_ADDRESSES_PER_DESTINATION),
    /** Every decision on this destination (each tunnel, request or forwarded connection). */
    count,
    /** Bytes the provider sent / received through closed tunnels and forwards. */
    bytes_up: count,
    bytes_down: count,
    first_seen: time,
    last_seen: time,
  })
  .strict()
  .refine((r) => (r.host === undefined) !== (r.ip === undefined), { message: 'exactly one of "host" or "ip"' })
export type EgressRecord = z.infer<typeof egressRecordSchema>

/** `dns[i]`: one queried name. */
export const dnsRecordSchema = z
  .object({
    name: z.string().max(253),
    /** Queries by QTYPE (`A`, `AAAA`, `TXT`, …). */
    qtypes: counts(64),
    /** Queries by outcome: `allowed`, `alerted`, `blocked`, `quarantined`. */
    actions: counts(4),
    /**
     * What the answers held, counted per upstream reply and per answer the forwarder made itself
     * (cache hits are not counted again): record types (`A`, `AAAA`, `CNAME`, …), `steered`
     * (A/AAAA synthesized with the sidecar's address), `NODATA`, `NXDOMAIN`, `REFUSED` (a denied
     * name), `SERVFAIL` (the upstream failed) or another RCODE name.
     */
    answers: counts(MAX_ANSWER_TYPES),
    count,
    first_seen: time,
    last_seen: time,
  })
  .strict()
export type DnsRecord = z.infer<typeof dnsRecordSchema>

/** `tools[i]`: one tool the provider listed or was asked to run. */
export const toolRecordSchema = z
  .object({
    name: z.string().max(256),
    /** Times the tool appeared in a `tools/list` result. */
    listed: count,
    /** Calls forwarded to the provider (allowed, or alerted in alert mode). */
    calls: count,
    /** Forwarded calls that failed: a JSON-RPC error, `isError: true`, a timeout or no answer. */
    errors: count,
    /** Calls refused by the sidecar (tool policy, schema, secrets, drift, quarantine, limits). */
    refused: count,
    /** Argument keys seen (never values), sorted. */
    argument_keys: z.array(z.string().max(80)).max(MAX_ARGUMENT_KEYS_PER_TOOL),
    /** Tool definition digests seen (policy/tool-digest.ts), oldest first; more than one means drift. */
    digests: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)).max(8),
    first_seen: time,
    last_seen: time,
  })
  .strict()
export type ToolRecord = z.infer<typeof toolRecordSchema>

/** Tool calls per minute, over the minutes (of the last `limits.rate_minutes`) with at least one call. */
export const callRateSchema = z
  .object({
    /** Minutes with at least one call. */
    active_minutes: count,
    min: count,
    median: count,
    p95: count,
    max: count,
  })
  .strict()
export type CallRate = z.infer<typeof callRateSchema>

/** Egress bytes (sent + received) per minute, over the minutes with bytes; same fields as {@link callRateSchema}. */
export const byteRateSchema = callRateSchema
export type ByteRate = CallRate

/** The whole baseline of one provider. */
export const baselineSchema = z
  .object({
    schema: z.literal(BASELINE_SCHEMA),
    provider: z.string().min(1).max(64),
    /** The enforcement mode the provider ran in when the baseline was last updated. */
    enforcement_mode: z.enum(['alert', 'block', 'quarantine']),
    /** When recording began (the first event) and the last event. */
    started: time,
    updated: time,
    /** Grows by one on every recorded event: equal revisions are equal baselines. */
    revision: count,
    /** Events recorded (each decision, answer, listing or call). */
    events: count,
    limits: baselineLimitsSchema,
    /** Events whose destination, name or tool did not fit the limits. */
    dropped: z.object({ destinations: count, dns_names: count, tools: count }).strict(),
    egress: z.array(egressRecordSchema),
    dns: z.array(dnsRecordSchema),
    tools: z.array(toolRecordSchema),
    call_rate: callRateSchema,
    /** The per-minute call counts behind `call_rate`: `[minute since epoch, calls]`, oldest first. */
    call_minutes: z.array(z.tuple([count, count])),
    /**
     * Egress bytes per minute (optional: baselines recorded before it have none). A connection's
     * bytes count in the minute it closed.
     */
    byte_rate: byteRateSchema.optional(),
    /** The per-minute byte counts behind `byte_rate`: `[minute since epoch, bytes]`, oldest first. */
    byte_minutes: z.array(z.tuple([count, count])).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.egress.length > b.limits.max_destinations) ctx.addIssue({ code: 'custom', path: ['egress'], message: `more destinations than limits.max_destinations (${b.limits.max_destinations})` })
    if (b.dns.length > b.limits.max_dns_names) ctx.addIssue({ code: 'custom', path: ['dns'], message: `more names than limits.max_dns_names (${b.limits.max_dns_names})` })
    if (b.tools.length > b.limits.max_tools) ctx.addIssue({ code: 'custom', path: ['tools'], message: `more tools than limits.max_tools (${b.limits.max_tools})` })
    if (b.call_minutes.length > b.limits.rate_minutes) ctx.addIssue({ code: 'custom', path: ['call_minutes'], message: `more minutes than limits.rate_minutes (${b.limits.rate_minutes})` })
    if (b.byte_minutes && b.byte_minutes.length > b.limits.rate_minutes) ctx.addIssue({ code: 'custom', path: ['byte_minutes'], message: `more minutes than limits.rate_minutes (${b.limits.rate_minutes})` })
  })
export type Baseline = z.infer<typeof baselineSchema>

/**
 * Parses a baseline (a file, an admin or aggregator answer).
 * @throws HangarError `HANGAR_BASELINE_INVALID` naming the first bad field (`egress.3.port: …`)
 */
export function parseBaseline(v: unknown): Baseline {
  const r = baselineSchema.safeParse(v)
  if (r.success) return r.data
  const i = r.error.issues[0]!
  throw new HangarError(ERROR_CODES.BASELINE_INVALID, `not a ${BASELINE_SCHEMA} document: ${i.path.join('.') || '(root)'}: ${i.message}`)
}
