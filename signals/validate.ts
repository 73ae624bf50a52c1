/**
 * The one validator of `hangar.signal/v1` (docs/signals.md), used by both sides: the shipper checks
 * every signal before it is spooled (garbage is counted and logged, never shipped), and the
 * aggregator checks every signal of `POST /v1/signals` (docs/aggregator.md §API). Pure: no I/O.
 *
 * Rules (docs/signals.md, "Fields of every signal"):
 * - Unknown fields are refused, at the top level and in `destination` (a typo such as `severty`
 *   must not pass as a new field); extensions go into `details`, new fields need a new schema.
 * - `id` is a lowercase RFC 9562 UUID of any version 1–8 with the RFC variant. Sidecars produce
 *   v7 (time-ordered, signals/build.ts); other versions are accepted unreported because dedup only
 *   needs uniqueness, and the aggregator orders by arrival, not by id. Lowercase is required so
 *   that dedup on the string is dedup on the UUID. {@link isUuidV7} tells v7 apart.
 * - `time` is RFC 3339 in UTC with exactly three fraction digits, as `Date.toISOString()` writes
 *   it (`2025-01-02T03:04:05.678Z`), and a real calendar instant.
 * - `type` is a snake_case name (≤ 64); types outside the catalogue (`SIGNAL_TYPES`) are accepted
 *   so a newer sidecar's signals are kept by an older aggregator.
 * - `signals_suppressed` must carry consistent roll-up `details` (signals/suppressed.ts): counts
 *   that add up, times inside the window; other types' `details` are free-form.
 * - Strings are bounded ({@link SIGNAL_LIMITS}); `details` is a plain JSON object of at most
 *   {@link SIGNAL_LIMITS}.detailsBytes bytes serialized. A valid signal is therefore far below the
 *   aggregator's 1 MiB request limit, so one signal always fits a batch.
 */
// zod's v3 API like the rest of the project: the v4 API (zod/v4) validates about twice as fast but adds
// ~8 MB of resident memory to every sidecar, whose idle budget is 60 MB; v3 does > 70 000
// signals/s on one core, several times the aggregator's ingest target.
import { z } from 'zod'
import { checkSuppressedDetails } from './suppressed.js'
import { SIGNAL_SCHEMA, type Signal } from './types.js'

/** Bounds of the validator (characters unless named bytes). */
export const SIGNAL_LIMITS = {
  /** `provider`, `sidecar_id`. */
  name: 256,
  /** `type`. */
  type: 64,
  /** `tool`, `session_id`, `caller`, `rule`, `trace_id`, `span_id`, `destination.host`, `destination.ip`. */
  field: 1024,
  /** `reason`. */
  reason: 4096,
  /** `details`, serialized as JSON, UTF-8 bytes. */
  detailsBytes: 65_536,
  /** Signals in one `POST /v1/signals` batch (docs/signals.md §Delivery: ≤ 1000). */
  batchSignals: 1000,
} as const

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const TYPE_RE = /^[a-z][a-z0-9_]*$/

/** True when `id` is a lowercase RFC 9562 UUID of version 7 (what sidecars generate). */
export function isUuidV7(id: string): boolean {
  return UUID_RE.test(id) && id.charCodeAt(14) === 0x37 // '7'
}

/** True for an RFC 3339 UTC time with milliseconds that names a real instant (no Feb 30). */
function isSignalTime(s: string): boolean {
  if (!TIME_RE.test(s)) return false
  const ms = Date.parse(s)
  return Number.isFinite(ms) && new Date(ms).toISOString() === s
}

/** JSON byte size of `details`, or -1 when it cannot be serialized (BigInt, cycles). */
function jsonBytes(v: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(v))
  } catch {
    return -1
  }
}

const bounded = (max: number) => z.string().min(1).max(max)

const destinationSchema = z
  .object({
    host: bounded(SIGNAL_LIMITS.field).optional(),
    ip: bounded(SIGNAL_LIMITS.field).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    protocol: z.enum(['http', 'https', 'tcp', 'udp', 'dns']),
  })
  .strict()

