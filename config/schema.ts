/**
 * The one schema of `hangar.yaml`. Types are derived from it; every field documents its default.
 * Every object is strict: an unknown key anywhere is a load error (a typo, or a key of MCP Hangar
 * (Python) this edition does not read, would otherwise silently weaken enforcement); the loader
 * names the key's path and the key probably meant (unknown-keys.ts).
 */
import { z } from 'zod'
import { bool, num } from '../policy/coerce.js'
import { DEFAULT_BASELINE_LIMITS } from '../policy/baseline-schema.js'
import { capabilitiesSchema } from '../policy/capabilities.js'
import { compileCidr } from '../policy/cidr.js'
import { deviationConfigSchema } from './deviation-schema.js'
import { exportConfigSchema } from './export-schema.js'
import { ingressAuthSchema } from './identity-schema.js'
import { rbacConfigSchema } from './rbac-schema.js'

/** `host:port` with a numeric port 0–65535 (0: any free port); IPv6 hosts in brackets. */
export const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}|0)$/, 'expected "host:port" with a port 0–65535, e.g. "127.0.0.1:3128"')

/**
 * Splits a validated {@link listenAddress} into host (IPv6 brackets removed) and port.
 * Pure; the schema has already checked the shape.
 */
export function splitListen(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':')
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) }
}

/** Limits of the egress listeners. Units in the names (ms, bytes). */
export const sidecarLimitsSchema = z
  .object({
    /** Concurrent CONNECT tunnels + forwarded connections; beyond → 429 with Retry-After. Default 1024. */
    max_tunnels: num(z.number().int().positive()).default(1024),
    /**
     * Open client connections per listener (tunnels plus connections still sending their head or
     * ClientHello); beyond, new connections are closed at accept (slowloris with many sockets).
     * Default 2048.
     */
    max_connections: num(z.number().int().positive()).default(2048),
    /** Max bytes of a request head (request line + headers); beyond → 431. Default 16384. */
    max_header_bytes: num(z.number().int().min(1024)).default(16384),
    /** A client must finish sending its request head within this time (slowloris). Default 10000. */
    header_timeout_ms: num(z.number().int().positive()).default(10000),
    /** A tunnel with no bytes either way for this long is closed. Default 300000. */
    idle_timeout_ms: num(z.number().int().positive()).default(300000),
    /** Upstream TCP connect timeout → 504. Default 10000. */
    connect_timeout_ms: num(z.number().int().positive()).default(10000),
    /** Time to wait for a TLS ClientHello / first request bytes on transparent listeners and tunnels. Default 10000. */
    first_bytes_timeout_ms: num(z.number().int().positive()).default(10000),
    /** Upstream DNS query timeout per server. Default 2000. */
    dns_timeout_ms: num(z.number().int().positive()).default(2000),
    /** TTL cap of cached DNS answers, seconds. Default 300. */
    dns_cache_max_ttl_s: num(z.number().int().min(0)).default(300),
    /** TTL of steering answers (the sidecar address), seconds. Default 30. */
    dns_steering_ttl_s: num(z.number().int().min(0)).default(30),
    /** Max cached DNS entries. Default 10000. */
    dns_cache_entries: num(z.number().int().positive()).default(10000),
  })
  .strict()

/** `sidecar.baseline`: the behavioral baseline recorder (profiles/baseline/). */
export const baselineConfigSchema = z
  .object({
    /** Record a baseline. Default true. */
    enabled: bool(z.boolean()).default(true),
    /** ms between writes of `<data_dir>/baseline.json` (only when it changed). Default 5000. */
    flush_interval_ms: num(z.number().int().min(100).max(3_600_000)).default(5000),
    /** Shortest ms between two baselines shipped with heartbeats. Default 30000. */
    ship_interval_ms: num(z.number().int().min(0).max(3_600_000)).default(30000),
    /** Distinct destinations kept; events for more are counted as dropped. Default 1000. */
    max_destinations: num(z.number().int().min(1).max(100_000)).default(DEFAULT_BASELINE_LIMITS.max_destinations),
    /** Distinct DNS names kept. Default 2000. */
    max_dns_names: num(z.number().int().min(1).max(100_000)).default(DEFAULT_BASELINE_LIMITS.max_dns_names),
    /** Distinct tools kept. Default 256. */
    max_tools: num(z.number().int().min(1).max(10_000)).default(DEFAULT_BASELINE_LIMITS.max_tools),
    /** Minutes of per-minute call counts kept for the call-rate statistics. Default 1440. */
    rate_minutes: num(z.number().int().min(1).max(100_000)).default(DEFAULT_BASELINE_LIMITS.rate_minutes),
  })
  .strict()

