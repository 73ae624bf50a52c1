/**
 * The `signals_suppressed` roll-up: what a sidecar's signal rate limit (signals/rate-limit.ts)
 * folded instead of emitting one by one. Its `details` shape, the validator both sides use, and
 * the consistency rules that make a forged or truncated roll-up fail validation:
 *
 * - `total` = the sum of `entries[].count` + `other.count` = the sum of `by_type` values.
 * - every time lies in `[window_start, window_end]`, and `first_seen ≤ last_seen`.
 * - `entries` has at most {@link MAX_ROLLUP_ENTRIES} items, `by_type` at most
 *   {@link MAX_ROLLUP_TYPES} keys; each entry names a `type` and the subject the limiter keyed it
 *   on (`destination` for egress/DNS signals, `tool` for tool signals, neither for the rest).
 *
 * Pure: no I/O.
 */
import { z } from 'zod'

/** Most `entries` in one roll-up; the long tail goes to `other`. */
export const MAX_ROLLUP_ENTRIES = 200
/** Most keys of `by_type`; further types are counted under `other`. */
export const MAX_ROLLUP_TYPES = 64
/** Longest `destination.host`, `destination.ip` or `tool` in a roll-up entry, characters (longer ones are cut). */
export const MAX_ROLLUP_SUBJECT = 256

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const time = z.string().refine((s) => TIME_RE.test(s) && Number.isFinite(Date.parse(s)) && new Date(Date.parse(s)).toISOString() === s, 'expected an RFC 3339 UTC time with milliseconds')
const count = z.number().int().min(1)

const entrySchema = z
  .object({
    type: z.string().regex(/^[a-z][a-z0-9_]*$/).max(64),
    destination: z
      .object({
        host: z.string().min(1).max(MAX_ROLLUP_SUBJECT).optional(),
        ip: z.string().min(1).max(MAX_ROLLUP_SUBJECT).optional(),
        port: z.number().int().min(0).max(65535).optional(),
        protocol: z.enum(['http', 'https', 'tcp', 'udp', 'dns']),
      })
      .strict()
      .optional(),
    tool: z.string().min(1).max(MAX_ROLLUP_SUBJECT).optional(),
    count,
    first_seen: time,
    last_seen: time,
  })
  .strict()

/** `details` of a `signals_suppressed` signal. */
export const suppressedDetailsSchema = z
  .object({
    /** Start and end of the roll-up window (sidecar clock, never going backwards). */
    window_start: time,
    window_end: time,
    /** Signals folded into this roll-up. */
    total: count,
    /** Folded signals per type. */
    by_type: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/).max(64), count),
    /** Folded signals per (type, subject), the most frequent first. */
    entries: z.array(entrySchema).max(MAX_ROLLUP_ENTRIES),
    /** The long tail: (type, subject) keys beyond `entries`, counted together. */
    other: z
      .object({ count: z.number().int().min(0), keys: z.number().int().min(0), first_seen: time.optional(), last_seen: time.optional() })
      .strict(),
    /** Roll-ups this sidecar run emitted before this one (0, 1, 2, …): a gap means a lost roll-up. */
    rollup_seq: z.number().int().min(0),
    /** Why the roll-up was emitted now: the window ended, a flush, the sidecar stopping, or recovered at start from a run that was killed. */
    cause: z.enum(['interval', 'flush', 'close', 'recovered']),
  })
  .strict()

export type SuppressedDetails = z.infer<typeof suppressedDetailsSchema>
export type SuppressedEntry = z.infer<typeof entrySchema>

/**
 * Checks the `details` of a `signals_suppressed` signal: shape ({@link suppressedDetailsSchema})
 * and the consistency rules at the top of this file.
 * @returns null when valid, else one line naming each problem as `details.<path>: <problem>`.
 */
export function checkSuppressedDetails(details: unknown): string | null {
  const r = suppressedDetailsSchema.safeParse(details)
  if (!r.success) return r.error.issues.map((i) => `details${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`).join('; ')
  const d = r.data
  const problems: string[] = []
  const typeKeys = Object.keys(d.by_type)
  if (typeKeys.length > MAX_ROLLUP_TYPES) problems.push(`details.by_type: at most ${MAX_ROLLUP_TYPES} types`)
  const byType = typeKeys.reduce((n, k) => n + d.by_type[k]!, 0)
  const byEntries = d.entries.reduce((n, e) => n + e.count, 0) + d.other.count
  if (byType !== d.total) problems.push(`details.by_type: counts sum to ${byType}, not total ${d.total}`)
  if (byEntries !== d.total) problems.push(`details.entries: counts plus other.count sum to ${byEntries}, not total ${d.total}`)
  if (d.window_start > d.window_end) problems.push('details.window_end: before window_start')
  const inWindow = (s: string | undefined): boolean => s === undefined || (s >= d.window_start && s <= d.window_end)
  d.entries.forEach((e, i) => {
    if (e.first_seen > e.last_seen) problems.push(`details.entries.${i}.last_seen: before first_seen`)
    if (!inWindow(e.first_seen) || !inWindow(e.last_seen)) problems.push(`details.entries.${i}: first_seen/last_seen outside the window`)
  })
  if (d.other.count > 0 && (d.other.first_seen === undefined || d.other.last_seen === undefined)) problems.push('details.other: first_seen and last_seen are required when count > 0')
  if (d.other.first_seen && d.other.last_seen && d.other.first_seen > d.other.last_seen) problems.push('details.other.last_seen: before first_seen')
  if (!inWindow(d.other.first_seen) || !inWindow(d.other.last_seen)) problems.push('details.other: first_seen/last_seen outside the window')
  if (d.other.count === 0 && d.other.keys > 0) problems.push('details.other.keys: keys without a count')
  return problems.length ? problems.join('; ') : null
}