// Key order is the order fields are written in (JSON.stringify of the parsed signal).
const signalSchema = z
  .object({
    schema: z.literal(SIGNAL_SCHEMA),
    id: z.string().regex(UUID_RE),
    time: z.string().refine(isSignalTime),
    kind: z.enum(['violation', 'enforcement', 'observation', 'lifecycle']),
    type: z.string().min(1).max(SIGNAL_LIMITS.type).regex(TYPE_RE),
    severity: z.enum(['info', 'low', 'medium', 'high', 'critical']),
    action: z.enum(['allowed', 'alerted', 'blocked', 'quarantined']),
    enforcement_mode: z.enum(['alert', 'block', 'quarantine']),
    provider: bounded(SIGNAL_LIMITS.name),
    sidecar_id: bounded(SIGNAL_LIMITS.name),
    destination: destinationSchema.optional(),
    isolation: z.enum(['netns', 'container', 'k8s', 'cooperative']).optional(),
    tool: bounded(SIGNAL_LIMITS.field).optional(),
    session_id: bounded(SIGNAL_LIMITS.field).optional(),
    caller: bounded(SIGNAL_LIMITS.field).optional(),
    caller_verified: z.boolean().optional(),
    rule: bounded(SIGNAL_LIMITS.field).optional(),
    reason: bounded(SIGNAL_LIMITS.reason),
    trace_id: bounded(SIGNAL_LIMITS.field).optional(),
    span_id: bounded(SIGNAL_LIMITS.field).optional(),
    details: z
      .record(z.unknown())
      .superRefine((d, ctx) => {
        const n = jsonBytes(d)
        if (n < 0) ctx.addIssue({ code: 'custom', message: 'not serializable as JSON' })
        else if (n > SIGNAL_LIMITS.detailsBytes) ctx.addIssue({ code: 'custom', message: `${n} bytes as JSON, at most ${SIGNAL_LIMITS.detailsBytes}` })
      })
      .optional(),
  })
  .strict()

const enumText = (values: readonly string[]) => `one of ${values.join(', ')}`
const str = (max: number) => `a string of 1-${max} characters`

/** What each field must be, for error messages (`<path>: expected <this>`). */
const EXPECTED: Record<string, string> = {
  '': 'a JSON object',
  schema: `"${SIGNAL_SCHEMA}"`,
  id: 'a lowercase RFC 9562 UUID (sidecars send v7)',
  time: 'an RFC 3339 UTC time with milliseconds, like 2025-01-02T03:04:05.678Z',
  kind: enumText(signalSchema.shape.kind.options),
  type: `a snake_case name of 1-${SIGNAL_LIMITS.type} characters`,
  severity: enumText(signalSchema.shape.severity.options),
  action: enumText(signalSchema.shape.action.options),
  enforcement_mode: enumText(signalSchema.shape.enforcement_mode.options),
  provider: str(SIGNAL_LIMITS.name),
  sidecar_id: str(SIGNAL_LIMITS.name),
  destination: 'an object {host?, ip?, port?, protocol}',
  'destination.host': str(SIGNAL_LIMITS.field),
  'destination.ip': str(SIGNAL_LIMITS.field),
  'destination.port': 'an integer 0-65535',
  'destination.protocol': enumText(destinationSchema.shape.protocol.options),
  tool: str(SIGNAL_LIMITS.field),
  session_id: str(SIGNAL_LIMITS.field),
  caller: str(SIGNAL_LIMITS.field),
  caller_verified: 'true or false',
  rule: str(SIGNAL_LIMITS.field),
  reason: str(SIGNAL_LIMITS.reason),
  trace_id: str(SIGNAL_LIMITS.field),
  span_id: str(SIGNAL_LIMITS.field),
  details: 'a JSON object',
}