/** The sidecar's listener addresses and data dir. Defaults are for a container / netns. */
export const sidecarSchema = z
  .object({
    proxy: listenAddress.default('0.0.0.0:3128'),
    dns: listenAddress.default('0.0.0.0:53'),
    transparent_http: listenAddress.nullable().default('0.0.0.0:80'),
    transparent_tls: listenAddress.nullable().default('0.0.0.0:443'),
    admin: listenAddress.default('127.0.0.1:9901'),
    /** Address DNS steering answers with: the sidecar as the provider sees it. */
    address: z.string().ip().default('10.254.1.1'),
    /**
     * The bypass trap (a Kubernetes pod's sidecar): a loopback address whose port, on 127.0.0.1 and
     * ::1, tcp and udp, receives whatever the pod's nftables rules send to no other listener; each
     * arrival is an `egress_bypass_attempt`. null (default): no trap.
     */
    bypass_trap: listenAddress.nullable().default(null),
    /**
     * The port a provider connected to when the kernel redirects its traffic to a transparent
     * listener on another port (a Kubernetes pod's init rules send tcp 80 to the http listener's
     * port): the port egress rules are matched against. Default: the listener's own port (the
     * provider connects to it directly, as under `mcp-hangar up` and Compose).
     */
    transparent_redirected_from: z
      .object({ http: z.number().int().min(1).max(65535).optional(), tls: z.number().int().min(1).max(65535).optional() })
      .strict()
      .default({}),
    /** Bind address of tcp forwards (their ports come from the tcp rules). Default the host of `proxy`. */
    tcp_forward_host: z.string().optional(),
    /** `steering`: allowed names → `address`; `passthrough`: real, filtered answers. */
    dns_mode: z.enum(['steering', 'passthrough']).default('steering'),
    /** Answer for a denied name. Default NXDOMAIN. */
    dns_denied_rcode: z.enum(['nxdomain', 'refused']).default('nxdomain'),
    /** Resolvers: `system` (resolv.conf nameservers) or `host:port`. */
    upstream_dns: z
      .array(z.union([z.literal('system'), z.string().regex(/^(\[[0-9a-fA-F:.]+\]|\d{1,3}(\.\d{1,3}){3}):\d{1,5}$/, 'expected "system" or "<IP>:<port>" (a host name would itself need resolving)')]))
      .min(1)
      .default(['system']),
    data_dir: z.string().default('./data'),
    /** Signals as JSON lines when no aggregator is configured: a path, or `-` for stdout. Default `<data_dir>/signals.jsonl`. */
    signal_log: z.string().optional(),
    /** An allowed destination emits an `egress_allowed` observation at most once per this window. Default 60000. */
    observation_window_ms: num(z.number().int().min(0)).default(60000),
    /**
     * The signal rate limit (signals/rate-limit.ts, docs/signals.md "Rate limit and roll-ups"):
     * signals beyond it are folded into `signals_suppressed` roll-ups; decisions are never skipped.
     */
    signal_limits: z
      .object({
        /** Steady signals per second per provider. Default 50. */
        rate_per_s: num(z.number().min(1).max(1_000_000)).default(50),
        /** Signals a provider may emit at once before the steady rate applies. Default 500. */
        burst: num(z.number().int().min(1).max(1_000_000)).default(500),
        /** Signals per (type, destination or tool) per roll-up window that pass. Default 10. */
        per_destination: num(z.number().int().min(1).max(1_000_000)).default(10),
        /** Roll-up window, ms: folded signals go out as one `signals_suppressed` this often. Default 10000. */
        rollup_interval_ms: num(z.number().int().min(100).max(3_600_000)).default(10_000),
        /** (type, destination) keys listed one by one in a roll-up; the rest are counted as `other`. Default 100. */
        rollup_max_entries: num(z.number().int().min(1).max(200)).default(100),
      })
      .strict()
      .default({}),
    /** The behavioral baseline (docs/baseline.md): recorded, kept in `<data_dir>/baseline.json`, shipped with heartbeats. */
    baseline: baselineConfigSchema.default({}),
    /** Runtime deviation detection against the baseline (config/deviation-schema.ts; an enterprise module). */
    deviation: deviationConfigSchema.default({}),
    limits: sidecarLimitsSchema.default({}),
  })
  .strict()

