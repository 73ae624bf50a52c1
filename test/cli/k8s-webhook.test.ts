// `mcp-hangar k8s webhook` as the built command (dist/mcp-hangar.mjs, `npm run build`), with the
// flags the Helm chart passes: it starts, serves /healthz and /mutate over TLS (checked against the
// CA and the Service name), and SIGTERM stops it with exit 0. Bad flags (unreadable or unusable
// certificate/key, bad --listen, a non-http aggregator URL, a missing required flag) exit with a
// message before anything listens; control: the same command with good flags starts.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeTestPki } from '../helpers/tls.js'
import { parseListenFlag } from '../../cli/k8s-webhook.js'
import { runNode, type NodeRun } from '../helpers/child.js'

t.setTimeout(120_000)
const root = new URL('../../', import.meta.url).pathname
const BUNDLE = join(root, 'dist/mcp-hangar.mjs')
if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`)
const NAME = 'mcp-hangar-injector.mcp-hangar.svc'
const pki = makeTestPki([NAME])
const dir = mkdtempSync(join(tmpdir(), 'hangar-webhook-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const cert = join(dir, 'tls.crt')
const key = join(dir, 'tls.key')
writeFileSync(cert, pki.cert)
writeFileSync(key, pki.key)
writeFileSync(join(dir, 'not-pem.crt'), 'hello\n')
writeFileSync(join(dir, 'other.key'), makeTestPki([NAME]).key)

function run(args: string[], timeoutMs = 30_000): Promise<NodeRun> {
  return runNode([BUNDLE, 'k8s', 'webhook', ...args], { cwd: root, timeoutMs })
}

function get(port: number, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', ca: pki.ca, servername: NAME, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += String(d)))
      res.on('end', () => resolve({ status: res.statusCode!, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('parseListenFlag: :port, host:port, [v6]:port; bad forms refused', async (t) => {
  t.strictSame(parseListenFlag(':8443'), { host: '0.0.0.0', port: 8443 })
  t.strictSame(parseListenFlag('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
  t.strictSame(parseListenFlag('[::]:8443'), { host: '::', port: 8443 })
  for (const bad of ['8443', ':', ':65536', 'host:', ':-1', ':84a3', '']) t.throws(() => parseListenFlag(bad), { code: 'HANGAR_USAGE', message: /--listen: expected host:port or :port/ }, bad)
})

t.test('bad flags: exit 2 with a message, nothing listens', async (t) => {
  const good = ['--tls-cert', cert, '--tls-key', key, '--listen', '127.0.0.1:0']
  const cases: Array<[string[], number, RegExp]> = [
    [['--tls-cert', join(dir, 'missing.crt'), '--tls-key', key], 2, /^mcp-hangar: --tls-cert .*missing\.crt: cannot read it \(ENOENT\)$/m],
    [['--tls-cert', cert, '--tls-key', join(dir, 'missing.key')], 2, /^mcp-hangar: --tls-key .*missing\.key: cannot read it \(ENOENT\)$/m],
    [['--tls-cert', dir, '--tls-key', key], 2, /--tls-cert .*: cannot read it \(EISDIR\)/],
    [['--tls-cert', join(dir, 'not-pem.crt'), '--tls-key', key], 2, /--tls-cert .*not-pem\.crt: no PEM certificate in it/],
    [['--tls-cert', cert, '--tls-key', join(dir, 'other.key')], 2, /not a usable certificate and key pair \(.*key values mismatch/],
    [[...good, '--listen', '8443'], 2, /^mcp-hangar: --listen: expected host:port or :port .* got "8443"$/m],
    [[...good, '--listen', ':99999'], 2, /--listen: expected/],
    [[...good, '--aggregator-url', 'file:///etc/passwd'], 2, /--aggregator-url: expected an http\(s\) URL, got "file:\/\/\/etc\/passwd"/],
    [[...good, '--sidecar-image', ' '], 2, /--sidecar-image: expected an image reference/],
    [[...good, '--signal-token-secret', 'Bad_Name'], 2, /--signal-token-secret: expected a Secret name/],
    [['--tls-key', key], 1, /required option '--tls-cert <file>' not specified/],
  ]
  const results = await Promise.all(cases.map(([args]) => run(args)))
  results.forEach((r, i) => {
    t.equal(r.code, cases[i]![1], `${cases[i]![0].join(' ')}: exit ${cases[i]![1]}`)
    t.match(r.stderr, cases[i]![2])
  })
})

t.test('the chart\'s command line: starts, /healthz and /mutate answer over TLS, SIGTERM exits 0', async (t) => {
  const c = spawn(process.execPath, [BUNDLE, 'k8s', 'webhook', '--tls-cert', cert, '--tls-key', key, '--listen', '127.0.0.1:0', '--sidecar-image', 'registry.example/mcp-hangar:1.2.3', '--aggregator-url', 'http://agg.mcp-hangar.svc:8000'], {
    cwd: root, env: { PATH: process.env.PATH ?? '', MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { c.kill('SIGKILL') })
  let out = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening: ${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += String(d)
      const line = out.split('\n').find((l) => l.includes('admission webhook listening'))
      if (line) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { port: number }).port)
      }
    }
    c.stdout.on('data', onData)
    c.stderr.on('data', onData)
    c.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
  t.strictSame(await get(port, '/healthz'), { status: 200, text: 'ok' })
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'fetch', annotations: { 'mcp.hangar.io/inject': 'true' } }, spec: { containers: [{ name: 'server', image: 'example/fetch:1', ports: [{ containerPort: 3000 }] }] } }
  const r = await get(port, '/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'tools', operation: 'CREATE', userInfo: {}, object: pod } }))
  const review = JSON.parse(r.text) as { response: { uid: string; allowed: boolean; patch: string } }
  t.match(review.response, { uid: 'u-1', allowed: true })
  const patch = Buffer.from(review.response.patch, 'base64').toString('utf8')
  t.match(patch, /registry\.example\/mcp-hangar:1\.2\.3/, 'the --sidecar-image reaches the patch')
  t.match(patch, /http:\/\/agg\.mcp-hangar\.svc:8000/, 'the --aggregator-url reaches the sidecar config')
  t.match(patch, /mcp-hangar-signal-token/, 'the default token Secret')
  const code = await new Promise<number | null>((resolve) => {
    c.once('exit', (code) => resolve(code))
    c.kill('SIGTERM')
  })
  t.equal(code, 0, 'exit 0 on SIGTERM')
  t.match(out, /admission webhook stopped/)
  await t.rejects(get(port, '/healthz'), { code: 'ECONNREFUSED' }, 'the port is closed')
})
