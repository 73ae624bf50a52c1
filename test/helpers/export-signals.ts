/**
 * Generated signals for the export format tests: every field present or absent, values drawn
 * from the characters each format has to escape (`=`, `|`, `\`, `]`, `"`, `^`, spaces, CR, LF,
 * TAB) mixed with non-ASCII text, and only signals the validator accepts.
 */
import fc from 'fast-check'
import { validateSignal } from '../../signals/validate.js'
import { SIGNAL_SCHEMA, SIGNAL_TYPES, type Signal } from '../../signals/types.js'

/** The characters the formats escape, plus non-ASCII (Latin, CJK, emoji, BOM) and the ASCII printable range. */
export const NASTY = ['=', '|', '\\', ']', '[', '"', '^', ' ', '\n', '\r', '\r\n', '\t', '\\n', '\\=', 'é', '中', '😀', '\uFEFF', 'ü', '}', '{', 'key=v', ' x=']

/** A string of 1..max units, each a {@link NASTY} piece or any printable ASCII or Unicode character. */
export function nastyText(max = 24): fc.Arbitrary<string> {
  return fc.string({ unit: fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: max })
}

const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined })

/** Any valid signal (catalogue types and a newer one), with every optional field sometimes set. */
export const signalArb: fc.Arbitrary<Signal> = fc
  .record({
    id: fc.uuid({ version: 7 }),
    time: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 0, 1) }).map((ms) => new Date(ms).toISOString()),
    kind: fc.constantFrom('violation', 'enforcement', 'observation', 'lifecycle' as const),
    type: fc.constantFrom(...Object.keys(SIGNAL_TYPES).filter((t) => t !== 'signals_suppressed'), 'newer_type_from_a_later_sidecar'),
    severity: fc.constantFrom('info', 'low', 'medium', 'high', 'critical' as const),
    action: fc.constantFrom('allowed', 'alerted', 'blocked', 'quarantined' as const),
    enforcement_mode: fc.constantFrom('alert', 'block', 'quarantine' as const),
    provider: nastyText(),
    sidecar_id: nastyText(),
    destination: opt(fc.record({
      host: opt(fc.oneof(nastyText(), fc.domain(), fc.constant('api.github.com'))),
      ip: opt(fc.oneof(fc.ipV4(), fc.ipV6(), nastyText())),
      port: opt(fc.integer({ min: 0, max: 65535 })),
      protocol: fc.constantFrom('http', 'https', 'tcp', 'udp', 'dns' as const),
    }, { requiredKeys: ['protocol'] })),
    isolation: opt(fc.constantFrom('netns', 'container', 'k8s', 'cooperative' as const)),
    tool: opt(nastyText()),
    session_id: opt(nastyText()),
    caller: opt(nastyText()),
    rule: opt(nastyText()),
    reason: nastyText(60),
    trace_id: opt(nastyText()),
    span_id: opt(nastyText()),
    details: opt(fc.dictionary(fc.oneof(nastyText(8), fc.constantFrom('via', 'code', 'qtype')), fc.oneof(nastyText(), fc.integer(), fc.boolean(), fc.constantFrom('connect', 'transparent_http', 'A')), { maxKeys: 4 })),
  })
  .map((r) => {
    const s: Record<string, unknown> = { schema: SIGNAL_SCHEMA }
    for (const [k, v] of Object.entries(r)) {
      if (v === undefined) continue
      if (k === 'destination') s[k] = Object.fromEntries(Object.entries(v as object).filter(([, x]) => x !== undefined))
      else s[k] = v
    }
    return s as unknown as Signal
  })
  .filter((s) => validateSignal(s).ok)

/** Drops undefined members (a parsed record rebuilt as a signal omits what the record did not carry). */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
