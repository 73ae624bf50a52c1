// The identity module through a real sidecar: the MCP SDK client → the ingress with
// `ingress.auth.oidc` → server-everything over stdio. JWTs come from a local issuer whose JWK Set
// is served over HTTPS (test/helpers/oidc.ts). Every refused token is tried against the real
// listener; a control shows the same request with a good token goes through.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { request } from 'undici'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'
import { McpTracer } from '../../../proxy/trace/tracer.js'
import { SignJWT, UnsecuredJWT } from 'jose'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { HangarError } from '../../../core/errors.js'
import { createPortRegistry, type PortRegistry } from '../../../core/ports.js'
import { createMetrics } from '../../../core/metrics.js'
import { QuarantineSwitch } from '../../../policy/quarantine.js'
import { MemorySink } from '../../../signals/sink.js'
import type { Signal } from '../../../signals/types.js'
import { McpSidecar } from '../../../sidecar/mcp.js'
import { Sidecar } from '../../../sidecar/sidecar.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { createConnection } from 'node:net'
import { createIdentity } from '../../../enterprise/identity/index.js'
import { MAX_TOKEN_CHARS } from '../../../enterprise/identity/verifier.js'
import { connectClient, EVERYTHING, freePort, providerConfig, startSidecar, textOf, type SidecarRig } from '../../helpers/mcp.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc.js'

const node = process.execPath
const STATIC = 'static-service-token-0123456789'
const REALM = 'Bearer realm="mcp-hangar"'

function licensedPorts(): PortRegistry {
  return { ...createPortRegistry(), identity: createIdentity(), license: { mode: 'licensed', licensee: 'Test', features: ['identity'] }, enterprise: true }
}

async function refusedCall(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  if (!(e instanceof McpError)) throw new Error(`expected a JSON-RPC error, got ${String(e)}`)
  return e
}

const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } })

/** One initialize POST with the given Authorization header (raw, so the 401 can be read). */
async function probe(url: URL, authorization?: string, extra: Record<string, string> = {}) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(authorization !== undefined && { authorization }), ...extra },
    body: INIT,
  })
  const text = await res.body.text()
  return { status: res.statusCode, www: res.headers['www-authenticate'] as string | undefined, text, sid: res.headers['mcp-session-id'] as string | undefined }
}

async function metric(rig: SidecarRig, name: string, labels: string): Promise<number> {
  const text = await rig.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line ? Number(line.split(' ').pop()) : 0
}

let idp: TestIssuer
t.before(async () => {
  idp = await startTestIssuer()
})
t.teardown(async () => idp.close())

function rigConfig(tools: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'subprocess',
    command: [node, EVERYTHING],
    ingress: { auth_tokens: [STATIC], auth: { oidc: [idp.entry({ claims: ['email'] })] } },
    capabilities: { tools: { deny_list: ['get-env'], ...tools } },
  }
}

t.test('a verified token: the subject is the caller on every signal, with caller_verified, groups and claims', async (t) => {
  const rig = await startSidecar('ident', rigConfig(), { ports: licensedPorts() })
  t.teardown(() => rig.stop())
  const token = await idp.mint({ sub: 'alice@example.test', groups: ['dev', 'ops'], email: 'alice@example.test' })
  // X-Hangar-Caller is what an unverified client may write; a verified subject wins over it.
  const client = await connectClient(rig.url, { headers: { Authorization: `Bearer ${token}`, 'X-Hangar-Caller': 'mallory' } })
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.ok(tools.some((x) => x.name === 'echo'))
  t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'verified hello' } })), /verified hello/)
  t.equal((await refusedCall(client.callTool({ name: 'get-env', arguments: {} }))).code, -32001)
  const called = await rig.sink.waitFor((s) => s.type === 'tool_called')
  const denied = rig.sink.signals.find((s) => s.type === 'tool_denied')!
  for (const s of [called, denied]) {
    t.equal(s.caller, 'alice@example.test', `${s.type}: caller is the verified subject, not X-Hangar-Caller`)
    t.equal(s.caller_verified, true, `${s.type}: caller_verified`)
    t.same(s.details?.caller_groups, ['dev', 'ops'], `${s.type}: groups in details`)
    t.same(s.details?.caller_claims, { email: 'alice@example.test' }, `${s.type}: configured claims in details`)
  }
  t.equal(await metric(rig, 'mcp_hangar_auth_tokens_total', 'outcome="accepted",reason="none"'), 1, 'the repeated token was verified once')
  t.ok(await metric(rig, 'mcp_hangar_auth_tokens_total', 'outcome="accepted",reason="cached"') >= 3, 'the later requests were answered by the cache')
})

