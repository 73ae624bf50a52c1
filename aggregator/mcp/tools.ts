/**
 * The aggregator's MCP tools (docs/aggregator.md §MCP tools): an operator's agent asks the aggregator
 * about providers and acts on them. Each tool has an input schema and returns JSON text plus
 * `structuredContent` (`hangar_baseline`: a summary line, then the baseline's JSON text, without
 * `structuredContent`, since the document can be megabytes). Errors a user can fix (unknown provider, provider unreachable) are tool
 * results with `isError: true`, as MCP specifies for tool execution errors (spec 2025-06-18,
 * Server/Tools §"Error Handling").
 *
 * Under RBAC (docs/rbac.md) every tool needs a role ({@link HANGAR_TOOL_ROLES}): reading tools
 * `viewer`; `hangar_quarantine`, `hangar_approve` and `hangar_call` `operator` (`hangar_call` runs
 * a provider's tool, which can have any effect the provider has; the provider's own tool policy
 * still applies on top). Every tool is listed to everyone; a call above the caller's role is a
 * tool error `forbidden: …` naming both roles and an `admin_action_denied` record. Without RBAC
 * there is no principal and every tool answers, as for the static tokens.
 */
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { Principal, Role } from '../../core/ports.js'
import type { AdminAudit } from '../admin-audit.js'
import { describeBaseline } from '../baselines.js'
import { roleSatisfies } from '../http/routes.js'
import type { AggregatorMetrics } from '../metrics.js'
import type { AggregatorService } from '../service.js'
import type { ProviderClient } from './provider-client.js'

export interface HangarToolsOptions {
  service: AggregatorService
  metrics: AggregatorMetrics
  /** Calls through a provider's sidecar (`hangar_tools`, `hangar_call`). */
  providers: ProviderClient
  /** Who is asking (the bearer JWT `sub` or X-Hangar-Caller of the /mcp request), for the record. */
  caller?: string
  version: string
  /** The authenticated principal under RBAC: each tool checks its role. Absent: no checks. */
  principal?: Principal
  /** Records admin actions and refusals (under RBAC). */
  audit?: AdminAudit
}

/** The role each hangar_* tool needs under RBAC (docs/rbac.md); a tool missing here cannot be registered. */
export const HANGAR_TOOL_ROLES = Object.freeze({
  hangar_list: 'viewer',
  hangar_details: 'viewer',
  hangar_baseline: 'viewer',
  hangar_health: 'viewer',
  hangar_tools: 'viewer',
  hangar_violations: 'viewer',
  hangar_metrics: 'viewer',
  hangar_quarantine: 'operator',
  hangar_approve: 'operator',
  hangar_call: 'operator',
} as const satisfies Record<string, Role>)

/** A hangar_* tool name. */
export type HangarTool = keyof typeof HANGAR_TOOL_ROLES

const providerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/).describe('Provider name as in hangar.yaml (see hangar_list).')

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value as Record<string, unknown> }
}

function fail(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true }
}

