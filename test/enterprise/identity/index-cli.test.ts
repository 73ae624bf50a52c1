// `mcp-hangar sidecar` as a real process, with the license decided as in production: no key and
// five providers → no enterprise module, so `ingress.auth.oidc` refuses the start with the license
// requirement; no key and one provider → the community grant loads the identity module and the
// same provider verifies JWTs.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { EVERYTHING, LOOPBACK_SIDECAR_YAML } from '../../helpers/mcp.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc.js'

const root = new URL('../../../', import.meta.url).pathname

let idp: TestIssuer
t.before(async () => {
  idp = await startTestIssuer()
})
t.teardown(async () => idp.close())

function provider(name: string, dir: string, auth: boolean): string {
  const e = idp.entry()
  return `  ${name}:
    mode: subprocess
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(EVERYTHING)}]
    listen: 127.0.0.1:0
${auth ? `    ingress:
      auth:
        oidc:
          - issuer: ${e.issuer}
            audience: ${e.audience}
            jwks_uri: ${e.jwks_uri}
            ca_file: ${e.ca_file}
` : ''}    sidecar:
${LOOPBACK_SIDECAR_YAML}      data_dir: ${join(dir, name)}
      signal_log: ${join(dir, `${name}.jsonl`)}
`
}

/** Runs the sidecar of `p` until it is ready (resolves its MCP port) or exits (resolves its exit code and output). */
function runSidecar(t: Test, cfg: string): Promise<{ mcp?: number; code?: number | null; out: string; stop: () => Promise<void> }> {
  const env: Record<string, string> = { ...process.env as Record<string, string>, MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info' }
  delete env.MCP_LICENSE_KEY
  const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'sidecar', '-c', cfg, '--provider', 'p'], { cwd: root, env })
  let out = ''
  let exited = false
  const stop = () => new Promise<void>((resolve) => {
    if (exited) return resolve()
    c.once('exit', () => resolve())
    c.kill('SIGTERM')
  })
  t.teardown(stop)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ out, stop }), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      for (const line of out.split('\n')) {
        if (line.includes('"msg":"ready"')) {
          clearTimeout(timer)
          resolve({ mcp: (JSON.parse(line) as { mcp_port: number }).mcp_port, out, stop })
        }
      }
    }
    c.stderr.on('data', onData)
    c.stdout.on('data', onData)
    c.once('exit', (code) => {
      exited = true
      clearTimeout(timer)
      resolve({ code, out, stop })
    })
  })
}

t.test('no license, five providers: the identity module is off and ingress.auth.oidc refuses the start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-ident-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `providers:\n${provider('p', dir, true)}${['a', 'b', 'c', 'd'].map((n) => provider(n, dir, false)).join('')}`)
  const r = await runSidecar(t, cfg)
  t.equal(r.mcp, undefined, 'never ready')
  t.not(r.code, 0, `exited with an error (${r.code})`)
  t.match(r.out, 'mcp-hangar: providers.p.ingress.auth.oidc: verified caller identity needs the enterprise module "identity"', 'the CLI names the setting and the module')
  t.match(r.out, /`mcp-hangar license show` says: unlicensed, no license key found, using defaults: 5 providers configured, the community grant covers fewer than 5\)/, 'and what license show says')
})

t.test('no license, one provider: the community grant loads identity and the sidecar verifies JWTs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-ident-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `providers:\n${provider('p', dir, true)}`)
  const r = await runSidecar(t, cfg)
  t.ok(r.mcp, `ready (${r.out.slice(-300)})`)
  const url = `http://127.0.0.1:${r.mcp}/mcp`
  const post = async (auth?: string) => {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(auth && { authorization: auth }) },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'cli-probe', version: '1' } } }),
    })
    await res.body.dump()
    return { status: res.statusCode, www: res.headers['www-authenticate'] }
  }
  t.equal((await post(`Bearer ${await idp.mint({ sub: 'cli-user' })}`)).status, 200, 'a verified token initializes')
  const bad = await post(`Bearer ${await idp.mint({}, { aud: 'elsewhere' })}`)
  t.equal(bad.status, 401)
  t.match(bad.www, /error="invalid_token"/)
  await r.stop()
})
