/**
 * cli/keys.ts: `mcp-hangar keys create | list | revoke` as the real command (`node --import tsx
 * cli/main.ts`) against a real `mcp-hangar aggregator` process: with one provider the community
 * grant loads the enterprise access module, so RBAC runs. The key is printed once, alone on
 * stdout; the credential comes from MCP_HANGAR_ADMIN_KEY or --token-file, never argv; refusals
 * print the aggregator's message (403 naming the roles, 501 naming the license requirement) and
 * exit 1; usage errors exit 2. Plus the pure parts: --expires, the credential, the list table.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { aggregatorOf, credentialOf, formatKeys, parseExpires } from '../../cli/keys.js'
import { CliProcess } from '../fixtures/control-plane/cli-process.js'
import { runNode } from '../helpers/child.js'
import { freePort } from '../helpers/mcp.js'

t.setTimeout(240_000)
const root = fileURLToPath(new URL('../../', import.meta.url))
const ADMIN = 'adm-cli-keys-1'
const KEY_RE = /^hk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/

t.test('parseExpires: durations and RFC 3339 times; anything else names the option', async (t) => {
  const now = Date.UTC(2026, 0, 1)
  t.equal(parseExpires('90d', now), '2026-04-01T00:00:00.000Z')
  t.equal(parseExpires('12h', now), '2026-01-01T12:00:00.000Z')
  t.equal(parseExpires('2027-01-31T00:00:00Z', now), '2027-01-31T00:00:00.000Z')
  t.equal(parseExpires('2027-01-31T01:00:00+01:00', now), '2027-01-31T00:00:00.000Z')
  for (const bad of ['0d', '90', 'd', '90w', '-1d', '36501d', 'tomorrow', '2025-12-31T00:00:00Z', '2027-02-30T00:00:00Z', '2027-01-31']) {
    t.throws(() => parseExpires(bad, now), { code: 'HANGAR_USAGE', message: /^--expires: / }, bad)
  }
})

t.test('credentialOf: the env or the file, not both, not neither; aggregatorOf: http(s) URLs only', async (t) => {
  const dir = t.testdir({ tok: 'hk_x\nsecond line\n', empty: '\n' })
  t.equal(credentialOf({ envKey: 'hk_env' }), 'hk_env')
  t.equal(credentialOf({ tokenFile: join(dir, 'tok') }), 'hk_x', 'the first line')
  t.throws(() => credentialOf({}), /no credential: set MCP_HANGAR_ADMIN_KEY .* or pass --token-file FILE \(never the key itself on the command line\)/)
  t.throws(() => credentialOf({ envKey: 'a', tokenFile: join(dir, 'tok') }), /both --token-file and MCP_HANGAR_ADMIN_KEY/)
  t.throws(() => credentialOf({ tokenFile: join(dir, 'empty') }), /is empty/)
  t.throws(() => credentialOf({ tokenFile: join(dir, 'missing') }), /cannot read/)
  t.equal(aggregatorOf({ aggregator: 'https://agg.internal:8443/some/path' }), 'https://agg.internal:8443')
  t.equal(aggregatorOf({}), 'http://127.0.0.1:8000')
  t.throws(() => aggregatorOf({ aggregator: 'ftp://x' }), /expected http:\/\/ or https:\/\//)
  t.throws(() => aggregatorOf({ aggregator: 'not a url' }), /--aggregator: expected a URL/)
})

t.test('formatKeys: a column per field, the state derived', async (t) => {
  const now = Date.UTC(2026, 0, 2)
  const text = formatKeys([
    { id: 'hk_00000001', name: 'ci', role: 'operator', created: '2026-01-01T00:00:00.000Z', created_by: 'token:admin' },
    { id: 'hk_00000002', name: 'old', role: 'viewer', created: '2025-01-01T00:00:00.000Z', created_by: 'hk_00000001', expires: '2025-06-01T00:00:00.000Z', last_used: '2025-05-01T00:00:00.000Z' },
    { id: 'hk_00000003', name: 'gone', role: 'admin', created: '2025-01-01T00:00:00.000Z', created_by: 'x', revoked: '2025-02-01T00:00:00.000Z' },
  ], now)
  const lines = text.split('\n')
  t.equal(lines[0], 'ID           NAME  ROLE      STATE    CREATED                   EXPIRES                   LAST USED                 CREATED BY')
  t.equal(lines[1], 'hk_00000001  ci    operator  active   2026-01-01T00:00:00.000Z  never                     never                     token:admin')
  t.match(lines[2], / viewer {4}expired /)
  t.match(lines[3], / admin {5}revoked /)
})

async function aggregator(t: Test, providers: number): Promise<{ url: string; dir: string }> {
  const dir = t.testdir({})
  const port = await freePort()
  const names = Array.from({ length: providers }, (_, i) => `  p${i}:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\n`).join('')
  const f = join(dir, 'hangar.yaml')
  writeFileSync(f, `aggregator:\n  listen: 127.0.0.1:${port}\n  data_dir: ${join(dir, 'data')}\n  admin_tokens: [${ADMIN}]\n  auth: {}\nproviders:\n${names}`)
  const p = CliProcess.start(t, 'aggregator', ['aggregator', '-c', f], { MCP_LICENSE_KEY: '' })
  await p.waitForMsg('ready', 60_000)
  return { url: `http://127.0.0.1:${port}`, dir }
}

const keys = (args: string[], env: Record<string, string> = {}) => runNode(['--import', 'tsx', join(root, 'cli/main.ts'), 'keys', ...args], { cwd: root, env, timeoutMs: 60_000 })

t.test('the real CLI against a real aggregator with RBAC: create, use, list, revoke', async (t) => {
  const { url, dir } = await aggregator(t, 1)
  const created = await keys(['create', '--role', 'operator', '--name', 'ci', '--expires', '90d', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: ADMIN })
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^hk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}\n$/, 'the key alone on stdout')
  const ci = created.stdout.trim()
  t.match(created.stderr, new RegExp(`created API key ${ci.slice(0, 11)} "ci" with role operator, expiring 20\\d\\d-.*This is the only time the key is shown`))
  const adminMade = await keys(['create', '--role', 'admin', '--name', 'root', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: ADMIN })
  const rootKey = adminMade.stdout.trim()
  t.match(rootKey, KEY_RE)
  writeFileSync(join(dir, 'admin'), rootKey + '\n')
  const denied = await keys(['list', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: ci })
  t.equal(denied.code, 1, 'an operator key cannot list keys')
  t.match(denied.stderr, /mcp-hangar keys: list: HTTP 403 forbidden: Forbidden: GET \/v1\/keys needs role admin; ci holds role operator/)
  const list = await keys(['list', '--aggregator', url, '--token-file', join(dir, 'admin')])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, new RegExp(`^${ci.slice(0, 11)} +ci +operator +active `, 'm'))
  t.notMatch(list.stdout, new RegExp(ci.slice(12)), 'no secret in the list')
  const revoked = await keys(['revoke', ci.slice(0, 11), '--aggregator', url, '--token-file', join(dir, 'admin')])
  t.equal(revoked.code, 0, revoked.stderr)
  t.match(revoked.stdout, new RegExp(`^revoked ${ci.slice(0, 11)} "ci" \\(role operator\\) at 20`))
  const json = await keys(['list', '--json', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: rootKey })
  const parsed = JSON.parse(json.stdout) as Array<{ id: string; revoked?: string; created_by: string }>
  t.ok(parsed.find((k) => k.id === ci.slice(0, 11))?.revoked, 'listed as revoked')
  t.equal(parsed.find((k) => k.id === rootKey.slice(0, 11))?.created_by, 'token:admin')
  const after = await keys(['list', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: ci })
  t.equal(after.code, 1)
  t.match(after.stderr, /HTTP 401 unauthorized: Unauthorized: API key hk_[0-9a-f]{8} was revoked at/)
  const unknown = await keys(['revoke', 'hk_00000000', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: rootKey })
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /HTTP 404 not_found: no API key "hk_00000000"/)
})

t.test('usage errors exit 2 and send nothing; an unreachable aggregator exits 1 naming it', async (t) => {
  const none = await keys(['list', '--aggregator', 'http://127.0.0.1:9'])
  t.equal(none.code, 2)
  t.match(none.stderr, /no credential: set MCP_HANGAR_ADMIN_KEY/)
  const argv = await keys(['create', '--role', 'viewer', '--name', 'x', '--token', 'secret', '--aggregator', 'http://127.0.0.1:9'], { MCP_HANGAR_ADMIN_KEY: 'k' })
  t.not(argv.code, 0, 'there is no option to pass a credential on the command line')
  t.match(argv.stderr, /unknown option '--token'/)
  const role = await keys(['create', '--role', 'root', '--name', 'x', '--aggregator', 'http://127.0.0.1:9'], { MCP_HANGAR_ADMIN_KEY: 'k' })
  t.equal(role.code, 2)
  t.match(role.stderr, /--role: expected viewer, operator, admin, got "root"/)
  const exp = await keys(['create', '--role', 'viewer', '--name', 'x', '--expires', 'soon', '--aggregator', 'http://127.0.0.1:9'], { MCP_HANGAR_ADMIN_KEY: 'k' })
  t.equal(exp.code, 2)
  t.match(exp.stderr, /--expires: expected a duration/)
  const bad = await keys(['revoke', 'ci', '--aggregator', 'http://127.0.0.1:9'], { MCP_HANGAR_ADMIN_KEY: 'k' })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /expected a key id such as hk_3f9c1a2b/)
  const port = await freePort()
  const down = await keys(['list', '--aggregator', `http://127.0.0.1:${port}`], { MCP_HANGAR_ADMIN_KEY: 'k' })
  t.equal(down.code, 1)
  t.match(down.stderr, new RegExp(`mcp-hangar keys: list: cannot reach the aggregator at http://127.0.0.1:${port}: `))
})

t.test('without the module (five providers, no license): keys answers 501 naming the license requirement', async (t) => {
  const { url } = await aggregator(t, 5)
  const r = await keys(['create', '--role', 'viewer', '--name', 'x', '--aggregator', url], { MCP_HANGAR_ADMIN_KEY: ADMIN })
  t.equal(r.code, 1)
  t.equal(r.stdout, '', 'no key printed')
  t.match(r.stderr, /HTTP 501 not_implemented: API keys are not available: RBAC needs an enterprise license with the rbac feature \(no license key found/)
})