t.test('without ingress.auth the caller keeps its old source and every signal says caller_verified: false', async (t) => {
  const rig = await startSidecar('plain', { mode: 'subprocess', command: [node, EVERYTHING], capabilities: { tools: { deny_list: ['get-env'] } } })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url, { headers: { Authorization: `Bearer ${await idp.mint({ sub: 'jwt-sub', groups: ['admins'] })}` } })
  t.teardown(() => client.close())
  t.equal((await refusedCall(client.callTool({ name: 'get-env', arguments: {} }))).code, -32001)
  const denied = rig.sink.signals.find((s) => s.type === 'tool_denied')!
  t.equal(denied.caller, 'jwt-sub', 'the unverified JWT sub names the caller, as before')
  t.equal(denied.caller_verified, false)
  t.notOk(denied.details && 'caller_groups' in denied.details, 'unverified groups are never written into a signal')
})

t.test('refused tokens at the real listener: 401, RFC 6750 WWW-Authenticate, a metric; nothing reaches the provider', async (t) => {
  const rig = await startSidecar('refuse', rigConfig(), { ports: licensedPorts() })
  t.teardown(() => rig.stop())
  const rogue = await idp.newKey('ES256')
  const good = await idp.mint({ sub: 'carol' })
  const [h, p, s] = good.split('.') as [string, string, string]
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })).toString('base64url')}.${s}`
  const confused = await new SignJWT({ sub: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: idp.current.RS256.kid }).setIssuer(idp.issuer).setAudience(idp.audience).setExpirationTime('5m').sign(Buffer.from(JSON.stringify(idp.current.RS256.publicJwk)))
  const cases: Array<[string, string, string]> = [
    ['expired', await idp.mint({}, { expIn: -3600 }), 'expired'],
    ['not yet valid', await idp.mint({}, { nbfIn: 3600 }), 'not_yet_valid'],
    ['wrong audience', await idp.mint({}, { aud: 'another-service' }), 'audience'],
    ['wrong issuer', await idp.mint({}, { iss: 'https://idp.example.invalid' }), 'issuer'],
    ['signed by a key not in the JWK Set', await idp.mint({}, { key: rogue }), 'signature'],
    ['alg none', new UnsecuredJWT({ sub: 'admin', iss: idp.issuer, aud: idp.audience }).setExpirationTime('5m').encode(), 'algorithm'],
    ['HS256 keyed with the public key (algorithm confusion)', confused, 'algorithm'],
    ['tampered payload', tampered, 'signature'],
    ['oversized (over the verifier limit, under the HTTP header limit)', await idp.mint({ pad: 'x'.repeat(Math.ceil(MAX_TOKEN_CHARS * 0.78)) }), 'malformed'],
    ['not a JWT and not a static token', 'static-service-token-0123456780', 'malformed'],
  ]
  for (const [what, token, reason] of cases) {
    const before = await metric(rig, 'mcp_hangar_auth_tokens_total', `reason="${reason}"`)
    const r = await probe(rig.url, `Bearer ${token}`)
    t.equal(r.status, 401, `${what}: 401`)
    t.match(r.www, new RegExp(`^${REALM}, error="invalid_token", error_description="[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+"$`), `${what}: WWW-Authenticate per RFC 6750 §3`)
    t.match(JSON.parse(r.text), { jsonrpc: '2.0', id: null, error: { message: /invalid bearer token/ } }, `${what}: JSON-RPC error body`)
    t.equal(await metric(rig, 'mcp_hangar_auth_tokens_total', `reason="${reason}"`), before + 1, `${what}: counted as ${reason}`)
  }
  const missing = await probe(rig.url)
  t.equal(missing.status, 401, 'no token: 401')
  t.equal(missing.www, REALM, 'no token: no error attribute (RFC 6750 §3.1)')
  const basic = await probe(rig.url, 'Basic YWRtaW46YWRtaW4=')
  t.equal(basic.www, REALM, 'another scheme is no bearer credential')
  const empty = await probe(rig.url, 'Bearer ')
  t.match(empty.www, /error="invalid_token"/, 'an empty bearer token is invalid_token')
  t.equal(await metric(rig, 'mcp_hangar_ingress_rejected_total', 'reason="auth"'), cases.length + 3, 'every refusal counted as an ingress rejection')
  t.equal((rig.sidecar.backend as unknown as { providers: unknown[] }).providers.length, 0, 'no refused request started the provider')

  const ok = await probe(rig.url, `Bearer ${good}`)
  t.equal(ok.status, 200, 'control: the genuine token initializes')
  const stat = await probe(rig.url, `Bearer ${STATIC}`, { 'x-hangar-caller': 'svc-ci' })
  t.equal(stat.status, 200, 'control: a static auth_tokens entry is still accepted')
})

t.test('a static token names the caller as before, unverified', async (t) => {
  const rig = await startSidecar('static', rigConfig(), { ports: licensedPorts() })
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url, { headers: { Authorization: `Bearer ${STATIC}`, 'X-Hangar-Caller': 'svc-ci' } })
  t.teardown(() => client.close())
  t.equal((await refusedCall(client.callTool({ name: 'get-env', arguments: {} }))).code, -32001)
  const denied = rig.sink.signals.find((s) => s.type === 'tool_denied')!
  t.equal(denied.caller, 'svc-ci')
  t.equal(denied.caller_verified, false)
})

t.test('JWK Set rotation through the sidecar, and an issuer whose keys cannot be fetched fails closed', async (t) => {
  const other = await startTestIssuer()
  const dead = await startTestIssuer()
  await dead.stop()
  t.teardown(async () => {
    await other.close()
    await dead.close()
  })
  const rig = await startSidecar('rotate', {
    mode: 'subprocess', command: [node, EVERYTHING],
    ingress: { auth: { oidc: [other.entry({ jwks_cooldown_ms: 0 }), { ...dead.entry(), ca_file: other.caFile }] } },
  }, { ports: licensedPorts() })
  t.teardown(() => rig.stop())
  t.equal((await probe(rig.url, `Bearer ${await other.mint({ sub: 'u1' })}`)).status, 200, 'a token of the first key')
  const fetched = other.fetches
  const old = other.current.RS256
  await other.rotate('RS256')
  other.unpublish(old.kid)
  t.equal((await probe(rig.url, `Bearer ${await other.mint({ sub: 'u2' })}`)).status, 200, 'a token of the rotated key: accepted')
  t.equal(other.fetches, fetched + 1, 'the new kid fetched the JWK Set once')
  const withdrawn = await probe(rig.url, `Bearer ${await other.mint({ sub: 'u3' }, { key: old })}`)
  t.equal(withdrawn.status, 401, 'a token of the withdrawn key: refused')
  const down = await probe(rig.url, `Bearer ${await dead.mint({ sub: 'u4' })}`)
  t.equal(down.status, 401, 'JWK Set server down: 401')
  t.match(down.www, /error_description="the issuer keys cannot be fetched"/)
  t.equal(await metric(rig, 'mcp_hangar_auth_tokens_total', 'reason="jwks_unavailable"'), 1)
  t.ok(await metric(rig, 'mcp_hangar_auth_jwks_fetches_total', `issuer="${dead.issuer}",outcome="error"`) >= 1, 'the failed fetch is counted')
})

t.test('caller-scoped tool rules through the real sidecar', async (t) => {
  const rig = await startSidecar('scoped', rigConfig({
    deny_list: ['get-env', { tool: 'echo', callers: ['group:contractors'] }],
    allow_list: ['echo', { tool: 'get-sum', callers: ['group:admins', 'user:bob'] }],
  }), { ports: licensedPorts() })
  t.teardown(() => rig.stop())
  const as = async (auth: string, extra: Record<string, string> = {}) => {
    const c = await connectClient(rig.url, { headers: { Authorization: `Bearer ${auth}`, ...extra } })
    t.teardown(() => c.close())
    return c
  }
  const admin = await as(await idp.mint({ sub: 'ann', groups: ['admins'] }))
  const dev = await as(await idp.mint({ sub: 'dan', groups: ['dev'] }))
  const bob = await as(await idp.mint({ sub: 'bob' }))
  const contractor = await as(await idp.mint({ sub: 'cid', groups: ['contractors', 'admins'] }))
  const spoof = await as(STATIC, { 'X-Hangar-Caller': 'ann' })

  const names = async (c: Awaited<ReturnType<typeof as>>) => (await c.listTools()).tools.map((x) => x.name).sort()
  t.same(await names(admin), ['echo', 'get-sum'], 'group member: tools/list shows the scoped tool')
  t.same(await names(dev), ['echo'], 'non-member: the scoped tool is hidden')
  t.same(await names(bob), ['echo', 'get-sum'], 'user:bob by subject')
  t.same(await names(contractor), ['get-sum'], 'a scoped deny hides echo from a contractor even though a plain allow lists it')
  t.same(await names(spoof), [], 'static token claiming to be ann: no scoped allow, and every scoped deny applies')

  t.match(textOf(await admin.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })), /5/, 'admin calls get-sum')
  const devDenied = await refusedCall(dev.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))
  t.equal(devDenied.code, -32001, 'non-member refused')
  t.match(devDenied.data, { rule: 'not-in-allow_list', reason: /allowed by tools\.allow_list\[1\] only for group:admins, user:bob/ })
  t.equal((await refusedCall(spoof.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))).code, -32001, 'unverified X-Hangar-Caller: ann is refused')
  const cDenied = await refusedCall(contractor.callTool({ name: 'echo', arguments: { message: 'x' } }))
  t.match(cDenied.data, { rule: 'tools.deny_list[1]' }, 'the contractor is denied echo by the scoped deny (deny wins over its admins allow)')
  t.match(textOf(await dev.callTool({ name: 'echo', arguments: { message: 'dev echo' } })), /dev echo/, 'control: the non-contractor calls echo')
  const spoofEcho = await refusedCall(spoof.callTool({ name: 'echo', arguments: { message: 'x' } }))
  t.match(spoofEcho.data, { rule: 'tools.deny_list[1]', reason: /the caller is not verified/ }, 'an unverified caller cannot show it is not a contractor')
  const denials = rig.sink.signals.filter((s: Signal) => s.type === 'tool_denied')
  t.ok(denials.some((s) => s.caller === 'dan' && s.caller_verified === true && s.rule === 'not-in-allow_list'), 'the refusal signal names the verified caller')
  t.ok(denials.some((s) => s.caller === 'ann' && s.caller_verified === false), 'the spoofed name is signalled as unverified')

  // A session is bound to the verified caller that opened it (MCP Security Best Practices,
  // "Session Hijacking"): another token's requests on it are answered as for an unknown session.
  const opened = await probe(rig.url, `Bearer ${await idp.mint({ sub: 'ann', groups: ['admins'] })}`)
  t.ok(opened.sid, 'the admin opened a session')
  const onSession = async (token: string) => {
    const res = await request(rig.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}`, 'mcp-session-id': opened.sid!, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }),
    })
    const text = await res.body.text()
    const data = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { id?: number; result?: { tools: Array<{ name: string }> } })
    return { status: res.statusCode, text, answer: data.find((m) => m.id === 7) }
  }
  const hijack = await onSession(await idp.mint({ sub: 'dan', groups: ['dev'] }))
  t.equal(hijack.status, 404, "another verified caller cannot use the admin's session: answered as an unknown session")
  t.match(hijack.text, /session not found/)
  t.equal((await onSession(STATIC)).status, 404, 'nor can a static-token caller')
  const del = await request(rig.url, { method: 'DELETE', headers: { authorization: `Bearer ${await idp.mint({ sub: 'dan' })}`, 'mcp-session-id': opened.sid!, 'mcp-protocol-version': '2025-06-18' } })
  await del.body.dump()
  t.equal(del.statusCode, 404, "another caller cannot end the admin's session either")
  const same = await onSession(await idp.mint({ sub: 'ann', groups: ['admins'], refreshed: true }))
  t.equal(same.status, 200, 'control: the same caller with a fresh token keeps its session')
  t.same(same.answer?.result?.tools.map((x) => x.name).sort(), ['echo', 'get-sum'])
})

