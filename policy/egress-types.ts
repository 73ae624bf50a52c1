/**
 * Shared types of the egress data plane. Pure data: no I/O, no logic.
 * Precedence and meaning of each field: docs/egress.md §Decision order.
 */
import type { EnforcementMode } from '../signals/types.js'

export type IpFamily = 4 | 6

/** A strictly parsed IP address, canonical text (IPv4-mapped IPv6 is unmapped to IPv4). */
export interface IpAddress {
  ip: string
  family: IpFamily
}

/** A normalised egress target: either a host name (lowercase, punycode, no trailing dot) or an IP literal. */
export type Target = { kind: 'name'; host: string } | { kind: 'ip'; host: string; address: IpAddress }

/** Protocol of an egress rule. `any` matches every protocol. */
export type RuleProtocol = 'http' | 'https' | 'tcp' | 'any'

/**
 * Protocol of a concrete egress attempt. `tunnel` is a CONNECT before its first bytes are seen:
 * it matches rules of any protocol on the port, and decideTunnelContent checks the bytes later.
 */
export type EgressProtocol = 'http' | 'https' | 'tcp' | 'tunnel'

/** How the attempt reached the sidecar. */
export type EgressVia = 'connect' | 'http_proxy' | 'transparent_http' | 'transparent_tls' | 'tcp_forward'

/** One compiled `capabilities.network.egress[i]` entry. */
export interface EgressRule {
  /** Stable rule name used in decisions and signals: `egress[2]`. */
  id: string
  /** Compiled host glob, when the rule names a host. */
  host?: HostPattern
  /** Compiled CIDR, when the rule names a range. */
  cidr?: CidrRange
  /** Port; 0 = any port. */
  port: number
  protocol: RuleProtocol
  /**
   * `dns_types`: DNS QTYPEs (numbers) the forwarder forwards for names this rule matches, on
   * top of A and AAAA. Absent when the rule lists none.
   */
  dnsTypes?: ReadonlySet<number>
}

/** A compiled host glob (policy/glob.ts). */
export interface HostPattern {
  /** As written in the config, normalised. */
  source: string
  /** `exact`: `api.x.com`; `subdomains`: `*.x.com`; `apex_and_subdomains`: `.x.com`. */
  kind: 'exact' | 'subdomains' | 'apex_and_subdomains'
  /** The name without `*.` / leading `.` (normalised). */
  base: string
}

/** A compiled CIDR range (policy/cidr.ts). */
export interface CidrRange {
  source: string
  family: IpFamily
  contains(address: IpAddress): boolean
}

/** The egress policy of one provider: compiled once from config, then read-only. */
export interface EgressPolicy {
  provider: string
  mode: EnforcementMode
  /** `network.loopback_allowed`: loopback answers/literals are not always-denied. */
  loopbackAllowed: boolean
  /** `network.dns_allowed`: false → every DNS query is refused. */
  dnsAllowed: boolean
  /** `network.dns_resolve_any`: forward every name (answers still filtered), not only rule names. */
  dnsResolveAny: boolean
  rules: readonly EgressRule[]
  /** `network.subdomain_budget`: unique subdomains per registrable domain per window (policy/tunnel.ts). */
  subdomainBudget: { maxNames: number; windowMs: number }
  /** The sidecar's own endpoints (listeners, aggregator): never a destination (self-connection). */
  protectedEndpoints: ProtectedEndpoints
}

/** Local addresses and ports of the sidecar and aggregator. A connection to one of the ports on a
 * loopback/unspecified address or one of `ips` is a self-connection and always denied. */
export interface ProtectedEndpoints {
  ips: ReadonlySet<string>
  ports: ReadonlySet<number>
}

/** Mutable run-time state the decisions read (quarantine is switched by API / aggregator). */
export interface QuarantineState {
  quarantined: boolean
  quarantineReason?: string
}

/** Why a decision denied. Stable strings: they appear in headers, signals and metrics. */
export type DenyReason =
  | 'quarantined'
  | 'malformed_host'
  | 'no_matching_rule'
  | 'port_not_allowed'
  | 'protocol_not_allowed'
  | 'always_denied_address'
  | 'no_allowed_address'
  | 'missing_host'
  | 'sni_mismatch'
  | 'host_mismatch'
  | 'dns_not_allowed'
  | 'dns_tunnel_suspected'
  | 'dns_type_not_allowed'
  | 'doh_canary'
  | 'self_connection'

/** The outcome of a destination decision. Deny is the default verdict: an empty decision never allows. */
export type Decision =
  | { verdict: 'allow'; rule: string; reason: string; matched: EgressRule; target: Target }
  | { verdict: 'deny'; rule: string; reason: string; code: DenyReason; target?: Target }

/** One attempt handed to {@link Decision} functions. `host` is raw (as received). */
export interface EgressRequest {
  host: string
  port: number
  protocol: EgressProtocol
  via: EgressVia
}

/** The class of an address (policy/address-class.ts). `global` is the only class allowed by default. */
export type AddressClass =
  | 'global'
  | 'unspecified'
  | 'loopback'
  | 'link_local'
  | 'metadata'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'private'
  | 'cgnat'
  | 'benchmarking'
  | 'documentation'
  | 'ietf_protocol'
  | 'nat64'
  | '6to4'
  | 'teredo'
  | 'ipv4_compatible'
  | 'discard'

/** Addresses of a name, as resolved by our own DNS queries (never getaddrinfo). */
export interface ResolvedAddresses {
  /** A then AAAA answers, in upstream order, deduplicated. */
  addresses: IpAddress[]
  /** Smallest TTL of the answers, ms (capped). */
  ttlMs: number
}

/** Resolves host names to addresses (egress/resolve.ts). */
export interface Resolver {
  /**
   * @param name a normalised host name (host.ts)
   * @throws HangarError `HANGAR_DNS_FAILED` (SERVFAIL/REFUSED/unreachable), `HANGAR_DNS_TIMEOUT`,
   *   `HANGAR_DNS_NO_ADDRESS` (NXDOMAIN or no A/AAAA)
   */
  resolve(name: string): Promise<ResolvedAddresses>
  close(): void
}