/** Formats a zod path as `a.b[2].c`. */
function formatPath(path: ReadonlyArray<string | number>): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out
}

/** The value at `path` inside `x`, or undefined. */
function valueAt(x: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = x
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<PropertyKey, unknown>)[k]
  }
  return v
}

function describe(issue: z.ZodIssue, input: unknown): string[] {
  const path = issue.path
  const at = formatPath(path)
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${formatPath([...path, k])}: unknown field`)
  const where = at === '' ? 'signal' : at
  if (path.length > 0 && valueAt(input, path) === undefined) return [`${where}: required`]
  if (issue.code === 'custom' && path[0] === 'details') return [`${where}: ${issue.message}`]
  const expected = EXPECTED[at]
  return [`${where}: expected ${expected ?? issue.message}`]
}

/** The result of {@link validateSignal}: the signal, or one line naming every bad field. */
export type SignalValidation = { ok: true; signal: Signal } | { ok: false; error: string }

/**
 * Checks one `hangar.signal/v1` signal (rules at the top of this file).
 * @param x anything (a parsed JSON value, or a signal built in-process)
 * @returns `{ok: true, signal}` (a copy with the known fields only, in schema order) or
 *   `{ok: false, error}` where `error` lists every problem as `<field path>: <problem>` joined
 *   by `; `, e.g. `destination.port: expected an integer 0-65535`. Never throws.
 */
export function validateSignal(x: unknown): SignalValidation {
  const r = signalSchema.safeParse(x)
  if (r.success) {
    // Types whose details the aggregator relies on are checked beyond the common fields.
    const typed = r.data.type === 'signals_suppressed' ? checkSuppressedDetails(r.data.details) : null
    return typed === null ? { ok: true, signal: r.data as Signal } : { ok: false, error: typed }
  }
  return { ok: false, error: r.error.issues.flatMap((i) => describe(i, x)).join('; ') }
}

/** One signal of a batch that failed validation: its index in `signals` and the reason. */
export interface SignalRejection {
  index: number
  error: string
}

/** The result of {@link validateBatch}. */
export type BatchValidation =
  | { ok: true; signals: Signal[]; indices: number[]; rejected: SignalRejection[] }
  | { ok: false; error: string }

/**
 * Checks the body of `POST /v1/signals` (docs/aggregator.md §API): `{signals: Signal[]}` and nothing else.
 * @param body the parsed JSON body
 * @param opts `maxSignals`: most signals in one batch (default {@link SIGNAL_LIMITS}.batchSignals)
 * @returns `{ok: false, error}` when the envelope is wrong (not an object, unknown fields,
 *   `signals` missing, not an array, or too long): the whole batch is refused. Otherwise
 *   `{ok: true, signals, indices, rejected}`: the valid signals in order with their indices in
 *   the request, and `{index, error}` for each invalid one. Never throws.
 */
export function validateBatch(body: unknown, opts: { maxSignals?: number } = {}): BatchValidation {
  const max = opts.maxSignals ?? SIGNAL_LIMITS.batchSignals
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'body: expected a JSON object {"signals": [...]}' }
  const extra = Object.keys(body).filter((k) => k !== 'signals')
  if (extra.length) return { ok: false, error: extra.map((k) => `${k}: unknown field`).join('; ') }
  const list = (body as { signals?: unknown }).signals
  if (list === undefined) return { ok: false, error: 'signals: required' }
  if (!Array.isArray(list)) return { ok: false, error: 'signals: expected an array of signals' }
  if (list.length > max) return { ok: false, error: `signals: at most ${max} signals per batch, got ${list.length}` }
  const signals: Signal[] = []
  const indices: number[] = []
  const rejected: SignalRejection[] = []
  for (let i = 0; i < list.length; i++) {
    const v = validateSignal(list[i])
    if (v.ok) {
      signals.push(v.signal)
      indices.push(i)
    } else rejected.push({ index: i, error: v.error })
  }
  return { ok: true, signals, indices, rejected }
}