t.test('a scoped rule or ingress.auth without the identity module: the start is refused, naming the license requirement', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-ident-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const make = (raw: Record<string, unknown>, ports?: PortRegistry) => () => new McpSidecar({
    provider: 'p', config: providerConfig({ sidecar: { data_dir: dir }, ...raw }), sink: new MemorySink(), log: pino({ level: 'silent' }),
    metrics: createMetrics({ processMetrics: false }), enforcement: new QuarantineSwitch(), sidecarId: 'p-test', inheritedEnv: {}, ...(ports && { ports }),
  })
  const unlicensed = createPortRegistry()
  const auth = { mode: 'subprocess', command: [node, EVERYTHING], ingress: { auth: { oidc: [idp.entry()] } } }
  const scoped = { mode: 'subprocess', command: [node, EVERYTHING], ingress: { auth: { oidc: [idp.entry()] } }, capabilities: { tools: { allow_list: ['echo', { tool: 'get-sum', callers: ['group:admins'] }] } } }
  for (const [what, raw, at] of [['ingress.auth', auth, 'ingress.auth.oidc'], ['a scoped rule', { ...scoped, ingress: {} }, 'capabilities.tools.allow_list[1]']] as const) {
    const err = t.throws(make(raw, unlicensed)) as HangarError
    t.equal(err.code, 'HANGAR_CONFIG_INVALID', `${what}: config error`)
    t.match(err.message, `providers.p.${at}: verified caller identity needs the enterprise module "identity"`, `${what}: names the setting`)
    t.match(err.message, /license key granting it or the community grant \(`mcp-hangar license show` says: unlicensed, no license key found, using defaults\)/, `${what}: says what license show says`)
    t.throws(make(raw), /needs the enterprise module "identity"/, `${what}: refused without any registry too`)
  }
  t.throws(make({ ...scoped, ingress: {} }, licensedPorts()), /capabilities\.tools\.allow_list\[1\]: a caller-scoped tool rule needs verified callers: set providers\.p\.ingress\.auth\.oidc/, 'licensed, but no issuer: a scoped rule is refused (no caller could ever match it)')
  t.throws(make({ ...auth, ingress: { auth: { oidc: [{ issuer: idp.issuer, audience: 'a', jwks_file: join(dir, 'none.json') }] } } }, licensedPorts()), /^providers\.p\.ingress\.auth\.oidc\[0\]\.jwks_file: cannot read/, 'an unusable issuer names its path')
  const ok = make(scoped, licensedPorts())()
  t.ok(ok.ingress, 'control: licensed with an issuer, the same config composes')
  await ok.stop()
})

