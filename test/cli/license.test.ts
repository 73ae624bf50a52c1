// `mcp-hangar license show|verify` and the license decision at `aggregator` start, as the built
// command (dist/mcp-hangar.mjs beside dist/mcp-hangar-enterprise.mjs; `npm run build` when
// missing). The shipped binary trusts only its embedded key: a license signed with the test's
// key pair is refused as a bad signature. The control is the same binary with the embedded
// public key swapped for the test's (a copy under the test's directory): the same key then
// verifies, and a tampered, an expired and an over-the-limit license are still refused and leave
// the enterprise modules off.
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { signLicense, type LicensePayload } from '../../core/license.js'
import { LICENSE_PUBLIC_KEY_PEM } from '../../core/license-key.js'
import { ensureBuilt } from '../helpers/build.js'
import { freePort } from '../helpers/mcp.js'

t.setTimeout(240_000)
const root = new URL('../../', import.meta.url).pathname
const BUNDLE = join(root, 'dist/mcp-hangar.mjs')
const ENTERPRISE = join(root, 'dist/mcp-hangar-enterprise.mjs')
ensureBuilt()

const pair = generateKeyPairSync('ed25519')
const PAYLOAD: LicensePayload = { licensee: 'Acme Corp', expires: '2099-01-01T00:00:00Z', max_providers: 3, features: ['compliance_export'], id: 'test-1' }
const TEST_KEY = signLicense(PAYLOAD, pair.privateKey)
const BAD_SIGNATURE = 'bad signature: the license key was not signed by the MCP Hangar license key'
const pemBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('')

/** The built CLI with the embedded public key replaced by the test's, in `dir`/dist (the enterprise bundle beside it unless told). */
function trustingCopy(dir: string, { enterprise = true } = {}): string {
  const src = readFileSync(BUNDLE, 'utf8')
  const embedded = pemBody(LICENSE_PUBLIC_KEY_PEM)
  const occurrences = src.split(embedded).length - 1
  if (occurrences !== 1) throw new Error(`the embedded key occurs ${occurrences} times in ${BUNDLE}`)
  const dist = join(dir, 'dist')
  mkdirSync(dist, { recursive: true })
  writeFileSync(join(dist, 'mcp-hangar.mjs'), src.replace(embedded, pemBody(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string)))
  if (enterprise) copyFileSync(ENTERPRISE, join(dist, 'mcp-hangar-enterprise.mjs'))
  return join(dist, 'mcp-hangar.mjs')
}

/** A hangar.yaml naming `n` remote providers (nothing is dialled: the aggregator only lists them). */
function config(dir: string, n: number, port = 1): string {
  const f = join(dir, `hangar-${n}.yaml`)
  const providers = Array.from({ length: n }, (_, i) => `  p${i}:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\n`).join('')
  writeFileSync(f, `aggregator:\n  listen: 127.0.0.1:${port}\n  data_dir: ${join(dir, `data-${n}-${port}`)}\nproviders:${n ? `\n${providers}` : ' {}\n'}`)
  return f
}

interface Run { code: number | null; stdout: string; stderr: string }
/** Runs `node <bin> args` with only PATH/HOME and `env`, stdin `input`. */
function cli(bin: string, args: string[], env: Record<string, string> = {}, input?: string, cwd = root): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', MCP_JSON_LOGS: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += String(d)))
    c.stderr.on('data', (d: Buffer) => (stderr += String(d)))
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000)
    c.stdin.end(input ?? '')
    c.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
const logLines = (s: string) => s.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
const show = async (bin: string, cfg: string, env: Record<string, string> = {}) => {
  const r = await cli(bin, ['license', 'show', '-c', cfg, '--json'], env)
  return { ...r, state: JSON.parse(r.stdout) as Record<string, unknown>, logs: logLines(r.stderr) }
}

t.test('the shipped binary refuses a license signed with a test key: verify, show, MCP_LICENSE_KEY', async (t) => {
  const dir = t.testdir({})
  const v = await cli(BUNDLE, ['license', 'verify', TEST_KEY])
  t.equal(v.code, 1, 'exit 1')
  t.match(v.stderr, `mcp-hangar: license key refused: ${BAD_SIGNATURE}`)
  t.match(v.stdout, /^mode: +unlicensed$/m)
  const s = await show(BUNDLE, config(dir, 1), { MCP_LICENSE_KEY: TEST_KEY })
  t.equal(s.code, 0)
  t.match(s.state, { mode: 'unlicensed', features: [], reason: BAD_SIGNATURE, providers: 1, enterprise: false }, 'no community fallback with a refused key, modules off')
  t.match(s.logs, [{ level: 50, msg: `license key refused: ${BAD_SIGNATURE}` }])
  // Control: the same key through the same binary, trusting the test key, verifies.
  const trusting = trustingCopy(dir)
  const ok = await cli(trusting, ['license', 'verify', TEST_KEY])
  t.equal(ok.code, 0, `control: verifies where its key is trusted: ${ok.stderr}`)
  t.match(ok.stdout, /^mode: +licensed$/m)
  t.match(ok.stdout, /^licensee: +Acme Corp$/m)
  t.match(ok.stdout, /^expires: +2099-01-01T00:00:00Z$/m)
  t.match(ok.stdout, /^max providers: +3$/m)
  t.match(ok.stdout, /^features: +compliance_export$/m)
})

