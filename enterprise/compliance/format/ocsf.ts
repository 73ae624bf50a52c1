/**
 * `ocsf`: Open Cybersecurity Schema Framework 1.3.0 events. Each signal becomes one event of the
 * class that fits it ({@link ocsfClassOf}); the JSON Schemas of those classes, written from the
 * 1.3.0 definitions, are in enterprise/compliance/ocsf/. The field mapping is in docs/siem.md ("ocsf").
 */
import { isIP } from 'node:net'
import { HANGAR_VERSION } from '../../../core/version.js'
import type { Signal, SignalDestination } from '../../../signals/types.js'
import { OCSF_SEVERITY, PRODUCT, VENDOR, epochMs, requestUrl, severityOn, typeName } from './fields.js'
import type { FormatOptions } from './index.js'

/** The OCSF schema version every event names in `metadata.version`. */
export const OCSF_VERSION = '1.3.0'

/** The classes signals map to: `class_uid`, `class_name`, `category_uid`, `category_name` (OCSF 1.3.0). */
export const OCSF_CLASSES = Object.freeze({
  base_event: { class_uid: 0, class_name: 'Base Event', category_uid: 0, category_name: 'Uncategorized' },
  detection_finding: { class_uid: 2004, class_name: 'Detection Finding', category_uid: 2, category_name: 'Findings' },
  network_activity: { class_uid: 4001, class_name: 'Network Activity', category_uid: 4, category_name: 'Network Activity' },
  http_activity: { class_uid: 4002, class_name: 'HTTP Activity', category_uid: 4, category_name: 'Network Activity' },
  dns_activity: { class_uid: 4003, class_name: 'DNS Activity', category_uid: 4, category_name: 'Network Activity' },
  application_lifecycle: { class_uid: 6002, class_name: 'Application Lifecycle', category_uid: 6, category_name: 'Application Activity' },
} as const)

export type OcsfClass = keyof typeof OCSF_CLASSES

/** An OCSF event: a JSON object. */
export type OcsfEvent = Record<string, unknown>

const SEVERITY_CAPTION: Record<number, string> = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical' }
const SEVERITY_ORDER = ['info', 'low', 'medium', 'high', 'critical']
/** OCSF `hostname_t` (1.3.0 dictionary). */
const HOSTNAME = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/
/** Tool-policy and drift types: Detection Finding whatever their severity. */
const TOOL_FINDINGS = new Set(['tool_denied', 'undeclared_tool', 'tool_definition_drift', 'schema_violation', 'secret_in_arguments'])
/** Where a denied http/https request got the sidecar's `403` (forward proxy, transparent :80), not a closed connection. */
const ANSWERED_VIA = new Set(['connect', 'transparent_http'])

function details(s: Signal): Record<string, unknown> {
  return s.details ?? {}
}

function validHost(host: string | undefined): host is string {
  return host !== undefined && host.length <= 253 && HOSTNAME.test(host) && isIP(host) === 0
}

/** True when a destination names a host or an address a network endpoint can carry. */
function endpointOf(d: SignalDestination | undefined): Record<string, unknown> | undefined {
  if (!d || (d.host === undefined && (d.ip === undefined || isIP(d.ip) === 0))) return undefined
  const e: Record<string, unknown> = {}
  if (validHost(d.host)) e.hostname = d.host
  else if (d.host !== undefined) e.name = d.host
  if (d.ip !== undefined && isIP(d.ip) !== 0) e.ip = d.ip
  if (d.port !== undefined) e.port = d.port
  return e
}

/**
 * The class a signal becomes, by these rules in order:
 * 1. `dns_*` types whose destination host is a valid host name → DNS Activity (4003);
 * 2. `egress_denied` that was refused with the sidecar's `403` (action `blocked` or `quarantined`,
 *    protocol http/https, a host, `details.via` `connect` or `transparent_http`) → HTTP Activity (4002);
 * 3. `egress_*` types and any other signal whose destination has a host or an IP → Network Activity (4001);
 * 4. `sidecar_started`, `sidecar_stopped` → Application Lifecycle (6002);
 * 5. tool-policy and drift types, and any other `violation` or `enforcement`, or severity medium or
 *    higher → Detection Finding (2004);
 * 6. everything else (sampled `tool_called`, `provider_state_changed`, newer informational types) → Base Event (0).
 */