t.test('remote mode: a verified bearer JWT is never passed through to the provider', async (t) => {
  const seen: IncomingHttpHeaders[] = []
  const upstream = createServer((req, res) => {
    seen.push(req.headers)
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'up', version: '1' } } }))
    })
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => upstream.close(() => r())))
  const endpoint = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/mcp`
  const rig = await startSidecar('remote-ident', { mode: 'remote', endpoint, ingress: { auth: { oidc: [idp.entry()] } } }, { ports: licensedPorts() })
  t.teardown(() => rig.stop())
  const r = await probe(rig.url, `Bearer ${await idp.mint({ sub: 'alice' })}`)
  t.equal(r.status, 200, 'the verified request reached the provider')
  t.equal(seen.length, 1)
  t.equal(seen[0]!.authorization, undefined, 'no Authorization header upstream (no token passthrough)')
  const plain = await startSidecar('remote-plain', { mode: 'remote', endpoint })
  t.teardown(() => plain.stop())
  t.equal((await probe(plain.url, 'Bearer client-own-token')).status, 200)
  t.equal(seen[1]?.authorization, 'Bearer client-own-token', 'control: without ingress authentication the header is forwarded, as before')
  // The upstream's session id is bound to the verified caller that opened it.
  const onSession = (token: string) => request(rig.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}`, 'mcp-session-id': r.sid!, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  }).then(async (res) => ({ status: res.statusCode, text: await res.body.text() }))
  t.equal(r.sid, 'up-1')
  const other = await onSession(await idp.mint({ sub: 'mallory' }))
  t.equal(other.status, 404, "another verified caller on alice's session: 404")
  t.equal(seen.length, 2, 'and nothing was forwarded')
  t.equal((await onSession(await idp.mint({ sub: 'alice', jti: 'second' }))).status, 200, 'control: alice with a fresh token')
  t.equal(seen.length, 3)
})

