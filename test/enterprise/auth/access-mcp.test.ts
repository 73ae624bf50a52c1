/**
 * RBAC on the aggregator's `/mcp` through a real MCP client (the SDK's Client over Streamable
 * HTTP) with the enterprise access module: every hangar_* tool of the tool table
 * (aggregator/mcp/tools.ts HANGAR_TOOL_ROLES) tried by every role; a tool above the role is a
 * `forbidden:` tool error naming both roles and an `admin_action_denied` record, and does
 * nothing; an allowed one runs (against a real MCP peer standing in for the provider's sidecar).
 * A tool the server lists that is not in the table fails the test.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import t from 'tap'
import { HANGAR_TOOL_ROLES } from '../../../aggregator/mcp/tools.js'
import { createAccess } from '../../../enterprise/auth/index.js'
import { mcpPeer } from '../../fixtures/aggregator/mcp-peer.js'
import { rbacRig, STATIC } from '../../fixtures/aggregator/rbac.js'

type Result = { content: Array<{ type: string; text: string }>; isError?: boolean }
const RANK: Record<string, number> = { viewer: 1, operator: 2, admin: 3 }

/** Arguments that make each tool do its work on provider `fetch`. */
const ARGS: Record<string, Record<string, unknown>> = {
  hangar_list: {}, hangar_details: { provider: 'fetch' }, hangar_baseline: { provider: 'fetch' }, hangar_health: {},
  hangar_tools: { provider: 'fetch' }, hangar_violations: {}, hangar_metrics: {},
  hangar_quarantine: { provider: 'fetch', reason: 'mcp role test' }, hangar_approve: { provider: 'fetch', reason: 'mcp role test' },
  hangar_call: { provider: 'fetch', tool: 'echo', arguments: { text: 'hi' } },
}

async function connect(t: { teardown(fn: () => Promise<void>): void }, base: string, token: string | undefined): Promise<Client> {
  const client = new Client({ name: 'rbac-test', version: '1' })
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', base), { requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} } })
  await client.connect(transport)
  t.teardown(() => client.close())
  return client
}

t.test('every hangar_* tool × every role through a real MCP client', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const peer = await mcpPeer(t)
  t.equal((await rig.call('POST', '/v1/sidecars/heartbeat', STATIC.signal, { provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready', mcp_url: peer.url })).status, 204)
  const keys = { viewer: await rig.createKey('agent-viewer', 'viewer'), operator: await rig.createKey('agent-operator', 'operator'), admin: await rig.createKey('agent-admin', 'admin') }
  const creds: Array<[string, string, string, string]> = [
    ['viewer', keys.viewer.key, 'viewer', 'agent-viewer'], ['operator', keys.operator.key, 'operator', 'agent-operator'], ['admin', keys.admin.key, 'admin', 'agent-admin'],
    ['static admin token', STATIC.admin, 'admin', 'admin token'], ['mcp token', STATIC.mcp, 'operator', 'mcp token'],
  ]
  let denials = 0
  for (const [label, token, role, name] of creds) {
    const client = await connect(t, rig.base, token)
    const listed = (await client.listTools()).tools.map((x) => x.name).sort()
    t.same(listed, Object.keys(HANGAR_TOOL_ROLES).sort(), `${label}: every listed tool has a role in the table`)
    for (const tool of listed) {
      const need = HANGAR_TOOL_ROLES[tool as keyof typeof HANGAR_TOOL_ROLES]
      const r = (await client.callTool({ name: tool, arguments: ARGS[tool]! })) as Result
      const text = r.content.map((c) => c.text).join('\n')
      if (RANK[role]! >= RANK[need]!) {
        t.notMatch(text, /^forbidden/, `${label} calls ${tool} (${need})`)
        if (tool !== 'hangar_baseline') t.notOk(r.isError, `${label}: ${tool} succeeds: ${text.slice(0, 80)}`)
      } else {
        denials++
        t.equal(r.isError, true, `${label} is refused ${tool}`)
        t.equal(text, `forbidden: ${tool} needs role ${need}; ${name} holds ${role}`, `${label}: ${tool}: names both roles`)
      }
    }
  }
  t.equal(denials, 3, 'the viewer is refused the three operator tools, nobody else anything')
  const denied = await rig.waitRecords('admin_action_denied', 3)
  t.same(denied.map((d) => [d.caller, d.details?.tool, d.details?.required_role, d.details?.role, d.details?.provider]).sort(), [
    ['agent-viewer', 'hangar_approve', 'operator', 'viewer', 'fetch'], ['agent-viewer', 'hangar_call', 'operator', 'viewer', 'fetch'], ['agent-viewer', 'hangar_quarantine', 'operator', 'viewer', 'fetch'],
  ], 'one record per refused tool, naming the actor, the tool, both roles and the provider')
  const actions = await rig.waitRecords('admin_action', 3 + 4 * 2)
  const viaTools = actions.filter((a) => typeof a.details?.tool === 'string')
  t.equal(viaTools.length, 8, 'four principals each quarantined and approved through the tools')
  t.ok(viaTools.every((a) => a.provider === 'fetch' && a.caller_verified === true), 'each names the provider')
  t.same([...new Set(viaTools.map((a) => a.caller))].sort(), ['admin token', 'agent-admin', 'agent-operator', 'mcp token'], 'and its actor')
  t.equal(viaTools.filter((a) => a.details?.action === 'quarantine').length, 4)
})

t.test('a viewer\'s refused hangar_quarantine changes nothing; no credential or a revoked key cannot connect', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const viewer = await rig.createKey('v', 'viewer')
  const client = await connect(t, rig.base, viewer.key)
  const r = (await client.callTool({ name: 'hangar_quarantine', arguments: { provider: 'fetch', reason: 'x' } })) as Result
  t.equal(r.isError, true)
  t.equal((await rig.call('GET', '/v1/providers/fetch', STATIC.admin)).json?.quarantined, false, 'not quarantined')
  await t.rejects(connect(t, rig.base, undefined), /401|Unauthorized/i, 'no credential')
  const gone = await rig.createKey('gone', 'admin')
  t.equal((await rig.call('DELETE', `/v1/keys/${gone.id}`, STATIC.admin)).status, 200)
  await t.rejects(connect(t, rig.base, gone.key), /401|Unauthorized/i, 'a revoked key')
  await t.rejects(connect(t, rig.base, STATIC.signal), /401|Unauthorized/i, 'a signal token')
})
