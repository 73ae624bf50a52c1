/**
 * The control plane end to end, all real: an aggregator, a whole sidecar as a CLI process (MCP
 * ingress in front of the stdio fixture server, and its egress listeners) configured with
 * `aggregator.url`, an MCP client at the aggregator's /mcp and one at the sidecar.
 *
 * Acceptance (docs/aggregator.md §Policy push): a quarantine issued through `hangar_quarantine` is enforced by the sidecar
 * within 1 s for both a tool call and a CONNECT, and lifted by `hangar_approve`. Also: the sidecar
 * registers and heartbeats, its signals reach the audit log, `hangar_call` and `hangar_tools` go
 * through the sidecar's inspection.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { request } from 'undici'
import { Aggregator } from '../../aggregator/aggregator.js'
import { startSidecarLink } from '../../sidecar/control-plane.js'
import { hangarConfigSchema, providerSchema } from '../../config/schema.js'
import { createLogger } from '../../core/log.js'
import { rawExchange } from '../helpers/net.js'
import { connectClient, FIXTURE, freePort, LOOPBACK_SIDECAR_YAML, startSidecar } from '../helpers/mcp.js'

const root = new URL('../../', import.meta.url).pathname
const SIGNAL = 'signal-token-e2e'
const ADMIN = 'admin-token-e2e'

t.setTimeout(120_000)

// The sidecar runs as the product runs: the bundled CLI (CI builds before the tests).
const BUNDLE = join(root, 'dist/mcp-hangar.mjs')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)

t.test('hangar_quarantine reaches the sidecar within 1 s for tool calls and CONNECT; hangar_approve lifts it', { skip: missing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-cp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  // An allowed loopback destination for CONNECT.
  const target = createServer((_req, res) => res.end('ok'))
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r))
  const targetPort = (target.address() as { port: number }).port
  t.teardown(() => new Promise<void>((r) => target.close(() => r())))

  const aggPort = await freePort()
  const agg = new Aggregator({
    config: hangarConfigSchema.parse({ aggregator: { listen: `127.0.0.1:${aggPort}`, data_dir: join(dir, 'agg'), signal_tokens: [SIGNAL], admin_tokens: [ADMIN] } }),
    log: createLogger({ level: 'warn', json: true, name: 'aggregator' }),
  })
  await agg.start()
  t.teardown(() => agg.stop())

  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:
  url: http://127.0.0.1:${aggPort}
  signal_tokens: [${SIGNAL}]
  admin_tokens: [${ADMIN}]
providers:
  fixture:
    mode: subprocess
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FIXTURE)}]
    listen: 127.0.0.1:0
    sidecar:
${LOOPBACK_SIDECAR_YAML}      data_dir: ${join(dir, 'sidecar')}
    capabilities:
      enforcement_mode: block
      network:
        loopback_allowed: true
        egress:
          - cidr: 127.0.0.1/32
            port: ${targetPort}
      tools:
        deny_list: [crash]
`)
  const child: ChildProcess = spawn(process.execPath, [BUNDLE, 'sidecar', '-c', cfg, '--provider', 'fixture'], {
    cwd: root,
    env: { ...process.env, MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info' },
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  const ports = await new Promise<{ mcp: number; proxy: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar not started: ${out}`)), 60_000)
    let proxy = 0
    const onData = (d: Buffer) => {
      out += d.toString()
      for (const line of out.split('\n')) {
        if (line.includes('egress sidecar started')) proxy = (JSON.parse(line) as { ports: { proxy: number } }).ports.proxy
        if (line.includes('"msg":"ready"') && proxy) {
          clearTimeout(timer)
          resolve({ mcp: (JSON.parse(line) as { mcp_port: number }).mcp_port, proxy })
        }
      }
    }
    child.stderr!.on('data', onData)
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`sidecar exited ${code}: ${out}`)))
  })

  const api = async (path: string) => {
    const res = await request(`http://127.0.0.1:${aggPort}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })
    return (await res.body.json()) as Record<string, unknown>
  }
  // Registered by its first heartbeat.
  let registered: Record<string, unknown> = {}
  for (let i = 0; i < 100 && registered.state !== 'ready'; i++) {
    registered = await api('/v1/providers/fixture').catch(() => ({}))
    if (registered.state !== 'ready') await new Promise((r) => setTimeout(r, 100))
  }
  t.equal(registered.state, 'ready', 'the sidecar registered and is ready')
  t.match((registered.sidecar as { sidecar_id: string }).sidecar_id, /^fixture-/)

  const admin = new Client({ name: 'operator', version: '1' })
  await admin.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${aggPort}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${ADMIN}` } } }))
  t.teardown(() => admin.close())
  const hangar = async (name: string, args: Record<string, unknown> = {}) => (await admin.callTool({ name, arguments: args })) as CallToolResult
  const { tools: hangarTools } = await admin.listTools()
  t.same(hangarTools.map((x) => x.name).sort(), ['hangar_approve', 'hangar_baseline', 'hangar_call', 'hangar_details', 'hangar_health', 'hangar_list', 'hangar_metrics', 'hangar_quarantine', 'hangar_tools', 'hangar_violations'])
  for (const tool of hangarTools) t.ok(tool.description && tool.description.length > 40 && tool.inputSchema.type === 'object', `${tool.name} has a description and an input schema`)

  const list = await hangar('hangar_list')
  t.match(list.structuredContent, { providers: [{ name: 'fixture', state: 'ready', quarantined: false }] })

  const user = await connectClient(new URL(`http://127.0.0.1:${ports.mcp}/mcp`))
  t.teardown(() => user.close())
  const echo = () => user.callTool({ name: 'echo', arguments: { text: 'hi' } }).then((r) => ({ ok: true as const, r }), (err: Error) => ({ ok: false as const, err }))
  const connect = async () => {
    const a = await rawExchange(ports.proxy, `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n\r\n`)
    a.socket.destroy()
    return a.status
  }
  t.equal((await echo()).ok, true, 'a tool call passes before the quarantine')
  t.equal(await connect(), 200, 'CONNECT to the allowed destination passes before the quarantine')

  // hangar_tools and hangar_call go through the sidecar's inspection.
  const seen = await hangar('hangar_tools', { provider: 'fixture' })
  const names = (seen.structuredContent as { tools: Array<{ name: string }> }).tools.map((x) => x.name)
  t.ok(names.includes('echo'), 'hangar_tools lists the provider\'s tools')
  t.notOk(names.includes('crash'), 'as the sidecar shows them: the denied tool is hidden')
  const called = await hangar('hangar_call', { provider: 'fixture', tool: 'echo', arguments: { text: 'through the aggregator' } })
  t.notOk(called.isError)
  t.match(JSON.stringify(called.content), /through the aggregator/)
  const refused = await hangar('hangar_call', { provider: 'fixture', tool: 'crash', arguments: {} })
  t.equal(refused.isError, true, 'a denied tool is refused through hangar_call too')
  t.match(JSON.stringify(refused.content), /denied|not allowed|policy/i)
  t.equal((await hangar('hangar_details', { provider: 'nope' })).isError, true, 'an unknown provider is a tool error')

  // Quarantine through MCP; measure until both paths are denied.
  const q = await hangar('hangar_quarantine', { provider: 'fixture', reason: 'suspected exfiltration' })
  const issued = Date.now()
  t.match(q.structuredContent, { quarantined: true, changed: true })
  let toolDeniedAt = 0
  let connectDeniedAt = 0
  while ((!toolDeniedAt || !connectDeniedAt) && Date.now() - issued < 5000) {
    if (!toolDeniedAt) {
      const r = await echo()
      if (!r.ok && (r.err as Error & { data?: { rule?: string } }).data?.rule === 'quarantine') toolDeniedAt = Date.now()
    }
    if (!connectDeniedAt && (await connect()) === 403) connectDeniedAt = Date.now()
    if (!toolDeniedAt || !connectDeniedAt) await new Promise((r) => setTimeout(r, 10))
  }
  t.ok(toolDeniedAt, 'tool calls are refused')
  t.ok(connectDeniedAt, 'CONNECT is refused')
  t.ok(toolDeniedAt - issued < 1000, `tool call refused within 1 s (${toolDeniedAt - issued} ms)`)
  t.ok(connectDeniedAt - issued < 1000, `CONNECT refused within 1 s (${connectDeniedAt - issued} ms)`)
  const refusedCall = await echo()
  t.match(refusedCall.ok ? {} : (refusedCall.err as Error & { data?: unknown }).data, { rule: 'quarantine', reason: /quarantined: suspected exfiltration/ }, 'the refusal says why (JSON-RPC error data)')

  const details = await hangar('hangar_details', { provider: 'fixture' })
  t.match(details.structuredContent, { state: 'quarantined', quarantine_reason: 'suspected exfiltration' })

  // Approval lifts it.
  const a = await hangar('hangar_approve', { provider: 'fixture', reason: 'false alarm' })
  const approved = Date.now()
  t.match(a.structuredContent, { quarantined: false, approvals: 1 })
  let back = false
  while (!back && Date.now() - approved < 5000) {
    back = (await echo()).ok && (await connect()) === 200
    if (!back) await new Promise((r) => setTimeout(r, 10))
  }
  t.ok(back, 'tool calls and CONNECT pass again after hangar_approve')
  t.ok(Date.now() - approved < 1000, `lifted within 1 s (${Date.now() - approved} ms)`)

  // The sidecar's signals reached the aggregator's audit log.
  let types: string[] = []
  for (let i = 0; i < 50 && !(types.includes('quarantine_triggered') && types.includes('quarantine_released') && types.includes('egress_denied')); i++) {
    const page = await api('/v1/signals?provider=fixture&limit=1000')
    types = (page.signals as Array<{ type: string }>).map((s) => s.type)
    await new Promise((r) => setTimeout(r, 200))
  }
  t.ok(types.includes('quarantine_triggered'), 'quarantine_triggered shipped')
  t.ok(types.includes('quarantine_released'), 'quarantine_released shipped')
  t.ok(types.includes('egress_denied'), 'the quarantined CONNECT\'s egress_denied shipped')
  t.ok(types.includes('tool_denied'), 'the refused tool calls shipped')
  const violations = await hangar('hangar_violations', { provider: 'fixture', type: 'egress_denied' })
  t.ok((violations.structuredContent as { signals: unknown[] }).signals.length >= 1, 'hangar_violations finds them')

  child.kill('SIGTERM')
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  t.equal(code, 0, 'the sidecar stops cleanly, flushing its shipper')
})

t.test('hangar_approve through the aggregator clears a drift hold at the sidecar (block mode)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-cp-drift-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const aggPort = await freePort()
  const config = hangarConfigSchema.parse({ aggregator: { listen: `127.0.0.1:${aggPort}`, url: `http://127.0.0.1:${aggPort}`, data_dir: join(dir, 'agg'), signal_tokens: [SIGNAL], admin_tokens: [ADMIN] } })
  const agg = new Aggregator({ config, log: createLogger({ level: 'warn', json: true, name: 'aggregator' }) })
  await agg.start()
  t.teardown(() => agg.stop())

  const rig = await startSidecar('drifty', { mode: 'subprocess', command: [process.execPath, FIXTURE], env: { FIXTURE_DRIFT: '1' }, listen: '127.0.0.1:0', capabilities: { enforcement_mode: 'block' } })
  t.teardown(() => rig.stop())
  // The same wiring as `mcp-hangar sidecar` (sidecar/sidecar.ts).
  const link = startSidecarLink({
    config, providerName: 'drifty', provider: providerSchema.parse({ mode: 'subprocess', command: ['x'] }), sidecarId: 'drifty-test',
    enforcement: rig.enforcement, log: createLogger({ level: 'warn', json: true, name: 'link' }),
    status: () => ({ state: 'ready', mcp_url: rig.url.href }),
    approveTools: () => rig.sidecar.inspector.approve(),
  })!
  t.teardown(() => link.stop())

  const user = await connectClient(rig.url)
  t.teardown(() => user.close())
  t.ok((await user.listTools()).tools.some((x) => x.name === 'echo'), 'echo pinned on first sight')
  t.notOk((await user.listTools()).tools.some((x) => x.name === 'echo'), 'its changed definition is hidden')
  const refusedErr = await user.callTool({ name: 'echo', arguments: { text: 'x' } }).then(() => undefined, (e: Error & { data?: { rule?: string } }) => e)
  t.equal(refusedErr?.data?.rule, 'first-sight-pin', 'and refused until approved')

  for (let i = 0; i < 50 && !link.policy; i++) await new Promise((r) => setTimeout(r, 50))
  t.ok(link.policy, 'the sidecar follows its policy')
  const admin = new Client({ name: 'operator', version: '1' })
  await admin.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${aggPort}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${ADMIN}` } } }))
  t.teardown(() => admin.close())
  const r = (await admin.callTool({ name: 'hangar_approve', arguments: { provider: 'drifty', reason: 'reviewed the new description' } })) as CallToolResult
  t.notOk(r.isError, 'hangar_approve accepted')
  const approvedAt = Date.now()
  let text = ''
  while (!text && Date.now() - approvedAt < 5000) {
    text = await user.callTool({ name: 'echo', arguments: { text: 'back' } }).then((x) => JSON.stringify(x.content), () => '')
    if (!text) await new Promise((r) => setTimeout(r, 20))
  }
  t.match(text, /back/, 'the drifted tool is callable again after the approval')
  t.ok(Date.now() - approvedAt < 1000, `within 1 s (${Date.now() - approvedAt} ms)`)
  t.ok((await user.listTools()).tools.some((x) => x.name === 'echo'), 'and listed again (pinned anew)')
})
