/**
 * `hangar.baseline/v1` fixtures for tests: records with every field filled (override what a test
 * is about) and a whole document passed through `parseBaseline`, so a fixture that is not a valid
 * baseline throws where it is built.
 */
import { DEFAULT_BASELINE_LIMITS, parseBaseline, type Baseline, type DnsRecord, type EgressRecord, type ToolRecord } from '../../policy/baseline-schema.js'

/** First and last seen of every fixture record. */
export const T0 = '2026-11-22T10:00:01.000Z'
export const T1 = '2026-11-22T10:04:55.000Z'

/** A tool-definition digest made of one repeated hex character. */
export const digestOf = (c: string): string => `sha256:${c.repeat(64)}`

/** One destination: https :443 via transparent_tls, allowed once; `o` names the host or IP and what differs. */
export function egressRecord(o: Partial<EgressRecord> & ({ host: string } | { ip: string })): EgressRecord {
  return { port: 443, protocol: 'https', via: { transparent_tls: 1 }, actions: { allowed: 1 }, errors: 0, addresses: [], count: 1, bytes_up: 0, bytes_down: 0, first_seen: T0, last_seen: T1, ...o } as EgressRecord
}

/** One DNS name: one allowed A query with an A answer. */
export function dnsRecord(name: string, o: Partial<DnsRecord> = {}): DnsRecord {
  return { name, qtypes: { A: 1 }, actions: { allowed: 1 }, answers: { A: 1 }, count: 1, first_seen: T0, last_seen: T1, ...o }
}

/** One tool: listed once, called once, one definition. */
export function toolRecord(name: string, o: Partial<ToolRecord> = {}): ToolRecord {
  return { name, listed: 1, calls: 1, errors: 0, refused: 0, argument_keys: [], digests: [digestOf('a')], first_seen: T0, last_seen: T1, ...o }
}

/** An empty baseline of provider `p` (alert mode, default limits); `o` replaces top-level fields. */
export function makeBaseline(o: Partial<Baseline> = {}): Baseline {
  return parseBaseline({
    schema: 'hangar.baseline/v1', provider: 'p', enforcement_mode: 'alert', started: T0, updated: T1, revision: 1, events: 1,
    limits: { ...DEFAULT_BASELINE_LIMITS }, dropped: { destinations: 0, dns_names: 0, tools: 0 }, egress: [], dns: [], tools: [],
    call_rate: { active_minutes: 0, min: 0, median: 0, p95: 0, max: 0 }, call_minutes: [], ...o,
  })
}