t.test('license show: community at 4 providers, no license key found at 5, licensed with a trusted key', async (t) => {
  const dir = t.testdir({})
  const four = await show(BUNDLE, config(dir, 4))
  t.match(four.state, { mode: 'community', features: ['compliance_export'], providers: 4, enterprise: true })
  t.notOk('reason' in four.state)
  t.match(four.logs, [{ level: 30, msg: 'enterprise modules loaded', mode: 'community', licensee: 'community grant', features: ['compliance_export'] }])
  const five = await show(BUNDLE, config(dir, 5))
  t.match(five.state, { mode: 'unlicensed', features: [], providers: 5, enterprise: false, reason: 'no license key found, using defaults: 5 providers configured, the community grant covers fewer than 5' })
  t.match(five.logs, [{ level: 40, msg: 'no license key found, using defaults' }])
  const human = await cli(BUNDLE, ['license', 'show', '-c', config(dir, 4)])
  t.match(human.stdout, /^mode: +community$/m)
  t.match(human.stdout, /^enterprise: +loaded$/m)
  t.match(human.stdout, new RegExp(`^providers: +4 \\(${join(dir, 'hangar-4.yaml').replace(/[./]/g, '\\$&')}\\)$`, 'm'))
  const none = await cli(BUNDLE, ['license', 'show', '--json'], {}, undefined, dir)
  t.match(JSON.parse(none.stdout), { mode: 'community', providers: 0, config: null }, 'no config: 0 providers')
  const missing = await cli(BUNDLE, ['license', 'show', '-c', join(dir, 'nope.yaml')])
  t.equal(missing.code, 2, 'an explicit config that does not exist is an error')
  t.match(missing.stderr, /nope\.yaml/)
  const trusting = trustingCopy(dir)
  const lic = await show(trusting, config(dir, 3), { MCP_LICENSE_KEY: TEST_KEY })
  t.match(lic.state, { mode: 'licensed', licensee: 'Acme Corp', expires: '2099-01-01T00:00:00Z', max_providers: 3, features: ['compliance_export'], providers: 3, enterprise: true })
  t.match(lic.logs, [{ level: 30, msg: 'enterprise modules loaded', mode: 'licensed', licensee: 'Acme Corp', features: ['compliance_export'] }])
})

t.test('a tampered, an expired and an over-the-limit license are refused by the trusting binary and leave enterprise off', async (t) => {
  const dir = t.testdir({})
  const trusting = trustingCopy(dir)
  const [payload, signature] = TEST_KEY.split('.') as [string, string]
  const tampered = `${Buffer.from(JSON.stringify({ ...PAYLOAD, max_providers: 1000 })).toString('base64url')}.${signature}`
  const expired = signLicense({ ...PAYLOAD, expires: '2020-01-01T00:00:00Z' }, pair.privateKey)
  const cases: Array<[string, string, number, string]> = [
    ['tampered payload', tampered, 3, BAD_SIGNATURE],
    ['tampered signature', `${payload}.${Buffer.from(Buffer.from(signature, 'base64url').map((b, i) => (i === 10 ? b ^ 1 : b))).toString('base64url')}`, 3, BAD_SIGNATURE],
    ['expired', expired, 3, 'license expired on 2020-01-01T00:00:00Z'],
    ['over its provider limit', TEST_KEY, 4, '4 providers configured, the license allows 3'],
    ['malformed', 'x.y.z', 1, 'malformed license key: expected <payload>.<signature> (two base64url parts joined by a dot), got 3 part(s)'],
  ]
  for (const [name, key, n, reason] of cases) {
    const s = await show(trusting, config(dir, n), { MCP_LICENSE_KEY: key })
    t.match(s.state, { mode: 'unlicensed', features: [], reason, enterprise: false }, `${name}: refused, enterprise off`)
    t.match(s.logs, [{ level: 50, msg: `license key refused: ${reason}`, reason }], `${name}: the log line`)
    t.notOk(s.logs.some((l) => l.msg === 'enterprise modules loaded'), `${name}: nothing loaded`)
    const v = await cli(trusting, ['license', 'verify', key, '-c', config(dir, n)])
    t.equal(v.code, 1, `${name}: verify exit 1`)
    t.match(v.stderr, `license key refused: ${reason}`)
  }
  const ok = await show(trusting, config(dir, 3), { MCP_LICENSE_KEY: TEST_KEY })
  t.match(ok.state, { mode: 'licensed', enterprise: true }, 'control: the untouched license at its limit')
})

