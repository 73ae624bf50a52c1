/**
 * The schema of `hangar.yaml` (config/schema.ts) on its own: listen addresses and splitListen,
 * the sidecar limits and their floors, numbers written as strings, the per-mode requirements of a
 * provider, the aggregator's cross-field rules (size budget, one class per token), provider names,
 * and strictness (an unknown key anywhere is an error naming its path). Each refusal has a
 * control that passes. The loader's messages over these issues are in load.test.ts and
 * unknown-keys.test.ts.
 */
import t from 'tap'
import type { ZodError, ZodTypeAny } from 'zod'
import { aggregatorSchema, baselineConfigSchema, hangarConfigSchema, ingressSchema, listenAddress, providerSchema, sidecarLimitsSchema, sidecarSchema, splitListen } from '../../config/schema.js'

/** The issues of a failed parse as `path: message`, or [] when it parsed. */
function issues(schema: ZodTypeAny, value: unknown): string[] {
  const r = schema.safeParse(value)
  if (r.success) return []
  return (r.error as ZodError).issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

t.test('listenAddress: host:port with port 0–65535, IPv6 in brackets; anything else refused with the expected form', async (t) => {
  const good = ['127.0.0.1:3128', '0.0.0.0:0', 'localhost:65535', '[::1]:53', '[::ffff:10.0.0.1]:80', 'sidecar:1', '10.0.0.1:9', '10.0.0.1:59999', '10.0.0.1:65529']
  for (const a of good) t.same(issues(listenAddress, a), [], `${a} accepted`)
  const bad = ['127.0.0.1', ':3128', '127.0.0.1:65536', '127.0.0.1:70000', '127.0.0.1:-1', '127.0.0.1:03128', '::1:53', '[::1]', '[dns.example]:53', 'host name:80', '127.0.0.1:80 ', '127.0.0.1:8o']
  for (const a of bad) t.match(issues(listenAddress, a), [/expected "host:port" with a port 0–65535/], `${JSON.stringify(a)} refused`)
})

t.test('splitListen: host without brackets and numeric port', async (t) => {
  t.same(splitListen('127.0.0.1:3128'), { host: '127.0.0.1', port: 3128 })
  t.same(splitListen('[::1]:53'), { host: '::1', port: 53 })
  t.same(splitListen('[fe80::1]:0'), { host: 'fe80::1', port: 0 })
  t.same(splitListen('sidecar:9901'), { host: 'sidecar', port: 9901 })
})

t.test('sidecar limits: documented defaults; numbers as strings accepted; floors and integer-ness enforced per field', async (t) => {
  t.same(sidecarLimitsSchema.parse({}), {
    max_tunnels: 1024, max_connections: 2048, max_header_bytes: 16384, header_timeout_ms: 10000, idle_timeout_ms: 300000,
    connect_timeout_ms: 10000, first_bytes_timeout_ms: 10000, dns_timeout_ms: 2000, dns_cache_max_ttl_s: 300, dns_steering_ttl_s: 30, dns_cache_entries: 10000,
  })
  t.equal(sidecarLimitsSchema.parse({ max_tunnels: '7' }).max_tunnels, 7, '"7" from an environment variable is 7')
  t.equal(sidecarLimitsSchema.parse({ dns_cache_max_ttl_s: ' 0 ' }).dns_cache_max_ttl_s, 0, 'surrounding spaces are allowed')
  t.match(issues(sidecarLimitsSchema, { max_tunnels: 0 }), [/^max_tunnels: /])
  t.match(issues(sidecarLimitsSchema, { max_tunnels: 1.5 }), [/^max_tunnels: .*integer/])
  t.match(issues(sidecarLimitsSchema, { max_tunnels: '1e3' }), [/^max_tunnels: Expected number, received string/], 'only plain decimals are coerced')
  t.match(issues(sidecarLimitsSchema, { max_header_bytes: 1023 }), [/^max_header_bytes: .*1024/])
  t.same(issues(sidecarLimitsSchema, { max_header_bytes: 1024 }), [], 'control: 1024 is the floor')
  t.match(issues(sidecarLimitsSchema, { dns_cache_max_ttl_s: -1 }), [/^dns_cache_max_ttl_s: /])
  t.match(issues(sidecarLimitsSchema, { max_tunnel: 5 }), [/Unrecognized key\(s\) in object: 'max_tunnel'/], 'a typo is an error, not a silent default')
})

t.test('sidecar: defaults for a container, upstream_dns entries must be system or IP:port, dns_mode and rcode enums', async (t) => {
  const d = sidecarSchema.parse({})
  t.match(d, { proxy: '0.0.0.0:3128', dns: '0.0.0.0:53', transparent_http: '0.0.0.0:80', transparent_tls: '0.0.0.0:443', admin: '127.0.0.1:9901', address: '10.254.1.1', dns_mode: 'steering', dns_denied_rcode: 'nxdomain', upstream_dns: ['system'], data_dir: './data', observation_window_ms: 60000 })
  t.same(d.signal_limits, { rate_per_s: 50, burst: 500, per_destination: 10, rollup_interval_ms: 10000, rollup_max_entries: 100 })
  t.same(issues(sidecarSchema, { transparent_http: null, transparent_tls: null }), [], 'transparent listeners may be switched off with null')
  t.same(issues(sidecarSchema, { upstream_dns: ['system', '10.0.0.53:53', '[::1]:5353'] }), [])
  t.match(issues(sidecarSchema, { upstream_dns: ['dns.example:53'] }), [/^upstream_dns\.0: expected "system" or "<IP>:<port>"/])
  t.match(issues(sidecarSchema, { upstream_dns: [] }), [/^upstream_dns: /], 'at least one resolver')
  t.match(issues(sidecarSchema, { address: 'sidecar.local' }), [/^address: /], 'the steering address is an IP')
  t.match(issues(sidecarSchema, { dns_mode: 'forward' }), [/^dns_mode: /])
  t.match(issues(sidecarSchema, { dns_denied_rcode: 'servfail' }), [/^dns_denied_rcode: /])
  t.match(issues(sidecarSchema, { signal_limits: { rate_per_s: 0.5 } }), [/^signal_limits\.rate_per_s: /])
  t.match(issues(sidecarSchema, { signal_limits: { rollup_max_entries: 201 } }), [/^signal_limits\.rollup_max_entries: /])
  t.match(issues(sidecarSchema, { limits: { idle_timeout: 5 } }), [/^limits: Unrecognized key/], 'nested unknown keys name their object')
})

t.test('baseline config: defaults and ranges', async (t) => {
  t.same(baselineConfigSchema.parse({}), { enabled: true, flush_interval_ms: 5000, ship_interval_ms: 30000, max_destinations: 1000, max_dns_names: 2000, max_tools: 256, rate_minutes: 1440 })
  t.equal(baselineConfigSchema.parse({ enabled: 'false' }).enabled, false, '"false" from the environment is false')
  t.match(issues(baselineConfigSchema, { enabled: 'no' }), [/^enabled: /], 'other words are not booleans')
  t.match(issues(baselineConfigSchema, { flush_interval_ms: 99 }), [/^flush_interval_ms: /])
  t.same(issues(baselineConfigSchema, { flush_interval_ms: 100, ship_interval_ms: 0 }), [], 'control: the floors themselves')
  t.match(issues(baselineConfigSchema, { max_tools: 10_001 }), [/^max_tools: /])
})

t.test('ingress: 4 MiB body and depth 64 by default; tokens must be non-empty strings', async (t) => {
  t.same(ingressSchema.parse({}), { auth_tokens: [], max_body_bytes: 4 * 1024 * 1024, max_json_depth: 64, replay_events: 1000 })
  t.match(issues(ingressSchema, { auth_tokens: [''] }), [/^auth_tokens\.0: /], 'an empty token would match an empty bearer')
  t.match(issues(ingressSchema, { allowed_origins: [''] }), [/^allowed_origins\.0: /])
  t.same(issues(ingressSchema, { replay_events: 0 }), [], 'replay may be off')
})

t.test('provider: each mode names what it needs, at that path; the control with it passes', async (t) => {
  t.same(issues(providerSchema, {}), ['command: mode "subprocess" needs a command'], 'subprocess is the default mode')
  t.same(issues(providerSchema, { command: ['node', 'server.js'] }), [])
  t.match(issues(providerSchema, { command: [] }), [/^command: /], 'an empty command is refused too')
  t.same(issues(providerSchema, { mode: 'remote' }), ['endpoint: mode "remote" needs an endpoint URL'])
  t.match(issues(providerSchema, { mode: 'remote', endpoint: 'not a url' }), [/^endpoint: Invalid url/])
  t.same(issues(providerSchema, { mode: 'remote', endpoint: 'https://mcp.example.com/mcp' }), [])
  t.same(issues(providerSchema, { mode: 'container' }), ['image: mode "container" needs an image'])
  t.same(issues(providerSchema, { mode: 'container', image: 'ghcr.io/x/y:1' }), [])
  t.match(issues(providerSchema, { mode: 'lambda' }), [/^mode: /])
})

t.test('provider: volumes, resources, rate limit and session fields keep their shapes', async (t) => {
  const base = { mode: 'container', image: 'img' }
  t.same(issues(providerSchema, { ...base, volumes: ['./data:/data', '/etc/x:/x:ro', 'rel:/y:rw'] }), [])
  for (const v of ['/data', 'a:relative', 'a:/b:rx', 'a:/b:ro:extra']) t.match(issues(providerSchema, { ...base, volumes: [v] }), [/^volumes\.0: expected "host-path:\/container\/path\[:ro\|rw\]"/], `volume ${v} refused`)
  t.same(issues(providerSchema, { ...base, resources: { memory: '256m', cpu: '0.5', pids: 16 } }), [])
  t.same(issues(providerSchema, { ...base, resources: { memory: 1024 } }), [], 'memory in bytes')
  t.match(issues(providerSchema, { ...base, resources: { memory: '1 gig' } }), [/^resources\.memory: /])
  t.match(issues(providerSchema, { ...base, resources: { pids: 15 } }), [/^resources\.pids: /], 'fewer than 16 pids cannot run a node process')
  t.match(issues(providerSchema, { ...base, resources: { cpu: 0 } }), [/^resources\.cpu: /])
  t.match(issues(providerSchema, { ...base, rate_limit: { rps: 5 } }), [/^rate_limit\.burst: /], 'a rate limit needs its burst')
  t.same(issues(providerSchema, { ...base, rate_limit: { rps: '2.5', burst: '10' } }), [], 'control: rps and burst (as strings)')
  t.match(issues(providerSchema, { ...base, rate_limit: { rps: 5, burst: 1, per: 's' } }), [/^rate_limit: Unrecognized key/])
  t.match(issues(providerSchema, { ...base, session_mode: 'pooled' }), [/^session_mode: /])
  const p = providerSchema.parse(base)
  t.match(p, { read_only: true, user: '65534:65534', idle_ttl_s: 300, session_mode: 'shared', max_sessions: 16, request_timeout_ms: 60000, restart_backoff: { initial_ms: 500, max_ms: 30000 }, circuit_breaker: { failure_threshold: 10, reset_timeout_s: 60 } })
  t.match(issues(providerSchema, { ...base, capabilities: { network: { egres: [] } } }), [/^capabilities\.network: Unrecognized key\(s\) in object: 'egres'/], 'capabilities are strict too')
})

t.test('aggregator: the total budget is at least 2 × audit_max_bytes; a token has one class', async (t) => {
  t.match(aggregatorSchema.parse({}), { listen: '127.0.0.1:8000', data_dir: './data', audit_max_bytes: 100 * 1024 * 1024, audit_keep_files: 10, audit_retention_days: 90, signal_tokens: [], admin_tokens: [] })
  t.same(issues(aggregatorSchema, { audit_max_bytes: 4096, audit_max_total_bytes: 8191 }), ['audit_max_total_bytes: must be at least 2 × audit_max_bytes (8192): the current file and one rotated file must fit'])
  t.same(issues(aggregatorSchema, { audit_max_bytes: 4096, audit_max_total_bytes: 8192 }), [], 'control: exactly 2 ×')
  t.same(issues(aggregatorSchema, { signal_tokens: ['s1', 'shared'], admin_tokens: ['shared'] }), ['signal_tokens.1: is also in admin_tokens: a token has one class (signal tokens ingest, admin tokens query and control)'])
  t.same(issues(aggregatorSchema, { signal_tokens: ['s1'], mcp_tokens: ['m1', 's1'] }), ['mcp_tokens.1: is also in signal_tokens: a sidecar\'s signal token must not open /mcp'])
  t.same(issues(aggregatorSchema, { signal_tokens: ['s1'], admin_tokens: ['a1'], mcp_tokens: ['a1', 'm1'] }), [], 'control: distinct signal tokens; an admin token may also be an mcp token')
  t.match(issues(aggregatorSchema, { url: '//aggregator:8000' }), [/^url: Invalid url/])
  t.match(issues(aggregatorSchema, { audit_retention_days: 0 }), [/^audit_retention_days: /])
  t.match(issues(aggregatorSchema, { memory_signals: 999 }), [/^memory_signals: /])
})

t.test('hangar.yaml: provider names are letters, digits, - and _ (1–63, not starting with - or _); top-level keys are strict', async (t) => {
  const p = { command: ['x'] }
  t.same(issues(hangarConfigSchema, { providers: { github: p, 'web-fetch_2': p, A: p, ['a'.repeat(63)]: p } }), [])
  for (const name of ['-lead', '_lead', 'has space', 'dot.name', 'a/b', '', 'a'.repeat(64)]) {
    t.match(issues(hangarConfigSchema, { providers: { [name]: p } }), [/provider names are letters, digits, "-" and "_"/], `${JSON.stringify(name)} refused`)
  }
  t.match(issues(hangarConfigSchema, { provider: {} }), [/Unrecognized key\(s\) in object: 'provider'/])
  t.same(hangarConfigSchema.parse({}), { providers: {} })
  t.match(issues(hangarConfigSchema, { providers: { github: {} } }), ['providers.github.command: mode "subprocess" needs a command'], 'a provider issue names the provider')
})