/** MCP ingress (the provider's `listen` address): who may call it. */
export const ingressSchema = z
  .object({
    /**
     * Origins a browser-borne request may come from (Streamable HTTP, "Security Warning": servers
     * MUST validate Origin to stop DNS rebinding). Exact `scheme://host[:port]`, or `*` for any.
     * A request without `Origin` (every non-browser client) is not affected. Default: loopback
     * origins only (`http(s)://localhost`, `127.0.0.1`, `[::1]`, any port).
     */
    allowed_origins: z.array(z.string().min(1)).optional(),
    /** Bearer tokens accepted on the ingress (`Authorization: Bearer <token>`); empty = no authentication. */
    auth_tokens: z.array(z.string().min(1)).default([]),
    /** Verified caller identity: bearer JWTs from these OIDC issuers (config/identity-schema.ts; an enterprise protection). */
    auth: ingressAuthSchema.optional(),
    /** Largest request body accepted, bytes; larger → 413. Default 4 MiB. */
    max_body_bytes: num(z.number().int().positive()).default(4 * 1024 * 1024),
    /** Largest JSON nesting depth accepted in a request body; deeper → JSON-RPC parse error. Default 64. */
    max_json_depth: num(z.number().int().positive()).default(64),
    /** Events kept per stream for `Last-Event-ID` resumption (stdio providers). Default 1000. */
    replay_events: num(z.number().int().min(0)).default(1000),
  })
  .strict()