t.test('license verify: a key on stdin with "-", --json, an empty key', async (t) => {
  const dir = t.testdir({})
  const trusting = trustingCopy(dir)
  const stdin = await cli(trusting, ['license', 'verify', '-'], {}, `${TEST_KEY}\n`)
  t.equal(stdin.code, 0, stdin.stderr)
  t.match(stdin.stdout, /^licensee: +Acme Corp$/m)
  const json = await cli(trusting, ['license', 'verify', '-', '--json'], {}, TEST_KEY)
  t.match(JSON.parse(json.stdout), { mode: 'licensed', licensee: 'Acme Corp', max_providers: 3, providers: 0, config: null })
  const shipped = await cli(BUNDLE, ['license', 'verify', '-', '--json'], {}, TEST_KEY)
  t.equal(shipped.code, 1)
  t.match(JSON.parse(shipped.stdout), { mode: 'unlicensed', reason: BAD_SIGNATURE })
  const empty = await cli(BUNDLE, ['license', 'verify', '-'], {}, '\n')
  t.equal(empty.code, 1)
  t.match(empty.stderr, 'mcp-hangar: license key refused: malformed license key: empty')
  const big = await cli(BUNDLE, ['license', 'verify', '-'], {}, 'A'.repeat(20_000))
  t.equal(big.code, 2, 'more than twice the longest key on stdin is a usage error')
  t.match(big.stderr, /license verify -: more than 16384 characters on stdin/)
})

/** Starts `node bin aggregator -c cfg` and resolves once it logged "ready"; killed at teardown. */
async function aggregator(t: Test, bin: string, cfg: string, env: Record<string, string> = {}) {
  const c = spawn(process.execPath, [bin, 'aggregator', '-c', cfg], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', MCP_JSON_LOGS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)))
  t.teardown(async () => {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL')
      await exited
    }
  })
  let err = ''
  c.stderr.on('data', (d: Buffer) => (err += String(d)))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`aggregator not ready in 60 s:\n${err}`)), 60_000)
    const check = () => {
      if (logLines(err).some((l) => l.msg === 'ready')) {
        clearTimeout(timer)
        resolve()
      }
    }
    c.stderr.on('data', check)
    void exited.then((code) => reject(new Error(`aggregator exited ${code}:\n${err}`)))
  })
  return { logs: () => logLines(err), stop: async () => { c.kill('SIGTERM'); return exited } }
}

t.test('aggregator start logs the license decision in each case and keeps running', async (t) => {
  const dir = t.testdir({})
  const trusting = trustingCopy(dir)
  const noEnterprise = trustingCopy(join(dir, 'bare'), { enterprise: false })
  const cases: Array<[string, string, number, Record<string, string>, Record<string, unknown>]> = [
    ['community grant', BUNDLE, 2, {}, { level: 30, msg: 'enterprise modules loaded', mode: 'community', features: ['compliance_export'] }],
    ['no key, 5 providers', BUNDLE, 5, {}, { level: 40, msg: 'no license key found, using defaults' }],
    ['a test-signed key in the shipped binary', BUNDLE, 2, { MCP_LICENSE_KEY: TEST_KEY }, { level: 50, msg: `license key refused: ${BAD_SIGNATURE}` }],
    ['a trusted key', trusting, 3, { MCP_LICENSE_KEY: TEST_KEY }, { level: 30, msg: 'enterprise modules loaded', mode: 'licensed', licensee: 'Acme Corp', features: ['compliance_export'] }],
    ['a trusted key over its limit', trusting, 4, { MCP_LICENSE_KEY: TEST_KEY }, { level: 50, msg: 'license key refused: 4 providers configured, the license allows 3' }],
    ['a trusted key, the enterprise bundle missing', noEnterprise, 3, { MCP_LICENSE_KEY: TEST_KEY }, { level: 50, msg: 'enterprise modules failed to load, using defaults', mode: 'licensed' }],
  ]
  for (const [name, bin, n, env, line] of cases) {
    const port = await freePort()
    const agg = await aggregator(t, bin, config(dir, n, port), env)
    const decisions = agg.logs().filter((l) => /enterprise modules|license key|no license key/.test(String(l.msg)))
    t.equal(decisions.length, 1, `${name}: one license line`)
    t.match(decisions[0], line, `${name}: ${JSON.stringify(decisions[0])}`)
    const ready = agg.logs().findIndex((l) => l.msg === 'ready')
    t.ok(agg.logs().indexOf(decisions[0]!) < ready, `${name}: decided before ready`)
    const health = await request(`http://127.0.0.1:${port}/health`)
    t.equal(health.statusCode, 200, `${name}: keeps running and answers`)
    await health.body.dump()
    t.equal(await agg.stop(), 0, `${name}: a clean exit`)
  }
})

t.test('the CLI bundle holds no enterprise code; the enterprise bundle does', async (t) => {
  const cli = readFileSync(BUNDLE, 'utf8')
  const ent = readFileSync(ENTERPRISE, 'utf8')
  t.notMatch(cli, /mcp-hangar enterprise bootstrap/, 'the bootstrap is not in dist/mcp-hangar.mjs')
  t.match(ent, /mcp-hangar enterprise bootstrap/, 'control: it is in dist/mcp-hangar-enterprise.mjs')
  t.match(ent, /export\s*\{[^}]*\bregister\b/, 'the enterprise bundle exports register')
})
