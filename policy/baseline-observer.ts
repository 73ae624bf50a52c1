/**
 * What the egress and MCP paths tell a behavioural baseline: one call per decision, before any
 * signal sampling. The sidecar passes profiles/baseline/recorder.ts's recorder; egress/ and proxy/
 * see only this interface, so they never depend on how the baseline is kept. Every method is
 * synchronous, allocation-light and never throws.
 */
import type { EgressProtocol, EgressVia } from './egress-types.js'
import type { SignalAction } from '../signals/types.js'

/** One egress decision as the recorder sees it. */
export interface EgressEvent {
  /** The normalised host name asked for; undefined for an IP-literal destination. */
  host?: string
  /** The IP literal asked for (no host), or the address dialled for a host. */
  ip?: string
  port: number
  protocol: EgressProtocol
  via: EgressVia
  action: SignalAction
  /** True when the attempt was permitted but resolving or dialling failed. */
  failed?: boolean
}

/** What {@link BaselineRecorder.egressBytes} and `egressContent` need to find a destination. */
export type EgressKey = Pick<EgressEvent, 'host' | 'ip' | 'port' | 'protocol'>

/** A DNS name's record, held by the forwarder's hot path to count cached answers without a lookup. */
export interface DnsHandle {
  readonly name: string
  count: number
  qtypes: Record<string, number>
  actions: Record<string, number>
  answers: Record<string, number>
  first: number
  last: number
}

/** The recorder's event methods (profiles/baseline/recorder.ts implements them). */
export interface BaselineObserver {
  /** One egress decision (permitted, denied, or permitted and then failed). */
  egress(e: EgressEvent): void
  /** What a permitted connection's first bytes carried. */
  egressContent(k: EgressKey, kind: 'tls' | 'http' | 'other'): void
  /** Bytes moved when a connection closes. */
  egressBytes(k: EgressKey, up: number, down: number): void
  /** One DNS question and its decision; the handle lets cached answers be counted without a lookup. */
  dnsQuery(name: string, qtype: string, action: SignalAction): DnsHandle | undefined
  /** `n` answers from the cache for a name already recorded, at `now` (epoch ms). */
  dnsHit(h: DnsHandle, qtype: string, now: number, n?: number): void
  /** The record types of an upstream answer (or NODATA, or the RCODE's name). */
  dnsAnswer(name: string, types: readonly string[]): void
  /** A tool seen in tools/list, with its definition digest. */
  toolListed(name: string, digest: string): void
  /** A tools/call that reached the provider; argument keys pass through `redactKey` first. */
  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void
  /** A tools/call the policy refused. */
  toolRefused(name: string): void
}
