/**
 * The `hangar.signal/v1` schema (docs/signals.md): the contract between sidecars, the aggregator
 * and SIEMs. This file holds types and the catalogue of signal types only, no decision logic.
 */

export const SIGNAL_SCHEMA = 'hangar.signal/v1' as const

export type SignalKind = 'violation' | 'enforcement' | 'observation' | 'lifecycle'
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical'
export type SignalAction = 'allowed' | 'alerted' | 'blocked' | 'quarantined'
export type EnforcementMode = 'alert' | 'block' | 'quarantine'
export type DestinationProtocol = 'http' | 'https' | 'tcp' | 'udp' | 'dns'

/**
 * How the sidecar's provider is confined: `netns` (its own network namespace, nftables; `mcp-hangar up`
 * as root), `container` (a container on an internal Docker network whose only other host is the
 * sidecar; `mcp-hangar up` with `mode: container`), `k8s` (a Kubernetes pod whose init container installed
 * nftables rules that send everything but the sidecar's own traffic through it), `cooperative` (proxy environment only: nothing stops the provider from going around the
 * sidecar). Absent when the sidecar was not told (e.g. a bare `mcp-hangar sidecar`).
 */
export type Isolation = 'netns' | 'container' | 'k8s' | 'cooperative'
/** Every {@link Isolation}, in the order help texts list them. */
export const ISOLATIONS: readonly Isolation[] = Object.freeze(['netns', 'container', 'k8s', 'cooperative'])

export interface SignalDestination {
  host?: string
  ip?: string
  port?: number
  protocol: DestinationProtocol
}

/** One signal. Field meanings and every `type`: `docs/signals.md`. */
export interface Signal {
  schema: typeof SIGNAL_SCHEMA
  /** UUIDv7; the aggregator deduplicates on it. */
  id: string
  /** RFC 3339 UTC with milliseconds. */
  time: string
  kind: SignalKind
  type: SignalType
  severity: Severity
  action: SignalAction
  enforcement_mode: EnforcementMode
  provider: string
  sidecar_id: string
  destination?: SignalDestination
  /** How the provider is confined (see {@link Isolation}); set on every signal of a sidecar run by `mcp-hangar up`. */
  isolation?: Isolation
  tool?: string
  session_id?: string
  caller?: string
  /**
   * True when `caller` was verified (a bearer JWT checked against a configured OIDC issuer, or an
   * aggregator API key); false when it is only what the client said (an unverified JWT `sub` or
   * `X-Hangar-Caller`). Absent when there is no caller.
   */
  caller_verified?: boolean
  /** The matched rule (`egress[2]`, `always-denied:private`), or `default-deny`. */
  rule?: string
  /** One human sentence. */
  reason: string
  trace_id?: string
  span_id?: string
  details?: Record<string, unknown>
}

/** The catalogue: each signal type with its kind when it denies and its default severity. */
export const SIGNAL_TYPES = {
  egress_denied: { severity: 'high', meaning: 'An egress connection or request was refused (or would have been, in alert mode).' },
  egress_allowed: { severity: 'info', meaning: 'Sampled observation of an allowed egress connection; feeds the baseline.' },
  egress_closed: { severity: 'info', meaning: 'An egress tunnel closed: bytes in/out and duration.' },
  dns_denied: { severity: 'medium', meaning: 'A DNS query for a name outside the allowlist was answered NXDOMAIN/REFUSED.' },
  dns_allowed: { severity: 'info', meaning: 'Sampled observation of an allowed DNS query; feeds the baseline.' },
  dns_answer_stripped: { severity: 'high', meaning: 'An upstream DNS answer pointed into an always-denied range (rebinding) and was removed.' },
  dns_tunnel_suspected: { severity: 'high', meaning: 'A DNS name had labels too long or too random for a real host name (DNS tunnelling).' },
  tool_denied: { severity: 'high', meaning: 'A tools/call was refused by the tool policy (deny_list, or outside allow_list).' },
  undeclared_tool: { severity: 'medium', meaning: 'The provider offered a tool that is not in the profile\'s expected_tools.' },
  tool_definition_drift: { severity: 'high', meaning: 'A tool\'s name, description, inputSchema or annotations changed from its pinned digest.' },
  schema_violation: { severity: 'medium', meaning: 'tools/call arguments did not validate against the tool\'s inputSchema.' },
  secret_in_arguments: { severity: 'critical', meaning: 'tools/call arguments carried a secret (a secret_patterns detector matched) or exceeded max_payload_bytes.' },
  rate_limited: { severity: 'low', meaning: 'A call was refused by the provider\'s rate_limit or max_concurrency.' },
  tool_called: { severity: 'info', meaning: 'Sampled observation of an allowed tool call: tool, argument keys, outcome, duration; feeds the baseline.' },
  provider_state_changed: { severity: 'info', meaning: 'A provider moved between COLD, INITIALIZING, READY, DEGRADED and DEAD (or its circuit breaker opened/closed).' },
  quarantine_triggered: { severity: 'critical', meaning: 'The provider was quarantined: all egress and tool calls are denied.' },
  quarantine_released: { severity: 'medium', meaning: 'The provider quarantine was lifted.' },
  sidecar_started: { severity: 'info', meaning: 'A sidecar started its listeners.' },
  sidecar_stopped: { severity: 'info', meaning: 'A sidecar stopped.' },
  host_access_granted: { severity: 'high', meaning: 'The provider runs with host access its Compose file granted (mcp.hangar.host-access): a host namespace, devices, sysctls, unconfined security options or a host path; emitted once at sidecar start.' },
  egress_bypass_attempt: { severity: 'high', meaning: 'The provider tried to reach a destination other than its sidecar\'s listeners (a direct IP, another resolver, a host port); the kernel (nftables in its network namespace) dropped the packets.' },
  signals_suppressed: { severity: 'medium', meaning: 'A roll-up of signals the sidecar\'s signal rate limit folded instead of emitting one by one: counts per type and per (type, destination or tool), first and last seen; the decisions themselves were all enforced.' },
  behavior_deviation: { severity: 'high', meaning: 'The provider behaved differently from its mature behavioral baseline: a new destination, DNS name, tool or argument keys, a call or byte rate anomaly, a DNS shape anomaly (tunnelling) or a call outside its daily rhythm; severity by class.' },
  signals_dropped: { severity: 'high', meaning: 'Signals were lost before delivery: the spool was full (its oldest segment was dropped), a spool line was unreadable after a crash, or the memory fallback queue overflowed.' },
  admin_action: { severity: 'medium', meaning: 'An aggregator principal changed something: quarantined or approved a provider, created or revoked an API key; names the actor (the aggregator records it in its own audit log).' },
  admin_action_denied: { severity: 'medium', meaning: 'An aggregator principal was refused a route or hangar_* tool its role does not allow (answered 403); names the actor, the role it holds and the one needed.' },
} as const satisfies Record<string, { severity: Severity; meaning: string }>

export type SignalType = keyof typeof SIGNAL_TYPES | (string & {})