t.test('spans: the verified caller on the request span (user.id, groups, claims); a static-token caller marked unverified', async (t) => {
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  t.teardown(() => provider.shutdown())
  const tracer = new McpTracer({ tracer: provider.getTracer('test'), provider: 'traced' })
  const rig = await startSidecar('traced', rigConfig(), { ports: licensedPorts(), tracer })
  t.teardown(() => rig.stop())
  const verified = await connectClient(rig.url, { headers: { Authorization: `Bearer ${await idp.mint({ sub: 'vera', groups: ['ops'], email: 'v@example.test' })}` } })
  t.teardown(() => verified.close())
  await verified.callTool({ name: 'echo', arguments: { message: 'traced' } })
  const stat = await connectClient(rig.url, { headers: { Authorization: `Bearer ${STATIC}`, 'X-Hangar-Caller': 'vera' } })
  t.teardown(() => stat.close())
  await stat.callTool({ name: 'echo', arguments: { message: 'traced too' } })
  const calls = exporter.getFinishedSpans().filter((s) => s.name === 'tools/call echo')
  t.equal(calls.length, 2)
  t.match(calls[0]!.attributes, { 'hangar.caller': 'vera', 'hangar.caller.verified': true, 'user.id': 'vera', 'hangar.caller.groups': ['ops'], 'hangar.caller.claim.email': 'v@example.test' })
  t.match(calls[1]!.attributes, { 'hangar.caller': 'vera', 'hangar.caller.verified': false })
  t.notOk('user.id' in calls[1]!.attributes, 'an unverified caller is no user.id')
})

