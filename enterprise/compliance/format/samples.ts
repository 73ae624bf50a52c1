/**
 * One sample signal per type of the catalogue (signals/types.ts), shaped as docs/signals.md
 * describes each type, and the markdown of docs/siem.md's "Samples" section rendered from them by
 * the real formatters (enterprise/scripts/siem-samples.mjs writes it; a test keeps the page in step).
 */
import { SIGNAL_SCHEMA, SIGNAL_TYPES, type Signal, type SignalType } from '../../../signals/types.js'
import { validateSignal } from '../../../signals/validate.js'
import type { ExportFormat, FormatOptions, Formatter } from './index.js'

/** The host name the samples are formatted for. */
export const SAMPLE_OPTIONS: FormatOptions = Object.freeze({ hostname: 'aggregator.example.internal' })

type Extra = Partial<Omit<Signal, 'schema' | 'id' | 'time' | 'type' | 'severity'>>

const SHAPES: Record<keyof typeof SIGNAL_TYPES, Extra> = {
  egress_denied: { kind: 'violation', action: 'blocked', destination: { host: 'pastebin.com', port: 443, protocol: 'https' }, rule: 'default-deny', reason: 'pastebin.com:443 matches no egress rule', details: { code: 'no_matching_rule', via: 'connect' } },
  egress_allowed: { kind: 'observation', action: 'allowed', destination: { host: 'api.github.com', ip: '140.82.112.6', port: 443, protocol: 'https' }, rule: 'egress[0]', reason: 'api.github.com:443 allowed by egress[0]', details: { via: 'transparent_tls' } },
  egress_closed: { kind: 'observation', action: 'allowed', destination: { host: 'api.github.com', ip: '140.82.112.6', port: 443, protocol: 'https' }, rule: 'egress[0]', reason: 'tunnel to api.github.com:443 closed', details: { via: 'connect', bytes_up: 1834, bytes_down: 52210, duration_ms: 412 } },
  dns_denied: { kind: 'violation', action: 'blocked', destination: { host: 'exfil.attacker.example', protocol: 'dns' }, rule: 'default-deny', reason: 'exfil.attacker.example is not in the DNS allowlist', details: { code: 'no_matching_rule', qtype: 'A' } },
  dns_allowed: { kind: 'observation', action: 'allowed', destination: { host: 'api.github.com', protocol: 'dns' }, rule: 'egress[0]', reason: 'api.github.com resolved', details: { qtype: 'AAAA' } },
  dns_answer_stripped: { kind: 'violation', action: 'blocked', destination: { host: 'rebind.example', protocol: 'dns' }, rule: 'always-denied:private', reason: 'the answer for rebind.example pointed into 10.0.0.0/8 and was removed', details: { stripped: [{ ip: '10.0.0.5', cls: 'private' }] } },
  dns_tunnel_suspected: { kind: 'violation', action: 'blocked', destination: { host: 'mzxw6ytboi4dcmrtgq2tmnzy.t.example', protocol: 'dns' }, rule: 'dns-tunnel', reason: 'a label of 24 characters with the entropy of encoded data', details: { code: 'dns_tunnel_suspected', qtype: 'TXT' } },
  tool_denied: { kind: 'violation', action: 'blocked', tool: 'delete_repo', session_id: 'sess-7f3a', caller: 'alice@example.com', caller_verified: true, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', rule: 'tools.deny_list[0]', reason: 'delete_repo is on the deny_list', details: { request_id: 7 } },
  undeclared_tool: { kind: 'violation', action: 'alerted', enforcement_mode: 'alert', tool: 'run_shell', session_id: 'sess-7f3a', rule: 'tools.expected_tools', reason: 'the provider offered run_shell, which is not in expected_tools', details: { digest: 'sha256:9c1f0e4a' } },
  tool_definition_drift: { kind: 'violation', action: 'blocked', tool: 'search_issues', rule: 'first-sight-pin', reason: 'the description of search_issues changed from its pinned digest', details: { pinned: 'sha256:1111', current: 'sha256:2222', fields: ['description'] } },
  schema_violation: { kind: 'violation', action: 'blocked', tool: 'create_issue', caller: 'ci-bot', caller_verified: false, rule: 'inputSchema', reason: 'arguments of create_issue do not match its inputSchema', details: { request_id: 12, errors: [{ path: '/title', message: 'must be string' }], draft: '2020-12' } },
  secret_in_arguments: { kind: 'violation', action: 'blocked', tool: 'create_gist', rule: 'arguments.secret_patterns.aws_access_key', reason: 'an AWS access key in the arguments of create_gist', details: { request_id: 13, findings: [{ path: '/content', pattern: 'aws_access_key', redacted: 'AKIA…MPLE' }] } },
  rate_limited: { kind: 'enforcement', action: 'blocked', tool: 'search_issues', rule: 'rate_limit', reason: 'search_issues: more than 10 calls a second', details: { request_id: 14, retry_after_ms: 250 } },
  tool_called: { kind: 'observation', action: 'allowed', tool: 'search_issues', caller: 'claude-desktop', reason: 'search_issues called', details: { argument_keys: ['query'], outcome: 'ok', duration_ms: 88, request_id: 15 } },
  provider_state_changed: { kind: 'lifecycle', action: 'allowed', reason: 'github went from INITIALIZING to READY', details: { from: 'INITIALIZING', to: 'READY', cause: 'initialized' } },
  quarantine_triggered: { kind: 'enforcement', action: 'quarantined', enforcement_mode: 'quarantine', rule: 'quarantine', reason: 'quarantined after 5 violations in 60 s', details: { by: 'violation' } },
  quarantine_released: { kind: 'enforcement', action: 'allowed', reason: 'quarantine lifted by an operator', details: { by: 'api' } },
  sidecar_started: { kind: 'lifecycle', action: 'allowed', reason: 'sidecar started', details: { ports: { proxy: 15001, dns: 15053 } } },
  sidecar_stopped: { kind: 'lifecycle', action: 'allowed', reason: 'sidecar stopped' },
  host_access_granted: { kind: 'lifecycle', action: 'allowed', rule: 'mcp.hangar.host-access', reason: 'the provider runs with the Docker socket mounted', details: { grants: [{ grant: 'docker-socket', path: 'services.github.volumes[0]', setting: '/var/run/docker.sock:/var/run/docker.sock' }] } },
  egress_bypass_attempt: { kind: 'violation', action: 'blocked', isolation: 'netns', destination: { ip: '1.1.1.1', port: 53, protocol: 'udp' }, rule: 'netns-egress-drop', reason: '3 packets to 1.1.1.1:53/udp dropped in the provider namespace', details: { packets: 3, bytes: 192, where: 'namespace' } },
  signals_suppressed: { kind: 'lifecycle', action: 'allowed', reason: '1200 signals folded in 10 s', details: { window_start: '2026-12-07T10:00:00.000Z', window_end: '2026-12-07T10:00:10.000Z', total: 1200, by_type: { dns_denied: 1200 }, entries: [{ type: 'dns_denied', destination: { host: 'x.example', protocol: 'dns' }, count: 1200, first_seen: '2026-12-07T10:00:00.100Z', last_seen: '2026-12-07T10:00:09.900Z' }], other: { count: 0, keys: 0 }, rollup_seq: 0, cause: 'interval' } },
  behavior_deviation: { kind: 'violation', action: 'alerted', enforcement_mode: 'alert', tool: 'delete_repo', reason: 'call of delete_repo, a tool the baseline saw listed but never called', details: { class: 'new_tool', key: 'delete_repo', baseline: 0, observed: 1, window_ms: 600000, listed_before: true, known_tools: 12, baseline_revision: 18211, baseline_updated: '2026-12-07T09:58:12.004Z', cooldown_ms: 600000 } },
  signals_dropped: { kind: 'lifecycle', action: 'allowed', reason: 'the spool was full: its oldest segment (812 signals) was dropped', details: { count: 812, reason: 'spool_full' } },
  admin_action: { kind: 'lifecycle', action: 'allowed', sidecar_id: 'aggregator', caller: 'oncall-bot', caller_verified: true, reason: 'oncall-bot quarantined provider github: exfiltration suspected', details: { action: 'quarantine', principal: 'hk_3f9c1a2b', via: 'api_key', role: 'operator', route: 'POST /v1/providers/{name}/quarantine', provider: 'github', policy_version: 4, changed: true } },
  admin_action_denied: { kind: 'violation', action: 'blocked', provider: 'hangar:aggregator', sidecar_id: 'aggregator', caller: 'dashboard', reason: 'dashboard (role viewer) was refused POST /v1/keys: it needs role admin', details: { principal: 'hk_0a1b2c3d', via: 'api_key', role: 'viewer', required_role: 'admin', route: 'POST /v1/keys' } },
}

/**
 * Every catalogue type with a sample signal of that type (ids and times fixed, so samples are
 * stable), as the validator returns it (the field order of a stored signal).
 * @throws Error naming the type when a sample does not validate.
 */
export function sampleSignals(): Signal[] {
  return Object.entries(SHAPES).map(([type, extra], i) => stored({
    schema: SIGNAL_SCHEMA,
    id: `01938a4e-7c00-7000-8000-${(i + 1).toString(16).padStart(12, '0')}`,
    time: new Date(Date.UTC(2026, 11, 7, 10, 0, i, 123)).toISOString(),
    kind: 'violation',
    type: type as SignalType,
    severity: SIGNAL_TYPES[type as keyof typeof SIGNAL_TYPES].severity,
    action: 'blocked',
    enforcement_mode: 'block',
    provider: 'github',
    sidecar_id: 'github-7d9f',
    reason: typeName(type),
    ...extra,
  }))
}

function stored(raw: Signal): Signal {
  const v = validateSignal(raw)
  if (!v.ok) throw new Error(`sample ${raw.type}: ${v.error}`)
  return v.signal
}

function typeName(type: string): string {
  return type.replace(/_/g, ' ')
}

/** Markers around the generated part of docs/siem.md. */
export const SAMPLES_BEGIN = '<!-- samples: generated by enterprise/scripts/siem-samples.mjs; do not edit -->'
export const SAMPLES_END = '<!-- end of samples -->'

/**
 * The generated "Samples" section: per signal type, the record of each format exactly as the
 * formatter writes it. Deterministic for given formatters.
 */
export function renderSamples(formatters: Readonly<Partial<Record<ExportFormat, Formatter>>>): string {
  const out: string[] = [SAMPLES_BEGIN, '']
  for (const s of sampleSignals()) {
    out.push(`### \`${s.type}\``, '')
    for (const f of ['jsonl', 'cef', 'leef', 'syslog', 'ocsf'] as const) {
      const fmt = formatters[f]
      if (!fmt) continue
      out.push(`\`${f}\`:`, '', '```' + (f === 'jsonl' || f === 'ocsf' ? 'json' : 'text'), fmt(s, SAMPLE_OPTIONS), '```', '')
    }
  }
  out.push(SAMPLES_END)
  return out.join('\n')
}

/**
 * `doc` with the text between {@link SAMPLES_BEGIN} and {@link SAMPLES_END} (markers included)
 * replaced by {@link renderSamples}.
 * @throws Error when the page lacks either marker.
 */
export function withSamples(doc: string, formatters: Readonly<Partial<Record<ExportFormat, Formatter>>>): string {
  const a = doc.indexOf(SAMPLES_BEGIN)
  const b = doc.indexOf(SAMPLES_END)
  if (a < 0 || b < a) throw new Error(`the page has no "${SAMPLES_BEGIN}" … "${SAMPLES_END}" section`)
  return doc.slice(0, a) + renderSamples(formatters) + doc.slice(b + SAMPLES_END.length)
}
