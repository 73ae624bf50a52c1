/**
 * The ports (interfaces) of the enterprise modules. Code outside `enterprise/` depends only on
 * these; `enterprise/bootstrap.ts` registers implementations when the license allows (see
 * docs/licensing.md), and every port has a no-op default so the product runs without them.
 *
 * The registry is process-wide and filled once at start, before the aggregator or a sidecar is
 * composed; tests make their own with {@link createPortRegistry}.
 */
import type { Logger } from './log.js'

/** The signal kinds and severities an export filter names (signals/types.ts spells the same). */
export type ExportKind = 'violation' | 'enforcement' | 'observation' | 'lifecycle'

/** One sink's state, as `GET /v1/export` shows it. */
export interface ExportSinkStatus {
  name: string
  format: string
  transport: string
  /** `running` (following the audit log), `retrying` (the receiver failed; backing off), `stopped`. */
  state: 'running' | 'retrying' | 'stopped'
  /** Audit sequence number of the last signal the receiver acknowledged (0: none yet). */
  cursor: number
  /** Signals in the audit log after the cursor that pass the sink's filter, or after it at all when unknown. */
  lag: number
  sent: number
  failed: number
  dead_lettered: number
  /** The last error, if the last attempt failed. */
  last_error?: string
  last_success?: string
}

/** What the aggregator gives the compliance export when it starts. */
export interface ComplianceExportContext {
  /** The aggregator's data dir (the audit log is `<dataDir>/audit/`; sinks keep cursors under it). */
  dataDir: string
  /** `aggregator.export` as the config schema parsed it (validated there). */
  config: unknown
  log: Logger
  /** The aggregator's Prometheus registry (prom-client `Registry`), for the export metrics. */
  registry: unknown
  /**
   * Signals after audit sequence `afterSeq`, in order, then live ones as they are stored (the
   * store's subscription); returns unsubscribe. Older signals than the store holds in memory are
   * read from the audit files by the implementation. `onSignal` may return a promise: the next
   * signal waits for it (backpressure for a sink whose receiver is slow or down).
   */
  subscribe: (afterSeq: number, onSignal: (seq: number, signal: unknown) => void | Promise<void>) => () => void
  /** The last audit sequence number stored. */
  lastSeq: () => number
}

/** SIEM export of the audit log (enterprise/compliance). */
export interface ComplianceExportPort {
  /** Starts every configured sink. @throws only for an unusable configuration (names the path). */
  start(ctx: ComplianceExportContext): Promise<void>
  /** Stops every sink after its in-flight batch (cursors saved). Idempotent. */
  stop(): Promise<void>
  /** The state of every sink (empty without sinks or without the module). */
  status(): ExportSinkStatus[]
  /**
   * Sends one sample signal through a sink (`mcp-hangar export test --sink NAME`).
   * @throws Error naming the sink when it does not exist or the receiver refused the sample.
   */
  sendSample(sink: string): Promise<{ sink: string; id: string }>
}

/** What a license grants (enterprise/license). */
export interface LicenseState {
  /** `licensed` (a key verified), `community` (no key, under the provider limit), `unlicensed`. */
  mode: 'licensed' | 'community' | 'unlicensed'
  licensee?: string
  /** RFC 3339. */
  expires?: string
  max_providers?: number
  features: string[]
  /** Why enterprise modules are off (`no license key found, using defaults`, `license expired on …`, …). */
  reason?: string
}

/** The ports, with their current implementations. */
export interface PortRegistry {
  compliance: ComplianceExportPort
  license: LicenseState
  /** OIDC verification (absent: the module is not loaded). */
  identity?: IdentityPort
  /** RBAC and API keys on the aggregator (absent: the static tokens decide, as without a license). */
  access?: AccessPort
  /** Runtime deviation detection (absent: not loaded). */
  deviation?: DeviationPort
  /** True when enterprise/bootstrap.ts registered its implementations. */
  enterprise: boolean
}