/** A Kubernetes label name (`[prefix/]name`, the prefix a DNS subdomain): the API server's rule for label keys. */
export const k8sLabelKey = z
  .string()
  .regex(/^(?:(?=.{1,253}\/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'expected a Kubernetes label key: [prefix/]name, name 1–63 letters, digits, "-", "_", "."; prefix a DNS subdomain')
/** A Kubernetes label value: empty, or 1–63 letters, digits, `-`, `_`, `.` starting and ending alphanumeric. */
export const k8sLabelValue = z.string().regex(/^(?:(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, 'expected a Kubernetes label value: up to 63 letters, digits, "-", "_", ".", starting and ending with a letter or digit')

/**
 * One `providers.<name>.k8s.ingress_from[i]` entry: who may open the provider's MCP ingress in
 * Kubernetes. `namespace` alone: every pod of that namespace; `pod_labels` alone: pods with those
 * labels in the provider's own namespace; both: pods with those labels in that namespace; `cidr`
 * (alone): addresses outside the cluster's pods, e.g. a load balancer's.
 */
export const k8sIngressPeerSchema = z
  .object({
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a namespace name (a DNS label: lowercase letters, digits, "-", at most 63)').optional(),
    pod_labels: z.record(k8sLabelKey, k8sLabelValue).optional(),
    cidr: z.string().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.cidr !== undefined && (p.namespace !== undefined || p.pod_labels !== undefined)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cidr'], message: 'a cidr peer stands alone: put namespace/pod_labels in another entry' })
    if (p.cidr === undefined && p.namespace === undefined && p.pod_labels === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'name a namespace, pod_labels (or both), or a cidr' })
    if (p.pod_labels !== undefined && !Object.keys(p.pod_labels).length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pod_labels'], message: 'empty labels select every pod; name at least one label, or give only a namespace' })
    if (p.cidr !== undefined) {
      try {
        compileCidr(p.cidr)
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cidr'], message: (e as Error).message })
      }
    }
  })

/** `providers.<name>.k8s`: settings that only Kubernetes output reads (`mcp-hangar k8s networkpolicy`). */
export const providerK8sSchema = z
  .object({
    /** Who may reach the MCP ingress (NetworkPolicy ingress peers). Default none: no ingress at all. */
    ingress_from: z.array(k8sIngressPeerSchema).default([]),
  })
  .strict()

export const providerSchema = z
  .object({
    mode: z.enum(['subprocess', 'remote', 'container']).default('subprocess'),
    command: z.array(z.string()).min(1).optional(),
    endpoint: z.string().url().optional(),
    /** `mode: container`: the provider's image (a stdio MCP server; local or pullable). */
    image: z.string().optional(),
    /** `mode: container`: bind mounts, `host-path:container-path[:ro|rw]` (host paths relative to the config file). */
    volumes: z.array(z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw))?$/, 'expected "host-path:/container/path[:ro|rw]"')).default([]),
    /**
     * Limits of a container provider, and of a subprocess provider under `mcp-hangar up` with
     * isolation `netns` (its cgroup). `memory` like `256m`, `1g` (bytes when a bare number; `up`
     * default 1g); `cpu` in cores (0.5 = half a core); `pids`: most processes and threads (`up`
     * default 512).
     */
    resources: z
      .object({
        memory: z.union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?[bkmg]?$/i, 'expected bytes or a size like 256m, 1g')]).optional(),
        cpu: num(z.number().positive().max(1024)).optional(),
        pids: num(z.number().int().min(16).max(4_194_304)).optional(),
      })
      .strict()
      .default({}),
    /** `mode: container`: a read-only root file system (a tmpfs /tmp is always given). Default true. */
    read_only: z.boolean().default(true),
    /** `mode: container`: the user the provider runs as (`uid[:gid]`, or `image` for the image's own). Default `65534:65534`. */
    user: z.string().default('65534:65534'),
    /** `mode: container`: the container broker's socket, as the sidecar sees it. Set by `mcp-hangar up`, never by hand. */
    broker_socket: z.string().optional(),
    env: z.record(z.string()).default({}),
    /** Working directory of a subprocess provider. Default: the sidecar's. */
    cwd: z.string().optional(),
    listen: listenAddress.optional(),
    ingress: ingressSchema.default({}),
    sidecar: sidecarSchema.default({}),
    idle_ttl_s: num(z.number().int().min(0)).default(300),
    health_check_interval_s: num(z.number().int().positive()).default(60),
    max_consecutive_failures: num(z.number().int().positive()).default(3),
    max_concurrency: num(z.number().int().positive()).default(10),
    rate_limit: z.object({ rps: num(z.number().positive().finite()), burst: num(z.number().int().positive()) }).strict().optional(),
    session_mode: z.enum(['shared', 'per_session']).default('shared'),
    /** `per_session`: most provider processes at once; a new session beyond it gets 503. Default 16. */
    max_sessions: num(z.number().int().positive()).default(16),
    /** A call waiting for a `max_concurrency` slot longer than this is refused (`rate_limited`). Default 30000. */
    queue_timeout_ms: num(z.number().int().positive()).default(30000),
    /** A request to the provider unanswered after this long gets a JSON-RPC error. Default 60000. */
    request_timeout_ms: num(z.number().int().positive()).default(60000),
    /** Subprocess: spawn + `initialize` must finish within this. Default 30000. */
    startup_timeout_ms: num(z.number().int().positive()).default(30000),
    /** Subprocess: on stop, stdin is closed, then SIGTERM, then SIGKILL, each after this long. Default 5000. */
    shutdown_timeout_ms: num(z.number().int().positive()).default(5000),
    /** Subprocess restarts after a crash: delay doubles from initial_ms up to max_ms, with ±20 % jitter. */
    restart_backoff: z
      .object({ initial_ms: num(z.number().int().positive()).default(500), max_ms: num(z.number().int().positive()).default(30000) })
      .strict()
      .default({}),
    /** Failures in a row (failed starts, crashes before the process has run stably for 30 s) that open the breaker; it half-opens after reset_timeout_s. */
    circuit_breaker: z
      .object({ failure_threshold: num(z.number().int().positive()).default(10), reset_timeout_s: num(z.number().positive().finite()).default(60) })
      .strict()
      .default({}),
    /** A built-in profile name (bare: no `/`, no .yaml/.yml) or a profile file path; `capabilities` is merged over it (egress appended, other keys replaced one level deep; config/load.ts mergeCapabilities). */
    profile: z.string().optional(),
    capabilities: capabilitiesSchema.default({}),
    /** Kubernetes-only settings ({@link providerK8sSchema}); absent outside Kubernetes. */
    k8s: providerK8sSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.mode === 'subprocess' && !p.command) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['command'], message: 'mode "subprocess" needs a command' })
    if (p.mode === 'remote' && !p.endpoint) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['endpoint'], message: 'mode "remote" needs an endpoint URL' })
    if (p.mode === 'container' && !p.image) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['image'], message: 'mode "container" needs an image' })
  })