export function ocsfClassOf(s: Signal): OcsfClass {
  const d = s.destination
  if (s.type.startsWith('dns_') && validHost(d?.host)) return 'dns_activity'
  if (s.type === 'egress_denied' && (s.action === 'blocked' || s.action === 'quarantined') && d?.host !== undefined &&
    (d.protocol === 'http' || d.protocol === 'https') && ANSWERED_VIA.has(String(details(s).via))) return 'http_activity'
  if (!TOOL_FINDINGS.has(s.type) && endpointOf(d)) return 'network_activity'
  if (s.type === 'sidecar_started' || s.type === 'sidecar_stopped') return 'application_lifecycle'
  if (TOOL_FINDINGS.has(s.type) || s.kind === 'violation' || s.kind === 'enforcement' || SEVERITY_ORDER.indexOf(s.severity) >= 2) return 'detection_finding'
  return 'base_event'
}

/** `action_id`/`disposition_id` of the security_control profile: allowed 1/1 Allowed, alerted 1/19 Alert, blocked 2/2 Blocked (kernel drops 2/6 Dropped), quarantined 2/3 Quarantined. */
function control(s: Signal): Record<string, unknown> {
  if (s.action === 'allowed') return { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' }
  if (s.action === 'alerted') return { action_id: 1, action: 'Allowed', disposition_id: 19, disposition: 'Alert' }
  if (s.action === 'quarantined') return { action_id: 2, action: 'Denied', disposition_id: 3, disposition: 'Quarantined' }
  if (s.type === 'egress_bypass_attempt') return { action_id: 2, action: 'Denied', disposition_id: 6, disposition: 'Dropped' }
  return { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' }
}

/** The activity of a class for a signal: `[activity_id, activity_name]`. */
function activityOf(c: OcsfClass, s: Signal): [number, string] {
  switch (c) {
    case 'dns_activity': return [1, 'Query']
    case 'http_activity': return String(details(s).via) === 'connect' && s.destination?.protocol === 'https' ? [1, 'Connect'] : [0, 'Unknown']
    case 'network_activity':
      if (s.type === 'egress_closed') return [2, 'Close']
      if (s.type === 'egress_bypass_attempt') return [6, 'Traffic']
      return s.action === 'blocked' || s.action === 'quarantined' ? [5, 'Refuse'] : [1, 'Open']
    case 'application_lifecycle': return s.type === 'sidecar_started' ? [3, 'Start'] : [4, 'Stop']
    case 'detection_finding': return [1, 'Create']
    case 'base_event': return [99, 'Other']
  }
}

/**
 * Signal fields no OCSF attribute carries, under `unmapped` (names as in the signal); the
 * destination always, as the signal wrote it (an endpoint keeps only what OCSF types allow).
 */
function unmapped(s: Signal): Record<string, unknown> {
  const u: Record<string, unknown> = { type: s.type, kind: s.kind, action: s.action, enforcement_mode: s.enforcement_mode, provider: s.provider, sidecar_id: s.sidecar_id }
  for (const k of ['isolation', 'tool', 'session_id', 'caller', 'caller_verified', 'rule', 'span_id', 'details'] as const) {
    if (s[k] !== undefined) u[k] = s[k]
  }
  if (s.destination) u.destination = s.destination
  return u
}

/**
 * One signal as an OCSF 1.3.0 event (a plain object; the `ocsf` format writes it as one JSON line).
 * Every event: `metadata` (`uid` = the signal id, `version` 1.3.0, `product` MCP Hangar,
 * `event_code` = the type, `correlation_uid` = the trace id, `original_time`), `time` (ms since the
 * epoch), `severity_id` ({@link OCSF_SEVERITY}), `category_uid`, `class_uid`, `activity_id`,
 * `type_uid` = class_uid × 100 + activity_id, `message` = the reason, `device` = the aggregator
 * host, `unmapped` = the signal fields without an OCSF attribute.
 * @throws Error naming `time` or `severity` when the signal's value does not parse.
 */
export function ocsf(s: Signal, o: FormatOptions): OcsfEvent {
  const c = ocsfClassOf(s)
  const cls = OCSF_CLASSES[c]
  const [activity_id, activity_name] = activityOf(c, s)
  const severity_id = severityOn(OCSF_SEVERITY, s.severity)
  const secured = c !== 'base_event' && c !== 'application_lifecycle'
  const metadata: Record<string, unknown> = {
    version: OCSF_VERSION,
    uid: s.id,
    product: { name: VENDOR, vendor_name: VENDOR, version: HANGAR_VERSION },
    event_code: s.type,
    log_name: 'audit',
    original_time: s.time,
    profiles: secured ? ['security_control'] : [],
  }
  if (s.trace_id !== undefined) metadata.correlation_uid = s.trace_id
  const ev: OcsfEvent = {
    metadata,
    time: epochMs(s),
    severity_id,
    severity: SEVERITY_CAPTION[severity_id],
    category_uid: cls.category_uid,
    category_name: cls.category_name,
    class_uid: cls.class_uid,
    class_name: cls.class_name,
    activity_id,
    activity_name,
    type_uid: cls.class_uid * 100 + activity_id,
    type_name: `${cls.class_name}: ${activity_name}`,
    message: s.reason,
    device: validHost(o.hostname) ? { hostname: o.hostname, type_id: 1, type: 'Server' } : { name: o.hostname, type_id: 1, type: 'Server' },
  }
  if (secured) Object.assign(ev, control(s))
  const d = s.destination
  const url = requestUrl(d)
  // A URL object only for a host a URL can hold (a host name or an address); the raw host stays in dst_endpoint.name.
  const urlObject = url === undefined || d === undefined || !(validHost(d.host) || isIP(d.host ?? '') !== 0) ? undefined
    : { url_string: url, scheme: d.protocol, ...(validHost(d.host) ? { hostname: d.host } : {}), ...(d.port !== undefined ? { port: d.port } : {}) }
  const conn = d ? { direction_id: 2, direction: 'Outbound', protocol_name: d.protocol === 'udp' || d.protocol === 'dns' ? 'udp' : 'tcp' } : undefined
  switch (c) {
    case 'dns_activity': {
      const q: Record<string, unknown> = { hostname: d!.host, class: 'IN' }
      if (typeof details(s).qtype === 'string') q.type = details(s).qtype
      ev.query = q
      break
    }
    case 'http_activity':
      ev.dst_endpoint = endpointOf(d)
      ev.connection_info = conn
      ev.http_request = { ...(urlObject ? { url: urlObject } : {}), ...(activity_id === 1 ? { http_method: 'CONNECT' } : {}) }
      ev.http_response = { code: 403, status: 'Forbidden' }
      break
    case 'network_activity': {
      ev.dst_endpoint = endpointOf(d)
      ev.connection_info = conn
      if (urlObject) ev.url = urlObject
      const x = details(s)
      if (s.type === 'egress_closed') {
        const traffic: Record<string, number> = {}
        if (Number.isSafeInteger(x.bytes_up)) traffic.bytes_out = x.bytes_up as number
        if (Number.isSafeInteger(x.bytes_down)) traffic.bytes_in = x.bytes_down as number
        ev.traffic = traffic
        if (Number.isSafeInteger(x.duration_ms)) ev.duration = x.duration_ms
      }
      break
    }
    case 'application_lifecycle':
      ev.app = { name: `${PRODUCT} sidecar`, uid: s.sidecar_id, vendor_name: VENDOR, version: HANGAR_VERSION }
      break
    case 'detection_finding':
      ev.finding_info = { uid: s.id, title: typeName(s.type), desc: s.reason, types: [s.type] }
      ev.status_id = 1
      ev.status = 'New'
      if (s.tool !== undefined) ev.resources = [{ name: s.tool, type: 'MCP tool' }]
      break
    case 'base_event':
      break
  }
  ev.unmapped = unmapped(s)
  return ev
}
