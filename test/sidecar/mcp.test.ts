/**
 * sidecar/mcp.ts: the MCP ingress refuses configs it cannot run, and turns a provider process's
 * lifecycle into `provider_state_changed` signals (a real stdio provider on loopback).
 */
import t from 'tap'
import { providerSchema } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { createMetrics } from '../../core/metrics.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { MemorySink } from '../../signals/sink.js'
import { McpSidecar, requireIdentity } from '../../sidecar/mcp.js'
import { createPortRegistry } from '../../core/ports.js'
import { connectClient, FIXTURE } from '../helpers/mcp.js'

const make = (raw: Record<string, unknown>, sink = new MemorySink()) => new McpSidecar({
  provider: 'p', config: providerSchema.parse(raw), sink, log: silentLogger(), metrics: createMetrics({ processMetrics: false }),
  enforcement: new QuarantineSwitch(), sidecarId: 'p-1', inheritedEnv: { PATH: process.env.PATH ?? '' },
})

t.test('a container provider without broker_socket is refused, naming the field', async (t) => {
  t.throws(() => make({ mode: 'container', image: 'x', listen: '127.0.0.1:0' }), { code: 'HANGAR_CONFIG_INVALID', message: /providers\.p\.broker_socket/ })
})

t.test('requireIdentity: ingress.auth or a caller-scoped rule without the identity module is refused; plain configs pass', async (t) => {
  const oidc = { oidc: [{ issuer: 'https://idp.example.test', audience: 'a', jwks_uri: 'https://idp.example.test/jwks' }] }
  const community = { ...createPortRegistry(), license: { mode: 'community' as const, features: [] } }
  const unlicensed = createPortRegistry()
  const cfg = (raw: Record<string, unknown>) => providerSchema.parse({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', ...raw })
  t.doesNotThrow(() => requireIdentity('p', cfg({}), unlicensed), 'no identity settings: nothing required')
  t.doesNotThrow(() => requireIdentity('p', cfg({ capabilities: { tools: { allow_list: ['a'], deny_list: ['b'] } } }), undefined), 'plain globs need no module')
  t.throws(() => requireIdentity('p', cfg({ ingress: { auth: oidc } }), unlicensed), {
    code: 'HANGAR_CONFIG_INVALID',
    message: 'providers.p.ingress.auth.oidc: verified caller identity needs the enterprise module "identity", which needs a license key granting it or the community grant (`mcp-hangar license show` says: unlicensed, no license key found, using defaults); remove the setting or install a license (docs/licensing.md)',
  })
  t.throws(() => requireIdentity('p', cfg({ capabilities: { tools: { deny_list: ['x', { tool: 'w', callers: ['*'] }] } } }), community), { message: /^providers\.p\.capabilities\.tools\.deny_list\[1\]: .*says: community\)/ })
  t.throws(() => make({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', ingress: { auth: oidc } }), { message: /^providers\.p\.ingress\.auth\.oidc: verified caller identity needs/ }, 'the sidecar refuses to compose')
})

t.test('start() without listen is refused, naming the field', async (t) => {
  const m = make({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' })
  await t.rejects(m.start(), { code: 'HANGAR_CONFIG_INVALID', message: /providers\.p\.listen/ })
})

t.test('a stdio provider started by a session: provider_state_changed signals and the process in status()', async (t) => {
  const sink = new MemorySink()
  const m = make({ mode: 'subprocess', command: [process.execPath, FIXTURE], listen: '127.0.0.1:0' }, sink)
  const port = await m.start()
  t.teardown(() => m.stop())
  const client = await connectClient(new URL(`http://127.0.0.1:${port}/mcp`))
  t.teardown(() => client.close())
  t.ok((await client.listTools()).tools.some((x) => x.name === 'echo'), 'tools through the ingress')
  const st = m.status() as { mode: string; mcp_port: number; processes: Array<{ state: string; pid: number | null }> }
  t.equal(st.mode, 'subprocess')
  t.equal(st.mcp_port, port)
  t.equal(st.processes.length, 1, 'one provider process')
  const changed = sink.signals.filter((s) => s.type === 'provider_state_changed')
  t.ok(changed.length >= 1, 'its lifecycle was signalled')
  t.match(changed[0], { kind: 'lifecycle', provider: 'p', sidecar_id: 'p-1', details: { from: String, to: String } })
})