/** A fresh MCP server with the hangar_* tools (one per /mcp request: the endpoint is stateless). */
export function createHangarMcpServer(o: HangarToolsOptions): McpServer {
  const server = new McpServer({ name: 'mcp-hangar-aggregator', version: o.version }, { capabilities: { tools: {} } })
  const svc = o.service
  const by = o.caller ? `mcp:${o.caller}` : 'mcp'
  const principal = o.principal
  /** Wraps a registered tool's handler with its role check (the arguments are validated first, by the SDK). */
  const guard = (name: HangarTool, rt: RegisteredTool): void => {
    if (!principal) return
    const required = HANGAR_TOOL_ROLES[name]
    const inner = rt.handler as (...a: unknown[]) => unknown
    rt.handler = ((...a: unknown[]) => {
      if (roleSatisfies(principal.role, required)) return inner(...a)
      const args = a.length > 1 ? (a[0] as { provider?: unknown }) : {}
      o.audit?.denied(principal, { via: { tool: name }, required, ...(typeof args.provider === 'string' && { provider: args.provider }) })
      return fail(`forbidden: ${name} needs role ${required}; ${principal.name} holds ${principal.role}`)
    }) as typeof rt.handler
  }
  const audited = async (action: 'quarantine' | 'approve', tool: HangarTool, provider: string, reason: string, details: Record<string, unknown>): Promise<void> => {
    if (principal && o.audit) await o.audit.action(principal, { action, via: { tool }, provider, reason, details })
  }
  const unknown = (name: string): CallToolResult => fail(`No provider "${name}" is configured or has reported to this aggregator. hangar_list shows the known ones.`)

  guard('hangar_list', server.registerTool('hangar_list', {
    title: 'List providers',
    description: 'Lists every MCP provider the aggregator knows (configured or heard from) with its state (ready, degraded, quarantined, unreachable after 3 missed sidecar heartbeats), its violation count and its last heartbeat. Start here.',
    inputSchema: { state: z.enum(['ready', 'degraded', 'quarantined', 'unreachable']).optional().describe('Only providers in this state.') },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ state }) => {
    const list = svc.providers().filter((p) => !state || p.state === state)
    return ok({ providers: list.map((p) => ({ name: p.name, state: p.state, quarantined: p.quarantined, violations_total: p.violations_total, last_heartbeat: p.last_heartbeat ?? null })) })
  }))

  guard('hangar_details', server.registerTool('hangar_details', {
    title: 'Provider details',
    description: 'Everything the aggregator knows about one provider: derived state, quarantine and its reason, policy version, the sidecar\'s last heartbeat (id, version, tools and profile digests, lifecycle state), violation counts by type and the last violation signal.',
    inputSchema: { provider: providerName },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ provider }) => {
    const p = svc.provider(provider)
    return p ? ok(p) : unknown(provider)
  }))

  guard('hangar_baseline', server.registerTool('hangar_baseline', {
    title: 'Provider baseline',
    description: 'The provider\'s behavioral baseline (hangar.baseline/v1) as its sidecar last shipped it with a heartbeat: the egress destinations, DNS names and tools it was seen using, with counts, call rates and first/last times. A summary line comes first, then the baseline as JSON (what mcp-hangar profile suggest --baseline reads to propose a least-privilege profile).',
    inputSchema: { provider: providerName },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ provider }) => {
    const b = svc.baseline(provider)
    if (!b) return svc.provider(provider) ? fail(`Provider "${provider}" has not shipped a baseline yet: its sidecar ships one with its heartbeats once it has recorded activity.`) : unknown(provider)
    return { content: [{ type: 'text', text: describeBaseline(b) }, { type: 'text', text: b.text }] }
  }))

  guard('hangar_health', server.registerTool('hangar_health', {
    title: 'Fleet health',
    description: 'Health summary: how many providers are ready, degraded, quarantined or unreachable, with the names of those that are not ready.',
    inputSchema: {},
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async () => {
    const list = svc.providers()
    const counts: Record<string, number> = { ready: 0, degraded: 0, quarantined: 0, unreachable: 0 }
    for (const p of list) counts[p.state] = (counts[p.state] ?? 0) + 1
    return ok({ status: 'ok', providers: list.length, counts, attention: list.filter((p) => p.state !== 'ready').map((p) => ({ name: p.name, state: p.state, reason: p.quarantine_reason ?? null })) })
  }))

  guard('hangar_tools', server.registerTool('hangar_tools', {
    title: 'Provider tools',
    description: 'Lists the tools a provider offers to clients right now, as its sidecar shows them (denied, drifted and undeclared tools are hidden in block mode). Asks the sidecar live; fails when it is unreachable.',
    inputSchema: { provider: providerName },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ provider }) => {
    if (!svc.provider(provider)) return unknown(provider)
    try {
      return ok({ provider, tools: await o.providers.listTools(provider, o.caller) })
    } catch (err) {
      return fail(`Could not list the tools of "${provider}": ${(err as Error).message}`)
    }
  }))

  guard('hangar_violations', server.registerTool('hangar_violations', {
    title: 'Violations',
    description: 'Recent violation signals (newest first), optionally for one provider, one signal type (e.g. egress_denied, tool_denied, tool_definition_drift) or since a time. Use next_cursor for the next page.',
    inputSchema: {
      provider: providerName.optional(),
      type: z.string().max(64).optional().describe('Signal type, e.g. egress_denied.'),
      since: z.string().datetime({ offset: true }).optional().describe('RFC 3339 time; only violations at or after it.'),
      limit: z.number().int().min(1).max(1000).default(50),
      cursor: z.string().max(64).optional().describe('next_cursor of a previous page.'),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ provider, type, since, limit, cursor }) => {
    return ok(svc.query({ kind: 'violation', ...(provider && { provider }), ...(type && { type }), ...(since && { since: new Date(since).toISOString() }), ...(cursor && { cursor }), limit }))
  }))

  guard('hangar_quarantine', server.registerTool('hangar_quarantine', {
    title: 'Quarantine a provider',
    description: 'Quarantines a provider: its sidecar denies every tool call and all egress within about a second, until hangar_approve. Give the reason; it is recorded and shown to callers.',
    inputSchema: { provider: providerName, reason: z.string().min(1).max(500).describe('Why, in one sentence.') },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, async ({ provider, reason }) => {
    if (!svc.provider(provider)) return unknown(provider)
    const r = svc.quarantine(provider, reason, by)
    if (r.changed) o.metrics.quarantines.inc({ by: 'mcp' })
    await audited('quarantine', 'hangar_quarantine', provider, `${principal?.name ?? by} quarantined provider ${provider} through hangar_quarantine: ${reason}`, { changed: r.changed, policy_version: r.policy.version })
    return ok({ ...r.policy, changed: r.changed })
  }))

  guard('hangar_approve', server.registerTool('hangar_approve', {
    title: 'Approve a provider',
    description: 'Lifts a provider\'s quarantine and approves its current tool definitions (drifted or undeclared tools held in block mode become callable and are pinned again).',
    inputSchema: { provider: providerName, reason: z.string().min(1).max(500).optional().describe('Why, in one sentence.') },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, async ({ provider, reason }) => {
    if (!svc.provider(provider)) return unknown(provider)
    const why = reason ?? 'approved through hangar_approve'
    const p = svc.approve(provider, why, by)
    await audited('approve', 'hangar_approve', provider, `${principal?.name ?? by} approved provider ${provider} through hangar_approve: ${why}`, { policy_version: p.version })
    return ok(p)
  }))

  guard('hangar_metrics', server.registerTool('hangar_metrics', {
    title: 'Aggregator metrics',
    description: 'The aggregator\'s counters: signal batches and signals by outcome, heartbeats, open signal streams, waiting policy polls, quarantines issued; plus per-provider violation totals.',
    inputSchema: {},
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async () => {
    const all = await o.metrics.registry.getMetricsAsJSON()
    const ours = all.filter((m) => !/process_|nodejs_/.test(m.name)).map((m) => ({ name: m.name, values: m.values.map((v) => ({ labels: v.labels, value: v.value })) }))
    return ok({ metrics: ours, violations_by_provider: Object.fromEntries(svc.providers().map((p) => [p.name, p.violations_total])) })
  }))

  guard('hangar_call', server.registerTool('hangar_call', {
    title: 'Call a provider tool',
    description: 'Calls a tool of a provider through its sidecar, so the call is inspected and enforced like any other (tool policy, schema, secrets, rate limit, quarantine). Returns the tool\'s result as is.',
    inputSchema: {
      provider: providerName,
      tool: z.string().min(1).max(128).describe('Tool name (see hangar_tools).'),
      arguments: z.record(z.unknown()).default({}).describe('The tool\'s arguments, per its inputSchema.'),
    },
    annotations: { readOnlyHint: false, openWorldHint: true },
  }, async ({ provider, tool, arguments: args }) => {
    if (!svc.provider(provider)) return unknown(provider)
    try {
      return await o.providers.callTool(provider, tool, args, o.caller)
    } catch (err) {
      return fail(`The call to ${provider}/${tool} failed: ${(err as Error).message}`)
    }
  }))

  return server
}