/** The aggregator (docs/aggregator.md) and how sidecars reach it. */
export const aggregatorSchema = z
  .object({
    /** Where `mcp-hangar aggregator` serves. Default 127.0.0.1:8000. */
    listen: listenAddress.default('127.0.0.1:8000'),
    /** Where sidecars find it; unset = sidecars do not ship signals (they write `signal_log`). */
    url: z.string().url().optional(),
    /** Audit log (`<data_dir>/audit/`) and policy book (`<data_dir>/policy.json`). Default ./data. */
    data_dir: z.string().default('./data'),
    /** Tokens sidecars present for POST /v1/signals, heartbeats and policy polls; empty = open (loopback only!). */
    signal_tokens: z.array(z.string().min(1)).default([]),
    /** Tokens for queries, quarantine/approve and /mcp; empty = open (loopback only!). */
    admin_tokens: z.array(z.string().min(1)).default([]),
    /** Extra tokens accepted on /mcp only (read-and-act agents that are not admins of the HTTP API). */
    mcp_tokens: z.array(z.string().min(1)).default([]),
    /** The audit log rotates when its current file passes this size, bytes. Default 100 MiB. */
    audit_max_bytes: num(z.number().int().min(1024)).default(100 * 1024 * 1024),
    /** Rotated audit files kept (older ones are deleted, and leave the rebuild too). Default 10. */
    audit_keep_files: num(z.number().int().min(1)).default(10),
    /** Signals kept in memory for queries and streams (older ones stay in the audit files). Default 100000. */
    memory_signals: num(z.number().int().min(1000)).default(100_000),
    /**
     * Violation records (signals/retention.ts) are kept at least this many days after they were
     * received, even once their rotated file is beyond `audit_keep_files`. Default 90.
     */
    audit_retention_days: num(z.number().int().min(1).max(36_500)).default(90),
    /**
     * The whole audit directory's size budget, bytes. Near it, observations are rotated out
     * first; when violations alone fill it, batches are refused with 507. At least
     * 2 × `audit_max_bytes`. Default 10 GiB.
     */
    audit_max_total_bytes: num(z.number().int().min(4096)).default(10 * 1024 * 1024 * 1024),
    /** SIEM export sinks (config/export-schema.ts; an enterprise module: without a license they are reported, not run). */
    export: exportConfigSchema.optional(),
    /** Roles, API keys and OIDC on the aggregator (config/rbac-schema.ts; an enterprise module). */
    auth: rbacConfigSchema.optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.audit_max_total_bytes < 2 * a.audit_max_bytes)
      ctx.addIssue({ code: 'custom', path: ['audit_max_total_bytes'], message: `must be at least 2 × audit_max_bytes (${2 * a.audit_max_bytes}): the current file and one rotated file must fit` })
    const admin = new Set(a.admin_tokens)
    a.signal_tokens.forEach((tok, i) => {
      if (admin.has(tok)) ctx.addIssue({ code: 'custom', path: ['signal_tokens', i], message: 'is also in admin_tokens: a token has one class (signal tokens ingest, admin tokens query and control)' })
    })
    const signal = new Set(a.signal_tokens)
    a.mcp_tokens.forEach((tok, i) => {
      if (signal.has(tok)) ctx.addIssue({ code: 'custom', path: ['mcp_tokens', i], message: 'is also in signal_tokens: a sidecar\'s signal token must not open /mcp' })
    })
  })

export const hangarConfigSchema = z
  .object({
    aggregator: aggregatorSchema.optional(),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'provider names are letters, digits, "-" and "_"'), providerSchema).default({}),
  })
  .strict()

export type HangarConfig = z.infer<typeof hangarConfigSchema>
export type ProviderConfig = z.infer<typeof providerSchema>
export type SidecarConfig = z.infer<typeof sidecarSchema>
export type SidecarLimits = z.infer<typeof sidecarLimitsSchema>
export type IngressConfig = z.infer<typeof ingressSchema>
export type K8sIngressPeer = z.infer<typeof k8sIngressPeerSchema>