t.test('the whole Sidecar: start refused without the module, nothing left listening; licensed, the same config serves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-ident-sc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const admin = await freePort()
  const listen = await freePort()
  const config = hangarConfigSchema.parse({
    providers: {
      p: {
        mode: 'subprocess', command: [node, EVERYTHING], listen: `127.0.0.1:${listen}`,
        ingress: { auth: { oidc: [idp.entry()] } },
        sidecar: { admin: `127.0.0.1:${admin}`, data_dir: dir, signal_log: join(dir, 'signals.jsonl'), proxy: '127.0.0.1:0', dns: '127.0.0.1:0', transparent_http: null, transparent_tls: null },
      },
    },
  })
  const make = (ports: PortRegistry) => new Sidecar({ config, provider: 'p', planes: 'mcp', log: pino({ level: 'silent' }), source: 'test', ports })
  const refused = make(createPortRegistry())
  await t.rejects(refused.start(), { code: 'HANGAR_CONFIG_INVALID', message: /^providers\.p\.ingress\.auth\.oidc: verified caller identity needs the enterprise module "identity"/ })
  const connects = (port: number) => new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => resolve(!!s.end()))
    s.on('error', () => resolve(false))
  })
  t.equal(await connects(listen), false, 'no MCP ingress was left listening')
  t.equal(await connects(admin), false, 'no admin listener either')
  const served = make(licensedPorts())
  t.teardown(() => served.stop())
  const ports = await served.start()
  t.equal(ports.mcp, listen)
  t.equal((await probe(new URL(`http://127.0.0.1:${listen}/mcp`), `Bearer ${await idp.mint({})}`)).status, 200, 'control: licensed, a verified token initializes')
  t.equal((await probe(new URL(`http://127.0.0.1:${listen}/mcp`))).status, 401)
})