/** The no-op compliance export: no sinks, nothing sent. */
export const NOOP_COMPLIANCE: ComplianceExportPort = Object.freeze({
  async start() {},
  async stop() {},
  status: () => [],
  async sendSample(sink: string): Promise<{ sink: string; id: string }> {
    throw new Error(`no export sink "${sink}": SIEM export is an enterprise module, and it is not loaded`)
  },
})

/** A registry with every port at its no-op default. */
export function createPortRegistry(): PortRegistry {
  return { compliance: NOOP_COMPLIANCE, license: { mode: 'unlicensed', features: [], reason: 'no license key found, using defaults' }, enterprise: false }
}

/** The process's registry (filled by the CLI at start). */
export const ports: PortRegistry = createPortRegistry()

/* ------------------------------------------------------------------------------------------ */
/* Identity (enterprise/identity): bearer JWTs verified against configured OIDC issuers.       */
/* ------------------------------------------------------------------------------------------ */

/** A caller the identity module verified from a bearer JWT. */
export interface VerifiedCaller {
  /** The subject (the issuer's subject claim, `sub` by default), 1–128 printable ASCII. */
  subject: string
  /** The `iss` of the token (one of the configured issuers). */
  issuer: string
  /** Group names from the issuer's groups claim (empty when the token has none). */
  groups: string[]
  /** The issuer's configured extra claims, as found in the token (strings or lists of strings). */
  claims: Record<string, string | string[]>
}

/** Why a token was refused (the `reason` label of the refusal metric). */
export type TokenRefusal = 'malformed' | 'expired' | 'not_yet_valid' | 'issuer' | 'audience' | 'signature' | 'algorithm' | 'claims' | 'jwks_unavailable'

/** The outcome of {@link TokenVerifier.verify}. */
export type TokenVerdict =
  | { ok: true; caller: VerifiedCaller }
  /** `description` is one sentence for `WWW-Authenticate: … error_description` (RFC 6750 §3). */
  | { ok: false; reason: TokenRefusal; description: string }

/** Verifies bearer JWTs against a set of configured issuers (one per `oidc` entry). */
export interface TokenVerifier {
  /**
   * Verifies one compact JWS: signature against the issuer's JWKS (cached, refreshed on an unknown
   * `kid`), `iss`, `aud`, `exp`, `nbf` with the configured clock skew. Never throws.
   */
  verify(token: string): Promise<TokenVerdict>
  /** Stops background JWKS refreshes. Idempotent. */
  close(): void
}

/** What {@link IdentityPort.createVerifier} needs. */
export interface VerifierContext {
  /** The `oidc` list as the config schema parsed it (config/identity-schema.ts `OidcIssuerConfig[]`). */
  issuers: unknown
  log: Logger
  /** A prom-client `Registry` for the verifier's metrics (absent: not registered). */
  registry?: unknown
  /** Where the verifier is used, for metric labels and logs: `ingress` or `aggregator`. */
  surface: 'ingress' | 'aggregator'
}

/** OIDC identity (enterprise/identity). */
export interface IdentityPort {
  /** @throws Error naming the config path when an issuer cannot be used (a `jwks_file` that does not parse, …). */
  createVerifier(ctx: VerifierContext): TokenVerifier
}

/* ------------------------------------------------------------------------------------------ */
/* RBAC on the aggregator (enterprise/auth): API keys and OIDC groups mapped to roles.         */
/* ------------------------------------------------------------------------------------------ */

/** The aggregator's roles, each including the ones before it. `signal` (sidecar ingest) is a separate class. */
export const ROLES = ['viewer', 'operator', 'admin'] as const
export type Role = (typeof ROLES)[number]

/** Who made an aggregator request. */
export interface Principal {
  /** Stable id: an API key's id (`hk_…`), `oidc:<issuer>#<subject>`, or `token:admin` / `token:mcp` for a static token. */
  id: string
  /** A human name: the key's `--name`, the OIDC subject, or the token class. */
  name: string
  role: Role
  /** How it authenticated. */
  via: 'api_key' | 'oidc' | 'static_token' | 'open'
}

/** One stored API key, without its secret (the secret is shown once, at creation). */
export interface ApiKeyInfo {
  /** Prefix id, e.g. `hk_3f9c1a2b`: the start of the key as printed, safe to log. */
  id: string
  name: string
  role: Role
  /** RFC 3339. */
  created: string
  /** RFC 3339; absent = never expires. */
  expires?: string
  /** RFC 3339; absent = never used. */
  last_used?: string
  /** RFC 3339; present once revoked. */
  revoked?: string
  /** The principal that created it (`Principal.id`). */
  created_by: string
}

/** The running access control of one aggregator. */
export interface AccessControl {
  /**
   * Authenticates a bearer token: an API key of this aggregator, or a JWT from a configured issuer
   * (its groups mapped to a role). `undefined`: the token is neither (the caller tries the static
   * tokens next); `{error}`: it is one of ours but refused (revoked, expired, bad signature, a JWT
   * whose groups map to no role). Never throws.
   */
  authenticate(token: string): Promise<{ principal: Principal } | { error: string } | undefined>
  /** @throws Error when the name is taken or the store cannot be written. */
  createKey(o: { name: string; role: Role; expires?: string }, actor: Principal): Promise<{ key: string; info: ApiKeyInfo }>
  listKeys(): ApiKeyInfo[]
  /** @returns false when no such key exists. */
  revokeKey(id: string, actor: Principal): Promise<boolean>
  close(): Promise<void>
}

/** What {@link AccessPort.start} needs. */
export interface AccessContext {
  /** The aggregator's data dir (keys live under it). */
  dataDir: string
  /** `aggregator.auth` as the config schema parsed it (config/rbac-schema.ts). */
  config: unknown
  log: Logger
  registry?: unknown
  /** The identity module, for OIDC on the aggregator (absent when not loaded). */
  identity?: IdentityPort
}

/** RBAC on the aggregator (enterprise/auth). */
export interface AccessPort {
  /** @throws Error naming the config path for an unusable configuration. */
  start(ctx: AccessContext): Promise<AccessControl>
}

/* ------------------------------------------------------------------------------------------ */
/* Runtime deviation detection (enterprise/behavioral).                                        */
/* ------------------------------------------------------------------------------------------ */

/**
 * What a deviation detector observes: the egress, DNS and MCP decisions the sidecar already tells
 * its baseline recorder (policy/baseline-observer.ts has the same methods with narrower types).
 * Every method is synchronous and never throws: it runs on the data path.
 */
export interface DeviationObserver {
  egress(e: { host?: string; ip?: string; port: number; protocol: string; via: string; action: string; failed?: boolean }): void
  egressBytes(k: { host?: string; ip?: string; port: number; protocol: string }, up: number, down: number): void
  dnsQuery(name: string, qtype: string, action: string): void
  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void
}

/** What a detector needs from its sidecar. */
export interface DeviationContext {
  provider: string
  /** The provider's `capabilities.enforcement_mode`. */
  mode: 'alert' | 'block' | 'quarantine'
  /** `sidecar.deviation` as the config schema parsed it (config/deviation-schema.ts). */
  config: unknown
  /** The provider's baseline as its recorder holds it now (a `hangar.baseline/v1` object). */
  baseline: () => unknown
  /** Emits one signal (a `signals/build.ts` SignalInput: kind, type, severity, action, reason, …). */
  emit: (signal: unknown) => void
  /** Quarantines the provider now (the sidecar's own switch; the aggregator hears of it through the signal). */
  quarantine: (reason: string) => void
  log: Logger
  registry?: unknown
  /** Clock, ms since the epoch (tests). */
  now?: () => number
}

/** A running detector. */
export interface DeviationDetector extends DeviationObserver {
  /** Stops its timers (roll-ups are emitted first). Idempotent. */
  close(): void
}

/** Runtime deviation detection (enterprise/behavioral). */
export interface DeviationPort {
  /** @throws Error naming the config path for an unusable configuration. */
  create(ctx: DeviationContext): DeviationDetector
}
